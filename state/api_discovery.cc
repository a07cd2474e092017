// Discovery documents (state/api_discovery.h).
#include "state/api_discovery.h"

#include <map>

#include "core/kinds.h"

namespace bosun::state {
namespace {

// Every resource serves the same verbs (docs/API.md "Verbs").
Json ObjectVerbs() {
  return Json::array({"create", "delete", "get", "list", "patch", "update", "watch"});
}

std::string GroupVersion(const GroupVersionKind& gvk) {
  return gvk.group.empty() ? gvk.version : gvk.group + "/" + gvk.version;
}

Json Resource(const std::string& name, const std::string& singular, const KindInfo& k, const std::string& kind,
              Json verbs) {
  Json r = {{"name", name},
            {"singularName", singular},
            {"namespaced", k.namespaced},
            {"kind", kind},
            {"verbs", std::move(verbs)}};
  return r;
}

// The APIResourceList of one group version; nullopt when it has no kinds.
std::optional<Json> ResourceList(const std::string& group, const std::string& version) {
  Json resources = Json::array();
  for (const KindInfo& k : KindRegistry::Builtin().all()) {
    if (k.gvk.group != group || k.gvk.version != version) continue;
    Json r = Resource(k.resource, k.singular, k, k.gvk.kind, ObjectVerbs());
    if (!k.short_names.empty()) r["shortNames"] = k.short_names;
    resources.push_back(std::move(r));
    if (k.has_status) {
      resources.push_back(Resource(k.resource + "/status", "", k, k.gvk.kind, Json::array({"get", "patch", "update"})));
    }
    if (group.empty() && k.gvk.kind == "Pod") {
      // Forwarded to the pod's node (docs/API.md "Logs and exec").
      resources.push_back(Resource("pods/log", "", k, "Pod", Json::array({"get"})));
      resources.push_back(Resource("pods/exec", "", k, "PodExecOptions", Json::array({"create"})));
    }
  }
  if (resources.empty()) return std::nullopt;
  return Json{{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", group.empty() ? version : group + "/" + version},
          {"resources", std::move(resources)}};
}

// group → its versions, in registry order (the registry never changes, so
// this is built once).
const std::map<std::string, std::vector<std::string>>& Groups() {
  static const auto* groups = [] {
    auto* out = new std::map<std::string, std::vector<std::string>>();
    for (const KindInfo& k : KindRegistry::Builtin().all()) {
      auto& versions = (*out)[k.gvk.group];
      bool seen = false;
      for (const auto& v : versions) seen = seen || v == k.gvk.version;
      if (!seen) versions.push_back(k.gvk.version);
    }
    return out;
  }();
  return *groups;
}

Json Group(const std::string& name, const std::vector<std::string>& versions) {
  Json list = Json::array();
  for (const auto& v : versions) list.push_back({{"groupVersion", GroupVersion({name, v, ""})}, {"version", v}});
  return {{"name", name}, {"versions", list}, {"preferredVersion", list.front()}};
}

}  // namespace

std::optional<Json> DiscoveryDocument(const std::vector<std::string>& segs) {
  if (segs.empty() || (segs[0] != "api" && segs[0] != "apis")) return std::nullopt;
  // Every object path is longer than a discovery path: the API's requests
  // pass here first and leave at once.
  if (segs.size() > (segs[0] == "api" ? 2u : 3u)) return std::nullopt;
  const auto& groups = Groups();
  if (segs[0] == "api") {
    if (segs.size() == 1) {
      Json versions = Json::array();
      if (auto core = groups.find(""); core != groups.end()) {
        for (const auto& v : core->second) versions.push_back(v);
      }
      return Json{{"kind", "APIVersions"}, {"versions", versions}};
    }
    return ResourceList("", segs[1]);
  }
  if (segs.size() == 1) {
    Json list = Json::array();
    for (const auto& [name, versions] : groups) {
      if (!name.empty()) list.push_back(Group(name, versions));
    }
    return Json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", list}};
  }
  if (segs[1].empty()) return std::nullopt;
  auto it = groups.find(segs[1]);
  if (it == groups.end()) return std::nullopt;
  if (segs.size() == 2) {
    Json g = Group(it->first, it->second);
    g["kind"] = "APIGroup";
    g["apiVersion"] = "v1";
    return g;
  }
  return ResourceList(segs[1], segs[2]);
}

}  // namespace bosun::state
