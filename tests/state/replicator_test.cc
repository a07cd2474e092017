// The Replicator on real libraft members: libuv loops, TCP on 127.0.0.1 and
// Raft folders on disk, several members in this one test process. Timeouts
// are short (election 500ms, heartbeat 50ms) so elections take about a
// second; every wait has a deadline so a broken build fails instead of hanging.
#include "state/replicator.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/state/replicator_test_util.h"

namespace bosun::state {
namespace {

using namespace std::chrono_literals;
using namespace replicator_test;

TEST(ReplicatorTest, SingleMemberBootstrapsLeadsAppliesInOrderAndRestarts) {
  Cluster c(1);
  c.StartAll();
  ASSERT_EQ(c.WaitForLeader(), 0);
  EXPECT_EQ(c.rep(0).Leader()->address, c[0].address);
  auto members = c.rep(0).Members();
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].role, "leader");
  EXPECT_TRUE(members[0].is_leader);
  EXPECT_TRUE(members[0].member.voter);

  // Proposals in flight together are applied in the order proposed, and
  // each proposer gets the state machine's answer for its own entry.
  std::vector<std::shared_ptr<Answer<Result<std::string>>>> answers;
  for (int k = 0; k < 20; k++) {
    auto a = std::make_shared<Answer<Result<std::string>>>();
    answers.push_back(a);
    c.rep(0).Propose("w-" + std::to_string(k), [a](Result<std::string> r) { a->Set(std::move(r)); });
  }
  std::vector<MemoryFsm::Entry> entries;
  for (auto& a : answers) {
    auto got = a->Wait(5s);
    ASSERT_TRUE(got.has_value());
    ASSERT_TRUE(got->ok()) << got->error().message();
    ASSERT_EQ(got->value().rfind("ok:", 0), 0u) << got->value();
  }
  entries = c.fsm(0).Entries();
  ASSERT_EQ(c.fsm(0).Commands(), Names("w", 0, 20));
  // Index 1 is the bootstrap configuration: commands come after it.
  EXPECT_GE(entries.front().index, 2u);
  for (size_t k = 0; k < entries.size(); k++) {
    EXPECT_EQ(answers[k]->Wait(0ms)->value(), "ok:" + std::to_string(entries[k].index));
    if (k > 0) {
      EXPECT_GT(entries[k].index, entries[k - 1].index);
    }
  }
  EXPECT_GE(c.rep(0).LastApplied(), entries.back().index);
  // An empty command is a command too.
  auto empty = ProposeSync(c.rep(0), "");
  ASSERT_TRUE(empty.ok()) << empty.error().message();

  c.rep(0).Stop();
  c.rep(0).Stop();  // idempotent
  EXPECT_FALSE(c.rep(0).IsLeader());
  auto after_stop = ProposeSync(c.rep(0), "late", 1s);
  ASSERT_FALSE(after_stop.ok());
  EXPECT_EQ(after_stop.error().code(), Code::kUnavailable);
  Status barrier_after_stop = StatusSync([&](auto done) { c.rep(0).Barrier(done); }, 1s);
  EXPECT_EQ(barrier_after_stop.error().code(), Code::kUnavailable);
  c.Stop(0);

  // Restarted from its folder with its state: it leads again, replays
  // nothing twice and continues the log.
  ASSERT_TRUE(c.Start(0).ok());
  ASSERT_EQ(c.WaitForLeader(), 0);
  auto next = ProposeSync(c.rep(0), "after-restart");
  ASSERT_TRUE(next.ok()) << next.error().message();
  EXPECT_EQ(next.value(), "ok:" + std::to_string(c.fsm(0).AppliedIndex()));
  std::vector<std::string> want = Names("w", 0, 20);
  want.push_back("");
  want.push_back("after-restart");
  EXPECT_EQ(c.fsm(0).Commands(), want);
  EXPECT_GT(c.fsm(0).replays_skipped(), 0);
}

