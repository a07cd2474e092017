// The sync controller's public face and its loop: see sync_controller.h and
// sync_internal.h.
#include "reconciler/sync_controller.h"

#include "core/duration.h"
#include "core/log.h"
#include "reconciler/sync_internal.h"

namespace bosun::reconciler {

const char* TriggerName(SyncTrigger t) {
  switch (t) {
    case SyncTrigger::kPoll:
      return "poll";
    case SyncTrigger::kWebhook:
      return "webhook";
    case SyncTrigger::kManual:
      return "manual";
    case SyncTrigger::kStartup:
      return "startup";
    case SyncTrigger::kPush:
      return "push";
    case SyncTrigger::kRevert:
      return "revert";
    case SyncTrigger::kResume:
      return "resume";
    case SyncTrigger::kLeaderChange:
      return "leader-change";
  }
  return "poll";
}

// A pending trigger keeps the most telling reason: a person's request or a
// webhook over a timer.
int TriggerWeight(SyncTrigger t) {
  switch (t) {
    case SyncTrigger::kPoll:
      return 0;
    case SyncTrigger::kStartup:
    case SyncTrigger::kLeaderChange:
      return 1;
    case SyncTrigger::kWebhook:
    case SyncTrigger::kPush:
    case SyncTrigger::kRevert:
    case SyncTrigger::kResume:
      return 2;
    case SyncTrigger::kManual:
      return 3;
  }
  return 0;
}

namespace {

// How long a stopping controller waits for its cancelled fetch to end.
constexpr std::chrono::seconds kFetchCancelWait{2};

}  // namespace

SyncController::Impl::Impl(SyncOptions options)
    : opt(std::move(options)), mirror(opt.mirror), client(opt.client), clock(opt.clock) {
  const KindRegistry& reg = KindRegistry::Builtin();
  revision_kind = reg.Find({"bosun.dev", "v1", "Revision"});
  repo_kind = reg.Find({"bosun.dev", "v1", "GitRepository"});
  source.url = RedactUrl(mirror->options().url);
  source.ref = mirror->options().ref;
  source.path = opt.path;
  loader = std::make_unique<DesiredLoader>(mirror, opt.path, LoadLimits{}, opt.field_validation);
  // The sync logs its own warnings; its Events only go to the API.
  if (opt.record_events) events = std::make_unique<EventRecorder>(client, clock, kSyncComponent, false);
  live_settings = SettingsFor(nullptr, opt);
}

SyncController::Impl::~Impl() {
  std::vector<std::thread> fetches;
  {
    std::lock_guard<std::mutex> lock(loop_mu);
    fetches.swap(abandoned_fetches);
  }
  for (auto& t : fetches) t.join();
}

void SyncController::Impl::Trigger(SyncTrigger why) {
  std::lock_guard<std::mutex> lock(loop_mu);
  if (!pending_trigger || TriggerWeight(why) > TriggerWeight(*pending_trigger)) pending_trigger = why;
  loop_cv.notify_all();
}

std::chrono::milliseconds SyncController::Impl::Interval() {
  std::lock_guard<std::mutex> lock(state_mu);
  return std::max(std::chrono::milliseconds(100), live_settings.interval);
}

Result<std::string> SyncController::Impl::Fetch() {
  struct Call {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::optional<Result<std::string>> result;
    std::atomic<bool> cancel{false};  // this fetch's own: a later Start does not undo it
  };
  auto call = std::make_shared<Call>();
  gitsync::Mirror* m = mirror;
  std::thread t([call, m] {
    Result<std::string> r = m->Fetch({}, &call->cancel);
    std::lock_guard<std::mutex> lock(call->mu);
    call->result.emplace(std::move(r));
    call->done = true;
    call->cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(call->mu);
    const std::string began = FormatRfc3339(clock->Now());
    const auto slow_at = std::chrono::steady_clock::now() + opt.fetch_slow_after;
    bool said = false;
    while (!call->done && !stopping.load()) {
      call->cv.wait_for(lock, std::chrono::milliseconds(25));
      if (!call->done && !said && std::chrono::steady_clock::now() >= slow_at) {
        // A remote that stalls: `bosun status` says a fetch is under way
        // rather than only when the last one ended. The pass clears it.
        said = true;
        lock.unlock();
        log::Warn(kSyncComponent, "the fetch is slow: still waiting for the remote",
                  {{"repo", source.url}, {"since", began}});
        SetRepositoryStatus([&](Json& st) { st["fetchingSince"] = began; });
        WriteRepositoryStatus();
        lock.lock();
      }
    }
    if (!call->done) {
      // Stopping mid-fetch (leadership lost, shutdown): the fetch is
      // cancelled and ends within a moment (its sockets are shut down), so
      // the mirror is free again for a controller started anew.
      call->cancel.store(true);
      call->cv.wait_for(lock, kFetchCancelWait, [&] { return call->done; });
    }
    if (call->done) {
      lock.unlock();
      t.join();
      return std::move(*call->result);
    }
  }
  // Still in a call no cancellation reaches (a slow DNS lookup): its thread
  // is joined when the controller is destroyed.
  std::lock_guard<std::mutex> lock(loop_mu);
  abandoned_fetches.push_back(std::move(t));
  return Error(Code::kUnavailable, "the sync controller is stopping");
}

bool SyncController::Impl::RepairMirror(const std::string& why) {
  auto repaired = mirror->Repair(&stopping);
  if (!repaired) {
    log::Warn(kSyncComponent, "the local mirror is damaged and could not be made again",
              {{"repo", source.url}, {"why", why}, {"error", repaired.error().message()}});
    return false;
  }
  if (*repaired) log::Info(kSyncComponent, "made the damaged local mirror again", {{"repo", source.url}, {"why", why}});
  return *repaired;
}

void SyncController::Impl::Loop() {
  std::optional<SyncTrigger> why = opt.first_trigger;
  std::chrono::milliseconds backoff{0};
  // A pass that keeps failing the same way (a remote never fetched yet) is
  // said when its error changes and every 10 minutes, as fetch errors are.
  std::string said;
  std::chrono::steady_clock::time_point said_at;
  while (!stopping.load()) {
    if (why) {
      auto r = Pass(*why);
      // A pass that failed reading what it fetched: a damaged mirror is
      // made again before the retry.
      if (!r && !stopping.load()) RepairMirror("the pass failed: " + r.error().message());
      if (!r && !stopping.load()) {
        backoff = std::min(std::max(backoff * 2, std::chrono::milliseconds(500)), Interval());
        const auto now = std::chrono::steady_clock::now();
        if (r.error().message() != said || now - said_at >= std::chrono::minutes(10)) {
          log::Warn(kSyncComponent, "sync pass failed; retrying",
                    {{"error", r.error().message()}, {"retryIn", FormatDuration(backoff)}});
          said = r.error().message();
          said_at = now;
        }
      } else {
        backoff = std::chrono::milliseconds(0);
        said.clear();
      }
    }
    auto wait = backoff.count() > 0 ? backoff : Interval();
    // Held while the members disagree on the source: looked at again soon,
    // as a member restarted with the right flags says so without a trigger.
    if (held_for_conflict.load()) wait = std::min(wait, std::chrono::milliseconds(2000));
    auto deadline = std::chrono::steady_clock::now() + wait;
    std::unique_lock<std::mutex> lock(loop_mu);
    loop_cv.wait_until(lock, deadline, [&] { return stopping.load() || pending_trigger.has_value(); });
    if (stopping.load()) break;
    if (pending_trigger) {
      why = *pending_trigger;
      pending_trigger.reset();
    } else {
      why = SyncTrigger::kPoll;
    }
  }
}

Result<std::unique_ptr<SyncController>> SyncController::Create(SyncOptions options) {
  if (options.mirror == nullptr) return Error(Code::kInvalid, "the sync controller needs a Git mirror");
  if (options.client == nullptr) return Error(Code::kInvalid, "the sync controller needs an API client");
  if (options.clock == nullptr) options.clock = &Clock::System();
  return std::unique_ptr<SyncController>(new SyncController(std::make_unique<Impl>(std::move(options))));
}

SyncController::SyncController(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SyncController::~SyncController() {
  Stop();
}

void SyncController::Start() {
  Impl& d = *impl_;
  if (d.loop_thread.joinable()) return;
  d.stopping.store(false);
  {
    // A controller started again (leadership regained) reads the store
    // afresh: another leader may have written in between.
    std::lock_guard<std::mutex> lock(d.pass_mu);
    d.setup_done = false;
    d.repo_ready = false;
  }
  log::Info(kSyncComponent, "sync controller started",
            {{"repo", d.source.url}, {"ref", d.source.ref}, {"path", d.source.path}});
  d.loop_thread = std::thread([&d] { d.Loop(); });
}

void SyncController::Stop() {
  Impl& d = *impl_;
  d.stopping.store(true);
  {
    std::lock_guard<std::mutex> lock(d.loop_mu);
    d.loop_cv.notify_all();
  }
  bool was_running = d.loop_thread.joinable();
  if (was_running) d.loop_thread.join();
  d.StopDrift();
  std::unique_ptr<Informer> informer;
  state::WatchPtr repo_watch;
  {
    std::lock_guard<std::mutex> pass_lock(d.pass_mu);
    {
      std::lock_guard<std::mutex> lock(d.state_mu);
      informer = std::move(d.informer);
      d.all_dirty = true;
      d.dirty.clear();
    }
    repo_watch = std::move(d.repo_watch);
    d.setup_done = false;
    d.repo_ready = false;
  }
  if (informer) informer->Stop();
  if (repo_watch) repo_watch->Stop();
  if (was_running) log::Info(kSyncComponent, "sync controller stopped");
}

void SyncController::Trigger(SyncTrigger why) {
  impl_->Trigger(why);
}

bool SyncController::Suspended() const {
  return impl_->suspended.load();
}

Result<std::string> SyncController::SyncOnce(SyncTrigger why) {
  impl_->stopping.store(false);
  return impl_->Pass(why);
}

}  // namespace bosun::reconciler
