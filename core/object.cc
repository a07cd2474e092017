#include "core/object.h"

namespace bosun {

GroupVersionKind GroupVersionKind::From(const std::string& api_version, const std::string& kind) {
  GroupVersionKind g;
  g.kind = kind;
  auto slash = api_version.find('/');
  if (slash == std::string::npos) {
    g.version = api_version;
  } else {
    g.group = api_version.substr(0, slash);
    g.version = api_version.substr(slash + 1);
  }
  return g;
}

Object::Object(const GroupVersionKind& gvk, const std::string& ns, const std::string& name) : doc_(Json::object()) {
  doc_["apiVersion"] = gvk.ApiVersion();
  doc_["kind"] = gvk.kind;
  doc_["metadata"] = Json::object();
  if (!name.empty()) doc_["metadata"]["name"] = name;
  if (!ns.empty()) doc_["metadata"]["namespace"] = ns;
}

const Json& Object::Field(const Json& j, const char* key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string Object::Str(const Json& j, const char* key) {
  const Json& v = Field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

StringMap Object::Map(const Json& j, const char* key) {
  StringMap out;
  const Json& m = Field(j, key);
  if (!m.is_object()) return out;
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (it.value().is_string()) out.emplace(it.key(), it.value().get<std::string>());
  }
  return out;
}

Json& Object::MutMeta() {
  if (!doc_.is_object()) doc_ = Json::object();
  Json& m = doc_["metadata"];
  if (!m.is_object()) m = Json::object();
  return m;
}

std::optional<std::string> Object::deletion_timestamp() const {
  const Json& v = Field(Meta(), "deletionTimestamp");
  if (!v.is_string()) return std::nullopt;
  return v.get<std::string>();
}

int64_t Object::generation() const {
  const Json& v = Field(Meta(), "generation");
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

std::optional<std::string> Object::label(const std::string& key) const {
  const Json& v = Field(Field(Meta(), "labels"), key.c_str());
  if (!v.is_string()) return std::nullopt;
  return v.get<std::string>();
}

std::optional<std::string> Object::annotation(const std::string& key) const {
  const Json& v = Field(Field(Meta(), "annotations"), key.c_str());
  if (!v.is_string()) return std::nullopt;
  return v.get<std::string>();
}

void Object::remove_label(const std::string& k) {
  Json& m = MutMeta();
  if (m.contains("labels") && m["labels"].is_object()) m["labels"].erase(k);
}

void Object::remove_annotation(const std::string& k) {
  Json& m = MutMeta();
  if (m.contains("annotations") && m["annotations"].is_object()) m["annotations"].erase(k);
}

std::vector<OwnerReference> Object::owner_references() const {
  std::vector<OwnerReference> out;
  const Json& refs = Field(Meta(), "ownerReferences");
  if (!refs.is_array()) return out;
  for (const Json& r : refs) {
    if (!r.is_object()) continue;
    OwnerReference o;
    o.api_version = Str(r, "apiVersion");
    o.kind = Str(r, "kind");
    o.name = Str(r, "name");
    o.uid = Str(r, "uid");
    const Json& c = Field(r, "controller");
    o.controller = c.is_boolean() && c.get<bool>();
    const Json& b = Field(r, "blockOwnerDeletion");
    o.block_owner_deletion = b.is_boolean() && b.get<bool>();
    out.push_back(std::move(o));
  }
  return out;
}

std::optional<OwnerReference> Object::controller_ref() const {
  for (auto& r : owner_references())
    if (r.controller) return r;
  return std::nullopt;
}

void Object::set_owner_references(const std::vector<OwnerReference>& refs) {
  Json arr = Json::array();
  for (const auto& r : refs) {
    Json j = {{"apiVersion", r.api_version}, {"kind", r.kind}, {"name", r.name}, {"uid", r.uid}};
    if (r.controller) j["controller"] = true;
    if (r.block_owner_deletion) j["blockOwnerDeletion"] = true;
    arr.push_back(std::move(j));
  }
  if (arr.empty()) {
    MutMeta().erase("ownerReferences");
  } else {
    MutMeta()["ownerReferences"] = std::move(arr);
  }
}

std::string Object::Key() const {
  std::string ns = namespace_();
  return ns.empty() ? name() : ns + "/" + name();
}

std::string Object::Describe() const { return kind() + " " + Key(); }

}  // namespace bosun
