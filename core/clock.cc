#include "core/clock.h"

#include <cstdio>
#include <ctime>
#include <thread>

namespace bosun {

Clock& Clock::System() {
  static SystemClock clock;
  return clock;
}

void SystemClock::Sleep(std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); }

FakeClock::FakeClock() : FakeClock(std::chrono::system_clock::from_time_t(1767225600)) {}

FakeClock::FakeClock(WallTime start) : wall_(start), mono_(MonoTime{}) {}

WallTime FakeClock::Now() const {
  std::lock_guard<std::mutex> l(mu_);
  return wall_;
}

MonoTime FakeClock::Monotonic() const {
  std::lock_guard<std::mutex> l(mu_);
  return mono_;
}

void FakeClock::Advance(std::chrono::nanoseconds d) {
  std::lock_guard<std::mutex> l(mu_);
  wall_ += std::chrono::duration_cast<WallTime::duration>(d);
  mono_ += d;
}

namespace {
std::string Format(WallTime t, bool millis) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (millis) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms));
    out += frac;
  }
  out += 'Z';
  return out;
}
}  // namespace

std::string FormatRfc3339(WallTime t) { return Format(t, false); }

std::string FormatRfc3339At(WallTime t, int offset_minutes) {
  if (offset_minutes == 0 || offset_minutes <= -24 * 60 || offset_minutes >= 24 * 60) return Format(t, false);
  std::string out = Format(t + std::chrono::minutes(offset_minutes), false);
  out.pop_back();  // the Z
  const int m = offset_minutes < 0 ? -offset_minutes : offset_minutes;
  char buf[8];
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", offset_minutes < 0 ? '-' : '+', m / 60, m % 60);
  return out + buf;
}
std::string FormatRfc3339Millis(WallTime t) { return Format(t, true); }

std::optional<WallTime> ParseRfc3339(const std::string& s) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  WallTime t = std::chrono::system_clock::from_time_t(timegm(&tm));
  size_t i = static_cast<size_t>(consumed);
  if (i < s.size() && s[i] == '.') {
    int64_t micros = 0;
    int digits = 0;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (digits < 6) {
        micros = micros * 10 + (s[i] - '0');
        ++digits;
      }
    }
    for (; digits < 6; ++digits) micros *= 10;
    t += std::chrono::microseconds(micros);
  }
  // A numeric offset (+02:00, -05:30) names local time there: UTC is that
  // much earlier or later. `Z` (or nothing) is UTC.
  if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    auto digit = [&](size_t k) { return s[k] >= '0' && s[k] <= '9'; };
    if (!digit(i + 1) || !digit(i + 2) || !digit(i + 4) || !digit(i + 5)) return std::nullopt;
    const int hours = (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
    const int minutes = (s[i + 4] - '0') * 10 + (s[i + 5] - '0');
    if (hours >= 24 || minutes >= 60) return std::nullopt;
    const auto offset = std::chrono::hours(hours) + std::chrono::minutes(minutes);
    t += s[i] == '+' ? -offset : offset;
  }
  return t;
}

}  // namespace bosun
