// core/object.h — a Kubernetes-style object over one JSON document.
//
// An Object is the unit every component exchanges: apiVersion, kind, metadata,
// spec, status, and whatever else the document holds. It is a thin view over a
// nlohmann::json DOM; unknown fields are kept and round-trip unchanged, so a
// user's manifest survives bosun untouched except where bosun writes.
//
// Typed accessors read metadata the way Kubernetes defines it; a missing or
// mistyped field reads as empty (validation reports it, accessors never throw).
// Not thread-safe: an Object is a value, copy it to share.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bosun {

using Json = nlohmann::json;
using StringMap = std::map<std::string, std::string>;

// kubectl's copy of the manifest it applied. On a Secret it holds the data:
// hidden as the data is (state/secret_redaction.h, diffs and records).
inline constexpr const char* kLastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

struct GroupVersionKind {
  std::string group;    // "" for the core group, "apps", "bosun.dev"
  std::string version;  // "v1"
  std::string kind;     // "Deployment"

  // "apps/v1" or "v1" for the core group.
  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  // Splits "apps/v1" into group and version.
  static GroupVersionKind From(const std::string& api_version, const std::string& kind);
  bool operator==(const GroupVersionKind&) const = default;
};

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
  bool block_owner_deletion = false;
};

class Object {
 public:
  Object() : doc_(Json::object()) {}
  explicit Object(Json doc) : doc_(std::move(doc)) {}
  Object(const GroupVersionKind& gvk, const std::string& ns, const std::string& name);

  const Json& json() const { return doc_; }
  Json& json() { return doc_; }

  std::string api_version() const { return Str(doc_, "apiVersion"); }
  std::string kind() const { return Str(doc_, "kind"); }
  GroupVersionKind gvk() const { return GroupVersionKind::From(api_version(), kind()); }

  std::string name() const { return Str(Meta(), "name"); }
  std::string generate_name() const { return Str(Meta(), "generateName"); }
  std::string namespace_() const { return Str(Meta(), "namespace"); }
  std::string uid() const { return Str(Meta(), "uid"); }
  std::string resource_version() const { return Str(Meta(), "resourceVersion"); }
  std::string creation_timestamp() const { return Str(Meta(), "creationTimestamp"); }
  std::optional<std::string> deletion_timestamp() const;
  int64_t generation() const;
  StringMap labels() const { return Map(Meta(), "labels"); }
  StringMap annotations() const { return Map(Meta(), "annotations"); }
  std::optional<std::string> label(const std::string& key) const;
  std::optional<std::string> annotation(const std::string& key) const;
  std::vector<OwnerReference> owner_references() const;
  // The controller owner, if any (the reference with controller: true).
  std::optional<OwnerReference> controller_ref() const;

  void set_name(const std::string& v) { MutMeta()["name"] = v; }
  void set_namespace(const std::string& v) { MutMeta()["namespace"] = v; }
  void set_uid(const std::string& v) { MutMeta()["uid"] = v; }
  void set_resource_version(const std::string& v) { MutMeta()["resourceVersion"] = v; }
  void set_creation_timestamp(const std::string& v) { MutMeta()["creationTimestamp"] = v; }
  void set_generation(int64_t v) { MutMeta()["generation"] = v; }
  void set_label(const std::string& k, const std::string& v) { MutMeta()["labels"][k] = v; }
  void set_annotation(const std::string& k, const std::string& v) { MutMeta()["annotations"][k] = v; }
  void remove_label(const std::string& k);
  void remove_annotation(const std::string& k);
  void set_owner_references(const std::vector<OwnerReference>& refs);

  // `spec` and `status`, null when absent.
  const Json& spec() const { return Field(doc_, "spec"); }
  const Json& status() const { return Field(doc_, "status"); }

  // "namespace/name" for namespaced objects, "name" otherwise; the key used in
  // logs, work queues and messages.
  std::string Key() const;
  // "Deployment web/frontend" — for messages a person reads.
  std::string Describe() const;

  bool operator==(const Object& o) const { return doc_ == o.doc_; }

  // Returns j[key] if j is an object holding key, else a shared null.
  static const Json& Field(const Json& j, const char* key);
  // The string-valued entries of j[key] (labels, annotations); others are skipped.
  static StringMap Map(const Json& j, const char* key);

 private:
  static std::string Str(const Json& j, const char* key);
  const Json& Meta() const { return Field(doc_, "metadata"); }
  Json& MutMeta();

  Json doc_;
};

}  // namespace bosun
