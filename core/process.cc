#include "core/process.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace bosun::process {
namespace {

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// argv / envp as the char* arrays exec wants, built before any fork.
struct CArgs {
  std::vector<std::string> storage;
  std::vector<char*> ptrs;
  void Build() {
    ptrs.clear();
    for (auto& s : storage) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
};

CArgs MakeEnv(const std::optional<std::vector<std::string>>& env, const std::map<std::string, std::string>& set_env) {
  CArgs out;
  if (env) {
    out.storage = *env;
  } else {
    for (char** e = environ; e && *e; ++e) out.storage.emplace_back(*e);
  }
  for (const auto& [k, v] : set_env) {
    std::string prefix = k + "=";
    std::erase_if(out.storage, [&](const std::string& s) { return s.compare(0, prefix.size(), prefix) == 0; });
    out.storage.push_back(prefix + v);
  }
  out.Build();
  return out;
}

std::string LastLine(const std::string& s) {
  size_t end = s.find_last_not_of("\n\r ");
  if (end == std::string::npos) return "";
  size_t start = s.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return s.substr(start, end - start + 1);
}

}  // namespace

void CloseOnExecFrom(int low_fd) {
#ifndef CLOSE_RANGE_CLOEXEC
  constexpr unsigned kCloseRangeCloexec = 1u << 2;  // linux/close_range.h
#else
  constexpr unsigned kCloseRangeCloexec = CLOSE_RANGE_CLOEXEC;
#endif
  if (::syscall(SYS_close_range, static_cast<unsigned>(low_fd), ~0u, kCloseRangeCloexec) == 0) return;
  // Kernels before 5.11: one descriptor at a time.
  for (int fd = low_fd; fd < 65536; ++fd) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

std::string Output::Describe() const {
  std::string why = term_signal ? "killed by signal " + std::to_string(term_signal)
                                : "exit status " + std::to_string(exit_code);
  std::string line = LastLine(err);
  if (line.empty()) line = LastLine(out);
  return line.empty() ? why : why + ": " + line;
}

Result<Output> Run(const Options& options) {
  if (options.argv.empty()) return Error(Code::kInternal, "process::Run: empty argv");
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return Error(Code::kIo, std::string("pipe: ") + std::strerror(errno));
  Fd in_r(in_pipe[0]), in_w(in_pipe[1]);
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Error(Code::kIo, std::string("pipe: ") + std::strerror(errno));
  Fd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return Error(Code::kIo, std::string("pipe: ") + std::strerror(errno));
  Fd err_r(err_pipe[0]), err_w(err_pipe[1]);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (options.stdin_data.empty()) {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  } else {
    posix_spawn_file_actions_adddup2(&fa, in_r.fd, 0);
  }
  posix_spawn_file_actions_adddup2(&fa, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.fd, 2);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, options.cwd.c_str());
  // Nothing but stdio goes to the program (see CloseOnExecFrom).
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, deflt;
  sigemptyset(&none);
  sigemptyset(&deflt);
  sigaddset(&deflt, SIGPIPE);
  sigaddset(&deflt, SIGCHLD);
  sigaddset(&deflt, SIGTERM);
  sigaddset(&deflt, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &deflt);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  CArgs argv;
  argv.storage = options.argv;
  argv.Build();
  CArgs envp = MakeEnv(options.env, options.set_env);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv.ptrs[0], &fa, &attr, argv.ptrs.data(), envp.ptrs.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return Error(rc == ENOENT ? Code::kNotFound : Code::kIo,
                 "cannot run " + options.argv[0] + ": " + std::strerror(rc) +
                     (rc == ENOENT ? " (is it installed and in PATH?)" : ""));
  }
  in_r.Close();
  out_w.Close();
  err_w.Close();
  if (options.stdin_data.empty()) in_w.Close();
  if (in_w.fd >= 0) ::fcntl(in_w.fd, F_SETFL, O_NONBLOCK);

