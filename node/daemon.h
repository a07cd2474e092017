// node/daemon.h — the node daemon (`bosun node`, DESIGN.md §5): the kubelet of
// bosun. It registers this machine as a Node, renews its Lease in
// kube-node-lease, reports the Node's conditions, watches the pods bound to
// it and runs one PodWorker per pod (node/pod_worker.h).
//
// Start():
//  1. creates or updates the Node (labels: the given ones plus
//     kubernetes.io/hostname, kubernetes.io/os, kubernetes.io/arch;
//     spec.podCIDR; status: capacity, allocatable, addresses, the node
//     server's port in daemonEndpoints, nodeInfo, conditions Ready /
//     MemoryPressure / DiskPressure / PIDPressure) and its Lease;
//  2. reads what the runtime has (ListContainers / ListPodSandboxes) so that
//     each pod's worker adopts its containers instead of starting them again;
//  3. watches pods in every namespace (filtering spec.nodeName on this side);
//     once the initial list is in, sandboxes of pods no longer bound here are
//     stopped and removed.
// Then a heartbeat thread renews the Lease every `lease_renew` and writes
// the Node's status every `status_interval` (and when a condition changes).
//
// Stop() ends the watch, the heartbeat and the workers but leaves the
// containers running, as the kubelet does: a new daemon re-adopts them.
// Thread-safety: Lookup may be called from any thread (the node server does).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/result.h"
#include "node/node_server.h"
#include "node/pod_worker.h"
#include "state/client.h"

namespace bosun::node {

struct DaemonOptions {
  std::string node_name;
  std::map<std::string, std::string> labels;
  std::string data_dir;                 // for DiskPressure (statvfs)
  std::string pod_cidr = "10.244.0.0/24";
  int max_pods = 110;
  std::string address = "127.0.0.1";    // the InternalIP
  int node_server_port = 0;             // status.daemonEndpoints.kubeletEndpoint.Port
  std::string runtime_version = "runc (unknown)";
  std::string version = "dev";          // nodeInfo.kubeletVersion
  std::chrono::milliseconds lease_renew{std::chrono::seconds(5)};
  int lease_duration_seconds = 40;
  std::chrono::milliseconds status_interval{std::chrono::seconds(10)};
};

class Daemon {
 public:
  // `env` holds the runtime, network, images, volumes, client and clock every
  // worker uses; they must outlive the daemon. Fails when the Node or Lease
  // cannot be written or the watch cannot start (the message says why).
  static Result<std::unique_ptr<Daemon>> Start(const DaemonOptions& options, const WorkerEnv& env);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  void Stop();

  // The container of a pod bound here, for the node server.
  Result<ContainerRef> Lookup(const std::string& ns, const std::string& pod, const std::string& container);

  // For tests: the number of pod workers alive, and one heartbeat now.
  size_t workers() const;
  Status Heartbeat();

 private:
  Daemon(const DaemonOptions& options, const WorkerEnv& env) : opt_(options), env_(env) {}
  Status RegisterNode();
  Status RenewLease();
  Status WriteNodeStatus();
  Json NodeStatus();
  void OnPodEvent(const state::WatchEvent& ev);
  void CleanupOrphans();
  void HeartbeatLoop();

  DaemonOptions opt_;
  WorkerEnv env_;
  state::WatchPtr watch_;
  std::thread heartbeat_;
  std::atomic<bool> stop_{false};
  std::mutex hb_mu_;
  std::condition_variable hb_cv_;

  mutable std::mutex mu_;  // guards the maps below
  std::map<std::string, std::unique_ptr<PodWorker>> workers_;        // by pod uid
  std::map<std::string, std::string> uid_by_key_;                    // "ns/name" → uid
  std::map<std::string, std::vector<ContainerStatus>> adoptable_;    // by pod uid, until a worker takes them
  bool orphans_cleaned_ = false;

  Json last_conditions_;       // for lastTransitionTime, guarded by hb_mu_
  std::string last_pressure_;  // condition statuses last written
};

// VolumeManager as the workers use it.
std::unique_ptr<PodVolumes> MakePodVolumes(const std::string& pods_dir);

// "2026-11-22T03:01:29.123456Z", as a Lease's renewTime.
std::string FormatRfc3339Micro(WallTime t);

}  // namespace bosun::node
