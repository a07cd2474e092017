#include "bench/bench_cluster.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bosun::bench {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// argv[0] as a path: itself when it has a slash, else the first executable of
// that name in PATH. Resolved before fork so the child only calls execv.
std::string ResolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

std::string ReadText(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& text, size_t bytes) {
  if (text.size() <= bytes) return text;
  size_t start = text.find('\n', text.size() - bytes);
  return "[...]\n" + text.substr(start == std::string::npos ? text.size() - bytes : start + 1);
}

std::string Indent(const std::string& text) {
  std::string out = "    ";
  for (char c : text) {
    out += c;
    if (c == '\n') out += "    ";
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\n')) out.pop_back();
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// ChildProcess

Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(const std::vector<std::string>& argv, const fs::path& log) {
  std::string program = ResolveProgram(argv.at(0));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return Error(Code::kIo, "cannot create " + log.string() + ": " + std::strerror(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    Error e(Code::kIo, "fork: " + std::string(std::strerror(errno)));
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return e;
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    ::setpgid(0, 0);  // a Ctrl-C at the terminal reaches the bench, which stops us in order
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // the bench died before prctl
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);  // the bench ignores it; the server chooses for itself
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(program.c_str(), args.data());
    const char msg[] = "bench: exec failed\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    ::_exit(127);
  }
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log));
}

ChildProcess::~ChildProcess() {
  if (ended_.empty()) Stop();
}

void ChildProcess::Reaped(int status, bool killed) {
  if (WIFEXITED(status)) {
    ended_ = "exited " + std::to_string(WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    ended_ = std::string("killed by ") + sigabbrev_np(WTERMSIG(status));
    if (killed) ended_ += " after the grace period";
  } else {
    ended_ = "ended";
  }
}

bool ChildProcess::Running() {
  if (!ended_.empty()) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    Reaped(status, false);
    return false;
  }
  return true;
}

void ChildProcess::Terminate() {
  if (!ended_.empty() || terminated_) return;
  terminated_ = true;
  ::kill(pid_, SIGTERM);
}

std::string ChildProcess::Wait(SteadyClock::time_point kill_at) {
  bool killed = false;
  while (ended_.empty()) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      if (r == pid_) {
        Reaped(status, killed);
      } else {
        ended_ = "ended";
      }
      break;
    }
    if (!killed && SteadyClock::now() >= kill_at) {
      ::kill(-pid_, SIGKILL);  // its whole process group
      ::kill(pid_, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(20ms);
  }
  return ended_;
}

std::string ChildProcess::Stop(std::chrono::milliseconds grace) {
  Terminate();
  return Wait(SteadyClock::now() + grace);
}

std::string ChildProcess::LogTail(size_t bytes) const {
  return Tail(ReadText(log_), bytes);
}

// ---------------------------------------------------------------------------
// Cluster

Cluster::Cluster(ClusterOptions options, std::string name) : options_(std::move(options)), name_(std::move(name)) {}

Cluster::~Cluster() {
  StopAll();
  std::error_code ec;
  if (!options_.keep) fs::remove_all(options_.dir, ec);
}

void Cluster::StopAll() {
  for (auto& m : members_) m->Terminate();
  auto kill_at = SteadyClock::now() + 10s;
  for (size_t i = 0; i < members_.size(); ++i) {
    bool was_running = members_[i]->ended().empty();
    std::string how = members_[i]->Wait(kill_at);
    if (was_running && how != "exited 0" && how != "killed by TERM") {
      std::fprintf(stderr, "  (%s member %zu stopped: %s)\n", name_.c_str(), i + 1, how.c_str());
    }
  }
}

std::string Cluster::Casualties() {
  std::string out;
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i]->Running()) continue;
    out += name_ + " member " + std::to_string(i + 1) + " " + members_[i]->ended() + "; its log ends:\n" +
           Indent(members_[i]->LogTail()) + "\n";
  }
  return out;
}

std::string Cluster::Logs(size_t bytes_per_member) const {
  std::string out;
  for (size_t i = 0; i < members_.size(); ++i) {
    std::string state = members_[i]->ended().empty() ? "running" : members_[i]->ended();
    out += name_ + " member " + std::to_string(i + 1) + " (" + state + "), log:\n" +
           Indent(members_[i]->LogTail(bytes_per_member)) + "\n";
  }
  return out;
}

