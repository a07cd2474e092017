// state/api_server.h — bosun's HTTP API server: Kubernetes-style REST over the
// state service (docs/API.md is the wire contract; DESIGN.md §2).
//
// An ApiServer listens on one HTTP address (state/http_server.h: HTTP/1.1 on
// Boost.Beast) and serves:
//  * the object API for every kind in core/kinds.h: get, list, create,
//    update, patch (merge and JSON patch), delete, the /status subresource,
//    and watch (a chunked stream of one JSON event per line);
//  * /healthz, /readyz (open), /version and /bosun/v1/members;
//  * extra paths registered with AddRoute (webhooks and the like).
// Every request except the open paths is authenticated with a bearer token
// (TokenAuthenticator, state/auth.h); failures get 401.
//
// Reads and writes go through the StateService (state/service.h): writes are
// transactions with preconditions on the store's mod_revision (optimistic
// concurrency), reads follow a ReadBarrier. Handlers never block the io
// threads on Raft: they hand a callback to the service and reply from it. A
// member that does not lead forwards writes and linearizable reads to the
// leader (an HTTP proxy), and answers 503 when no leader is known; watches and
// reads with resourceVersion=0 are served from the member's own store.
//
// Stored values pass through a ValueCodec (plain JSON by default), the seam
// where Secrets get encrypted at rest.
//
// Thread-safety: Start, url, AddRoute and Stop may be called from any thread
// but the server's own. Handlers run on the server's io threads and on the
// service's callback threads. Ownership: the StateService, TokenAuthenticator, ValueCodec and
// Clock passed in must outlive the ApiServer (more precisely: until Stop()
// returns; callbacks still in flight then see a stopped server and touch none
// of them).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/kinds.h"
#include "core/result.h"
#include "state/auth.h"
#include "state/service.h"

namespace bosun::state {

// Turns an object's JSON into the bytes stored under its key, and back. The
// object passed to Encode never holds metadata.resourceVersion (it is the
// key's mod_revision, not part of the value). `key` is the store key, so an
// encrypting codec can bind the ciphertext to it (AEAD associated data).
// Implementations must be thread-safe. Errors become 500 InternalError for the
// request (the message is logged, never returned, as it may concern a Secret).
class ValueCodec {
 public:
  virtual ~ValueCodec() = default;
  virtual Result<std::string> Encode(const KindInfo& kind, const std::string& key, const Json& object) const = 0;
  virtual Result<Json> Decode(const KindInfo& kind, const std::string& key, std::string_view bytes) const = 0;
};

// Compact JSON, as docs/API.md describes the stored value.
class JsonValueCodec final : public ValueCodec {
 public:
  Result<std::string> Encode(const KindInfo& kind, const std::string& key, const Json& object) const override;
  Result<Json> Decode(const KindInfo& kind, const std::string& key, std::string_view bytes) const override;
  static const JsonValueCodec& Instance();
};

struct ApiServerOptions {
  // scheme://host:port. Port 0 picks a free port (see url()).
  std::string listen = "http://127.0.0.1:0";
  // BOOKMARK events are sent on every watch at this interval.
  std::chrono::seconds bookmark_interval{10};
  // A watch without timeoutSeconds ends after this long.
  std::chrono::seconds default_watch_timeout{1800};
  // Larger request bodies get 413.
  size_t max_body_bytes = 3u << 20;
  // Timestamps (creationTimestamp) and watch timers. Watch timers are checked
  // every 100 ms of real time against this clock's Monotonic().
  Clock* clock = &Clock::System();
  // nullptr: JsonValueCodec.
  const ValueCodec* codec = nullptr;
  // What /version reports as gitVersion.
  std::string version = "unknown";
  // Timeout for requests forwarded to the leader.
  std::chrono::seconds proxy_timeout{30};
};

// A request to a path added with AddRoute, in bosun's own types.
struct HttpRequest {
  std::string method;                          // "POST"
  std::string path;                            // percent-decoded: "/hooks/github"
  std::map<std::string, std::string> query;    // percent-decoded
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // raw bytes, at most max_body_bytes
  std::optional<User> user;                    // set unless the route is open
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
  std::string body;
};

// The answer to ApiServer::Batch: the HTTP status and the body it would have
// carried (a BatchResult, or a Status for an error).
using LocalAnswer = std::function<void(int status, Json body)>;

// Replies to one request; call it exactly once, from any thread.
using Responder = std::function<void(HttpResponse)>;
using Handler = std::function<void(const HttpRequest&, Responder)>;

namespace api_internal {
class Core;
}

class ApiServer {
 public:
  // Starts listening. Fails with kInvalid for a bad listen URL or a null
  // service/auth, kIo when the address cannot be bound (port 0: the kernel
  // picks a free one; url() names it).
  static Result<std::unique_ptr<ApiServer>> Start(const ApiServerOptions& options, StateService* service,
                                                  TokenAuthenticator* auth);

  ~ApiServer();  // Stop()
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // The bound URL, e.g. "http://127.0.0.1:41234" (no trailing slash).
  std::string url() const;

  // Ends open watches (their streams end cleanly; clients reconnect), stops
  // listening (the port is free when Stop returns), closes every connection,
  // waits (up to a few seconds) for requests still waiting on the service to
  // get their callbacks, then stops the io threads. Idempotent. Never call it
  // from a handler.
  void Stop();

  // Serves every path equal to `path_prefix` or below it ("/hooks" serves
  // "/hooks/github"), any method, before the built-in paths; the longest
  // matching prefix wins. `open` routes skip authentication (the handler then
  // authenticates the caller itself, e.g. by a webhook signature). Routes are
  // served by the member that receives them; they are never forwarded.
  void AddRoute(std::string path_prefix, bool open, Handler handler);

  // /readyz answers 503 with the check's words while it returns any (after
  // its own check that a leader is known), e.g. "the repository is not
  // followed yet". Checks run on every /readyz; keep them cheap.
  void AddReadyCheck(std::function<std::optional<std::string>()> check);

  // POST /bosun/v1/batch from a client in this process (a controller on the
  // leader, wired by cli/server_gitops.cc): the same authentication, checks,
  // plan and transaction as over HTTP, with the request body ({"operations":
  // [...]}, the objects moved in) and the full answer as Json values, so
  // neither is encoded or parsed (a first GitOps sync sends 10,000 objects).
  // `done` runs once, on a thread of the server. Returns false, and neither
  // takes *body nor calls `done`, on a member that does not lead (or has
  // stopped): the caller then sends the batch over HTTP, which forwards it
  // to the leader.
  bool Batch(const std::string& authorization, Json* body, LocalAnswer done);

 private:
  explicit ApiServer(std::shared_ptr<api_internal::Core> core);
  std::shared_ptr<api_internal::Core> core_;
};

}  // namespace bosun::state
