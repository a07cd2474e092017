// Client::Batch: POST /bosun/v1/batch (docs/API.md "Batch").
//
// The request body is written straight into one string, each object
// serialized where it lies (a GitOps sync sends 10,000 objects, 13 MB: no
// copy of them is made to build a JSON array first). With BatchAnswer::kShort
// the server answers only the fields it set (?answer=short), and each item is
// rebuilt here from the op's own object (client.h says which fields).
//
// With ClientOptions::local_batch (a server's own controllers) the batch is
// handed to the API server in this process as a Json value, and its full
// answer comes back the same way: nothing is encoded or parsed.
#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

#include "core/parallel.h"
#include "state/batch_answer.h"
#include "state/client.h"
#include "state/client_internal.h"

namespace bosun::state {
namespace {

// From this many operations, a batch for this process is made on every core.
constexpr size_t kParallelOps = 512;

using client_internal::NeedName;
using client_internal::Place;
using client_internal::Placed;

const char* OpName(BatchOp::Type t) {
  switch (t) {
    case BatchOp::Type::kCreate:
      return "create";
    case BatchOp::Type::kUpdate:
      return "update";
    case BatchOp::Type::kDelete:
      return "delete";
    case BatchOp::Type::kReplace:
      return "replace";
  }
  return "?";
}

// Compact JSON appended to *out, as Json::dump writes it (invalid UTF-8
// replaced), without the temporary string dump returns.
void AppendJson(const Json& j, std::string* out) {
  nlohmann::detail::serializer<Json> s(nlohmann::detail::output_adapter<char, std::string>(*out), ' ',
                                       Json::error_handler_t::replace);
  s.dump(j, /*pretty_print=*/false, /*ensure_ascii=*/false, /*indent_step=*/0);
}

// Checks operation i; sets *kind, and *placed for a create or update. Errors
// name the operation, as the server's do.
Status CheckOp(const BatchOp& op, size_t i, Placed* placed, const KindInfo** kind) {
  const std::string where = "operations[" + std::to_string(i) + "]: ";
  if (op.type == BatchOp::Type::kDelete) {
    if (op.kind == nullptr) return Error(Code::kInvalid, where + "a delete needs a kind");
    if (Status st = NeedName(*op.kind, op.name, "delete"); !st.ok())
      return Error(Code::kInvalid, where + st.error().message());
    *kind = op.kind;
    return Ok();
  }
  auto p = Place(op.object);
  if (!p) return Error(p.error().code(), where + p.error().message());
  if (op.type != BatchOp::Type::kCreate && op.object.name().empty()) {
    return Error(Code::kInvalid, where + "cannot " + OpName(op.type) + " an object without metadata.name");
  }
  *kind = p->kind;
  *placed = std::move(*p);
  return Ok();
}

Json DeleteJson(const BatchOp& op) {
  Json j = {
      {"op", "delete"}, {"apiVersion", op.kind->gvk.ApiVersion()}, {"kind", op.kind->gvk.kind}, {"name", op.name}};
  if (op.kind->namespaced) j["namespace"] = op.ns.empty() ? "default" : op.ns;
  if (!op.precondition_rv.empty()) j["resourceVersion"] = op.precondition_rv;
  return j;
}

// Appends operation i as docs/API.md "Batch" words it; *kind is set to its
// kind.
Status AppendOp(const BatchOp& op, size_t i, std::string* out, const KindInfo** kind) {
  Placed p;
  if (Status st = CheckOp(op, i, &p, kind); !st.ok()) return st;
  if (op.type == BatchOp::Type::kDelete) {
    AppendJson(DeleteJson(op), out);
    return Ok();
  }
  *out += "{\"op\":\"";
  *out += OpName(op.type);
  *out += "\",";
  if (op.type == BatchOp::Type::kUpdate && op.with_status) *out += "\"withStatus\":true,";
  *out += "\"object\":";
  if (p.kind->namespaced && op.object.namespace_() != p.ns) {
    // The namespace is filled in ("default"): only then is the object copied.
    Json obj = op.object.json();
    obj["metadata"]["namespace"] = p.ns;
    AppendJson(obj, out);
  } else {
    AppendJson(op.object.json(), out);
  }
  *out += '}';
  return Ok();
}

// Operation i as the value AppendOp writes, for a batch in this process; the
// op's object is moved from `take` when given, else copied.
Result<Json> OpJson(const BatchOp& op, size_t i, Object* take, const KindInfo** kind) {
  Placed p;
  if (Status st = CheckOp(op, i, &p, kind); !st.ok()) return st.error();
  if (op.type == BatchOp::Type::kDelete) return DeleteJson(op);
  Json j = Json::object();
  j["op"] = OpName(op.type);
  if (op.type == BatchOp::Type::kUpdate && op.with_status) j["withStatus"] = true;
  Json& obj = j["object"];
  obj = take != nullptr ? std::move(take->json()) : op.object.json();
  if (p.kind->namespaced && Object::Field(Object::Field(obj, "metadata"), "namespace") != p.ns) {
    obj["metadata"]["namespace"] = p.ns;  // filled in ("default")
  }
  return j;
}

// The error of a batch's non-2xx answer.
Error AnswerError(int status, const std::string& body, const std::string& server) {
  Error e = client_internal::ErrorFromAnswer(status, body, server, "POST", {});
  // A 422's message names the operation and the object; the generic one
  // built from the causes alone could not ("the object is invalid").
  Json st = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  const Json& message = Object::Field(st, "message");
  if (status == 422 && message.is_string() && !message.get<std::string>().empty()) {
    e = Error(e.code(), message.get<std::string>());
  }
  return e;
}

// The object as stored, from what the op sent and what a short answer's item
// says the server set (a full item, from a server that ignored
// answer=short, works as well: it carries those fields too).
// `out` is the op's object (a copy, or moved out of the op).
Object Rebuilt(const BatchOp& op, const KindInfo& kind, Json item, Json out) {
  if (op.type == BatchOp::Type::kDelete) return Object(std::move(item));
  Json& meta = out["metadata"];
  if (!meta.is_object()) meta = Json::object();
  Json& set = item["metadata"];
  if (set.is_object()) {
    // What the server set is taken as it says, and what it left out is not
    // stored (an update drops a creationTimestamp or uid the stored object
    // never had), so the client's copy cannot keep what it sent there.
    for (const char* f : kBatchServerSetMeta) {
      auto it = set.find(f);
      if (it != set.end()) {
        meta[f] = std::move(*it);
      } else {
        meta.erase(f);
      }
    }
  }
  if (!kind.namespaced) meta.erase("namespace");
  // A status in the item is the stored one (kept by an update).
  if (auto it = item.find("status"); it != item.end()) {
    if (it->is_null()) {
      out.erase("status");
    } else {
      out["status"] = std::move(*it);
    }
  } else if (op.with_status && kind.has_status && out.contains("status") && out["status"].is_null()) {
    out.erase("status");  // written with the update: a null status is stored as none
  }
  return Object(std::move(out));
}

// A batch in this process (ClientOptions::local_batch): the answer's status
// and body, or nothing when it did not take the batch.
Result<std::optional<std::pair<int, Json>>> LocalBatch(const ClientOptions& options, Json* body) {
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    int status = 0;
    Json answer;
  };
  auto w = std::make_shared<Wait>();
  const bool taken = options.local_batch(body, [w](int status, Json answer) {
    std::lock_guard<std::mutex> lock(w->mu);
    w->done = true;
    w->status = status;
    w->answer = std::move(answer);
    w->cv.notify_all();
  });
  if (!taken) return std::optional<std::pair<int, Json>>();
  std::unique_lock<std::mutex> lock(w->mu);
  // As over HTTP, `timeout` is the wait for the answer once the request is sent.
  if (!w->cv.wait_for(lock, options.timeout, [&] { return w->done; })) {
    return Error(Code::kTimeout, "the batch sent in this process got no answer within " +
                                     std::to_string(options.timeout.count()) +
                                     " ms; it may or may not have been applied");
  }
  return std::optional<std::pair<int, Json>>(std::pair<int, Json>(w->status, std::move(w->answer)));
}

}  // namespace

