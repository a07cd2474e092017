// node/worker_executor.h — runs the node's pod workers on a few threads.
//
// A pod worker (node/pod_worker.h) is level-based: it runs one pass (Sync),
// which says when it wants to run again, and is woken early when its pod
// changes. Most of the time a running pod's worker only waits, so a thread
// per pod (each with its stack and its share of the allocator) made the
// daemon's memory grow with its pods. Here each worker is a task with a due
// time; threads take due tasks, run them and file them again at the time
// they ask for.
//
//  - A task never runs on two threads at once; Wake() while it runs makes it
//    run again right after.
//  - A woken task starts at once: an idle thread takes it, or a new thread
//    is started when none is idle (up to `max_threads`), so one slow pass (a
//    termination waiting out its grace period, an image pull) never delays
//    another pod. Threads idle for `idle_exit` end; one stays.
//  - Remove() takes a task out and waits until it no longer runs (it must
//    not be called from the task itself).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace bosun::node {

class WorkerExecutor {
 public:
  // One pass of a task; returns the wait until the next one
  // (milliseconds::max(): only when woken).
  using Pass = std::function<std::chrono::milliseconds()>;
  class Task;
  using TaskPtr = std::shared_ptr<Task>;

  explicit WorkerExecutor(size_t max_threads = 256, std::chrono::milliseconds idle_exit = std::chrono::seconds(5));
  ~WorkerExecutor();  // removes every task, joins the threads
  WorkerExecutor(const WorkerExecutor&) = delete;
  WorkerExecutor& operator=(const WorkerExecutor&) = delete;

  // Adds a task, due at once.
  TaskPtr Add(Pass pass);
  void Wake(const TaskPtr& task);
  void Remove(const TaskPtr& task);

  // For tests and the bench: threads alive now, and tasks filed.
  size_t threads() const;
  size_t tasks() const;

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;
  void Loop();
  void FileLocked(const TaskPtr& t, SteadyTime due);
  void SpawnIfNeededLocked();

  const size_t max_threads_;
  const std::chrono::milliseconds idle_exit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // idle threads wait here
  std::condition_variable timer_cv_; // the one idle thread watching the next due time
  std::condition_variable done_cv_;  // Remove waits here
  std::set<std::pair<SteadyTime, uint64_t>> queue_;  // (due, task id) of tasks not running
  std::map<uint64_t, TaskPtr> by_id_;
  uint64_t next_id_ = 1;
  size_t threads_ = 0;
  size_t idle_ = 0;        // threads waiting on cv_
  bool watching_ = false;  // a thread waits on timer_cv_
  bool stop_ = false;
  std::vector<std::thread> finished_;  // exited threads, joined later
  std::map<std::thread::id, std::thread> live_;
};

}  // namespace bosun::node
