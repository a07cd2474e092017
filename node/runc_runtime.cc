// The real Runtime (node/runtime.h): runc + one `bosun shim` per container +
// overlayfs + cgroups. It keeps no state in memory: every answer is read back
// from the run dir, which is what makes a daemon restart a non-event.
//
//   RUN/                      a tmpfs the runtime mounts and leaves mounted
//                             across its restarts (the node's own /run)
//     sandboxes/<uid>/        node/sandbox.h (namespaces, etc files)
//     containers/<id>/        meta.json, rootfs/ (the overlay's mount point),
//                             state.json, exit.json, FIFOs (node/shim.h)
//     secure/                 0700 (a tmpfs of its own when RUN stays on
//                             disk): everything that holds a container's
//                             env (values from Secrets):
//       bundles/<id>/config.json  the OCI spec (runc's --bundle)
//       runc/                     runc's --root (its state repeats the spec)
//   STORAGE/                  on disk
//     containers/<id>/        upper/, work/: the container's writable layer
//     logs/<uid>/             NAME_ATTEMPT.log, kept until the sandbox goes
//     boot_id                 the boot that last used it
// so no Secret value is at rest on the data dir's disk. After a reboot (a
// new boot_id) the run dir is empty and Init removes what STORAGE kept for
// the containers it knew.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <linux/magic.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "core/log.h"
#include "core/process.h"
#include "node/cgroups.h"
#include "node/oci_spec.h"
#include "node/runtime.h"
#include "node/sandbox.h"
#include "node/shim.h"
#include "node/shim_zygote.h"

namespace bosun::node {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;
namespace fs = std::filesystem;

constexpr char kCgroupRoot[] = "/sys/fs/cgroup";

int64_t ToNs(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
Clock::time_point FromNs(int64_t ns) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

// Ids end up in paths and runc ids: letters, digits and "-._" only.
bool SafeName(const std::string& s) {
  if (s.empty() || s.size() > 200 || s == "." || s == "..") return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) return false;
  }
  return true;
}

Result<json> ReadJson(const std::string& path) {
  Result<std::string> text = sandbox::ReadFile(path);
  if (!text) return text.error();
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error(Code::kIo, path + ": not a JSON object");
  return j;
}

bool Exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

// Whether process `pid` runs (not a zombie) in container `id`'s cgroup: the
// container's init, not another process that got its pid since it exited.
bool RunsIn(pid_t pid, const std::string& id) {
  if (pid <= 0 || !ProcessStartTime(pid)) return false;
  Result<std::string> cg = sandbox::ReadFile("/proc/" + std::to_string(pid) + "/cgroup");
  return cg && cg->find("/" + id + "\n") != std::string::npos;
}

class RuncRuntime : public Runtime {
 public:
  explicit RuncRuntime(RuntimeOptions o)
      : o_(std::move(o)), cg_(cgroups::Detect(kCgroupRoot)), launcher_(o_.shim_binary) {}

  Status Init() {
    if (auto s = MountRunDir(); !s) return s;
    for (const std::string& d : {SandboxesDir(), ContainersDir(), StorageDir() + "/containers", StorageDir() + "/logs"}) {
      std::error_code ec;
      fs::create_directories(d, ec);
      if (ec) return Error(Code::kIo, "cannot create " + d + ": " + ec.message());
    }
    // What containers write is theirs: no other user of the host reads it.
    if (::chmod((StorageDir() + "/containers").c_str(), 0700) != 0) {
      return Error(Code::kIo, "cannot chmod " + StorageDir() + "/containers: " + std::strerror(errno));
    }
    RemoveOrphanedStorage();
    // The secure dir (0700) must not be on disk: it is on the run dir's
    // tmpfs, or, when the run dir stays on disk, a tmpfs of its own, mounted
    // once and kept across daemon restarts (the containers' runc state).
    const std::string secure = SecureDir();
    if (::mkdir(secure.c_str(), 0700) != 0 && errno != EEXIST) {
      return Error(Code::kIo, "cannot create " + secure + ": " + std::strerror(errno));
    }
    if (!IsTmpfs(secure)) {
      if (::mount("tmpfs", secure.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700,size=64m") != 0) {
        return Error(Code::kIo, "cannot mount a tmpfs at " + secure + " (for the containers' specs and runc state): " +
                                    std::strerror(errno));
      }
    }
    for (const std::string& d : {RuncRoot(), SecureDir() + "/bundles"}) {
      if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) {
        return Error(Code::kIo, "cannot create " + d + ": " + std::strerror(errno));
      }
    }
    return Ok();
  }

