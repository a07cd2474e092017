// fieldSelector on list and watch (docs/API.md "Verbs"): how a node daemon
// sees only the pods bound to it (spec.nodeName=NODE).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/selector.h"
#include "tests/state/api_test_support.h"

namespace bosun::state::apitest {
namespace {

constexpr const char* kPods = "/api/v1/namespaces/default/pods";

Json Pod(const std::string& name, const std::string& node) {
  Json j = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}}},
            {"spec", {{"containers", Json::array({{{"name", "app"}, {"image", "busybox"}}})}}}};
  if (!node.empty()) j["spec"]["nodeName"] = node;
  return j;
}

std::vector<std::string> Names(const Json& list) {
  std::vector<std::string> out;
  for (const Json& i : list["items"]) out.push_back(i["metadata"]["name"]);
  return out;
}

TEST(ApiFieldSelector, ListSelectsByFieldWithEqualsAndNotEquals) {
  Member m;
  Client& c = m.client();
  ASSERT_EQ(c.Post(kPods, Pod("a", "n1")).code, 201);
  ASSERT_EQ(c.Post(kPods, Pod("b", "n2")).code, 201);
  ASSERT_EQ(c.Post(kPods, Pod("c", "")).code, 201);
  EXPECT_THAT(Names(c.Get(std::string(kPods) + "?fieldSelector=spec.nodeName%3Dn1").json), ::testing::ElementsAre("a"));
  EXPECT_THAT(Names(c.Get(std::string(kPods) + "?fieldSelector=spec.nodeName%3D").json), ::testing::ElementsAre("c"));
  EXPECT_THAT(Names(c.Get(std::string(kPods) + "?fieldSelector=spec.nodeName!%3Dn1,metadata.name!%3Dc").json),
              ::testing::ElementsAre("b"));
  Resp bad = c.Get(std::string(kPods) + "?fieldSelector=spec.nodeName");
  EXPECT_EQ(bad.code, 400);
  EXPECT_THAT(bad.json.value("message", ""), ::testing::HasSubstr("fieldSelector: invalid field selector term"));
}

TEST(ApiFieldSelector, WatchSeesAPodWhenItIsBoundAndGoneWhenDeleted) {
  Member m;
  Client& c = m.client();
  ASSERT_EQ(c.Post(kPods, Pod("early", "n1")).code, 201);
  ASSERT_EQ(c.Post(kPods, Pod("other", "n2")).code, 201);
  auto w = m.Watch(std::string(kPods) + "?watch=true&resourceVersion=0&fieldSelector=spec.nodeName%3Dn1");
  auto first = w->NextEvent();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ((*first)["type"], "ADDED");
  EXPECT_EQ((*first)["object"]["metadata"]["name"], "early");

  ASSERT_EQ(c.Post(kPods, Pod("late", "")).code, 201);
  EXPECT_EQ(w->NextEvent(std::chrono::milliseconds(300)), std::nullopt);  // not bound yet
  Json bind = {{"spec", {{"nodeName", "n1"}}}};
  ASSERT_EQ(c.Patch(std::string(kPods) + "/late", bind).code, 200);
  auto bound = w->NextEvent();
  ASSERT_TRUE(bound.has_value());
  EXPECT_EQ((*bound)["type"], "ADDED");
  EXPECT_EQ((*bound)["object"]["metadata"]["name"], "late");

  ASSERT_EQ(c.Delete(std::string(kPods) + "/other").code, 200);  // another node's: no event
  ASSERT_EQ(c.Delete(std::string(kPods) + "/late").code, 200);
  auto gone = w->NextEvent();
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ((*gone)["type"], "DELETED");
  EXPECT_EQ((*gone)["object"]["metadata"]["name"], "late");
}

TEST(FieldSelector, ParsesAndMatchesDottedPaths) {
  auto s = FieldSelector::Parse("spec.nodeName=n1, status.phase!=Failed");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_TRUE(s->Matches(Json::parse(R"({"spec":{"nodeName":"n1"},"status":{"phase":"Running"}})")));
  EXPECT_FALSE(s->Matches(Json::parse(R"({"spec":{"nodeName":"n1"},"status":{"phase":"Failed"}})")));
  EXPECT_FALSE(s->Matches(Json::parse(R"({"spec":{}})")));
  auto n = FieldSelector::Parse("spec.replicas==3");
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(n->Matches(Json::parse(R"({"spec":{"replicas":3}})")));
  EXPECT_TRUE(FieldSelector::Parse("").value().Empty());
  EXPECT_FALSE(FieldSelector::Parse("spec..x=1").ok());
  EXPECT_FALSE(FieldSelector::Parse("=1").ok());
}

}  // namespace
}  // namespace bosun::state::apitest
