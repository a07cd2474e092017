// Namespaces as Kubernetes keeps them (api_internal.h "namespaces"): content
// only in one that exists and is not being deleted; a DELETE marks it
// Terminating until the namespace controller has deleted what is in it and
// emptied spec.finalizers through /finalize.
#include <algorithm>

#include "core/kinds.h"
#include "state/api_internal.h"

namespace bosun::state::api_internal {
namespace {

const Json& Finalizers(const Json& ns) {
  return Object::Field(Object::Field(ns, "spec"), "finalizers");
}

bool Terminating(const Json& ns) {
  return !MetaString(ns, "deletionTimestamp").empty();
}

}  // namespace

const KindInfo& NamespaceKindOf() {
  static const KindInfo& kind = *KindRegistry::Builtin().FindKind("Namespace");
  return kind;
}

bool IsNamespace(const KindInfo& kind) {
  return &kind == &NamespaceKindOf();
}

std::string NamespaceKeyFor(const Target& t) {
  if (!t.kind->namespaced || t.ns.empty() || t.ns == "default") return "";
  return StoreKey(NamespaceKindOf(), "", t.ns);
}

ApiError NamespaceNotFound(const std::string& ns) {
  return NotFound(NamespaceKindOf(), ns);
}

std::variant<Precondition, ApiError> CheckNamespaceOpen(Core& core, const Target& t, const std::string& ns_key) {
  auto kv = core.service().store().Get(ns_key);
  if (!kv && kv.error().code() == Code::kNotFound) return NamespaceNotFound(t.ns);
  if (!kv) return FromError(kv.error(), &NamespaceKindOf(), t.ns);
  auto ns = core.DecodeKv(NamespaceKindOf(), *kv);
  if (!ns) return Internal("cannot read the stored Namespace " + t.ns);
  if (Terminating(*ns)) {
    return Forbidden(*t.kind, t.name,
                     "unable to create new content in namespace " + t.ns + " because it is being terminated");
  }
  return Precondition{ns_key, Precondition::Kind::kModRevisionEquals, kv->mod_revision};
}

Mutation TerminateNamespace(const Target& t, const Stored& cur, bool pinned, const std::string& now) {
  if (!NamespaceMayBeDeleted(t.name)) {
    return Forbidden(NamespaceKindOf(), t.name, "this namespace may not be deleted");
  }
  if (Terminating(cur.object)) return Change{Change::Kind::kNoop, cur.object, pinned, {}};
  Json out = cur.object;
  Meta(out).erase("resourceVersion");
  Meta(out)["deletionTimestamp"] = now;
  if (!out["spec"].is_object()) out["spec"] = Json::object();
  // Kubernetes': the finalizers the Namespace has stay (another writer's
  // holds it until that writer releases it), and the namespace controller's
  // is one of them.
  Json finalizers = out["spec"]["finalizers"].is_array() ? out["spec"]["finalizers"] : Json::array();
  if (std::find(finalizers.begin(), finalizers.end(), Json("kubernetes")) == finalizers.end()) {
    finalizers.push_back("kubernetes");
  }
  out["spec"]["finalizers"] = std::move(finalizers);
  if (!out["status"].is_object()) out["status"] = Json::object();
  out["status"]["phase"] = "Terminating";
  return Change{Change::Kind::kPut, std::move(out), pinned, {}};
}

std::optional<ApiError> NamespaceFinalizers(const Json& before, const Json& next, bool finalize, Json* out) {
  const Json& want = finalize ? Finalizers(next) : Finalizers(before);
  if (finalize) *out = before;
  if (!out->is_object()) return std::nullopt;
  auto spec = out->find("spec");
  if (spec != out->end() && !spec->is_object() && !spec->is_null()) {
    return Invalid(NamespaceKindOf(), MetaString(*out, "name"),
                   {{Severity::kError, FieldPath("spec"), "must be an object"}});
  }
  if (want.is_null()) {
    if (spec == out->end()) return std::nullopt;
    if (spec->is_object()) spec->erase("finalizers");
    if (spec->is_null() || spec->empty()) out->erase(spec);
  } else {
    (*out)["spec"]["finalizers"] = want;
  }
  return std::nullopt;
}

bool NamespaceReleased(const Json& before, const Json& out) {
  const Json& f = Finalizers(out);
  return Terminating(before) && (f.is_null() || (f.is_array() && f.empty()));
}

}  // namespace bosun::state::api_internal
