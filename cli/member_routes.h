// cli/member_routes.h — membership changes through the API (docs/API.md
// "Members"), served by `bosun server` and `bosun up`:
//
//   POST   /bosun/v1/members/join  {"id": N, "raftAddress": "HOST:PORT", "apiUrl": URL}
//          adds a voter (what `bosun server --join` sends).
//   PUT    /bosun/v1/members/ID    {"raftAddress": "HOST:PORT", "apiUrl": URL,
//                                   "encryptionKeyId": "…", "gitops": {…} | null}
//          publishes a member's API URL in the registry (each member sends its
//          own when it does not lead), so followers can point at any leader,
//          and the settings every member must share (cli/member_settings.h).
//   DELETE /bosun/v1/members/ID
//          removes member ID from the Raft configuration and its entry from
//          the member registry (`bosun members remove ID`). Removing the
//          leader is allowed: it steps down once the change is committed and
//          the others elect a new leader.
//
// Both are for admins only (group system:masters; 403 otherwise), and only the
// leader changes membership: other members answer 503 with details.leader, which
// the client library follows. Errors: 400 (bad id or body), 404 (no such
// member), 409 (removing the last voter), 503 (no leader, or another change in
// progress), as Kubernetes Status objects.
//
// Thread-safety: call before the API serves requests; handlers run on any
// thread. `svc` must outlive `api`.
#pragma once

#include <cstdint>
#include <string>

#include "state/api_server.h"
#include "state/replicated_service.h"

namespace bosun::cli {

void AddMemberRoutes(state::ApiServer* api, state::ReplicatedService* svc);

// A member id as a user or a path gives it ("3"), or 0 when it is not one.
uint64_t ParseMemberId(const std::string& text);

}  // namespace bosun::cli
