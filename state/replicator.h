// state/replicator.h — consensus for the state store: Raft (Canonical's C
// libraft 0.15 with libuv I/O over TCP) behind one narrow interface, so the
// engine can be swapped (DESIGN.md §3).
//
// A Replicator replicates opaque commands to 1, 3 or 5 members and applies each
// committed command, in log order, exactly once per member, to a StateMachine.
// A write is acknowledged (Propose's callback) only after a majority has it and
// the local state machine has applied it. Pre-vote is on.
//
// Threads: libraft runs on one libuv loop thread owned by the Replicator. Every
// public method may be called from any thread (work is handed to the loop with
// uv_async); callbacks given to Propose/Barrier/AddMember/RemoveMember run on
// the loop thread and must not block — hand results to the waiting thread.
// The StateMachine's methods are called on the loop thread too (TakeSnapshot
// may opt out, see SnapshotsConcurrentWithApply).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace bosun::state {

// A committed command and its Raft log index, for StateMachine::ApplyBatch.
struct CommittedCommand {
  uint64_t index = 0;
  std::string_view command;
};

// What the Replicator drives. The store adapter implements it.
class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // Applies the command committed at `index`; the returned bytes go to the
  // proposer's callback (on the member that proposed it). Must be
  // deterministic: every member applies the same commands in the same order.
  // An error here is a bug or a broken disk: the member stops.
  virtual Result<std::string> Apply(uint64_t index, std::string_view command) = 0;
  // Applies consecutive committed commands in log order, with the same
  // outcome as Apply on each in turn, one result per command. The Replicator
  // calls this with the commands committed in one turn of its loop (a
  // bounded number), so a state machine may write them to disk together; no
  // proposer is answered, and no barrier or snapshot proceeds, before it
  // returns. The default calls Apply for each. An error stops the member, as
  // in Apply.
  virtual Result<std::vector<std::string>> ApplyBatch(const std::vector<CommittedCommand>& commands);
  // The index of the last command already applied to durable state (after a
  // restart, entries up to it are skipped by the state machine itself).
  virtual uint64_t AppliedIndex() const = 0;
  // Serialises the whole state for a Raft snapshot (a RocksDB checkpoint,
  // packed). Called on the loop thread unless SnapshotsConcurrentWithApply()
  // says otherwise; may be slow.
  virtual Result<std::string> TakeSnapshot() = 0;
  // Replaces the whole state with a snapshot from TakeSnapshot. Also called
  // when a member starts and its Raft folder holds a snapshot; the log after
  // it is then replayed (entries the state already has are skipped by index).
  virtual Status RestoreSnapshot(std::string_view snapshot) = 0;
  // Opt-in: true lets TakeSnapshot run on a libuv worker thread while Apply
  // goes on on the loop thread (libraft's async snapshot), so a slow snapshot
  // does not stall heartbeats. The snapshot may then also hold commands
  // applied after the index Raft records for it, which is safe because
  // replay is idempotent by index. Default false: TakeSnapshot runs on the
  // loop thread between two Applies.
  virtual bool SnapshotsConcurrentWithApply() const { return false; }
  // Opt-in, for a state machine whose state is durable by itself and holds
  // the index it applied up to (the store's m/applied row), as etcd's
  // backend does. libraft's snapshots are then references: to take one, the
  // Replicator calls MakeDurable (an fsync, instead of packing the whole
  // state) and libraft keeps only "index N is durable". The whole state is
  // packed (TakeSnapshot) only when the leader sends a snapshot to a member
  // whose log is too far behind, at that moment, so it may hold commands
  // after N (replay skips them by index). A member that starts from a
  // reference checks AppliedIndex() >= N and refuses to start otherwise.
  virtual bool StateIsDurable() const { return false; }
  // Makes everything applied so far durable. Called where TakeSnapshot
  // would be (same thread rules); an error means "try at the next
  // threshold".
  virtual Status MakeDurable() { return Error(Code::kInternal, "this state machine does not keep durable state"); }
};

struct Member {
  uint64_t id = 0;          // > 0, unique in the cluster
  std::string address;      // "127.0.0.1:7001": the Raft TCP address
  bool voter = true;
};

