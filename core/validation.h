// core/validation.h — Kubernetes' validation rules for the kinds bosun knows.
//
// ValidateObject checks one object and returns every problem found (not just
// the first), each naming the field by its path:
//   spec.template.spec.containers[0].image: required
// Errors make a manifest invalid; warnings (unknown fields, plain Secrets in
// Git) are reported but do not. The rules follow Kubernetes' own validation
// (DNS-1123 names, label syntax, required fields, container ports, env,
// resources, probes, selectors matching template labels, quantities) so that a
// manifest bosun accepts is one a Kubernetes API server would accept too.
//
// Pure functions of their input: thread-safe.
#pragma once

#include <string>
#include <vector>

#include "core/field_path.h"
#include "core/object.h"

namespace bosun {

enum class Severity { kError, kWarning };

struct FieldError {
  Severity severity = Severity::kError;
  FieldPath path;
  std::string message;
};

std::vector<FieldError> ValidateObject(const Object& obj);

}  // namespace bosun