TEST(ReplicatorTest, ThreeMembersElectALeaderReplicateInOrderAndFollowersRedirect) {
  Cluster c(3);
  c.StartAll();
  int leader = c.WaitForLeader();
  ASSERT_GE(leader, 0);
  int follower = (leader + 1) % 3;

  auto redirected = ProposeSync(c.rep(follower), "to-a-follower");
  ASSERT_FALSE(redirected.ok());
  EXPECT_EQ(redirected.error().code(), Code::kUnavailable);
  EXPECT_EQ(redirected.error().message(),
            "not the leader; the leader is " + std::to_string(c[leader].id) + " at " + c[leader].address);
  Status barrier = StatusSync([&](auto done) { c.rep(follower).Barrier(done); }, 2s);
  ASSERT_FALSE(barrier.ok());
  EXPECT_NE(barrier.error().message().find("the leader is " + std::to_string(c[leader].id)), std::string::npos);

  ASSERT_EQ(ProposeMany(c.rep(leader), "w", 30), 30);
  for (int i = 0; i < 3; i++) {
    ASSERT_TRUE(WaitFor([&] { return c.fsm(i).size() == 30; }, 5s)) << "member " << i;
  }
  // Same commands at the same indexes everywhere.
  EXPECT_EQ(c.fsm(leader).Commands(), Names("w", 0, 30));
  for (int i = 0; i < 3; i++) EXPECT_EQ(c.fsm(i).Entries(), c.fsm(leader).Entries()) << "member " << i;
  EXPECT_FALSE(c.fsm(follower).Contains("to-a-follower"));

  auto members = c.rep(leader).Members();
  ASSERT_EQ(members.size(), 3u);
  for (const MemberStatus& m : members) {
    EXPECT_TRUE(m.member.voter);
    EXPECT_EQ(m.is_leader, m.member.id == c[leader].id);
    EXPECT_EQ(m.role, m.is_leader ? "leader" : "follower");
  }
  auto from_follower = c.rep(follower).Members();
  ASSERT_EQ(from_follower.size(), 3u);
  for (const MemberStatus& m : from_follower) EXPECT_EQ(m.is_leader, m.member.id == c[leader].id);
}

// Nagle's algorithm on Raft's connections held small messages back until the
// peer's delayed ACK (up to 40 ms): every connection between members, made
// or accepted, has TCP_NODELAY (state/raft_transport.h).
TEST(ReplicatorTest, RaftConnectionsHaveNagleOff) {
  Cluster c(3);
  c.StartAll();
  int leader = c.WaitForLeader();
  ASSERT_GE(leader, 0);
  ASSERT_EQ(ProposeMany(c.rep(leader), "w", 10), 10);
  for (int i = 0; i < 3; i++) ASSERT_TRUE(WaitFor([&] { return c.fsm(i).size() == 10; }, 5s)) << "member " << i;
  std::set<int> raft_ports;
  for (int i = 0; i < 3; i++) raft_ports.insert(std::stoi(c[i].address.substr(c[i].address.rfind(':') + 1)));
  auto port_of = [](const sockaddr_in& a) { return static_cast<int>(ntohs(a.sin_port)); };
  int connections = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = std::stoi(entry.path().filename().string());
    sockaddr_in local{}, peer{};
    socklen_t ll = sizeof local, pl = sizeof peer;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0 || local.sin_family != AF_INET) continue;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) continue;  // a listener
    if (!raft_ports.count(port_of(local)) && !raft_ports.count(port_of(peer))) continue;
    int nodelay = 0;
    socklen_t nl = sizeof nodelay;
    ASSERT_EQ(::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &nl), 0);
    EXPECT_EQ(nodelay, 1) << "fd " << fd << ": " << port_of(local) << " -> " << port_of(peer);
    ++connections;
  }
  // Each member has a connection to each other member, and accepted one
  // from each: both ends of 6 connections live in this process.
  EXPECT_GE(connections, 8);
}

TEST(ReplicatorTest, LeaderStopElectsANewLeaderKeepsAckedWritesAndRestartedMemberCatchesUp) {
  Cluster c(3);
  c.StartAll();
  int old_leader = c.WaitForLeader();
  ASSERT_GE(old_leader, 0);
  ASSERT_EQ(ProposeMany(c.rep(old_leader), "before", 10), 10);

  auto stopped_at = std::chrono::steady_clock::now();
  c.Stop(old_leader);
  int new_leader = c.WaitForLeader(5s);
  ASSERT_GE(new_leader, 0);
  ASSERT_NE(new_leader, old_leader);
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, 3s);

  // Every acknowledged write is on both survivors, with no new write needed
  // to commit it (the new leader's own barrier does).
  for (int i = 0; i < 3; i++) {
    if (i == old_leader) continue;
    EXPECT_TRUE(WaitFor([&] { return c.fsm(i).Commands() == Names("before", 0, 10); }, 3s)) << "member " << i;
  }
  ASSERT_EQ(ProposeMany(c.rep(new_leader), "after", 5), 5);

  ASSERT_TRUE(c.Start(old_leader).ok());
  std::vector<std::string> want = Names("before", 0, 10);
  for (auto& s : Names("after", 0, 5)) want.push_back(s);
  EXPECT_TRUE(WaitFor([&] { return c.fsm(old_leader).Commands() == want; }, 5s));
  EXPECT_EQ(c.fsm(old_leader).Entries(), c.fsm(new_leader).Entries());
  EXPECT_GE(c.WaitForLeader(), 0);
}

