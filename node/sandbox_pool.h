// node/sandbox_pool.h — a small warm pool of ready pod sandboxes.
//
// Creating a pod's sandbox (net, IPC and UTS namespaces) and running the CNI
// chain on it (loopback, bridge + host-local) is most of a pod's start. The
// pool keeps `size` sandboxes ready — made by Runtime::RunPodSandbox with
// `pooled` (no cgroup yet), each attached to the pod network with its own id
// ("pool-<hex>") as the CNI container id — so a bound pod takes one: the
// runtime renames it to the pod (Runtime::ClaimPodSandbox: hostname files,
// pod cgroup) and the pod keeps the address the pool got (Sandbox::net_id is
// the id its network is torn down with later). The pool refills in the
// background, one sandbox at a time.
//
// Pods with hostPorts do not take from the pool (their portmap set-up needs
// a fresh CNI ADD anyway). A failed fill is logged and retried after a
// second; Take never waits for a fill.
//
// Lifetime: Start() first removes pooled sandboxes a killed daemon left
// behind (network and sandbox), then fills. Stop() ends the filler and tears
// down every unclaimed sandbox, so none outlives a clean stop; after a kill
// -9 the next Start() removes them. The daemon leaves ids for which
// IsPoolId() is true to the pool (they are not pods).
//
// Thread-safety: Take may be called from any thread; Start and Stop from one.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "node/network.h"
#include "node/runtime.h"

namespace bosun::node {

class SandboxPool {
 public:
  SandboxPool(Runtime* runtime, Network* network, int size) : runtime_(runtime), network_(network), size_(size) {}
  ~SandboxPool();  // Stop()
  SandboxPool(const SandboxPool&) = delete;
  SandboxPool& operator=(const SandboxPool&) = delete;

  void Start();
  void Stop();

  struct Claimed {
    Sandbox sandbox;
    std::string ip;  // the pod IP the pooled sandbox got
  };
  // A ready sandbox turned into the pod's, or nullopt (none ready, or the pod
  // has a sandbox already): the caller then makes one as usual.
  std::optional<Claimed> Take(const SandboxConfig& config);

  // How many sandboxes are ready now (for tests).
  size_t ready() const;

  static bool IsPoolId(const std::string& uid);

 private:
  void FillLoop();
  // Tears down a pooled sandbox (network under net_id, then the sandbox).
  void Discard(const std::string& uid, const std::string& net_id, const std::string& netns);

  Runtime* runtime_;
  Network* network_;
  int size_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Claimed> ready_;  // guarded by mu_
  bool stop_ = false;
  bool started_ = false;
  std::thread filler_;
};

}  // namespace bosun::node
