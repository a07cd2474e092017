// Status errors as Kubernetes words them, the default value codec, and the
// small parsing helpers of the API server.
#include <cctype>
#include <random>

#include "state/api_internal.h"

namespace bosun::state {

Result<std::string> JsonValueCodec::Encode(const KindInfo&, const std::string&, const Json& object) const {
  return api_internal::Dump(object);
}

Result<Json> JsonValueCodec::Decode(const KindInfo&, const std::string& key, std::string_view bytes) const {
  Json j = Json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Error(Code::kInternal, "stored value of " + key + " is not a JSON object");
  return j;
}

const JsonValueCodec& JsonValueCodec::Instance() {
  static const JsonValueCodec codec;
  return codec;
}

namespace api_internal {
namespace {

ApiError Make(int code, std::string reason, std::string message, Json details = Json::object()) {
  ApiError e;
  e.code = code;
  e.reason = std::move(reason);
  e.message = std::move(message);
  e.details = std::move(details);
  return e;
}

Json Details(const KindInfo& kind, const std::string& name) {
  Json d = Json::object();
  if (!name.empty()) d["name"] = name;
  if (!kind.gvk.group.empty()) d["group"] = kind.gvk.group;
  d["kind"] = kind.resource;
  return d;
}

std::string Quoted(const std::string& s) {
  return "\"" + s + "\"";
}

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }());
  return rng;
}

}  // namespace

Json ApiError::ToJson() const {
  Json j = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (!details.empty()) j["details"] = details;
  return j;
}

ApiError NotFound(const KindInfo& kind, const std::string& name) {
  return Make(404, "NotFound", kind.QualifiedResource() + " " + Quoted(name) + " not found", Details(kind, name));
}

ApiError Forbidden(const KindInfo& kind, const std::string& name, const std::string& why) {
  return Make(403, "Forbidden", kind.QualifiedResource() + " " + Quoted(name) + " is forbidden: " + why,
              Details(kind, name));
}

ApiError PathNotFound(const std::string& path) {
  return Make(404, "NotFound", "the server could not find the requested resource (" + path + ")");
}

ApiError AlreadyExists(const KindInfo& kind, const std::string& name) {
  return Make(409, "AlreadyExists", kind.QualifiedResource() + " " + Quoted(name) + " already exists",
              Details(kind, name));
}

ApiError Conflict(const KindInfo& kind, const std::string& name, const std::string& why) {
  return Make(409, "Conflict",
              "Operation cannot be fulfilled on " + kind.QualifiedResource() + " " + Quoted(name) + ": " + why,
              Details(kind, name));
}

ApiError Modified(const KindInfo& kind, const std::string& name) {
  return Conflict(kind, name,
                  "the object has been modified; please apply your changes to the latest version and try again");
}

ApiError Invalid(const KindInfo& kind, const std::string& name, const std::vector<FieldError>& errors) {
  Json details = Details(kind, name);
  details["kind"] = kind.gvk.kind;  // Kubernetes names the kind, not the resource, in Invalid errors
  Json causes = Json::array();
  std::string list;
  for (const auto& fe : errors) {
    if (fe.severity != Severity::kError) continue;
    causes.push_back({{"reason", "FieldValueInvalid"}, {"field", fe.path.str()}, {"message", fe.message}});
    if (!list.empty()) list += ", ";
    list += fe.path.Display() + ": " + fe.message;
  }
  details["causes"] = causes;
  std::string what = kind.gvk.kind + (kind.gvk.group.empty() ? "" : "." + kind.gvk.group);
  return Make(422, "Invalid", what + " " + Quoted(name) + " is invalid: " + list, details);
}

ApiError BadRequest(const std::string& message) {
  return Make(400, "BadRequest", message);
}

ApiError Unauthorized(const std::string& message) {
  return Make(401, "Unauthorized", message);
}

ApiError MethodNotAllowed(const std::string& method, const std::string& path) {
  return Make(405, "MethodNotAllowed", "the server does not allow method " + method + " on " + path);
}

ApiError TooLarge(size_t limit) {
  return Make(413, "RequestEntityTooLarge",
              "the request body is larger than the limit of " + std::to_string(limit) + " bytes");
}

ApiError UnsupportedMediaType(const std::string& content_type) {
  return Make(415, "UnsupportedMediaType",
              "the patch Content-Type \"" + content_type +
                  "\" is not supported; use application/merge-patch+json or application/json-patch+json");
}

ApiError Expired(const std::string& message) {
  return Make(410, "Expired", message);
}

ApiError Unavailable(const std::string& message, const std::optional<std::string>& leader) {
  Json d = Json::object();
  if (leader) d["leader"] = *leader;
  return Make(503, "ServiceUnavailable", message, d);
}

ApiError Internal(const std::string& message) {
  return Make(500, "InternalError", message);
}

ApiError FromError(const Error& e, const KindInfo* kind, const std::string& name) {
  switch (e.code()) {
    case Code::kNotFound:
      return kind ? NotFound(*kind, name) : Make(404, "NotFound", e.message());
    case Code::kAlreadyExists:
      return kind ? AlreadyExists(*kind, name) : Make(409, "AlreadyExists", e.message());
    case Code::kConflict:
      return kind ? Conflict(*kind, name, e.message()) : Make(409, "Conflict", e.message());
    case Code::kInvalid:
      return BadRequest(e.message());
    case Code::kUnauthorized:
      return Unauthorized(e.message());
    case Code::kForbidden:
      return Make(403, "Forbidden", e.message());
    case Code::kUnavailable:
      return Unavailable(e.message(), std::nullopt);
    case Code::kTimeout:
      return Make(504, "Timeout", e.message());
    case Code::kCompacted:
      return Expired(e.message());
    case Code::kTooLarge:
      return Make(413, "RequestEntityTooLarge", e.message());
    case Code::kOk:
    case Code::kIo:
    case Code::kInternal:
      break;
  }
  return Internal(e.message());
}

std::string NewUid() {
  std::uniform_int_distribution<uint64_t> d;
  uint64_t hi = d(Rng()), lo = d(Rng());
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

std::string RandomSuffix(size_t n) {
  // Kubernetes' alphabet: no vowels (no words) and no look-alikes (0/o, 1/l).
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::uniform_int_distribution<size_t> d(0, sizeof(kAlphabet) - 2);
  std::string out;
  for (size_t i = 0; i < n; ++i) out.push_back(kAlphabet[d(Rng())]);
  return out;
}

QueryMap ParseQuery(std::string_view raw) {
  QueryMap out;
  for (auto& [key, value] : ParseFormEncoded(raw)) {
    out.emplace(std::move(key), std::move(value));  // the first of repeated keys wins
  }
  return out;
}

std::vector<std::string> SplitPath(std::string_view path) {
  return SplitNonEmpty(path, '/');
}

std::optional<int64_t> ParseInt(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string Base64UrlEncode(std::string_view in) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out.push_back(kChars[(v >> k) & 63]);
    i += 3;
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out.push_back(kChars[(v >> 18) & 63]);
    out.push_back(kChars[(v >> 12) & 63]);
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out.push_back(kChars[(v >> 18) & 63]);
    out.push_back(kChars[(v >> 12) & 63]);
    out.push_back(kChars[(v >> 6) & 63]);
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace api_internal
}  // namespace bosun::state
