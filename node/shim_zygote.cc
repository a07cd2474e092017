#include "node/shim_zygote.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/process.h"

extern char** environ;

namespace bosun::node {
namespace {

using nlohmann::json;

constexpr size_t kMaxRequest = 64 * 1024;

void ResetSignals() {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int s : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP}) ::signal(s, SIG_DFL);
}

// In the forked shim: stdio, working dir, then the shim itself.
[[noreturn]] void BecomeShim(const ShimOptions& o, const std::string& stderr_path) {
  int in = ::open("/dev/null", O_RDONLY);
  int out = ::open("/dev/null", O_WRONLY);
  int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
  if (in < 0 || out < 0 || err < 0) ::_exit(126);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  for (int fd : {in, out, err}) {
    if (fd > 2) ::close(fd);
  }
  if (::chdir("/") != 0) ::_exit(126);
  ResetSignals();
  int rc = RunShim(o);
  std::fflush(nullptr);
  ::_exit(rc);
}

// One request: fork, setsid, fork again; the grandchild is the shim.
// Returns its pid or -errno.
pid_t ForkShim(int sock, const ShimOptions& o, const std::string& stderr_path) {
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return -errno;
  pid_t a = ::fork();
  if (a < 0) {
    int e = errno;
    ::close(report[0]);
    ::close(report[1]);
    return -e;
  }
  if (a == 0) {
    ::setsid();
    pid_t b = ::fork();
    if (b != 0) {
      pid_t r = b > 0 ? b : -errno;
      ssize_t ignored = ::write(report[1], &r, sizeof r);
      (void)ignored;
      ::_exit(0);
    }
    ::close(sock);
    ::close(report[0]);
    ::close(report[1]);
    BecomeShim(o, stderr_path);
  }
  ::close(report[1]);
  pid_t shim = -EIO;
  ssize_t n;
  do {
    n = ::read(report[0], &shim, sizeof shim);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof shim)) shim = -EIO;
  ::close(report[0]);
  int status = 0;
  while (::waitpid(a, &status, 0) < 0 && errno == EINTR) {
  }
  return shim;
}

}  // namespace

int RunShimZygote(int fd) {
  ResetSignals();
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  pid_t parent = ::getppid();
  std::string buf(kMaxRequest, '\0');
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, 1000);
    if (::getppid() != parent) return 0;  // the runtime's process is gone
    if (pr < 0 && errno != EINTR) return 1;
    if (pr <= 0) continue;
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;  // the runtime closed the socket
    json req = json::parse(buf.data(), buf.data() + n, nullptr, false);
    pid_t shim = -EINVAL;
    if (req.is_object()) {
      ShimOptions o;
      o.id = req.value("id", "");
      o.bundle = req.value("bundle", "");
      o.runc = req.value("runc", "runc");
      o.root = req.value("root", "");
      o.log_path = req.value("log", "");
      o.spec_dir = req.value("spec", "");
      if (!o.id.empty() && !o.bundle.empty() && !o.root.empty() && !o.log_path.empty()) {
        shim = ForkShim(fd, o, req.value("stderr", "/dev/null"));
      }
    }
    if (::send(fd, &shim, sizeof shim, MSG_NOSIGNAL) < 0) return 0;
  }
}

ShimLauncher::~ShimLauncher() {
  std::lock_guard<std::mutex> l(mu_);
  StopZygoteLocked();
}

pid_t ShimLauncher::zygote_pid() const {
  std::lock_guard<std::mutex> l(mu_);
  return pid_;
}

void ShimLauncher::StopZygoteLocked() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (pid_ > 0) {
    // It exits at EOF; a stuck one is killed after a second.
    for (int i = 0; i < 200; ++i) {
      pid_t r = ::waitpid(pid_, nullptr, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) {
        pid_ = 0;
        return;
      }
      ::usleep(5000);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_ = 0;
}

Status ShimLauncher::StartZygoteLocked() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return Error(Code::kIo, std::string("socketpair for the shim zygote: ") + std::strerror(errno));
  }
  std::string arg0 = binary_;
  const char* argv[] = {arg0.c_str(), "shim-zygote", "--fd", "3", nullptr};
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    return Error(Code::kIo, std::string("fork for the shim zygote: ") + std::strerror(e));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only. dup2 clears close-on-exec on fd 3.
    ::setsid();
    if (sv[1] == 3) {
      ::fcntl(3, F_SETFD, 0);  // dup2 onto itself would keep close-on-exec
    } else if (::dup2(sv[1], 3) < 0) {
      ::_exit(127);
    }
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      if (null > 3) ::close(null);
    }
    // The zygote, and every shim it forks, would otherwise hold the daemon's
    // listening sockets after it is killed (so a restart cannot bind them).
    process::CloseOnExecFrom(4);
    ::execve(argv[0], const_cast<char* const*>(argv), environ);
    ::_exit(127);
  }
  ::close(sv[1]);
  fd_ = sv[0];
  pid_ = pid;
  return Ok();
}

Result<pid_t> ShimLauncher::AskLocked(const std::string& request) {
  if (fd_ < 0) {
    if (auto s = StartZygoteLocked(); !s) return s.error();
  }
  if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    return Error(Code::kUnavailable, std::string("the shim zygote: ") + std::strerror(errno));
  }
  pid_t shim = 0;
  ssize_t n;
  do {
    n = ::recv(fd_, &shim, sizeof shim, 0);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof shim)) return Error(Code::kUnavailable, "the shim zygote did not answer");
  if (shim <= 0) return Error(Code::kIo, std::string("the shim zygote could not start a shim: ") + std::strerror(-shim));
  return shim;
}

Result<pid_t> ShimLauncher::Launch(const ShimOptions& o, const std::string& stderr_path) {
  json req = {{"id", o.id}, {"bundle", o.bundle}, {"runc", o.runc}, {"root", o.root}, {"log", o.log_path},
              {"spec", o.spec_dir}, {"stderr", stderr_path}};
  std::string request = req.dump();
  {
    std::lock_guard<std::mutex> l(mu_);
    for (int attempt = 0; attempt < 2; ++attempt) {
      Result<pid_t> r = AskLocked(request);
      if (r) return r;
      if (r.error().code() == Code::kIo && fd_ >= 0) return r;  // the zygote is fine; the fork failed
      log::Warn("runtime", "shim zygote unavailable; restarting it", {{"error", r.error().message()}});
      StopZygoteLocked();
    }
  }
  // Last resort: exec the whole binary as before.
  process::DetachedOptions d;
  d.argv = {binary_, "shim", "--id", o.id, "--bundle", o.bundle, "--runc", o.runc, "--root", o.root, "--log", o.log_path};
  if (!o.spec_dir.empty()) {
    d.argv.push_back("--spec-dir");
    d.argv.push_back(o.spec_dir);
  }
  d.cwd.assign(1, '/');  // (not = "/": GCC 12 -Wrestrict false positive)
  d.stderr_path = stderr_path;
  return process::SpawnDetached(d, /*double_fork=*/true);
}

}  // namespace bosun::node
