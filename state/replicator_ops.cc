// state/replicator_ops.cc — Propose, Barrier and membership changes: the
// public entry points hand a closure to the loop; the Do* functions run on it
// and call libraft; the On* functions are libraft's callbacks.
#include <utility>

#include "core/log.h"
#include "state/replicator_internal.h"

namespace bosun::state::internal {

// ---- public entry points (any thread) ----

// Callable from any thread (unlike StoppedError, which reads loop state).
Error ReplicatorImpl::ClosedError() const {
  return Error(Code::kUnavailable, "raft member " + std::to_string(options_.id) + " is stopped");
}

void ReplicatorImpl::Propose(std::string command, ProposeDone done) {
  auto shared = std::make_shared<ProposeDone>(std::move(done));
  auto cmd = std::make_shared<std::string>(std::move(command));
  if (!Post([this, shared, cmd] { DoPropose(std::move(*cmd), std::move(*shared)); })) (*shared)(ClosedError());
}

void ReplicatorImpl::Barrier(StatusDone done) {
  auto shared = std::make_shared<StatusDone>(std::move(done));
  if (!Post([this, shared] { DoBarrier(std::move(*shared)); })) (*shared)(ClosedError());
}

void ReplicatorImpl::AddMember(const Member& member, StatusDone done) {
  auto shared = std::make_shared<StatusDone>(std::move(done));
  if (!Post([this, member, shared] { DoAddMember(member, std::move(*shared)); })) (*shared)(ClosedError());
}

void ReplicatorImpl::RemoveMember(uint64_t id, StatusDone done) {
  auto shared = std::make_shared<StatusDone>(std::move(done));
  if (!Post([this, id, shared] { DoRemoveMember(id, std::move(*shared)); })) (*shared)(ClosedError());
}

// ---- errors (loop thread) ----

Error ReplicatorImpl::StoppedError() const {
  std::string msg = "raft member " + std::to_string(options_.id) + " is stopped";
  if (fatal_) msg += ": " + *fatal_;
  return Error(Code::kUnavailable, msg);
}

std::optional<Error> ReplicatorImpl::NotLeaderError() {
  if (raft_closing_) return StoppedError();
  if (raft_state(&raft_) == RAFT_LEADER) return std::nullopt;
  raft_id id = 0;
  const char* address = nullptr;
  raft_leader(&raft_, &id, &address);
  if (id == 0 || address == nullptr) return Error(Code::kUnavailable, "not the leader; no leader elected yet");
  return Error(Code::kUnavailable, "not the leader; the leader is " + std::to_string(id) + " at " + address);
}

Error ReplicatorImpl::RaftError(int rv, const std::string& what, bool from_call) const {
  if (raft_closing_) return StoppedError();
  // raft_errmsg is cleared before each call we make, so after a failed call
  // a message there belongs to this failure; some paths only set the code,
  // and a callback's status never comes with one.
  std::string detail =
      from_call && raft_.errmsg[0] != '\0' ? std::string(raft_.errmsg) : std::string(raft_strerror(rv));
  switch (rv) {
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
      return Error(Code::kUnavailable,
                   what + ": leadership lost before it was committed (it may or may not take effect)");
    case RAFT_CANTCHANGE:
      return Error(Code::kUnavailable, what + ": another membership change is in progress; try again");
    case RAFT_NOCONNECTION:
    case RAFT_BUSY:
      return Error(Code::kUnavailable, what + ": " + detail);
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
      return Error(Code::kAlreadyExists, what + ": " + detail);
    case RAFT_BADID:
    case RAFT_NOTFOUND:
      return Error(Code::kNotFound, what + ": " + detail);
    case RAFT_BADROLE:
    case RAFT_INVALID:
      return Error(Code::kInvalid, what + ": " + detail);
    case RAFT_IOERR:
    case RAFT_NOSPACE:
    case RAFT_CORRUPT:
      return Error(Code::kIo, what + ": " + detail);
    default:
      return Error(Code::kInternal, what + ": " + detail);
  }
}

// ---- Propose (group commit, see replicator_internal.h) ----

Error ReplicatorImpl::LeadershipLostError() const {
  if (raft_closing_) return StoppedError();
  return Error(Code::kUnavailable, "leadership lost before the command was committed; it may or may not be applied");
}

void ReplicatorImpl::DoPropose(std::string command, ProposeDone done) {
  if (auto err = NotLeaderError()) return done(*err);
  pending_bytes_ += command.size();
  pending_.push_back(Pending{std::move(command), std::move(done)});
  if (pending_.size() >= kMaxBatchEntries || pending_bytes_ >= kMaxBatchBytes) FlushProposals();
}

void ReplicatorImpl::FlushProposals() {
  if (pending_.empty()) return;
  std::vector<Pending> batch;
  batch.swap(pending_);
  pending_bytes_ = 0;
  ApplyBatch(std::move(batch));
}

void ReplicatorImpl::ApplyBatch(std::vector<Pending> batch) {
  auto fail_all = [&batch](const Error& e) {
    for (Pending& p : batch) p.done(e);
  };
  if (auto err = NotLeaderError()) return fail_all(*err);
  std::vector<raft_buffer> bufs;
  bufs.reserve(batch.size());
  std::vector<ProposeDone> dones;
  dones.reserve(batch.size());
  for (Pending& p : batch) {
    raft_buffer buf;
    if (!FrameCommand(p.command, &buf)) {
      p.done(Error(Code::kTooLarge, "propose: a command of " + std::to_string(p.command.size()) +
                                        " bytes does not fit in one Raft entry"));
      continue;
    }
    bufs.push_back(buf);
    dones.push_back(std::move(p.done));
  }
  batch.clear();
  if (bufs.empty()) return;
  auto* r = new ProposeRequest;
  r->self = this;
  r->n = static_cast<unsigned>(bufs.size());
  r->req.data = r;
  raft_.errmsg[0] = '\0';
  int rv = raft_apply(&raft_, &r->req, bufs.data(), r->n, &ReplicatorImpl::OnApplied);
  if (rv != 0) {
    for (raft_buffer& b : bufs) raft_free(b.base);  // ownership passes to libraft only on success
    delete r;
    std::optional<Error> err;
    if (rv == RAFT_NOTLEADER) err = NotLeaderError();
    if (!err) err = RaftError(rv, "propose");
    for (auto& d : dones) d(*err);
    return;
  }
  apply_calls_.fetch_add(1);
  commands_proposed_.fetch_add(r->n);
  // The entries commit and apply on a later loop turn (their disk write is
  // asynchronous), so registering them now is in time for FsmApply.
  r->first = r->req.index;
  const raft_term term = raft_.current_term;
  for (unsigned i = 0; i < r->n; i++) waiters_[r->first + i] = Waiter{term, std::move(dones[i])};
}

void ReplicatorImpl::FailWaiters(raft_index first, unsigned n, const Error& e) {
  for (raft_index i = first; i < first + n; i++) {
    auto it = waiters_.find(i);
    if (it == waiters_.end()) continue;
    ProposeDone d = std::move(it->second.done);
    waiters_.erase(it);
    d(e);
  }
}

void ReplicatorImpl::FailStaleWaiters() {
  if (waiters_.empty()) return;
  const bool leading = !raft_closing_ && raft_state(&raft_) == RAFT_LEADER;
  const raft_term term = raft_.current_term;
  // The common case, checked after every loop turn: still leading in the
  // term of the oldest and newest waiter.
  if (leading && waiters_.begin()->second.term == term && waiters_.rbegin()->second.term == term) return;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (leading && it->second.term == term) {
      ++it;
      continue;
    }
    ProposeDone d = std::move(it->second.done);
    it = waiters_.erase(it);
    d(LeadershipLostError());
  }
}

