// state/replicator_internal.h — the libraft 0.15 implementation of Replicator.
// Private to state/ and its tests (which read the test counters below).
//
// Layout of the work: one thread runs one libuv loop; libraft, its libuv I/O
// and every StateMachine call live on it. Public methods turn into closures
// queued under `queue_mu_` and woken with `uv_async_send`. What other threads
// read (role, leader, configuration, last applied) is copied into `status_`
// after every loop iteration (a uv_check handle) and after each apply.
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

 private:
  using ProposeDone = std::function<void(Result<std::string>)>;
  using StatusDone = std::function<void(Status)>;

  struct ProposeRequest {
    struct raft_apply req {};
    ReplicatorImpl* self = nullptr;
    ProposeDone done;
    std::string result;  // set by the FSM apply callback for this index
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
  static void OnRaftClosed(struct raft* r);

  // ---- loop thread (replicator_fsm.cc) ----
  void InitFsm();
  static int FsmApply(raft_fsm* fsm, const raft_buffer* buf, void** result);
  static int FsmSnapshot(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs);
  static int FsmSnapshotAsync(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs);
  static int FsmSnapshotFinalize(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs);
  static int FsmRestore(raft_fsm* fsm, raft_buffer* buf);
  int TakeSnapshotInto(raft_buffer* bufs[], unsigned* n_bufs);
  void FailFatally(const std::string& why);

  // ---- loop thread (replicator_ops.cc) ----
  // Why this member cannot take a leader-only request right now, or nullopt
  // when it is the leader and open.
  std::optional<Error> NotLeaderError();
  Error StoppedError() const;
  Error RaftError(int rv, const std::string& what, bool from_call = true) const;
  void DoPropose(std::string command, ProposeDone done);
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
  raft_uv_transport transport_{};
  raft_io io_{};
  raft_fsm fsm_{};
  struct raft raft_ {};
  bool raft_closing_ = false;                        // raft_close called or about to be
  bool was_leader_ = false;                          // for noticing a won election
  std::optional<std::string> fatal_;                 // why the member stopped itself
  std::map<raft_index, ProposeRequest*> proposals_;  // in flight, by log index
  BarrierRequest* barrier_in_flight_ = nullptr;
  std::vector<StatusDone> next_barrier_waiters_;
  std::string snapshot_data_;                   // the buffer libraft is writing, until finalize
  uint64_t snapshot_index_ = 0;                 // index of the snapshot being taken
  std::atomic<uint64_t> snapshot_retry_at_{0};  // after a failed snapshot

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
};

}  // namespace bosun::state::internal
