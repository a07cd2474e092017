// The sync controller's loop: triggers (webhook, the GitRepository's
// sync-requested-at annotation, the interval) and a prompt Stop.
#include <gmock/gmock.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reconciler/history.h"
#include "tests/reconciler/sync_test_support.h"

namespace bosun::reconciler::synctest {
namespace {

class SyncLoopTest : public SyncFixture {
 protected:
  size_t RecordCount() { return Records().size(); }
  // The mirror follows `remote`, which accepts connections and never
  // answers; its fetches time out after `timeout`.
  void FollowAStalledRemote(const bosun::test::HeldPort& remote, std::chrono::seconds timeout) {
    gitsync::RemoteOptions ro;
    ro.url = "http://127.0.0.1:" + std::to_string(remote.port()) + "/repo.git";
    ro.timeout = timeout;
    auto m = gitsync::Mirror::Open(tmp_.Sub("stalled-mirror"), ro);
    ASSERT_TRUE(m.ok()) << m.error().message();
    mirror_ = std::move(*m);
  }
};

TEST_F(SyncLoopTest, StartSyncsAndATriggerSyncsAgain) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}});
  MakeController();
  ctl_->Start();
  ASSERT_TRUE(Eventually([&] { return RecordCount() == 1; }));
  EXPECT_EQ(Record("00000001").spec()["trigger"], "startup");
  repo_.Commit({{"cm.yaml", ConfigMapYaml("a", "shop", "1")}});
  ctl_->Trigger(SyncTrigger::kWebhook);
  ASSERT_TRUE(Eventually([&] { return RecordCount() == 2; }));
  EXPECT_EQ(Record("00000002").spec()["trigger"], "webhook");
  EXPECT_TRUE(Live("configmaps", "shop", "a"));
  ctl_->Stop();
}

TEST_F(SyncLoopTest, ASyncRequestAnnotationTriggersAManualSync) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}});
  MakeController();
  ctl_->Start();
  ASSERT_TRUE(Eventually([&] { return RecordCount() == 1; }));
  repo_.Commit({{"cm.yaml", ConfigMapYaml("a", "shop", "1")}});
  Json patch = {{"metadata", {{"annotations", {{"bosun.dev/sync-requested-at", "2026-11-21T10:00:00Z"}}}}}};
  ASSERT_TRUE(api_.client().Patch(Kind("gitrepositories"), "", "default", patch).ok());
  ASSERT_TRUE(Eventually([&] { return RecordCount() == 2; }));
  EXPECT_EQ(Record("00000002").spec()["trigger"], "manual");
  ASSERT_TRUE(
      Eventually([&] { return Repository().json().value("/status/lastHandledSyncRequest"_json_pointer, "") == "2026-11-21T10:00:00Z"; }));
  ctl_->Stop();
}

// A controller that takes over (a new leader) with a request waiting (a
// person's `bosun sync` that reached the old one): its first pass is that
// request, recorded as manual and answered; without one it is a leader
// change, not a start.
TEST_F(SyncLoopTest, TheFirstPassOfANewLeaderIsTheRequestWaitingOrALeaderChange) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}});
  MakeController();
  ctl_->Start();
  ASSERT_TRUE(Eventually([&] { return RecordCount() == 1; }));
  ctl_->Stop();
  repo_.Commit({{"cm.yaml", ConfigMapYaml("a", "shop", "1")}});
  Json patch = {{"metadata", {{"annotations", {{"bosun.dev/sync-requested-at", "2026-11-21T10:00:00Z"}}}}}};
  ASSERT_TRUE(api_.client().Patch(Kind("gitrepositories"), "", "default", patch).ok());
  MakeController([](SyncOptions& o) { o.first_trigger = SyncTrigger::kLeaderChange; });
  ctl_->Start();
  ASSERT_TRUE(Eventually([&] { return RecordCount() == 2; }));
  EXPECT_EQ(Record("00000002").spec()["trigger"], "manual");
  ASSERT_TRUE(Eventually([&] {
    return Repository().json().value("/status/lastHandledSyncRequest"_json_pointer, "") == "2026-11-21T10:00:00Z";
  }));
  ctl_->Stop();

  repo_.Commit({{"cm.yaml", ConfigMapYaml("a", "shop", "2")}});
  MakeController([](SyncOptions& o) { o.first_trigger = SyncTrigger::kLeaderChange; });
  ctl_->Start();
  ASSERT_TRUE(Eventually([&] { return RecordCount() == 3; }));
  EXPECT_EQ(Record("00000003").spec()["trigger"], "leader-change");
  ctl_->Stop();
}

