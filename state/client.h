// state/client.h — the bosun API client: what the reconciler, the node daemon
// and the CLI use to read, write and watch objects over HTTP (docs/API.md is
// the wire contract).
//
// A Client talks to one or more API servers (the members of the cluster).
// Each request goes to the server that answered last; when a server cannot be
// reached (connection refused, name not resolved) or answers 503, the request
// moves on to the next server, and a 503 that names the leader
// (details.leader) sends it to the leader first. Writes move on only when the
// server surely did not act on them (it refused the connection or answered
// 503); a write whose answer is lost (time-out, connection reset) fails with
// kTimeout / kUnavailable, since it may or may not have happened.
//
// Errors: a server's Status becomes an Error with the matching code — 400 and
// 422 kInvalid, 401 kUnauthorized, 403 kForbidden, 404 kNotFound, 409
// kAlreadyExists (reason AlreadyExists) or kConflict, 410 kCompacted, 413
// kTooLarge, 503 kUnavailable, 504 kTimeout, other 5xx kInternal — with a
// message for a person: `deployments.apps "web" not found in namespace
// "shop"`, `Deployment.apps "web" is invalid: spec.replicas: must be greater
// than or equal to 0; spec.template...: required` (every cause as "field:
// message"). A server that cannot be reached gives kUnavailable "cannot reach
// the bosun API at URL: why".
//
// Thread-safety: every method may be called from any thread at once. A Watch
// runs its own thread; it and the Client may be destroyed in any order.
// The token is sent as "Authorization: Bearer" and appears in no message.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/kinds.h"
#include "core/object.h"
#include "core/result.h"

namespace bosun::state {

struct ClientOptions {
  // API URLs ("http://10.0.0.1:6443"), tried in order as described above.
  std::vector<std::string> servers;
  // The bearer token (read from a token file by the caller; never logged).
  std::string token;
  // For one request (connecting, sending, and each wait for more of the
  // answer).
  std::chrono::milliseconds timeout{10000};
  // Every server reached answered 503 (no leader yet, or the leader a
  // follower forwards to is gone): asked again every 250 ms for this long,
  // since an election takes a second or two. A write only when the answer
  // says no leader was known (nothing was forwarded), or a JSON merge patch
  // (the same fields set again): any other may have been applied before
  // the 503 (a forward cut off, leadership lost before the answer). 0:
  // answer the 503 at once (the server's own controllers, which retry in
  // their own loops).
  std::chrono::milliseconds unavailable_retry{5000};
  // A watch stream that brings nothing (no event, no BOOKMARK) for this long
  // is taken for dead and reopened from the last resourceVersion. The server
  // sends a BOOKMARK every 10 s by default.
  std::chrono::milliseconds watch_idle_timeout{60000};
  // Back-off between failed watch reconnects: doubles from min up to max,
  // and starts again from min once an event arrives.
  std::chrono::milliseconds watch_backoff_min{200};
  std::chrono::milliseconds watch_backoff_max{10000};
  // Batch in this process instead of over HTTP: set by a server for its own
  // controllers (cli/server_gitops.cc binds it to state::ApiServer::Batch).
  // It gets the request body ({"operations":[...]}, the full answer asked
  // for) and `done` for the status and body of the answer. It takes the body
  // (moves from it) and returns true, or leaves it and returns false (on a
  // member that does not lead): the batch then goes over HTTP.
  std::function<bool(Json* body, std::function<void(int status, Json answer)> done)> local_batch;
};

// Which objects a list or watch returns: a label selector (core/selector.h
// syntax) and a field selector ("spec.nodeName=n1", core FieldSelector).
// A plain string is a label selector.
struct Selectors {
  std::string labels;
  std::string fields;
  Selectors() = default;
  Selectors(std::string label_selector) : labels(std::move(label_selector)) {}  // NOLINT: implicit by design
  Selectors(const char* label_selector) : labels(label_selector) {}            // NOLINT
  Selectors(std::string label_selector, std::string field_selector)
      : labels(std::move(label_selector)), fields(std::move(field_selector)) {}
};

struct ObjectList {
  std::vector<Object> items;
  std::string resource_version;  // the revision the list was read at
  std::string continue_token;    // non-empty when more items follow (pass it as `cont`)
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark };
  Type type;
  // The object after the change; for kDeleted its last state; for kBookmark
  // only apiVersion, kind and metadata.resourceVersion.
  Object object;
  // Every change up to this event's resourceVersion has now been delivered:
  // a bookmark, or an event of the stream that ends its revision. False for
  // events made from a list (their versions are in no order) and for one
  // followed by another of the same revision.
  bool complete_through = false;
};

