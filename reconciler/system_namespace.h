// reconciler/system_namespace.h — bosun-system, the namespace of the
// cluster's own objects: the sealing keys (reconciler/sealing_keys.h) and the
// signing key (reconciler/signing_key.h). Its Secrets are kept from node
// daemons by the API (state/secret_redaction.h).
#pragma once

#include <string>

#include "core/kinds.h"
#include "core/result.h"
#include "state/client.h"

namespace bosun::reconciler {

using bosun::kBosunSystemNamespace;  // core/kinds.h

// Creates Namespace `name` unless it exists (a concurrent creation is
// success).
Status EnsureNamespace(state::Client& client, const std::string& name);
inline Status EnsureSystemNamespace(state::Client& client) {
  return EnsureNamespace(client, kBosunSystemNamespace);
}

}  // namespace bosun::reconciler