// libraft calls this once per raft_apply: right after the FIRST entry was
// applied (status 0; FsmApply has already answered it), or when the request
// failed before that (every waiter of the request that is left fails).
void ReplicatorImpl::OnApplied(struct raft_apply* req, int status, void* result) {
  (void)result;
  auto* r = static_cast<ProposeRequest*>(req->data);
  ReplicatorImpl* self = r->self;
  const raft_index first = r->first;
  const unsigned n = r->n;
  delete r;
  if (status == 0) return;
  if (self->raft_closing_) return self->FailWaiters(first, n, self->StoppedError());
  if (status == RAFT_LEADERSHIPLOST || status == RAFT_NOTLEADER || status == RAFT_SHUTDOWN) {
    return self->FailWaiters(first, n, self->LeadershipLostError());
  }
  // Anything else is this member's own log write failing. libraft 0.15
  // does not recover from it (writes fail on after space is freed), so the
  // member stops itself, as for a failed state machine: its process then
  // stops and can be started again (on_fatal).
  std::string why = status == RAFT_NOSPACE ? std::string("not enough space on disk") : raft_strerror(status);
  if (why == "unknown error") why = "error " + std::to_string(status);
  Error error(Code::kUnavailable, "cannot write this member's Raft log in " + self->options_.dir + ": " + why);
  self->FailWaiters(first, n, error);
  if (status == RAFT_NOSPACE || status == RAFT_IOERR || status == RAFT_CORRUPT) self->FailFatally(error.message());
}

