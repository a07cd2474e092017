#include "core/result.h"

namespace bosun {

const char* CodeName(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kInvalid: return "Invalid";
    case Code::kNotFound: return "NotFound";
    case Code::kAlreadyExists: return "AlreadyExists";
    case Code::kConflict: return "Conflict";
    case Code::kUnauthorized: return "Unauthorized";
    case Code::kForbidden: return "Forbidden";
    case Code::kUnavailable: return "ServiceUnavailable";
    case Code::kTimeout: return "Timeout";
    case Code::kCompacted: return "Expired";
    case Code::kTooLarge: return "RequestEntityTooLarge";
    case Code::kIo: return "IOError";
    case Code::kInternal: return "InternalError";
  }
  return "Unknown";
}

}  // namespace bosun