// After a whole cluster restarts nobody knows what was committed; the log is
// applied again before anyone writes. (Raft commits entries of earlier terms
// only with one of the current term, which libraft 0.15 does not append on
// election: the Replicator's barrier on winning an election does. libraft
// 0.15 itself still commits them by counting replicas, a safety bug pinned in
// raft_fixture_test, so this passes without the barrier until it is fixed.)
TEST(ReplicatorTest, WholeClusterRestartAppliesTheLogAgainWithoutANewWrite) {
  Cluster c(3);
  c.StartAll();
  int leader = c.WaitForLeader();
  ASSERT_GE(leader, 0);
  ASSERT_EQ(ProposeMany(c.rep(leader), "w", 10), 10);
  for (int i = 0; i < 3; i++) c.Stop(i);
  // State machines that kept nothing: all they get comes from the log.
  for (int i = 0; i < 3; i++) c.ResetStateMachine(i);
  c.StartAll();
  ASSERT_GE(c.WaitForLeader(), 0);
  for (int i = 0; i < 3; i++) {
    EXPECT_TRUE(WaitFor([&] { return c.fsm(i).Commands() == Names("w", 0, 10); }, 3s)) << "member " << i;
  }
}

// A snapshot that fails is retried at the next threshold; the members keep
// replicating and applying meanwhile (libraft 0.15 turns a follower
// unavailable on most errors from the FSM's snapshot, so the Replicator
// reports them as "busy").
TEST(ReplicatorTest, FailingSnapshotsDoNotStopReplication) {
  Cluster c(3, 3, [](ReplicatorOptions& o) {
    o.snapshot_threshold = 16;
    o.snapshot_trailing = 4;
  });
  for (int i = 0; i < 3; i++) c.fsm(i).set_fail_snapshots(true);
  c.StartAll();
  int leader = c.WaitForLeader();
  ASSERT_GE(leader, 0);
  for (int batch = 0; batch < 4; batch++) {
    ASSERT_EQ(ProposeMany(c.rep(leader), "b" + std::to_string(batch), 20), 20);
  }
  for (int i = 0; i < 3; i++) {
    EXPECT_TRUE(WaitFor([&] { return c.fsm(i).size() == 80; }, 5s)) << "member " << i;
    EXPECT_EQ(c.fsm(i).snapshots(), 0);
  }
  // Once snapshots work again, they are taken.
  for (int i = 0; i < 3; i++) c.fsm(i).set_fail_snapshots(false);
  ASSERT_EQ(ProposeMany(c.rep(leader), "after", 20), 20);
  for (int i = 0; i < 3; i++) {
    EXPECT_TRUE(WaitFor([&] { return c.fsm(i).size() == 100 && c.fsm(i).snapshots() >= 1; }, 5s)) << "member " << i;
  }
  EXPECT_EQ(c.WaitForLeader(), leader);
}

// Where a snapshot is made: the whole state packed on the loop thread or on
// a libuv worker, or (a state machine whose state is durable) a reference,
// with the whole state packed only to send it to a member.
enum class SnapshotKind { kLoop, kWorker, kReference };

class ReplicatorSnapshotTest : public ::testing::TestWithParam<SnapshotKind> {};

