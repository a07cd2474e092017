// Pins the behaviour of libraft 0.15 that state/replicator relies on, on
// libraft's own deterministic fixture (in-memory I/O, simulated time):
// elections with pre-vote, the index of an applied entry being
// raft_last_applied + 1, leader loss and return, a partitioned leader whose
// uncommitted entries are dropped at heal, snapshot install to a lagging
// server through the async snapshot (fsm version 3), and membership changes
// in two steps (raft_add makes a spare that receives nothing; raft_assign
// makes it a voter that catches up).
//
// Found here: raft_init refuses fsm version 3 with snapshot_async on the
// fixture's io (and on raft_uv's) because they report io.version < 2 even
// though they implement async_work; setting io.version = 2 is the workaround.
extern "C" {
#include <raft.h>
#include <raft/fixture.h>
}

#include <cstring>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

// An FSM that records every command it applies with the index libraft was
// applying (as the Replicator computes it), and snapshots that record.
struct RecordingFsm {
  raft_fsm fsm{};
  struct raft* raft = nullptr;  // its server, to read last_applied
  std::vector<std::pair<raft_index, std::string>> applied;
  std::string snapshot_copy;  // taken in snapshot(), handed out in snapshot_async()
  int snapshots = 0;
  int snapshot_asyncs = 0;
  int finalizes = 0;
  int restores = 0;
  bool out_of_order = false;  // snapshot_async or finalize without snapshot()

  std::vector<std::string> Commands() const {
    std::vector<std::string> out;
    for (const auto& [index, cmd] : applied) out.push_back(cmd);
    return out;
  }

  static std::string Encode(const std::vector<std::pair<raft_index, std::string>>& v) {
    std::string out;
    for (const auto& [index, cmd] : v) {
      out += std::to_string(index) + ":" + std::to_string(cmd.size()) + ":" + cmd;
    }
    return out;
  }
  static std::vector<std::pair<raft_index, std::string>> Decode(std::string_view s) {
    std::vector<std::pair<raft_index, std::string>> out;
    while (!s.empty()) {
      size_t a = s.find(':');
      size_t b = s.find(':', a + 1);
      raft_index index = std::stoull(std::string(s.substr(0, a)));
      size_t len = std::stoull(std::string(s.substr(a + 1, b - a - 1)));
      out.emplace_back(index, std::string(s.substr(b + 1, len)));
      s.remove_prefix(b + 1 + len);
    }
    return out;
  }

  static int Apply(raft_fsm* fsm, const raft_buffer* buf, void** result) {
    auto* self = static_cast<RecordingFsm*>(fsm->data);
    raft_index index = raft_last_applied(self->raft) + 1;
    self->applied.emplace_back(index, std::string(static_cast<const char*>(buf->base), buf->len));
    *result = nullptr;
    return 0;
  }
  static int Snapshot(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) {
    auto* self = static_cast<RecordingFsm*>(fsm->data);
    self->snapshots++;
    self->snapshot_copy = Encode(self->applied);
    *bufs = nullptr;
    *n_bufs = 0;
    return 0;
  }
  static int SnapshotAsync(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) {
    auto* self = static_cast<RecordingFsm*>(fsm->data);
    self->snapshot_asyncs++;
    if (self->snapshot_asyncs != self->snapshots) self->out_of_order = true;
    auto* b = static_cast<raft_buffer*>(raft_malloc(sizeof(raft_buffer)));
    b->base = self->snapshot_copy.data();
    b->len = self->snapshot_copy.size();
    *bufs = b;
    *n_bufs = 1;
    return 0;
  }
  static int SnapshotFinalize(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) {
    auto* self = static_cast<RecordingFsm*>(fsm->data);
    self->finalizes++;
    if (self->finalizes != self->snapshot_asyncs) self->out_of_order = true;
    raft_free(*bufs);
    *bufs = nullptr;
    *n_bufs = 0;
    return 0;
  }
  static int Restore(raft_fsm* fsm, raft_buffer* buf) {
    auto* self = static_cast<RecordingFsm*>(fsm->data);
    self->restores++;
    self->applied = Decode(std::string_view(static_cast<const char*>(buf->base), buf->len));
    raft_free(buf->base);
    return 0;
  }

  void Init() {
    fsm.version = 3;
    fsm.data = this;
    fsm.apply = &Apply;
    fsm.snapshot = &Snapshot;
    fsm.snapshot_async = &SnapshotAsync;
    fsm.snapshot_finalize = &SnapshotFinalize;
    fsm.restore = &Restore;
  }
};

