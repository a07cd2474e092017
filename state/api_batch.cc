// POST /bosun/v1/batch (docs/API.md "Batch", docs/GITOPS.md "The batch
// endpoint"): creates, updates and deletes of any kinds applied in ONE store
// transaction, so a GitOps sync lands whole or not at all.
//
// Each operation follows the rules of its single verb (api_objects.cc, shared
// through api_internal.h): the same type checks, server-set fields,
// generation and validation. The batch reads every object it touches after a
// linearizable barrier, computes every new value, and writes them all in one
// Txn whose preconditions pin what it read: a create needs the key absent, an
// update or delete needs the key still at the revision read. If someone else
// wrote one of those keys in between, the whole batch is computed again (a few
// times), unless the operation named a resourceVersion itself: then the race
// is the client's 409, as for single writes.
//
// A replace deletes an object and creates it again in the same transaction
// (new uid, creationTimestamp, generation 1): how the sync changes a field
// the object's kind makes immutable, when told to (SyncConfig spec.force).
//
// Errors name the operation: "operations[3]: <the single verb's message>",
// and 422 causes carry "operations[3].<field>".
//
// An update with "withStatus": true writes the object's status as well (for
// a kind with a /status subresource a plain update keeps the stored one), so
// a record's status lands in the same transaction as the objects it
// describes. With ?answer=short the items carry only what the server set
// (apiVersion, kind, metadata's name, namespace, uid, creationTimestamp,
// generation, resourceVersion, and a status an update kept): the client
// knows the rest, and a sync of 10,000 objects need not encode them again.
//
// ApiServer::Batch runs the same batch for a caller in this process (the
// GitOps sync on the leader): its body and answer are Json values, neither
// encoded nor parsed; only where they come from and go to differs.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <variant>
#include <vector>

#include "core/log.h"
#include "core/parallel.h"
#include "state/api_internal.h"
#include "state/batch_answer.h"
#include "state/secret_redaction.h"

namespace bosun::state::api_internal {
namespace {

constexpr int kBatchAttempts = 5;

// One operation as the request gave it.
struct BatchOp {
  // kReplace: the object is deleted and created again in the transaction
  // (a new uid, creationTimestamp and generation; no status), as
  // `kubectl replace --force` does, so a change to an immutable field lands.
  enum class Type { kCreate, kUpdate, kDelete, kReplace } type = Type::kCreate;
  Target t;                   // kind, namespace, name (never status)
  Json object;                // create, update, replace: the object (create, replace: with its server-set fields)
  std::optional<int64_t> rv;  // delete, replace: the resourceVersion precondition
  bool pinned = false;        // the client named the resourceVersion
  bool with_status = false;   // update: the object's status is written too
};

// The request, shared by the attempts.
struct BatchRequest {
  // Where the answer goes: the HTTP call, or (call null) the function of a
  // caller in this process, with what its user may read of Secrets.
  CallPtr call;
  LocalAnswer local;
  SecretAccess local_access = SecretAccess::kNone;
  std::shared_ptr<Core> local_core;  // counted in flight while the batch runs (Stop waits for it)
  std::string local_user;            // for the request log line
  bool answered = false;

  bool short_answer = false;  // ?answer=short
  std::vector<BatchOp> ops;
  std::map<std::string, size_t> by_key;  // store key → operation index
  // Where a batch's time goes (the debug line "batch answered"): received,
  // parsed, planned and encoded (the last attempt), committed.
  using Time = std::chrono::steady_clock::time_point;
  Time received, parsed, planned, committed;

