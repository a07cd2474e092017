// node/shim.h — the per-container monitor (`bosun shim`), and the files it
// shares with the runtime in the container's bundle directory.
//
// The runtime starts one shim per container, detached (double fork: the
// daemon never reaps it). The shim makes itself a child subreaper, runs
// `runc run -d` with the container's stdout and stderr on FIFOs it reads, and
// so becomes the parent of the container's init. It then:
//   - writes state.json (its own pid and start time; then the init's pid and
//     started_at once runc has started it),
//   - writes one byte to the bundle's `ready` FIFO (the runtime waits on it),
//   - copies every output line to the log file as
//     "<RFC3339Nano> stdout|stderr <line>",
//   - waits for the init, reads the cgroup's OOM-kill count before the cgroup
//     goes, writes exit.json atomically, and runs `runc delete`.
// Everything the runtime needs after its own restart is in these files; a
// shim is identified by pid *and* /proc start time, so a reused pid is not
// mistaken for it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/result.h"

namespace bosun::node {

struct ShimOptions {
  std::string id;        // the runc container id
  std::string bundle;    // the container's dir (state.json, exit.json, ready, fifos, logs of runc)
  // Where config.json is (runc's --bundle; on the runtime's tmpfs); "" = bundle.
  std::string spec_dir;
  std::string runc = "runc";
  std::string root;      // runc --root
  std::string log_path;  // the container's log file
};

// Runs the shim to the container's end; returns the shim's exit code.
int RunShim(const ShimOptions& options);

// state.json
struct ShimState {
  pid_t shim_pid = 0;
  uint64_t shim_start = 0;  // /proc/<pid>/stat start time (clock ticks since boot)
  pid_t pid = 0;            // the container's init, 0 until started
  std::chrono::system_clock::time_point started_at{};
};

// exit.json
struct ExitRecord {
  int exit_code = 0;
  bool oom_killed = false;
  std::string reason;   // Completed, Error, OOMKilled, StartError
  std::string message;
  std::chrono::system_clock::time_point finished_at{};
};

Status WriteShimState(const std::string& bundle, const ShimState& s);
Result<ShimState> ReadShimState(const std::string& bundle);  // kNotFound when absent
Status WriteExitRecord(const std::string& bundle, const ExitRecord& r);
Result<ExitRecord> ReadExitRecord(const std::string& bundle);  // kNotFound when absent

// The start time of a live (not zombie) process, or nullopt.
std::optional<uint64_t> ProcessStartTime(pid_t pid);
// Whether the shim recorded in `s` is still the live process it was.
bool ShimAlive(const ShimState& s);

std::string FormatRFC3339Nano(std::chrono::system_clock::time_point t);

}  // namespace bosun::node
