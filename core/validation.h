// core/validation.h — Kubernetes' validation rules for the kinds bosun knows.
//
// ValidateObject checks one object and returns every problem found (not just
// the first), each naming the field by its path:
//   spec.template.spec.containers[0].image: required
// Errors make a manifest invalid; warnings (plain Secrets in Git) are
// reported but do not. An unknown field (a likely typo: `replica: 3`) comes
// as a warning marked `unknown_field`; what it becomes is the reader's
// FieldValidation, Strict (an error, as kubectl's --validate=strict) unless
// told otherwise. The rules follow Kubernetes' own validation
// (DNS-1123 names, label syntax, required fields, container ports, env,
// resources, probes, selectors matching template labels, quantities) so that a
// manifest bosun accepts is one a Kubernetes API server would accept too.
//
// Pure functions of their input: thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/field_path.h"
#include "core/kinds.h"
#include "core/object.h"

namespace bosun {

enum class Severity { kError, kWarning };

struct FieldError {
  Severity severity = Severity::kError;
  FieldPath path;
  std::string message;
  bool unknown_field = false;  // a field the kind does not have
};

// What an unknown field is, as Kubernetes' fieldValidation: Strict refuses
// the object, Warn reports it and keeps the object, Ignore says nothing.
enum class FieldValidation { kStrict, kWarn, kIgnore };

// "Strict", "Warn" or "Ignore" in any case, and kubectl's --validate values
// ("true" is Strict, "false" is Ignore); nullopt for anything else.
std::optional<FieldValidation> ParseFieldValidation(std::string_view s);
// "Strict", "Warn" or "Ignore".
const char* FieldValidationName(FieldValidation v);

// What the API checks of an object, and manifests too (with
// NotFromManifests first).
std::vector<FieldError> ValidateObject(const Object& obj);

// Why an object of `kind` cannot come from manifests (a repository's,
// `bosun apply`'s): bosun writes it itself (KindInfo::from_manifests), e.g. a
// Node, an Event or a Revision record. nullopt when it can.
std::optional<std::string> NotFromManifests(const KindInfo& kind);

// The message for a string where a whole number belongs: "must be a number,
// not a string (remove the quotes around "3")" when the text is a number in
// quotes, else "must be a number, not "2s"" (no quotes to remove there).
std::string StringForNumberMessage(std::string_view text);

}  // namespace bosun
