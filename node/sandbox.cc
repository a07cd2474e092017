#include "node/sandbox.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace bosun::node::sandbox {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
      out.push_back(static_cast<char>(v));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool Under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

Status Touch(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Error(Code::kIo, Errno("cannot create " + path));
  ::close(fd);
  return Ok();
}

// Runs on its own thread: the namespaces it unshares are the thread's alone,
// and end with it once bind-mounted.
Status MakeNamespacesOnThisThread(const Sandbox& sb, const std::string& hostname) {
  if (::unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) != 0) {
    return Error(Code::kIo, Errno("cannot create the namespaces of pod " + sb.pod_uid + " (unshare)"));
  }
  if (::sethostname(hostname.data(), hostname.size()) != 0) {
    return Error(Code::kIo, Errno("cannot set hostname " + hostname));
  }
  // The loopback interface up, so containers of the pod reach each other on
  // 127.0.0.1 (the CNI loopback plugin does the same; both are idempotent).
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Error(Code::kIo, Errno("socket in the pod's network namespace"));
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool up = ::ioctl(sock, SIOCGIFFLAGS, &ifr) == 0;
  if (up) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    up = ::ioctl(sock, SIOCSIFFLAGS, &ifr) == 0;
  }
  int e = errno;
  ::close(sock);
  if (!up) return Error(Code::kIo, std::string("cannot bring lo up in the pod's network namespace: ") + std::strerror(e));
  const std::pair<const char*, const std::string*> binds[] = {
      {"/proc/thread-self/ns/net", &sb.netns_path},
      {"/proc/thread-self/ns/ipc", &sb.ipc_path},
      {"/proc/thread-self/ns/uts", &sb.uts_path}};
  for (const auto& [src, dst] : binds) {
    if (::mount(src, dst->c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return Error(Code::kIo, Errno(std::string("cannot bind-mount ") + src + " onto " + *dst));
    }
  }
  return Ok();
}

}  // namespace

Status WriteAtomic(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                    std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Error(Code::kIo, Errno("cannot create " + tmp));
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Error(Code::kIo, "cannot write " + tmp + ": " + std::strerror(e));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Error(Code::kIo, "cannot rename " + tmp + " to " + path + ": " + std::strerror(e));
  }
  return Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(errno == ENOENT ? Code::kNotFound : Code::kIo, Errno("cannot read " + path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    fields >> id >> parent >> devno >> root >> point;
    point = Unescape(point);
    if (Under(point, dir)) out.push_back(point);
  }
  return out;
}

Status UnmountUnder(const std::string& dir) {
  // A path can be mounted over more than once (each umount removes the top
  // one), so loop until mountinfo shows nothing.
  for (int round = 0; round < 16; ++round) {
    std::vector<std::string> mounts = MountsUnder(dir);
    if (mounts.empty()) return Ok();
    std::sort(mounts.begin(), mounts.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const auto& m : mounts) {
      if (::umount2(m.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
        return Error(Code::kIo, Errno("cannot unmount " + m));
      }
    }
  }
  return Error(Code::kIo, "mounts under " + dir + " survive unmounting");
}

Status RemoveDir(const std::string& dir) {
  if (!MountsUnder(dir).empty()) return Error(Code::kInternal, "refusing to remove " + dir + ": mounts are left under it");
  std::error_code ec;
  // Another process (a shim finishing) may delete files as we go: retry.
  for (int i = 0; i < 5; ++i) {
    ec.clear();
    std::filesystem::remove_all(dir, ec);
    if (!ec || ec != std::errc::no_such_file_or_directory) break;
  }
  if (ec) return Error(Code::kIo, "cannot remove " + dir + ": " + ec.message());
  return Ok();
}

Status CreateNamespaces(const Sandbox& sb, const std::string& hostname) {
  const std::string ns_dir = sb.dir + "/ns";
  if (::mkdir(ns_dir.c_str(), 0755) != 0 && errno != EEXIST) return Error(Code::kIo, Errno("cannot create " + ns_dir));
  // ns/ as a private mount of itself: binding nsfs files on a shared mount
  // would propagate them into other mount namespaces and keep them alive.
  bool mounted = false;
  for (const auto& m : MountsUnder(ns_dir)) mounted = mounted || m == ns_dir;
  if (!mounted && ::mount(ns_dir.c_str(), ns_dir.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return Error(Code::kIo, Errno("cannot bind-mount " + ns_dir + " onto itself"));
  }
  if (::mount(nullptr, ns_dir.c_str(), nullptr, MS_PRIVATE, nullptr) != 0) {
    return Error(Code::kIo, Errno("cannot make " + ns_dir + " a private mount"));
  }
  for (const std::string* f : {&sb.netns_path, &sb.ipc_path, &sb.uts_path}) {
    if (auto s = Touch(*f); !s) return s;
  }
  Status result;
  std::thread t([&] { result = MakeNamespacesOnThisThread(sb, hostname); });
  t.join();
  return result;
}

Status WriteEtcFiles(const Sandbox& sb, const std::string& hostname) {
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n";
  if (auto s = WriteAtomic(sb.dir + "/hosts", hosts); !s) return s;
  if (auto s = WriteAtomic(sb.dir + "/hostname", hostname + "\n"); !s) return s;
  Result<std::string> resolv = ReadFile("/etc/resolv.conf");
  std::string text = resolv ? *resolv : "";
  // A resolver on the host's loopback is unreachable from the pod's network
  // namespace: leave such lines out.
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.rfind("nameserver 127.", 0) == 0 || line.rfind("nameserver ::1", 0) == 0) continue;
    out += line + "\n";
  }
  return WriteAtomic(sb.dir + "/resolv.conf", out);
}

}  // namespace bosun::node::sandbox