// A request says what asked (bosun.dev/sync-trigger): a Git push hook's is
// recorded as "push"; a person's request after it, without the annotation
// (`bosun sync` removes it), as "manual" again.
TEST_F(SyncLoopTest, ARequestSaysWhatAskedForIt) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}});
  MakeController();
  ctl_->Start();
  ASSERT_TRUE(Eventually([&] { return RecordCount() == 1; }));
  repo_.Commit({{"cm.yaml", ConfigMapYaml("a", "shop", "1")}});
  Json push = {{"metadata",
                {{"annotations",
                  {{"bosun.dev/sync-requested-at", "2026-11-21T10:00:00Z"},
                   {"bosun.dev/sync-trigger", "push@2026-11-21T10:00:00Z"}}}}}};
  ASSERT_TRUE(api_.client().Patch(Kind("gitrepositories"), "", "default", push).ok());
  ASSERT_TRUE(Eventually([&] { return RecordCount() == 2; }));
  EXPECT_EQ(Record("00000002").spec()["trigger"], "push");
  repo_.Commit({{"cm.yaml", ConfigMapYaml("a", "shop", "2")}});
  // A writer of the request alone (an older CLI): the push annotation left
  // from before names another request, so this one is a person's.
  Json manual = {{"metadata", {{"annotations", {{"bosun.dev/sync-requested-at", "2026-11-21T10:01:00Z"}}}}}};
  ASSERT_TRUE(api_.client().Patch(Kind("gitrepositories"), "", "default", manual).ok());
  ASSERT_TRUE(Eventually([&] { return RecordCount() == 3; }));
  EXPECT_EQ(Record("00000003").spec()["trigger"], "manual");
  ctl_->Stop();
}

// `bosun sync` waits for lastHandledSyncRequest: a fetch that has never
// worked (here: the remote has no branch main) answers it too, with the
// error, instead of leaving the CLI to its time-out.
TEST_F(SyncLoopTest, ASyncRequestIsAnsweredWhenTheBranchWasNeverFetched) {
  MakeController();
  ctl_->Start();
  ASSERT_TRUE(Eventually([&] {  // the GitRepository, written after the first fetch failed
    auto r = api_.client().Get(Kind("gitrepositories"), "", "default");
    return r && !r->json().value("/status/lastFetchError"_json_pointer, "").empty();
  }));
  Json patch = {{"metadata", {{"annotations", {{"bosun.dev/sync-requested-at", "2026-11-21T10:00:00Z"}}}}}};
  ASSERT_TRUE(api_.client().Patch(Kind("gitrepositories"), "", "default", patch).ok());
  ASSERT_TRUE(Eventually([&] {
    return Repository().json().value("/status/lastHandledSyncRequest"_json_pointer, "") == "2026-11-21T10:00:00Z";
  })) << Repository().json().dump();
  EXPECT_THAT(Repository().json().value("/status/lastFetchError"_json_pointer, ""), ::testing::HasSubstr("main"));
  EXPECT_EQ(RecordCount(), 0u);
  ctl_->Stop();
}

// A remote that stays down fails at every interval: the log warns when it
// starts, then only every 10 minutes (the failures between are at debug
// level), and says once when fetching works again.
TEST_F(SyncLoopTest, AFetchThatKeepsFailingIsWarnedAboutOnceNotAtEveryInterval) {
  bosun::test::LogCapture logs;
  FakeClock clock;
  MakeController([&](SyncOptions& o) { o.clock = &clock; });
  // The repository has no branch main yet: every fetch fails.
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(ctl_->SyncOnce(SyncTrigger::kPoll).ok());
    clock.Advance(std::chrono::minutes(1));
  }
  EXPECT_EQ(logs.Count("msg=\"fetch failed\""), 5u) << ::testing::PrintToString(logs.lines());
  EXPECT_EQ(logs.Count("WARN  sync"), 1u) << ::testing::PrintToString(logs.lines());
  clock.Advance(std::chrono::minutes(10));
  EXPECT_FALSE(ctl_->SyncOnce(SyncTrigger::kPoll).ok());
  EXPECT_EQ(logs.Count("msg=\"fetch still failing\""), 1u) << ::testing::PrintToString(logs.lines());
  EXPECT_TRUE(logs.Contains("failures=6"));
  EXPECT_EQ(logs.Count("WARN  sync"), 2u);

  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}});
  EXPECT_EQ(Sync(), "00000001");
  EXPECT_EQ(logs.Count("msg=\"fetch works again\""), 1u) << ::testing::PrintToString(logs.lines());
  EXPECT_EQ(Sync(), "");
  EXPECT_EQ(logs.Count("msg=\"fetch works again\""), 1u);
}

