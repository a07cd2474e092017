// `bosun node`: the node daemon (node/daemon.h) with the real parts — runc
// through shims, the CNI plugins, the image store, volumes, probes — and the
// node server for logs and exec (cli/node_runner.h does the work).
#include <cstdio>

#include <signal.h>

#include "cli/client_flags.h"
#include "cli/node_runner.h"
#include "cli/verbs.h"
#include "core/ascii.h"
#include "core/duration.h"
#include "core/log.h"

namespace bosun::cli {
namespace {

struct NodeFlags {
  ClientFlags client;
  std::string name;
  std::string labels;
  std::string data = "/var/lib/bosun/node";
  std::string pod_cidr = "10.244.0.0/24";
  std::string bridge = "bosun0";
  int max_pods = 110;
  std::string listen = "127.0.0.1:10250";
  std::string address = "127.0.0.1";
  std::vector<std::string> insecure_registries;
  std::string runc = "runc";
  std::string cni_dir = "/usr/lib/cni";
  std::string cgroup_parent = "bosun";
  int sandbox_pool = 2;
  int image_gc_high = 85;
  int image_gc_low = 80;
  std::string image_minimum_gc_age = "2m";
};

int Fail2(const std::string& message) {
  std::fprintf(stderr, "bosun node: %s\n", message.c_str());
  return 2;
}

int RunNode(const NodeFlags& f) {
  NodeRunnerOptions o;
  for (const auto& kv : SplitNonEmpty(f.labels, ',')) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return Fail2("--labels: \"" + kv + "\" is not KEY=VALUE");
    o.labels[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto token = ReadTokenFile(f.client.token_file);
  if (!token) return Fail2(token.error().message());
  o.servers = SplitNonEmpty(f.client.server, ',');
  o.token = *token;
  o.name = f.name;
  o.data = f.data;
  o.pod_cidr = f.pod_cidr;
  o.bridge = f.bridge;
  o.max_pods = f.max_pods;
  o.listen = f.listen;
  o.address = f.address;
  o.insecure_registries = f.insecure_registries;
  o.runc = f.runc;
  o.cni_dir = f.cni_dir;
  o.cgroup_parent = f.cgroup_parent;
  if (f.sandbox_pool < 0 || f.sandbox_pool > 16) return Fail2("--sandbox-pool: must be 0 to 16");
  o.sandbox_pool = f.sandbox_pool;
  o.image_gc_high = f.image_gc_high;
  o.image_gc_low = f.image_gc_low;
  auto min_age = ParseDuration(f.image_minimum_gc_age);
  if (!min_age) return Fail2("--image-minimum-gc-age: " + min_age.error().message());
  o.image_minimum_gc_age = std::chrono::duration_cast<std::chrono::milliseconds>(*min_age);

  // SIGINT/SIGTERM end the daemon; blocked before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto node = NodeRunner::Start(o);
  if (!node) return Fail2(node.error().message());
  std::printf("bosun node: %s\n  API:         %s\n  node server: %s:%d\n  data:        %s\n  pod CIDR:    %s\n",
              (*node)->name().c_str(), f.client.server.c_str(), f.address.c_str(), (*node)->node_server_port(),
              (*node)->data().c_str(), f.pod_cidr.c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  log::Info("node", "stopping; containers keep running", {{"signal", std::to_string(sig)}});
  (*node)->Stop();
  return 0;
}

}  // namespace

void AddNode(CLI::App& app, int* exit_code) {
  auto f = std::make_shared<NodeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "node",
      "Run the node daemon: register this machine as a Node, renew its Lease, and run the pods bound to it\n"
      "(spec.nodeName) as containers with runc, CNI networking and the node's image store. Example:\n"
      "  bosun node --server http://127.0.0.1:6443 --token-file admin.token --data /var/lib/bosun/node\n"
      "Archives in DATA/airgap are imported at start. SIGTERM stops the daemon and leaves the containers\n"
      "running; the next start adopts them.");
  AddClientFlags(cmd, &f->client);
  cmd->add_option("--name", f->name, "The Node's name (default: the host name)");
  cmd->add_option("--labels", f->labels, "Labels of the Node, KEY=VALUE,…");
  cmd->add_option("--data", f->data, "Data folder (images, containers, volumes)")->capture_default_str();
  cmd->add_option("--pod-cidr", f->pod_cidr, "This node's pod addresses")->capture_default_str();
  cmd->add_option("--bridge", f->bridge, "The pods' bridge")->capture_default_str();
  cmd->add_option("--max-pods", f->max_pods, "How many pods this node runs at most")->capture_default_str();
  cmd->add_option("--listen", f->listen, "HOST:PORT of the node server (logs, exec)")->capture_default_str();
  cmd->add_option("--address", f->address, "The node's InternalIP")->capture_default_str();
  cmd->add_option("--insecure-registry", f->insecure_registries, "A registry spoken to over plain HTTP (HOST:PORT)");
  cmd->add_option("--runc", f->runc, "The runc binary")->capture_default_str();
  cmd->add_option("--cni-bin-dir", f->cni_dir, "Where the CNI plugins are")->capture_default_str();
  cmd->add_option("--cgroup-parent", f->cgroup_parent, "The cgroup every pod's cgroup lives under")
      ->capture_default_str();
  cmd->add_option("--sandbox-pool", f->sandbox_pool,
                  "Pod sandboxes (namespaces + network) kept ready for new pods; 0 turns the pool off")
      ->capture_default_str();
  cmd->add_option("--image-gc-high-threshold", f->image_gc_high,
                  "Disk usage (percent) of the image store's filesystem at which unused images are removed, least\n"
                  "recently used first; 100 turns image GC off")
      ->capture_default_str();
  cmd->add_option("--image-gc-low-threshold", f->image_gc_low, "Disk usage (percent) image GC brings it down to")
      ->capture_default_str();
  cmd->add_option("--image-minimum-gc-age", f->image_minimum_gc_age,
                  "How long an image must have been on the node before image GC may remove it (a Go duration)")
      ->capture_default_str();
  cmd->callback([f, exit_code] { *exit_code = RunNode(*f); });
}

}  // namespace bosun::cli
