// state/api_internal.h — the pieces of the API server shared by its files:
//   api_server.cc   listening, routing, authentication, the small endpoints
//   api_objects.cc  get, list, create, update, patch, delete (+ /status)
//   api_watch.cc    watch streams and their timer
//   api_proxy.cc    forwarding to the leader
//   api_status.cc   Status errors, the value codec, small helpers
//   api_batch.cc    POST /bosun/v1/batch: several writes in one transaction
// Private to the state component.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include <cpprest/http_client.h>

#include "core/ascii.h"  // PercentDecode
#include "core/kinds.h"
#include "core/object.h"
#include "core/validation.h"
#include "state/api_server.h"
#include "state/http_server.h"

namespace bosun::state::api_internal {

using QueryMap = std::map<std::string, std::string>;

// ---- Status errors (api_status.cc) ----

// A Kubernetes Status object with its HTTP code.
struct ApiError {
  int code = 500;
  std::string reason;   // "NotFound", "Conflict", ...
  std::string message;  // for a person
  Json details = Json::object();
  Json ToJson() const;
};

ApiError NotFound(const KindInfo& kind, const std::string& name);
ApiError PathNotFound(const std::string& path);
// 403 "<resource> "<name>" is forbidden: <why>"
ApiError Forbidden(const KindInfo& kind, const std::string& name, const std::string& why);
ApiError AlreadyExists(const KindInfo& kind, const std::string& name);
// "Operation cannot be fulfilled on <resource> "<name>": <why>"
ApiError Conflict(const KindInfo& kind, const std::string& name, const std::string& why);
// Conflict with Kubernetes' stale-resourceVersion wording.
ApiError Modified(const KindInfo& kind, const std::string& name);
ApiError Invalid(const KindInfo& kind, const std::string& name, const std::vector<FieldError>& errors);
ApiError BadRequest(const std::string& message);
ApiError Unauthorized(const std::string& message);
ApiError MethodNotAllowed(const std::string& method, const std::string& path);
ApiError TooLarge(size_t limit);
ApiError UnsupportedMediaType(const std::string& content_type);
ApiError Expired(const std::string& message);
ApiError Unavailable(const std::string& message, const std::optional<std::string>& leader);
ApiError Internal(const std::string& message);
// Maps a bosun error code (core/result.h) to its Status. `kind` may be null.
ApiError FromError(const Error& e, const KindInfo* kind, const std::string& name);

// ---- small helpers (api_status.cc) ----

std::string NewUid();                // random UUID v4
std::string RandomSuffix(size_t n);  // for generateName: [bcdfghjklmnpqrstvwxz2456789]{n}
QueryMap ParseQuery(std::string_view raw_query);
std::vector<std::string> SplitPath(std::string_view decoded_path);
std::optional<int64_t> ParseInt(std::string_view s);
// Compact JSON that never throws (invalid UTF-8 is replaced).
std::string Dump(const Json& j);
std::string Base64UrlEncode(std::string_view in);
std::optional<std::string> Base64UrlDecode(std::string_view in);

// ---- one request ----

class Core;

// What a collection or object path names.
struct Target {
  const KindInfo* kind = nullptr;
  std::string ns;       // the path's namespace; "" for cluster-scoped kinds and all-namespace paths
  std::string name;     // "" for a collection
  bool status = false;  // the /status subresource
  bool finalize = false;  // a Namespace's /finalize subresource (spec.finalizers only)
  // ?fieldValidation= of a write: what an unknown field in the body is
  // (Kubernetes' default, Warn: a Warning header).
  FieldValidation field_validation = FieldValidation::kWarn;

  std::string Key() const { return StoreKey(*kind, ns, name); }
  // The store prefix of the collection (ends in '/').
  std::string Prefix() const;
};

// One HTTP request being served. Shared by the callbacks that serve it; its
// lifetime is the server's count of requests in flight (Stop waits for it).
class Call {
 public:
  Call(std::shared_ptr<Core> core, std::shared_ptr<HttpExchange> ex, std::string path, QueryMap query);
  ~Call();

  Core& core() { return *core_; }
  const std::string& method() const { return ex_->method(); }
  // The request-target as sent (percent-encoded, with the query).
  const std::string& target() const { return ex_->target(); }
  const HttpHeaders& headers() const { return ex_->headers(); }
  const std::string& path() const { return path_; }
  const std::vector<std::string>& segments() const { return segments_; }
  const QueryMap& query() const { return query_; }
  std::string Query(const std::string& key) const;
  bool Has(const std::string& key) const { return query_.count(key) != 0; }
  std::string Header(const std::string& name) const { return ex_->Header(name); }
  const std::string& body() const { return ex_->body(); }
  const User& user() const { return user_; }
  void set_user(User u) { user_ = std::move(u); }

