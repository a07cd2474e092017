// tests/test_support.h — helpers every test binary shares.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"

namespace bosun::test {

// Collects the log's lines (at debug level and up) while it lives: for
// "never logs the token", "warns once" checks.
class LogCapture {
 public:
  LogCapture() {
    log::SetLevel(log::Level::kDebug);
    log::SetSink([this](const log::Record& r) {
      std::lock_guard l(mu_);
      lines_.push_back(log::FormatLine(r));
    });
  }
  ~LogCapture() {
    log::SetSink(nullptr);
    log::SetLevel(log::Level::kInfo);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::vector<std::string> lines() {
    std::lock_guard l(mu_);
    return lines_;
  }
  bool Contains(const std::string& s) { return Count(s) > 0; }
  // How many lines hold `s`.
  size_t Count(const std::string& s) {
    size_t n = 0;
    for (const auto& l : lines()) n += l.find(s) != std::string::npos ? 1 : 0;
    return n;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

// Polls `pred` until it holds or `timeout` passes; its last answer.
inline bool Eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10),
                       std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(poll);
  }
  return pred();
}

// A fresh folder under /tmp, removed with everything in it when the test ends,
// passed or failed.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "bosun-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }
  // Writes `text` to `rel` under the folder (making parent folders); returns its path.
  std::string Write(const std::string& rel, const std::string& text) const {
    std::filesystem::path p = std::filesystem::path(path_) / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

 private:
  std::string path_;
};

struct Outcome {
  int exit_code;
  std::string out;  // stdout and stderr together
};

// Runs a shell command line and collects its output and exit status.
inline Outcome RunCommand(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

// A loopback port that was free a moment ago, for a server a test starts
// next. A port handed out once is not handed out again in this process.
//
// It is taken below the kernel's ephemeral range (ip_local_port_range, 32768+
// here), never from it: a port from bind(0) stays free only until the kernel
// hands it to another process's bind(0) or connect() — or to an outgoing
// connection whose TIME_WAIT then blocks the listen for a minute — which made
// a member of a three-process cluster fail to start now and then while the
// other ctest job ran. Below the range only tests choosing ports this way
// compete, at random among ~20,000 ports.
// 127.0.0.1:`port` (0: any port) for bind and connect.
inline sockaddr_in LoopbackAddress(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// A socket listening on a loopback port the kernel chose, held (and closed)
// by this object: a port nothing else can take — a remote that accepts and
// never answers, a port a server must find taken.
//
// `inheritable`: opened without close-on-exec, as Boost.Asio opens the API's,
// at descriptor `min_fd` or above (a daemon has many open): what a program
// the daemon runs must not get.
class HeldPort {
 public:
  explicit HeldPort(int backlog = 16, bool inheritable = false, int min_fd = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM | (inheritable ? 0 : SOCK_CLOEXEC), 0);
    if (fd_ >= 0 && fd_ < min_fd) {
      int high = fcntl(fd_, F_DUPFD, min_fd);
      close(fd_);
      fd_ = high;
    }
    sockaddr_in addr = LoopbackAddress(0);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, backlog) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot listen on a loopback port");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~HeldPort() { close(fd_); }
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;
  int fd() const { return fd_; }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A loopback port bound and never listened on, for as long as this object
// lives: a connection to it is refused, and no other test (ctest runs two at
// once) can take it meanwhile, as it could a FreePort() nobody holds.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = LoopbackAddress(0);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot bind a loopback port");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

inline bool LoopbackPortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr = LoopbackAddress(port);
  // No SO_REUSEADDR: a port still in TIME_WAIT counts as taken.
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

inline int FreePort() {
  static std::mutex mu;
  static std::set<int> given;
  std::lock_guard<std::mutex> lock(mu);
  int low = 32768;
  {
    std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
    int lo = 0, hi = 0;
    if (range >> lo >> hi && lo > 0) low = lo;
  }
  constexpr int kFirst = 10000;
  if (low - kFirst >= 1000) {
    static unsigned seed = static_cast<unsigned>(getpid()) * 2654435761u ^
                           static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (int attempt = 0; attempt < 200; attempt++) {
      int port = kFirst + static_cast<int>(rand_r(&seed) % static_cast<unsigned>(low - kFirst));
      if (given.count(port) == 0 && LoopbackPortFree(port)) {
        given.insert(port);
        return port;
      }
    }
  }
  // A kernel whose ephemeral range starts low: let it choose.
  for (int attempt = 0; attempt < 50; attempt++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = LoopbackAddress(0);
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    close(fd);
    if (port > 0 && given.insert(port).second) return port;
  }
  throw std::runtime_error("no free port");
}

}  // namespace bosun::test