// ---- Barrier ----

void ReplicatorImpl::DoBarrier(StatusDone done) {
  if (auto err = NotLeaderError()) return done(*err);
  // A barrier already in flight was appended before this call, so it proves
  // nothing about commands committed since: wait for the next one, which all
  // callers arriving meanwhile share.
  if (barrier_in_flight_ != nullptr) {
    next_barrier_waiters_.push_back(std::move(done));
    return;
  }
  std::vector<StatusDone> waiters;
  waiters.push_back(std::move(done));
  IssueBarrier(std::move(waiters));
}

void ReplicatorImpl::IssueBarrier(std::vector<StatusDone> waiters) {
  auto fail_all = [&waiters](const Error& e) {
    for (auto& w : waiters) w(e);
  };
  if (auto err = NotLeaderError()) return fail_all(*err);
  auto* b = new BarrierRequest;
  b->self = this;
  b->waiters = std::move(waiters);
  b->req.data = b;
  raft_.errmsg[0] = '\0';
  barrier_rounds_.fetch_add(1);
  int rv = raft_barrier(&raft_, &b->req, &ReplicatorImpl::OnBarrier);
  if (rv != 0) {
    waiters = std::move(b->waiters);
    delete b;
    return fail_all(RaftError(rv, "barrier"));
  }
  barrier_in_flight_ = b;
}

void ReplicatorImpl::OnBarrier(struct raft_barrier* req, int status) {
  auto* b = static_cast<BarrierRequest*>(req->data);
  ReplicatorImpl* self = b->self;
  // Reads made after the barrier must see every entry before it.
  self->FlushApplied();
  if (self->barrier_in_flight_ == b) self->barrier_in_flight_ = nullptr;
  std::vector<StatusDone> waiters = std::move(b->waiters);
  delete b;
  Status st = Ok();
  if (status != 0) {
    st = self->raft_closing_ ? self->StoppedError()
                             : Error(Code::kUnavailable, std::string("barrier: ") + raft_strerror(status));
  }
  for (auto& w : waiters) w(st);
  if (self->next_barrier_waiters_.empty()) return;
  // The next round is issued from a later loop turn, not from inside
  // libraft's apply loop.
  auto next = std::make_shared<std::vector<StatusDone>>(std::move(self->next_barrier_waiters_));
  self->next_barrier_waiters_.clear();
  if (!self->Post([self, next] {
        if (self->barrier_in_flight_ != nullptr) {
          // A barrier got in first (a new term's); its successor takes these.
          for (auto& w : *next) self->next_barrier_waiters_.push_back(std::move(w));
          return;
        }
        self->IssueBarrier(std::move(*next));
      })) {
    for (auto& w : *next) w(self->StoppedError());
  }
}

void ReplicatorImpl::OnBecameLeader() {
  log::Info("replicator", "became leader",
            {{"id", std::to_string(options_.id)}, {"term", std::to_string(raft_.current_term)}});
  // libraft 0.15 appends no entry when a leader is elected, so commands of
  // earlier terms would stay uncommitted (and unapplied here) until the next
  // write. A barrier in the new term commits them now.
  if (barrier_in_flight_ == nullptr) IssueBarrier({});
}

// ---- membership ----

