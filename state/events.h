// state/events.h — Events: why a controller (or a node) did what it did, as
// Kubernetes records it (v1 Event: involvedObject, type Normal|Warning,
// reason, message, count, first/lastTimestamp, source.component), shown by
// `bosun describe` and `bosun get events`.
//
// Record never blocks a reconcile: events go to a background writer through
// a bounded queue (beyond 1,000 waiting events new ones are dropped and
// counted). The same (object, type, reason, message) recorded again within
// the recorder's life updates one Event's count and lastTimestamp instead of
// writing a new one, like Kubernetes' event aggregation.
//
// Messages must never hold a Secret's value.
//
// Thread-safety: Record from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/object.h"
#include "core/result.h"
#include "state/client.h"

namespace bosun::state {

class EventRecorder {
 public:
  // `client` null: events are only logged (tests, the scheduler bench).
  // `log_warnings` false: Warning events are logged at debug level too (a
  // component that logs its own warnings, as the GitOps sync does).
  EventRecorder(Client* client, Clock* clock, std::string component, bool log_warnings = true);
  ~EventRecorder();  // Stop()
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  void Normal(const Object& regarding, const std::string& reason, const std::string& message) {
    Record(regarding, "Normal", reason, message);
  }
  void Warning(const Object& regarding, const std::string& reason, const std::string& message) {
    Record(regarding, "Warning", reason, message);
  }
  void Record(const Object& regarding, const std::string& type, const std::string& reason, const std::string& message);

  // Ends the writer after the event it is writing; queued ones are dropped.
  // Idempotent.
  void Stop();
  // Waits until every queued event was written, or the recorder stopped (tests).
  void Flush();
  uint64_t dropped() const;

 private:
  struct Pending {
    Json involved;
    std::string ns, type, reason, message, at;
  };
  struct Written {
    std::string name;
    int64_t count = 0;
  };
  void Loop();
  void Write(const Pending& p);
  static std::string ObjectKeyOf(const Object& o);

  Client* client_;
  Clock* clock_;
  const std::string component_;
  const bool log_warnings_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Pending> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  uint64_t dropped_ = 0;
  std::map<std::string, Written> written_;  // aggregation key -> Event (writer thread only)
  std::thread thread_;
};

}  // namespace bosun::state
