// core/yaml.h — the manifest loader: YAML (and JSON) text to JSON documents.
//
// Kubernetes manifests are YAML converted to JSON with Kubernetes' typing
// (sigs.k8s.io/yaml, YAML 1.1 resolution): a quoted "1" stays a string,
// `replicas: 3` is an integer, `true`/`yes`/`on` are booleans, `~`/`null`/empty
// are null. Integral floats within 2^53 become integers, as Go's JSON encoder
// writes them. Merge keys (`<<: *base`) are supported.
//
// Every value keeps its source position (see SourceMap). JSON files go through
// the same loader: JSON is YAML.
//
// The parser is libyaml, the C library go-yaml was ported from, so what is
// valid YAML syntax here is what Kubernetes accepts (yaml-cpp 0.7 accepts
// unterminated quoted strings and keys without a ':').
//
// Hostile input is refused with an error naming file:line:col, never a crash or
// an out-of-memory: files and documents over a size limit, nesting deeper than a
// limit, alias expansion past a node budget ("billion laughs"), keys that are not
// strings, and duplicate keys.
//
// Thread-safe: LoadYaml has no shared state.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/field_path.h"
#include "core/result.h"

namespace bosun {

// Nesting past this is refused whatever the limits say: the parser's lookahead
// is quadratic in the depth of unclosed flow collections.
inline constexpr int kMaxDepthCeiling = 1000;

struct LoadLimits {
  size_t max_file_bytes = 32u << 20;     // a whole file
  size_t max_document_bytes = 3u << 20;  // one document (Kubernetes allows ~1.5 MiB)
  int max_depth = 100;                   // nesting of maps and sequences
  size_t max_nodes = 1'000'000;          // values in one document, aliases expanded
  size_t max_alias_nodes = 100'000;      // values produced by alias expansion
};

struct Document {
  std::string file;      // as given to LoadYaml, used in messages
  int index = 0;         // 0-based position among the file's non-empty documents
  SourcePos start;       // where the document's root value starts
  nlohmann::json value;  // the document, Kubernetes-typed
  std::shared_ptr<const SourceMap> positions;
};

// Parses every document of `text`. Empty documents (only comments, or a bare
// `---`) are skipped. On any error the whole file is refused: the error message
// is "FILE:LINE:COL: what is wrong".
Result<std::vector<Document>> LoadYaml(std::string_view text, const std::string& file, const LoadLimits& limits = {});

// Reads a file and loads it (errors for unreadable or oversized files name it).
Result<std::vector<Document>> LoadYamlFile(const std::string& path, const LoadLimits& limits = {});

// Resolves a plain (unquoted, untagged) YAML scalar the way Kubernetes does.
nlohmann::json ResolvePlainScalar(const std::string& s);

}  // namespace bosun
