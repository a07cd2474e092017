// cli/node_runner.h — the node daemon with its real parts, as `bosun node`
// and `bosun up` run it: runc through shims (node/runtime.h), the CNI plugins
// (node/network.h), the image store with its airgap folder
// (node/image_store.h), pod volumes, probes, the node server for logs and
// exec (node/node_server.h) and the daemon itself (node/daemon.h).
//
// Start, in order:
//  1. opens the runtime, the network and the image store under `data`
//     (DATA/run, DATA/cni, DATA/images, DATA/pods);
//  2. imports every archive in DATA/airgap (hidden files skipped) into the image store (as k3s does
//     with its agent/images folder); an archive that fails is logged and
//     skipped, so one bad file does not keep the node down;
//  3. starts image GC on disk pressure (node/image_gc.h), the warm sandbox pool (node/sandbox_pool.h; it first removes
//     pooled sandboxes a killed daemon left), the node server, then the
//     daemon, which registers the Node and adopts the containers a previous
//     daemon left running.
// When a step fails, what was started is stopped and the error (a message for
// the terminal) returned.
//
// Two ways to stop:
//  - Stop(): the daemon and the node server end and the pool's unclaimed
//    sandboxes are removed; the pods' containers keep running, as the
//    kubelet's do, and the next daemon adopts them (`bosun node` on SIGTERM).
//  - StopAndRemovePods(grace): Stop(), then every pod of this node is taken
//    down as k3s-killall.sh does: each container gets SIGTERM and SIGKILL
//    after `grace` (all in parallel), then its network (veth, IP lease,
//    hostPort and masquerade chains), its sandbox (namespaces, mounts, pod
//    cgroup) and finally whatever mount is left under `data`, the node's
//    cgroup parent and the bridge. Images and volumes' data on disk stay, so
//    the next start resumes; the pods are started afresh then (`bosun up` on
//    Ctrl-C). Portmap's shared, empty CNI-HOSTPORT-* chains stay, as under
//    every CNI runtime (other runtimes on the host may use them).
//
// Signals are the caller's (block them before Start). Thread-safety: Start,
// Stop and StopAndRemovePods from one thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace bosun::cli {

struct NodeRunnerOptions {
  std::vector<std::string> servers;  // API URLs
  std::string token;                 // the node's bearer token
  std::string name;                  // the Node's name; "" = the host name, lower-cased
  std::map<std::string, std::string> labels;
  std::string data;                  // made absolute by Start
  std::string pod_cidr = "10.244.0.0/24";
  std::string bridge = "bosun0";
  int max_pods = 110;
  std::string listen = "127.0.0.1:10250";  // the node server; port 0 picks one
  std::string address = "127.0.0.1";       // the Node's InternalIP
  std::vector<std::string> insecure_registries;
  std::string runc = "runc";
  std::string cni_dir = "/usr/lib/cni";
  std::string cgroup_parent = "bosun";
  // Ready sandboxes kept for new pods (node/sandbox_pool.h); 0: none.
  int sandbox_pool = 2;
  // Image GC on disk pressure (node/image_gc.h): the image store's
  // filesystem at or above `image_gc_high` percent → unused images go, least
  // recently used first, until at or below `image_gc_low`. 100: off. Images
  // first seen less than `image_minimum_gc_age` ago, and the airgap folder's
  // images, are kept.
  int image_gc_high = 85;
  int image_gc_low = 80;
  std::chrono::milliseconds image_minimum_gc_age{std::chrono::minutes(2)};
};

class NodeRunner {
 public:
  static Result<std::unique_ptr<NodeRunner>> Start(const NodeRunnerOptions& options);
  ~NodeRunner();  // Stop(): the containers keep running
  NodeRunner(const NodeRunner&) = delete;
  NodeRunner& operator=(const NodeRunner&) = delete;

  const std::string& name() const { return name_; }
  const std::string& data() const { return data_; }
  int node_server_port() const;
  // The image references imported from DATA/airgap by this start, and the
  // archives that failed (each "file: why").
  const std::vector<std::string>& imported() const { return imported_; }
  const std::vector<std::string>& import_failures() const { return import_failures_; }

  // Idempotent.
  void Stop();
  // Stop(), then takes every pod of this node down (see above). The error
  // lists what could not be removed; the rest is removed anyway.
  Status StopAndRemovePods(std::chrono::milliseconds grace);

  struct Parts;

 private:
  NodeRunner();
  Status StartParts(const NodeRunnerOptions& options);

  NodeRunnerOptions opt_;
  std::string name_;
  std::string data_;
  std::vector<std::string> imported_;
  std::vector<std::string> import_failures_;
  std::unique_ptr<Parts> parts_;
  bool stopped_ = false;
};

}  // namespace bosun::cli
