// state/replicator.cc — starting, running and stopping the libraft loop, and
// the status other threads read. See replicator_internal.h for the layout.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/log.h"
#include "state/replicator_internal.h"

namespace bosun::state {

Result<std::unique_ptr<Replicator>> Replicator::Start(const ReplicatorOptions& options, StateMachine* fsm) {
  if (fsm == nullptr) return Error(Code::kInvalid, "replicator: no state machine");
  if (options.id == 0) return Error(Code::kInvalid, "replicator: member id must be greater than 0");
  if (options.address.empty()) return Error(Code::kInvalid, "replicator: address is required");
  if (options.dir.empty()) return Error(Code::kInvalid, "replicator: dir is required");
  if (options.heartbeat_timeout.count() <= 0 || options.heartbeat_timeout >= options.election_timeout) {
    return Error(Code::kInvalid, "replicator: heartbeat timeout (" + std::to_string(options.heartbeat_timeout.count()) +
                                     "ms) must be positive and shorter than the election timeout (" +
                                     std::to_string(options.election_timeout.count()) + "ms)");
  }
  if (options.snapshot_threshold == 0) return Error(Code::kInvalid, "replicator: snapshot threshold must be > 0");
  if (options.install_snapshot_timeout.count() <= 0) {
    return Error(Code::kInvalid, "replicator: install snapshot timeout must be positive");
  }
  for (const Member& m : options.bootstrap) {
    if (m.id == 0 || m.address.empty()) {
      return Error(Code::kInvalid, "replicator: bootstrap members need an id > 0 and an address");
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return Error(Code::kIo, options.dir + ": " + ec.message());

  auto impl = std::make_unique<internal::ReplicatorImpl>(options, fsm);
  Status started = impl->Run();
  if (!started) return started.error();
  return std::unique_ptr<Replicator>(std::move(impl));
}

namespace internal {
namespace {

const char* kComponent = "replicator";

const char* StateName(int state) {
  switch (state) {
    case RAFT_LEADER:
      return "leader";
    case RAFT_FOLLOWER:
      return "follower";
    case RAFT_CANDIDATE:
      return "candidate";
    default:
      return "unavailable";
  }
}

}  // namespace

ReplicatorImpl::ReplicatorImpl(ReplicatorOptions options, StateMachine* fsm) : options_(std::move(options)), sm_(fsm) {}

ReplicatorImpl::~ReplicatorImpl() {
  // Destroying the member from inside one of its own callbacks would free the
  // loop under its feet: a bug in the caller.
  assert(!running_ || std::this_thread::get_id() != loop_thread_id_);
  Stop();
}

Status ReplicatorImpl::Run() {
  std::promise<Status> started;
  std::future<Status> result = started.get_future();
  thread_ = std::thread([this, &started] { ThreadMain(&started); });
  Status st = result.get();
  if (!st) {
    thread_.join();
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_closed_ = true;
    close_requested_ = true;
    return st;
  }
  running_ = true;
  return Ok();
}

void ReplicatorImpl::ThreadMain(std::promise<Status>* started) {
  loop_thread_id_ = std::this_thread::get_id();
  // libuv writes to peers' sockets from this thread; a peer that went away
  // would raise SIGPIPE and kill the process. Blocked here (not ignored
  // process-wide), the write fails with EPIPE and libraft reconnects.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  // Every write and linearizable read passes through this one thread; on a
  // machine busy with many other threads a fair share starves it (measured:
  // runnable-but-waiting most of the time under 100 HTTP clients). Linux
  // applies a nice value to the calling thread only. Without CAP_SYS_NICE
  // this fails and the thread keeps the process's priority.
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kLoopNice) != 0) {
    log::Debug(kComponent, "cannot raise the raft loop's priority", {{"error", std::strerror(errno)}});
  }
  Status st = StartRaft();
  if (!st) {
    started->set_value(st);
    return;
  }
  RefreshStatus();
  log::Info(kComponent, "started", {{"id", std::to_string(options_.id)}, {"address", options_.address}});
  started->set_value(Ok());
  uv_run(&loop_, UV_RUN_DEFAULT);
  int rv = uv_loop_close(&loop_);
  if (rv != 0) log::Warn(kComponent, "loop still busy at close", {{"error", uv_strerror(rv)}});
}

Status ReplicatorImpl::StartRaft() {
  const std::string where = "raft member " + std::to_string(options_.id) + " at " + options_.address;
  int rv = uv_loop_init(&loop_);
  if (rv != 0) return Error(Code::kInternal, where + ": uv_loop_init: " + uv_strerror(rv));
  uv_async_init(&loop_, &async_, &ReplicatorImpl::OnAsync);
  async_.data = this;
  uv_check_init(&loop_, &check_);
  check_.data = this;
  uv_check_start(&check_, &ReplicatorImpl::OnCheck);
  uv_prepare_init(&loop_, &prepare_);
  prepare_.data = this;
  uv_prepare_start(&prepare_, &ReplicatorImpl::OnPrepare);

  rv = transport_.Init(&loop_);
  if (rv != 0) {
    ShutDownLoop();
    return Error(Code::kInternal, where + ": transport: " + transport_.errmsg());
  }
  rv = raft_uv_init(&io_, &loop_, options_.dir.c_str(), transport_.get());
  if (rv != 0) {
    std::string msg = io_.errmsg;
    transport_.Release();
    ShutDownLoop();
    return Error(Code::kIo, where + ": " + options_.dir + ": " + (msg.empty() ? raft_strerror(rv) : msg));
  }
  // raft_uv implements async_work (libraft's async snapshots) but reports
  // io version 1, and raft_init then refuses an fsm with snapshot_async.
  io_.version = 2;
  // libraft's auto-recovery renames a segment it cannot read to "corrupt-*"
  // and starts without it: acknowledged entries silently gone. A member that
  // cannot read its log must fail to start instead.
  raft_uv_set_auto_recovery(&io_, false);
  // libraft LZ4-compresses each snapshot by default. Ours is RocksDB's files,
  // already compressed: LZ4 buys little and costs seconds of CPU on a large
  // store, taken from every write running meanwhile. (A compressed snapshot
  // written before still loads: libraft reads the LZ4 frame header.)
  raft_uv_set_snapshot_compression(&io_, false);
  // libraft's segments are 8 MB by default: 100 clients writing 1 KiB
  // objects filled one every ~0.5 s, and each switch to a new segment held
  // the appends behind it (p99 ~40 ms against etcd's ~25). With 32 MB the p99
  // of that load is 13–16 ms on one member (bench_state, docs/PERFORMANCE.md).
  raft_uv_set_segment_size(&io_, kRaftSegmentBytes);
  // What the leader sends a member behind its log goes through us: a
  // reference snapshot is replaced by the whole state (replicator_fsm.cc).
  uv_snapshot_get_ = io_.snapshot_get;
  io_.snapshot_get = &ReplicatorImpl::GetSnapshotToSend;
  // A peer that went away is retried this often; libraft's default (1s) makes
  // a restarted member wait needlessly on fast timeouts.
  raft_uv_set_connect_retry_delay(&io_, static_cast<unsigned>(options_.election_timeout.count() / 2));

  InitFsm();
  rv = raft_init(&raft_, &io_, &fsm_, options_.id, options_.address.c_str());
  if (rv != 0) {
    std::string msg = raft_errmsg(&raft_);
    raft_uv_close(&io_);
    transport_.Release();
    ShutDownLoop();
    return Error(Code::kIo, where + ": " + (msg.empty() ? raft_strerror(rv) : msg));
  }
  raft_.data = this;
  raft_set_pre_vote(&raft_, true);
  raft_set_election_timeout(&raft_, static_cast<unsigned>(options_.election_timeout.count()));
  raft_set_heartbeat_timeout(&raft_, static_cast<unsigned>(options_.heartbeat_timeout.count()));
  raft_set_snapshot_threshold(&raft_, options_.snapshot_threshold);
  raft_set_snapshot_trailing(&raft_, options_.snapshot_trailing);
  raft_set_install_snapshot_timeout(&raft_, static_cast<unsigned>(options_.install_snapshot_timeout.count()));

  Status st = Ok();
  if (!options_.join && !options_.bootstrap.empty()) {
    raft_configuration conf;
    raft_configuration_init(&conf);
    for (const Member& m : options_.bootstrap) {
      rv = raft_configuration_add(&conf, m.id, m.address.c_str(), m.voter ? RAFT_VOTER : RAFT_STANDBY);
      if (rv != 0) {
        st = Error(Code::kInvalid, where + ": bootstrap member " + std::to_string(m.id) + ": " + raft_strerror(rv));
        break;
      }
    }
    if (st) {
      // RAFT_CANTBOOTSTRAP means the folder already holds Raft state: a
      // restart, which is the normal case.
      rv = raft_bootstrap(&raft_, &conf);
      if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
        st = Error(Code::kIo, where + ": bootstrap: " + raft_errmsg(&raft_));
      }
    }
    raft_configuration_close(&conf);
  }
  if (st) {
    rv = raft_start(&raft_);
    if (rv != 0) {
      std::string msg = restore_error_ ? *restore_error_ : raft_errmsg(&raft_);
      if (msg.empty()) msg = transport_.listen_error();
      st = Error(rv == RAFT_NOMEM ? Code::kInternal : Code::kIo,
                 where + ": start: " + (msg.empty() ? raft_strerror(rv) : msg));
    }
  }
  if (!st) {
    // raft_close releases the io and the transport through OnRaftClosed,
    // which also closes our handles; running the loop then finishes it.
    raft_closing_ = true;
    raft_close(&raft_, &ReplicatorImpl::OnRaftClosed);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    return st;
  }
  return Ok();
}

void ReplicatorImpl::ShutDownLoop() {
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

void ReplicatorImpl::OnRaftClosed(struct raft* r) {
  auto* self = static_cast<ReplicatorImpl*>(r->data);
  // raft_close has closed the io, which closed the transport; what is left
  // is releasing their memory, in this order.
  raft_uv_close(&self->io_);
  self->transport_.Release();
  uv_close(reinterpret_cast<uv_handle_t*>(&self->async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->check_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->prepare_), nullptr);
  // Entries libraft applied before closing are committed: into the store
  // with them, and their proposers answered.
  self->FlushApplied();
  // libraft failed its own requests in raft_close; the commands of a
  // multi-entry raft_apply whose first entry had applied are still here.
  self->FailStaleWaiters();
  {
    std::lock_guard<std::mutex> lock(self->status_mu_);
    self->status_.state = RAFT_UNAVAILABLE;
    self->status_.leader_id = 0;
    self->status_.leader_address.clear();
  }
  log::Info(kComponent, "stopped", {{"id", std::to_string(self->options_.id)}});
}

bool ReplicatorImpl::Post(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(queue_mu_);
  if (queue_closed_) return false;
  queue_.push_back(std::move(fn));
  uv_async_send(&async_);
  return true;
}

void ReplicatorImpl::RequestClose() {
  std::lock_guard<std::mutex> lock(queue_mu_);
  if (close_requested_) return;
  close_requested_ = true;
  // Nothing is queued after the closing: later calls fail at once. What was
  // queued before runs first and sees the member still open.
  queue_closed_ = true;
  queue_.push_back([this] {
    if (!raft_closing_) CloseRaft();
  });
  uv_async_send(&async_);
}

void ReplicatorImpl::OnAsync(uv_async_t* handle) {
  static_cast<ReplicatorImpl*>(handle->data)->RunQueued();
}

void ReplicatorImpl::RunQueued() {
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    batch.swap(queue_);
  }
  for (auto& fn : batch) fn();
  // Group commit: everything proposed in this turn goes out in one raft_apply.
  FlushProposals();
}

// Before the loop blocks: what was applied in this turn's timers goes to the
// state machine now, not after the next event.
void ReplicatorImpl::OnPrepare(uv_prepare_t* handle) {
  static_cast<ReplicatorImpl*>(handle->data)->FlushApplied();
}

void ReplicatorImpl::OnCheck(uv_check_t* handle) {
  auto* self = static_cast<ReplicatorImpl*>(handle->data);
  // At the end of the turn: what this turn's events committed is applied
  // in one batch and its proposers answered.
  self->FlushApplied();
  if (self->raft_closing_) return;
  self->FailStaleWaiters();
  self->RefreshStatus();
  bool leader = raft_state(&self->raft_) == RAFT_LEADER;
  if (leader && !self->was_leader_) self->OnBecameLeader();
  self->was_leader_ = leader;
}

void ReplicatorImpl::RefreshStatus() {
  Observed now;
  now.state = raft_state(&raft_);
  raft_id leader_id = 0;
  const char* leader_address = nullptr;
  raft_leader(&raft_, &leader_id, &leader_address);
  now.leader_id = leader_id;
  if (leader_address != nullptr) now.leader_address = leader_address;
  now.configuration.reserve(raft_.configuration.n);
  for (unsigned i = 0; i < raft_.configuration.n; i++) {
    const raft_server& s = raft_.configuration.servers[i];
    now.configuration.push_back(Member{s.id, s.address, s.role == RAFT_VOTER});
  }
  uint64_t applied = raft_last_applied(&raft_);
  if (applied > last_applied_.load()) last_applied_.store(applied);
  std::lock_guard<std::mutex> lock(status_mu_);
  status_ = std::move(now);
}

void ReplicatorImpl::Stop() {
  if (!running_) return;
  if (std::this_thread::get_id() == loop_thread_id_) {
    // From a callback: possibly one that raft_close itself is running while
    // another thread waits in Stop below, so take no lock but the queue's.
    RequestClose();
    return;  // a later Stop (or the destructor) joins
  }
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  RequestClose();
  if (thread_.joinable()) thread_.join();
  // Everything queued before the closing ran on the loop, and libraft failed
  // its own requests in raft_close; this catches anything left over.
  std::deque<std::function<void()>> left;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    left.swap(queue_);
  }
  for (auto& fn : left) fn();
  std::vector<StatusDone> waiters;
  waiters.swap(next_barrier_waiters_);
  for (auto& w : waiters) w(StoppedError());
}

bool ReplicatorImpl::IsLeader() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  return status_.state == RAFT_LEADER;
}

std::optional<Member> ReplicatorImpl::Leader() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  if (status_.leader_id == 0) return std::nullopt;
  Member leader{status_.leader_id, status_.leader_address, true};
  for (const Member& m : status_.configuration) {
    if (m.id == leader.id) leader.voter = m.voter;
  }
  return leader;
}

std::vector<MemberStatus> ReplicatorImpl::Members() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  std::vector<MemberStatus> out;
  for (const Member& m : status_.configuration) {
    MemberStatus ms;
    ms.member = m;
    ms.is_leader = m.id == status_.leader_id;
    if (m.id == options_.id) {
      // Of itself a member knows its state; a stand-by is a follower too.
      ms.role = (m.voter || status_.state == RAFT_UNAVAILABLE) ? StateName(status_.state) : "spare/standby";
    } else if (ms.is_leader) {
      ms.role = "leader";
    } else {
      ms.role = m.voter ? "follower" : "spare/standby";
    }
    out.push_back(std::move(ms));
  }
  return out;
}

uint64_t ReplicatorImpl::LastApplied() const {
  return last_applied_.load();
}

}  // namespace internal
}  // namespace bosun::state
