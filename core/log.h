// core/log.h — the one logging facility of bosun.
//
// One line per event, logfmt-style, so a person can read it and a program can
// parse it:
//
//   2026-11-21T20:49:01.123Z INFO  gitsync  object=web/frontend rev=3f2a1c0 msg="applied"
//
// Call sites name their component and, when there is one, the object key and
// revision the event is about:
//
//   log::Info("gitsync", "fetched", {{"rev", sha}, {"object", key}});
//
// Values are quoted when they contain spaces, quotes or '='. Secrets must never
// be passed as field values; components that handle them log a redacted form.
// The sink is process-wide and thread-safe; tests install a capturing sink.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bosun::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct Field {
  std::string key;
  std::string value;
};
using Fields = std::vector<Field>;

struct Record {
  Level level;
  std::string_view component;
  std::string_view message;
  const Fields& fields;
};

// Formats a record as one line (without the trailing newline).
std::string FormatLine(const Record& r);

// Records below this level are dropped. Default: kInfo, or kDebug when the
// environment has BOSUN_LOG=debug.
void SetLevel(Level level);
Level GetLevel();
bool ParseLevel(std::string_view s, Level* out);

// Replaces the sink (default: a line to stderr). Pass nullptr to restore it.
using Sink = std::function<void(const Record&)>;
void SetSink(Sink sink);

void Write(Level level, std::string_view component, std::string_view message, const Fields& fields = {});

inline void Debug(std::string_view c, std::string_view m, const Fields& f = {}) {
  Write(Level::kDebug, c, m, f);
}
inline void Info(std::string_view c, std::string_view m, const Fields& f = {}) {
  Write(Level::kInfo, c, m, f);
}
inline void Warn(std::string_view c, std::string_view m, const Fields& f = {}) {
  Write(Level::kWarn, c, m, f);
}
inline void Error(std::string_view c, std::string_view m, const Fields& f = {}) {
  Write(Level::kError, c, m, f);
}

}  // namespace bosun::log
