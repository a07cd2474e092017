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

bool RedactSecret(Json& object) {
  if (!IsSecretObject(object)) return false;
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
  return changed;
}

void RedactSecrets(Json& body) {
  if (!body.is_object()) return;
  if (RedactSecret(body)) return;
  if (auto items = body.find("items"); items != body.end() && items->is_array()) {
    for (Json& item : *items) RedactSecret(item);
  }
  if (auto obj = body.find("object"); obj != body.end()) RedactSecret(*obj);
}

std::optional<Json> RedactedCopy(const Json& body) {
  if (!body.is_object()) return std::nullopt;
  bool any = IsSecretObject(body);
  if (auto items = body.find("items"); !any && items != body.end() && items->is_array()) {
    for (const Json& item : *items) any = any || IsSecretObject(item);
  }
  if (auto obj = body.find("object"); !any && obj != body.end()) any = IsSecretObject(*obj);
  if (!any) return std::nullopt;
  Json copy = body;
  RedactSecrets(copy);
  return copy;
}

bool MaySeeSecretValues(const User& user) {
  return user.InGroup("system:masters") || user.InGroup("system:nodes");
}

}  // namespace bosun::state
