#include "state/events.h"

#include <atomic>

#include "core/kinds.h"
#include "core/log.h"

namespace bosun::state {
namespace {

constexpr size_t kMaxPending = 1000;
std::atomic<uint64_t> g_event_seq{0};

}  // namespace

EventRecorder::EventRecorder(Client* client, Clock* clock, std::string component, bool log_warnings)
    : client_(client), clock_(clock), component_(std::move(component)), log_warnings_(log_warnings) {
  if (client_ != nullptr) thread_ = std::thread([this] { Loop(); });
}

EventRecorder::~EventRecorder() {
  Stop();
}

void EventRecorder::Record(const Object& regarding, const std::string& type, const std::string& reason,
                           const std::string& message) {
  // Normal events (one per scheduled pod...) only at debug level: the Events hold them.
  log::Write(type == "Warning" && log_warnings_ ? log::Level::kWarn : log::Level::kDebug, component_, message,
             {{"object", regarding.kind() + " " + ObjectKeyOf(regarding)}, {"reason", reason}});
  if (client_ == nullptr) return;
  Pending p;
  p.involved = {{"apiVersion", regarding.api_version()},
                {"kind", regarding.kind()},
                {"name", regarding.name()},
                {"uid", regarding.uid()}};
  if (!regarding.namespace_().empty()) p.involved["namespace"] = regarding.namespace_();
  p.ns = regarding.namespace_().empty() ? "default" : regarding.namespace_();
  p.type = type;
  p.reason = reason;
  p.message = message;
  p.at = FormatRfc3339(clock_->Now());
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  if (queue_.size() >= kMaxPending) {
    ++dropped_;
    return;
  }
  queue_.push_back(std::move(p));
  cv_.notify_one();
}

std::string EventRecorder::ObjectKeyOf(const Object& o) {
  return o.namespace_().empty() ? o.name() : o.namespace_() + "/" + o.name();
}

void EventRecorder::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;  // what is still queued is dropped: stopping must be quick
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Write(p);
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
  idle_cv_.notify_all();
}

void EventRecorder::Write(const Pending& p) {
  const KindInfo* kind = KindRegistry::Builtin().FindKind("Event");
  // The kind too: a Deployment and a Service of one name deleted by hand
  // (no uid) are two events.
  const std::string agg = p.involved.value("apiVersion", "") + "\x1f" + p.involved.value("kind", "") + "\x1f" +
                          p.involved.value("uid", "") + "\x1f" + p.ns + "\x1f" + p.involved.value("name", "") + "\x1f" +
                          p.type + "\x1f" + p.reason + "\x1f" + p.message;
  auto it = written_.find(agg);
  if (it != written_.end()) {
    Json patch = {{"count", it->second.count + 1}, {"lastTimestamp", p.at}};
    auto r = client_->Patch(*kind, p.ns, it->second.name, patch);
    if (r) {
      ++it->second.count;
      return;
    }
    written_.erase(it);  // deleted meanwhile: write a new one
  }
  Object ev(kind->gvk, p.ns,
            p.involved.value("name", "event") + "." + std::to_string(clock_->Now().time_since_epoch().count()) + "." +
                std::to_string(++g_event_seq));
  Json& j = ev.json();
  j["involvedObject"] = p.involved;
  j["type"] = p.type;
  j["reason"] = p.reason;
  j["message"] = p.message;
  j["count"] = 1;
  j["firstTimestamp"] = p.at;
  j["lastTimestamp"] = p.at;
  j["source"] = {{"component", component_}};
  j["reportingComponent"] = component_;
  auto r = client_->Create(ev);
  if (!r) {
    log::Debug(component_, "could not write an Event", {{"reason", p.reason}, {"error", r.error().message()}});
    return;
  }
  if (written_.size() > 10000) written_.clear();
  written_[agg] = Written{ev.name(), 1};
}

void EventRecorder::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  // Stopping drops what is queued (and Stop joins without the lock): not
  // waiting for a writer that is gone, nor reading thread_ while it is joined.
  idle_cv_.wait(lock, [&] { return (queue_.empty() && !busy_) || stopping_ || client_ == nullptr; });
}

void EventRecorder::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

uint64_t EventRecorder::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

}  // namespace bosun::state
