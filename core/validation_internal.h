// core/validation_internal.h — helpers shared by the validation files. Not part
// of core's public interface.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/field_path.h"
#include "core/object.h"
#include "core/quantity.h"
#include "core/validation.h"

namespace bosun::validation {

// Collects field errors and reads typed fields, reporting a missing required
// field or a value of the wrong type at the field's path.
class Checker {
 public:
  explicit Checker(std::vector<FieldError>* out) : out_(out) {}

  void Error(const FieldPath& p, std::string msg) { out_->push_back({Severity::kError, p, std::move(msg)}); }
  void Warn(const FieldPath& p, std::string msg) { out_->push_back({Severity::kWarning, p, std::move(msg)}); }
  // Adds each message of a syntax checker (labels.h) as an error at p.
  void Errors(const FieldPath& p, const std::vector<std::string>& msgs) {
    for (const auto& m : msgs) Error(p, m);
  }

  // Each returns the field when present with the right type, nullptr
  // otherwise. A wrong type is always an error; absence only when required.
  const Json* Object(const Json& parent, const FieldPath& pp, const char* key, bool required = false);
  const Json* Array(const Json& parent, const FieldPath& pp, const char* key, bool required = false);
  const Json* String(const Json& parent, const FieldPath& pp, const char* key, bool required = false);
  std::optional<bool> Bool(const Json& parent, const FieldPath& pp, const char* key);
  // An integer in [min, max]; a float or a quoted number is an error.
  std::optional<int64_t> Int(const Json& parent, const FieldPath& pp, const char* key, int64_t min, int64_t max,
                             bool required = false);
  // A string that must be one of `allowed`.
  std::optional<std::string> Enum(const Json& parent, const FieldPath& pp, const char* key,
                                  std::initializer_list<std::string_view> allowed, bool required = false);
  // A map of string to string (labels, nodeSelector, ConfigMap data).
  const Json* StringMap(const Json& parent, const FieldPath& pp, const char* key);
  // Reports each field not in `known` (a likely typo) as a warning marked
  // unknown_field: the reader's FieldValidation says what it becomes.
  void Unknown(const Json& obj, const FieldPath& p, std::span<const std::string_view> known);
  // A list of maps with the fields `known` (httpHeaders, items): each
  // element must be a map, its other fields are unknown.
  const Json* ObjectList(const Json& parent, const FieldPath& pp, const char* key,
                         std::span<const std::string_view> known);
  const Json* ObjectList(const Json& parent, const FieldPath& pp, const char* key,
                         std::initializer_list<std::string_view> known) {
    return ObjectList(parent, pp, key, std::span<const std::string_view>(known.begin(), known.size()));
  }
  void Unknown(const Json& obj, const FieldPath& p, std::initializer_list<std::string_view> known) {
    Unknown(obj, p, std::span<const std::string_view>(known.begin(), known.size()));
  }

  size_t error_count() const;

 private:
  const Json* Typed(const Json& parent, const FieldPath& pp, const char* key, bool required,
                    bool (Json::*is)() const noexcept, const char* want);
  std::vector<FieldError>* out_;
};

// The fields of Kubernetes' ObjectMeta.
inline constexpr std::array<std::string_view, 15> kObjectMetaFields = {"name",
                                                                       "generateName",
                                                                       "namespace",
                                                                       "labels",
                                                                       "annotations",
                                                                       "ownerReferences",
                                                                       "finalizers",
                                                                       "uid",
                                                                       "resourceVersion",
                                                                       "generation",
                                                                       "creationTimestamp",
                                                                       "deletionTimestamp",
                                                                       "deletionGracePeriodSeconds",
                                                                       "managedFields",
                                                                       "selfLink"};

// "a map", "a list", "a string", "a number", "a boolean", "null".
std::string TypeName(const Json& j);
std::string Quote(std::string_view s);

// Rules shared across kinds (validation.cc).
// How an object's name is checked: most kinds use a DNS-1123 subdomain,
// Namespaces a DNS-1123 label, Services a DNS-1035 label (it becomes a DNS name).
enum class NameRule { kSubdomain, kDns1123Label, kDns1035Label };
void ValidateObjectMeta(Checker& c, const Json& doc, const FieldPath& root, bool namespaced, NameRule rule,
                        bool require_name);
void ValidateLabels(Checker& c, const Json& labels, const FieldPath& p);
// A quantity field (resources, emptyDir.sizeLimit). Returns it when valid.
std::optional<Quantity> ValidateQuantity(Checker& c, const Json& v, const FieldPath& p);
// A port given as a number or as an IANA service name.
void ValidateIntOrPortName(Checker& c, const Json& parent, const FieldPath& pp, const char* key, bool required);
// A label selector (matchLabels + matchExpressions); returns false if invalid.
bool ValidateLabelSelector(Checker& c, const Json& sel, const FieldPath& p);

// Workloads (validation_workloads.cc).
void ValidatePodSpec(Checker& c, const Json& spec, const FieldPath& p);
void ValidatePodTemplate(Checker& c, const Json& tmpl, const FieldPath& p, const Json* selector,
                         const FieldPath& selector_path);
void ValidateDeployment(Checker& c, const bosun::Object& obj);
void ValidateReplicaSet(Checker& c, const bosun::Object& obj);
void ValidateJob(Checker& c, const bosun::Object& obj);
void ValidatePod(Checker& c, const bosun::Object& obj);

}  // namespace bosun::validation