Status Cluster::WaitFor(const std::string& what, const std::function<bool()>& ready) {
  auto deadline = SteadyClock::now() + options_.ready_timeout;
  for (;;) {
    if (ready()) return Ok();
    if (options_.cancel && options_.cancel->load()) return Error(Code::kUnavailable, "interrupted");
    if (std::string dead = Casualties(); !dead.empty()) {
      return Error(Code::kUnavailable, name_ + ": a member ended while waiting for " + what + ":\n" + dead);
    }
    if (SteadyClock::now() >= deadline) {
      return Error(Code::kTimeout, name_ + ": no " + what + " within " +
                                       std::to_string(options_.ready_timeout.count()) + " s\n" + Logs());
    }
    std::this_thread::sleep_for(100ms);
  }
}

namespace {

class EtcdCluster : public Cluster {
 public:
  explicit EtcdCluster(const ClusterOptions& o) : Cluster(o, "etcd x" + std::to_string(o.members)) {}

  Status Start() {
    auto ports = FreePorts(2 * static_cast<size_t>(options_.members));
    if (!ports) return ports.error();
    std::string initial;
    for (int i = 0; i < options_.members; ++i) {
      if (i) initial += ",";
      initial += "e" + std::to_string(i + 1) + "=http://127.0.0.1:" + std::to_string((*ports)[2 * i + 1]);
    }
    for (int i = 0; i < options_.members; ++i) {
      std::string n = "e" + std::to_string(i + 1);
      std::string client = "http://127.0.0.1:" + std::to_string((*ports)[2 * i]);
      std::string peer = "http://127.0.0.1:" + std::to_string((*ports)[2 * i + 1]);
      // clang-format off
      std::vector<std::string> argv = {
          options_.binary,
          "--name", n,
          "--data-dir", (options_.dir / n).string(),
          "--listen-client-urls", client,
          "--advertise-client-urls", client,
          "--listen-peer-urls", peer,
          "--initial-advertise-peer-urls", peer,
          "--initial-cluster", initial,
          "--initial-cluster-state", "new",
          "--initial-cluster-token", "bench",
          "--logger", "zap",
          "--log-level", "warn"};
      // clang-format on
      auto child = ChildProcess::Start(argv, options_.dir / (n + ".log"));
      if (!child) return child.error();
      members_.push_back(std::move(*child));
      clients_.push_back(Endpoint{"127.0.0.1", (*ports)[2 * i]});
    }
    if (Status s = WaitFor("healthy members (GET /health)",
                           [&] {
                             for (const auto& c : clients_) {
                               auto r = HttpOnce(c, "GET", "/health", {}, "", 2s);
                               if (!r || r->status != 200 || r->body.find("\"true\"") == std::string::npos)
                                 return false;
                             }
                             return true;
                           });
        !s) {
      return s;
    }
    return WaitFor("leader (POST /v3/maintenance/status)", [&] {
      for (const auto& c : clients_) {
        auto r = HttpOnce(c, "POST", "/v3/maintenance/status", "{}", "", 2s);
        if (!r || r->status != 200) continue;
        auto j = nlohmann::json::parse(r->body, nullptr, false);
        if (!j.is_object() || !j.contains("header") || !j.contains("leader")) continue;
        if (j["header"].value("member_id", "") == j.value("leader", "-")) {
          leader_ = c;
          return true;
        }
      }
      return false;
    });
  }
};

class BosunCluster : public Cluster {
 public:
  explicit BosunCluster(const ClusterOptions& o) : Cluster(o, "bosun x" + std::to_string(o.members)) {}

