#include "node/shim.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/process.h"
#include "node/cgroups.h"
#include "node/sandbox.h"

namespace bosun::node {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

int64_t ToNs(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
Clock::time_point FromNs(int64_t ns) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

Result<json> ReadJson(const std::string& path) {
  Result<std::string> text = sandbox::ReadFile(path);
  if (!text) return text.error();
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Error(Code::kIo, path + ": not a JSON object");
  return j;
}

// One output stream of the container: bytes in, timestamped lines out.
struct Stream {
  const char* name;
  int fd = -1;
  std::string partial;
};

void WriteAll(int fd, const std::string& s) {
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void EmitLine(int log_fd, const char* stream, const std::string& line) {
  WriteAll(log_fd, FormatRFC3339Nano(Clock::now()) + " " + stream + " " + line + "\n");
}

// Reads what is there; false at EOF (then the fd is closed).
bool Pump(Stream* s, int log_fd, std::string* keep) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(s->fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return true;
      n = 0;
    }
    if (n == 0) {
      if (!s->partial.empty()) EmitLine(log_fd, s->name, s->partial);
      s->partial.clear();
      ::close(s->fd);
      s->fd = -1;
      return false;
    }
    s->partial.append(buf, static_cast<size_t>(n));
    if (keep) {
      keep->append(buf, static_cast<size_t>(n));
      if (keep->size() > 4096) keep->erase(0, keep->size() - 4096);
    }
    size_t start = 0;
    for (size_t nl; (nl = s->partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      EmitLine(log_fd, s->name, s->partial.substr(start, nl - start));
    }
    s->partial.erase(0, start);
    // A line without end is cut at 16 KiB rather than held without bound.
    if (s->partial.size() > 16384) {
      EmitLine(log_fd, s->name, s->partial);
      s->partial.clear();
    }
  }
}

void NotifyReady(const std::string& bundle) {
  int fd = ::open((bundle + "/ready").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;  // the runtime is not waiting (it restarted): nothing to tell
  char b = 1;
  ssize_t ignored = ::write(fd, &b, 1);
  (void)ignored;
  ::close(fd);
}

// runc's own error, from its JSON log (the last "error" record), else from
// what it printed on stderr.
std::string RuncError(const std::string& bundle, const std::string& stderr_text) {
  std::ifstream in(bundle + "/runc.log");
  std::string line, msg;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("level", "") == "error") msg = j.value("msg", "");
  }
  if (!msg.empty()) return msg;
  std::string s = stderr_text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "runc failed without a message" : s;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

}  // namespace

std::string FormatRFC3339Nano(Clock::time_point t) {
  int64_t ns = ToNs(t);
  time_t secs = static_cast<time_t>(ns / 1000000000);
  long frac = static_cast<long>(ns % 1000000000);
  struct tm tm;
  ::gmtime_r(&secs, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09ldZ", frac);
  return buf;
}

std::optional<uint64_t> ProcessStartTime(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  Result<std::string> stat = sandbox::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: fields are
  // counted from the last ')'.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(stat->substr(close + 2));
  std::string field;
  char state = 0;
  uint64_t start = 0;
  for (int i = 3; i <= 22 && in >> field; ++i) {
    if (i == 3) state = field.empty() ? 0 : field[0];
    if (i == 22) start = std::stoull(field);
  }
  if (state == 'Z' || state == 'X' || start == 0) return std::nullopt;
  return start;
}

bool ShimAlive(const ShimState& s) {
  std::optional<uint64_t> start = ProcessStartTime(s.shim_pid);
  return start && *start == s.shim_start;
}

Status WriteShimState(const std::string& bundle, const ShimState& s) {
  json j = {{"shim_pid", s.shim_pid}, {"shim_start", s.shim_start}, {"pid", s.pid}};
  if (s.pid > 0) {
    j["started_at_ns"] = ToNs(s.started_at);
    j["started_at"] = FormatRFC3339Nano(s.started_at);
  }
  return sandbox::WriteAtomic(bundle + "/state.json", j.dump() + "\n");
}

Result<ShimState> ReadShimState(const std::string& bundle) {
  Result<json> j = ReadJson(bundle + "/state.json");
  if (!j) return j.error();
  ShimState s;
  s.shim_pid = j->value("shim_pid", 0);
  s.shim_start = j->value("shim_start", uint64_t{0});
  s.pid = j->value("pid", 0);
  s.started_at = FromNs(j->value("started_at_ns", int64_t{0}));
  return s;
}

Status WriteExitRecord(const std::string& bundle, const ExitRecord& r) {
  json j = {{"exit_code", r.exit_code},
            {"oom_killed", r.oom_killed},
            {"reason", r.reason},
            {"message", r.message},
            {"finished_at_ns", ToNs(r.finished_at)},
            {"finished_at", FormatRFC3339Nano(r.finished_at)}};
  return sandbox::WriteAtomic(bundle + "/exit.json", j.dump() + "\n");
}

Result<ExitRecord> ReadExitRecord(const std::string& bundle) {
  Result<json> j = ReadJson(bundle + "/exit.json");
  if (!j) return j.error();
  ExitRecord r;
  r.exit_code = j->value("exit_code", 0);
  r.oom_killed = j->value("oom_killed", false);
  r.reason = j->value("reason", "");
  r.message = j->value("message", "");
  r.finished_at = FromNs(j->value("finished_at_ns", int64_t{0}));
  return r;
}

int RunShim(const ShimOptions& o) {
  // Orphans of the container (its init once `runc run -d` exits) become ours.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sig_fd = ::signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);

  ShimState state;
  state.shim_pid = ::getpid();
  state.shim_start = ProcessStartTime(state.shim_pid).value_or(0);
  auto fail_early = [&](const std::string& message) {
    ExitRecord r;
    r.exit_code = 128;
    r.reason = "StartError";
    r.message = message;
    r.finished_at = Clock::now();
    (void)WriteExitRecord(o.bundle, r);
    NotifyReady(o.bundle);
    std::fprintf(stderr, "bosun shim %s: %s\n", o.id.c_str(), message.c_str());
    return 1;
  };
  if (sig_fd < 0) return fail_early(std::string("signalfd: ") + std::strerror(errno));
  if (auto s = WriteShimState(o.bundle, state); !s) return fail_early(s.error().message());

  std::string cgroup_path;
  const std::string spec_dir = o.spec_dir.empty() ? o.bundle : o.spec_dir;
  if (Result<json> spec = ReadJson(spec_dir + "/config.json"); spec) {
    cgroup_path = (*spec)["linux"].value("cgroupsPath", "");
  } else {
    return fail_early(spec.error().message());
  }

  int log_fd = ::open(o.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) return fail_early("cannot open the log file " + o.log_path + ": " + std::strerror(errno));

  Stream out{"stdout", -1, {}}, err{"stderr", -1, {}};
  const std::string out_fifo = o.bundle + "/stdout.fifo", err_fifo = o.bundle + "/stderr.fifo";
  for (auto [s, path] : {std::pair{&out, &out_fifo}, std::pair{&err, &err_fifo}}) {
    ::unlink(path->c_str());
    if (::mkfifo(path->c_str(), 0600) != 0) return fail_early("mkfifo " + *path + ": " + std::strerror(errno));
    s->fd = ::open(path->c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (s->fd < 0) return fail_early("open " + *path + ": " + std::strerror(errno));
  }

  // `runc run -d`: runc starts the container and exits; its init (which
  // holds the FIFOs' write ends as stdout and stderr) is re-parented to us.
  process::DetachedOptions run;
  run.argv = {o.runc, "--root", o.root, "--log", o.bundle + "/runc.log", "--log-format", "json",
              "run", "-d", "--pid-file", o.bundle + "/init.pid", "--bundle", spec_dir, o.id};
  run.cwd = o.bundle;
  run.stdout_path = out_fifo;
  run.stderr_path = err_fifo;
  Result<pid_t> runc = process::SpawnDetached(run);
  if (!runc) return fail_early(runc.error().message());

  std::map<pid_t, int> reaped;
  bool runc_done = false, runc_failed = false, init_exited = false;
  pid_t init_pid = 0;
  int init_status = 0;
  Clock::time_point finished_at{};
  std::string stderr_tail;
  auto drain_deadline = std::chrono::steady_clock::time_point::max();

  for (;;) {
    pollfd fds[3];
    int n = 0;
    fds[n++] = {sig_fd, POLLIN, 0};
    int out_i = -1, err_i = -1;
    if (out.fd >= 0) { out_i = n; fds[n++] = {out.fd, POLLIN, 0}; }
    if (err.fd >= 0) { err_i = n; fds[n++] = {err.fd, POLLIN, 0}; }
    int timeout = -1;
    if (drain_deadline != std::chrono::steady_clock::time_point::max()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(drain_deadline - std::chrono::steady_clock::now());
      timeout = left.count() > 0 ? static_cast<int>(left.count()) : 0;
    }
    int pr = ::poll(fds, n, timeout);
    if (pr < 0 && errno != EINTR) break;
    if (out_i >= 0 && fds[out_i].revents) Pump(&out, log_fd, nullptr);
    if (err_i >= 0 && fds[err_i].revents) Pump(&err, log_fd, &stderr_tail);
    if (fds[0].revents) {
      signalfd_siginfo si;
      while (::read(sig_fd, &si, sizeof si) > 0) {
      }
      int status = 0;
      pid_t p;
      while ((p = ::waitpid(-1, &status, WNOHANG)) > 0) reaped[p] = status;
    }
    if (!runc_done && reaped.count(*runc)) {
      runc_done = true;
      int st = reaped[*runc];
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        runc_failed = true;
        drain_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
      } else {
        Result<std::string> pid_text = sandbox::ReadFile(o.bundle + "/init.pid");
        init_pid = pid_text ? std::atoi(pid_text->c_str()) : 0;
        if (init_pid <= 0) return fail_early("runc started the container but wrote no pid file");
        state.pid = init_pid;
        state.started_at = Clock::now();
        (void)WriteShimState(o.bundle, state);
        NotifyReady(o.bundle);
      }
    }
    if (init_pid > 0 && !init_exited && reaped.count(init_pid)) {
      init_exited = true;
      init_status = reaped[init_pid];
      finished_at = Clock::now();
      // Every process of the container's PID namespace dies with its init, so
      // the FIFOs reach EOF at once; a second bounds the wait for stragglers.
      drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    bool drained = out.fd < 0 && err.fd < 0;
    bool past = std::chrono::steady_clock::now() >= drain_deadline;
    if ((init_exited || runc_failed) && (drained || past)) break;
  }
  for (Stream* s : {&out, &err}) {
    if (s->fd >= 0) {
      Pump(s, log_fd, nullptr);
      if (!s->partial.empty()) EmitLine(log_fd, s->name, s->partial);
      if (s->fd >= 0) ::close(s->fd);
    }
  }

  ExitRecord rec;
  if (runc_failed || !init_exited) {
    rec.exit_code = 128;
    rec.reason = "StartError";
    rec.message = RuncError(o.bundle, stderr_tail);
    rec.finished_at = Clock::now();
  } else {
    rec.exit_code = ExitCodeOf(init_status);
    rec.finished_at = finished_at;
    // Read before `runc delete` removes the cgroup.
    cgroups::Version v = cgroups::Detect();
    rec.oom_killed = !cgroup_path.empty() && cgroups::OomKills("/sys/fs/cgroup", v, cgroup_path) > 0;
    if (rec.oom_killed && rec.exit_code != 0) {
      rec.reason = "OOMKilled";
    } else {
      rec.reason = rec.exit_code == 0 ? "Completed" : "Error";
    }
  }
  if (auto s = WriteExitRecord(o.bundle, rec); !s) {
    std::fprintf(stderr, "bosun shim %s: %s\n", o.id.c_str(), s.error().message().c_str());
  }
  if (runc_failed) NotifyReady(o.bundle);
  ::close(log_fd);

  process::Options del;
  del.argv = {o.runc, "--root", o.root, "delete", "--force", o.id};
  del.timeout = std::chrono::seconds(30);
  Result<process::Output> d = process::Run(del);
  if (!d || !d->ok()) {
    std::fprintf(stderr, "bosun shim %s: runc delete: %s\n", o.id.c_str(),
                 d ? d->Describe().c_str() : d.error().message().c_str());
  }
  ::unlink(out_fifo.c_str());
  ::unlink(err_fifo.c_str());
  return 0;
}

}  // namespace bosun::node
