// state/replicator_fsm.cc — the raft_fsm callbacks that drive the
// StateMachine: apply, snapshot (fsm version 3) and restore.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>

#include <sys/resource.h>
#include <unistd.h>

#include "core/log.h"
#include "state/replicator_internal.h"

namespace bosun::state::internal {
namespace {
const char* kComponent = "replicator";

// A reference snapshot (StateMachine::StateIsDurable): "the state machine's
// own state holds every entry up to this index, durably". 16 bytes: this
// magic, then the index big-endian. A whole-state snapshot never starts
// with it (the store's start with "BOSNSNP1").
constexpr char kRefMagic[8] = {'B', 'O', 'S', 'N', 'R', 'E', 'F', '1'};
constexpr size_t kRefSize = sizeof kRefMagic + 8;

std::string EncodeSnapshotRef(uint64_t index) {
  std::string out(kRefMagic, sizeof kRefMagic);
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((index >> (i * 8)) & 0xff));
  return out;
}

std::optional<uint64_t> DecodeSnapshotRef(const raft_buffer& buf) {
  if (buf.len != kRefSize || std::memcmp(buf.base, kRefMagic, sizeof kRefMagic) != 0) return std::nullopt;
  const auto* p = static_cast<const uint8_t*>(buf.base) + sizeof kRefMagic;
  uint64_t index = 0;
  for (size_t i = 0; i < 8; ++i) index = (index << 8) | p[i];
  return index;
}

// libuv's workers are started from the loop thread and inherit its raised
// priority (kLoopNice); a snapshot is background work, so it runs at the
// process's priority (the main thread's, which getpid() names).
void RunAtProcessPriority() {
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::getpid()));
  if (errno == 0) ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice);
}

void DestroySnapshot(raft_snapshot* snapshot) {
  raft_configuration_close(&snapshot->configuration);
  for (unsigned i = 0; i < snapshot->n_bufs; i++) raft_free(snapshot->bufs[i].base);
  raft_free(snapshot->bufs);
  raft_free(snapshot);
}
}  // namespace

bool FrameCommand(std::string_view command, raft_buffer* out) {
  if (command.size() > UINT32_MAX - 2 * kEntryHeaderSize) return false;
  size_t padded = (command.size() + 7) / 8 * 8;
  size_t len = kEntryHeaderSize + padded;
  auto* p = static_cast<uint8_t*>(raft_malloc(len));
  if (p == nullptr) return false;
  // Only the header and the padding are zeroed: the command fills the rest
  // (a whole-repository sync is one 13 MB command).
  std::memset(p, 0, kEntryHeaderSize);
  std::memset(p + kEntryHeaderSize + command.size(), 0, padded - command.size());
  const auto n = static_cast<uint32_t>(command.size());
  p[0] = static_cast<uint8_t>(n);
  p[1] = static_cast<uint8_t>(n >> 8);
  p[2] = static_cast<uint8_t>(n >> 16);
  p[3] = static_cast<uint8_t>(n >> 24);
  p[4] = kEntryFormat;
  if (!command.empty()) std::memcpy(p + kEntryHeaderSize, command.data(), command.size());
  out->base = p;
  out->len = len;
  return true;
}

std::optional<std::string_view> UnframeCommand(const raft_buffer& buf) {
  if (buf.len < kEntryHeaderSize || buf.len % 8 != 0) return std::nullopt;
  const auto* p = static_cast<const uint8_t*>(buf.base);
  uint32_t n = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
  if (p[4] != kEntryFormat || n > buf.len - kEntryHeaderSize) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(p + kEntryHeaderSize), n);
}

void ReplicatorImpl::InitFsm() {
  fsm_.version = 3;
  fsm_.data = this;
  fsm_.apply = &ReplicatorImpl::FsmApply;
  fsm_.snapshot = &ReplicatorImpl::FsmSnapshot;
  fsm_.restore = &ReplicatorImpl::FsmRestore;
  // With snapshot_finalize set, libraft leaves the snapshot buffers to us.
  fsm_.snapshot_finalize = &ReplicatorImpl::FsmSnapshotFinalize;
  // libraft runs snapshot_async on a libuv worker thread (uv_queue_work), so
  // it is set only when the state machine allows that; libraft requires it
  // to be NULL otherwise.
  fsm_.snapshot_async = sm_->SnapshotsConcurrentWithApply() ? &ReplicatorImpl::FsmSnapshotAsync : nullptr;
}