struct MemberStatus {
  Member member;
  std::string role;         // "leader", "follower", "candidate", "spare/standby", "unavailable"
  bool is_leader = false;
};

struct ReplicatorOptions {
  uint64_t id = 1;
  std::string address;      // this member's Raft address (listen and advertise)
  std::string dir;          // Raft log and snapshots (its own folder)
  // The first configuration, used only when `dir` holds no Raft state yet and
  // `join` is false. A single member lists only itself.
  std::vector<Member> bootstrap;
  // Start empty and wait to be added by the leader (AddMember on the leader).
  // A member that lost its folder must be removed (RemoveMember) before it
  // joins again under its id: libraft 0.15's leader keeps the old progress of
  // a member it still has and never sends it the log again.
  bool join = false;
  std::chrono::milliseconds election_timeout{1000};
  std::chrono::milliseconds heartbeat_timeout{100};
  // Entries between snapshots. A snapshot packs the whole store (a RocksDB
  // checkpoint) and libraft writes it to disk: its cost grows with the store,
  // so it is taken rarely, as etcd does (--snapshot-count, 100,000 in 3.4).
  // libraft keeps the entries since the last snapshot in memory (~40 MiB for
  // 65,536 small writes). At 8,192, under 100 writers, a snapshot every
  // second was the slowest 1% of writes (docs/PERFORMANCE.md, "State").
  unsigned snapshot_threshold = 65536;
  unsigned snapshot_trailing = 2048;   // entries kept after a snapshot
  // The leader sends a snapshot again when a follower has not confirmed it
  // within this time. libraft 0.15 followers silently drop a snapshot that
  // arrives while they take their own, so this is also how long such a
  // follower stays behind; too short resends large snapshots needlessly.
  std::chrono::milliseconds install_snapshot_timeout{10000};
  // Called once, from the Raft loop's thread, when the state machine failed
  // and this member stopped itself (a full disk, a broken store): what
  // applies no more entries is of no use, and a process that runs on looks
  // alive. Must not block. May be null.
  std::function<void(const std::string& why)> on_fatal;
};

class Replicator {
 public:
  virtual ~Replicator() = default;  // stops (as Stop())

  static Result<std::unique_ptr<Replicator>> Start(const ReplicatorOptions& options, StateMachine* fsm);

  // Replicates `command`. `done` gets the state machine's result once the
  // command is committed and applied here, or an error: kUnavailable with the
  // leader's id and address in the message when this member is not the leader
  // ("not the leader; the leader is 2 at 127.0.0.1:7002"), kUnavailable when
  // leadership was lost before commit (the command may or may not be applied).
  virtual void Propose(std::string command, std::function<void(Result<std::string>)> done) = 0;

  // Calls `done` once every command committed before this call has been
  // applied here, as confirmed by a round with a majority: a read made after
  // `done` is linearizable. Many calls waiting at once share one raft_barrier.
  // Only on the leader (else kUnavailable with the leader hint).
  virtual void Barrier(std::function<void(Status)> done) = 0;

  virtual bool IsLeader() const = 0;
  // The leader as this member last knew it; nullopt when there is none.
  virtual std::optional<Member> Leader() const = 0;
  virtual std::vector<MemberStatus> Members() const = 0;
  virtual uint64_t LastApplied() const = 0;
  virtual uint64_t Id() const = 0;

  // Membership changes, on the leader: add a voter (it catches up, then
  // votes), remove a member. `done` runs when the change is committed.
  virtual void AddMember(const Member& member, std::function<void(Status)> done) = 0;
  virtual void RemoveMember(uint64_t id, std::function<void(Status)> done) = 0;

  // Stops the member: closes Raft (from a loop turn, never from inside a
  // callback), then the transport, then joins the loop thread. Pending
  // callbacks get kUnavailable. Idempotent. Calls made after Stop fail at
  // once with kUnavailable, on the calling thread. Called from inside a
  // callback it only starts the closing; the destructor (never from inside
  // a callback) joins.
  virtual void Stop() = 0;
};

}  // namespace bosun::state
