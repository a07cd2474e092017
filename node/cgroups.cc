#include "node/cgroups.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace bosun::node::cgroups {
namespace {

Status WriteFile(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Error(Code::kIo, "cannot open " + path + ": " + std::strerror(errno));
  ssize_t n = ::write(fd, value.data(), value.size());
  int e = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return Error(Code::kIo, "cannot write \"" + value + "\" to " + path + ": " + std::strerror(e));
  }
  return Ok();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status MkdirP(const std::string& path) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      return Error(Code::kIo, "cannot create cgroup " + cur + ": " + std::strerror(errno));
    }
  }
  return Ok();
}

bool IsDir(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Subdirectories of `dir`, deepest first, then `dir` itself.
void CollectPostOrder(const std::string& dir, std::vector<std::string>* out) {
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> subs;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      if (e->d_type == DT_DIR) subs.push_back(dir + "/" + n);
    }
    ::closedir(d);
    for (const auto& s : subs) CollectPostOrder(s, out);
  }
  out->push_back(dir);
}

// The directories to clean for `rel`: one per hierarchy on v1 (the real
// directories under root; the "cpu" → "cpu,cpuacct" symlinks are skipped).
std::vector<std::string> Locations(const std::string& root, Version v, const std::string& rel) {
  std::vector<std::string> out;
  if (v == Version::kV2) {
    out.push_back(root + rel);
    return out;
  }
  if (DIR* d = ::opendir(root.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      std::string h = root + "/" + n;
      if (!IsDir(h)) continue;
      if (IsDir(h + rel)) out.push_back(h + rel);
    }
    ::closedir(d);
  }
  return out;
}

std::vector<int> ProcsOf(const std::vector<std::string>& dirs) {
  std::vector<int> pids;
  for (const auto& d : dirs) {
    std::istringstream in(ReadFile(d + "/cgroup.procs"));
    int pid;
    while (in >> pid) pids.push_back(pid);
  }
  return pids;
}

}  // namespace

