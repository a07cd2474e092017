// node/runtime.h — the container runtime seam of the node daemon (DESIGN.md §5).
//
// Shaped after Kubernetes' CRI: a pod is a *sandbox* (persistent network, IPC
// and UTS namespaces bind-mounted under the node's run dir, and a pod cgroup
// under the node's parent cgroup); each container runs in it with its own PID
// and mount namespaces, an overlayfs root of its image layers plus its own
// upper dir, and cgroup limits from its resources.
//
// The real implementation (MakeRuncRuntime) runs each container with `runc`
// through a per-container monitor: `bosun shim`, started detached, which holds
// the log file, waits for the container and records its exit code and time in
// the container's directory, so it survives the daemon's kill -9 and restart.
// Every fact the runtime needs after a restart lives on disk under `run_dir`
// (ListPodSandboxes / ListContainers read it back).
//
// The pod worker (node/pod_worker.h) is the only caller; tests of the worker
// use a fake Runtime, and tests/node/runtime_*_test.cc run the real one.
// Thread-safety: every method may be called from any thread; calls for
// different pods run in parallel.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/object.h"
#include "core/result.h"

namespace bosun::node {

struct Mount {
  std::string source;       // host path (bind) or "tmpfs"
  std::string destination;  // inside the container
  std::string type = "bind";
  bool read_only = false;
  std::vector<std::string> options;  // extra mount options ("nosuid", "size=64m", …)
};

// Limits from the container's requests and limits (Kubernetes' mapping:
// shares = requests.cpu millis * 1024 / 1000 (min 2); quota = limits.cpu
// millis * period / 1000).
struct Resources {
  int64_t cpu_shares = 0;       // 0: the default (1024 on v1 / weight 100 on v2)
  int64_t cpu_quota_us = 0;     // 0: no CPU limit
  int64_t cpu_period_us = 100000;
  int64_t memory_limit_bytes = 0;  // 0: no memory limit
  int64_t pids_limit = 0;          // 0: the runtime's default (RuntimeOptions.default_pids_limit)
};

struct SandboxConfig {
  std::string pod_uid;   // the sandbox's id
  std::string ns;        // pod namespace
  std::string name;      // pod name
  std::string hostname;  // the UTS hostname (the pod name by default)
  // Pod-level cgroup limits (sum of the containers'); 0 = none.
  Resources resources;
  // For the warm pool (node/sandbox_pool.h): namespaces and files only; the
  // pod cgroup is made when a pod claims the sandbox.
  bool pooled = false;
};

struct Sandbox {
  std::string pod_uid;
  std::string ns;
  std::string name;
  std::string netns_path;  // e.g. RUN/sandboxes/<uid>/ns/net (a bind-mounted nsfs)
  std::string ipc_path;
  std::string uts_path;
  std::string dir;         // RUN/sandboxes/<uid>: the runtime's own files for the pod
  // The id the pod's network is set up under (the CNI container id): the pod
  // uid, or the pool sandbox's own id when the pod claimed a pooled one.
  std::string net_id;
};

struct ImageRootfs {
  std::string digest;                    // the image's manifest digest (for `bosun image` GC)
  std::vector<std::string> layer_dirs;   // unpacked layers, bottom first (overlayfs lowerdirs)
};

struct ContainerConfig {
  std::string name;      // container name within the pod
  int attempt = 0;       // 0 for the first run, +1 per restart; part of the id
  ImageRootfs image;
  std::vector<std::string> argv;  // resolved: command/args vs. the image's Entrypoint/Cmd
  std::vector<std::string> env;   // resolved "KEY=value" (image env, then the container's)
  std::string working_dir;        // "" → "/"
  std::optional<int64_t> run_as_user;
  std::optional<int64_t> run_as_group;
  bool read_only_rootfs = false;
  std::vector<Mount> mounts;      // volumes, already resolved to host paths
  Resources resources;
};

enum class ContainerState { kCreated, kRunning, kExited, kUnknown };
const char* ContainerStateName(ContainerState s);

struct ContainerStatus {
  std::string id;        // "<pod_uid>_<name>_<attempt>"
  std::string pod_uid;
  std::string name;
  int attempt = 0;
  std::string image;     // the image's manifest digest (ImageRootfs.digest)
  ContainerState state = ContainerState::kUnknown;
  int pid = 0;           // the container's init, while running
  int exit_code = 0;     // when kExited
  // When kExited: "Completed" (exit 0), "Error", "OOMKilled", "StartError";
  // for a container that could not start, message says why.
  std::string reason;
  std::string message;
  std::chrono::system_clock::time_point created_at{};
  std::chrono::system_clock::time_point started_at{};
  std::chrono::system_clock::time_point finished_at{};
  std::string log_path;  // stdout and stderr, one line each: "<RFC3339Nano> stdout|stderr <text>"
};

struct ExecResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Creates the pod's namespaces and cgroup; an existing sandbox for the same
  // pod_uid is returned as it is (idempotent).
  virtual Result<Sandbox> RunPodSandbox(const SandboxConfig& config) = 0;
  // Kills every container of the pod (SIGKILL) — the pod worker stops them
  // gracefully first — and releases the namespaces, mounts, the cgroup and
  // the sandbox's files. Succeeds when there is nothing left.
  virtual Status RemovePodSandbox(const std::string& pod_uid) = 0;
  virtual Result<std::vector<Sandbox>> ListPodSandboxes() = 0;
  // Turns the pooled sandbox `pool_uid` (made by RunPodSandbox with
  // `pooled`, its network already attached under net_id = pool_uid) into the
  // sandbox of the pod in `config`: renamed to the pod's uid, its hostname
  // files written, the pod cgroup made. kAlreadyExists when the pod has a
  // sandbox already (the pooled one is then untouched); kNotFound when
  // `pool_uid` is not a pooled sandbox. On another error the pooled sandbox
  // is in an unknown state: tear it down (network, then RemovePodSandbox of
  // both uids). Runtimes without a pool answer kUnavailable.
  virtual Result<Sandbox> ClaimPodSandbox(const std::string& pool_uid, const SandboxConfig& config) {
    (void)pool_uid;
    (void)config;
    return Error(Code::kUnavailable, "this runtime has no sandbox pool");
  }

