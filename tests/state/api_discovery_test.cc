// The discovery API (/api, /apis, …; state/api_discovery.h) as client tooling
// reads it, from a real ApiServer: every kind the server serves is listed
// under its group and version, with its verbs, short names and subresources.
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/kinds.h"
#include "tests/state/api_test_support.h"

namespace bosun::state::apitest {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

const Json* FindResource(const Json& list, const std::string& name) {
  for (const Json& r : list["resources"]) {
    if (r.value("name", "") == name) return &r;
  }
  return nullptr;
}

TEST(ApiDiscovery, CoreVersionsAndResources) {
  Member m;
  Resp api = m.client().Get("/api");
  ASSERT_EQ(api.code, 200) << api.text;
  EXPECT_EQ(api.json["kind"], "APIVersions");
  EXPECT_EQ(api.json["versions"], Json::array({"v1"}));

  Resp v1 = m.client().Get("/api/v1");
  ASSERT_EQ(v1.code, 200) << v1.text;
  EXPECT_EQ(v1.json["kind"], "APIResourceList");
  EXPECT_EQ(v1.json["groupVersion"], "v1");
  const Json* pods = FindResource(v1.json, "pods");
  ASSERT_NE(pods, nullptr) << v1.text;
  EXPECT_EQ((*pods)["kind"], "Pod");
  EXPECT_EQ((*pods)["namespaced"], true);
  EXPECT_EQ((*pods)["singularName"], "pod");
  EXPECT_EQ((*pods)["shortNames"], Json::array({"po"}));
  EXPECT_THAT((*pods)["verbs"].get<std::vector<std::string>>(), Contains("watch"));
  // Subresources the server really serves.
  EXPECT_NE(FindResource(v1.json, "pods/status"), nullptr);
  EXPECT_NE(FindResource(v1.json, "pods/log"), nullptr);
  EXPECT_NE(FindResource(v1.json, "pods/exec"), nullptr);
  EXPECT_EQ(FindResource(v1.json, "configmaps/status"), nullptr);  // ConfigMaps have none
  const Json* nodes = FindResource(v1.json, "nodes");
  ASSERT_NE(nodes, nullptr);
  EXPECT_EQ((*nodes)["namespaced"], false);
}

TEST(ApiDiscovery, EveryBuiltinKindIsListedUnderItsGroup) {
  Member m;
  Resp groups = m.client().Get("/apis");
  ASSERT_EQ(groups.code, 200) << groups.text;
  EXPECT_EQ(groups.json["kind"], "APIGroupList");
  std::set<std::string> names;
  for (const Json& g : groups.json["groups"]) {
    names.insert(g["name"].get<std::string>());
    EXPECT_EQ(g["preferredVersion"]["groupVersion"], g["name"].get<std::string>() + "/v1");
  }
  for (const KindInfo& k : KindRegistry::Builtin().all()) {
    std::string path = k.ApiPrefix();
    if (!k.gvk.group.empty()) {
      EXPECT_TRUE(names.count(k.gvk.group)) << k.gvk.group;
    }
    Resp list = m.client().Get(path);
    ASSERT_EQ(list.code, 200) << path << ": " << list.text;
    const Json* r = FindResource(list.json, k.resource);
    ASSERT_NE(r, nullptr) << k.resource << " missing from " << path;
    EXPECT_EQ((*r)["kind"], k.gvk.kind);
    EXPECT_EQ((*r)["namespaced"], k.namespaced);
    EXPECT_EQ(FindResource(list.json, k.resource + "/status") != nullptr, k.has_status) << k.resource;
    // And the resource it advertises is really served there.
    Resp items = m.client().Get(k.Path());
    EXPECT_EQ(items.code, 200) << k.Path() << ": " << items.text;
  }
  Resp apps = m.client().Get("/apis/apps");
  ASSERT_EQ(apps.code, 200) << apps.text;
  EXPECT_EQ(apps.json["kind"], "APIGroup");
  EXPECT_EQ(apps.json["name"], "apps");
}

TEST(ApiDiscovery, UnknownGroupsAndVersionsAreNotFoundAndOnlyGetIsAllowed) {
  Member m;
  EXPECT_EQ(m.client().Get("/apis/widgets.example.com").code, 404);
  EXPECT_EQ(m.client().Get("/apis/apps/v2").code, 404);
  EXPECT_EQ(m.client().Get("/api/v2").code, 404);
  Resp post = m.client().Post("/api/v1", Json::object());
  EXPECT_EQ(post.code, 405) << post.text;
  // Discovery needs a token, as every other path but /healthz and /readyz.
  Resp anon = m.client().Do("GET", "/apis", std::nullopt, "application/json", std::string("not-a-token"));
  EXPECT_EQ(anon.code, 401);
  // Object paths are unchanged.
  Resp cms = m.client().Get("/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(cms.code, 200) << cms.text;
  EXPECT_THAT(cms.text, HasSubstr("ConfigMapList"));
}

}  // namespace
}  // namespace bosun::state::apitest
