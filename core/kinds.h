// core/kinds.h — the kinds bosun knows: group/version/kind ↔ resource.
//
// The registry maps each kind to its API resource (the plural in URL paths and
// store keys), whether it is namespaced, and the short names the CLI accepts
// (`po`, `deploy`, `svc`, …), as the Kubernetes discovery API does. It is fixed
// at compile time and immutable, so it is safe to use from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/object.h"

namespace bosun {

// bosun-system, the namespace of the cluster's own objects (the sealing and
// signing keys, reconciler/system_namespace.h): it may not be deleted.
inline constexpr const char* kBosunSystemNamespace = "bosun-system";
// Whether the Namespace `name` may be deleted: not "default", nor
// bosun-system, nor kube-node-lease (node daemons make it only when they
// start, and renew their Leases in it). The API answers 403; a sync keeps
// them.
inline bool NamespaceMayBeDeleted(std::string_view name) {
  return name != "default" && name != kBosunSystemNamespace && name != "kube-node-lease";
}

struct KindInfo {
  GroupVersionKind gvk;
  std::string resource;  // plural, lower case: "deployments"
  std::string singular;  // "deployment"
  bool namespaced = true;
  std::vector<std::string> short_names;  // "deploy"
  bool has_status = false;               // serves a /status subresource
  // Whether a manifest (a repository's, `bosun apply`'s) may hold objects of
  // this kind. Not so for what bosun writes itself: Nodes and their Leases
  // (the node daemons), Events, Revision records and the GitRepository. The
  // sync never applies, prunes or checks them for drift.
  bool from_manifests = true;

  // "/apis/apps/v1" or "/api/v1".
  std::string ApiPrefix() const;
  // The URL path of a collection or one object, as Kubernetes lays them out.
  std::string Path(const std::string& ns = "", const std::string& name = "") const;
  // "apps" → "deployments.apps"; core group → "pods".
  std::string QualifiedResource() const;
  // The namespace an object of this kind with metadata.namespace `ns` is in:
  // "default" when a namespaced object names none, "" for cluster-scoped kinds.
  std::string NamespaceOf(std::string_view ns) const;
};

class KindRegistry {
 public:
  // The registry of built-in kinds.
  static const KindRegistry& Builtin();

  // By apiVersion + kind. nullptr when unknown.
  const KindInfo* Find(const GroupVersionKind& gvk) const;
  // By kind alone (the CLI's `bosun get Deployment`), case-insensitive.
  const KindInfo* FindKind(std::string_view kind) const;
  // By resource plural, singular, short name or kind, case-insensitive, with an
  // optional group suffix ("deployments.apps"). What `bosun get X` accepts.
  const KindInfo* FindResource(std::string_view name) const;
  // By group + version + resource, as parsed from an API path.
  const KindInfo* FindByPath(std::string_view group, std::string_view version, std::string_view resource) const;

  const std::vector<KindInfo>& all() const { return kinds_; }

 private:
  std::vector<KindInfo> kinds_;
};

// Apply order for a desired set (DESIGN.md §4): Namespaces first, then config and
// secrets, then workloads, then Services and the rest. Lower applies first.
int ApplyOrder(const GroupVersionKind& gvk);

// The key of an object in the state store:
// /registry/<group>/<resource>/<namespace>/<name> (group "core" for "").
std::string StoreKey(const KindInfo& kind, const std::string& ns, const std::string& name);

}  // namespace bosun