  void Reply(int code, const Json& body);
  void ReplyError(const ApiError& e);
  void ReplyText(int code, const std::string& content_type, std::string body,
                 const std::map<std::string, std::string>& headers = {});
  // Starts a chunked answer (a watch, a followed log); nullptr when the call
  // was answered already.
  std::shared_ptr<HttpStream> ReplyStream(int code, const std::string& content_type,
                                          const std::map<std::string, std::string>& headers = {});
  bool replied() const { return replied_.load(); }
  // Adds a warning to the answer's Warning header (once each; as Kubernetes
  // sends them: 299 - "TEXT").
  void AddWarning(const std::string& text);
  void AddWarnings(const std::vector<std::string>& texts) {
    for (const auto& t : texts) AddWarning(t);
  }

 private:
  void Logged(int code);

  std::shared_ptr<Core> core_;
  std::shared_ptr<HttpExchange> ex_;
  std::string path_;
  std::vector<std::string> segments_;
  QueryMap query_;
  User user_;
  MonoTime start_;
  std::atomic<bool> replied_{false};
  std::mutex warnings_mu_;
  std::vector<std::string> warnings_;
};
using CallPtr = std::shared_ptr<Call>;

// The call's ?fieldValidation= into *mode (left as it is when absent); an
// error for a value other than Strict, Warn or Ignore.
std::optional<ApiError> FieldValidationParam(const Call& call, FieldValidation* mode);

// The request log line: debug, or a warning for a 5xx. `in_process`: a batch
// from this process (ApiServer::Batch), which came without HTTP.
void LogRequest(const std::string& method, const std::string& path, int code, const std::string& user, int64_t ms,
                bool in_process);

// ---- writes: the rules shared by the single verbs and the batch (api_objects.cc) ----

// POST here writes several objects in one transaction (api_batch.cc).
inline constexpr const char* kBatchPath = "/bosun/v1/batch";
// Its body limit: a GitOps sync of a whole repository is one batch, so it is
// larger than the ordinary limit (ApiServerOptions::max_body_bytes).
inline constexpr size_t kMaxBatchBodyBytes = size_t{64} << 20;

// An object as the store holds it.
struct Stored {
  Json object;  // with metadata.resourceVersion
  int64_t revision = 0;
};

// What a write does to the current object.
struct Change {
  enum class Kind { kPut, kDelete, kNoop } kind = Kind::kPut;
  Json object;  // kPut: the new object, without resourceVersion
  // The client pinned a resourceVersion (or uid): a lost race is its 409,
  // not something to retry.
  bool pinned = false;
  // Unknown fields under FieldValidation Warn: the answer's Warning header.
  std::vector<std::string> warnings;
};
using Mutation = std::variant<Change, ApiError>;

// obj["metadata"], made an object if it is not one.
Json& Meta(Json& obj);
// metadata.<field> if it is a string, else "".
std::string MetaString(const Json& obj, const char* field);
// apiVersion and kind must name `kind`; absent ones are filled in.
std::optional<ApiError> CheckTypeMeta(Json& obj, const KindInfo& kind);
// The object's namespace must be t.ns (filled in when empty); a
// cluster-scoped object has none.
std::optional<ApiError> CheckNamespace(Json& obj, const Target& t);
// Validation errors (warnings do not refuse a write). `obj` is moved into the
// Object validation reads and back, not copied; it is unchanged afterwards.
// The object's errors. Its unknown fields are errors too under `mode`
// Strict; under Warn each is added to *warnings ("spec.replica: unknown
// field …"); under Ignore they are dropped. For an update, `before` is the
// stored object: an unknown field it already had is the request's only if
// new, so it is neither an error nor a warning again.
std::vector<FieldError> Validate(Json& obj, const KindInfo& kind, FieldValidation mode = FieldValidation::kIgnore,
                                 std::vector<std::string>* warnings = nullptr, const Json* before = nullptr);
// The server-set fields of a new object: uid, creationTimestamp, generation
// 1, no resourceVersion. Fails with 422 when it has neither name nor
// generateName.
std::optional<ApiError> PrepareCreate(Json& obj, const KindInfo& kind, Clock& clock);
// The new object for an update (PUT) or a patch result: server-set fields
// from the stored object, status or everything-but-status per the path,
// generation bumped when spec changed, validated. `pinned` says the client
// named a resourceVersion; a stale one gives 409.
Mutation ComputeUpdate(const Target& t, const Stored& cur, Json next, bool pinned);
// A delete of `cur`, or 409 when a precondition (resourceVersion, uid; each
// optional) does not hold.
Mutation DeleteChange(const Target& t, const Stored& cur, std::optional<int64_t> rv, const std::string& uid,
                      const std::string& now);
// ---- namespaces (api_namespaces.cc) ----
//
// Kubernetes' lifecycle: content is created only in a namespace that exists
// and is not being deleted. DELETE of a Namespace marks it Terminating
// (metadata.deletionTimestamp, status.phase, spec.finalizers
// ["kubernetes"]); the namespace controller (reconciler/namespace_controller.h)
// deletes what is in it and then takes its finalizer out through
// PUT …/namespaces/NAME/finalize; with none left, the Namespace is removed.
// Those NamespaceMayBeDeleted (core/kinds.h) refuses may not be deleted.

// The store key of the Namespace a create of `t` writes into, or "" when it
// needs none: a cluster-scoped kind, or "default", which always exists.
std::string NamespaceKeyFor(const Target& t);
// 404 `namespaces "<ns>" not found`, as Kubernetes answers a create there.
ApiError NamespaceNotFound(const std::string& ns);
// Whether a create of `t` may go into its namespace as the store holds it
// now: 404 when the Namespace is missing, 403 when it is being deleted;
// else the precondition the create's transaction carries: the Namespace
// unchanged since (so one marked Terminating in between cannot be missed by
// the namespace controller's last look).
std::variant<Precondition, ApiError> CheckNamespaceOpen(Core& core, const Target& t, const std::string& ns_key);
const KindInfo& NamespaceKindOf();
bool IsNamespace(const KindInfo& kind);
// A DELETE of Namespace `cur` (its preconditions checked): Terminating, a
// no-op when it already is, 403 for a namespace that may not be deleted.
Mutation TerminateNamespace(const Target& t, const Stored& cur, bool pinned, const std::string& now);
// spec.finalizers of a Namespace changes only through /finalize: `out`, the
// update of `before` computed so far, gets before's, or with
// `finalize` is before with next's spec.finalizers.
// 422 when the update's spec is not an object.
std::optional<ApiError> NamespaceFinalizers(const Json& before, const Json& next, bool finalize, Json* out);
// A Terminating Namespace that nothing holds any longer (spec.finalizers
// empty in `out`): the update deletes it.
bool NamespaceReleased(const Json& before, const Json& out);
// A failed StateService::Write as the client should see it (503 with the
// leader when this member cannot write).
ApiError WriteError(Core& core, const Error& e, const Target& t);

class WatchStream;

// Stored values of recent watch events, decoded once for every watch stream
// that delivers them (api_watch.cc): a revision that writes 10,000 objects
// watched by three streams is decoded once, not three times, and rendered
// once for the streams that send it as stored. A store key and a
// mod_revision name one value for good, so an entry never goes stale; the
// oldest entries leave when the cache holds more than its bound (which fits
// a revision of 10,000 ordinary objects: the store hands a whole revision to
// one stream before the next, so a smaller bound would evict every value
// before the second stream reads it), and once they are kIdle old (the
// watch timer calls Expire), so an idle server holds none.
// Thread-safe.
class WatchValues {
 public:
  class Value {
   public:
    explicit Value(Json object) : object_(std::move(object)) {}
    // The object, with metadata.resourceVersion.
    const Json& object() const { return object_; }
    // Dump(object()), made by the first caller.
    const std::string& Rendered() const;