// A member restarted after missing many entries catches up; one that lost
// its folder and is added again gets the leader's snapshot (removed first:
// libraft 0.15 keeps the leader's match index for a member it still has, so
// one that silently lost its log under the same id is never sent the
// snapshot and stays behind forever).
TEST_P(ReplicatorSnapshotTest, LaggingAndReplacedMembersCatchUpThroughASnapshot) {
  const SnapshotKind kind = GetParam();
  const bool reference = kind == SnapshotKind::kReference;
  Cluster c(
      3, 3,
      [](ReplicatorOptions& o) {
        o.snapshot_threshold = 64;
        o.snapshot_trailing = 16;
      },
      /*concurrent_snapshots=*/kind != SnapshotKind::kLoop, /*durable_state=*/reference);
  c.StartAll();
  int leader = c.WaitForLeader();
  ASSERT_GE(leader, 0);
  const int lagging = (leader + 1) % 3;
  const int replaced = (leader + 2) % 3;

  // With every member up and current, past the threshold: every member
  // takes a snapshot. A reference syncs the state and packs nothing.
  ASSERT_EQ(ProposeMany(c.rep(leader), "a", 80), 80);
  for (int i = 0; i < 3; i++) {
    ASSERT_TRUE(WaitFor([&] { return Impl(c.rep(i)).snapshots_taken() >= 1; }, 3s)) << "member " << i;
    if (reference) {
      EXPECT_GE(c.fsm(i).durable_syncs(), 1) << "member " << i;
      EXPECT_EQ(c.fsm(i).snapshots(), 0) << "member " << i;
    }
  }

  c.Stop(lagging);
  for (int batch = 0; batch < 5; batch++) {
    ASSERT_EQ(ProposeMany(c.rep(leader), "b" + std::to_string(batch), 30), 30);
  }
  ASSERT_TRUE(WaitFor([&] { return c.fsm(replaced).size() == 230; }, 5s));
  ASSERT_TRUE(WaitFor([&] { return Impl(c.rep(leader)).snapshots_taken() >= 2; }, 3s));
  if (!reference) {
    EXPECT_GE(c.fsm(leader).snapshots(), 1);
    // Where TakeSnapshot ran: a libuv worker when the state machine opts in,
    // else the loop thread.
    EXPECT_EQ(c.fsm(leader).snapshot_ran_on_apply_thread(), kind == SnapshotKind::kLoop);
  }

  // The leader's log no longer reaches back to what `lagging` has. It may
  // still catch up partly from entries libraft queued for it before the
  // compaction (delivered on reconnect), so only the outcome is asserted.
  ASSERT_TRUE(c.Start(lagging).ok());
  ASSERT_TRUE(WaitFor([&] { return c.fsm(lagging).size() == 230; }, 10s)) << c.fsm(lagging).size();
  EXPECT_EQ(c.fsm(lagging).Entries(), c.fsm(leader).Entries());

  // A member whose disk was lost: removed, wiped, joins empty, added again.
  c.Stop(replaced);
  ASSERT_TRUE(StatusSync([&](auto done) { c.rep(leader).RemoveMember(c[replaced].id, done); }, 5s).ok());
  c.Wipe(replaced);
  ASSERT_TRUE(c.Start(replaced, /*join=*/true).ok());
  Status added = StatusSync(
      [&](auto done) {
        c.rep(leader).AddMember(Member{c[replaced].id, c[replaced].address, true}, done);
      },
      10s);
  ASSERT_TRUE(added.ok()) << added.error().message();
  ASSERT_TRUE(WaitFor([&] { return c.fsm(replaced).size() == 230; }, 10s)) << c.fsm(replaced).size();
  // Its log starts empty and the leader's starts after a snapshot: it can
  // only have been given the snapshot.
  EXPECT_GE(c.fsm(replaced).restores(), 1);
  EXPECT_EQ(c.fsm(replaced).Entries(), c.fsm(leader).Entries());
  // The whole state it was given was packed when it was sent.
  if (reference) {
    EXPECT_GE(c.fsm(leader).snapshots(), 1);
  }

  ASSERT_EQ(ProposeMany(c.rep(leader), "later", 10), 10);
  for (int i = 0; i < 3; i++) ASSERT_TRUE(WaitFor([&] { return c.fsm(i).size() == 240; }, 5s)) << "member " << i;
  for (int i = 0; i < 3; i++) EXPECT_EQ(c.fsm(i).Entries(), c.fsm(leader).Entries()) << "member " << i;

  // Every member restarts from its own latest snapshot and log, and keeps
  // every entry. With references nothing is restored, the log replays;
  // except on a member whose latest snapshot is still a whole state it was
  // sent: `replaced` always, `lagging` when the leader sent it one rather
  // than the entries it had queued (under load it does, seen under ctest -j2
  // with both cores busy). The leader was never sent one.
  for (int i = 0; i < 3; i++) {
    const int restores = c.fsm(i).restores();
    if (reference && i == leader) {
      EXPECT_EQ(restores, 0) << "the leader was sent a whole state";
    }
    c.Stop(i);
    Status st = c.Start(i, /*join=*/i == replaced);
    ASSERT_TRUE(st.ok()) << "member " << i << ": " << st.error().message();
    if (reference && restores == 0) {
      EXPECT_EQ(c.fsm(i).restores(), restores) << "member " << i;
    }
    // A follower applies the entries after its snapshot once it hears the
    // commit index from the leader, which may be after Start returns (seen
    // under ctest -j2: 231 of 240 at once).
    EXPECT_TRUE(WaitFor([&] { return c.fsm(i).size() == 240u; }, 5s)) << "member " << i << ": " << c.fsm(i).size();
  }
  leader = c.WaitForLeader();
  ASSERT_GE(leader, 0);
  ASSERT_EQ(ProposeMany(c.rep(leader), "restarted", 5), 5);
  for (int i = 0; i < 3; i++) ASSERT_TRUE(WaitFor([&] { return c.fsm(i).size() == 245; }, 5s)) << "member " << i;
  for (int i = 0; i < 3; i++) EXPECT_EQ(c.fsm(i).Entries(), c.fsm(leader).Entries()) << "member " << i;
}