  // The run dir as a tmpfs of its own, unless it is one already (a restarted
  // daemon). A run dir an older bosun left on disk moves to the tmpfs when it
  // holds no pod; with pods it stays where it is, so they are re-adopted.
  Status MountRunDir() {
    std::error_code ec;
    fs::create_directories(o_.run_dir, ec);
    if (ec) return Error(Code::kIo, "cannot create " + o_.run_dir + ": " + ec.message());
    if (IsTmpfs(o_.run_dir) && IsMountPoint(o_.run_dir)) return Ok();
    if (!fs::is_empty(o_.run_dir, ec)) {
      auto has_entries = [](const std::string& d) {
        std::error_code e;
        return fs::exists(d, e) && !fs::is_empty(d, e);
      };
      if (has_entries(SandboxesDir()) || has_entries(ContainersDir())) {
        log::Warn("runtime", "the run dir holds pods of an older bosun and stays on disk (slower container starts); "
                             "it moves to a tmpfs at the first start with no pod on this node",
                  {{"dir", o_.run_dir}});
        return Ok();
      }
      // An empty skeleton (and perhaps the old secure tmpfs): gone.
      if (auto s = sandbox::UnmountUnder(o_.run_dir); !s) return s;
      if (auto s = sandbox::RemoveDir(o_.run_dir); !s) return s;
      fs::create_directories(o_.run_dir, ec);
      if (ec) return Error(Code::kIo, "cannot create " + o_.run_dir + ": " + ec.message());
    }
    if (::mount("tmpfs", o_.run_dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=256m") != 0) {
      return Error(Code::kIo, "cannot mount a tmpfs at " + o_.run_dir + " (for the containers' state): " +
                                  std::strerror(errno));
    }
    return Ok();
  }

  static bool IsTmpfs(const std::string& path) {
    struct statfs st;
    return ::statfs(path.c_str(), &st) == 0 &&
           static_cast<unsigned long>(st.f_type) == static_cast<unsigned long>(TMPFS_MAGIC);
  }

  // A mount point of its own (not just a dir on a /tmp that is a tmpfs).
  static bool IsMountPoint(const std::string& path) {
    struct stat self, parent;
    return ::stat(path.c_str(), &self) == 0 && ::stat((path + "/..").c_str(), &parent) == 0 &&
           self.st_dev != parent.st_dev;
  }

  // After a reboot the run dir is empty: the writable layers and logs of the
  // containers it knew are left on disk with nothing to remove them. Only
  // then (the boot id recorded in the storage dir changed): an empty run dir
  // at any other time (unmounted by hand, say) is no proof that a layer is
  // unused.
  void RemoveOrphanedStorage() {
    const std::string boot_file = StorageDir() + "/boot_id";
    Result<std::string> now = sandbox::ReadFile("/proc/sys/kernel/random/boot_id");
    if (!now) return;
    Result<std::string> recorded = sandbox::ReadFile(boot_file);
    if (recorded && *recorded == *now) return;
    (void)sandbox::WriteAtomic(boot_file, *now);
    auto sweep = [](const std::string& dir, const std::function<bool(const std::string&)>& known) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        std::string name = e.path().filename().string();
        if (known(name)) continue;
        if (auto s = sandbox::RemoveDir(e.path().string()); !s) {
          log::Warn("runtime", "cannot remove an orphaned dir", {{"dir", e.path().string()}, {"error", s.error().message()}});
        }
      }
    };
    sweep(StorageDir() + "/containers", [&](const std::string& id) { return Exists(ContainerDir(id)); });
    sweep(StorageDir() + "/logs", [&](const std::string& uid) { return Exists(SandboxesDir() + "/" + uid); });
  }

  Result<Sandbox> RunPodSandbox(const SandboxConfig& config) override {
    if (!SafeName(config.pod_uid)) return Error(Code::kInvalid, "invalid pod uid \"" + config.pod_uid + "\"");
    auto lock = LockPod(config.pod_uid);
    if (Result<Sandbox> existing = ReadSandbox(config.pod_uid); existing) return existing;
    Sandbox sb;
    sb.pod_uid = config.pod_uid;
    sb.ns = config.ns;
    sb.name = config.name;
    sb.dir = SandboxesDir() + "/" + config.pod_uid;
    sb.netns_path = sb.dir + "/ns/net";
    sb.ipc_path = sb.dir + "/ns/ipc";
    sb.uts_path = sb.dir + "/ns/uts";
    sb.net_id = config.pod_uid;
    std::string hostname = config.hostname.empty() ? config.name : config.hostname;
    if (hostname.empty()) hostname = config.pod_uid;
    if (hostname.size() > 63) hostname.resize(63);
    Status made = [&]() -> Status {
      std::error_code ec;
      fs::create_directories(sb.dir, ec);
      if (ec) return Error(Code::kIo, "cannot create " + sb.dir + ": " + ec.message());
      if (auto s = sandbox::CreateNamespaces(sb, hostname); !s) return s;
      if (auto s = sandbox::WriteEtcFiles(sb, hostname); !s) return s;
      if (!config.pooled) {
        if (auto s = cgroups::CreatePod(kCgroupRoot, cg_, o_.cgroup_parent, sb.pod_uid, config.resources); !s) return s;
      }
      json j = {{"pod_uid", sb.pod_uid}, {"namespace", sb.ns}, {"name", sb.name}, {"hostname", hostname},
                {"net_id", sb.pod_uid}, {"pooled", config.pooled}, {"created_at", FormatRFC3339Nano(Clock::now())}};
      return sandbox::WriteAtomic(sb.dir + "/sandbox.json", j.dump() + "\n");
    }();
    if (!made) {
      (void)RemoveSandboxLocked(config.pod_uid);
      return made.error().Wrap("pod " + config.ns + "/" + config.name);
    }
    return sb;
  }

  Result<Sandbox> ClaimPodSandbox(const std::string& pool_uid, const SandboxConfig& config) override {
    if (!SafeName(pool_uid)) return Error(Code::kInvalid, "invalid sandbox id \"" + pool_uid + "\"");
    if (!SafeName(config.pod_uid)) return Error(Code::kInvalid, "invalid pod uid \"" + config.pod_uid + "\"");
    auto lock = LockPod(config.pod_uid);
    auto pool_lock = LockPod(pool_uid);
    if (Exists(SandboxesDir() + "/" + config.pod_uid)) {
      return Error(Code::kAlreadyExists, "pod " + config.ns + "/" + config.name + " has a sandbox already");
    }
    Result<json> pj = ReadJson(SandboxesDir() + "/" + pool_uid + "/sandbox.json");
    if (!pj || !pj->value("pooled", false)) return Error(Code::kNotFound, "no pooled sandbox " + pool_uid);
    const std::string from = SandboxesDir() + "/" + pool_uid, to = SandboxesDir() + "/" + config.pod_uid;
    // The ns/ mount moves with its directory.
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return Error(Code::kIo, "cannot rename " + from + " to " + to + ": " + std::strerror(errno));
    }
    Sandbox sb;
    sb.pod_uid = config.pod_uid;
    sb.ns = config.ns;
    sb.name = config.name;
    sb.dir = to;
    sb.netns_path = to + "/ns/net";
    sb.ipc_path = to + "/ns/ipc";
    sb.uts_path = to + "/ns/uts";
    sb.net_id = pj->value("net_id", pool_uid);
    std::string hostname = config.hostname.empty() ? config.name : config.hostname;
    if (hostname.empty()) hostname = config.pod_uid;
    if (hostname.size() > 63) hostname.resize(63);
    // The UTS namespace's own name is set by runc at each container start
    // (the spec's hostname); the files are the pod's.
    if (auto s = sandbox::WriteEtcFiles(sb, hostname); !s) return s.error();
    if (auto s = cgroups::CreatePod(kCgroupRoot, cg_, o_.cgroup_parent, sb.pod_uid, config.resources); !s) return s.error();
    json j = {{"pod_uid", sb.pod_uid}, {"namespace", sb.ns}, {"name", sb.name}, {"hostname", hostname},
              {"net_id", sb.net_id}, {"pooled", false}, {"created_at", FormatRFC3339Nano(Clock::now())}};
    if (auto s = sandbox::WriteAtomic(sb.dir + "/sandbox.json", j.dump() + "\n"); !s) return s.error();
    return sb;
  }

  Status RemovePodSandbox(const std::string& pod_uid) override {
    if (!SafeName(pod_uid)) return Error(Code::kInvalid, "invalid pod uid \"" + pod_uid + "\"");
    auto lock = LockPod(pod_uid);
    return RemoveSandboxLocked(pod_uid);
  }

  Result<std::vector<Sandbox>> ListPodSandboxes() override {
    std::vector<Sandbox> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(SandboxesDir(), ec)) {
      if (Result<Sandbox> sb = ReadSandbox(e.path().filename().string()); sb) out.push_back(*sb);
    }
    if (ec) return Error(Code::kIo, "cannot list " + SandboxesDir() + ": " + ec.message());
    return out;
  }

  Result<ContainerStatus> StartContainer(const Sandbox& sb, const ContainerConfig& config) override {
    if (!SafeName(config.name)) return Error(Code::kInvalid, "invalid container name \"" + config.name + "\"");
    Result<json> sbj = ReadJson(SandboxesDir() + "/" + sb.pod_uid + "/sandbox.json");
    if (!sbj) return Error(Code::kNotFound, "pod " + sb.ns + "/" + sb.name + " has no sandbox on this node");
    if (config.image.layer_dirs.empty()) {
      return Error(Code::kInvalid, "container " + config.name + ": the image has no layers");
    }
    const std::string id = sb.pod_uid + "_" + config.name + "_" + std::to_string(config.attempt);
    const std::string dir = ContainerDir(id);
    if (::mkdir(dir.c_str(), 0700) != 0) {
      if (errno == EEXIST) return Error(Code::kAlreadyExists, "container " + id + " exists already");
      return Error(Code::kIo, "cannot create " + dir + ": " + std::strerror(errno));
    }
    Result<pid_t> shim = Prepare(sb, *sbj, config, id, dir);
    if (!shim) {
      (void)sandbox::UnmountUnder(dir);
      (void)sandbox::RemoveDir(dir);
      (void)sandbox::RemoveDir(SpecDir(id));
      (void)sandbox::RemoveDir(LayerDir(id));
      return shim.error().Wrap("cannot start container " + config.name + " of pod " + sb.ns + "/" + sb.name);
    }
    return Inspect(id);
  }

  Status StopContainer(const std::string& id, std::chrono::milliseconds grace) override {
    Result<ContainerStatus> st = Inspect(id);
    if (!st) return st.error();
    if (st->state == ContainerState::kExited) return Ok();
    const std::string dir = ContainerDir(id);
    if (grace.count() > 0) {
      Runc({"kill", id, "TERM"}, std::chrono::seconds(10));
      if (WaitExited(dir, grace)) return Ok();
    }
    Runc({"kill", "--all", id, "KILL"}, std::chrono::seconds(10));
    if (WaitExited(dir, std::chrono::milliseconds(200))) return Ok();
    // runc could not (its state is gone, or the container is between states):
    // the init's pid from the shim is the last resort.
    if (Result<ShimState> s = ReadShimState(dir); s && RunsIn(s->pid, id)) ::kill(s->pid, SIGKILL);
    if (WaitExited(dir, std::chrono::seconds(10))) return Ok();
    return Error(Code::kTimeout, "container " + id + " did not exit after SIGKILL");
  }

  Status RemoveContainer(const std::string& id) override {
    Result<ContainerStatus> st = Inspect(id);
    if (!st) return st.error().code() == Code::kNotFound ? Ok() : Status(st.error());
    if (st->state == ContainerState::kRunning || st->state == ContainerState::kCreated) {
      return Error(Code::kConflict, "container " + id + " is " + ContainerStateName(st->state) + ": stop it first");
    }
    const std::string dir = ContainerDir(id);
    // The shim tidies its bundle after recording the exit: let it finish.
    if (Result<ShimState> shim = ReadShimState(dir); shim) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (ShimAlive(*shim) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    Runc({"delete", "--force", id}, std::chrono::seconds(30));
    if (auto s = sandbox::UnmountUnder(dir); !s) return s;
    if (auto s = sandbox::RemoveDir(SpecDir(id)); !s) return s;
    if (auto s = sandbox::RemoveDir(LayerDir(id)); !s) return s;
    return sandbox::RemoveDir(dir);
  }

  Result<ContainerStatus> Inspect(const std::string& id) override {
    if (!SafeName(id)) return Error(Code::kInvalid, "invalid container id \"" + id + "\"");
    const std::string dir = ContainerDir(id);
    Result<json> meta = ReadJson(dir + "/meta.json");
    if (!meta) return Error(Code::kNotFound, "no container " + id + " on this node");
    ContainerStatus st;
    st.id = id;
    st.pod_uid = meta->value("pod_uid", "");
    st.name = meta->value("name", "");
    st.attempt = meta->value("attempt", 0);
    st.image = meta->value("image", "");
    st.created_at = FromNs(meta->value("created_at_ns", int64_t{0}));
    st.log_path = meta->value("log_path", "");
    Result<ShimState> shim = ReadShimState(dir);
    if (shim) st.started_at = shim->started_at;
    if (Result<ExitRecord> ex = ReadExitRecord(dir); ex) {
      st.state = ContainerState::kExited;
      st.exit_code = ex->exit_code;
      st.reason = ex->reason;
      st.message = ex->message;
      st.finished_at = ex->finished_at;
      return st;
    }
    if (!shim) {
      // The shim has not written its state yet: it is starting (or could not).
      st.state = ContainerState::kCreated;
      int shim_pid = meta->value("shim_pid", 0);
      uint64_t shim_start = meta->value("shim_start", uint64_t{0});
      if (shim_pid > 0 && ProcessStartTime(shim_pid) != std::optional<uint64_t>(shim_start)) {
        st.state = ContainerState::kExited;
        st.exit_code = 128;
        st.reason = "StartError";
        st.message = "the container's monitor (bosun shim) exited before starting it; see " + dir + "/shim.log";
      }
      return st;
    }
    if (ShimAlive(*shim)) {
      st.state = shim->pid > 0 ? ContainerState::kRunning : ContainerState::kCreated;
      st.pid = shim->pid;
      return st;
    }
    // The shim is gone without a record (killed, or the node rebooted).
    if (RunsIn(shim->pid, id)) {
      st.state = ContainerState::kUnknown;
      st.pid = shim->pid;
      st.message = "the container's monitor (bosun shim) is gone but the container still runs";
      return st;
    }
    st.state = ContainerState::kExited;
    st.exit_code = 255;
    st.reason = "Error";
    st.message = "the container's monitor (bosun shim) exited without recording the container's exit";
    return st;
  }

  Result<std::vector<ContainerStatus>> ListContainers() override {
    std::vector<ContainerStatus> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(ContainersDir(), ec)) {
      Result<ContainerStatus> st = Inspect(e.path().filename().string());
      if (st) out.push_back(*st);
    }
    if (ec) return Error(Code::kIo, "cannot list " + ContainersDir() + ": " + ec.message());
    return out;
  }

  Result<ExecResult> Exec(const std::string& id, const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout) override {
    if (argv.empty()) return Error(Code::kInvalid, "exec: no command");
    Result<ContainerStatus> st = Inspect(id);
    if (!st) return st.error();
    if (st->state != ContainerState::kRunning) {
      return Error(Code::kConflict, "container " + id + " is " + ContainerStateName(st->state) + ", not running");
    }
    // The pid file names the exec'd process, which a time-out must kill: it
    // lives in the container, outside runc exec's process group.
    static std::atomic<uint64_t> seq{0};
    const std::string pid_file = ContainerDir(id) + "/exec-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(seq.fetch_add(1)) + ".pid";
    // runc's own error (a command that cannot be started) goes to its log,
    // not mixed into the command's stderr as a logrus line.
    const std::string runc_log = pid_file + ".log";
    process::Options p;
    p.argv = {o_.runc, "--root", RuncRoot(),   "--log",  runc_log, "--log-format",
              "json",  "exec",   "--pid-file", pid_file, id};
    p.argv.insert(p.argv.end(), argv.begin(), argv.end());
    p.timeout = timeout;
    Result<process::Output> r = process::Run(p);
    if (!r && r.error().code() == Code::kTimeout) {
      if (Result<std::string> pid = sandbox::ReadFile(pid_file); pid && std::atoi(pid->c_str()) > 0) {
        ::kill(std::atoi(pid->c_str()), SIGKILL);
      }
    }
    ::unlink(pid_file.c_str());
    std::string runc_error;
    if (r && r->exit_code != 0) {
      std::ifstream in(runc_log);
      for (std::string line; std::getline(in, line);) {
        json j = json::parse(line, nullptr, false);
        if (j.is_object() && j.value("level", "") == "error") runc_error = j.value("msg", "");
      }
    }
    ::unlink(runc_log.c_str());
    if (!r) {
      if (r.error().code() == Code::kTimeout) {
        return Error(Code::kTimeout, "exec in container " + id + " did not finish within " +
                                         std::to_string(timeout.count()) + " ms");
      }
      return r.error();
    }
    ExecResult res;
    res.exit_code = r->term_signal ? 128 + r->term_signal : r->exit_code;
    res.out = std::move(r->out);
    res.err = std::move(r->err);
    if (runc_error.find("exec failed") != std::string::npos) {
      // The command never ran: runc's reason, and a shell's exit codes (127
      // not found, 126 cannot be run) instead of runc's 255.
      const bool missing = runc_error.find("no such file or directory") != std::string::npos ||
                           runc_error.find("executable file not found") != std::string::npos;
      res.exit_code = missing ? 127 : 126;
      res.err = runc_error + "\n";
    } else if (!runc_error.empty()) {
      res.err += runc_error + "\n";
    }
    return res;
  }

 private:
  std::string SandboxesDir() const { return o_.run_dir + "/sandboxes"; }
  std::string ContainersDir() const { return o_.run_dir + "/containers"; }
  std::string SecureDir() const { return o_.run_dir + "/secure"; }
  std::string RuncRoot() const { return SecureDir() + "/runc"; }
  std::string SpecDir(const std::string& id) const { return SecureDir() + "/bundles/" + id; }
  std::string ContainerDir(const std::string& id) const { return ContainersDir() + "/" + id; }
  std::string StorageDir() const { return o_.storage_dir; }
  std::string LayerDir(const std::string& id) const { return StorageDir() + "/containers/" + id; }
  std::string LogsDir(const std::string& uid) const { return StorageDir() + "/logs/" + uid; }

  Status MakeLogsDir(const std::string& uid) {
    const std::string d = LogsDir(uid);
    if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) return Error(Code::kIo, "cannot create " + d + ": " + std::strerror(errno));
    return Ok();
  }

  std::unique_lock<std::mutex> LockPod(const std::string& uid) {
    std::shared_ptr<std::mutex> m;
    {
      std::lock_guard<std::mutex> g(locks_mu_);
      auto& slot = pod_locks_[uid];
      if (!slot) slot = std::make_shared<std::mutex>();
      m = slot;
    }
    // The map keeps the mutex alive; pods are few, so entries are not pruned.
    return std::unique_lock<std::mutex>(*m);
  }

  Result<Sandbox> ReadSandbox(const std::string& uid) {
    std::string dir = SandboxesDir() + "/" + uid;
    Result<json> j = ReadJson(dir + "/sandbox.json");
    if (!j) return j.error();
    Sandbox sb;
    sb.pod_uid = uid;
    sb.ns = j->value("namespace", "");
    sb.name = j->value("name", "");
    sb.dir = dir;
    sb.netns_path = dir + "/ns/net";
    sb.ipc_path = dir + "/ns/ipc";
    sb.uts_path = dir + "/ns/uts";
    sb.net_id = j->value("net_id", uid);
    return sb;
  }

  process::Output Runc(std::vector<std::string> args, std::chrono::milliseconds timeout) {
    process::Options p;
    p.argv = {o_.runc, "--root", RuncRoot()};
    p.argv.insert(p.argv.end(), args.begin(), args.end());
    p.timeout = timeout;
    Result<process::Output> r = process::Run(p);
    if (!r) {
      process::Output o;
      o.err = r.error().message();
      return o;
    }
    return *r;
  }

  // Whether the container has exited (or its shim is gone) within `wait`,
  // polling its files every few milliseconds.
  bool WaitExited(const std::string& dir, std::chrono::milliseconds wait) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
      if (Exists(dir + "/exit.json")) return true;
      Result<ShimState> s = ReadShimState(dir);
      // A shim gone without a record (killed) no longer tells: the
      // container's own process must be gone too.
      if (s && !ShimAlive(*s) && !RunsIn(s->pid, fs::path(dir).filename().string())) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Mounts the root, writes config.json and meta.json, starts the shim and
  // waits until it reports the container started (or failed to).
  Result<pid_t> Prepare(const Sandbox& sb, const json& sbj, const ContainerConfig& config, const std::string& id,
                        const std::string& dir) {
    // The pod's logs dir, made here (not with the sandbox): a sandbox from an
    // older bosun, or one a killed daemon had just claimed, has none yet.
    if (auto s = MakeLogsDir(sb.pod_uid); !s) return s.error();
    const std::string layer = LayerDir(id);
    const std::string rootfs = dir + "/rootfs", upper = layer + "/upper", work = layer + "/work";
    for (const std::string* d : {&rootfs, &layer, &upper, &work}) {
      if (::mkdir(d->c_str(), 0755) != 0) return Error(Code::kIo, "cannot create " + *d + ": " + std::strerror(errno));
    }
    std::string lower;
    for (auto it = config.image.layer_dirs.rbegin(); it != config.image.layer_dirs.rend(); ++it) {
      if (!lower.empty()) lower += ":";
      lower += *it;  // overlayfs wants the top layer first
    }
    std::string opts = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
    if (::mount("overlay", rootfs.c_str(), "overlay", 0, opts.c_str()) != 0) {
      return Error(Code::kIo, "cannot mount the overlay root (" + std::to_string(config.image.layer_dirs.size()) +
                                  " layers) at " + rootfs + ": " + std::strerror(errno));
    }
    SpecInputs in;
    in.container = &config;
    in.sandbox = &sb;
    in.hostname = sbj.value("hostname", sb.name);
    in.rootfs = rootfs;
    in.cgroups_path = cgroups::ContainerPath(o_.cgroup_parent, sb.pod_uid, id);
    in.default_pids_limit = o_.default_pids_limit;
    // On the secure tmpfs, 0600: the process env may hold values from Secrets.
    const std::string spec_dir = SpecDir(id);
    if (::mkdir(spec_dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Error(Code::kIo, "cannot create " + spec_dir + ": " + std::strerror(errno));
    }
    if (auto s = sandbox::WriteAtomic(spec_dir + "/config.json", BuildSpec(in).dump() + "\n", 0600); !s) {
      return s.error();
    }
    const std::string log_path = LogsDir(sb.pod_uid) + "/" + config.name + "_" + std::to_string(config.attempt) + ".log";
    json meta = {{"id", id}, {"pod_uid", sb.pod_uid}, {"name", config.name}, {"attempt", config.attempt},
                 {"created_at_ns", ToNs(Clock::now())}, {"log_path", log_path}, {"image", config.image.digest}};
    if (auto s = sandbox::WriteAtomic(dir + "/meta.json", meta.dump() + "\n"); !s) return s.error();

    const std::string ready = dir + "/ready";
    if (::mkfifo(ready.c_str(), 0600) != 0) return Error(Code::kIo, "mkfifo " + ready + ": " + std::strerror(errno));
    int ready_fd = ::open(ready.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (ready_fd < 0) return Error(Code::kIo, "open " + ready + ": " + std::strerror(errno));
    ShimOptions so;
    so.id = id;
    so.bundle = dir;
    so.spec_dir = spec_dir;
    so.runc = o_.runc;
    so.root = RuncRoot();
    so.log_path = log_path;
    Result<pid_t> shim = launcher_.Launch(so, dir + "/shim.log");
    if (!shim) {
      ::close(ready_fd);
      return shim.error();
    }
    // The shim's identity, for Inspect while it has not written state.json.
    std::optional<uint64_t> start = ProcessStartTime(*shim);
    meta["shim_pid"] = *shim;
    meta["shim_start"] = start.value_or(0);
    (void)sandbox::WriteAtomic(dir + "/meta.json", meta.dump() + "\n");

    // Wait for the shim's byte on `ready`; every 20 ms check it is alive.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      pollfd p{ready_fd, POLLIN, 0};
      int pr = ::poll(&p, 1, 20);
      if (pr > 0) break;
      if (Exists(dir + "/exit.json")) break;
      if (!ProcessStartTime(*shim)) break;  // Inspect reports what it left
      if (std::chrono::steady_clock::now() > deadline) {
        ::close(ready_fd);
        return Error(Code::kTimeout, "runc did not start the container within 60 s (see " + dir + "/shim.log)");
      }
    }
    ::close(ready_fd);
    return *shim;
  }

  Status RemoveSandboxLocked(const std::string& uid) {
    const std::string dir = SandboxesDir() + "/" + uid;
    // Its containers first: SIGKILL whatever still runs, then remove.
    std::error_code ec;
    std::vector<std::string> ids;
    for (const auto& e : fs::directory_iterator(ContainersDir(), ec)) {
      std::string id = e.path().filename().string();
      if (id.rfind(uid + "_", 0) == 0) ids.push_back(id);
    }
    for (const auto& id : ids) {
      if (auto s = StopContainer(id, std::chrono::milliseconds(0)); !s) {
        log::Warn("runtime", "cannot stop container", {{"container", id}, {"error", s.error().message()}});
      }
      if (auto s = RemoveContainer(id); !s) return s.error().Wrap("pod " + uid);
    }
    if (auto s = cgroups::RemoveTree(kCgroupRoot, cg_, cgroups::PodPath(o_.cgroup_parent, uid)); !s) return s;
    if (auto s = sandbox::RemoveDir(LogsDir(uid)); !s) return s;
    if (!Exists(dir)) return Ok();
    if (auto s = sandbox::UnmountUnder(dir); !s) return s;
    return sandbox::RemoveDir(dir);
  }

  RuntimeOptions o_;
  cgroups::Version cg_;
  std::mutex locks_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> pod_locks_;
  ShimLauncher launcher_;  // forks the shims (node/shim_zygote.h)
};

}  // namespace

Result<std::unique_ptr<Runtime>> MakeRuncRuntime(const RuntimeOptions& options) {
  if (options.run_dir.empty() || options.run_dir[0] != '/') {
    return Error(Code::kInvalid, "the runtime's run dir must be an absolute path, got \"" + options.run_dir + "\"");
  }
  if (options.shim_binary.empty()) return Error(Code::kInvalid, "the runtime needs the bosun binary for its shims");
  RuntimeOptions o = options;
  if (o.storage_dir.empty()) o.storage_dir = fs::path(o.run_dir).parent_path().string() + "/storage";
  if (o.storage_dir[0] != '/') {
    return Error(Code::kInvalid, "the runtime's storage dir must be an absolute path, got \"" + o.storage_dir + "\"");
  }
  auto rt = std::make_unique<RuncRuntime>(o);
  if (auto s = rt->Init(); !s) return s.error();
  return std::unique_ptr<Runtime>(std::move(rt));
}

}  // namespace bosun::node