struct ApplyReq {
  struct raft_apply req {};
  bool done = false;
  int status = -1;
};
struct BarrierReq {
  struct raft_barrier req {};
  bool done = false;
  int status = -1;
};
struct ChangeReq {
  struct raft_change req {};
  bool done = false;
  int status = -1;
};

class RaftFixtureTest : public ::testing::Test {
 protected:
  static constexpr unsigned kServers = 3;

  void SetUp() override {
    ASSERT_EQ(raft_fixture_initialize(&f_), 0);
    for (unsigned i = 0; i < kServers; i++) Grow();
    raft_configuration conf;
    ASSERT_EQ(raft_fixture_configuration(&f_, kServers, &conf), 0);
    ASSERT_EQ(raft_fixture_bootstrap(&f_, &conf), 0);
    raft_configuration_close(&conf);
    ASSERT_EQ(raft_fixture_start(&f_), 0);
  }
  void TearDown() override { raft_fixture_close(&f_); }

  unsigned Grow() {
    unsigned i = raft_fixture_n(&f_);
    fsms_[i].Init();
    // libraft 0.15's in-memory io implements async_work but leaves
    // io.version at 0, and raft_init refuses an fsm with snapshot_async on an
    // io older than version 2 (its libuv io says version 1 the same way; the
    // Replicator sets 2 there too).
    f_.servers[i].io.version = 2;
    EXPECT_EQ(raft_fixture_grow(&f_, &fsms_[i].fsm), 0);
    fsms_[i].raft = raft_fixture_get(&f_, i);
    raft_set_pre_vote(fsms_[i].raft, true);
    return i;
  }

  struct raft* R(unsigned i) {
    return raft_fixture_get(&f_, i);
  }

  bool StepUntil(std::function<bool()> pred, unsigned max_ms) {
    return raft_fixture_step_until(
        &f_, [](raft_fixture*, void* arg) { return (*static_cast<std::function<bool()>*>(arg))(); }, &pred, max_ms);
  }

  unsigned LeaderIndex() {
    EXPECT_TRUE(raft_fixture_step_until_has_leader(&f_, 10000));
    return raft_fixture_leader_index(&f_);
  }

  ApplyReq* Apply(unsigned i, const std::string& cmd) {
    applies_.emplace_back();
    ApplyReq* a = &applies_.back();
    a->req.data = a;
    raft_buffer buf;
    buf.len = cmd.size();
    buf.base = raft_malloc(cmd.size());
    std::memcpy(buf.base, cmd.data(), cmd.size());
    int rv = raft_apply(R(i), &a->req, &buf, 1, [](struct raft_apply* req, int status, void*) {
      auto* a = static_cast<ApplyReq*>(req->data);
      a->done = true;
      a->status = status;
    });
    EXPECT_EQ(rv, 0) << raft_errmsg(R(i));
    if (rv != 0) raft_free(buf.base);
    return a;
  }

  BarrierReq* Barrier(unsigned i) {
    barriers_.emplace_back();
    BarrierReq* b = &barriers_.back();
    b->req.data = b;
    EXPECT_EQ(raft_barrier(R(i), &b->req,
                           [](struct raft_barrier* req, int status) {
                             auto* b = static_cast<BarrierReq*>(req->data);
                             b->done = true;
                             b->status = status;
                           }),
              0);
    return b;
  }

  ChangeReq* NewChange() {
    changes_.emplace_back();
    ChangeReq* c = &changes_.back();
    c->req.data = c;
    return c;
  }
  static void ChangeCb(struct raft_change* req, int status) {
    auto* c = static_cast<ChangeReq*>(req->data);
    c->done = true;
    c->status = status;
  }

  int RoleOf(unsigned on, raft_id id) {
    struct raft* r = R(on);
    for (unsigned k = 0; k < r->configuration.n; k++) {
      if (r->configuration.servers[k].id == id) return r->configuration.servers[k].role;
    }
    return -1;
  }

  raft_fixture f_{};
  RecordingFsm fsms_[RAFT_FIXTURE_MAX_SERVERS];
  // Requests outlive raft_fixture_close, which fails the pending ones.
  std::deque<ApplyReq> applies_;
  std::deque<BarrierReq> barriers_;
  std::deque<ChangeReq> changes_;
};