INSTANTIATE_TEST_SUITE_P(SnapshotOnLoopOnWorkerAndByReference, ReplicatorSnapshotTest,
                         ::testing::Values(SnapshotKind::kLoop, SnapshotKind::kWorker, SnapshotKind::kReference),
                         [](const ::testing::TestParamInfo<SnapshotKind>& p) {
                           switch (p.param) {
                             case SnapshotKind::kLoop:
                               return std::string("Loop");
                             case SnapshotKind::kWorker:
                               return std::string("Worker");
                             case SnapshotKind::kReference:
                               return std::string("Reference");
                           }
                           return std::string("Unknown");
                         });

// One member whose state is durable (reference snapshots), a snapshot every
// 16 entries.
std::unique_ptr<Cluster> DurableMember(unsigned snapshot_trailing) {
  return std::make_unique<Cluster>(
      1, 1,
      [snapshot_trailing](ReplicatorOptions& o) {
        o.snapshot_threshold = 16;
        o.snapshot_trailing = snapshot_trailing;
      },
      /*concurrent_snapshots=*/true, /*durable_state=*/true);
}

// A reference snapshot names the state machine's own applied index, not
// libraft's: barriers (every linearizable read on a cluster, every election)
// move libraft's without the state machine. A snapshot taken on barriers
// still restarts, and a crash that loses what was not made durable loses
// nothing the log no longer holds.
TEST(ReplicatorTest, ReferenceSnapshotsTakenOnBarriersRestartAndSurviveACrash) {
  auto cluster = DurableMember(/*snapshot_trailing=*/2);
  Cluster& c = *cluster;
  c.StartAll();
  ASSERT_EQ(c.WaitForLeader(), 0);
  // Barriers until libraft has written a snapshot whose index is past the
  // state machine's: one taken on barriers alone.
  auto barriers_until_a_snapshot_past = [&](uint64_t index) {
    for (int k = 0; k < 400 && LatestSnapshotOnDisk(c[0].dir) <= index; k++) {
      Status st = StatusSync([&](auto done) { c.rep(0).Barrier(done); }, 5s);
      ASSERT_TRUE(st.ok()) << st.error().message();
      if (k >= 40) std::this_thread::sleep_for(5ms);  // a snapshot may still be on its way to disk
    }
    ASSERT_GT(LatestSnapshotOnDisk(c[0].dir), index);
  };
  ASSERT_EQ(ProposeMany(c.rep(0), "w", 6), 6);
  barriers_until_a_snapshot_past(c.fsm(0).AppliedIndex());
  ASSERT_EQ(ProposeMany(c.rep(0), "x", 30), 30);
  barriers_until_a_snapshot_past(c.fsm(0).AppliedIndex());
  ASSERT_LT(c.fsm(0).AppliedIndex(), c.rep(0).LastApplied());
  // After the last snapshot: in the log, not yet made durable by the state.
  ASSERT_EQ(ProposeMany(c.rep(0), "y", 5), 5);
  c.Stop(0);

  std::vector<std::string> want = Names("w", 0, 6);
  for (const std::string& x : Names("x", 0, 30)) want.push_back(x);
  for (const std::string& y : Names("y", 0, 5)) want.push_back(y);
  Status st = c.Start(0);
  ASSERT_TRUE(st.ok()) << st.error().message();
  ASSERT_EQ(c.WaitForLeader(), 0);
  EXPECT_EQ(c.fsm(0).Commands(), want);
  c.Stop(0);

  // A crash loses what the state machine had not made durable; the log
  // after the last snapshot replays it.
  c.fsm(0).CrashToDurable();
  st = c.Start(0);
  ASSERT_TRUE(st.ok()) << st.error().message();
  ASSERT_EQ(c.WaitForLeader(), 0);
  ASSERT_TRUE(WaitFor([&] { return c.fsm(0).Commands() == want; }, 3s)) << c.fsm(0).size();
}

// A member whose state lost what its reference snapshot names (its Raft
// folder kept, its state machine empty) refuses to start and says why,
// rather than serving a state with the compacted entries missing.
TEST(ReplicatorTest, AMemberWhoseStateIsBehindItsReferenceSnapshotRefusesToStart) {
  auto cluster = DurableMember(/*snapshot_trailing=*/4);
  Cluster& c = *cluster;
  c.StartAll();
  ASSERT_EQ(c.WaitForLeader(), 0);
  ASSERT_EQ(ProposeMany(c.rep(0), "w", 40), 40);
  // On disk, so the restart below starts from it.
  ASSERT_TRUE(WaitFor([&] { return LatestSnapshotOnDisk(c[0].dir) > 0; }, 5s));
  c.Stop(0);

  c.ResetStateMachine(0);
  Status st = c.Start(0);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("has applied only up to 0"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find("wipe its data folder and add it again"), std::string::npos)
      << st.error().message();
}

