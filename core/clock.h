// core/clock.h — the one clock of bosun.
//
// Every component that needs the time takes a Clock& (as Envoy's TimeSource) so
// tests can move time by hand. SystemClock is the real one; FakeClock moves only
// when told to, and its Sleep returns at once after advancing the fake time.
// Both are thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

namespace bosun {

using WallTime = std::chrono::system_clock::time_point;
using MonoTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, for timestamps users read (creationTimestamp, history).
  virtual WallTime Now() const = 0;
  // Monotonic time, for intervals, timeouts and back-off.
  virtual MonoTime Monotonic() const = 0;
  virtual void Sleep(std::chrono::nanoseconds d) = 0;

  // The process-wide real clock.
  static Clock& System();
};

class SystemClock final : public Clock {
 public:
  WallTime Now() const override { return std::chrono::system_clock::now(); }
  MonoTime Monotonic() const override { return std::chrono::steady_clock::now(); }
  void Sleep(std::chrono::nanoseconds d) override;
};

class FakeClock final : public Clock {
 public:
  // Starts at 2026-01-01T00:00:00Z unless told otherwise.
  FakeClock();
  explicit FakeClock(WallTime start);

  WallTime Now() const override;
  MonoTime Monotonic() const override;
  void Sleep(std::chrono::nanoseconds d) override { Advance(d); }
  void Advance(std::chrono::nanoseconds d);

 private:
  mutable std::mutex mu_;
  WallTime wall_;  // guarded by mu_
  MonoTime mono_;  // guarded by mu_
};

// RFC 3339 in UTC with second precision, as Kubernetes writes timestamps:
// "2026-11-21T20:49:01Z".
std::string FormatRfc3339(WallTime t);
// The same instant as local time at a UTC offset (git's for a commit):
// "2020-01-02T03:04:05+05:30"; "Z" for an offset of 0.
std::string FormatRfc3339At(WallTime t, int offset_minutes);
// Same with milliseconds, for logs: "2026-11-21T20:49:01.123Z".
std::string FormatRfc3339Millis(WallTime t);
// The reverse of both: "2026-11-21T20:49:01Z", with or without a fraction
// of a second (to microseconds); nullopt when it is not such a stamp.
std::optional<WallTime> ParseRfc3339(const std::string& s);

}  // namespace bosun