TEST_F(RaftFixtureTest, ElectsOneLeaderAndAppliesInOrderWithLastAppliedPlusOneIndexes) {
  unsigned leader = LeaderIndex();
  ASSERT_LT(leader, kServers);
  int leaders = 0;
  for (unsigned i = 0; i < kServers; i++) leaders += raft_state(R(i)) == RAFT_LEADER;
  EXPECT_EQ(leaders, 1);

  std::vector<ApplyReq*> reqs;
  for (int k = 0; k < 5; k++) reqs.push_back(Apply(leader, "cmd-" + std::to_string(k)));
  // libraft 0.15 appends nothing on election: index 1 is the bootstrap
  // configuration, the first command gets index 2. (So the Replicator issues
  // a barrier itself when it wins an election.)
  EXPECT_EQ(reqs[0]->req.index, 2u);
  BarrierReq* barrier = Barrier(leader);
  for (int k = 5; k < 10; k++) reqs.push_back(Apply(leader, "cmd-" + std::to_string(k)));
  // A barrier takes an index of its own, without an FSM apply.
  EXPECT_EQ(barrier->req.index, reqs[4]->req.index + 1);
  EXPECT_EQ(reqs[5]->req.index, barrier->req.index + 1);

  raft_index last = reqs.back()->req.index;
  ASSERT_TRUE(raft_fixture_step_until_applied(&f_, kServers, last, 5000));
  for (ApplyReq* a : reqs) {
    EXPECT_TRUE(a->done);
    EXPECT_EQ(a->status, 0);
  }
  EXPECT_TRUE(barrier->done);
  EXPECT_EQ(barrier->status, 0);

  for (unsigned i = 0; i < kServers; i++) {
    ASSERT_EQ(fsms_[i].applied.size(), reqs.size()) << "server " << i;
    for (size_t k = 0; k < reqs.size(); k++) {
      // The index computed at apply time is the entry's real index, on the
      // leader and on the followers alike.
      EXPECT_EQ(fsms_[i].applied[k].first, reqs[k]->req.index) << "server " << i << " command " << k;
      EXPECT_EQ(fsms_[i].applied[k].second, "cmd-" + std::to_string(k));
    }
  }
  // Followers know the leader.
  for (unsigned i = 0; i < kServers; i++) {
    raft_id id = 0;
    const char* address = nullptr;
    raft_leader(R(i), &id, &address);
    EXPECT_EQ(id, R(leader)->id) << "server " << i;
  }
}

TEST_F(RaftFixtureTest, LeaderLossElectsANewLeaderAndTheOldOneCatchesUpWhenRevived) {
  unsigned old_leader = LeaderIndex();
  ApplyReq* first = Apply(old_leader, "before");
  ASSERT_TRUE(raft_fixture_step_until_applied(&f_, kServers, first->req.index, 5000));

  raft_fixture_kill(&f_, old_leader);
  ASSERT_TRUE(raft_fixture_step_until_has_no_leader(&f_, 10000));
  ASSERT_TRUE(raft_fixture_step_until_has_leader(&f_, 10000));
  unsigned new_leader = raft_fixture_leader_index(&f_);
  ASSERT_NE(new_leader, old_leader);

  std::vector<ApplyReq*> reqs;
  for (int k = 0; k < 3; k++) reqs.push_back(Apply(new_leader, "after-" + std::to_string(k)));
  for (unsigned i = 0; i < kServers; i++) {
    if (i == old_leader) continue;
    ASSERT_TRUE(raft_fixture_step_until_applied(&f_, i, reqs.back()->req.index, 5000)) << "server " << i;
  }
  EXPECT_EQ(fsms_[old_leader].applied.size(), 1u);

  raft_fixture_revive(&f_, old_leader);
  ASSERT_TRUE(raft_fixture_step_until_applied(&f_, old_leader, reqs.back()->req.index, 10000));
  std::vector<std::string> want = {"before", "after-0", "after-1", "after-2"};
  for (unsigned i = 0; i < kServers; i++) EXPECT_EQ(fsms_[i].Commands(), want) << "server " << i;
  EXPECT_EQ(raft_state(R(old_leader)), RAFT_FOLLOWER);
}

