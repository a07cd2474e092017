// node/object_data.h — the values of a ConfigMap or Secret as bytes, the one
// decoding shared by env (pod_spec) and volumes: a Secret's data is base64
// (libsodium's decoder), its stringData plain; a ConfigMap's data plain, its
// binaryData base64.
#pragma once

#include <map>
#include <string>

#include "core/object.h"
#include "core/result.h"

namespace bosun::node {

// kInvalid "<what> is not valid base64"; never echoes the value.
Result<std::string> DecodeBase64(const std::string& in, const std::string& what);

// key → bytes. `binary_data`: include a ConfigMap's binaryData (volumes do;
// env, as in Kubernetes, reads data only). `what` names the object in errors.
Result<std::map<std::string, std::string>> KeysOf(const Object& obj, bool secret, const std::string& what,
                                                  bool binary_data = true);

}  // namespace bosun::node
