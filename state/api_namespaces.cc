// Namespaces as Kubernetes keeps them (api_internal.h "namespaces"): content
// only in one that exists and is not being deleted; a DELETE marks it
// Terminating until the namespace controller has deleted what is in it and
// emptied spec.finalizers through /finalize.
#include "core/kinds.h"
#include "state/api_internal.h"

namespace bosun::state::api_internal {
namespace {

const KindInfo& NamespaceKind() {
  static const KindInfo& kind = *KindRegistry::Builtin().FindKind("Namespace");
  return kind;
}

const Json& Finalizers(const Json& ns) {
  return Object::Field(Object::Field(ns, "spec"), "finalizers");
}

bool Terminating(const Json& ns) {
  return !MetaString(ns, "deletionTimestamp").empty();
}

}  // namespace

bool IsNamespace(const KindInfo& kind) {
  return &kind == &NamespaceKind();
}

std::string NamespaceKeyFor(const Target& t) {
  if (!t.kind->namespaced || t.ns.empty() || t.ns == "default") return "";
  return StoreKey(NamespaceKind(), "", t.ns);
}

ApiError NamespaceNotFound(const std::string& ns) {
  return NotFound(NamespaceKind(), ns);
}

std::optional<ApiError> CheckNamespaceOpen(Core& core, const Target& t, const std::string& ns_key) {
  auto kv = core.service().store().Get(ns_key);
  if (!kv && kv.error().code() == Code::kNotFound) return NamespaceNotFound(t.ns);
  if (!kv) return FromError(kv.error(), &NamespaceKind(), t.ns);
  auto ns = core.DecodeKv(NamespaceKind(), *kv);
  if (!ns) return Internal("cannot read the stored Namespace " + t.ns);
  if (Terminating(*ns)) {
    return Forbidden(*t.kind, t.name,
                     "unable to create new content in namespace " + t.ns + " because it is being terminated");
  }
  return std::nullopt;
}

Mutation TerminateNamespace(const Target& t, const Stored& cur, bool pinned, const std::string& now) {
  if (t.name == "default" || t.name == kBosunSystemNamespace) {
    return Forbidden(NamespaceKind(), t.name, "this namespace may not be deleted");
  }
  if (Terminating(cur.object)) return Change{Change::Kind::kNoop, cur.object, pinned};
  Json out = cur.object;
  Meta(out).erase("resourceVersion");
  Meta(out)["deletionTimestamp"] = now;
  out["spec"]["finalizers"] = Json::array({"kubernetes"});
  if (!out["status"].is_object()) out["status"] = Json::object();
  out["status"]["phase"] = "Terminating";
  return Change{Change::Kind::kPut, std::move(out), pinned};
}

void NamespaceFinalizers(const Json& before, const Json& next, bool finalize, Json* out) {
  const Json& want = finalize ? Finalizers(next) : Finalizers(before);
  if (finalize) *out = before;
  if (want.is_null()) {
    if ((*out)["spec"].is_object()) (*out)["spec"].erase("finalizers");
    if ((*out)["spec"].empty()) out->erase("spec");
  } else {
    (*out)["spec"]["finalizers"] = want;
  }
}

bool NamespaceReleased(const Json& before, const Json& out) {
  const Json& f = Finalizers(out);
  return Terminating(before) && (f.is_null() || (f.is_array() && f.empty()));
}

}  // namespace bosun::state::api_internal