// One write of a Client::Batch.
struct BatchOp {
  // kReplace: delete the object and create it again in the transaction (a
  // new uid; how an immutable field is changed), docs/API.md "Batch".
  enum class Type { kCreate, kUpdate, kDelete, kReplace };
  Type type = Type::kCreate;
  // kCreate / kUpdate / kReplace: the object (kind from its apiVersion/kind;
  // for kUpdate and kReplace metadata.resourceVersion, when set, is a
  // precondition on the stored one).
  Object object;
  // kDelete: what to delete, and an optional resourceVersion precondition.
  const KindInfo* kind = nullptr;
  std::string ns;
  std::string name;
  std::string precondition_rv;
  // kUpdate: write the object's status too, in the same transaction (as an
  // update followed by an update of its /status would). Without it an update
  // keeps the stored status of a kind with a status subresource.
  bool with_status = false;
};

// What a batch answers for each operation.
enum class BatchAnswer {
  // The objects as stored (for a delete, the deleted object).
  kObjects,
  // Only what the server set, which the client does not know: the wire
  // carries apiVersion, kind and metadata's name, namespace, uid,
  // creationTimestamp, generation and resourceVersion, plus the status the
  // server kept (an update without with_status of a kind with a status
  // subresource). Client::Batch puts those fields into a copy of each op's
  // own object, so items are again the objects as stored; a delete's item
  // is then only that metadata. For a sync of thousands of objects this
  // spares the server encoding, and the client parsing, all of them again.
  kShort,
};

struct BatchResult {
  std::string resource_version;  // the transaction's revision
  std::vector<Object> items;     // one per op, in order
};

const char* WatchEventTypeName(WatchEvent::Type t);  // "ADDED", "MODIFIED", ...

// The annotation on the BOOKMARK that follows a watch's initial ADDED events.
inline constexpr const char* kInitialEventsEndAnnotation = "k8s.io/initial-events-end";

// A running watch (see Client::Watch). Destroying it (or Stop) ends it: when
// that returns, no callback is running and none will run. Stop may also be
// called from inside the callback (it then returns without waiting, and the
// callback in progress is the last one).
class Watch {
 public:
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  void Stop();

  // The resourceVersion of the last event delivered (or the list it started
  // from): where a reconnect resumes.
  std::string resource_version() const;
  // How many times the stream was reopened (after a disconnect, a time-out or
  // an expired resourceVersion), and how many of those were re-lists after
  // 410 Expired. For tests and diagnostics.
  int reconnects() const;
  int relists() const;

  struct State;  // private to client_watch.cc