  BatchRequest() = default;
  BatchRequest(const BatchRequest&) = delete;
  BatchRequest& operator=(const BatchRequest&) = delete;
  ~BatchRequest() {
    if (local_core == nullptr) return;  // an HTTP call answers an unanswered request itself
    if (!answered) Fail(Internal("the batch ended without an answer (a bug in bosun)"));
    local_core->Leave();
  }
  void Fail(const ApiError& e) {
    answered = true;
    if (call != nullptr) return call->ReplyError(e);
    LogLocal(e.code);
    local(e.code, e.ToJson());
  }
  void Answer(Json body) {
    answered = true;
    if (call != nullptr) return call->Reply(200, body);
    // Secret values go only to users who may read them, as Call::Reply does.
    RedactSecrets(body, local_access);
    LogLocal(200);
    local(200, std::move(body));
  }
  // The line an HTTP call logs when it answers.
  void LogLocal(int code) const {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - received);
    LogRequest("POST", kBatchPath, code, local_user, ms.count(), /*in_process=*/true);
  }
};

int64_t MsBetween(BatchRequest::Time a, BatchRequest::Time b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// One attempt's plan, kept until the transaction's answer.
struct Plan {
  // Per operation. kNoop and kDelete hold the current object, an update's
  // kPut the new one; a create's object stays in its BatchOp (it is the same
  // in every attempt, and is not copied).
  std::vector<Change> changes;
};

std::string Where(size_t i) {
  return "operations[" + std::to_string(i) + "]";
}

// The error of operation i: its message prefixed, its causes located.
ApiError At(size_t i, ApiError e) {
  const std::string where = Where(i);
  e.message = where + ": " + e.message;
  if (e.details.is_object() && e.details.contains("causes") && e.details["causes"].is_array()) {
    for (Json& cause : e.details["causes"]) {
      if (!cause.is_object()) continue;
      std::string field = cause.value("field", "");
      cause["field"] = field.empty() ? where : where + "." + field;
    }
  }
  return e;
}

// An update or delete of an object that does not exist. A single write says
// 404; in a batch it is a failed precondition of the transaction, 409.
ApiError Missing(const KindInfo& kind, const std::string& name) {
  ApiError e = NotFound(kind, name);
  e.code = 409;
  e.reason = "Conflict";
  return e;
}

std::string StringField(const Json& j, const char* field) {
  const Json& v = Object::Field(j, field);
  return v.is_string() ? v.get<std::string>() : std::string();
}

const KindInfo* FindKind(const std::string& api_version, const std::string& kind, std::optional<ApiError>* err) {
  if (api_version.empty() || kind.empty()) {
    *err = BadRequest("apiVersion and kind are required");
    return nullptr;
  }
  const KindInfo* k = KindRegistry::Builtin().Find(GroupVersionKind::From(api_version, kind));
  if (k == nullptr)
    *err = BadRequest("bosun does not know kind \"" + kind + "\" of apiVersion \"" + api_version + "\"");
  return k;
}

// Parses operation `j` (index i). Errors are not yet located (At does that).
std::variant<BatchOp, ApiError> ParseOp(Json& j, Clock& clock) {
  if (!j.is_object()) return BadRequest("an operation must be a JSON object");
  const std::string op = StringField(j, "op");
  BatchOp out;
  std::optional<ApiError> err;
  if (op == "delete") {
    out.type = BatchOp::Type::kDelete;
    out.t.kind = FindKind(StringField(j, "apiVersion"), StringField(j, "kind"), &err);
    if (err) return *err;
    out.t.name = StringField(j, "name");
    if (out.t.name.empty()) return BadRequest("a delete needs a name");
    if (out.t.kind->namespaced) {
      out.t.ns = StringField(j, "namespace");
      if (out.t.ns.empty()) out.t.ns = "default";
    }
    if (std::string rv = StringField(j, "resourceVersion"); !rv.empty()) {
      out.rv = ParseInt(rv);
      if (!out.rv) return BadRequest("resourceVersion must be a non-negative integer, not \"" + rv + "\"");
      out.pinned = true;
    }
    return out;
  }
  if (op != "create" && op != "update" && op != "replace") {
    return BadRequest("op must be \"create\", \"update\", \"replace\" or \"delete\"");
  }
  out.type = op == "create"   ? BatchOp::Type::kCreate
             : op == "update" ? BatchOp::Type::kUpdate
                              : BatchOp::Type::kReplace;
  Json& obj = j["object"];
  if (!obj.is_object()) return BadRequest("a " + op + " needs an \"object\" that is a JSON object");
  out.t.kind = FindKind(StringField(obj, "apiVersion"), StringField(obj, "kind"), &err);
  if (err) return *err;
  const KindInfo& kind = *out.t.kind;
  if (auto e = CheckTypeMeta(obj, kind)) return *e;
  if (kind.namespaced) {
    out.t.ns = MetaString(obj, "namespace");
    if (out.t.ns.empty()) out.t.ns = "default";
  }
  if (auto e = CheckNamespace(obj, out.t)) return *e;
  if (out.type == BatchOp::Type::kReplace) {
    if (IsNamespace(kind)) {
      return BadRequest("a Namespace cannot be replaced: deleting it deletes everything in it");
    }
    if (MetaString(obj, "name").empty()) {
      return Invalid(kind, "", {{Severity::kError, FieldPath("metadata.name"), "required for a replace"}});
    }
    // The resourceVersion is the object's that is replaced; the new one
    // gets its own, as a create.
    if (std::string rv = MetaString(obj, "resourceVersion"); !rv.empty()) {
      out.rv = ParseInt(rv);
      if (!out.rv) return BadRequest("metadata.resourceVersion must be a non-negative integer, not \"" + rv + "\"");
      out.pinned = true;
    }
    if (auto e = PrepareCreate(obj, kind, clock)) return *e;
    // A new object: its controllers write its status afresh.
    if (kind.has_status) obj.erase("status");
  } else if (out.type == BatchOp::Type::kCreate) {
    if (auto e = PrepareCreate(obj, kind, clock)) return *e;
    // generateName: one random name; if it is taken the batch fails with
    // 409 AlreadyExists and the client may send it again.
    if (MetaString(obj, "name").empty()) Meta(obj)["name"] = MetaString(obj, "generateName") + RandomSuffix(5);
  } else {
    if (MetaString(obj, "name").empty()) {
      return Invalid(kind, "", {{Severity::kError, FieldPath("metadata.name"), "required for an update"}});
    }
    out.pinned = !MetaString(obj, "resourceVersion").empty();
    const Json& with_status = Object::Field(j, "withStatus");
    if (!with_status.is_null() && !with_status.is_boolean()) return BadRequest("withStatus must be true or false");
    out.with_status = with_status.is_boolean() && with_status.get<bool>();
  }
  out.t.name = MetaString(obj, "name");
  out.object = std::move(obj);
  return out;
}

// From this many operations a batch's operations are parsed on every core
// (a first GitOps sync's 10,000: ~25 ms on one).
constexpr size_t kParallelParseOps = 512;

// Parses the body into `req`; the error of the first bad operation (the
// lowest index, as parsing them in order would find).
// A batch has no Warning header: its unknown fields are errors or nothing
// (Ignore unless ?fieldValidation=Strict).
std::optional<ApiError> ParseBody(Json& body, Clock& clock, BatchRequest* req,
                                  FieldValidation mode = FieldValidation::kIgnore) {
  Json* list = body.is_object() && body.contains("operations") ? &body["operations"] : nullptr;
  if (list == nullptr || !list->is_array()) return BadRequest("the request body must be {\"operations\":[…]}");
  const size_t n = list->size();
  req->ops.resize(n);
  auto bad = ParallelFirstError<ApiError>(n, kParallelParseOps, [&](size_t i) -> std::optional<ApiError> {
    auto op = ParseOp((*list)[i], clock);
    if (auto* e = std::get_if<ApiError>(&op)) return std::move(*e);
    req->ops[i] = std::get<BatchOp>(std::move(op));
    req->ops[i].t.field_validation = mode == FieldValidation::kStrict ? mode : FieldValidation::kIgnore;
    return std::nullopt;
  });
  // A duplicate before the first operation that does not parse is the error.
  const size_t parsed_ops = bad ? bad->first : n;
  for (size_t i = 0; i < parsed_ops; ++i) {
    const BatchOp& parsed = req->ops[i];
    // One transaction writes a key once; two operations on one object would
    // need an order inside the transaction that the store does not have.
    auto [it, added] = req->by_key.emplace(parsed.t.Key(), i);
    if (!added) {
      return At(i, BadRequest(parsed.t.kind->QualifiedResource() + " \"" + parsed.t.name + "\" is also written by " +
                              Where(it->second) + "; a batch writes each object once"));
    }
  }
  if (bad) return At(bad->first, std::move(bad->second));
  return std::nullopt;
}

// Parses the call's query and body; on error replies and returns null.
std::shared_ptr<BatchRequest> ParseRequest(const CallPtr& call, Clock& clock) {
  const std::string answer = call->Query("answer");
  if (answer != "" && answer != "full" && answer != "short") {
    call->ReplyError(BadRequest("answer must be \"full\" or \"short\", not \"" + answer + "\""));
    return nullptr;
  }
  Json body = Json::parse(call->body(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    call->ReplyError(BadRequest("the request body is not valid JSON"));
    return nullptr;
  }
  FieldValidation mode = FieldValidation::kIgnore;
  if (auto e = FieldValidationParam(*call, &mode)) {
    call->ReplyError(*e);
    return nullptr;
  }
  auto req = std::make_shared<BatchRequest>();
  req->call = call;
  req->short_answer = answer == "short";
  if (auto e = ParseBody(body, clock, req.get(), mode)) {
    req->Fail(*e);
    return nullptr;
  }
  return req;
}

// An update's change with the op's status written too (as /status would
// write it after the update): a noop becomes a put when only the status
// differs.
std::optional<ApiError> WithStatus(const BatchOp& op, const Stored& cur, Change* change) {
  const Json& want = Object::Field(op.object, "status");
  if (change->kind == Change::Kind::kNoop) {
    if (want == Object::Field(cur.object, "status")) return std::nullopt;
    Json out = cur.object;
    Meta(out).erase("resourceVersion");
    *change = Change{Change::Kind::kPut, std::move(out), change->pinned, {}};
  }
  if (want.is_null()) {
    change->object.erase("status");
  } else {
    change->object["status"] = want;
  }
  auto errors = Validate(change->object, *op.t.kind, op.t.field_validation);
  if (!errors.empty()) return Invalid(*op.t.kind, op.t.name, errors);
  return std::nullopt;
}

// One operation's part of the transaction and the plan.
struct OpPlan {
  Precondition precondition;
  std::optional<Op> op;  // none for a noop update
  Change change;
};

// Plans operation `op` against the current store. It touches nothing but
// `op`, `out` and store reads, so PlanAll plans the operations on several
// threads, each operation on one.
std::optional<ApiError> PlanOp(Core& core, BatchOp& op, const std::string& now, OpPlan* out) {
  const KindInfo& kind = *op.t.kind;
  const std::string key = op.t.Key();
  if (op.type == BatchOp::Type::kCreate) {
    // Not read first: the transaction's precondition finds a taken name
    // (Finish answers 409 AlreadyExists for it).
    auto errors = Validate(op.object, kind, op.t.field_validation);
    if (!errors.empty()) return Invalid(kind, op.t.name, errors);
    auto bytes = core.EncodeObject(kind, key, op.object);
    if (!bytes) return Internal("cannot encode the object for the store");
    out->precondition = {key, Precondition::Kind::kMustNotExist, 0};
    out->op = Op{Op::Kind::kPut, key, std::move(*bytes)};
    out->change = Change{Change::Kind::kPut, Json(), false, {}};
    return std::nullopt;
  }
  auto kv = core.service().store().Get(key);
  if (!kv && kv.error().code() != Code::kNotFound) return FromError(kv.error(), &kind, op.t.name);
  if (!kv) return Missing(kind, op.t.name);
  auto obj = core.DecodeKv(kind, *kv);
  if (!obj) return Internal("cannot read the stored object");
  Stored cur{std::move(*obj), kv->mod_revision};
  if (op.type == BatchOp::Type::kReplace) {
    if (op.rv && *op.rv != cur.revision) return Modified(kind, op.t.name);
    if (!Object::Field(Object::Field(cur.object, "metadata"), "deletionTimestamp").is_null()) {
      return Conflict(kind, op.t.name, "it is being deleted, and cannot be replaced until it is gone");
    }
    auto errors = Validate(op.object, kind, op.t.field_validation);
    if (!errors.empty()) return Invalid(kind, op.t.name, errors);
    auto bytes = core.EncodeObject(kind, key, op.object);
    if (!bytes) return Internal("cannot encode the object for the store");
    out->precondition = {key, Precondition::Kind::kModRevisionEquals, cur.revision};
    out->op = Op{Op::Kind::kPut, key, std::move(*bytes)};
    out->change = Change{Change::Kind::kPut, Json(), op.pinned, {}};
    return std::nullopt;
  }
  Mutation m = op.type == BatchOp::Type::kUpdate ? ComputeUpdate(op.t, cur, op.object, op.pinned)
                                                 : DeleteChange(op.t, cur, op.rv, "", now);
  if (auto* e = std::get_if<ApiError>(&m)) return *e;
  Change change = std::get<Change>(std::move(m));
  if (op.with_status && kind.has_status) {
    if (auto e = WithStatus(op, cur, &change)) return *e;
  }
  // Noop and delete answer with the current object.
  if (change.kind != Change::Kind::kPut) change.object = std::move(cur.object);
  out->precondition = {key, Precondition::Kind::kModRevisionEquals, cur.revision};
  if (change.kind == Change::Kind::kPut) {
    auto bytes = core.EncodeObject(kind, key, change.object);
    if (!bytes) return Internal("cannot encode the object for the store");
    out->op = Op{Op::Kind::kPut, key, std::move(*bytes)};
  } else if (change.kind == Change::Kind::kDelete) {
    out->op = Op{Op::Kind::kDelete, key, ""};
  }
  out->change = std::move(change);
  return std::nullopt;
}

// From this many operations a batch is planned on every core: validating
// and encoding a first GitOps sync's 10,000 objects is ~220 ms on one, while
// the caller only waits.
constexpr size_t kParallelPlanOps = 512;

// Plans every operation into `plans`: the error of the first operation that
// fails (the lowest index, as planning them in order would find), if any.
std::optional<std::pair<size_t, ApiError>> PlanAll(Core& core, BatchRequest& req, std::vector<OpPlan>* plans) {
  plans->resize(req.ops.size());
  const std::string now = FormatRfc3339(core.clock().Now());
  return ParallelFirstError<ApiError>(req.ops.size(), kParallelPlanOps,
                                      [&](size_t i) { return PlanOp(core, req.ops[i], now, &(*plans)[i]); });
}

// The namespaces the batch's creates write into: each must exist and not be
// terminating (read once each), unless the batch creates it itself; the
// transaction then requires each one unchanged since (one the batch updates
// carries that precondition already). The error is the first create's that
// needs a namespace it cannot have.
std::optional<ApiError> NamespacePreconditions(Core& core, const BatchRequest& req, std::vector<Precondition>* out) {
  std::set<std::string> open;
  for (size_t i = 0; i < req.ops.size(); ++i) {
    const BatchOp& op = req.ops[i];
    // A replace creates the object again: its namespace must take new content.
    if (op.type != BatchOp::Type::kCreate && op.type != BatchOp::Type::kReplace) continue;
    std::string ns_key = NamespaceKeyFor(op.t);
    if (ns_key.empty() || open.count(ns_key) != 0) continue;
    auto in_batch = req.by_key.find(ns_key);
    if (in_batch != req.by_key.end()) {
      const BatchOp::Type type = req.ops[in_batch->second].type;
      if (type == BatchOp::Type::kCreate) continue;
      if (type == BatchOp::Type::kDelete) {
        return At(i, BadRequest("cannot create content in namespace \"" + op.t.ns + "\": " + Where(in_batch->second) +
                                " deletes it"));
      }
    }
    auto checked = CheckNamespaceOpen(core, op.t, ns_key);
    if (auto* e = std::get_if<ApiError>(&checked)) return At(i, std::move(*e));
    if (in_batch == req.by_key.end()) out->push_back(std::get<Precondition>(std::move(checked)));
    open.insert(std::move(ns_key));
  }
  return std::nullopt;
}

// The item of a short answer: what the server set in `obj` (the object as
// stored, or deleted), which the client cannot know.
Json ShortItem(const BatchOp& op, const Json& obj) {
  const KindInfo& kind = *op.t.kind;
  const Json& meta = Object::Field(obj, "metadata");
  Json set = Json::object();
  for (const char* f : kBatchServerSetMeta) {
    const Json& v = Object::Field(meta, f);
    if (!v.is_null()) set[f] = v;
  }
  Json item = {{"apiVersion", kind.gvk.ApiVersion()}, {"kind", kind.gvk.kind}, {"metadata", std::move(set)}};
  // An update keeps the stored status (unless it wrote its own): null when
  // there is none.
  if (op.type == BatchOp::Type::kUpdate && kind.has_status && !op.with_status) {
    item["status"] = Object::Field(obj, "status");
  }
  // A replace of such a kind stored none, whatever the op's object had.
  if (op.type == BatchOp::Type::kReplace && kind.has_status) item["status"] = nullptr;
  return item;
}

// The answer; the request's objects are moved into it.
void ReplyItems(BatchRequest& req, Plan& plan, int64_t revision) {
  const std::string rv = std::to_string(revision);
  Json items = Json::array();
  items.get_ref<Json::array_t&>().reserve(plan.changes.size());
  for (size_t i = 0; i < plan.changes.size(); ++i) {
    Change& c = plan.changes[i];
    const BatchOp::Type type = req.ops[i].type;
    Json& obj = type == BatchOp::Type::kCreate || type == BatchOp::Type::kReplace ? req.ops[i].object : c.object;
    // A noop keeps the object's own resourceVersion; puts and deletes
    // happened at the transaction's.
    if (c.kind != Change::Kind::kNoop) Meta(obj)["resourceVersion"] = rv;
    items.push_back(req.short_answer ? ShortItem(req.ops[i], obj) : std::move(obj));
  }
  Json answer = {{"apiVersion", "bosun.dev/v1"}, {"kind", "BatchResult"}, {"resourceVersion", rv}};
  answer["items"] = std::move(items);
  req.Answer(std::move(answer));
  if (log::GetLevel() <= log::Level::kDebug) {
    const auto now = std::chrono::steady_clock::now();
    const auto committed = req.committed == BatchRequest::Time{} ? req.planned : req.committed;
    log::Debug("api", "batch answered",
               {{"operations", std::to_string(req.ops.size())},
                {"parseMs", std::to_string(MsBetween(req.received, req.parsed))},
                {"planMs", std::to_string(MsBetween(req.parsed, req.planned))},
                {"commitMs", std::to_string(MsBetween(req.planned, committed))},
                {"answerMs", std::to_string(MsBetween(committed, now))}});
  }
}

void Attempt(Core& core, const std::shared_ptr<BatchRequest>& req, int attempts);

// The transaction's answer, on the thread pool (a large answer is not built
// on the service's callback thread, which is Raft's loop).
void Finish(Core& core, const std::shared_ptr<BatchRequest>& req, Plan& plan, Result<TxnResult>& r, int attempts) {
  if (!r) return req->Fail(WriteError(core, r.error(), Target{}));
  if (r->succeeded) return ReplyItems(*req, plan, r->revision);
  auto it = req->by_key.find(r->failed_key);
  if (it == req->by_key.end()) {
    // A namespace the batch creates content in changed since it was read
    // (deleted, marked Terminating, relabelled): plan the batch again, which
    // reads it again.
    for (size_t i = 0; i < req->ops.size(); ++i) {
      const BatchOp& op = req->ops[i];
      if ((op.type != BatchOp::Type::kCreate && op.type != BatchOp::Type::kReplace) ||
          NamespaceKeyFor(op.t) != r->failed_key)
        continue;
      if (attempts <= 1 || core.stopped()) return req->Fail(At(i, Modified(NamespaceKindOf(), op.t.ns)));
      return Attempt(core, req, attempts - 1);
    }
    return req->Fail(Internal("the batch failed on a key it did not write"));
  }
  const size_t i = it->second;
  const BatchOp& op = req->ops[i];
  const KindInfo& kind = *op.t.kind;
  if (op.type == BatchOp::Type::kCreate) return req->Fail(At(i, AlreadyExists(kind, op.t.name)));
  if (!r->current) return req->Fail(At(i, Missing(kind, op.t.name)));
  if (op.pinned || attempts <= 1 || core.stopped()) return req->Fail(At(i, Modified(kind, op.t.name)));
  // Someone wrote an object this batch read, and the client did not pin
  // it: compute the batch again from the new state.
  Attempt(core, req, attempts - 1);
}

void Attempt(Core& core, const std::shared_ptr<BatchRequest>& req, int attempts) {
  auto plan = std::make_shared<Plan>();
  plan->changes.reserve(req->ops.size());
  Txn txn;
  txn.preconditions.reserve(req->ops.size());
  txn.ops.reserve(req->ops.size());
  const int64_t read_revision = core.service().store().revision();
  std::vector<OpPlan> plans;
  if (auto e = PlanAll(core, *req, &plans)) return req->Fail(At(e->first, std::move(e->second)));
  if (auto e = NamespacePreconditions(core, *req, &txn.preconditions)) return req->Fail(std::move(*e));
  for (OpPlan& p : plans) {
    txn.preconditions.push_back(std::move(p.precondition));
    if (p.op) txn.ops.push_back(std::move(*p.op));
    plan->changes.push_back(std::move(p.change));
  }
  req->planned = std::chrono::steady_clock::now();
  // Only noop updates (or nothing at all): nothing to write, as a single
  // update that changes nothing.
  if (txn.ops.empty()) return ReplyItems(*req, *plan, read_revision);
  if (core.stopped()) return req->Fail(Unavailable("the server is shutting down", std::nullopt));
  core.service().Write(std::move(txn), [&core, req, plan, attempts](Result<TxnResult> r) {
    req->committed = std::chrono::steady_clock::now();
    auto result = std::make_shared<Result<TxnResult>>(std::move(r));
    core.Post([&core, req, plan, result, attempts] { Finish(core, req, *plan, *result, attempts); });
  });
}

}  // namespace

void Core::Batch(const CallPtr& call) {
  const auto received = std::chrono::steady_clock::now();
  auto req = ParseRequest(call, clock());
  if (!req) return;
  req->received = received;
  req->parsed = std::chrono::steady_clock::now();
  log::Debug("api", "batch", {{"operations", std::to_string(req->ops.size())}, {"user", call->user().name}});
  AfterBarrier(call, ReadConsistency::kLinearizable, [this, req] { Attempt(*this, req, kBatchAttempts); });
}

bool Core::LocalBatch(const std::string& authorization, Json* body_in, LocalAnswer done) {
  // As Route does for POST /bosun/v1/batch, less the forwarding: a member
  // that does not lead leaves the batch to the caller's HTTP path.
  if (stopped() || !service().IsLeader()) return false;
  Json body = std::move(*body_in);
  auto req = std::make_shared<BatchRequest>();
  Enter();
  req->local_core = shared_from_this();
  req->local = std::move(done);
  req->received = std::chrono::steady_clock::now();
  auto user = auth_->Authenticate(authorization);
  if (!user) {
    req->Fail(Unauthorized(user.error().message()));
    return true;
  }
  req->local_access = SecretAccessOf(*user);
  req->local_user = user->name;
  if (auto e = ParseBody(body, clock(), req.get())) {
    req->Fail(*e);
    return true;
  }
  req->parsed = std::chrono::steady_clock::now();
  log::Debug("api", "batch", {{"operations", std::to_string(req->ops.size())}, {"user", user->name}, {"in", "process"}});
  AfterBarrier(
      ReadConsistency::kLinearizable, [req](const ApiError& e) { req->Fail(e); },
      [this, req] { Attempt(*this, req, kBatchAttempts); });
  return true;
}

}  // namespace bosun::state::api_internal
