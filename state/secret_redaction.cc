#include "state/secret_redaction.h"

#include <cctype>

namespace bosun::state {
namespace {

// The decoded length of standard base64 (with or without padding); for text
// that is not base64, its own length (it is still hidden).
size_t Base64DecodedLength(const std::string& s) {
  size_t n = s.size();
  while (n > 0 && s[n - 1] == '=') --n;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!std::isalnum(c) && c != '+' && c != '/') return s.size();
  }
  return n * 3 / 4;
}

size_t ValueLength(const Json& v, bool base64) {
  if (!v.is_string()) return v.dump().size();
  const std::string& s = v.get_ref<const std::string&>();
  return base64 ? Base64DecodedLength(s) : s.size();
}

}  // namespace

size_t SecretValueLength(const Json& value, bool base64) {
  return ValueLength(value, base64);
}

std::string RedactedValue(size_t bytes) {
  return "<redacted " + std::to_string(bytes) + (bytes == 1 ? " byte>" : " bytes>");
}

bool IsSecretObject(const Json& object) {
  if (!object.is_object()) return false;
  auto kind = object.find("kind");
  auto api = object.find("apiVersion");
  return kind != object.end() && api != object.end() && kind->is_string() && api->is_string() &&
         kind->get_ref<const std::string&>() == "Secret" && api->get_ref<const std::string&>() == "v1";
}

namespace {

// True when `object` is a Secret whose values `access` does not show.
bool Hidden(const Json& object, SecretAccess access) {
  if (access == SecretAccess::kAll || !IsSecretObject(object)) return false;
  if (access == SecretAccess::kNone) return true;
  const Json* meta = object.contains("metadata") ? &object["metadata"] : nullptr;
  std::string ns = meta != nullptr && meta->is_object() ? meta->value("namespace", "") : "";
  return ns == kSystemSecretsNamespace;
}

}  // namespace

bool RedactSecret(Json& object, SecretAccess access) {
  if (!Hidden(object, access)) return false;
  bool changed = false;
  for (const char* field : {"data", "stringData"}) {
    auto it = object.find(field);
    if (it == object.end() || !it->is_object()) continue;
    const bool base64 = std::string(field) == "data";
    for (auto v = it->begin(); v != it->end(); ++v) {
      *v = RedactedValue(ValueLength(*v, base64));
      changed = true;
    }
  }
  // kubectl's copy of what it applied holds the data too (a manifest copied
  // from `kubectl get -o yaml` keeps it).
  if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object()) {
    if (auto ann = meta->find("annotations"); ann != meta->end() && ann->is_object()) {
      if (auto last = ann->find(kLastAppliedAnnotation); last != ann->end() && last->is_string()) {
        *last = RedactedValue(last->get_ref<const std::string&>().size());
        changed = true;
      }
    }
  }
  return changed;
}

void RedactSecrets(Json& body, SecretAccess access) {
  if (!body.is_object()) return;
  if (IsSecretObject(body)) {
    RedactSecret(body, access);
    return;
  }
  if (auto items = body.find("items"); items != body.end() && items->is_array()) {
    for (Json& item : *items) RedactSecret(item, access);
  }
  if (auto obj = body.find("object"); obj != body.end()) RedactSecret(*obj, access);
}

std::optional<Json> RedactedCopy(const Json& body, SecretAccess access) {
  if (!body.is_object() || access == SecretAccess::kAll) return std::nullopt;
  bool any = Hidden(body, access);
  if (auto items = body.find("items"); !any && items != body.end() && items->is_array()) {
    for (const Json& item : *items) any = any || Hidden(item, access);
  }
  if (auto obj = body.find("object"); !any && obj != body.end()) any = Hidden(*obj, access);
  if (!any) return std::nullopt;
  Json copy = body;
  RedactSecrets(copy, access);
  return copy;
}

SecretAccess SecretAccessOf(const User& user) {
  if (user.InGroup("system:masters")) return SecretAccess::kAll;
  if (user.InGroup("system:nodes")) return SecretAccess::kWorkloads;
  return SecretAccess::kNone;
}

}  // namespace bosun::state
