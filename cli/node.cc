// `bosun node`: the node daemon (node/daemon.h) with the real parts — runc
// through shims, the CNI plugins, the image store, volumes, probes — and the
// node server for logs and exec.
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/client_flags.h"
#include "cli/verbs.h"
#include "core/clock.h"
#include "core/log.h"
#include "node/daemon.h"
#include "node/image_store.h"
#include "node/network.h"
#include "node/node_info.h"
#include "node/node_server.h"
#include "node/probes.h"
#include "node/runtime.h"

namespace bosun::cli {
namespace {

namespace fs = std::filesystem;

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
};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, sep)) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

int Fail2(const std::string& message) {
  std::fprintf(stderr, "bosun node: %s\n", message.c_str());
  return 2;
}

int RunNode(const NodeFlags& f) {
  // One thread per pod: glibc would give each its own malloc arena (up to 8
  // per core), and the daemon's resident memory would grow with the pods for
  // nothing. Two arenas serve this workload (docs/PERFORMANCE.md "Node").
  mallopt(M_ARENA_MAX, 2);
  std::string name = f.name;
  if (name.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    name = host;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  }
  std::map<std::string, std::string> labels;
  for (const auto& kv : Split(f.labels, ',')) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return Fail2("--labels: \"" + kv + "\" is not KEY=VALUE");
    labels[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::error_code ec;
  fs::create_directories(f.data, ec);
  if (ec) return Fail2("cannot create " + f.data + ": " + ec.message());
  std::string data = fs::absolute(f.data).string();

  auto token = ReadTokenFile(f.client.token_file);
  if (!token) return Fail2(token.error().message());
  state::ClientOptions co;
  co.servers = Split(f.client.server, ',');
  co.token = *token;
  auto client = state::Client::Create(co);
  if (!client) return Fail2(client.error().message());

  // SIGINT/SIGTERM end the daemon; blocked before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  node::RuntimeOptions ro;
  ro.run_dir = data + "/run";
  ro.runc = f.runc;
  ro.cgroup_parent = f.cgroup_parent;
  ro.shim_binary = fs::read_symlink("/proc/self/exe", ec).string();
  auto runtime = node::MakeRuncRuntime(ro);
  if (!runtime) return Fail2(runtime.error().message());
  node::NetworkOptions no;
  no.plugin_dir = f.cni_dir;
  no.bridge = f.bridge;
  no.subnet = f.pod_cidr;
  no.data_dir = data + "/cni";
  auto network = node::MakeCniNetwork(no);
  if (!network) return Fail2(network.error().message());
  node::ImageStoreOptions io;
  io.dir = data + "/images";
  io.insecure_registries = f.insecure_registries;
  auto images = node::ImageStore::Open(io);
  if (!images) return Fail2(images.error().message());
  // The airgap folder: every archive in it is imported at start (as k3s does).
  std::string airgap = data + "/airgap";
  if (fs::is_directory(airgap, ec)) {
    for (const auto& e : fs::directory_iterator(airgap, ec)) {
      if (!e.is_regular_file()) continue;
      auto imported = (*images)->Import(e.path().string());
      if (!imported) {
        log::Warn("node", "airgap import failed", {{"file", e.path().string()}, {"error", imported.error().message()}});
        continue;
      }
      for (const auto& img : *imported) {
        log::Info("node", "airgap image imported",
                  {{"file", e.path().string()}, {"image", img.refs.empty() ? img.digest : img.refs[0]},
                   {"digest", img.digest}});
      }
    }
  }
  auto volumes = node::MakePodVolumes(data + "/pods");

  node::WorkerEnv env;
  env.runtime = runtime->get();
  env.network = network->get();
  env.images = images->get();
  env.volumes = volumes.get();
  env.client = client->get();
  env.clock = &Clock::System();
  env.probe = node::RunProbe;

  // The node server answers for the daemon, which starts after it (the Node
  // object carries the server's port).
  std::atomic<node::Daemon*> daemon_ptr{nullptr};
  node::NodeServerOptions so;
  so.listen = f.listen;
  std::vector<std::string> servers = co.servers;
  so.authorize = [servers](const std::string& caller, const std::string& ns, const std::string& pod) -> Status {
    state::ClientOptions c;
    c.servers = servers;
    c.token = caller;
    c.timeout = std::chrono::seconds(5);
    auto cl = state::Client::Create(c);
    if (!cl) return cl.error();
    auto got = (*cl)->Get(*KindRegistry::Builtin().FindKind("Pod"), ns, pod);
    if (!got) return got.error();
    return Ok();
  };
  node::ContainerLookup lookup = [&daemon_ptr](const std::string& ns, const std::string& pod,
                                               const std::string& container) -> Result<node::ContainerRef> {
    node::Daemon* d = daemon_ptr.load();
    if (d == nullptr) return Error(Code::kUnavailable, "the node is starting");
    return d->Lookup(ns, pod, container);
  };
  auto server = node::NodeServer::Start(so, runtime->get(), lookup);
  if (!server) return Fail2(server.error().message());

  node::DaemonOptions dopt;
  dopt.node_name = name;
  dopt.labels = labels;
  dopt.data_dir = data;
  dopt.pod_cidr = f.pod_cidr;
  dopt.max_pods = f.max_pods;
  dopt.address = f.address;
  dopt.node_server_port = (*server)->port();
  dopt.runtime_version = node::RuncVersion(f.runc);
  dopt.version = BOSUN_VERSION;
  auto daemon = node::Daemon::Start(dopt, env);
  if (!daemon) {
    (*server)->Stop();
    return Fail2(daemon.error().message());
  }
  daemon_ptr = daemon->get();
  std::printf("bosun node: %s\n  API:         %s\n  node server: %s:%d\n  data:        %s\n  pod CIDR:    %s\n",
              name.c_str(), f.client.server.c_str(), f.address.c_str(), (*server)->port(), data.c_str(),
              f.pod_cidr.c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  log::Info("node", "stopping; containers keep running", {{"signal", std::to_string(sig)}});
  daemon_ptr = nullptr;
  (*server)->Stop();
  (*daemon)->Stop();
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
  cmd->callback([f, exit_code] { *exit_code = RunNode(*f); });
}

}  // namespace bosun::cli