// libraft 0.15 does not pass the entry's index to apply. It applies entries
// one by one in replicationApply() and sets last_applied to the entry's index
// only after apply returns (barrier and configuration entries advance it
// without calling apply), so the entry being applied is last_applied + 1.
// Pinned by tests/state/raft_fixture_test.cc.
//
// The entry is staged, not applied: FlushApplied applies everything staged
// in one StateMachine::ApplyBatch (replicator_internal.h, "Batch apply").
int ReplicatorImpl::FsmApply(raft_fsm* fsm, const raft_buffer* buf, void** result) {
  auto* self = static_cast<ReplicatorImpl*>(fsm->data);
  *result = nullptr;
  if (self->fatal_) return RAFT_IOERR;
  const raft_index index = raft_last_applied(&self->raft_) + 1;
  std::optional<std::string_view> command = UnframeCommand(*buf);
  if (!command) {
    self->FailFatally("entry " + std::to_string(index) + " is not a bosun command (" + std::to_string(buf->len) +
                      " bytes, bad header)");
    return RAFT_MALFORMED;
  }
  Staged staged;
  staged.index = index;
  staged.command.assign(command->data(), command->size());
  // The proposer (only on the member that proposed it) gets the result. The
  // entry at this index is the proposer's only while this member still
  // leads in the term it was appended in (a leader never overwrites its own
  // log); otherwise another leader's entry took the index.
  auto it = self->waiters_.find(index);
  if (it != self->waiters_.end()) {
    staged.done = std::move(it->second.done);
    staged.ours = raft_state(&self->raft_) == RAFT_LEADER && self->raft_.current_term == it->second.term;
    self->waiters_.erase(it);
  }
  self->staged_bytes_ += staged.command.size();
  self->staged_.push_back(std::move(staged));
  if (self->staged_.size() >= kMaxApplyBatch || self->staged_bytes_ >= kMaxApplyBatchBytes) self->FlushApplied();
  return self->fatal_ ? RAFT_IOERR : 0;
}

void ReplicatorImpl::FlushApplied() {
  if (staged_.empty()) return;
  std::vector<Staged> staged;
  staged.swap(staged_);
  staged_bytes_ = 0;
  Result<std::vector<std::string>> applied = Error(Code::kInternal, "not applied");
  if (!fatal_) {
    std::vector<CommittedCommand> commands;
    commands.reserve(staged.size());
    for (const Staged& s : staged) commands.push_back(CommittedCommand{s.index, s.command});
    applied = sm_->ApplyBatch(commands);
    apply_batches_.fetch_add(1);
    if (applied && applied->size() != staged.size()) {
      applied = Error(Code::kInternal, "the state machine answered " + std::to_string(applied->size()) +
                                           " results for " + std::to_string(staged.size()) + " commands");
    }
    if (!applied) {
      const std::string range = staged.size() == 1 ? "entry " + std::to_string(staged.front().index)
                                                   : "entries " + std::to_string(staged.front().index) + "-" +
                                                         std::to_string(staged.back().index);
      FailFatally("applying " + range + ": " + applied.error().message());
    }
  }
  if (!applied) {
    // Committed but maybe not in the store: a restart replays them.
    for (Staged& s : staged) {
      if (s.done) s.done(StoppedError());
    }
    return;
  }
  last_applied_.store(staged.back().index);
  for (size_t i = 0; i < staged.size(); i++) {
    if (!staged[i].done) continue;
    if (staged[i].ours) {
      staged[i].done(std::move((*applied)[i]));
    } else {
      staged[i].done(LeadershipLostError());
    }
  }
}