TEST(ReplicatorTest, AddMemberMakesAJoiningMemberAVoterWithAllEntriesAndRemoveMemberDropsIt) {
  Cluster c(2, /*voters=*/1);
  ASSERT_TRUE(c.Start(0).ok());
  ASSERT_EQ(c.WaitForLeader(), 0);
  ASSERT_EQ(ProposeMany(c.rep(0), "w", 20), 20);

  ASSERT_TRUE(c.Start(1, /*join=*/true).ok());
  EXPECT_FALSE(c.rep(1).IsLeader());
  Status added = StatusSync([&](auto done) { c.rep(0).AddMember(Member{c[1].id, c[1].address, true}, done); }, 10s);
  ASSERT_TRUE(added.ok()) << added.error().message();
  ASSERT_TRUE(WaitFor([&] { return c.fsm(1).size() == 20; }, 5s));
  EXPECT_EQ(c.fsm(1).Entries(), c.fsm(0).Entries());
  auto members = c.rep(0).Members();
  ASSERT_EQ(members.size(), 2u);
  for (const MemberStatus& m : members) EXPECT_TRUE(m.member.voter) << m.member.id;

  ASSERT_EQ(ProposeMany(c.rep(0), "x", 5), 5);
  ASSERT_TRUE(WaitFor([&] { return c.fsm(1).size() == 25; }, 5s));

  Status again = StatusSync([&](auto done) { c.rep(0).AddMember(Member{c[1].id, c[1].address, true}, done); }, 5s);
  EXPECT_EQ(again.error().code(), Code::kAlreadyExists);
  Status on_follower = StatusSync([&](auto done) { c.rep(1).AddMember(Member{9, "127.0.0.1:1", true}, done); }, 5s);
  EXPECT_EQ(on_follower.error().code(), Code::kUnavailable);
  Status missing = StatusSync([&](auto done) { c.rep(0).RemoveMember(99, done); }, 5s);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);

  Status removed = StatusSync([&](auto done) { c.rep(0).RemoveMember(c[1].id, done); }, 5s);
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  ASSERT_EQ(c.rep(0).Members().size(), 1u);
  // The single remaining voter commits alone; the removed member gets nothing.
  ASSERT_EQ(ProposeMany(c.rep(0), "y", 5), 5);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(c.fsm(1).size(), 25u);
  EXPECT_EQ(c.fsm(0).size(), 30u);
}

TEST(ReplicatorTest, BarriersFromManyThreadsShareAtMostTwoRounds) {
  Cluster c(1);
  c.StartAll();
  ASSERT_EQ(c.WaitForLeader(), 0);
  ASSERT_TRUE(ProposeSync(c.rep(0), "warm-up").ok());
  // Let the barrier issued on winning the election finish.
  ASSERT_TRUE(StatusSync([&](auto done) { c.rep(0).Barrier(done); }, 5s).ok());

  // Hold the loop thread inside Apply("block") while the callers arrive, so
  // they all find the loop busy, as under load. What the hook and the
  // barriers' callbacks touch is shared with them: on a failed ASSERT they
  // can still run, until ~Cluster stops the replicator.
  struct Shared {
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<bool> release_set{false};
    std::atomic<bool> blocked{false};
    std::atomic<int> ok{0};
    std::atomic<int> saw_block_applied{0};
    std::atomic<int> answered{0};
    void Release() {
      if (!release_set.exchange(true)) release.set_value();
    }
  };
  auto s = std::make_shared<Shared>();
  // Lets a held Apply go on when the test returns early, so ~Cluster's Stop
  // does not wait on it forever.
  struct ReleaseOnExit {
    std::shared_ptr<Shared> s;
    ~ReleaseOnExit() { s->Release(); }
  } release_on_exit{s};
  c.fsm(0).set_on_apply([s](std::string_view cmd) {
    if (cmd == "block") {
      s->blocked = true;
      s->released.wait();
    }
  });
  auto blocker = std::make_shared<Answer<Result<std::string>>>();
  c.rep(0).Propose("block", [blocker](Result<std::string> r) { blocker->Set(std::move(r)); });
  ASSERT_TRUE(WaitFor([&] { return s->blocked.load(); }, 5s));

  const uint64_t rounds_before = Impl(c.rep(0)).barrier_rounds();
  constexpr int kCallers = 32;
  std::vector<std::thread> threads;
  MemoryFsm* fsm = &c.fsm(0);
  for (int t = 0; t < kCallers; t++) {
    threads.emplace_back([&] {
      c.rep(0).Barrier([s, fsm](Status st) {
        if (st.ok()) s->ok++;
        if (fsm->Contains("block")) s->saw_block_applied++;
        s->answered++;
      });
    });
  }
  for (auto& t : threads) t.join();
  s->Release();
  ASSERT_TRUE(WaitFor([&] { return s->answered.load() == kCallers; }, 5s));
  c.fsm(0).set_on_apply(nullptr);
  EXPECT_EQ(s->ok.load(), kCallers);
  // Each barrier completes only after what was committed before it.
  EXPECT_EQ(s->saw_block_applied.load(), kCallers);
  const uint64_t rounds = Impl(c.rep(0)).barrier_rounds() - rounds_before;
  EXPECT_GE(rounds, 1u);
  EXPECT_LE(rounds, 2u);
  ASSERT_TRUE(blocker->Wait(5s).has_value());
}