TEST_F(RaftFixtureTest, PartitionedLeaderLosesItsUncommittedEntriesWhenHealed) {
  unsigned old_leader = LeaderIndex();
  ApplyReq* committed = Apply(old_leader, "committed");
  ASSERT_TRUE(raft_fixture_step_until_applied(&f_, kServers, committed->req.index, 5000));

  for (unsigned j = 0; j < kServers; j++) {
    if (j == old_leader) continue;
    raft_fixture_disconnect(&f_, old_leader, j);
    raft_fixture_disconnect(&f_, j, old_leader);
  }
  // The isolated leader still accepts proposals; they can never commit.
  ApplyReq* lost1 = Apply(old_leader, "lost-1");
  ApplyReq* lost2 = Apply(old_leader, "lost-2");

  // The majority side elects a leader of its own.
  unsigned new_leader = kServers;
  ASSERT_TRUE(StepUntil(
      [&] {
        for (unsigned i = 0; i < kServers; i++) {
          if (i != old_leader && raft_state(R(i)) == RAFT_LEADER) new_leader = i;
        }
        return new_leader != kServers;
      },
      10000));
  std::vector<ApplyReq*> reqs;
  for (int k = 0; k < 3; k++) reqs.push_back(Apply(new_leader, "majority-" + std::to_string(k)));
  for (unsigned i = 0; i < kServers; i++) {
    if (i == old_leader) continue;
    ASSERT_TRUE(raft_fixture_step_until_applied(&f_, i, reqs.back()->req.index, 5000));
  }
  // Without a majority the old leader steps down and fails what it held.
  ASSERT_TRUE(raft_fixture_step_until_state_is(&f_, old_leader, RAFT_FOLLOWER, 10000));
  EXPECT_TRUE(lost1->done);
  EXPECT_EQ(lost1->status, RAFT_LEADERSHIPLOST);
  EXPECT_TRUE(lost2->done);
  EXPECT_EQ(lost2->status, RAFT_LEADERSHIPLOST);

  for (unsigned j = 0; j < kServers; j++) {
    if (j == old_leader) continue;
    raft_fixture_reconnect(&f_, old_leader, j);
    raft_fixture_reconnect(&f_, j, old_leader);
  }
  // Healing truncates the old leader's uncommitted suffix and replaces it.
  ASSERT_TRUE(raft_fixture_step_until_applied(&f_, old_leader, reqs.back()->req.index, 10000));
  std::vector<std::string> want = {"committed", "majority-0", "majority-1", "majority-2"};
  for (unsigned i = 0; i < kServers; i++) EXPECT_EQ(fsms_[i].Commands(), want) << "server " << i;
}

// A known Raft safety bug of libraft 0.15 (fixed upstream after 0.15 by
// "replication: Don't commit entries from old terms by counting"): a new
// leader commits an entry of an earlier term as soon as a majority has it,
// without waiting for an entry of its own term (Raft §5.4.2, Figure 8).
// Pinned so that an upgrade which fixes it is noticed: then only the
// barrier the Replicator issues on winning an election commits such entries.
TEST_F(RaftFixtureTest, NewLeaderCommitsEntriesOfEarlierTermsByCounting) {
  unsigned old_leader = LeaderIndex();
  // The followers get the entry but the leader never hears back.
  for (unsigned j = 0; j < kServers; j++) {
    if (j != old_leader) raft_fixture_saturate(&f_, j, old_leader);
  }
  ApplyReq* e = Apply(old_leader, "earlier-term");
  for (unsigned j = 0; j < kServers; j++) {
    if (j == old_leader) continue;
    ASSERT_TRUE(StepUntil([&] { return raft_last_index(R(j)) >= e->req.index; }, 2000)) << "server " << j;
  }
  EXPECT_FALSE(e->done);
  raft_term entry_term = R(old_leader)->current_term;

  raft_fixture_kill(&f_, old_leader);
  unsigned new_leader = kServers;
  ASSERT_TRUE(StepUntil(
      [&] {
        for (unsigned i = 0; i < kServers; i++) {
          if (i != old_leader && raft_state(R(i)) == RAFT_LEADER) new_leader = i;
        }
        return new_leader != kServers;
      },
      10000));
  ASSERT_GT(R(new_leader)->current_term, entry_term);
  // Nothing is proposed in the new term, yet the entry commits and applies.
  ASSERT_TRUE(raft_fixture_step_until_applied(&f_, new_leader, e->req.index, 5000));
  EXPECT_EQ(raft_last_index(R(new_leader)), e->req.index);
  EXPECT_EQ(fsms_[new_leader].Commands(), std::vector<std::string>{"earlier-term"});
}