int ReplicatorImpl::TakeSnapshotInto(raft_buffer* bufs[], unsigned* n_bufs) {
  Result<std::string> data = Error(Code::kInternal, "no snapshot");
  if (sm_->StateIsDurable()) {
    Status durable = sm_->MakeDurable();
    data = durable ? Result<std::string>(EncodeSnapshotRef(snapshot_state_index_))
                   : Result<std::string>(durable.error());
  } else {
    data = sm_->TakeSnapshot();
  }
  if (!data) {
    // libraft asks again at every apply while the threshold is passed; wait
    // for another threshold's worth of entries instead.
    const uint64_t retry_at = snapshot_index_ + options_.snapshot_threshold;
    snapshot_retry_at_.store(retry_at);
    log::Error(kComponent, "snapshot failed",
               {{"id", std::to_string(options_.id)},
                {"index", std::to_string(snapshot_index_)},
                {"retry_at", std::to_string(retry_at)},
                {"error", data.error().message()}});
    return RAFT_IOERR;
  }
  if (sm_->StateIsDurable()) {
    log::Info(kComponent, "snapshot taken: the state store is durable up to its index",
              {{"id", std::to_string(options_.id)},
               {"index", std::to_string(snapshot_index_)},
               {"state_index", std::to_string(snapshot_state_index_)}});
  }
  auto* out = static_cast<raft_buffer*>(raft_malloc(sizeof(raft_buffer)));
  if (out == nullptr) return RAFT_NOMEM;
  // libraft only reads the buffer until snapshot_finalize, and takes one
  // snapshot at a time, so it can point into our string without a copy.
  snapshot_data_ = std::move(*data);
  out->base = snapshot_data_.data();
  out->len = snapshot_data_.size();
  *bufs = out;
  *n_bufs = 1;
  snapshots_taken_.fetch_add(1);
  return 0;
}

int ReplicatorImpl::FsmSnapshot(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) {
  auto* self = static_cast<ReplicatorImpl*>(fsm->data);
  *bufs = nullptr;
  *n_bufs = 0;
  // Any error but RAFT_BUSY from here makes a follower's libraft 0.15 give
  // up (its AppendEntries handler fails and it turns unavailable); BUSY
  // means "try at the next threshold".
  // The snapshot must hold every entry up to the index libraft records.
  self->FlushApplied();
  if (self->fatal_) return RAFT_BUSY;
  const raft_index index = raft_last_applied(&self->raft_);
  if (index < self->snapshot_retry_at_.load()) return RAFT_BUSY;
  self->snapshot_index_ = index;  // read by the worker: libraft runs one snapshot at a time
  // Everything committed up to `index` is in the state machine now; its own
  // index may be lower (barriers, configuration changes), never higher.
  self->snapshot_state_index_ = self->sm_->AppliedIndex();
  if (self->fsm_.snapshot_async != nullptr) return 0;  // FsmSnapshotAsync does the work
  return self->TakeSnapshotInto(bufs, n_bufs) == 0 ? 0 : RAFT_BUSY;
}

int ReplicatorImpl::FsmSnapshotAsync(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) {
  // On a libuv worker thread: only the state machine (which opted in) and
  // snapshot_data_ (owned by this snapshot until finalize) are touched.
  RunAtProcessPriority();
  return static_cast<ReplicatorImpl*>(fsm->data)->TakeSnapshotInto(bufs, n_bufs);
}

int ReplicatorImpl::FsmSnapshotFinalize(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) {
  auto* self = static_cast<ReplicatorImpl*>(fsm->data);
  if (*bufs != nullptr) raft_free(*bufs);
  *bufs = nullptr;
  *n_bufs = 0;
  std::string().swap(self->snapshot_data_);
  return 0;
}