  Output result;
  size_t written = 0;
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool timed_out = false;
  char buf[65536];
  while (out_r.fd >= 0 || err_r.fd >= 0 || in_w.fd >= 0) {
    pollfd fds[3];
    int n = 0;
    int idx_out = -1, idx_err = -1, idx_in = -1;
    if (out_r.fd >= 0) { idx_out = n; fds[n++] = {out_r.fd, POLLIN, 0}; }
    if (err_r.fd >= 0) { idx_err = n; fds[n++] = {err_r.fd, POLLIN, 0}; }
    if (in_w.fd >= 0) { idx_in = n; fds[n++] = {in_w.fd, POLLOUT, 0}; }
    int wait_ms = -1;
    if (options.timeout.count() > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) { timed_out = true; break; }
      wait_ms = static_cast<int>(left.count());
    }
    int pr = ::poll(fds, n, wait_ms);
    if (pr < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pr == 0) continue;
    auto drain = [&](int idx, Fd& fd, std::string& into) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t got = ::read(fd.fd, buf, sizeof buf);
      if (got <= 0) {
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) return;
        fd.Close();
        return;
      }
      size_t room = options.max_output > into.size() ? options.max_output - into.size() : 0;
      into.append(buf, std::min(room, static_cast<size_t>(got)));
    };
    drain(idx_out, out_r, result.out);
    drain(idx_err, err_r, result.err);
    if (idx_in >= 0 && (fds[idx_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      if (fds[idx_in].revents & (POLLERR | POLLHUP)) {
        in_w.Close();
      } else {
        ssize_t w = ::write(in_w.fd, options.stdin_data.data() + written, options.stdin_data.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == options.stdin_data.size()) in_w.Close();
      }
    }
  }
  if (timed_out) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Error(Code::kTimeout, options.argv[0] + " did not finish within " +
                                     std::to_string(options.timeout.count()) + " ms and was killed");
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
  }
  return result;
}

Result<pid_t> SpawnDetached(const DetachedOptions& options, bool double_fork) {
  if (options.argv.empty()) return Error(Code::kInternal, "process::SpawnDetached: empty argv");
  CArgs argv;
  argv.storage = options.argv;
  argv.Build();
  CArgs envp = MakeEnv(options.env, options.set_env);
  // Resolve argv[0] through PATH now: after fork only async-signal-safe calls.
  std::string path = options.argv[0];
  if (path.find('/') == std::string::npos) {
    const char* p = std::getenv("PATH");
    std::string dirs = p ? p : "/usr/sbin:/usr/bin:/sbin:/bin";
    size_t start = 0;
    bool found = false;
    while (start <= dirs.size()) {
      size_t end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      std::string cand = dirs.substr(start, end - start) + "/" + options.argv[0];
      if (::access(cand.c_str(), X_OK) == 0) { path = cand; found = true; break; }
      start = end + 1;
    }
    if (!found) return Error(Code::kNotFound, "cannot run " + options.argv[0] + ": not found in PATH");
  }
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return Error(Code::kIo, std::string("pipe: ") + std::strerror(errno));
  const char* out_path = options.stdout_path.empty() ? "/dev/null" : options.stdout_path.c_str();
  const char* err_path = options.stderr_path.empty() ? "/dev/null" : options.stderr_path.c_str();
  const char* cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();

  pid_t child = ::fork();
  if (child < 0) {
    ::close(report[0]);
    ::close(report[1]);
    return Error(Code::kIo, std::string("fork: ") + std::strerror(errno));
  }
  if (child == 0) {
    // Child: only async-signal-safe calls from here on.
    ::setsid();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP}) ::signal(s, SIG_DFL);
    if (double_fork) {
      pid_t g = ::fork();
      if (g < 0) ::_exit(127);
      if (g > 0) {
        ssize_t ignored = ::write(report[1], &g, sizeof g);
        (void)ignored;
        ::_exit(0);
      }
    }
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0640);
    int err = ::open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0640);
    if (in < 0 || out < 0 || err < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    if (in > 2) ::close(in);
    if (out > 2) ::close(out);
    if (err > 2) ::close(err);
    if (cwd && ::chdir(cwd) != 0) ::_exit(126);
    CloseOnExecFrom(3);  // the report pipe stays open until the exec
    ::execve(path.c_str(), argv.ptrs.data(), envp.ptrs.data());
    int e = errno;
    if (!double_fork) {
      ssize_t ignored = ::write(report[1], &e, sizeof e);
      (void)ignored;
    }
    ::_exit(127);
  }
  ::close(report[1]);
  pid_t result_pid = child;
  if (double_fork) {
    pid_t g = -1;
    ssize_t got = ::read(report[0], &g, sizeof g);
    ::close(report[0]);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (got != sizeof g || g <= 0) return Error(Code::kIo, "cannot start " + options.argv[0] + ": fork failed");
    result_pid = g;
  } else {
    int e = 0;
    ssize_t got = ::read(report[0], &e, sizeof e);
    ::close(report[0]);
    if (got == sizeof e) {
      int status = 0;
      ::waitpid(child, &status, 0);
      return Error(Code::kIo, "cannot start " + options.argv[0] + ": " + std::strerror(e));
    }
  }
  return result_pid;
}

bool Alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace bosun::process