 private:
  friend class Client;
  explicit Watch(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

using WatchPtr = std::unique_ptr<Watch>;

class Client {
 public:
  // Fails with kInvalid when no server is given or a URL is malformed. Does
  // not contact any server.
  static Result<std::unique_ptr<Client>> Create(const ClientOptions& options);
  ~Client();

  // The object, or kNotFound. `ns` is ignored for cluster-scoped kinds.
  Result<Object> Get(const KindInfo& kind, const std::string& ns, const std::string& name);

  // Objects of a kind in `ns` ("" = every namespace), optionally filtered by
  // a label selector (core/selector.h syntax), at most `limit` of them (0 =
  // all) starting at continue token `cont`. Items always carry apiVersion and
  // kind.
  Result<ObjectList> List(const KindInfo& kind, const std::string& ns, const Selectors& selectors = {},
                          size_t limit = 0, const std::string& cont = "");

  // The kind is looked up from the object's apiVersion and kind (kInvalid when
  // bosun does not know it), the namespace from metadata.namespace ("default"
  // when empty for namespaced kinds). Create fails with kAlreadyExists when
  // the name is taken; Update with kConflict when metadata.resourceVersion is
  // set and stale, kNotFound when the object is gone. UpdateStatus writes only
  // `status` (the /status subresource). Each returns the object as stored.
  Result<Object> Create(const Object& object);
  Result<Object> Update(const Object& object);
  Result<Object> UpdateStatus(const Object& object);
  // A Namespace's spec.finalizers (PUT …/namespaces/NAME/finalize): a
  // Terminating Namespace whose finalizers are emptied is removed, and its
  // last state returned.
  Result<Object> FinalizeNamespace(const Object& ns);

  // RFC 7386 JSON merge patch of the object. Returns the patched object.
  Result<Object> Patch(const KindInfo& kind, const std::string& ns, const std::string& name, const Json& merge_patch);

  // Deletes the object and returns its last state. With `precondition_rv`,
  // only if the object is still at that resourceVersion (else kConflict).
  Result<Object> Delete(const KindInfo& kind, const std::string& ns, const std::string& name,
                        const std::string& precondition_rv = "");

  // Several writes in one store transaction (POST /bosun/v1/batch,
  // docs/GITOPS.md): all of them happen, or none. Returns the objects as
  // stored (for kDelete the deleted object) in the order given, and the
  // revision of the transaction. Errors as for the single writes, the
  // message naming the operation ("operations[3]: ...").
  Result<BatchResult> Batch(const std::vector<BatchOp>& ops, BatchAnswer answer = BatchAnswer::kObjects);
  // The same, taking the ops' objects: with a short answer each is moved
  // into its item instead of copied (10,000 objects for a first GitOps
  // sync). Afterwards `ops` holds the ops with their objects moved from;
  // only their other fields may be read.
  Result<BatchResult> Batch(std::vector<BatchOp>&& ops, BatchAnswer answer = BatchAnswer::kObjects);
  // Deletes the object and creates it again in one transaction (a batch of
  // one BatchOp::Type::kReplace): how a field its kind makes immutable is
  // changed. metadata.resourceVersion, when set, is a precondition on the
  // stored one. Returns the new object as stored (a new uid).
  Result<Object> Replace(Object object);

  // Watches objects of a kind in `ns` ("" = every namespace) matching
  // `label_selector`, from `resource_version`:
  //  * "" — lists first and delivers ADDED for each existing object, then a
  //    BOOKMARK at the list's resourceVersion annotated
  //    "k8s.io/initial-events-end": "true" (as Kubernetes' watch-list does:
  //    the consumer now has the whole set), then every change after it;
  //  * "N" — every change after revision N.
  // It reconnects from the last resourceVersion it delivered (BOOKMARKs
  // advance it) on any disconnect, with back-off. On 410 Expired it lists
  // again and delivers a synthetic diff against what it delivered before:
  // ADDED for new objects, MODIFIED for changed ones, DELETED (the last
  // known state, at the list's resourceVersion) for vanished ones, so the
  // consumer never skips or repeats a change. To do that the watch keeps the
  // last state of every object it delivered. The diff is exact when the
  // watch started from "" (it then knows every object the consumer has seen);
  // started from "N" it knows only the objects whose changes it delivered, so
  // objects that existed before N, never changed, and vanished during the gap
  // go unreported — consumers that need the guarantee start from "".
  // Events that repeat one already delivered (an older resourceVersion, or
  // the same object at the same resourceVersion) are dropped.
  //
  // `on_event` runs on the watch's own thread, one event at a time, in
  // revision order; it should not block for long (the stream waits).
  // Fails now (and starts nothing) when the initial list or the first
  // connection fails: kNotFound, kUnauthorized, kUnavailable, ...; later
  // failures are retried for as long as the watch lives (logged as warnings).
  Result<WatchPtr> Watch(const KindInfo& kind, const std::string& ns, const Selectors& selectors,
                         const std::string& resource_version, std::function<void(const WatchEvent&)> on_event);

  // The state members: the JSON of GET /bosun/v1/members
  // ({"kind":"MemberList","items":[{"id","raftAddress","apiUrl","role",
  // "isLeader","isSelf","appliedIndex"}]}).
  Result<Json> Members();
  // Removes member `id` from the cluster (DELETE /bosun/v1/members/ID, sent
  // to the leader; admins only). kNotFound when it is not a member, kConflict
  // for the last voter, kForbidden without an admin token.
  Status RemoveMember(uint64_t id);

  // A container's log, through the API server from the pod's node
  // (pods/NAME/log). `on_data` receives the text as it arrives; with
  // `follow` the call returns once the container stops (or the stream is
  // cut: kUnavailable), else when the log has been read. An empty container
  // means the pod's only container.
  struct LogOptions {
    std::string container;
    bool follow = false;
    bool previous = false;    // the run before the current one
    bool timestamps = false;  // prefix each line with its RFC 3339 time
    long tail_lines = -1;     // the last N lines only (-1: all)
  };
  Status Logs(const std::string& ns, const std::string& pod, const LogOptions& options,
              const std::function<void(std::string_view)>& on_data);

  // Runs a command in a running container (pods/NAME/exec), without a
  // terminal: stdin is empty; the output is returned when it has finished.
  struct ExecOutput {
    int exit_code = -1;
    std::string out;
    std::string err;
  };
  Result<ExecOutput> Exec(const std::string& ns, const std::string& pod, const std::string& container,
                          const std::vector<std::string>& argv, std::chrono::seconds timeout = std::chrono::seconds(300));

  // GET of any path (with its query), for verbs that need other endpoints.
  // The body must be JSON.
  Result<Json> RawGet(const std::string& path);

  struct Impl;  // private to client*.cc

 private:
  // `take`: the same vector as `ops`, whose objects may be moved (the && Batch), or null.
  Result<BatchResult> BatchImpl(const std::vector<BatchOp>& ops, BatchAnswer answer, std::vector<BatchOp>* take);
  explicit Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace bosun::state
