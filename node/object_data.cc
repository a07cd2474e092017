#include "node/object_data.h"

#include <sodium.h>

namespace bosun::node {

Result<std::string> DecodeBase64(const std::string& in, const std::string& what) {
  std::string out(in.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(), in.size(), " \n\r\t",
                        &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return Error(Code::kInvalid, what + " is not valid base64");
  }
  out.resize(len);
  return out;
}

// A ConfigMap's data and binaryData, or a Secret's data (base64) and
// stringData, as key → bytes.
Result<std::map<std::string, std::string>> KeysOf(const Object& obj, bool secret, const std::string& what,
                                                  bool binary_data) {
  std::map<std::string, std::string> out;
  const Json& data = Object::Field(obj.json(), "data");
  if (data.is_object()) {
    for (const auto& [k, v] : data.items()) {
      if (!v.is_string()) continue;
      if (secret) {
        auto d = DecodeBase64(v.get<std::string>(), what + " key \"" + k + "\"");
        if (!d) return d.error();
        out[k] = *d;
      } else {
        out[k] = v.get<std::string>();
      }
    }
  }
  static const Json kNone;
  const Json& extra =
      secret || binary_data ? Object::Field(obj.json(), secret ? "stringData" : "binaryData") : kNone;
  if (extra.is_object()) {
    for (const auto& [k, v] : extra.items()) {
      if (!v.is_string()) continue;
      if (secret) {
        out[k] = v.get<std::string>();
      } else {
        auto d = DecodeBase64(v.get<std::string>(), what + " key \"" + k + "\"");
        if (!d) return d.error();
        out[k] = *d;
      }
    }
  }
  return out;
}

}  // namespace bosun::node