void ReplicatorImpl::DoAddMember(Member member, StatusDone done) {
  if (auto err = NotLeaderError()) return done(*err);
  const std::string what = "add member " + std::to_string(member.id);
  if (member.id == 0 || member.address.empty()) {
    return done(Error(Code::kInvalid, what + ": an id > 0 and an address are required"));
  }
  auto* c = new ChangeRequest;
  c->self = this;
  c->member = std::move(member);
  c->done = std::move(done);
  c->req.data = c;
  // A member left as spare/stand-by by an earlier, interrupted AddMember is
  // only promoted; one already in its final role is refused.
  for (unsigned i = 0; i < raft_.configuration.n; i++) {
    const raft_server& s = raft_.configuration.servers[i];
    if (s.id != c->member.id) continue;
    int want = c->member.voter ? RAFT_VOTER : RAFT_STANDBY;
    if (s.role == want || c->member.address != s.address) {
      StatusDone d = std::move(c->done);
      delete c;
      return d(Error(Code::kAlreadyExists, what + ": already in the configuration as " + s.address));
    }
    c->step = ChangeRequest::Step::kAssign;
    return DoAssign(c);
  }
  c->step = ChangeRequest::Step::kAdd;
  raft_.errmsg[0] = '\0';
  int rv = raft_add(&raft_, &c->req, c->member.id, c->member.address.c_str(), &ReplicatorImpl::OnChange);
  if (rv != 0) {
    StatusDone d = std::move(c->done);
    delete c;
    return d(RaftError(rv, what));
  }
}

void ReplicatorImpl::DoAssign(ChangeRequest* c) {
  const std::string what = "add member " + std::to_string(c->member.id);
  if (auto err = NotLeaderError()) {
    StatusDone d = std::move(c->done);
    delete c;
    return d(err->Wrap(what));
  }
  raft_.errmsg[0] = '\0';
  int rv = raft_assign(&raft_, &c->req, c->member.id, c->member.voter ? RAFT_VOTER : RAFT_STANDBY,
                       &ReplicatorImpl::OnChange);
  if (rv != 0) {
    // libraft 0.15's raft_assign can fail after registering the request as
    // the pending change; left there it would trip an assertion at the next
    // change, so take it back.
    if (raft_.state == RAFT_LEADER && raft_.leader_state.change == &c->req) raft_.leader_state.change = nullptr;
    StatusDone d = std::move(c->done);
    delete c;
    return d(RaftError(rv, what));
  }
}

void ReplicatorImpl::DoRemoveMember(uint64_t id, StatusDone done) {
  if (auto err = NotLeaderError()) return done(*err);
  const std::string what = "remove member " + std::to_string(id);
  auto* c = new ChangeRequest;
  c->self = this;
  c->step = ChangeRequest::Step::kRemove;
  c->member.id = id;
  c->done = std::move(done);
  c->req.data = c;
  raft_.errmsg[0] = '\0';
  int rv = raft_remove(&raft_, &c->req, id, &ReplicatorImpl::OnChange);
  if (rv != 0) {
    StatusDone d = std::move(c->done);
    delete c;
    if (rv == RAFT_BADID) return d(Error(Code::kNotFound, what + ": not in the configuration"));
    return d(RaftError(rv, what));
  }
}

void ReplicatorImpl::OnChange(raft_change* req, int status) {
  auto* c = static_cast<ChangeRequest*>(req->data);
  ReplicatorImpl* self = c->self;
  const std::string what =
      (c->step == ChangeRequest::Step::kRemove ? "remove member " : "add member ") + std::to_string(c->member.id);
  if (status != 0) {
    StatusDone d = std::move(c->done);
    delete c;
    if (status == RAFT_NOCONNECTION && !self->raft_closing_) {
      return d(Error(Code::kUnavailable, what + ": the new member did not catch up with the log in time; it stays "
                                                "in the configuration as a non-voter, AddMember again to retry"));
    }
    return d(self->RaftError(status, what, /*from_call=*/false));
  }
  if (c->step != ChangeRequest::Step::kAdd) {
    StatusDone d = std::move(c->done);
    delete c;
    log::Info("replicator", "membership changed", {{"id", std::to_string(self->options_.id)}, {"change", what}});
    return d(Ok());
  }
  // Added as a spare; promote it from the next loop turn (libraft has just
  // cleared its pending change, but we are still inside its apply loop).
  c->step = ChangeRequest::Step::kAssign;
  if (!self->Post([self, c] { self->DoAssign(c); })) {
    StatusDone d = std::move(c->done);
    delete c;
    d(self->StoppedError());
  }
}

}  // namespace bosun::state::internal
