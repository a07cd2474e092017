// core/yaml_emit.h — JSON to YAML text, the way kubectl prints objects.
//
// The output is block style: maps as `key: value` lines indented by two
// spaces, lists with `- ` at the indentation of their parent key (kubectl's
// compact style), `{}` and `[]` for empty containers. Keys come in the JSON's
// iteration order (for bosun's Json, which keeps keys sorted, that is sorted,
// as kubectl prints them).
//
// Strings are written plain unless they would read back as something else or
// break the syntax: "true", "1", "", "~", "null", "0x10", "1e3", timestamps,
// text starting with an indicator ("- x", "#", "*a", "&a", "!t", "@") or with
// leading/trailing spaces, or containing ": " or " #" are double-quoted with
// YAML escapes. Multi-line strings are `|` literal blocks (with the chomping
// and indentation indicators they need), or double-quoted when a block cannot
// hold them exactly (carriage returns, control characters).
//
// Contract: LoadYaml(EmitYaml(j)) gives back j (numbers compare by value:
// 3.0 reads back as 3, as Kubernetes' loader normalises it). The exceptions
// are NaN and infinities (written .nan/.inf, which JSON cannot hold) and
// strings holding invalid UTF-8, whose bad bytes are written as \xNN escapes.
//
// Pure and thread-safe.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace bosun {

// One YAML document, without a leading "---", ending in a newline.
std::string EmitYaml(const nlohmann::json& value);

}  // namespace bosun
