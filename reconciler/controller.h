// reconciler/controller.h — the controller runtime (controller-runtime's
// contract, DESIGN.md §6): a controller reconciles keys ("namespace/name"),
// never events; reconcile is level-based and idempotent and returns "done",
// "again after D", or an error retried with per-key back-off.
//
// A ControllerManager owns the shared informers (one per kind, created on
// first use, shared by all its controllers), the Event recorder and the
// controllers. Start brings the informers in sync, then starts every
// controller's workers; Stop stops them all. `bosun server` keeps one
// manager alive only while its member leads (leader-only controllers): it
// starts a new one on gaining leadership and stops it on losing it.
//
// Thread-safety: Controller::Enqueue* from any thread. Register controllers
// and informer handlers before ControllerManager::Start.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/kinds.h"
#include "core/result.h"
#include "reconciler/events.h"
#include "reconciler/shared_informer.h"
#include "reconciler/workqueue.h"
#include "state/client.h"

namespace bosun::reconciler {

// What a reconcile asks for next.
struct Reconciled {
  std::chrono::milliseconds requeue_after{0};  // 0: done until something changes
  static Reconciled Done() { return {}; }
  static Reconciled After(std::chrono::milliseconds d) { return {d}; }
};

class Controller {
 public:
  using ReconcileFn = std::function<Result<Reconciled>(const std::string& key)>;

  Controller(std::string name, int workers, ReconcileFn reconcile, WorkQueueOptions queue_options = {});
  ~Controller();  // Stop()
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  const std::string& name() const { return name_; }
  void Enqueue(const std::string& key) { queue_.Add(key); }
  void Enqueue(const Object& object) { queue_.Add(ObjectKey(object)); }
  void EnqueueAfter(const std::string& key, std::chrono::milliseconds d) { queue_.AddAfter(key, d); }
  WorkQueue& queue() { return queue_; }

  void Start();
  // Shuts the queue down and joins the workers (a reconcile in progress
  // finishes first). Idempotent.
  void Stop();

  // Counters, for tests and logs.
  uint64_t reconciles() const { return reconciles_.load(); }
  uint64_t errors() const { return errors_.load(); }

 private:
  void Work();

  const std::string name_;
  const int workers_;
  ReconcileFn reconcile_;
  WorkQueue queue_;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> reconciles_{0};
  std::atomic<uint64_t> errors_{0};
};

struct ManagerOptions {
  // How long Start waits for the informers' initial lists.
  std::chrono::milliseconds sync_timeout{std::chrono::seconds(60)};
  // Every informer's handlers hear of every object again this often (0: never).
  std::chrono::milliseconds resync_period{std::chrono::minutes(5)};
  // "bosun-controller-manager": the Events' source.
  std::string component = "bosun-controller-manager";
};

class ControllerManager {
 public:
  // `client` (may be null for tests that Seed informers) and `clock` outlive
  // the manager.
  ControllerManager(state::Client* client, Clock* clock, ManagerOptions options = {});
  ~ControllerManager();  // Stop()
  ControllerManager(const ControllerManager&) = delete;
  ControllerManager& operator=(const ControllerManager&) = delete;

  // The shared informer of `kind` (the same one for every caller).
  SharedInformer& Informer(const KindInfo& kind);
  SharedInformer& Informer(const std::string& kind_name);  // "Pod", "Deployment"...
  // Takes a controller; the manager starts and stops it.
  Controller& Add(std::unique_ptr<Controller> controller);
  EventRecorder& events() { return *events_; }
  state::Client* client() { return client_; }
  Clock& clock() { return *clock_; }

  // Syncs every informer (or fails: kTimeout naming the kind), then starts
  // the controllers and the resync loop.
  Status Start(const std::atomic<bool>* stop = nullptr);
  // Stops controllers first, then informers and the recorder. Idempotent.
  void Stop();

 private:
  void ResyncLoop();

  state::Client* client_;
  Clock* clock_;
  const ManagerOptions options_;
  std::unique_ptr<EventRecorder> events_;
  std::mutex mu_;
  std::map<const KindInfo*, std::unique_ptr<SharedInformer>> informers_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  std::mutex resync_mu_;
  std::condition_variable resync_cv_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread resync_thread_;
};

}  // namespace bosun::reconciler
