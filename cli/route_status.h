// cli/route_status.h — answers for the extra API routes that `bosun server`
// adds (sealing, members): Kubernetes Status objects, and who is an admin.
#pragma once

#include <string>

#include "core/object.h"
#include "state/api_server.h"

namespace bosun::cli {

// A `kind: Status` answer; `status` is "Success" for 2xx codes, else "Failure".
inline state::HttpResponse StatusResponse(int code, const std::string& reason, const std::string& message,
                                          Json details = nullptr) {
  Json s = {{"kind", "Status"},
            {"apiVersion", "v1"},
            {"metadata", Json::object()},
            {"status", code >= 200 && code < 300 ? "Success" : "Failure"},
            {"message", message},
            {"reason", reason},
            {"code", code}};
  if (!details.is_null()) s["details"] = std::move(details);
  return state::HttpResponse{code, "application/json", {}, s.dump()};
}

// Members of system:masters (the admin token, the controllers inside the server).
inline bool IsAdmin(const state::HttpRequest& req) { return req.user && req.user->InGroup("system:masters"); }

}  // namespace bosun::cli
