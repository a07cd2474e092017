// reconciler/workqueue.h — the controllers' work queue (client-go's
// workqueue, DESIGN.md §6): keys, never events.
//
// - A key added while it is waiting is not added twice (de-duplication).
// - A key given to a worker (Get) is not given to another until that worker
//   calls Done; an Add in between marks it dirty and it comes back after Done.
//   So one key is reconciled by one worker at a time, and no change is lost.
// - AddAfter(key, d) adds it once d has passed ("again after D"); an earlier
//   pending AddAfter of the same key wins.
// - AddRateLimited(key) adds it after a per-key back-off that doubles from
//   `base` up to `max` on every call until Forget(key) (a success) resets it.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace bosun::reconciler {

struct WorkQueueOptions {
  std::chrono::milliseconds backoff_base{5};
  std::chrono::milliseconds backoff_max{std::chrono::seconds(300)};
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options = {});
  ~WorkQueue();  // ShutDown()
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& key);
  void AddAfter(const std::string& key, std::chrono::milliseconds delay);
  void AddRateLimited(const std::string& key);
  // Resets the key's back-off (after a successful reconcile).
  void Forget(const std::string& key);
  // How many AddRateLimited calls since the last Forget.
  int NumRequeues(const std::string& key) const;

  // The next key, blocking until there is one; nullopt once ShutDown was
  // called (keys still queued are dropped then).
  std::optional<std::string> Get();
  // The worker finished `key` (from Get).
  void Done(const std::string& key);

  // Wakes every Get with nullopt; later Adds are ignored. Idempotent.
  void ShutDown();
  bool shutting_down() const;
  // Keys waiting now (not those in progress or delayed).
  size_t Len() const;

 private:
  void AddLocked(const std::string& key);
  void DelayLoop();

  const WorkQueueOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;        // Get waits here
  std::condition_variable delay_cv_;  // the delay thread waits here
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;       // queued or to re-queue after Done
  std::unordered_set<std::string> processing_;  // given to a worker
  std::multimap<std::chrono::steady_clock::time_point, std::string> delayed_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> delayed_at_;
  std::unordered_map<std::string, int> failures_;
  bool shutdown_ = false;
  std::thread delay_thread_;
};

}  // namespace bosun::reconciler