  Status Start() {
    auto ports = FreePorts(2 * static_cast<size_t>(options_.members));
    if (!ports) return ports.error();
    fs::path token_file = options_.dir / "admin.token";
    std::string peers;
    for (int i = 0; i < options_.members; ++i) {
      if (i) peers += ",";
      peers += std::to_string(i + 1) + "=127.0.0.1:" + std::to_string((*ports)[2 * i + 1]);
    }
    for (int i = 0; i < options_.members; ++i) {
      std::string n = "b" + std::to_string(i + 1);
      // clang-format off
      std::vector<std::string> argv = {
          options_.binary, "--log-level", "warn", "server",
          "--id", std::to_string(i + 1),
          "--data", (options_.dir / n).string(),
          "--listen", "127.0.0.1:" + std::to_string((*ports)[2 * i]),
          "--raft-listen", "127.0.0.1:" + std::to_string((*ports)[2 * i + 1]),
          "--admin-token-file", token_file.string()};
      // clang-format on
      if (options_.members > 1) {
        argv.push_back("--peers");
        argv.push_back(peers);
        // One key for all, as every cluster of several needs.
        argv.push_back("--encryption-key-file");
        argv.push_back((options_.dir / "secrets.key").string());
      }
      argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
      auto child = ChildProcess::Start(argv, options_.dir / (n + ".log"));
      if (!child) return child.error();
      members_.push_back(std::move(*child));
      clients_.push_back(Endpoint{"127.0.0.1", (*ports)[2 * i]});
      // The first member writes the shared token file; the others read it.
      if (i == 0) {
        if (Status s = WaitFor("admin token file " + token_file.string(), [&] { return fs::exists(token_file); }); !s) {
          return s;
        }
        std::string text = ReadText(token_file);
        std::istringstream first(text);
        first >> token_;
        if (token_.empty()) return Error(Code::kInvalid, token_file.string() + " holds no token");
      }
    }
    if (Status s = WaitFor("ready members (GET /readyz)",
                           [&] {
                             for (const auto& c : clients_) {
                               auto r = HttpOnce(c, "GET", "/readyz", {}, "", 2s);
                               if (!r || r->status != 200) return false;
                             }
                             return true;
                           });
        !s) {
      return s;
    }
    std::string last;
    if (Status s = WaitFor("leader (GET /bosun/v1/members)",
                           [&] {
                             for (const auto& c : clients_) {
                               auto r = HttpOnce(c, "GET", "/bosun/v1/members", {}, token_, 2s);
                               if (!r) continue;
                               last = std::to_string(r->status) + " " + r->body;
                               if (r->status != 200) continue;
                               auto j = nlohmann::json::parse(r->body, nullptr, false);
                               if (!j.is_object() || !j["items"].is_array()) continue;
                               for (const auto& m : j["items"]) {
                                 if (m.value("isSelf", false) && m.value("isLeader", false)) {
                                   leader_ = c;
                                   return true;
                                 }
                               }
                             }
                             return false;
                           });
        !s) {
      return Error(s.error().code(), s.error().message() + "\nlast answer of /bosun/v1/members: " + last);
    }
    // ConfigMaps go to the namespace "bench"; create it in case the server
    // insists on existing namespaces (409 AlreadyExists is fine).
    auto r = HttpOnce(leader_, "POST", "/api/v1/namespaces",
                      R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}})", token_, 10s);
    if (!r) return r.error().Wrap(name_ + ": creating namespace bench");
    if (r->status != 201 && r->status != 409) {
      std::fprintf(stderr, "  (%s: creating namespace bench answered %d: %s; going on)\n", name_.c_str(), r->status,
                   Tail(r->body, 300).c_str());
    }
    return Ok();
  }
};

template <typename C>
Result<std::unique_ptr<Cluster>> StartCluster(const ClusterOptions& options) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return Error(Code::kIo, "cannot create " + options.dir.string() + ": " + ec.message());
  auto c = std::make_unique<C>(options);
  if (Status s = c->Start(); !s) return s.error();  // ~C stops what started and removes the dir
  return std::unique_ptr<Cluster>(std::move(c));
}

}  // namespace

Result<std::unique_ptr<Cluster>> StartEtcd(const ClusterOptions& options) {
  return StartCluster<EtcdCluster>(options);
}

Result<std::unique_ptr<Cluster>> StartBosun(const ClusterOptions& options) {
  return StartCluster<BosunCluster>(options);
}

}  // namespace bosun::bench
