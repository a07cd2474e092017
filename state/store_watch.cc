// Watch delivery: the registry of watches and the one notifier thread.
//
// Each watcher reads its history (revisions from..history_until) from the
// revision log in chunks on the notifier thread, then takes live batches from
// its queue. Apply publishes into every matching queue under the apply lock,
// which Watch also registers under, so the two sources meet without a gap or
// an overlap. The thread serves ready watchers round-robin, one chunk or one
// group of live batches at a time, so one watcher's long catch-up does not
// starve the others.
#include <exception>

#include "core/log.h"
#include "state/store_internal.h"

namespace bosun::state::internal {

namespace {
// Live batches are merged into one callback up to about this many events.
constexpr size_t kMaxLiveEventsPerCallback = 1000;

bool HasPrefix(const std::string& key, const std::string& prefix) {
  return key.compare(0, prefix.size(), prefix) == 0;
}
}  // namespace

struct Watcher {
  uint64_t id = 0;
  std::string prefix;
  WatchCallback callback;
  // The rest is guarded by WatchHub::mu_.
  int64_t next_rev = 0;       // the first revision not yet handed to the callback
  int64_t history_until = 0;  // revisions up to this come from the revision log, later ones from `queue`
  std::deque<std::shared_ptr<const LiveBatch>> queue;
  size_t queued_events = 0;
  std::optional<Error> end;  // set: deliver this error next, and nothing after it
  bool scheduled = false;    // in the hub's ready list
  bool finished = false;     // cancelled, or its end delivered
};

namespace {
class WatchHandleImpl final : public WatchHandle {
 public:
  WatchHandleImpl(std::shared_ptr<WatchHub> hub, std::shared_ptr<Watcher> w) : hub_(std::move(hub)), w_(std::move(w)) {}
  ~WatchHandleImpl() override { hub_->Cancel(w_); }

 private:
  std::shared_ptr<WatchHub> hub_;  // keeps the hub alive for handles that outlive the store
  std::shared_ptr<Watcher> w_;
};
}  // namespace

WatchHub::WatchHub(ReadHistory read_history, size_t queue_limit)
    : read_history_(std::move(read_history)), queue_limit_(queue_limit) {
  thread_ = std::thread([this] { Run(); });
  thread_id_ = thread_.get_id();
}

WatchHub::~WatchHub() {
  if (thread_.joinable()) Shutdown();
}

std::unique_ptr<WatchHandle> WatchHub::Add(std::string prefix, int64_t from, int64_t history_until,
                                           WatchCallback callback) {
  auto w = std::make_shared<Watcher>();
  w->prefix = std::move(prefix);
  w->callback = std::move(callback);
  w->next_rev = from;
  w->history_until = history_until;
  std::lock_guard l(mu_);
  w->id = next_id_++;
  if (stop_) {
    w->finished = true;
  } else {
    watchers_.emplace(w->id, w);
    if (from <= history_until) Schedule(w);
  }
  return std::make_unique<WatchHandleImpl>(shared_from_this(), std::move(w));
}

void WatchHub::Schedule(const std::shared_ptr<Watcher>& w) {
  if (w->scheduled || w->finished) return;
  w->scheduled = true;
  ready_.push_back(w);
  work_cv_.notify_one();
}

void WatchHub::EndLocked(const std::shared_ptr<Watcher>& w, Error e) {
  if (w->finished || w->end) return;
  w->queue.clear();
  w->queued_events = 0;
  w->end = std::move(e);
  watchers_.erase(w->id);
  Schedule(w);
}

void WatchHub::Publish(std::shared_ptr<const LiveBatch> batch) {
  std::lock_guard l(mu_);
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    std::shared_ptr<Watcher> w = (it++)->second;  // EndLocked erases the current entry
    bool matches = false;
    for (const Event& e : batch->events) {
      if (HasPrefix(e.kv.key, w->prefix)) {
        matches = true;
        break;
      }
    }
    if (!matches || batch->revision < w->next_rev) continue;
    if (!w->queue.empty() && w->queued_events + batch->events.size() > queue_limit_) {
      EndLocked(
          w, Error(Code::kUnavailable, "watch on \"" + Printable(w->prefix) + "\" fell too far behind (more than " +
                                           std::to_string(queue_limit_) + " events waiting); re-watch from revision " +
                                           std::to_string(w->next_rev)));
      continue;
    }
    w->queue.push_back(batch);
    w->queued_events += batch->events.size();
    if (w->next_rev > w->history_until) Schedule(w);  // a watcher still catching up gets to its queue later
  }
}

void WatchHub::EndAll(Code code, const std::string& reason) {
  std::lock_guard l(mu_);
  auto all = std::move(watchers_);
  watchers_.clear();
  for (auto& [id, w] : all)
    EndLocked(w, Error(code, reason + "; re-watch from revision " + std::to_string(w->next_rev)));
}