  // Creates and starts a container in the sandbox, through its shim; returns
  // once runc has started it (or failed: then the status is kExited with
  // reason StartError and `message` holds runc's error). kAlreadyExists when
  // a container with the same id (pod, name, attempt) is still on disk:
  // RemoveContainer the previous attempt or bump `attempt`.
  virtual Result<ContainerStatus> StartContainer(const Sandbox& sandbox, const ContainerConfig& config) = 0;
  // SIGTERM, then SIGKILL after `grace`. Returns once it has exited.
  virtual Status StopContainer(const std::string& id, std::chrono::milliseconds grace) = 0;
  // Deletes an exited container's runc state, rootfs mount and upper dir; its
  // log file is kept until the sandbox is removed (for `logs --previous`).
  // kConflict while it runs; Ok when it does not exist.
  virtual Status RemoveContainer(const std::string& id) = 0;
  virtual Result<ContainerStatus> Inspect(const std::string& id) = 0;
  // Every container of every sandbox on disk (running or exited), for
  // re-adopting after a daemon restart.
  virtual Result<std::vector<ContainerStatus>> ListContainers() = 0;
  // Runs a command in a running container (runc exec), for exec probes and
  // `bosun exec`. kTimeout if it does not finish in time (it is then killed);
  // kConflict when the container is not running.
  virtual Result<ExecResult> Exec(const std::string& id, const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout) = 0;
};

struct RuntimeOptions {
  // e.g. DATA/run: sandboxes, the containers' state, runc's state. The
  // runtime mounts a tmpfs there (a /run of its own): a container start
  // writes a dozen small files, and creating files on a disk costs far more.
  std::string run_dir;
  // e.g. DATA/storage, on disk: the containers' writable layers and their
  // log files (neither belongs in memory). Empty: run_dir/../storage.
  std::string storage_dir;
  std::string runc = "runc";  // the runc binary
  std::string shim_binary;    // the `bosun` executable (it runs `bosun shim …`)
  std::string cgroup_parent = "bosun";  // every pod's cgroup lives under this one
  int64_t default_pids_limit = 1024;
};

// The real runtime: runc + shims + overlayfs + cgroups (v1 and v2).
Result<std::unique_ptr<Runtime>> MakeRuncRuntime(const RuntimeOptions& options);

}  // namespace bosun::node
