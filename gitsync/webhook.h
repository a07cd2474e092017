// gitsync/webhook.h — push webhooks from Git hosts (DESIGN.md §4): verify,
// decide, rate-limit. Transport-free: the API server route hands it the
// request's headers and body, and sends back the answer it gets.
//
// Providers, chosen by the last path segment of the route (/hooks/<provider>):
//  * github, gitea: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body
//    under the shared secret>`; event from `X-GitHub-Event` / `X-Gitea-Event`
//    (Gitea sends both; either is read) — "push" triggers, "ping" answers 200
//    and does nothing;
//  * gitlab: `X-Gitlab-Token: <the shared secret>` (compared in constant
//    time); event from `X-Gitlab-Event` ("Push Hook", "Tag Push Hook");
//  * generic: `X-Bosun-Signature-256: sha256=<hex HMAC>` as GitHub's; always
//    a push; the body is JSON with an optional "ref" (absent = "the followed
//    ref"; a branch name or a full ref) and an optional "after". An empty
//    body is taken as {} so `curl -X POST` with a signature is enough.
// A push's body names the ref ("ref": "refs/heads/main", or
// "refs/tags/v1" for a tag push) and the new head ("after"; for GitLab
// "checkout_sha" when present, which is the commit even for annotated tags).
// A push for the followed branch (or tag) triggers a fetch — also one that
// deletes it ("after" all zeros), so the fetch reports the ref gone; any other
// ref is answered 202 with "ignored: ref X is not followed" and triggers
// nothing. When the followed ref is a fixed commit (a commit id) no push
// ever triggers. Other events (issues, releases, …) are answered 202 ignored.
//
// Checks, in this order, each answering at once when it fails:
//   method (405, with Allow: POST) → provider (404) → size (413, nothing else
//   read) → unverified bucket (429) → signature/token (401) → JSON (400) →
//   event header (400 when missing, 202 when not a push) → ref (202 ignored)
//   → verified bucket (429) → a trigger.
// Answers: a JSON body {"triggered": bool, "message": "why"} on every status;
// 200 ping; 202 every verified push, triggered or ignored; 400 bad JSON, a
// payload without "ref", or a missing event header; 401 missing or wrong
// signature/token, or no secret configured (the same message for all three,
// and nothing about the secret or the signature sent); 404 unknown provider;
// 405 not POST; 413 body over max_body_bytes; 429 rate limited (with
// Retry-After in whole seconds). A forged request costs one HMAC and nothing
// else: it is refused before the body is parsed.
//
// Thread-safety: Handle may be called from any thread; only the rate limiter
// is locked, signatures are computed outside the lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"

namespace bosun::gitsync {

struct WebhookOptions {
  // The shared secret (read from a file by the caller). Empty: every request
  // is refused with 401 (webhooks disabled until a secret is configured).
  // Several secrets, one per line, are each accepted: a rotation adds the
  // new one, changes it on the Git host, then removes the old one, and no
  // delivery is refused in between.
  std::string secret;
  // The followed ref, as in RemoteOptions::ref ("main", "refs/heads/main",
  // "refs/tags/v1").
  std::string ref = "main";
  size_t max_body_bytes = 1u << 20;
  // Token bucket: at most `burst` pushes of the followed ref at once,
  // refilled at `per_second`. Verified requests that trigger nothing (pings,
  // other events, other refs) do not count: one merge on a Git host sends
  // several.
  // Requests refused before verification (401, 413) do not consume these
  // tokens but are limited by a second bucket at 10× (10 × burst, refilled at
  // 10 × per_second), so a flood of forgeries cannot burn CPU: every request
  // takes one of its tokens before its HMAC is computed and gives it back
  // once verified. While that bucket is empty every request, genuine or not,
  // gets 429 until it refills (polling stays the fallback). per_second <= 0
  // turns rate limiting off; burst < 1 counts as 1.
  double per_second = 2;
  int burst = 10;
  // Time for the buckets (FakeClock in tests); not owned, outlives the
  // receiver. nullptr means Clock::System().
  Clock* clock = &Clock::System();
};

struct WebhookRequest {
  std::string provider;                        // "github", "gitea", "gitlab", "generic"
  std::string method;                          // "POST"
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

struct WebhookAnswer {
  int status = 200;
  std::string body;  // JSON
  std::map<std::string, std::string> headers;
  bool trigger = false;  // a verified push for the followed ref
  std::string ref;       // the pushed ref, in full ("refs/heads/main")
  std::string after;     // the pushed commit, when the payload names it ("" when deleted)
};

class WebhookReceiver {
 public:
  explicit WebhookReceiver(WebhookOptions options);
  ~WebhookReceiver();  // wipes its copy of the secret
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  WebhookAnswer Handle(const WebhookRequest& request);

 private:
  // Adds the tokens earned since last_ to both buckets. Needs mu_.
  void RefillLocked();
  // Takes one token from a bucket, or says in *retry_after how many whole
  // seconds until one is there.
  bool TakeUnverified(int* retry_after);
  bool TakeVerified(int* retry_after);
  // Spends an unverified token if one is left (413: counts, never waits).
  void ChargeUnverified();
  // Gives back the token a request took before it verified.
  void RefundUnverified();
  // The 429 answer, logged (at most one line every 10 s).
  WebhookAnswer Limited(int retry_after, const std::string& what, const WebhookRequest& request);

  WebhookOptions options_;
  Clock* clock_;
  bool limited_;              // per_second > 0
  double burst_;              // verified bucket's capacity
  std::vector<std::string> secrets_;  // options_.secret's lines
  std::string followed_;      // "refs/heads/main", "refs/tags/v1"; "" for a fixed commit
  std::string fixed_commit_;  // the 40-hex commit followed, if any

  std::mutex mu_;
  double tokens_;         // verified bucket, guarded by mu_
  double forged_tokens_;  // unverified bucket (10×), guarded by mu_
  MonoTime last_;         // when both were last refilled, guarded by mu_
  std::optional<MonoTime> limited_logged_;  // the last 429 logged, guarded by mu_
  size_t limited_unlogged_ = 0;             // 429s since, guarded by mu_
};

}  // namespace bosun::gitsync