void WatchHub::EndCompacted(int64_t compacted) {
  std::lock_guard l(mu_);
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    std::shared_ptr<Watcher> w = (it++)->second;
    if (w->next_rev <= w->history_until && w->next_rev < compacted) {
      EndLocked(w, Error(Code::kCompacted, "watch on \"" + Printable(w->prefix) + "\" needs revision " +
                                               std::to_string(w->next_rev) +
                                               ", which has been compacted (the oldest revision still available is " +
                                               std::to_string(compacted) + "); list again and re-watch"));
    }
  }
}

void WatchHub::Shutdown() {
  {
    std::lock_guard l(mu_);
    if (stop_) return;
    // EndAll takes the lock itself; the watchers are ended by hand here so
    // that stop_ is set in the same critical section.
    auto all = std::move(watchers_);
    watchers_.clear();
    for (auto& [id, w] : all) {
      EndLocked(w, Error(Code::kUnavailable,
                         "the state store was closed; re-watch from revision " + std::to_string(w->next_rev)));
    }
    stop_ = true;
    work_cv_.notify_all();
  }
  if (std::this_thread::get_id() == thread_id_) {
    // The store was destroyed from a watch callback: the thread ends on its own.
    std::lock_guard l(mu_);
    keep_alive_ = shared_from_this();
    thread_.detach();
  } else {
    thread_.join();
  }
}

void WatchHub::Cancel(const std::shared_ptr<Watcher>& w) {
  std::unique_lock l(mu_);
  w->finished = true;
  w->queue.clear();
  w->queued_events = 0;
  watchers_.erase(w->id);
  // A callback that destroys its own handle must not wait for itself.
  if (std::this_thread::get_id() == thread_id_) return;
  callback_cv_.wait(l, [&] { return in_callback_ != w.get(); });
}

void WatchHub::Deliver(std::unique_lock<std::mutex>& l, const std::shared_ptr<Watcher>& w,
                       Result<std::vector<Event>> batch) {
  in_callback_ = w.get();
  l.unlock();
  std::string thrown;
  try {
    w->callback(std::move(batch));
  } catch (const std::exception& e) {
    thrown = e.what();
  } catch (...) {
    thrown = "unknown exception";
  }
  l.lock();
  in_callback_ = nullptr;
  callback_cv_.notify_all();
  if (!thrown.empty()) {
    // An exception must not cross into the store; the watch ends instead,
    // because the events it was given may not have been handled.
    log::Error("state", "watch callback threw; ending the watch",
               {{"prefix", Printable(w->prefix)}, {"error", thrown}});
    EndLocked(w, Error(Code::kInternal, "watch callback threw: " + thrown));
  }
}

void WatchHub::Run() {
  std::unique_lock l(mu_);
  for (;;) {
    work_cv_.wait(l, [&] { return stop_ || !ready_.empty(); });
    if (ready_.empty()) {  // stopping, and every ended watch has heard so
      std::shared_ptr<WatchHub> self = std::move(keep_alive_);
      l.unlock();
      return;  // `self` may destroy the hub here; nothing touches it after
    }
    std::shared_ptr<Watcher> w = std::move(ready_.front());
    ready_.pop_front();
    w->scheduled = false;
    if (w->finished) continue;

    if (w->end) {
      Error e = std::move(*w->end);
      w->finished = true;
      Deliver(l, w, std::move(e));
      continue;
    }

    if (w->next_rev <= w->history_until) {
      const int64_t from = w->next_rev, to = w->history_until;
      l.unlock();
      Result<HistoryChunk> chunk = read_history_(w->prefix, from, to);
      l.lock();
      if (w->finished) continue;
      if (w->end) {  // ended while reading: what was read is dropped, the error comes next
        Schedule(w);
        continue;
      }
      if (!chunk) {
        watchers_.erase(w->id);
        w->queue.clear();
        w->finished = true;
        Deliver(l, w, chunk.error());
        continue;
      }
      w->next_rev = chunk->next;
      if (w->next_rev <= w->history_until || !w->queue.empty()) Schedule(w);
      if (!chunk->events.empty()) Deliver(l, w, std::move(chunk->events));
      continue;
    }

    std::vector<Event> out;
    while (!w->queue.empty() && out.size() < kMaxLiveEventsPerCallback) {
      std::shared_ptr<const LiveBatch> b = std::move(w->queue.front());
      w->queue.pop_front();
      w->queued_events -= b->events.size();
      if (b->revision < w->next_rev) continue;
      for (const Event& e : b->events) {
        if (HasPrefix(e.kv.key, w->prefix)) out.push_back(e);
      }
      w->next_rev = b->revision + 1;
    }
    if (!w->queue.empty()) Schedule(w);
    if (!out.empty()) Deliver(l, w, std::move(out));
  }
}

}  // namespace bosun::state::internal