// The loop, too: a pass that fails the same way at every interval (a branch
// never fetched) is warned about once, not at each pass.
TEST_F(SyncLoopTest, ALoopWhosePassesKeepFailingWarnsOnce) {
  bosun::test::LogCapture logs;
  MakeController([](SyncOptions& o) { o.interval = std::chrono::milliseconds(300); });
  ctl_->Start();
  ASSERT_TRUE(Eventually([&] { return logs.Count("msg=\"fetch failed\"") >= 4; }))
      << ::testing::PrintToString(logs.lines());
  ctl_->Stop();
  EXPECT_EQ(logs.Count("msg=\"sync pass failed; retrying\""), 1u) << ::testing::PrintToString(logs.lines());
}

TEST_F(SyncLoopTest, TheIntervalPolls) {
  repo_.Commit({{"ns.yaml", NamespaceYaml("shop")}});
  MakeController([](SyncOptions& o) { o.interval = std::chrono::milliseconds(200); });
  ctl_->Start();
  ASSERT_TRUE(Eventually([&] { return RecordCount() == 1; }));
  repo_.Commit({{"cm.yaml", ConfigMapYaml("a", "shop", "1")}});
  ASSERT_TRUE(Eventually([&] { return RecordCount() == 2; }));
  EXPECT_EQ(Record("00000002").spec()["trigger"], "poll");
  ctl_->Stop();
}

TEST_F(SyncLoopTest, StopCancelsAFetchInFlight) {
  // A remote that accepts connections and never answers, with the default
  // 60 s fetch time-out: stopping (leadership lost, shutdown) must not wait
  // for it, and neither must destroying the controller.
  bosun::test::HeldPort remote;
  ASSERT_NO_FATAL_FAILURE(FollowAStalledRemote(remote, std::chrono::seconds(60)));
  MakeController();
  ctl_->Start();
  // The first pass is fetching once its connection waits in the backlog.
  ASSERT_TRUE(Eventually([&] {
    pollfd p{remote.fd(), POLLIN, 0};
    return poll(&p, 1, 0) == 1;
  }));
  auto t0 = std::chrono::steady_clock::now();
  ctl_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  // The fetch was cancelled, not abandoned: the mirror is free at once.
  auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(mirror_->Head().error().code(), Code::kNotFound);
  ctl_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 3s);
}

// A remote that stalls: the repository's status says a fetch is under way
// (fetchingSince) once it has taken longer than fetch_slow_after, and the
// end of the fetch clears it.
TEST_F(SyncLoopTest, ASlowFetchIsSaidWhileItLasts) {
  bosun::test::HeldPort remote;
  ASSERT_NO_FATAL_FAILURE(FollowAStalledRemote(remote, std::chrono::seconds(2)));
  MakeController([](SyncOptions& o) { o.fetch_slow_after = std::chrono::milliseconds(300); });
  ctl_->Start();
  auto status = [&] {
    auto r = api_.client().Get(Kind("gitrepositories"), "", "default");
    return r.ok() ? r->status() : Json::object();
  };
  ASSERT_TRUE(Eventually([&] { return status().contains("fetchingSince"); }, 10s)) << status().dump();
  EXPECT_FALSE(status().contains("lastFetchTime")) << "no fetch has ended yet";
  // The time-out (2 s) ends it: the status says when and why, and no
  // longer that one is under way.
  ASSERT_TRUE(Eventually([&] { return status().contains("lastFetchTime"); }, 10s)) << status().dump();
  EXPECT_FALSE(status().contains("fetchingSince")) << status().dump();
  EXPECT_FALSE(status().value("lastFetchError", "").empty());
  ctl_->Stop();
}

}  // namespace
}  // namespace bosun::reconciler::synctest
