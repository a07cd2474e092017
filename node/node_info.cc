#include "node/node_info.h"

#include <sys/statvfs.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/process.h"

namespace bosun::node {
namespace {

std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// "MemTotal:  16318512 kB" → 16318512 for key "MemTotal"; -1 if absent.
int64_t MeminfoKib(const std::string& proc, const std::string& key) {
  std::ifstream in(proc + "/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream ss(line.substr(key.size() + 1));
    int64_t v = -1;
    ss >> v;
    return v;
  }
  return -1;
}

}  // namespace

Result<Capacity> ReadCapacity(const std::string& proc) {
  Capacity c;
  std::ifstream in(proc + "/cpuinfo");
  if (!in) return Error(Code::kIo, "cannot read " + proc + "/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("processor", 0) == 0 && line.find(':') != std::string::npos) c.cpus++;
  }
  c.memory_kib = MeminfoKib(proc, "MemTotal");
  if (c.cpus == 0 || c.memory_kib <= 0) {
    return Error(Code::kIo, "cannot tell the CPUs and memory from " + proc + "/cpuinfo and " + proc + "/meminfo");
  }
  return c;
}

Result<double> DiskUsagePercent(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) {
    return Error(Code::kIo, "statvfs " + path + ": " + std::strerror(errno));
  }
  const double used = static_cast<double>(st.f_blocks - st.f_bfree);
  const double avail = static_cast<double>(st.f_bavail);
  if (used + avail <= 0) return 0.0;
  return 100.0 * used / (used + avail);
}

Pressure ReadPressure(const std::string& data_dir, const std::string& proc) {
  Pressure p;
  p.memory_available_kib = MeminfoKib(proc, "MemAvailable");
  if (p.memory_available_kib >= 0 && p.memory_available_kib < 100 * 1024) {
    p.memory = true;
    p.message += "memory available " + std::to_string(p.memory_available_kib) + "Ki is under 100Mi; ";
  }
  if (auto usage = DiskUsagePercent(data_dir)) {
    p.disk_available_fraction = 1.0 - *usage / 100.0;
    if (p.disk_available_fraction < 0.10) {
      p.disk = true;
      p.message += "disk available on " + data_dir + " is under 10%; ";
    }
  }
  // /proc/loadavg: "0.00 0.01 0.05 1/123 4567" — the 4th field's total.
  std::istringstream la(FirstLine(proc + "/loadavg"));
  std::string a, b, c, runnable;
  la >> a >> b >> c >> runnable;
  auto slash = runnable.find('/');
  int64_t pid_max = 0;
  try {
    pid_max = std::stoll(FirstLine(proc + "/sys/kernel/pid_max"));
    if (slash != std::string::npos) {
      int64_t used = std::stoll(runnable.substr(slash + 1));
      if (pid_max > 0 && (pid_max - used) * 10 < pid_max) {
        p.pids = true;
        p.message += "process ids available are under 10% of pid_max; ";
      }
    }
  } catch (...) {
  }
  return p;
}

SystemInfo ReadSystemInfo() {
  SystemInfo s;
  struct utsname u {};
  if (::uname(&u) == 0) s.kernel_version = u.release;
  std::ifstream os("/etc/os-release");
  std::string line;
  while (std::getline(os, line)) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string v = line.substr(12);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    s.os_image = v;
  }
  s.machine_id = FirstLine("/etc/machine-id");
  s.boot_id = FirstLine("/proc/sys/kernel/random/boot_id");
  return s;
}

std::string RuncVersion(const std::string& runc) {
  process::Options o;
  o.argv = {runc, "--version"};
  o.timeout = std::chrono::seconds(5);
  auto r = process::Run(o);
  if (!r || !r->ok()) return "runc (unknown)";
  // "runc version 1.1.5+ds1"
  std::istringstream in(r->out);
  std::string w1, w2, version;
  in >> w1 >> w2 >> version;
  if (w1 != "runc" || version.empty()) return "runc (unknown)";
  return "runc " + version;
}

}  // namespace bosun::node
