// bench/bench_shell.h — running the baseline's command-line tools (git,
// ssh-keygen) from a benchmark: output appended to a log file, failures with
// the command and where its output went.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/result.h"

namespace bosun::bench {

inline double Ms(std::chrono::steady_clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Runs a shell command, its output appended to `log`; kIo with the log's name
// when it fails.
inline Status Sh(const std::string& cmd, const std::filesystem::path& log) {
  std::string full = "(" + cmd + ") >>" + log.string() + " 2>&1";
  int rc = std::system(full.c_str());
  if (rc != 0) return Error(Code::kIo, "`" + cmd + "` failed (status " + std::to_string(rc) + "), see " + log.string());
  return Status();
}

// Sh, timed: milliseconds of wall time.
inline Result<double> TimedSh(const std::string& cmd, const std::filesystem::path& log) {
  auto t0 = std::chrono::steady_clock::now();
  if (Status s = Sh(cmd, log); !s) return s.error();
  return Ms(std::chrono::steady_clock::now() - t0);
}

// A command's standard output (standard error goes to the bench's own).
inline Result<std::string> ShOutput(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return Error(Code::kIo, "cannot run `" + cmd + "`");
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) return Error(Code::kIo, "`" + cmd + "` failed (status " + std::to_string(rc) + ")");
  return out;
}

inline void WriteFile(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

}  // namespace bosun::bench
