// cli/route_status.h — answers for the extra API routes that `bosun server`
// adds (sealing, members): Kubernetes Status objects, and who is an admin.
#pragma once

#include <string>

#include "core/object.h"
#include "core/result.h"
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

// The Status answer for an error from the code behind a route: 422 for
// invalid input, 404, 409 (exists or conflict), 403, 503, else 500.
inline state::HttpResponse StatusResponseFor(const Error& e) {
  switch (e.code()) {
    case Code::kInvalid: return StatusResponse(422, "Invalid", e.message());
    case Code::kNotFound: return StatusResponse(404, "NotFound", e.message());
    case Code::kAlreadyExists: return StatusResponse(409, "AlreadyExists", e.message());
    case Code::kConflict: return StatusResponse(409, "Conflict", e.message());
    case Code::kForbidden: return StatusResponse(403, "Forbidden", e.message());
    case Code::kUnavailable: return StatusResponse(503, "ServiceUnavailable", e.message());
    default: return StatusResponse(500, "InternalError", e.message());
  }
}

// Members of system:masters (the admin token, the controllers inside the server).
inline bool IsAdmin(const state::HttpRequest& req) { return req.user && req.user->InGroup("system:masters"); }

}  // namespace bosun::cli
