#include "gitsync/webhook.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/ascii.h"
#include "core/log.h"
#include "crypto/hmac.h"
#include "crypto/tokens.h"

namespace bosun::gitsync {
namespace {

using nlohmann::json;

constexpr double kUnverifiedFactor = 10;
// Refills are sums of fractions of a token; this keeps 0.8 + 0.2 a whole one.
constexpr double kEpsilon = 1e-9;

enum class Provider { kUnknown, kGithub, kGitea, kGitlab, kGeneric };

Provider ParseProvider(const std::string& name) {
  if (name == "github") return Provider::kGithub;
  if (name == "gitea") return Provider::kGitea;
  if (name == "gitlab") return Provider::kGitlab;
  if (name == "generic") return Provider::kGeneric;
  return Provider::kUnknown;
}

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

// A commit id: SHA-1 (40) or SHA-256 (64) hex digits.
bool IsCommitId(std::string_view s) {
  return (s.size() == 40 || s.size() == 64) && IsHex(s);
}

bool IsZeroCommit(std::string_view s) {
  return s.find_first_not_of('0') == std::string_view::npos;
}

// "main" → "refs/heads/main"; a full ref stays as it is.
std::string FullRef(const std::string& ref) {
  return ref.rfind("refs/", 0) == 0 ? ref : "refs/heads/" + ref;
}

// Headers arrive with lower-case names; a caller that forgot still works.
const std::string* FindHeader(const WebhookRequest& r, std::string_view name) {
  auto it = r.headers.find(std::string(name));
  if (it != r.headers.end()) return &it->second;
  for (const auto& [key, value] : r.headers) {
    if (key.size() == name.size() && std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      return &value;
    }
  }
  return nullptr;
}

WebhookAnswer Answer(int status, bool triggered, const std::string& message) {
  WebhookAnswer a;
  a.status = status;
  a.trigger = triggered;
  json body = {{"triggered", triggered}, {"message", message}};
  // Provider names come from the URL and may be any bytes: replace what is
  // not UTF-8 rather than throw.
  a.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  a.headers["Content-Type"] = "application/json";
  return a;
}

WebhookAnswer TooMany(int retry_after, const std::string& what) {
  WebhookAnswer a = Answer(429, false, "rate limited: " + what + "; retry after " + std::to_string(retry_after) + "s");
  a.headers["Retry-After"] = std::to_string(retry_after);
  return a;
}

int SecondsUntilOne(double tokens, double rate) {
  double wait = (1 - tokens) / rate;
  return std::max(1, static_cast<int>(std::ceil(wait)));
}

// The value of the first field `name` of an application/x-www-form-urlencoded body.
bool FormField(std::string_view body, std::string_view name, std::string* out) {
  for (auto& [key, value] : ParseFormEncoded(body)) {
    if (key != name) continue;
    *out = std::move(value);
    return true;
  }
  return false;
}

// Reads an optional string field; false when it is there but not a string.
bool OptionalString(const json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

}  // namespace

WebhookReceiver::WebhookReceiver(WebhookOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &Clock::System()),
      limited_(options_.per_second > 0),
      burst_(std::max(1, options_.burst)) {
  if (IsCommitId(options_.ref)) {
    fixed_commit_ = options_.ref;
  } else {
    followed_ = FullRef(options_.ref);
  }
  tokens_ = burst_;
  forged_tokens_ = burst_ * kUnverifiedFactor;
  last_ = clock_->Monotonic();
  for (size_t start = 0; start < options_.secret.size();) {
    size_t end = options_.secret.find('\n', start);
    if (end == std::string::npos) end = options_.secret.size();
    std::string line = std::string(TrimAscii(std::string_view(options_.secret).substr(start, end - start)));
    if (!line.empty()) secrets_.push_back(std::move(line));
    start = end + 1;
  }
}

WebhookReceiver::~WebhookReceiver() {
  crypto::Wipe(options_.secret);
  for (std::string& s : secrets_) crypto::Wipe(s);
}

void WebhookReceiver::RefillLocked() {
  MonoTime now = clock_->Monotonic();
  if (now <= last_) return;
  double seconds = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(burst_, tokens_ + seconds * options_.per_second);
  forged_tokens_ =
      std::min(burst_ * kUnverifiedFactor, forged_tokens_ + seconds * options_.per_second * kUnverifiedFactor);
}

bool WebhookReceiver::TakeUnverified(int* retry_after) {
  if (!limited_) return true;
  std::lock_guard<std::mutex> lock(mu_);
  RefillLocked();
  if (forged_tokens_ >= 1 - kEpsilon) {
    forged_tokens_ = std::max(0.0, forged_tokens_ - 1);
    return true;
  }
  *retry_after = SecondsUntilOne(forged_tokens_, options_.per_second * kUnverifiedFactor);
  return false;
}

bool WebhookReceiver::TakeVerified(int* retry_after) {
  if (!limited_) return true;
  std::lock_guard<std::mutex> lock(mu_);
  RefillLocked();
  if (tokens_ >= 1 - kEpsilon) {
    tokens_ = std::max(0.0, tokens_ - 1);
    return true;
  }
  *retry_after = SecondsUntilOne(tokens_, options_.per_second);
  return false;
}

WebhookAnswer WebhookReceiver::Limited(int retry_after, const std::string& what, const WebhookRequest& request) {
  // Logged at most once every 10 s, with how many more there were: a
  // delivery the Git host shows as failed is in the log, and a flood does
  // not flood the log.
  size_t more = 0;
  bool log_now = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const MonoTime now = clock_->Monotonic();
    if (!limited_logged_ || now - *limited_logged_ >= std::chrono::seconds(10)) {
      log_now = true;
      more = limited_unlogged_;
      limited_unlogged_ = 0;
      limited_logged_ = now;
    } else {
      ++limited_unlogged_;
    }
  }
  if (log_now) {
    log::Warn("gitsync", "webhook refused: rate limited (the fetch waits for the next poll or webhook)",
              {{"provider", request.provider},
               {"why", what},
               {"retryAfter", std::to_string(retry_after)},
               {"alsoRefusedSinceLastLine", std::to_string(more)}});
  }
  return TooMany(retry_after, what);
}

void WebhookReceiver::ChargeUnverified() {
  if (!limited_) return;
  std::lock_guard<std::mutex> lock(mu_);
  RefillLocked();
  forged_tokens_ = std::max(0.0, forged_tokens_ - 1);
}

void WebhookReceiver::RefundUnverified() {
  if (!limited_) return;
  std::lock_guard<std::mutex> lock(mu_);
  forged_tokens_ = std::min(burst_ * kUnverifiedFactor, forged_tokens_ + 1);
}

WebhookAnswer WebhookReceiver::Handle(const WebhookRequest& request) {
  if (request.method != "POST") {
    WebhookAnswer a = Answer(405, false, "method " + request.method.substr(0, 16) + " not allowed: webhooks are POST");
    a.headers["Allow"] = "POST";
    return a;
  }
  const Provider provider = ParseProvider(request.provider);
  if (provider == Provider::kUnknown) {
    return Answer(
        404, false,
        "unknown webhook provider \"" + request.provider.substr(0, 64) + "\"; known: github, gitea, gitlab, generic");
  }
  if (request.body.size() > options_.max_body_bytes) {
    ChargeUnverified();
    return Answer(413, false,
                  "payload of " + std::to_string(request.body.size()) + " bytes is over the limit of " +
                      std::to_string(options_.max_body_bytes) + " bytes");
  }

  // Verification. The unverified bucket is checked first so that a flood of
  // forgeries is refused without computing its HMACs.
  int retry_after = 0;
  if (!TakeUnverified(&retry_after)) return Limited(retry_after, "too many unverified webhook requests", request);
  const bool gitlab = provider == Provider::kGitlab;
  const char* signature_name =
      provider == Provider::kGeneric ? "signature (X-Bosun-Signature-256)" : "signature (X-Hub-Signature-256)";
  const char* header = gitlab                           ? "x-gitlab-token"
                       : provider == Provider::kGeneric ? "x-bosun-signature-256"
                                                        : "x-hub-signature-256";
  const std::string* credential = FindHeader(request, header);
  bool verified = false;
  if (credential != nullptr) {
    for (const std::string& secret : secrets_) {
      verified = gitlab ? crypto::ConstantTimeEquals(secret, *credential)
                        : crypto::VerifySignatureHeader(secret, request.body, *credential);
      if (verified) break;
    }
  }
  if (!verified) {
    // One message for a missing header, a wrong one and no secret at all, so
    // a caller learns nothing about which; the log says which for the admin.
    // A warning: a secret that differs on the Git host shows here, not only
    // as pushes that never arrive. (Floods are cut by the unverified bucket
    // before this.)
    log::Warn("gitsync", "webhook refused: not signed with our secret",
              {{"provider", request.provider},
               {"reason", secrets_.empty()        ? "no secret configured"
                          : credential == nullptr ? std::string("missing header ") + header
                                                  : std::string("wrong ") + (gitlab ? "token" : "signature")}});
    return Answer(401, false,
                  std::string("missing or invalid ") + (gitlab ? "token (X-Gitlab-Token)" : signature_name));
  }
  RefundUnverified();

  // The payload: JSON, or GitHub's and Gitea's other content type, a form
  // whose field "payload" holds the JSON (the signature covers the form).
  // The generic hook takes JSON whatever the type says (`curl -d` sends a
  // form type with a JSON body).
  json payload;
  std::string_view body = request.body;
  if (provider == Provider::kGeneric && body.find_first_not_of(" \t\r\n") == std::string_view::npos) body = "{}";
  std::string form_payload;
  const std::string* content_type = FindHeader(request, "content-type");
  const std::string type = content_type != nullptr ? AsciiLower(*content_type) : "";
  const bool json_body =
      body.find_first_not_of(" \t\r\n") != std::string_view::npos && body[body.find_first_not_of(" \t\r\n")] == '{';
  const bool form =
      type.starts_with("application/x-www-form-urlencoded") && !(provider == Provider::kGeneric && json_body);
  if (form) {
    if (!FormField(body, "payload", &form_payload)) {
      return Answer(400, false, "form-encoded payload has no \"payload\" field");
    }
    body = form_payload;
  }
  try {
    payload = json::parse(body);
  } catch (const json::parse_error& e) {
    return Answer(400, false,
                  std::string(form ? "the form's \"payload\" field" : "payload") +
                      " is not valid JSON (error at byte " + std::to_string(e.byte) + ")" +
                      (form || type.empty() || type.starts_with("application/json")
                           ? ""
                           : "; send application/json (the hook's content type)"));
  }
  if (!payload.is_object()) return Answer(400, false, "payload is not a JSON object");

  // The event.
  bool push = false;
  std::string event = "push";
  if (provider != Provider::kGeneric) {
    const std::string* value = nullptr;
    const char* name = nullptr;
    switch (provider) {
      case Provider::kGithub:
        name = "X-GitHub-Event";
        value = FindHeader(request, "x-github-event");
        break;
      case Provider::kGitea:
        name = "X-Gitea-Event";
        value = FindHeader(request, "x-gitea-event");
        if (value == nullptr) value = FindHeader(request, "x-github-event");
        break;
      default:
        name = "X-Gitlab-Event";
        value = FindHeader(request, "x-gitlab-event");
        break;
    }
    if (value == nullptr || value->empty()) return Answer(400, false, std::string("missing ") + name + " header");
    event = *value;
  }
  if (gitlab) {
    push = event == "Push Hook" || event == "Tag Push Hook";
  } else {
    if (event == "ping") return Answer(200, false, "pong");
    push = event == "push";
  }
  if (!push) return Answer(202, false, "ignored: event \"" + event.substr(0, 64) + "\" is not a push");

  // The ref and the commit.
  std::string ref;
  if (!OptionalString(payload, "ref", &ref)) return Answer(400, false, "\"ref\" is not a string");
  if (ref.empty()) {
    if (provider != Provider::kGeneric) return Answer(400, false, "push payload has no \"ref\"");
    ref = followed_.empty() ? fixed_commit_ : followed_;
  }
  std::string after;
  if (gitlab && !OptionalString(payload, "checkout_sha", &after)) {
    return Answer(400, false, "\"checkout_sha\" is not a string");
  }
  if (after.empty() && !OptionalString(payload, "after", &after))
    return Answer(400, false, "\"after\" is not a string");
  if (!after.empty() && !IsCommitId(after)) return Answer(400, false, "\"after\" is not a commit id");
  const bool deleted = !after.empty() && IsZeroCommit(after);
  if (deleted) after.clear();

  WebhookAnswer answer;
  if (!fixed_commit_.empty()) {
    answer = Answer(202, false, "ignored: following the fixed commit " + fixed_commit_ + ", which no push moves");
    answer.ref = ref;
  } else {
    std::string full = FullRef(ref);
    if (full != followed_) {
      answer = Answer(202, false, "ignored: ref " + full + " is not followed");
    } else if (!TakeVerified(&retry_after)) {
      // Only the pushes that trigger a fetch count against the verified
      // bucket: a Git host sends several other events for one merge (the
      // pull request, other branches, checks), which must not use up the
      // push's place.
      return Limited(retry_after, "too many webhook pushes", request);
    } else {
      answer = Answer(202, true,
                      deleted ? "fetch triggered: " + full + " was deleted"
                              : "fetch triggered for " + full + (after.empty() ? "" : " at " + after));
    }
    answer.ref = full;
  }
  answer.after = after;
  log::Info("gitsync", answer.trigger ? "webhook push: fetch triggered" : "webhook push ignored",
            {{"provider", request.provider}, {"ref", answer.ref}, {"rev", after}});
  return answer;
}

}  // namespace bosun::gitsync