int ReplicatorImpl::FsmRestore(raft_fsm* fsm, raft_buffer* buf) {
  auto* self = static_cast<ReplicatorImpl*>(fsm->data);
  self->FlushApplied();  // what was staged is older than the snapshot; applied first, in order
  if (std::optional<uint64_t> ref = DecodeSnapshotRef(*buf)) {
    // This member's own reference snapshot, at start: the state machine must
    // already hold the entries it names, as libraft has dropped them from
    // the log. (A leader never sends a reference: GetSnapshotToSend packs.)
    const uint64_t applied = self->sm_->AppliedIndex();
    if (applied < *ref) {
      self->restore_error_ =
          "this member's Raft snapshot says its state store holds every entry up to index " + std::to_string(*ref) +
          ", but the store has applied only up to " + std::to_string(applied) +
          ": the store lost writes it had made durable (or belongs to another member). Remove this member "
          "from the cluster, wipe its data folder and add it again to get the leader's state";
      log::Error(kComponent, "the state store is behind its snapshot",
                 {{"id", std::to_string(self->options_.id)}, {"error", *self->restore_error_}});
      return RAFT_IOERR;
    }
    raft_free(buf->base);
    return 0;
  }
  Status st = self->sm_->RestoreSnapshot(std::string_view(static_cast<const char*>(buf->base), buf->len));
  if (!st) {
    // libraft keeps (and frees) the buffer when restore fails: at start the
    // member then fails to start; a snapshot sent by the leader is refused
    // and sent again.
    log::Error(kComponent, "restoring a snapshot failed",
               {{"id", std::to_string(self->options_.id)}, {"error", st.error().message()}});
    return RAFT_IOERR;
  }
  raft_free(buf->base);  // on success the buffer is ours
  return 0;
}

// What the leader sends a member behind its log. raft_uv loads the latest
// snapshot from disk; a reference is replaced by the whole state packed now
// (on a libuv worker when the state machine allows), so the member may get
// entries past the snapshot's index, which its replay then skips. One pack
// runs at a time: sends that ask meanwhile (libraft asks again when a send
// takes longer than install_snapshot_timeout) wait on the loop thread for
// it, not on a worker, and each gets a copy.
struct ReplicatorImpl::SnapshotSend {
  ReplicatorImpl* self = nullptr;
  raft_io_snapshot_get inner{};            // ours, given to raft_uv
  raft_io_snapshot_get* outer = nullptr;  // libraft's
  raft_snapshot* snapshot = nullptr;      // as raft_uv loaded it
  bool loaded = false;                    // raft_uv loaded it without error: ours to free if not sent
};

struct ReplicatorImpl::PackJob {
  ReplicatorImpl* self = nullptr;
  uv_work_t work{};
  Result<std::string> packed = Error(Code::kInternal, "not packed");
};

int ReplicatorImpl::GetSnapshotToSend(raft_io* io, raft_io_snapshot_get* req, raft_io_snapshot_get_cb cb) {
  auto* self = static_cast<ReplicatorImpl*>(static_cast<struct raft*>(io->data)->data);
  auto* send = new SnapshotSend;
  send->self = self;
  send->outer = req;
  req->cb = cb;  // as raft_uv does
  send->inner.data = send;
  const int rv = self->uv_snapshot_get_(io, &send->inner, &ReplicatorImpl::OnSnapshotLoaded);
  if (rv != 0) {
    delete send;
    return rv;
  }
  self->snapshot_sends_++;
  return 0;
}

void ReplicatorImpl::OnSnapshotLoaded(raft_io_snapshot_get* inner, raft_snapshot* snapshot, int status) {
  auto* send = static_cast<SnapshotSend*>(inner->data);
  ReplicatorImpl* self = send->self;
  send->snapshot = snapshot;
  send->loaded = status == 0 && snapshot != nullptr;
  if (status != 0 || snapshot == nullptr || snapshot->n_bufs != 1 || !DecodeSnapshotRef(snapshot->bufs[0])) {
    return self->FinishSnapshotSend(send, status);  // a whole snapshot (or raft_uv's error): as loaded
  }
  if (self->raft_closing_) return self->FinishSnapshotSend(send, RAFT_CANCELED);
  self->pack_waiters_.push_back(send);
  if (!self->packing_) self->StartPack();
}

void ReplicatorImpl::StartPack() {
  packing_ = true;
  auto* job = new PackJob;
  job->self = this;
  job->work.data = job;
  if (!sm_->SnapshotsConcurrentWithApply()) {
    PackForSend(&job->work);
    return AfterPackForSend(&job->work, 0);
  }
  const int rv = uv_queue_work(&loop_, &job->work, &ReplicatorImpl::PackForSend, &ReplicatorImpl::AfterPackForSend);
  if (rv != 0) {
    job->packed = Error(Code::kIo, std::string("cannot queue the pack: ") + uv_strerror(rv));
    AfterPackForSend(&job->work, 0);
  }
}

