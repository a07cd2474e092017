// Tests of the API client (state/client.h) against a FAKE API server
// (client_fake_api.h — a fake, see there); the same client against the real
// ApiServer is tested in client_real_test.cc.
#include "state/client.h"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/kinds.h"
#include "tests/state/client_fake_api.h"

namespace bosun::state {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
using fake::FakeApi;
using fake::FreePort;
using fake::Kind;
using fake::kToken;

std::unique_ptr<Client> NewClient(std::vector<std::string> servers, const std::string& token = kToken,
                                  std::chrono::milliseconds unavailable_retry = ClientOptions{}.unavailable_retry) {
  ClientOptions o;
  o.servers = std::move(servers);
  o.token = token;
  o.unavailable_retry = unavailable_retry;
  o.timeout = 5s;
  o.watch_backoff_min = 20ms;
  o.watch_backoff_max = 200ms;
  auto c = Client::Create(o);
  EXPECT_TRUE(c.ok()) << c.error().message();
  return std::move(c).value();
}

Object ConfigMap(const std::string& ns, const std::string& name, const Json& data = {{"k", "v"}}) {
  Object o(GroupVersionKind{"", "v1", "ConfigMap"}, ns, name);
  o.json()["data"] = data;
  return o;
}

// Collects watch events as "TYPE ns/name@rv" lines (bookmarks as
// "BOOKMARK @rv"), for readable comparisons.
class Recorder {
 public:
  std::function<void(const WatchEvent&)> Callback() {
    return [this](const WatchEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      if (e.type == WatchEvent::Type::kBookmark) {
        bookmarks_.push_back(e.object.resource_version());
      } else {
        events_.push_back(std::string(WatchEventTypeName(e.type)) + " " + e.object.namespace_() + "/" +
                          e.object.name() + "@" + e.object.resource_version());
        if (!e.object.api_version().empty() && !e.object.kind().empty()) ++typed_;
      }
      cv_.notify_all();
    };
  }
  // Waits until `n` events arrived; returns them.
  std::vector<std::string> WaitFor(size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
    return events_;
  }
  std::vector<std::string> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::vector<std::string> bookmarks() {
    std::lock_guard<std::mutex> lock(mu_);
    return bookmarks_;
  }
  size_t typed() {
    std::lock_guard<std::mutex> lock(mu_);
    return typed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
  std::vector<std::string> bookmarks_;
  size_t typed_ = 0;
};

template <typename F>
bool Eventually(F f, std::chrono::milliseconds timeout = 10s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

// ---- requests and errors ----

TEST(ClientFake, CreateGetUpdatePatchDelete) {
  FakeApi api;
  auto c = NewClient({api.url()});
  auto created = c->Create(ConfigMap("shop", "settings"));
  ASSERT_TRUE(created.ok()) << created.error().message();
  EXPECT_EQ(created->resource_version(), "1");
  EXPECT_EQ(created->uid(), "uid-1");

  auto got = c->Get(Kind("cm"), "shop", "settings");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->json()["data"]["k"], "v");

  Object next = *got;
  next.json()["data"]["k"] = "w";
  auto updated = c->Update(next);
  ASSERT_TRUE(updated.ok()) << updated.error().message();
  EXPECT_EQ(updated->resource_version(), "2");

  auto patched = c->Patch(Kind("cm"), "shop", "settings", {{"metadata", {{"labels", {{"tier", "web"}}}}}});
  ASSERT_TRUE(patched.ok()) << patched.error().message();
  EXPECT_EQ(patched->label("tier"), "web");
  EXPECT_EQ(patched->json()["data"]["k"], "w");

  auto deleted = c->Delete(Kind("cm"), "shop", "settings");
  ASSERT_TRUE(deleted.ok()) << deleted.error().message();
  EXPECT_EQ(deleted->name(), "settings");
  EXPECT_EQ(c->Get(Kind("cm"), "shop", "settings").error().code(), Code::kNotFound);
}

TEST(ClientFake, UpdateStatusWritesOnlyStatus) {
  FakeApi api;
  auto c = NewClient({api.url()});
  Object d(GroupVersionKind{"apps", "v1", "Deployment"}, "shop", "web");
  d.json()["spec"] = {{"replicas", 2}};
  ASSERT_TRUE(c->Create(d).ok());
  auto live = c->Get(Kind("deploy"), "shop", "web");
  ASSERT_TRUE(live.ok());
  live->json()["status"] = {{"readyReplicas", 2}};
  auto s = c->UpdateStatus(*live);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->status()["readyReplicas"], 2);
  EXPECT_EQ(c->UpdateStatus(ConfigMap("shop", "x")).error().code(), Code::kInvalid);  // no /status for ConfigMaps
}

TEST(ClientFake, ErrorsCarryTheServersCodeAndAMessageForAPerson) {
  FakeApi api;
  auto c = NewClient({api.url()});

  auto missing = c->Get(Kind("deploy"), "shop", "web");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_EQ(missing.error().message(), "deployments.apps \"web\" not found in namespace \"shop\"");
  auto missing_ns = c->Get(Kind("ns"), "", "prod");
  EXPECT_EQ(missing_ns.error().message(), "namespaces \"prod\" not found");

  ASSERT_TRUE(c->Create(ConfigMap("shop", "a")).ok());
  auto dup = c->Create(ConfigMap("shop", "a"));
  EXPECT_EQ(dup.error().code(), Code::kAlreadyExists);
  EXPECT_EQ(dup.error().message(), "configmaps \"a\" already exists in namespace \"shop\"");

  Object stale = ConfigMap("shop", "a");
  stale.set_resource_version("999");
  auto conflict = c->Update(stale);
  EXPECT_EQ(conflict.error().code(), Code::kConflict);
  EXPECT_THAT(conflict.error().message(), HasSubstr("the object has been modified"));
  EXPECT_EQ(c->Delete(Kind("cm"), "shop", "a", "999").error().code(), Code::kConflict);
  EXPECT_TRUE(c->Delete(Kind("cm"), "shop", "a", "1").ok());

  Object bad = ConfigMap("shop", "Bad");
  bad.set_annotation("fake/invalid", "yes");
  auto invalid = c->Create(bad);
  EXPECT_EQ(invalid.error().code(), Code::kInvalid);
  EXPECT_EQ(invalid.error().message(),
            "ConfigMap \"Bad\" is invalid: metadata.name: must be lower case; data[x y]: a valid config key must "
            "consist of alphanumerics");

  auto wrong_token = NewClient({api.url()}, "nope")->Get(Kind("cm"), "shop", "a");
  EXPECT_EQ(wrong_token.error().code(), Code::kUnauthorized);
  EXPECT_THAT(wrong_token.error().message(), HasSubstr("did not accept the token"));
  EXPECT_THAT(wrong_token.error().message(), ::testing::Not(HasSubstr("nope")));

  Object unknown(GroupVersionKind{"example.com", "v1", "Widget"}, "shop", "w");
  EXPECT_EQ(c->Create(unknown).error().code(), Code::kInvalid);
}

TEST(ClientFake, ListPagesAndFiltersByLabel) {
  FakeApi api;
  auto c = NewClient({api.url()});
  for (int i = 0; i < 5; ++i) {
    Object o = ConfigMap("shop", "cm" + std::to_string(i));
    o.set_label("tier", i % 2 ? "db" : "web");
    ASSERT_TRUE(c->Create(o).ok());
  }
  ASSERT_TRUE(c->Create(ConfigMap("other", "elsewhere")).ok());

  std::vector<std::string> names;
  std::string cont;
  int pages = 0;
  do {
    auto page = c->List(Kind("configmaps"), "shop", "", 2, cont);
    ASSERT_TRUE(page.ok()) << page.error().message();
    for (const Object& o : page->items) {
      names.push_back(o.name());
      EXPECT_EQ(o.kind(), "ConfigMap");  // filled in although the server left it out
      EXPECT_EQ(o.api_version(), "v1");
    }
    cont = page->continue_token;
    ++pages;
  } while (!cont.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(names, ElementsAre("cm0", "cm1", "cm2", "cm3", "cm4"));

  auto web = c->List(Kind("cm"), "shop", "tier in (web)");
  ASSERT_TRUE(web.ok());
  EXPECT_EQ(web->items.size(), 3u);
  auto all = c->List(Kind("cm"), "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->items.size(), 6u);
  EXPECT_EQ(all->resource_version, "6");
}

TEST(ClientFake, MembersAndRawGet) {
  FakeApi api;
  auto c = NewClient({api.url()});
  auto m = c->Members();
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ((*m)["items"][0]["role"], "leader");
  auto v = c->RawGet("/version");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ((*v)["gitVersion"], "fake");
  EXPECT_EQ(c->RawGet("/nowhere").error().code(), Code::kNotFound);
}

// ---- servers: unreachable, fail-over, leader hints ----

TEST(ClientFake, UnreachableServerIsUnavailableAndNamed) {
  std::string dead = "http://127.0.0.1:" + std::to_string(FreePort());
  auto c = NewClient({dead});
  auto r = c->Get(Kind("cm"), "shop", "a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_THAT(r.error().message(), HasSubstr("cannot reach the bosun API at " + dead + ": "));
  // Writes too (nothing was sent, so nothing can have happened).
  EXPECT_EQ(c->Create(ConfigMap("shop", "a")).error().code(), Code::kUnavailable);
}

TEST(ClientFake, MovesOnFromAServerThatRefusesConnections) {
  FakeApi api;
  std::string dead = "http://127.0.0.1:" + std::to_string(FreePort());
  auto c = NewClient({dead, api.url()});
  ASSERT_TRUE(c->Create(ConfigMap("shop", "a")).ok());
  EXPECT_TRUE(c->Get(Kind("cm"), "shop", "a").ok());
}

TEST(ClientFake, FollowsTheLeaderHintOf503) {
  FakeApi follower, leader;
  follower.SetUnavailable(true, leader.url());
  auto c = NewClient({follower.url()});
  auto r = c->Create(ConfigMap("shop", "a"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(leader.Has(Kind("cm"), "shop", "a"));
  EXPECT_FALSE(follower.Has(Kind("cm"), "shop", "a"));
  // The leader now answers first.
  int before = follower.requests();
  EXPECT_TRUE(c->Get(Kind("cm"), "shop", "a").ok());
  EXPECT_EQ(follower.requests(), before);
}

TEST(ClientFake, AllServersUnavailableIs503WithTheServersMessage) {
  FakeApi a;
  a.SetUnavailable(true);
  auto c = NewClient({a.url()}, kToken, 0ms);
  auto r = c->Get(Kind("cm"), "shop", "x");
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_EQ(r.error().message(), "the bosun API at " + a.url() + " is unavailable: no leader");
}

// An election (every server answers 503 for a second or two) is waited out
// rather than failing a CI job's `bosun sync` or a push hook; with no
// retry window the 503 is the answer at once.
TEST(ClientFake, AnElectionIsWaitedOutForAFewSeconds) {
  FakeApi a;
  auto c = NewClient({a.url()});
  ASSERT_TRUE(c->Create(ConfigMap("shop", "a")).ok());
  a.SetUnavailable(true);
  std::thread elected([&] {
    std::this_thread::sleep_for(700ms);
    a.SetUnavailable(false);
  });
  const auto start = std::chrono::steady_clock::now();
  auto got = c->Get(Kind("cm"), "shop", "a");
  const auto waited = std::chrono::steady_clock::now() - start;
  elected.join();
  EXPECT_TRUE(got.ok()) << got.error().message();
  EXPECT_GE(waited, 600ms);

  a.SetUnavailable(true);
  auto impatient = NewClient({a.url()}, kToken, 0ms);
  const auto at = std::chrono::steady_clock::now();
  EXPECT_EQ(impatient->Get(Kind("cm"), "shop", "a").error().code(), Code::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - at, 500ms);
}

// A write answered 503 without "no leader is known" (a forward cut off,
// leadership lost before the answer) may have been applied: it is not sent
// again, and its caller gets the 503.
TEST(ClientFake, AWriteThatMayHaveBeenAppliedIsNotSentAgain) {
  FakeApi a;
  auto c = NewClient({a.url()});
  ASSERT_TRUE(c->Create(ConfigMap("shop", "a")).ok());
  a.SetUnavailable(true);
  const int before = a.requests();
  auto deleted = c->Delete(Kind("cm"), "shop", "a");
  EXPECT_EQ(deleted.error().code(), Code::kUnavailable);
  EXPECT_EQ(a.requests(), before + 1);
}

TEST(ClientFake, RejectsMalformedServerUrls) {
  ClientOptions o;
  EXPECT_EQ(Client::Create(o).error().code(), Code::kInvalid);
  o.servers = {"127.0.0.1:6443"};
  EXPECT_EQ(Client::Create(o).error().code(), Code::kInvalid);
  o.servers = {"http://127.0.0.1:6443/"};
  EXPECT_TRUE(Client::Create(o).ok());
}

// ---- watch ----

TEST(ClientFakeWatch, ListsFirstThenStreamsChanges) {
  FakeApi api;
  api.Put(Kind("cm"), "shop", "a", {{"k", "1"}});
  api.Put(Kind("cm"), "shop", "b", {{"k", "1"}});
  api.Put(Kind("cm"), "other", "c", {{"k", "1"}});
  auto c = NewClient({api.url()});
  Recorder rec;
  auto w = c->Watch(Kind("cm"), "shop", "", "", rec.Callback());
  ASSERT_TRUE(w.ok()) << w.error().message();
  EXPECT_THAT(rec.WaitFor(2), ElementsAre("ADDED shop/a@1", "ADDED shop/b@2"));
  // The initial list ends with a bookmark at the list's revision.
  ASSERT_TRUE(Eventually([&] { return rec.bookmarks().size() == 1; }));
  EXPECT_EQ(rec.bookmarks()[0], "3");

  api.Put(Kind("cm"), "shop", "a", {{"k", "2"}});
  api.Put(Kind("cm"), "other", "c", {{"k", "2"}});  // another namespace: not for this watch
  api.Remove(Kind("cm"), "shop", "b");
  EXPECT_THAT(rec.WaitFor(4), ElementsAre("ADDED shop/a@1", "ADDED shop/b@2", "MODIFIED shop/a@4", "DELETED shop/b@6"));
  EXPECT_EQ((*w)->resource_version(), "6");
  EXPECT_EQ(rec.typed(), 4u);
  EXPECT_THAT(api.watch_rvs(), ElementsAre("3"));
}

TEST(ClientFakeWatch, FromAResourceVersionDeliversOnlyLaterChanges) {
  FakeApi api;
  api.Put(Kind("cm"), "shop", "a", {{"k", "1"}});
  api.Put(Kind("cm"), "shop", "b", {{"k", "1"}});
  auto c = NewClient({api.url()});
  Recorder rec;
  auto w = c->Watch(Kind("cm"), "shop", "", "1", rec.Callback());
  ASSERT_TRUE(w.ok()) << w.error().message();
  api.Put(Kind("cm"), "shop", "a", {{"k", "2"}});
  EXPECT_THAT(rec.WaitFor(2), ElementsAre("ADDED shop/b@2", "MODIFIED shop/a@3"));
}

TEST(ClientFakeWatch, ReconnectsFromTheLastDeliveredVersionWithoutSkippingOrRepeating) {
  FakeApi api;
  api.Put(Kind("cm"), "shop", "a", {{"k", "1"}});  // 1
  api.Put(Kind("cm"), "shop", "b", {{"k", "1"}});  // 2
  auto c = NewClient({api.url()});
  Recorder rec;
  auto w = c->Watch(Kind("cm"), "shop", "", "", rec.Callback());
  ASSERT_TRUE(w.ok()) << w.error().message();
  rec.WaitFor(2);
  api.Put(Kind("cm"), "shop", "a", {{"k", "2"}});  // 3
  rec.WaitFor(3);

  // The connection dies half-way through a line; meanwhile two more changes.
  api.DropWatches(/*abrupt=*/true);
  api.Put(Kind("cm"), "shop", "c", {{"k", "1"}});  // 4
  api.Remove(Kind("cm"), "shop", "b");             // 5
  rec.WaitFor(5);

  // The server ends the stream cleanly (as at its timeout); one more change.
  api.DropWatches(/*abrupt=*/false);
  api.Put(Kind("cm"), "shop", "c", {{"k", "2"}});  // 6
  EXPECT_THAT(rec.WaitFor(6), ElementsAre("ADDED shop/a@1", "ADDED shop/b@2", "MODIFIED shop/a@3", "ADDED shop/c@4",
                                          "DELETED shop/b@5", "MODIFIED shop/c@6"));
  EXPECT_THAT(api.watch_rvs(), ElementsAre("2", "3", "5"));
  EXPECT_EQ((*w)->reconnects(), 2);
  EXPECT_EQ((*w)->relists(), 0);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(rec.events().size(), 6u);  // nothing repeated later
}

TEST(ClientFakeWatch, BookmarksAdvanceWhereAReconnectResumes) {
  FakeApi api;
  api.Put(Kind("cm"), "shop", "a", {{"k", "1"}});  // 1
  auto c = NewClient({api.url()});
  Recorder rec;
  auto w = c->Watch(Kind("cm"), "shop", "", "", rec.Callback());
  ASSERT_TRUE(w.ok());
  rec.WaitFor(1);
  ASSERT_TRUE(Eventually([&] { return api.open_streams() == 1; }));
  for (int i = 0; i < 3; ++i) api.Put(Kind("secrets"), "shop", "s" + std::to_string(i), {});  // 2..4, not watched
  api.SendBookmarks();
  ASSERT_TRUE(Eventually([&] { return (*w)->resource_version() == "4"; }));
  api.DropWatches(/*abrupt=*/false);
  ASSERT_TRUE(Eventually([&] { return api.watch_rvs().size() == 2; }));
  EXPECT_THAT(api.watch_rvs(), ElementsAre("1", "4"));
  EXPECT_THAT(rec.bookmarks(), ElementsAre("1", "4"));
}

// 410 after a gap: the watch re-lists and delivers exactly what changed.
void ExpiredWatchDeliversTheDifference(bool as_http_status) {
  FakeApi api;
  api.SetExpiredAsHttp410(as_http_status);
  api.Put(Kind("cm"), "shop", "a", {{"k", "1"}});  // 1
  api.Put(Kind("cm"), "shop", "b", {{"k", "1"}});  // 2
  api.Put(Kind("cm"), "shop", "c", {{"k", "1"}});  // 3
  auto c = NewClient({api.url()});
  Recorder rec;
  auto w = c->Watch(Kind("cm"), "shop", "", "", rec.Callback());
  ASSERT_TRUE(w.ok());
  rec.WaitFor(3);
  ASSERT_TRUE(Eventually([&] { return api.open_streams() == 1; }));

  // The client misses these (its stream is held back), then history is gone.
  api.HoldOpenStreams();
  api.Put(Kind("cm"), "shop", "a", {{"k", "2"}});  // 4: changed
  api.Remove(Kind("cm"), "shop", "b");             // 5: vanished
  api.Put(Kind("cm"), "shop", "d", {{"k", "1"}});  // 6: new
  api.Put(Kind("cm"), "shop", "e", {{"k", "1"}});  // 7: new, then gone
  api.Remove(Kind("cm"), "shop", "e");             // 8
  api.Compact();
  api.DropWatches(/*abrupt=*/false);

  auto got = rec.WaitFor(6);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_THAT(std::vector<std::string>(got.begin(), got.begin() + 3),
              ElementsAre("ADDED shop/a@1", "ADDED shop/b@2", "ADDED shop/c@3"));
  // c did not change: not repeated. e came and went within the gap: never seen.
  EXPECT_THAT(std::vector<std::string>(got.begin() + 3, got.end()),
              ::testing::UnorderedElementsAre("MODIFIED shop/a@4", "DELETED shop/b@8", "ADDED shop/d@6"));
  ASSERT_TRUE(Eventually([&] { return (*w)->relists() == 1 && api.open_streams() == 1; }));
  EXPECT_EQ((*w)->resource_version(), "8");

  // Live again, from the re-list's revision.
  api.Put(Kind("cm"), "shop", "d", {{"k", "2"}});  // 9
  EXPECT_EQ(rec.WaitFor(7).back(), "MODIFIED shop/d@9");
  EXPECT_EQ(api.watch_rvs().back(), "8");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(rec.events().size(), 7u);
}

TEST(ClientFakeWatch, ExpiredAsAnErrorEventRelistsAndDiffs) {
  ExpiredWatchDeliversTheDifference(false);
}
TEST(ClientFakeWatch, ExpiredAsHttp410RelistsAndDiffs) {
  ExpiredWatchDeliversTheDifference(true);
}

TEST(ClientFakeWatch, FailsAtOnceWhenItCannotStart) {
  FakeApi api;
  Recorder rec;
  auto bad_token = NewClient({api.url()}, "nope")->Watch(Kind("cm"), "shop", "", "", rec.Callback());
  EXPECT_EQ(bad_token.error().code(), Code::kUnauthorized);
  auto from_rv = NewClient({api.url()}, "nope")->Watch(Kind("cm"), "shop", "", "5", rec.Callback());
  EXPECT_EQ(from_rv.error().code(), Code::kUnauthorized);
  std::string dead = "http://127.0.0.1:" + std::to_string(FreePort());
  auto unreachable = NewClient({dead})->Watch(Kind("cm"), "shop", "", "", rec.Callback());
  EXPECT_EQ(unreachable.error().code(), Code::kUnavailable);
}

TEST(ClientFakeWatch, StopEndsItPromptlyAndNoCallbackFollows) {
  FakeApi api;
  api.Put(Kind("cm"), "shop", "a", {{"k", "1"}});
  auto c = NewClient({api.url()});
  Recorder rec;
  auto w = c->Watch(Kind("cm"), "shop", "", "", rec.Callback());
  ASSERT_TRUE(w.ok());
  rec.WaitFor(1);
  ASSERT_TRUE(Eventually([&] { return api.open_streams() == 1; }));
  auto start = std::chrono::steady_clock::now();
  w->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  api.Put(Kind("cm"), "shop", "a", {{"k", "2"}});
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(rec.events().size(), 1u);
}

TEST(ClientFakeWatch, StopWhileReconnectingToADeadServer) {
  auto api = std::make_unique<FakeApi>();
  auto c = NewClient({api->url()});
  Recorder rec;
  auto w = c->Watch(Kind("cm"), "shop", "", "", rec.Callback());
  ASSERT_TRUE(w.ok());
  api.reset();  // the server goes away; the watch keeps retrying
  std::this_thread::sleep_for(300ms);
  auto start = std::chrono::steady_clock::now();
  w->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(ClientFakeWatch, CanBeStoppedFromItsOwnCallback) {
  FakeApi api;
  api.Put(Kind("cm"), "shop", "a", {{"k", "1"}});
  api.Put(Kind("cm"), "shop", "b", {{"k", "1"}});
  auto c = NewClient({api.url()});
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  WatchPtr watch;
  auto w = c->Watch(Kind("cm"), "shop", "", "", [&](const WatchEvent&) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return watch != nullptr; });
    ++calls;
    watch->Stop();
    cv.notify_all();
  });
  ASSERT_TRUE(w.ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    watch = std::move(*w);
  }
  cv.notify_all();
  std::this_thread::sleep_for(200ms);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace bosun::state