   private:
    const Json object_;
    mutable std::once_flag once_;
    mutable std::string rendered_;
  };

  // The value at kv, decoded by `decode` on a miss (not cached when it
  // fails: null is returned each time).
  std::shared_ptr<const Value> Get(const KeyValue& kv, MonoTime now, const std::function<Result<Json>()>& decode);
  // Drops the entries added kIdle or more before `now`.
  void Expire(MonoTime now);

  static constexpr std::chrono::seconds kIdle{10};

 private:
  // Bounds: entries, and the stored bytes they came from (a decoded object
  // takes a few times its stored size).
  static constexpr size_t kMaxEntries = 32768;
  static constexpr size_t kMaxStoredBytes = size_t{32} << 20;

  struct Added {
    std::string id;
    size_t bytes = 0;
    MonoTime at;
  };
  void PopOldest();  // mu_ held

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Value>> by_key_;  // guarded by mu_: "key@rev"
  std::deque<Added> order_;                                              // guarded by mu_: oldest first
  size_t bytes_ = 0;                                                      // guarded by mu_
};

struct ExtraRoute {
  std::string prefix;
  bool open = false;
  Handler handler;
};

// The server's state; shared with every callback so none outlives what it
// touches.
class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(const ApiServerOptions& options, StateService* service, TokenAuthenticator* auth);
  ~Core();

