// Client::Batch: POST /bosun/v1/batch (docs/API.md "Batch").
//
// The request body is written straight into one string, each object
// serialized where it lies (a GitOps sync sends 10,000 objects, 13 MB: no
// copy of them is made to build a JSON array first). With BatchAnswer::kShort
// the server answers only the fields it set (?answer=short), and each item is
// rebuilt here from the op's own object (client.h says which fields).
#include <utility>

#include "state/batch_answer.h"
#include "state/client.h"
#include "state/client_internal.h"

namespace bosun::state {
namespace {

using client_internal::NeedName;
using client_internal::Place;

const char* OpName(BatchOp::Type t) {
  switch (t) {
    case BatchOp::Type::kCreate:
      return "create";
    case BatchOp::Type::kUpdate:
      return "update";
    case BatchOp::Type::kDelete:
      return "delete";
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

// Appends operation i as docs/API.md "Batch" words it; *kind is set to its
// kind. Errors name the operation, as the server's do.
Status AppendOp(const BatchOp& op, size_t i, std::string* out, const KindInfo** kind) {
  const std::string where = "operations[" + std::to_string(i) + "]: ";
  if (op.type == BatchOp::Type::kDelete) {
    if (op.kind == nullptr) return Error(Code::kInvalid, where + "a delete needs a kind");
    if (Status st = NeedName(*op.kind, op.name, "delete"); !st.ok())
      return Error(Code::kInvalid, where + st.error().message());
    *kind = op.kind;
    Json j = {
        {"op", "delete"}, {"apiVersion", op.kind->gvk.ApiVersion()}, {"kind", op.kind->gvk.kind}, {"name", op.name}};
    if (op.kind->namespaced) j["namespace"] = op.ns.empty() ? "default" : op.ns;
    if (!op.precondition_rv.empty()) j["resourceVersion"] = op.precondition_rv;
    AppendJson(j, out);
    return Ok();
  }
  auto p = Place(op.object);
  if (!p) return Error(p.error().code(), where + p.error().message());
  if (op.type == BatchOp::Type::kUpdate && op.object.name().empty()) {
    return Error(Code::kInvalid, where + "cannot update an object without metadata.name");
  }
  *kind = p->kind;
  *out += "{\"op\":\"";
  *out += OpName(op.type);
  *out += "\",";
  if (op.type == BatchOp::Type::kUpdate && op.with_status) *out += "\"withStatus\":true,";
  *out += "\"object\":";
  if (p->kind->namespaced && op.object.namespace_() != p->ns) {
    // The namespace is filled in ("default"): only then is the object copied.
    Json obj = op.object.json();
    obj["metadata"]["namespace"] = p->ns;
    AppendJson(obj, out);
  } else {
    AppendJson(op.object.json(), out);
  }
  *out += '}';
  return Ok();
}

// The object as stored, from what the op sent and what a short answer's item
// says the server set (a full item, from a server that ignored
// answer=short, works as well: it carries those fields too).
Object Rebuilt(const BatchOp& op, const KindInfo& kind, Json item) {
  if (op.type == BatchOp::Type::kDelete) return Object(std::move(item));
  Json out = op.object.json();
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

}  // namespace

Result<BatchResult> Client::Batch(const std::vector<BatchOp>& ops, BatchAnswer answer) {
  std::vector<const KindInfo*> kinds(ops.size(), nullptr);
  std::string text;
  // A guess that spares most regrowth of a large body (objects of ~1 KiB).
  text.reserve(64 + ops.size() * 1024);
  text += "{\"operations\":[";
  for (size_t i = 0; i < ops.size(); ++i) {
    if (i > 0) text += ',';
    if (Status st = AppendOp(ops[i], i, &text, &kinds[i]); !st.ok()) return st.error();
  }
  text += "]}";
  const bool short_answer = answer == BatchAnswer::kShort;
  auto r = impl_->Send("POST", short_answer ? "/bosun/v1/batch?answer=short" : "/bosun/v1/batch", &text,
                       "application/json", /*is_write=*/true);
  if (!r) return r.error();
  if (r->status < 200 || r->status > 299) {
    Error e = client_internal::ErrorFromAnswer(r->status, r->body, r->server, "POST", {});
    // A 422's message names the operation and the object; the generic one
    // built from the causes alone could not ("the object is invalid").
    Json st = Json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    const Json& message = Object::Field(st, "message");
    if (r->status == 422 && message.is_string() && !message.get<std::string>().empty()) {
      e = Error(e.code(), message.get<std::string>());
    }
    return e;
  }
  Json j = Json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) j = Json::object();
  Json& items = j["items"];
  const Json& rv = j["resourceVersion"];
  if (!items.is_array() || !rv.is_string() || items.size() != ops.size()) {
    return Error(Code::kInternal, "the bosun API at " + r->server +
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
                   "the bosun API at " + r->server + " answered a batch with an item that is not an object");
    if (short_answer) {
      out.items.push_back(Rebuilt(ops[i], *kinds[i], std::move(item)));
    } else {
      out.items.emplace_back(std::move(item));
    }
  }
  return out;
}

}  // namespace bosun::state
