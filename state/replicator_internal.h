// state/replicator_internal.h — the libraft 0.15 implementation of Replicator.
// Private to state/ and its tests (which read the test counters below).
//
// Layout of the work: one thread runs one libuv loop; libraft, its libuv I/O
// and every StateMachine call live on it. Public methods turn into closures
// queued under `queue_mu_` and woken with `uv_async_send`. What other threads
// read (role, leader, configuration, last applied) is copied into `status_`
// after every loop iteration (a uv_check handle) and after each apply.
//
// Group commit: proposals queued while the loop was busy are not appended one
// by one. RunQueued collects every DoPropose of one loop turn and then makes
// one raft_apply with all their entries (FlushProposals): one in-memory log
// append, one replication message per follower and one disk write for the
// lot (libraft's uv append also coalesces the writes queued while one is in
// flight). Each command stays its own Raft entry, applied by the state
// machine with its own index, so replay stays idempotent per command and a
// failed precondition fails only its own command. libraft calls a
// raft_apply's callback once, after its FIRST entry is applied, so the
// per-command waiters are kept by index (waiters_).
//
// Batch apply: FsmApply does not apply a committed entry at once; it copies
// the command (and takes its waiter) into staged_. FlushApplied hands all
// staged commands to StateMachine::ApplyBatch (the store writes them in one
// RocksDB WriteBatch) and only then answers their proposers. It runs before
// the loop would block (a uv_prepare handle) and at the end of each loop turn
// (the uv_check handle), and before anything that must see the applied state:
// a barrier's waiters, a snapshot, a restore, the close. So a proposer is
// answered only after its command is in the store, a linearizable read after
// a barrier sees every write before it, and a snapshot at index I holds every
// entry up to I.
//
// The loop thread is the one serial path every write and linearizable read
// goes through; it runs at a raised scheduling priority (kLoopNice) when the
// process may raise it, so a busy machine does not starve consensus.
//
// Files: replicator.cc (start, loop, stop, status), replicator_fsm.cc (the
// raft_fsm callbacks), replicator_ops.cc (Propose, Barrier, membership).
#pragma once

extern "C" {
#include <raft.h>
#include <raft/uv.h>
}

#include <atomic>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "state/raft_transport.h"
#include "state/replicator.h"

namespace bosun::state::internal {

// How a command is stored in a Raft log entry. libraft 0.15's disk format
// pads entry data to 8 bytes when writing but not when reading back (an
// assert that the length is a multiple of 8 is compiled out of release
// builds), so an entry of any other length corrupts the segment it is in.
// Every command is therefore framed to a multiple of 8 bytes:
//   bytes 0-3  command length, little endian
//   byte  4    format, 1
//   bytes 5-7  zero
//   then the command, then zeros up to a multiple of 8.
constexpr size_t kEntryHeaderSize = 8;
constexpr uint8_t kEntryFormat = 1;
// The size of a Raft log segment file (libraft's default is 8 MB).
constexpr size_t kRaftSegmentBytes = 32u << 20;
// Group commit bounds: at most this many commands, or about this many bytes,
// go into one raft_apply (a larger batch is split into several).
constexpr size_t kMaxBatchEntries = 512;
constexpr size_t kMaxBatchBytes = 4u << 20;
// Batch apply bounds: committed commands staged for one StateMachine::ApplyBatch.
constexpr size_t kMaxApplyBatch = 512;
constexpr size_t kMaxApplyBatchBytes = 4u << 20;
// The nice value of the loop thread (lower runs first; Linux applies it per
// thread). Raising priority needs CAP_SYS_NICE: without it the loop runs at
// the process's priority.
constexpr int kLoopNice = -10;
// Fills a raft_malloc'd buffer with the framed command; false when out of
// memory or the command is too long for one entry.
bool FrameCommand(std::string_view command, raft_buffer* out);
// The command inside an entry's data, or nullopt when it is not framed as
// above.
std::optional<std::string_view> UnframeCommand(const raft_buffer& buf);

class ReplicatorImpl final : public Replicator {
 public:
  ReplicatorImpl(ReplicatorOptions options, StateMachine* fsm);
  ~ReplicatorImpl() override;
  ReplicatorImpl(const ReplicatorImpl&) = delete;
  ReplicatorImpl& operator=(const ReplicatorImpl&) = delete;

  // Starts the loop thread and waits until libraft has started on it (or
  // failed to; then the thread has ended and everything is released).
  Status Run();