  // api_server.cc
  Status Listen();
  void Stop();
  std::string url() const { return url_; }
  void AddRoute(ExtraRoute r);
  void AddReadyCheck(std::function<std::optional<std::string>()> check);
  // The transport's two calls (state/http_server.h): a request's header has
  // arrived (returns its body limit, or refuses it), and the whole request.
  size_t OnHeader(const std::shared_ptr<HttpExchange>& ex);
  void Handle(std::shared_ptr<HttpExchange> ex);
  bool stopped() const { return stopped_.load(); }
  const ApiServerOptions& options() const { return options_; }
  StateService& service() { return *service_; }
  Clock& clock() { return *options_.clock; }

  // api_objects.cc: the verbs.
  void Get(const CallPtr& call, const Target& t);
  void List(const CallPtr& call, const Target& t);
  void Create(const CallPtr& call, const Target& t);
  void Update(const CallPtr& call, const Target& t);
  void Patch(const CallPtr& call, const Target& t);
  void Delete(const CallPtr& call, const Target& t);

  // api_batch.cc: POST /bosun/v1/batch (docs/API.md "Batch"), and the same
  // batch from this process (ApiServer::Batch): false on a member that does
  // not lead.
  void Batch(const CallPtr& call);
  bool LocalBatch(const std::string& authorization, Json* body, LocalAnswer done);

  // api_watch.cc
  void Watch(const CallPtr& call, const Target& t);
  // Stops the watch timer and ends every open watch (Stop).
  void EndWatches();

  // api_proxy.cc: forwards the call to the leader and relays its answer.
  void Forward(const CallPtr& call, const std::string& leader_url);
  // pods/NAME/log and pods/NAME/exec: forwarded to the node the pod is bound
  // to (api_pod_proxy.cc).
  void PodProxy(const CallPtr& call, const Target& t, const std::string& subresource);

  // Stored bytes ↔ object (with resourceVersion from the key's mod_revision).
  Result<Json> DecodeKv(const KindInfo& kind, const KeyValue& kv) const;
  // DecodeKv for a watch event, shared by the streams that deliver it
  // (api_watch.cc); null when the value cannot be decoded.
  std::shared_ptr<const WatchValues::Value> DecodeForWatch(const KindInfo& kind, const KeyValue& kv);
  Result<std::string> EncodeObject(const KindInfo& kind, const std::string& key, const Json& object) const;

  // Runs `fn` on an io thread of the transport (never on the caller's
  // thread), so store reads do not run on the service's callback thread
  // (Raft's loop). Dropped once the server has stopped.
  void Post(std::function<void()> fn);
  // ReadBarrier, then `fn` on the thread pool; replies the barrier's error
  // (or hands it to `fail`).
  void AfterBarrier(const CallPtr& call, ReadConsistency c, std::function<void()> fn);
  void AfterBarrier(ReadConsistency c, std::function<void(const ApiError&)> fail, std::function<void()> fn);

  // In-flight accounting (Call's constructor and destructor).
  void Enter();
  void Leave();

 private:
  friend class WatchStream;
  void Route(const CallPtr& call);
  void ServeApi(const CallPtr& call);
  void Dispatch(const CallPtr& call, const Target& t);
  void ServeMembers(const CallPtr& call);
  // A member that does not lead forwards a write to the leader (or answers
  // 503 when it knows none): true when the call was answered so.
  bool ForwardUnlessLeader(const CallPtr& call);
  bool ServeExtension(const CallPtr& call, bool authenticated);
  void TimerLoop();
  void AddWatch(std::shared_ptr<WatchStream> w);

  ApiServerOptions options_;
  StateService* service_;
  TokenAuthenticator* auth_;
  const ValueCodec* codec_;
  std::string url_;
  std::unique_ptr<HttpServer> http_;

  std::atomic<bool> stopped_{false};
  std::mutex stop_mu_;  // serialises Stop

  std::mutex routes_mu_;
  std::vector<ExtraRoute> routes_;  // guarded by routes_mu_
  std::vector<std::function<std::optional<std::string>()>> ready_checks_;  // guarded by routes_mu_

  std::mutex inflight_mu_;
  std::condition_variable inflight_cv_;
  int inflight_ = 0;  // guarded by inflight_mu_

  std::mutex clients_mu_;
  std::map<std::string, std::shared_ptr<web::http::client::http_client>> clients_;  // by leader URL

  std::mutex watches_mu_;
  std::condition_variable timer_cv_;
  bool timer_stop_ = false;                            // guarded by watches_mu_
  std::vector<std::shared_ptr<WatchStream>> watches_;  // guarded by watches_mu_
  std::thread timer_;
  WatchValues watch_values_;

 public:
  std::shared_ptr<web::http::client::http_client> ClientFor(const std::string& url);
};

}  // namespace bosun::state::api_internal
