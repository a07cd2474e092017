// Watch streams, read off a raw socket so each event is seen when its chunk
// arrives (docs/API.md "Watch").
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/state/api_test_support.h"

namespace bosun::state::apitest {
namespace {

constexpr const char* kCms = "/api/v1/namespaces/default/configmaps";
std::string Cm(const std::string& name) {
  return std::string(kCms) + "/" + name;
}

std::string Type(const std::optional<Json>& e) {
  return e ? e->value("type", "") : "<none>";
}
std::string Name(const std::optional<Json>& e) {
  return e ? (*e)["object"]["metadata"].value("name", "") : "<none>";
}

TEST(ApiWatch, StreamsEventsAsTheyHappen) {
  Member m;
  Client& c = m.client();
  m.CreateNamespaces({"other"});
  std::string rv = std::to_string(m.store().revision());
  auto w = m.Watch(std::string(kCms) + "?watch=true&resourceVersion=" + rv);
  ASSERT_EQ(w->status(), 200);
  EXPECT_THAT(w->headers(), ::testing::HasSubstr("chunked"));
  EXPECT_EQ(w->NextEvent(200ms), std::nullopt);  // nothing yet

  // Each event arrives before the next write happens: streamed, not batched
  // at the end.
  Resp created = c.Post(kCms, ConfigMap("a"));
  auto e1 = w->NextEvent();
  ASSERT_EQ(Type(e1), "ADDED");
  EXPECT_EQ((*e1)["object"], created.json);

  Resp patched = c.Patch(Cm("a"), {{"data", {{"key", "2"}}}});
  auto e2 = w->NextEvent();
  ASSERT_EQ(Type(e2), "MODIFIED");
  EXPECT_EQ((*e2)["object"], patched.json);

  ASSERT_EQ(c.Post("/api/v1/namespaces/other/configmaps", ConfigMap("elsewhere")).code, 201);
  Resp deleted = c.Delete(Cm("a"));
  auto e3 = w->NextEvent();
  ASSERT_EQ(Type(e3), "DELETED");  // the other namespace's object was not sent
  EXPECT_EQ((*e3)["object"]["data"]["key"], "2");
  EXPECT_EQ(Rv((*e3)["object"]), std::to_string(m.store().revision()));
  EXPECT_EQ(Rv((*e3)["object"]), Rv(deleted.json));
}

TEST(ApiWatch, FromAPastResourceVersionInOrderExactlyOnce) {
  Member m;
  Client& c = m.client();
  Resp a = c.Post(kCms, ConfigMap("a"));
  std::string from = Rv(a.json);
  ASSERT_EQ(c.Patch(Cm("a"), {{"data", {{"key", "2"}}}}).code, 200);
  ASSERT_EQ(c.Post(kCms, ConfigMap("b")).code, 201);
  ASSERT_EQ(c.Delete(Cm("a")).code, 200);

  auto w = m.Watch(std::string(kCms) + "?watch=true&resourceVersion=" + from);
  std::vector<std::string> seen;
  for (int i = 0; i < 3; ++i) {
    auto e = w->NextEvent();
    seen.push_back(Type(e) + " " + Name(e));
  }
  // Exclusive of `from`: the creation of a is not repeated.
  EXPECT_EQ(seen, (std::vector<std::string>{"MODIFIED a", "ADDED b", "DELETED a"}));
  ASSERT_EQ(c.Post(kCms, ConfigMap("c")).code, 201);
  EXPECT_EQ(Name(w->NextEvent()), "c");
  EXPECT_EQ(w->NextEvent(300ms), std::nullopt);
}

TEST(ApiWatch, ResourceVersionZeroReplaysCurrentObjectsFirst) {
  Member m;
  Client& c = m.client();
  ASSERT_EQ(c.Post(kCms, ConfigMap("a")).code, 201);
  ASSERT_EQ(c.Post(kCms, ConfigMap("b")).code, 201);
  ASSERT_EQ(c.Delete(Cm("a")).code, 200);
  for (std::string query : {"?watch=true", "?watch=1&resourceVersion=0"}) {
    auto w = m.Watch(std::string(kCms) + query);
    auto e = w->NextEvent();
    EXPECT_EQ(Type(e) + " " + Name(e), "ADDED b") << query;
    EXPECT_EQ(w->NextEvent(200ms), std::nullopt);
  }
  auto w = m.Watch("/api/v1/configmaps?watch=true");
  EXPECT_EQ(Name(w->NextEvent()), "b");
  ASSERT_EQ(c.Post(kCms, ConfigMap("d")).code, 201);
  auto live = w->NextEvent();
  EXPECT_EQ(Type(live) + " " + Name(live), "ADDED d");
}

TEST(ApiWatch, SelectorTransitionsAreAddedAndDeleted) {
  Member m;
  Client& c = m.client();
  ASSERT_EQ(c.Post(kCms, ConfigMap("a", {{"app", "db"}})).code, 201);
  auto w = m.Watch(std::string(kCms) + "?watch=true&labelSelector=app%3Dweb");
  EXPECT_EQ(w->NextEvent(200ms), std::nullopt);

  Resp now_web = c.Patch(Cm("a"), {{"metadata", {{"labels", {{"app", "web"}}}}}});
  auto e1 = w->NextEvent();
  EXPECT_EQ(Type(e1), "ADDED");
  EXPECT_EQ((*e1)["object"], now_web.json);

  ASSERT_EQ(c.Patch(Cm("a"), {{"data", {{"key", "2"}}}}).code, 200);
  EXPECT_EQ(Type(w->NextEvent()), "MODIFIED");

  Resp now_db = c.Patch(Cm("a"), {{"metadata", {{"labels", {{"app", "db"}}}}}});
  auto e3 = w->NextEvent();
  ASSERT_EQ(Type(e3), "DELETED");
  // The last selected state, at the revision it stopped matching.
  EXPECT_EQ((*e3)["object"]["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(Rv((*e3)["object"]), Rv(now_db.json));

  ASSERT_EQ(c.Delete(Cm("a")).code, 200);  // not selected: no event
  ASSERT_EQ(c.Post(kCms, ConfigMap("b", {{"app", "web"}})).code, 201);
  auto e4 = w->NextEvent();
  EXPECT_EQ(Type(e4) + " " + Name(e4), "ADDED b");

  auto bad = m.Watch(std::string(kCms) + "?watch=true&labelSelector=app%3D%3D%3D");
  EXPECT_EQ(bad->status(), 400);
}

TEST(ApiWatch, BookmarksCarryTheLastSentRevision) {
  Member m;  // bookmark interval 1 s
  Client& c = m.client();
  auto w = m.Watch(std::string(kCms) + "?watch=true&allowWatchBookmarks=true");
  Resp a = c.Post(kCms, ConfigMap("a"));
  ASSERT_EQ(Type(w->Next()), "ADDED");
  auto b = w->Next(2500ms);
  ASSERT_EQ(Type(b), "BOOKMARK");
  EXPECT_EQ((*b)["object"]["kind"], "ConfigMap");
  EXPECT_EQ((*b)["object"]["apiVersion"], "v1");
  EXPECT_EQ(Rv((*b)["object"]), Rv(a.json));
}

TEST(ApiWatch, CompactedRevisionGives410) {
  Member m;
  Client& c = m.client();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(c.Post(kCms, ConfigMap("cm-" + std::to_string(i))).code, 201);
  ASSERT_TRUE(m.store().Compact(m.store().revision()).ok());
  auto w = m.Watch(std::string(kCms) + "?watch=true&resourceVersion=1");
  ASSERT_EQ(w->status(), 200);
  auto e = w->Next();
  ASSERT_EQ(Type(e), "ERROR");
  EXPECT_EQ((*e)["object"]["kind"], "Status");
  EXPECT_EQ((*e)["object"]["code"], 410);
  EXPECT_EQ((*e)["object"]["reason"], "Expired");
  EXPECT_TRUE(w->WaitEnd());
}

TEST(ApiWatch, EndsAtTimeoutOnStopAndWhenTheClientLeaves) {
  LogCapture logs;
  Member m;
  auto timed = m.Watch(std::string(kCms) + "?watch=true&timeoutSeconds=1");
  EXPECT_TRUE(timed->WaitEnd(2500ms));

  auto leaving = m.Watch(std::string(kCms) + "?watch=true");
  ASSERT_EQ(leaving->status(), 200);
  leaving->Close();
  // The server notices at its next write (an event or a bookmark).
  ASSERT_EQ(m.client().Post(kCms, ConfigMap("a")).code, 201);
  bool noticed = false;
  for (int i = 0; i < 40 && !noticed; ++i) {
    std::this_thread::sleep_for(100ms);
    noticed = logs.Contains("client gone");
  }
  EXPECT_TRUE(noticed);

  auto open = m.Watch(std::string(kCms) + "?watch=true");
  ASSERT_EQ(open->status(), 200);
  auto start = std::chrono::steady_clock::now();
  m.server().Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(open->WaitEnd(1000ms));
  EXPECT_TRUE(logs.Contains("reason=\"server stopping\""));
}

TEST(ApiWatch, BadParameters) {
  Member m;
  EXPECT_EQ(m.Watch(std::string(kCms) + "?watch=true&resourceVersion=abc")->status(), 400);
  EXPECT_EQ(m.Watch(std::string(kCms) + "?watch=true&timeoutSeconds=-1")->status(), 400);
  EXPECT_EQ(RawWatch(m.url(), std::string(kCms) + "?watch=true", "").status(), 401);
}

}  // namespace
}  // namespace bosun::state::apitest