TEST(ReplicatorTest, MinorityLeaderNeverAcknowledgesWritesAndStepsDown) {
  Cluster c(3);
  c.StartAll();
  int leader = c.WaitForLeader();
  ASSERT_GE(leader, 0);
  ASSERT_EQ(ProposeMany(c.rep(leader), "w", 5), 5);

  for (int i = 0; i < 3; i++) {
    if (i != leader) c.Stop(i);
  }
  auto answer = std::make_shared<Answer<Result<std::string>>>();
  c.rep(leader).Propose("minority-write", [answer](Result<std::string> r) { answer->Set(std::move(r)); });
  // It loses leadership within an election timeout or so (no majority
  // contact) and fails what it held; it must never say yes.
  ASSERT_TRUE(WaitFor([&] { return !c.rep(leader).IsLeader(); }, 5s));
  auto got = answer->Wait(2s);
  if (got.has_value()) {
    ASSERT_FALSE(got->ok());
    EXPECT_EQ(got->error().code(), Code::kUnavailable);
  }
  EXPECT_FALSE(c.fsm(leader).Contains("minority-write"));

  auto refused = ProposeSync(c.rep(leader), "after-step-down", 2s);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Code::kUnavailable);
  EXPECT_FALSE(c.fsm(leader).Contains("after-step-down"));
}

TEST(ReplicatorTest, StopFailsWhatIsPendingAndLaterCalls) {
  Cluster c(3);
  c.StartAll();
  int leader = c.WaitForLeader();
  ASSERT_GE(leader, 0);
  ASSERT_TRUE(StatusSync([&](auto done) { c.rep(leader).Barrier(done); }, 5s).ok());
  for (int i = 0; i < 3; i++) {
    if (i != leader) c.Stop(i);
  }
  // Nothing can commit now; stop before the leader notices it is alone.
  auto proposal = std::make_shared<Answer<Result<std::string>>>();
  auto in_flight = std::make_shared<Answer<Status>>();
  auto queued = std::make_shared<Answer<Status>>();
  c.rep(leader).Propose("pending", [proposal](Result<std::string> r) { proposal->Set(std::move(r)); });
  c.rep(leader).Barrier([in_flight](Status st) { in_flight->Set(std::move(st)); });
  c.rep(leader).Barrier([queued](Status st) { queued->Set(std::move(st)); });  // waits for the next round
  // A callback that reacts to the failure by stopping too must not deadlock.
  Replicator* rep = &c.rep(leader);
  auto reentrant = std::make_shared<Answer<Status>>();
  c.rep(leader).Barrier([reentrant, rep](Status st) {
    rep->Stop();
    reentrant->Set(std::move(st));
  });
  c.rep(leader).Stop();
  // Stop returns after every callback ran.
  auto p = proposal->Wait(0ms);
  auto b1 = in_flight->Wait(0ms);
  auto b2 = queued->Wait(0ms);
  ASSERT_TRUE(p.has_value());
  ASSERT_TRUE(b1.has_value());
  ASSERT_TRUE(b2.has_value());
  EXPECT_EQ(p->error().code(), Code::kUnavailable);
  EXPECT_EQ(b1->error().code(), Code::kUnavailable);
  EXPECT_EQ(b2->error().code(), Code::kUnavailable);
  ASSERT_TRUE(reentrant->Wait(0ms).has_value());
  EXPECT_NE(p->error().message().find("stopped"), std::string::npos) << p->error().message();

  Status add = StatusSync([&](auto done) { c.rep(leader).AddMember(Member{7, "127.0.0.1:1", true}, done); }, 1s);
  EXPECT_EQ(add.error().code(), Code::kUnavailable);
  Status remove = StatusSync([&](auto done) { c.rep(leader).RemoveMember(2, done); }, 1s);
  EXPECT_EQ(remove.error().code(), Code::kUnavailable);
  EXPECT_FALSE(c.rep(leader).Leader().has_value());
  for (const MemberStatus& m : c.rep(leader).Members()) {
    if (m.member.id == c[leader].id) {
      EXPECT_EQ(m.role, "unavailable");
    }
  }
}