  void Propose(std::string command, std::function<void(Result<std::string>)> done) override;
  void Barrier(std::function<void(Status)> done) override;
  bool IsLeader() const override;
  std::optional<Member> Leader() const override;
  std::vector<MemberStatus> Members() const override;
  uint64_t LastApplied() const override;
  uint64_t Id() const override { return options_.id; }
  void AddMember(const Member& member, std::function<void(Status)> done) override;
  void RemoveMember(uint64_t id, std::function<void(Status)> done) override;
  void Stop() override;

  // For tests: raft_barrier calls made so far (user barriers and the one
  // issued on winning an election), and snapshots taken.
  uint64_t barrier_rounds() const { return barrier_rounds_.load(); }
  uint64_t snapshots_taken() const { return snapshots_taken_.load(); }
  // For tests: raft_apply calls made so far, and commands they carried.
  uint64_t apply_calls() const { return apply_calls_.load(); }
  uint64_t commands_proposed() const { return commands_proposed_.load(); }
  // For tests: StateMachine::ApplyBatch calls made so far.
  uint64_t apply_batches() const { return apply_batches_.load(); }

 private:
  using ProposeDone = std::function<void(Result<std::string>)>;
  using StatusDone = std::function<void(Status)>;

  // One raft_apply: entries first .. first + n - 1, each with its waiter in
  // waiters_ until it is applied or fails.
  struct ProposeRequest {
    struct raft_apply req {};
    ReplicatorImpl* self = nullptr;
    raft_index first = 0;
    unsigned n = 0;
  };
  // The proposer of the command at one index, in the term it was appended.
  struct Waiter {
    raft_term term = 0;
    ProposeDone done;
  };
  // A command waiting for this loop turn's raft_apply.
  struct Pending {
    std::string command;
    ProposeDone done;
  };
  // A committed command waiting for FlushApplied, with its proposer's
  // waiter when it was proposed here (`ours`: the entry is the one proposed,
  // decided when libraft applied it).
  struct Staged {
    raft_index index = 0;
    std::string command;
    ProposeDone done;
    bool ours = false;
  };
  struct BarrierRequest {
    struct raft_barrier req {};
    ReplicatorImpl* self = nullptr;
    std::vector<StatusDone> waiters;
  };
  struct ChangeRequest {
    enum class Step { kAdd, kAssign, kRemove };
    struct raft_change req {};
    ReplicatorImpl* self = nullptr;
    Step step = Step::kAdd;
    Member member;
    StatusDone done;
  };

  // What other threads may read, refreshed on the loop thread.
  struct Observed {
    int state = RAFT_UNAVAILABLE;
    uint64_t leader_id = 0;
    std::string leader_address;
    std::vector<Member> configuration;
  };

  // ---- any thread (replicator.cc) ----
  // Queues `fn` for the loop thread. False once the member is closing: the
  // caller then fails its callback itself.
  bool Post(std::function<void()> fn);
  // Queues the closing of libraft (once); used by Stop and on a fatal error.
  void RequestClose();
  Error ClosedError() const;

  // ---- loop thread (replicator.cc) ----
  void ThreadMain(std::promise<Status>* started);
  Status StartRaft();
  void ShutDownLoop();  // closes our handles and runs the loop dry
  void RunQueued();
  void RefreshStatus();
  void OnBecameLeader();
  static void OnAsync(uv_async_t* handle);
  static void OnCheck(uv_check_t* handle);
  static void OnPrepare(uv_prepare_t* handle);
  static void OnRaftClosed(struct raft* r);

  // ---- loop thread (replicator_fsm.cc) ----
  void InitFsm();
  static int FsmApply(raft_fsm* fsm, const raft_buffer* buf, void** result);
  static int FsmSnapshot(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs);
  static int FsmSnapshotAsync(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs);
  static int FsmSnapshotFinalize(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs);
  static int FsmRestore(raft_fsm* fsm, raft_buffer* buf);
  int TakeSnapshotInto(raft_buffer* bufs[], unsigned* n_bufs);
  // libraft's io->snapshot_get, wrapped (replicator_fsm.cc): when the
  // latest snapshot is a reference (StateMachine::StateIsDurable), what the
  // leader sends a member is the whole state, packed then.
  struct SnapshotSend;
  static int GetSnapshotToSend(raft_io* io, raft_io_snapshot_get* req, raft_io_snapshot_get_cb cb);
  static void OnSnapshotLoaded(raft_io_snapshot_get* inner, raft_snapshot* snapshot, int status);
  static void PackForSend(uv_work_t* work);
  static void AfterPackForSend(uv_work_t* work, int status);
  void StartPack();
  void FinishSnapshotSend(SnapshotSend* send, int status);
  // raft_close, or once the snapshot sends in flight are done when there are any.
  void CloseRaft();
  // Applies what FsmApply staged (one StateMachine::ApplyBatch), then answers
  // the proposers. Loop thread; cheap when nothing is staged.
  void FlushApplied();
  void FailFatally(const std::string& why);