void ReplicatorImpl::PackForSend(uv_work_t* work) {
  auto* job = static_cast<PackJob*>(work->data);
  if (job->self->sm_->SnapshotsConcurrentWithApply()) RunAtProcessPriority();
  job->packed = job->self->sm_->TakeSnapshot();
}

void ReplicatorImpl::AfterPackForSend(uv_work_t* work, int status) {
  std::unique_ptr<PackJob> job(static_cast<PackJob*>(work->data));
  ReplicatorImpl* self = job->self;
  self->packing_ = false;
  std::vector<SnapshotSend*> waiters;
  waiters.swap(self->pack_waiters_);
  if (status != 0 || !job->packed) {
    log::Error(kComponent, "packing the state to send a member failed; libraft retries",
               {{"id", std::to_string(self->options_.id)},
                {"error", status != 0 ? uv_strerror(status) : job->packed.error().message()}});
    for (SnapshotSend* send : waiters) self->FinishSnapshotSend(send, RAFT_IOERR);
    return;
  }
  const std::string& packed = *job->packed;
  for (SnapshotSend* send : waiters) {
    if (self->raft_closing_) {
      self->FinishSnapshotSend(send, RAFT_CANCELED);
      continue;
    }
    void* base = raft_malloc(packed.empty() ? 1 : packed.size());
    if (base == nullptr) {
      self->FinishSnapshotSend(send, RAFT_NOMEM);
      continue;
    }
    if (!packed.empty()) std::memcpy(base, packed.data(), packed.size());
    raft_free(send->snapshot->bufs[0].base);
    send->snapshot->bufs[0].base = base;
    send->snapshot->bufs[0].len = packed.size();
    log::Info(kComponent, "sending the whole state to a member behind the log",
              {{"id", std::to_string(self->options_.id)},
               {"snapshot_index", std::to_string(send->snapshot->index)},
               {"bytes", std::to_string(packed.size())}});
    self->FinishSnapshotSend(send, 0);
  }
}

void ReplicatorImpl::FinishSnapshotSend(SnapshotSend* send, int status) {
  raft_io_snapshot_get* outer = send->outer;
  raft_snapshot* snapshot = send->snapshot;
  if (status != 0 && send->loaded) {
    // Loaded but not sent (we failed or are closing): libraft's callback
    // does not look at a snapshot with an error, so it is freed here.
    DestroySnapshot(snapshot);
    snapshot = nullptr;
  }
  delete send;
  outer->cb(outer, snapshot, status);
  if (--snapshot_sends_ == 0 && close_after_sends_) {
    close_after_sends_ = false;
    raft_close(&raft_, &ReplicatorImpl::OnRaftClosed);
  }
}

void ReplicatorImpl::CloseRaft() {
  raft_closing_ = true;
  if (snapshot_sends_ > 0) {
    close_after_sends_ = true;  // FinishSnapshotSend closes once libraft has its answers
    return;
  }
  raft_close(&raft_, &ReplicatorImpl::OnRaftClosed);
}

void ReplicatorImpl::FailFatally(const std::string& why) {
  if (fatal_) return;
  fatal_ = why;
  log::Error(kComponent, "state machine failed; stopping this member",
             {{"id", std::to_string(options_.id)}, {"error", why}});
  if (options_.on_fatal) options_.on_fatal(why);
  // Never raft_close from inside a raft callback: this queues it for the
  // next loop turn.
  RequestClose();
}

}  // namespace bosun::state::internal

namespace bosun::state {

Result<std::vector<std::string>> StateMachine::ApplyBatch(const std::vector<CommittedCommand>& commands) {
  std::vector<std::string> out;
  out.reserve(commands.size());
  for (const CommittedCommand& c : commands) {
    Result<std::string> r = Apply(c.index, c.command);
    if (!r) return commands.size() == 1 ? r.error() : r.error().Wrap("entry " + std::to_string(c.index));
    out.push_back(std::move(*r));
  }
  return out;
}

}  // namespace bosun::state
