// reconciler/system_namespace.h — bosun-system, the namespace of the
// cluster's own objects: the sealing keys (reconciler/sealing_keys.h) and the
// signing key (reconciler/signing_key.h). Its Secrets are kept from node
// daemons by the API (state/secret_redaction.h).
#pragma once

#include "core/result.h"
#include "state/client.h"

namespace bosun::reconciler {

inline constexpr const char* kBosunSystemNamespace = "bosun-system";

// Creates the Namespace unless it exists (a concurrent creation is success).
Status EnsureSystemNamespace(state::Client& client);

}  // namespace bosun::reconciler
