#include "reconciler/controller.h"

#include "core/log.h"

namespace bosun::reconciler {

Controller::Controller(std::string name, int workers, ReconcileFn reconcile, WorkQueueOptions queue_options)
    : name_(std::move(name)), workers_(workers < 1 ? 1 : workers), reconcile_(std::move(reconcile)),
      queue_(queue_options) {}

Controller::~Controller() {
  Stop();
}

void Controller::Start() {
  if (!threads_.empty()) return;
  for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { Work(); });
}

void Controller::Stop() {
  queue_.ShutDown();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Controller::Work() {
  while (auto key = queue_.Get()) {
    ++reconciles_;
    Result<Reconciled> r = Error(Code::kInternal, "reconcile threw");
    try {
      r = reconcile_(*key);
    } catch (const std::exception& e) {
      r = Error(Code::kInternal, std::string("reconcile threw: ") + e.what());
    }
    if (!r) {
      ++errors_;
      int n = queue_.NumRequeues(*key);
      // Conflicts are the normal price of optimistic concurrency: retry quietly.
      if (r.error().code() == Code::kConflict || n < 3) {
        log::Debug(name_, "reconcile failed, retrying", {{"object", *key}, {"error", r.error().message()}});
      } else {
        log::Warn(name_, "reconcile failed, retrying with back-off",
                  {{"object", *key}, {"error", r.error().message()}, {"attempts", std::to_string(n + 1)}});
      }
      queue_.AddRateLimited(*key);
    } else {
      queue_.Forget(*key);
      if (r->requeue_after.count() > 0) queue_.AddAfter(*key, r->requeue_after);
    }
    queue_.Done(*key);
  }
}

ControllerManager::ControllerManager(state::Client* client, Clock* clock, ManagerOptions options)
    : client_(client), clock_(clock), options_(std::move(options)),
      events_(std::make_unique<EventRecorder>(client, clock, options_.component)) {}

ControllerManager::~ControllerManager() {
  Stop();
}

SharedInformer& ControllerManager::Informer(const KindInfo& kind) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = informers_[&kind];
  if (!slot) slot = std::make_unique<SharedInformer>(client_, kind);
  return *slot;
}

SharedInformer& ControllerManager::Informer(const std::string& kind_name) {
  const KindInfo* kind = KindRegistry::Builtin().FindKind(kind_name);
  if (kind == nullptr) {
    log::Error("controller-manager", "unknown kind asked of the manager", {{"kind", kind_name}});
    std::abort();
  }
  return Informer(*kind);
}

Controller& ControllerManager::Add(std::unique_ptr<Controller> controller) {
  std::lock_guard<std::mutex> lock(mu_);
  controllers_.push_back(std::move(controller));
  return *controllers_.back();
}

Status ControllerManager::Start(const std::atomic<bool>* stop) {
  std::vector<SharedInformer*> informers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [k, i] : informers_) informers.push_back(i.get());
  }
  for (SharedInformer* i : informers) {
    if (i->synced()) continue;  // seeded
    if (auto s = i->Start(options_.sync_timeout, stop); !s) return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& c : controllers_) c->Start();
  started_ = true;
  if (options_.resync_period.count() > 0) resync_thread_ = std::thread([this] { ResyncLoop(); });
  return Ok();
}

void ControllerManager::ResyncLoop() {
  std::unique_lock<std::mutex> lock(resync_mu_);
  while (!stopping_) {
    if (resync_cv_.wait_for(lock, options_.resync_period, [&] { return stopping_; })) break;
    lock.unlock();
    std::vector<SharedInformer*> informers;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (auto& [k, i] : informers_) informers.push_back(i.get());
    }
    for (SharedInformer* i : informers) i->Resync();
    lock.lock();
  }
}

void ControllerManager::Stop() {
  {
    std::lock_guard<std::mutex> lock(resync_mu_);
    stopping_ = true;
    resync_cv_.notify_all();
  }
  if (resync_thread_.joinable()) resync_thread_.join();
  std::vector<Controller*> controllers;
  std::vector<SharedInformer*> informers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : controllers_) controllers.push_back(c.get());
    for (auto& [k, i] : informers_) informers.push_back(i.get());
  }
  for (Controller* c : controllers) c->Stop();
  for (SharedInformer* i : informers) i->Stop();
  events_->Stop();
}

}  // namespace bosun::reconciler