Result<BatchResult> Client::Batch(const std::vector<BatchOp>& ops, BatchAnswer answer) {
  return BatchImpl(ops, answer, /*take=*/nullptr);
}

Result<Object> Client::Replace(Object object) {
  std::vector<BatchOp> ops(1);
  ops[0].type = BatchOp::Type::kReplace;
  ops[0].object = std::move(object);
  auto r = Batch(std::move(ops), BatchAnswer::kShort);
  if (!r) return r.error();
  if (r->items.empty()) return Error(Code::kInternal, "the replace was answered without the object");
  return std::move(r->items.front());
}

Result<BatchResult> Client::Batch(std::vector<BatchOp>&& ops, BatchAnswer answer) {
  return BatchImpl(ops, answer, /*take=*/&ops);
}

Result<BatchResult> Client::BatchImpl(const std::vector<BatchOp>& ops, BatchAnswer answer,
                                      std::vector<BatchOp>* take) {
  std::vector<const KindInfo*> kinds(ops.size(), nullptr);
  bool short_answer = answer == BatchAnswer::kShort;
  std::string server = impl_->options.servers.empty() ? "this process" : impl_->options.servers.front();
  int status = 0;
  std::string text;  // the request; then the answer's body, when it came over HTTP
  Json j;            // the answer
  bool local = false;
  if (impl_->options.local_batch) {
    // No encoding: the objects go as values (moved when the ops may be taken),
    // and the full answer comes back, the objects as stored.
    // Made on every core for a large batch (a first GitOps sync's 10,000
    // operations); the error is the first failing operation's, as in order.
    Json list = Json::array();
    Json::array_t& items = list.get_ref<Json::array_t&>();
    items.resize(ops.size());
    auto bad = ParallelFirstError<Error>(ops.size(), kParallelOps, [&](size_t i) -> std::optional<Error> {
      auto op = OpJson(ops[i], i, take != nullptr ? &(*take)[i].object : nullptr, &kinds[i]);
      if (!op) return op.error();
      items[i] = std::move(*op);
      return std::nullopt;
    });
    if (bad) return bad->second;
    Json body = Json::object();
    body["operations"] = std::move(list);
    auto r = LocalBatch(impl_->options, &body);
    if (!r) return r.error();
    short_answer = false;
    if (r->has_value()) {
      local = true;
      status = (*r)->first;
      j = std::move((*r)->second);
    } else {
      text = body.dump(-1, ' ', false, Json::error_handler_t::replace);  // not taken: over HTTP, as it is
    }
  } else {
    // A guess that spares most regrowth of a large body (objects of ~1 KiB).
    text.reserve(64 + ops.size() * 1024);
    text += "{\"operations\":[";
    for (size_t i = 0; i < ops.size(); ++i) {
      if (i > 0) text += ',';
      if (Status st = AppendOp(ops[i], i, &text, &kinds[i]); !st.ok()) return st.error();
    }
    text += "]}";
  }
  if (!local) {
    auto r = impl_->Send("POST", short_answer ? "/bosun/v1/batch?answer=short" : "/bosun/v1/batch", &text,
                         "application/json", /*is_write=*/true);
    if (!r) return r.error();
    status = r->status;
    server = r->server;
    text = std::move(r->body);
    if (status >= 200 && status <= 299) j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  }
  if (status < 200 || status > 299) return AnswerError(status, local ? j.dump() : text, server);
  if (!j.is_object()) j = Json::object();
  Json& items = j["items"];
  const Json& rv = j["resourceVersion"];
  if (!items.is_array() || !rv.is_string() || items.size() != ops.size()) {
    return Error(Code::kInternal, "the bosun API at " + server +
                                      " answered a batch with a body that is not a BatchResult of " +
                                      std::to_string(ops.size()) + " items");
  }
  BatchResult out;
  out.resource_version = rv.get<std::string>();
  out.items.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    Json& item = items[i];
    if (!item.is_object())
      return Error(Code::kInternal,
                   "the bosun API at " + server + " answered a batch with an item that is not an object");
    if (short_answer) {
      Json object = take != nullptr ? std::move((*take)[i].object.json()) : ops[i].object.json();
      out.items.push_back(Rebuilt(ops[i], *kinds[i], std::move(item), std::move(object)));
    } else {
      out.items.emplace_back(std::move(item));
    }
  }
  return out;
}

}  // namespace bosun::state
