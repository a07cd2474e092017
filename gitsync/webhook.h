// gitsync/webhook.h — push webhooks from Git hosts (DESIGN.md §4): verify,
// decide, rate-limit. Transport-free: the API server route hands it the
// request's headers and body, and sends back the answer it gets.
//
// Providers, chosen by the last path segment of the route (/hooks/<provider>):
//  * github, gitea: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body
//    under the shared secret>`; event from `X-GitHub-Event` / `X-Gitea-Event`
//    ("push" triggers, "ping" answers 200 and does nothing);
//  * gitlab: `X-Gitlab-Token: <the shared secret>` (compared in constant
//    time); event from `X-Gitlab-Event` ("Push Hook", "Tag Push Hook");
//  * generic: `X-Bosun-Signature-256: sha256=<hex HMAC>` as GitHub's; the body
//    is JSON with an optional "ref" (absent = "the followed ref").
// A push's body names the ref ("ref": "refs/heads/main") and the new head
// ("after"). A push for the followed branch (or tag) triggers a fetch; any
// other ref is answered 202 with "ignored: ref X is not followed" and
// triggers nothing.
//
// Answers: 200/202 with a JSON {"triggered": bool, "message": …}; 400 bad
// JSON or missing headers; 401 missing or wrong signature/token (the same
// message for both, and nothing about the secret); 404 unknown provider;
// 405 not POST; 413 body over max_body_bytes; 429 rate limited (with
// Retry-After). A forged request costs one HMAC and nothing else.
//
// Thread-safety: Handle may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/clock.h"

namespace bosun::gitsync {

struct WebhookOptions {
  // The shared secret (read from a file by the caller). Empty: every request
  // is refused with 401 (webhooks disabled until a secret is configured).
  std::string secret;
  // The followed ref, as in RemoteOptions::ref ("main", "refs/heads/main",
  // "refs/tags/v1").
  std::string ref = "main";
  size_t max_body_bytes = 1u << 20;
  // Token bucket: at most `burst` accepted requests at once, refilled at
  // `per_second`. Verified-but-ignored requests count too; requests refused
  // before verification (401, 413) do not consume tokens but are limited by
  // the same bucket at 10× the rate, so a flood of forgeries cannot burn CPU.
  double per_second = 2;
  int burst = 10;
  Clock* clock = &Clock::System();
};

struct WebhookRequest {
  std::string provider;  // "github", "gitea", "gitlab", "generic"
  std::string method;    // "POST"
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

struct WebhookAnswer {
  int status = 200;
  std::string body;  // JSON
  std::map<std::string, std::string> headers;
  bool trigger = false;  // a verified push for the followed ref
  std::string ref;       // the pushed ref
  std::string after;     // the pushed commit, when the payload names it
};

class WebhookReceiver {
 public:
  explicit WebhookReceiver(WebhookOptions options);
  WebhookAnswer Handle(const WebhookRequest& request);

 private:
  WebhookOptions options_;
  std::mutex mu_;
  double tokens_;
  double forged_tokens_;
  std::chrono::steady_clock::time_point last_{};
  bool started_ = false;
};

}  // namespace bosun::gitsync
