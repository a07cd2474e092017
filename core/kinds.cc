#include "core/kinds.h"

#include <algorithm>
#include <cctype>

namespace bosun {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

KindInfo K(std::string group, std::string kind, std::string resource, bool namespaced,
           std::vector<std::string> shorts, bool has_status) {
  KindInfo k;
  k.gvk = GroupVersionKind{std::move(group), "v1", kind};
  std::string singular;
  for (char c : kind) singular.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  k.singular = singular;
  k.resource = std::move(resource);
  k.namespaced = namespaced;
  k.short_names = std::move(shorts);
  k.has_status = has_status;
  k.from_manifests =
      kind != "Node" && kind != "Event" && kind != "Lease" && kind != "Revision" && kind != "GitRepository";
  return k;
}

}  // namespace

std::string KindInfo::ApiPrefix() const {
  return gvk.group.empty() ? "/api/" + gvk.version : "/apis/" + gvk.group + "/" + gvk.version;
}

std::string KindInfo::Path(const std::string& ns, const std::string& name) const {
  std::string p = ApiPrefix();
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + resource;
  if (!name.empty()) p += "/" + name;
  return p;
}

std::string KindInfo::NamespaceOf(std::string_view ns) const {
  if (!namespaced) return "";
  return ns.empty() ? "default" : std::string(ns);
}

std::string KindInfo::QualifiedResource() const {
  return gvk.group.empty() ? resource : resource + "." + gvk.group;
}

const KindRegistry& KindRegistry::Builtin() {
  static const KindRegistry* r = [] {
    auto* reg = new KindRegistry();
    reg->kinds_ = {
        K("", "Namespace", "namespaces", false, {"ns"}, true),
        K("", "Pod", "pods", true, {"po"}, true),
        K("", "ConfigMap", "configmaps", true, {"cm"}, false),
        K("", "Secret", "secrets", true, {}, false),
        K("", "Service", "services", true, {"svc"}, true),
        K("", "Node", "nodes", false, {"no"}, true),
        K("", "Event", "events", true, {"ev"}, false),
        K("", "ServiceAccount", "serviceaccounts", true, {"sa"}, false),
        K("apps", "Deployment", "deployments", true, {"deploy"}, true),
        K("apps", "ReplicaSet", "replicasets", true, {"rs"}, true),
        K("batch", "Job", "jobs", true, {}, true),
        K("coordination.k8s.io", "Lease", "leases", true, {}, false),
        K("bosun.dev", "SealedSecret", "sealedsecrets", true, {"sealed"}, true),
        K("bosun.dev", "Policy", "policies", false, {"pol"}, false),
        K("bosun.dev", "SyncConfig", "syncconfigs", false, {"sync"}, true),
        K("bosun.dev", "Revision", "revisions", false, {"rev"}, true),
        K("bosun.dev", "GitRepository", "gitrepositories", false, {"repo", "gitrepo"}, true),
    };
    return reg;
  }();
  return *r;
}

const KindInfo* KindRegistry::Find(const GroupVersionKind& gvk) const {
  for (const auto& k : kinds_)
    if (k.gvk == gvk) return &k;
  return nullptr;
}

const KindInfo* KindRegistry::FindKind(std::string_view kind) const {
  for (const auto& k : kinds_)
    if (IEquals(k.gvk.kind, kind)) return &k;
  return nullptr;
}

const KindInfo* KindRegistry::FindResource(std::string_view name) const {
  std::string_view base = name;
  std::string_view group;
  auto dot = name.find('.');
  if (dot != std::string_view::npos) {
    base = name.substr(0, dot);
    group = name.substr(dot + 1);
  }
  for (const auto& k : kinds_) {
    if (!group.empty() && !IEquals(k.gvk.group, group)) continue;
    if (IEquals(k.resource, base) || IEquals(k.singular, base) || IEquals(k.gvk.kind, base)) return &k;
    for (const auto& s : k.short_names)
      if (IEquals(s, base)) return &k;
  }
  return nullptr;
}

const KindInfo* KindRegistry::FindByPath(std::string_view group, std::string_view version,
                                         std::string_view resource) const {
  for (const auto& k : kinds_)
    if (k.gvk.group == group && k.gvk.version == version && k.resource == resource) return &k;
  return nullptr;
}

int ApplyOrder(const GroupVersionKind& gvk) {
  const std::string& k = gvk.kind;
  if (k == "Namespace") return 0;
  if (k == "SyncConfig" || k == "Policy") return 1;
  if (k == "ServiceAccount") return 2;
  if (k == "ConfigMap" || k == "Secret" || k == "SealedSecret") return 3;
  if (k == "Deployment" || k == "ReplicaSet" || k == "Job" || k == "Pod") return 4;
  if (k == "Service") return 5;
  return 6;
}

std::string StoreKey(const KindInfo& kind, const std::string& ns, const std::string& name) {
  std::string g = kind.gvk.group.empty() ? "core" : kind.gvk.group;
  std::string key = "/registry/" + g + "/" + kind.resource + "/";
  if (kind.namespaced) key += ns + "/";
  key += name;
  return key;
}

}  // namespace bosun
