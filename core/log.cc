#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "core/clock.h"

namespace bosun::log {
namespace {

Level InitialLevel() {
  const char* env = std::getenv("BOSUN_LOG");
  Level l = Level::kInfo;
  if (env != nullptr) ParseLevel(env, &l);
  return l;
}

std::atomic<int> g_level{static_cast<int>(InitialLevel())};
std::mutex g_mu;
Sink g_sink;  // guarded by g_mu; empty means stderr

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "DEBUG";
    case Level::kInfo: return "INFO ";
    case Level::kWarn: return "WARN ";
    case Level::kError: return "ERROR";
  }
  return "?";
}

void AppendValue(std::string& out, std::string_view v) {
  bool quote = v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      quote = true;
      break;
    }
  }
  if (!quote) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

}  // namespace

bool ParseLevel(std::string_view s, Level* out) {
  if (s == "debug") *out = Level::kDebug;
  else if (s == "info") *out = Level::kInfo;
  else if (s == "warn" || s == "warning") *out = Level::kWarn;
  else if (s == "error") *out = Level::kError;
  else return false;
  return true;
}

void SetLevel(Level level) { g_level = static_cast<int>(level); }
Level GetLevel() { return static_cast<Level>(g_level.load()); }

void SetSink(Sink sink) {
  std::lock_guard<std::mutex> l(g_mu);
  g_sink = std::move(sink);
}

std::string FormatLine(const Record& r) {
  std::string out = FormatRfc3339Millis(Clock::System().Now());
  out += ' ';
  out += LevelName(r.level);
  out += ' ';
  out.append(r.component);
  for (const Field& f : r.fields) {
    out += ' ';
    out += f.key;
    out += '=';
    AppendValue(out, f.value);
  }
  out += " msg=";
  AppendValue(out, r.message);
  return out;
}

void Write(Level level, std::string_view component, std::string_view message, const Fields& fields) {
  if (static_cast<int>(level) < g_level.load()) return;
  Record r{level, component, message, fields};
  std::lock_guard<std::mutex> l(g_mu);
  if (g_sink) {
    g_sink(r);
    return;
  }
  std::string line = FormatLine(r);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace bosun::log
