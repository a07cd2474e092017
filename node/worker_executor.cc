#include "node/worker_executor.h"

#include <exception>

#include "core/log.h"

namespace bosun::node {

using std::chrono::milliseconds;

// A due task waiting this long for a thread gets a new one.
constexpr milliseconds kBehind{10};

class WorkerExecutor::Task {
 public:
  Pass pass;
  uint64_t id = 0;
  SteadyTime due{};
  bool queued = false;
  bool running = false;
  bool woken = false;  // woken while running: run again at once
  bool urgent = false;  // added or woken (an event), not only due by its timer
  bool removed = false;
};

WorkerExecutor::WorkerExecutor(size_t max_threads, milliseconds idle_exit)
    : max_threads_(max_threads == 0 ? 1 : max_threads), idle_exit_(idle_exit) {}

WorkerExecutor::~WorkerExecutor() {
  std::map<std::thread::id, std::thread> live;
  std::vector<std::thread> finished;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    timer_cv_.notify_all();
    for (auto& [id, t] : by_id_) t->removed = true;
    by_id_.clear();
    queue_.clear();
    cv_.notify_all();
  }
  // Threads end after their current pass; they never remove themselves from
  // live_ once stop_ is set.
  {
    std::lock_guard<std::mutex> l(mu_);
    live.swap(live_);
    finished.swap(finished_);
  }
  for (auto& [id, t] : live) t.join();
  for (auto& t : finished) t.join();
}

size_t WorkerExecutor::threads() const {
  std::lock_guard<std::mutex> l(mu_);
  return threads_;
}

size_t WorkerExecutor::tasks() const {
  std::lock_guard<std::mutex> l(mu_);
  return by_id_.size();
}

void WorkerExecutor::FileLocked(const TaskPtr& t, SteadyTime due) {
  if (t->queued) queue_.erase({t->due, t->id});
  t->due = due;
  t->queued = true;
  queue_.insert({due, t->id});
  if (due <= std::chrono::steady_clock::now()) {
    // Due now: an idle thread takes it (the watcher if no other is idle).
    if (idle_ > 0) {
      cv_.notify_one();
    } else if (watching_) {
      timer_cv_.notify_one();
    }
  } else if (queue_.begin()->second == t->id) {
    // The new earliest: the watcher waits for it (an idle thread becomes
    // the watcher if none is).
    if (watching_) {
      timer_cv_.notify_one();
    } else if (idle_ > 0) {
      cv_.notify_one();
    }
  }
}

void WorkerExecutor::SpawnIfNeededLocked() {
  if (stop_ || threads_ >= max_threads_) return;
  // A thread is needed when none exists (someone must watch the timers), or
  // when a task is due now and no thread is idle to take it.
  bool due_now = !queue_.empty() && queue_.begin()->first <= std::chrono::steady_clock::now();
  size_t waiting = 0;
  if (due_now) {
    auto now = std::chrono::steady_clock::now();
    for (auto it = queue_.begin(); it != queue_.end() && it->first <= now; ++it) ++waiting;
  }
  if (threads_ > 0 && (!due_now || idle_ + (watching_ ? 1 : 0) >= waiting)) return;
  ++threads_;
  std::thread th([this] { Loop(); });
  live_[th.get_id()] = std::move(th);
}

WorkerExecutor::TaskPtr WorkerExecutor::Add(Pass pass) {
  auto t = std::make_shared<Task>();
  t->pass = std::move(pass);
  std::lock_guard<std::mutex> l(mu_);
  if (stop_) {
    t->removed = true;
    return t;
  }
  t->id = next_id_++;
  by_id_[t->id] = t;
  t->urgent = true;
  FileLocked(t, std::chrono::steady_clock::now());
  SpawnIfNeededLocked();
  return t;
}