  // ---- loop thread (replicator_ops.cc) ----
  // Why this member cannot take a leader-only request right now, or nullopt
  // when it is the leader and open.
  std::optional<Error> NotLeaderError();
  Error StoppedError() const;
  Error RaftError(int rv, const std::string& what, bool from_call = true) const;
  void DoPropose(std::string command, ProposeDone done);
  void FlushProposals();  // one raft_apply for what DoPropose collected
  void ApplyBatch(std::vector<Pending> batch);
  // Fails every waiter not in `term` as leader (all of them when this member
  // no longer leads or is closing), in index order.
  void FailStaleWaiters();
  void FailWaiters(raft_index first, unsigned n, const Error& e);
  Error LeadershipLostError() const;
  void DoBarrier(StatusDone done);
  void IssueBarrier(std::vector<StatusDone> waiters);
  void DoAddMember(Member member, StatusDone done);
  void DoAssign(ChangeRequest* change);
  void DoRemoveMember(uint64_t id, StatusDone done);
  static void OnApplied(struct raft_apply* req, int status, void* result);
  static void OnBarrier(struct raft_barrier* req, int status);
  static void OnChange(raft_change* req, int status);

  const ReplicatorOptions options_;
  StateMachine* const sm_;

  // libuv and libraft objects: used only on the loop thread (and by Run
  // before the thread starts / after it ends).
  uv_loop_t loop_{};
  uv_async_t async_{};
  uv_check_t check_{};
  uv_prepare_t prepare_{};
  NoDelayTransport transport_;  // libraft's TCP transport, TCP_NODELAY on
  raft_io io_{};
  raft_fsm fsm_{};
  struct raft raft_ {};
  bool raft_closing_ = false;                        // raft_close called or about to be
  bool was_leader_ = false;                          // for noticing a won election
  std::optional<std::string> fatal_;                 // why the member stopped itself
  std::map<raft_index, Waiter> waiters_;             // proposed here, not yet applied, by log index
  std::vector<Pending> pending_;                     // this loop turn's proposals
  size_t pending_bytes_ = 0;
  std::vector<Staged> staged_;  // committed, not yet applied to the state machine
  size_t staged_bytes_ = 0;
  BarrierRequest* barrier_in_flight_ = nullptr;
  std::vector<StatusDone> next_barrier_waiters_;
  std::string snapshot_data_;                   // the buffer libraft is writing, until finalize
  uint64_t snapshot_index_ = 0;                 // index of the snapshot being taken
  // The state machine's applied index when it was taken: what a reference
  // names. Below snapshot_index_ when the last entries were barriers or
  // configuration changes, which libraft applies without the state machine.
  uint64_t snapshot_state_index_ = 0;
  std::atomic<uint64_t> snapshot_retry_at_{0};  // after a failed snapshot
  // raft_uv's own snapshot_get, which GetSnapshotToSend wraps.
  int (*uv_snapshot_get_)(raft_io*, raft_io_snapshot_get*, raft_io_snapshot_get_cb) = nullptr;
  int snapshot_sends_ = 0;             // GetSnapshotToSend calls not yet answered
  bool close_after_sends_ = false;     // raft_close waits for them (libraft must hear back first)
  // One whole-state pack at a time; every send that asks meanwhile waits
  // for it (loop thread), and gets a copy.
  struct PackJob;
  bool packing_ = false;
  std::vector<SnapshotSend*> pack_waiters_;
  std::optional<std::string> restore_error_;  // why FsmRestore refused, for Start's error

  std::thread thread_;
  std::thread::id loop_thread_id_;

  std::mutex queue_mu_;
  std::deque<std::function<void()>> queue_;  // guarded by queue_mu_
  bool queue_closed_ = false;                // guarded by queue_mu_
  bool close_requested_ = false;             // guarded by queue_mu_
  bool running_ = false;                     // the loop thread is up (set by Run)

  std::mutex stop_mu_;  // serialises Stop() callers

  mutable std::mutex status_mu_;
  Observed status_;  // guarded by status_mu_
  std::atomic<uint64_t> last_applied_{0};
  std::atomic<uint64_t> barrier_rounds_{0};
  std::atomic<uint64_t> snapshots_taken_{0};
  std::atomic<uint64_t> apply_calls_{0};
  std::atomic<uint64_t> commands_proposed_{0};
  std::atomic<uint64_t> apply_batches_{0};
};

}  // namespace bosun::state::internal
