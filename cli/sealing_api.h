// cli/sealing_api.h — the API routes of sealed secrets that `bosun server`
// (and `bosun up`) serve, under /bosun/v1/sealing (docs/SECRETS.md):
//
//   GET  /bosun/v1/sealing/keys       any authenticated caller: the public
//        halves, {"kind": "SealingKeyList", "items": [{"id", "created",
//        "publicKey", "active"}]}, oldest first (`bosun keys ls`, `bosun
//        keys public`, `bosun seal`).
//   POST /bosun/v1/sealing/rotate     admins (group system:masters) only: a
//        new key seals from now on; answers the new key as one item
//        (`bosun keys rotate`).
//   POST /bosun/v1/sealing/reencrypt  admins only: the body is a SealedSecret
//        (JSON); the answer is the same SealedSecret with every
//        spec.encryptedData value sealed again, for the same scope, under
//        the active key (`bosun seal --re-encrypt`). The values are opened
//        only inside the server, with the private keys, and wiped.
//
// Errors are Kubernetes Status objects (400, 403, 404, 405, 422, 500, 503)
// whose messages name the field and never hold a value or a key.
//
// The handlers read the keys from the state store through a client of this
// member's own API (the admin token), on a thread of their own, so the API's
// threads never wait on them.
//
// Thread-safety: call before the API serves requests; handlers run on any
// thread.
#pragma once

#include <string>

#include "state/api_server.h"

namespace bosun::cli {

void AddSealingRoutes(state::ApiServer* api, const std::string& api_url, const std::string& admin_token);

}  // namespace bosun::cli
