// node/node_info.h — what the node reports about the machine it runs on:
// capacity (CPUs from /proc/cpuinfo, memory from /proc/meminfo), the pressure
// conditions as the kubelet's default eviction thresholds define them
// (memory.available < 100Mi, nodefs.available < 10% of the data dir's file
// system, pid.available < 10% of pid_max; the disk measured as `df` does, see
// DiskUsagePercent), and the system info shown in
// `status.nodeInfo`. Reads only; every function is safe from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"

namespace bosun::node {

struct Capacity {
  int cpus = 0;
  int64_t memory_kib = 0;  // MemTotal
};
// `proc` is the proc file system's root (tests pass a folder of their own).
Result<Capacity> ReadCapacity(const std::string& proc = "/proc");

struct Pressure {
  bool memory = false;
  bool disk = false;
  bool pids = false;
  int64_t memory_available_kib = 0;
  double disk_available_fraction = 1.0;
  std::string message;  // what is short, for the conditions' messages
};
Pressure ReadPressure(const std::string& data_dir, const std::string& proc = "/proc");

// The used share of the file system holding `path`, in percent (0-100), as
// `df` computes it: used / (used + available), where used = size - free.
// Blocks reserved for root count on neither side. (The kubelet divides by the
// whole size instead, which counts the reserve as used: on a file system
// with a large reserve — 62% of the disk on this project's machine kind —
// that reads "71% used" where `df` says 25%, and set off image GC and
// DiskPressure on a disk with room to spare.)
Result<double> DiskUsagePercent(const std::string& path);

struct SystemInfo {
  std::string kernel_version;   // uname -r
  std::string os_image;         // PRETTY_NAME of /etc/os-release
  std::string machine_id;       // /etc/machine-id
  std::string boot_id;          // /proc/sys/kernel/random/boot_id
  std::string architecture = "amd64";
  std::string operating_system = "linux";
};
SystemInfo ReadSystemInfo();

// "runc 1.1.5" from `runc --version`, or "runc (unknown)" when it cannot run.
std::string RuncVersion(const std::string& runc = "runc");

}  // namespace bosun::node
