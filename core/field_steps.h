// core/field_steps.h — a field path read back into its steps, for the fields
// a user names (bosun.dev/ignore-fields, a SyncConfig's ignoreDifferences).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/field_path.h"
#include "core/result.h"

namespace bosun {

// One step of a parsed path: a map key, a list index, or every item of a
// list (`[*]`).
struct FieldStep {
  enum class Kind { kKey, kIndex, kEveryIndex };
  Kind kind = Kind::kKey;
  std::string key;   // kKey
  size_t index = 0;  // kIndex
};
// A path as FieldPath renders it (`spec.template.spec.containers[0].image`,
// `data[app.conf]`), so one copied from `bosun diff` works, plus `[*]` for
// every item of a list: `spec.template.spec.containers[*].resources`. A
// bracket holding digits is an index, any other bracket a map key. The error
// says what is wrong and at which character.
Result<std::vector<FieldStep>> ParseFieldPath(std::string_view path);
// "spec.replicas, data[app.conf]" → its paths (blanks around them and empty
// items dropped).
std::vector<std::string> SplitFieldList(std::string_view list);

// Why `path` cannot name a field the cluster owns ("" when it can): it must
// parse, and lie outside what bosun writes itself or compares by key
// (metadata, status) and what names the object (apiVersion, kind).
std::string OwnedFieldError(std::string_view path);
// The errors of a manifest's list of such fields, separated by commas
// (bosun.dev/ignore-fields, reconciler/plan.h): each field's, and one when
// the list names none.
std::vector<std::string> OwnedFieldErrors(std::string_view list);

}  // namespace bosun