Version Detect(const std::string& root) {
  struct statfs fs;
  if (::statfs(root.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) return Version::kV2;
  return Version::kV1;
}

const std::vector<std::string>& V1PodControllers() {
  static const std::vector<std::string> kControllers = {"cpu", "cpuacct", "memory", "pids"};
  return kControllers;
}

std::string PodPath(const std::string& parent, const std::string& pod_uid) {
  return "/" + parent + "/pod-" + pod_uid;
}

std::string ContainerPath(const std::string& parent, const std::string& pod_uid, const std::string& id) {
  return PodPath(parent, pod_uid) + "/" + id;
}

Status CreatePod(const std::string& root, Version v, const std::string& parent, const std::string& pod_uid,
                 const Resources& limits) {
  const std::string rel = PodPath(parent, pod_uid);
  if (v == Version::kV2) {
    // Controllers must be enabled in every ancestor's subtree_control for the
    // pod's and its containers' files to exist. Only those the hierarchy
    // offers (cgroup.controllers; on a hybrid host most are bound to v1) are
    // enabled; a limit needing one that is missing is an error.
    std::set<std::string> offered;
    {
      std::istringstream in(ReadFile(root + "/cgroup.controllers"));
      std::string c;
      while (in >> c) offered.insert(c);
    }
    auto need = [&](const char* ctrl, bool wanted) -> Status {
      if (!wanted || offered.count(ctrl)) return Ok();
      std::string have;
      for (const auto& o : offered) have += (have.empty() ? "" : " ") + o;
      return Error(Code::kUnavailable, std::string("cgroup v2: the ") + ctrl + " controller is not available at " + root +
                                           " (cgroup.controllers: \"" + have + "\"), so the pod's " + ctrl +
                                           " limit cannot be set");
    };
    if (auto s = need("memory", limits.memory_limit_bytes > 0); !s) return s;
    if (auto s = need("cpu", limits.cpu_shares > 0 || limits.cpu_quota_us > 0); !s) return s;
    if (auto s = need("pids", limits.pids_limit > 0); !s) return s;
    std::string ctl;
    for (const char* c : {"cpu", "memory", "pids"}) {
      if (offered.count(c)) ctl += (ctl.empty() ? "+" : " +") + std::string(c);
    }
    if (auto s = MkdirP(root + "/" + parent); !s) return s;
    if (!ctl.empty()) {
      if (auto s = WriteFile(root + "/cgroup.subtree_control", ctl); !s) return s;
      if (auto s = WriteFile(root + "/" + parent + "/cgroup.subtree_control", ctl); !s) return s;
    }
    if (auto s = MkdirP(root + rel); !s) return s;
    if (!ctl.empty()) {
      if (auto s = WriteFile(root + rel + "/cgroup.subtree_control", ctl); !s) return s;
    }
    const std::string d = root + rel;
    if (limits.memory_limit_bytes > 0) {
      if (auto s = WriteFile(d + "/memory.max", std::to_string(limits.memory_limit_bytes)); !s) return s;
    }
    if (limits.cpu_shares > 0) {
      // runc's conversion of shares [2, 262144] to weight [1, 10000].
      int64_t weight = 1 + ((limits.cpu_shares - 2) * 9999) / 262142;
      if (auto s = WriteFile(d + "/cpu.weight", std::to_string(weight)); !s) return s;
    }
    if (limits.cpu_quota_us > 0) {
      std::string q = std::to_string(limits.cpu_quota_us) + " " + std::to_string(limits.cpu_period_us);
      if (auto s = WriteFile(d + "/cpu.max", q); !s) return s;
    }
    if (limits.pids_limit > 0) {
      if (auto s = WriteFile(d + "/pids.max", std::to_string(limits.pids_limit)); !s) return s;
    }
    return Ok();
  }
  for (const auto& c : V1PodControllers()) {
    if (auto s = MkdirP(root + "/" + c + rel); !s) return s;
  }
  auto at = [&](const std::string& ctrl, const std::string& file) { return root + "/" + ctrl + rel + "/" + file; };
  if (limits.memory_limit_bytes > 0) {
    const std::string m = std::to_string(limits.memory_limit_bytes);
    if (auto s = WriteFile(at("memory", "memory.limit_in_bytes"), m); !s) return s;
    // memsw only exists with swap accounting; then swap counts against the limit too.
    if (::access(at("memory", "memory.memsw.limit_in_bytes").c_str(), F_OK) == 0) {
      if (auto s = WriteFile(at("memory", "memory.memsw.limit_in_bytes"), m); !s) return s;
    }
  }
  if (limits.cpu_shares > 0) {
    if (auto s = WriteFile(at("cpu", "cpu.shares"), std::to_string(limits.cpu_shares)); !s) return s;
  }
  if (limits.cpu_quota_us > 0) {
    if (auto s = WriteFile(at("cpu", "cpu.cfs_period_us"), std::to_string(limits.cpu_period_us)); !s) return s;
    if (auto s = WriteFile(at("cpu", "cpu.cfs_quota_us"), std::to_string(limits.cpu_quota_us)); !s) return s;
  }
  if (limits.pids_limit > 0) {
    if (auto s = WriteFile(at("pids", "pids.max"), std::to_string(limits.pids_limit)); !s) return s;
  }
  return Ok();
}

Status RemoveTree(const std::string& root, Version v, const std::string& rel) {
  if (rel.empty() || rel == "/") return Error(Code::kInternal, "cgroups::RemoveTree: refusing to remove a root");
  std::vector<std::string> dirs;
  for (const auto& loc : Locations(root, v, rel)) CollectPostOrder(loc, &dirs);
  if (dirs.empty()) return Ok();
  // Kill until nothing is left: a process may fork while we read the list.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    std::vector<int> pids = ProcsOf(dirs);
    if (pids.empty()) break;
    for (int pid : pids) ::kill(pid, SIGKILL);
    if (std::chrono::steady_clock::now() > deadline) {
      return Error(Code::kIo, "cannot empty cgroup " + rel + ": " + std::to_string(pids.size()) +
                                  " processes survive SIGKILL");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // A killed process leaves its cgroup when it is reaped, so rmdir may see
  // EBUSY for a moment.
  for (const auto& d : dirs) {
    for (;;) {
      if (::rmdir(d.c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY || std::chrono::steady_clock::now() > deadline) {
        return Error(Code::kIo, "cannot remove cgroup " + d + ": " + std::strerror(errno));
      }
      for (int pid : ProcsOf({d})) ::kill(pid, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return Ok();
}

int64_t OomKills(const std::string& root, Version v, const std::string& rel) {
  const std::string path =
      v == Version::kV2 ? root + rel + "/memory.events" : root + "/memory" + rel + "/memory.oom_control";
  std::ifstream in(path);
  if (!in) return -1;
  std::string key;
  int64_t value = 0;
  while (in >> key >> value) {
    if (key == "oom_kill") return value;
  }
  return 0;
}

std::vector<int> Pids(const std::string& root, Version v, const std::string& rel) {
  std::vector<std::string> dirs;
  CollectPostOrder(v == Version::kV2 ? root + rel : root + "/memory" + rel, &dirs);
  return ProcsOf(dirs);
}

}  // namespace bosun::node::cgroups