// Stop called from inside a callback (which runs inside libraft's apply
// loop) must not raft_close there (libraft aborts) nor join its own thread:
// it only starts the closing, and a later Stop joins.
TEST(ReplicatorTest, StopFromInsideACallbackClosesOnTheNextLoopTurn) {
  Cluster c(1);
  c.StartAll();
  ASSERT_EQ(c.WaitForLeader(), 0);
  auto answer = std::make_shared<Answer<Result<std::string>>>();
  Replicator* rep = &c.rep(0);
  rep->Propose("last", [answer, rep](Result<std::string> r) {
    rep->Stop();
    answer->Set(std::move(r));
  });
  auto got = answer->Wait(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->ok());
  EXPECT_TRUE(WaitFor([&] { return !rep->IsLeader(); }, 5s));
  EXPECT_EQ(ProposeSync(*rep, "after", 1s).error().code(), Code::kUnavailable);
  c.Stop(0);
  EXPECT_EQ(c.fsm(0).Commands(), std::vector<std::string>{"last"});
}

TEST(ReplicatorTest, StartRefusesBadOptionsAndReportsAnAddressInUse) {
  TempDir tmp;
  MemoryFsm fsm;
  ReplicatorOptions o;
  o.id = 0;
  o.address = "127.0.0.1:" + std::to_string(FreePort());
  o.dir = tmp.Sub("m");
  auto r = Replicator::Start(o, &fsm);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalid);

  o.id = 1;
  o.election_timeout = 100ms;
  o.heartbeat_timeout = 100ms;
  r = Replicator::Start(o, &fsm);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalid);

  // Someone else listens on the address.
  int port = FreePort();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  o.election_timeout = 500ms;
  o.heartbeat_timeout = 50ms;
  o.address = "127.0.0.1:" + std::to_string(port);
  o.bootstrap = {Member{1, o.address, true}};
  r = Replicator::Start(o, &fsm);
  close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(o.address), std::string::npos) << r.error().message();

  // The folder is fine afterwards.
  r = Replicator::Start(o, &fsm);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(WaitFor([&] { return (*r)->IsLeader(); }, 5s));
  EXPECT_TRUE(ProposeSync(**r, "works").ok());
}

// libraft's auto-recovery would rename an unreadable segment to "corrupt-*"
// and start without its entries; the Replicator turns it off so acknowledged
// writes are never silently dropped.
TEST(ReplicatorTest, UnreadableLogRefusesToStartInsteadOfDroppingEntries) {
  Cluster c(1);
  c.StartAll();
  ASSERT_EQ(c.WaitForLeader(), 0);
  ASSERT_EQ(ProposeMany(c.rep(0), "w", 10), 10);
  c.Stop(0);
  // Damage the data of the last closed segment (not index 1, the bootstrap).
  fs::path victim;
  for (const auto& e : fs::directory_iterator(c[0].dir)) {
    std::string name = e.path().filename().string();
    if (name.size() == 33 && name[16] == '-' && name.rfind("0000000000000001-", 0) != 0) victim = e.path();
  }
  ASSERT_FALSE(victim.empty());
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(victim) - 4));
    f.write("\xff\xff\xff\xff", 4);
  }
  Status st = c.Start(0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), Code::kIo);
  EXPECT_NE(st.error().message().find("checksum"), std::string::npos) << st.error().message();
  EXPECT_TRUE(fs::exists(victim));
}

TEST(ReplicatorTest, StateMachineErrorStopsTheMember) {
  // on_fatal is told once, with why (bosun server then stops the process).
  auto told = std::make_shared<Answer<std::string>>();
  auto calls = std::make_shared<std::atomic<int>>(0);
  Cluster c(1, -1, [told, calls](ReplicatorOptions& o) {
    o.on_fatal = [told, calls](const std::string& why) {
      ++*calls;
      told->Set(why);
    };
  });
  c.StartAll();
  ASSERT_EQ(c.WaitForLeader(), 0);
  c.fsm(0).set_fail_on("poison");
  auto got = ProposeSync(c.rep(0), "poison");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), Code::kUnavailable);
  EXPECT_NE(got.error().message().find("disk broke"), std::string::npos) << got.error().message();
  EXPECT_TRUE(WaitFor([&] { return !c.rep(0).IsLeader(); }, 2s));
  auto after = ProposeSync(c.rep(0), "after", 2s);
  EXPECT_EQ(after.error().code(), Code::kUnavailable);
  auto why = told->Wait(2s);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("disk broke"), std::string::npos) << *why;
  EXPECT_EQ(calls->load(), 1);
  c.Stop(0);
}

}  // namespace
}  // namespace bosun::state