void WorkerExecutor::Wake(const TaskPtr& t) {
  if (!t) return;
  std::lock_guard<std::mutex> l(mu_);
  if (t->removed || stop_) return;
  if (t->running) {
    t->woken = true;
    return;
  }
  t->urgent = true;
  FileLocked(t, std::chrono::steady_clock::now());
  SpawnIfNeededLocked();
}

void WorkerExecutor::Remove(const TaskPtr& t) {
  if (!t) return;
  std::unique_lock<std::mutex> l(mu_);
  t->removed = true;
  if (t->queued) {
    queue_.erase({t->due, t->id});
    t->queued = false;
  }
  by_id_.erase(t->id);
  done_cv_.wait(l, [&] { return !t->running; });
}

void WorkerExecutor::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  auto last_work = std::chrono::steady_clock::now();
  while (!stop_) {
    auto now = std::chrono::steady_clock::now();
    if (!queue_.empty() && queue_.begin()->first <= now) {
      uint64_t id = queue_.begin()->second;
      queue_.erase(queue_.begin());
      auto it = by_id_.find(id);
      if (it == by_id_.end()) continue;
      TaskPtr t = it->second;
      t->queued = false;
      t->running = true;
      t->woken = false;
      // Keep a spare thread while this pass runs when it answers an event
      // (it may be slow: a start, a termination), when this is the only
      // thread, or when due tasks fall behind; else the idle ones take what
      // is due, one after another.
      bool behind = !queue_.empty() && queue_.begin()->first + kBehind <= now;
      bool spare = idle_ > 0 || watching_;
      if (!spare && (t->urgent || behind || threads_ == 1) && threads_ < max_threads_) {
        ++threads_;
        std::thread th([this] { Loop(); });
        live_[th.get_id()] = std::move(th);
      } else if (idle_ > 0 && !queue_.empty() && queue_.begin()->first <= now) {
        cv_.notify_one();
      }
      t->urgent = false;
      l.unlock();
      // A pass that throws (a defect) must not take the daemon down with
      // it, as an uncaught exception on this thread would: it is logged and
      // the task runs again in a second, as kubelet recovers its workers.
      milliseconds wait{1000};
      try {
        wait = t->pass();
      } catch (const std::exception& e) {
        log::Error("node", "pod worker pass failed; retrying in 1s", {{"error", e.what()}});
      }
      l.lock();
      t->running = false;
      done_cv_.notify_all();
      if (!t->removed && !stop_) {
        auto after = std::chrono::steady_clock::now();
        SteadyTime due = SteadyTime::max();
        if (t->woken) {
          due = after;
        } else if (wait != milliseconds::max()) {
          due = after + std::max(wait, milliseconds(1));
        }
        t->woken = false;
        FileLocked(t, due);
      }
      last_work = std::chrono::steady_clock::now();
      continue;
    }
    // Exited threads' stacks go back once they are joined.
    if (!finished_.empty()) {
      std::vector<std::thread> done;
      done.swap(finished_);
      l.unlock();
      for (auto& th : done) th.join();
      l.lock();
      continue;
    }
    auto idle_until = last_work + idle_exit_;
    if (threads_ > 1 && now >= idle_until) {
      // Idle long enough, and another thread keeps watching the timers.
      --threads_;
      auto self = live_.find(std::this_thread::get_id());
      if (self != live_.end()) {
        finished_.push_back(std::move(self->second));
        live_.erase(self);
      }
      return;
    }
    if (!watching_) {
      // The watcher: sleeps until the earliest due task (with other threads
      // around it may still end when idle).
      auto until = queue_.empty() ? now + std::chrono::hours(1) : queue_.begin()->first;
      if (threads_ > 1 && idle_until < until) until = idle_until;
      watching_ = true;
      timer_cv_.wait_until(l, until);
      watching_ = false;
      // Someone else may have to watch now.
      if (idle_ > 0) cv_.notify_one();
      continue;
    }
    ++idle_;
    cv_.wait_until(l, idle_until);
    --idle_;
  }
}

}  // namespace bosun::node