TEST_F(RaftFixtureTest, LaggingServerCatchesUpThroughAnAsyncSnapshot) {
  for (unsigned i = 0; i < kServers; i++) {
    raft_set_snapshot_threshold(R(i), 8);
    raft_set_snapshot_trailing(R(i), 2);
  }
  unsigned leader = LeaderIndex();
  unsigned lagging = (leader + 1) % kServers;
  raft_fixture_kill(&f_, lagging);

  std::vector<ApplyReq*> reqs;
  for (int k = 0; k < 40; k++) {
    reqs.push_back(Apply(leader, "c" + std::to_string(k)));
    // Let simulated time pass between proposals: the fixture's async work
    // (snapshot_async) takes 200ms, and one snapshot runs at a time.
    raft_fixture_step_until_elapsed(&f_, 60);
  }
  ASSERT_TRUE(raft_fixture_step_until_applied(&f_, leader, reqs.back()->req.index, 10000));
  raft_fixture_step_until_elapsed(&f_, 500);
  EXPECT_GE(fsms_[leader].snapshots, 2);
  // snapshot (loop) -> snapshot_async (worker) -> finalize (loop), each once.
  EXPECT_EQ(fsms_[leader].snapshot_asyncs, fsms_[leader].snapshots);
  EXPECT_EQ(fsms_[leader].finalizes, fsms_[leader].snapshot_asyncs);
  EXPECT_FALSE(fsms_[leader].out_of_order);
  // The leader's log no longer starts at 1.
  EXPECT_GT(R(leader)->log.snapshot.last_index, 0u);

  raft_fixture_revive(&f_, lagging);
  ASSERT_TRUE(raft_fixture_step_until_applied(&f_, lagging, reqs.back()->req.index, 20000));
  EXPECT_GE(fsms_[lagging].restores, 1);
  EXPECT_GE(raft_fixture_n_recv(&f_, lagging, RAFT_IO_INSTALL_SNAPSHOT), 1u);
  EXPECT_EQ(fsms_[lagging].Commands(), fsms_[leader].Commands());
  EXPECT_EQ(fsms_[lagging].applied, fsms_[leader].applied);
  EXPECT_EQ(fsms_[lagging].Commands().size(), 40u);
}

TEST_F(RaftFixtureTest, MembershipChangeIsAddAsSpareThenAssignVoter) {
  unsigned leader = LeaderIndex();
  std::vector<ApplyReq*> reqs;
  for (int k = 0; k < 5; k++) reqs.push_back(Apply(leader, "c" + std::to_string(k)));
  ASSERT_TRUE(raft_fixture_step_until_applied(&f_, kServers, reqs.back()->req.index, 5000));

  unsigned fresh = Grow();
  ASSERT_EQ(raft_start(R(fresh)), 0);
  raft_id fresh_id = R(fresh)->id;

  ChangeReq* add = NewChange();
  ASSERT_EQ(raft_add(R(leader), &add->req, fresh_id, R(fresh)->address, &ChangeCb), 0);
  ASSERT_TRUE(StepUntil([&] { return add->done; }, 5000));
  EXPECT_EQ(add->status, 0);
  EXPECT_EQ(RoleOf(leader, fresh_id), RAFT_SPARE);
  // A spare gets no entries.
  raft_fixture_step_until_elapsed(&f_, 2000);
  EXPECT_TRUE(fsms_[fresh].applied.empty());

  // Only one change at a time.
  ChangeReq* busy = NewChange();
  ChangeReq* assign = NewChange();
  ASSERT_EQ(raft_assign(R(leader), &assign->req, fresh_id, RAFT_VOTER, &ChangeCb), 0);
  EXPECT_EQ(raft_remove(R(leader), &busy->req, fresh_id, &ChangeCb), RAFT_CANTCHANGE);
  ASSERT_TRUE(StepUntil([&] { return assign->done; }, 10000));
  EXPECT_EQ(assign->status, 0);
  EXPECT_EQ(RoleOf(leader, fresh_id), RAFT_VOTER);

  ApplyReq* after = Apply(leader, "after");
  ASSERT_TRUE(raft_fixture_step_until_applied(&f_, fresh, after->req.index, 5000));
  std::vector<std::string> want = {"c0", "c1", "c2", "c3", "c4", "after"};
  EXPECT_EQ(fsms_[fresh].Commands(), want);

  // Removing a member: committed, then it is gone from the configuration.
  ChangeReq* remove = NewChange();
  ASSERT_EQ(raft_remove(R(leader), &remove->req, fresh_id, &ChangeCb), 0);
  ASSERT_TRUE(StepUntil([&] { return remove->done; }, 5000));
  EXPECT_EQ(remove->status, 0);
  EXPECT_EQ(RoleOf(leader, fresh_id), -1);
  ChangeReq* missing = NewChange();
  EXPECT_EQ(raft_remove(R(leader), &missing->req, fresh_id, &ChangeCb), RAFT_BADID);
}

}  // namespace
