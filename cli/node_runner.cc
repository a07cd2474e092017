// The node daemon with its real parts (cli/node_runner.h).
#include "cli/node_runner.h"

#include <malloc.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "core/clock.h"
#include "core/kinds.h"
#include "core/log.h"
#include "core/process.h"
#include "node/cgroups.h"
#include "node/daemon.h"
#include "node/image_gc.h"
#include "node/image_store.h"
#include "node/network.h"
#include "node/node_info.h"
#include "node/node_server.h"
#include "node/probes.h"
#include "node/runtime.h"
#include "node/sandbox_pool.h"
#include "node/sandbox.h"
#include "state/client.h"

namespace bosun::cli {

namespace fs = std::filesystem;

struct NodeRunner::Parts {
  std::unique_ptr<state::Client> client;
  std::unique_ptr<state::EventRecorder> events;  // the pods' Events, written with `client`
  std::unique_ptr<node::Runtime> runtime;
  std::unique_ptr<node::Network> network;
  std::unique_ptr<node::ImageStore> images;
  std::unique_ptr<node::ImageGc> image_gc;
  std::unique_ptr<node::PodVolumes> volumes;
  std::unique_ptr<node::SandboxPool> pool;
  std::unique_ptr<node::WorkerExecutor> executor;  // outlives the daemon's workers
  std::unique_ptr<node::NodeServer> server;
  std::unique_ptr<node::Daemon> daemon;
  // The node server answers for the daemon, which starts after it.
  std::atomic<node::Daemon*> daemon_ptr{nullptr};
};

NodeRunner::NodeRunner() : parts_(std::make_unique<Parts>()) {}

NodeRunner::~NodeRunner() { Stop(); }

int NodeRunner::node_server_port() const { return parts_->server ? parts_->server->port() : 0; }

Result<std::unique_ptr<NodeRunner>> NodeRunner::Start(const NodeRunnerOptions& options) {
  std::unique_ptr<NodeRunner> r(new NodeRunner());
  if (Status st = r->StartParts(options); !st) {
    r->Stop();
    return st.error();
  }
  return r;
}

Status NodeRunner::StartParts(const NodeRunnerOptions& f) {
  opt_ = f;
  // Many threads (the workers' executor grows with the passes running at
  // once): glibc would give each its own malloc arena (up to 8 per core),
  // and the daemon's resident memory would grow for nothing. Two arenas
  // serve this workload (docs/PERFORMANCE.md "Node").
  mallopt(M_ARENA_MAX, 2);
  name_ = f.name;
  if (name_.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    name_ = host;
    std::transform(name_.begin(), name_.end(), name_.begin(), [](unsigned char c) { return std::tolower(c); });
  }
  std::error_code ec;
  fs::create_directories(f.data, ec);
  if (ec) return Error(Code::kIo, "cannot create " + f.data + ": " + ec.message());
  data_ = fs::absolute(f.data).string();

  state::ClientOptions co;
  co.servers = f.servers;
  co.token = f.token;
  auto client = state::Client::Create(co);
  if (!client) return client.error();
  parts_->client = std::move(*client);

  node::RuntimeOptions ro;
  ro.run_dir = data_ + "/run";
  ro.storage_dir = data_ + "/storage";
  ro.runc = f.runc;
  ro.cgroup_parent = f.cgroup_parent;
  ro.shim_binary = fs::read_symlink("/proc/self/exe", ec).string();
  auto runtime = node::MakeRuncRuntime(ro);
  if (!runtime) return runtime.error();
  parts_->runtime = std::move(*runtime);
  node::NetworkOptions no;
  no.plugin_dir = f.cni_dir;
  no.bridge = f.bridge;
  no.subnet = f.pod_cidr;
  no.data_dir = data_ + "/cni";
  auto network = node::MakeCniNetwork(no);
  if (!network) return network.error();
  parts_->network = std::move(*network);
  node::ImageStoreOptions io;
  io.dir = data_ + "/images";
  io.insecure_registries = f.insecure_registries;
  auto images = node::ImageStore::Open(io);
  if (!images) return images.error();
  parts_->images = std::move(*images);

  // The airgap folder: every archive in it is imported at start and its
  // images are pinned (never collected by image GC), as k3s does.
  std::string airgap = data_ + "/airgap";
  std::set<std::string> airgap_digests;
  if (fs::is_directory(airgap, ec)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(airgap, ec)) {
      // Hidden files (a builder's lock or stamp) are not archives.
      if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      auto imported = parts_->images->Import(file.string());
      if (!imported) {
        log::Warn("node", "airgap import failed", {{"file", file.string()}, {"error", imported.error().message()}});
        import_failures_.push_back(file.string() + ": " + imported.error().message());
        continue;
      }
      for (const auto& img : *imported) {
        airgap_digests.insert(img.digest);
        std::string ref = img.refs.empty() ? img.digest : img.refs[0];
        imported_.push_back(ref);
        log::Info("node", "airgap image imported", {{"file", file.string()}, {"image", ref}, {"digest", img.digest}});
      }
    }
  }
  parts_->volumes = node::MakePodVolumes(data_ + "/pods");
  if (Status st = node::ValidateImageGcThresholds(f.image_gc_high, f.image_gc_low); !st) return st;
  node::ImageGcOptions gco;
  gco.dir = data_ + "/images";
  gco.high_percent = f.image_gc_high;
  gco.low_percent = f.image_gc_low;
  gco.minimum_age = f.image_minimum_gc_age;
  gco.pinned = std::move(airgap_digests);
  node::Runtime* rt = parts_->runtime.get();
  gco.in_use = [rt] {
    std::set<std::string> used;
    if (auto cs = rt->ListContainers()) {
      for (const auto& c : *cs) {
        if (!c.image.empty()) used.insert(c.image);
      }
    }
    return used;
  };
  parts_->image_gc = std::make_unique<node::ImageGc>(parts_->images.get(), gco);
  parts_->image_gc->Start();
  parts_->pool = std::make_unique<node::SandboxPool>(parts_->runtime.get(), parts_->network.get(), f.sandbox_pool);
  parts_->pool->Start();

  node::WorkerEnv env;
  env.runtime = parts_->runtime.get();
  env.network = parts_->network.get();
  env.images = parts_->images.get();
  env.volumes = parts_->volumes.get();
  env.pool = parts_->pool.get();
  // Up to 64 passes at once (a burst of pod starts, terminations waiting
  // out their grace periods); threads idle for a second end.
  parts_->executor = std::make_unique<node::WorkerExecutor>(64, std::chrono::seconds(1));
  env.executor = parts_->executor.get();
  env.client = parts_->client.get();
  env.clock = &Clock::System();
  parts_->events = std::make_unique<state::EventRecorder>(parts_->client.get(), &Clock::System(), "node/" + name_);
  env.events = parts_->events.get();
  env.probe = node::RunProbe;

  node::NodeServerOptions so;
  so.listen = f.listen;
  std::vector<std::string> servers = f.servers;
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
  Parts* parts = parts_.get();
  node::ContainerLookup lookup = [parts](const std::string& ns, const std::string& pod,
                                         const std::string& container) -> Result<node::ContainerRef> {
    node::Daemon* d = parts->daemon_ptr.load();
    if (d == nullptr) return Error(Code::kUnavailable, "the node is starting");
    return d->Lookup(ns, pod, container);
  };
  auto server = node::NodeServer::Start(so, parts_->runtime.get(), lookup);
  if (!server) return server.error();
  parts_->server = std::move(*server);

  node::DaemonOptions dopt;
  dopt.node_name = name_;
  dopt.labels = f.labels;
  dopt.data_dir = data_;
  dopt.pod_cidr = f.pod_cidr;
  dopt.max_pods = f.max_pods;
  dopt.address = f.address;
  dopt.node_server_port = parts_->server->port();
  dopt.runtime_version = node::RuncVersion(f.runc);
  dopt.version = BOSUN_VERSION;
  auto daemon = node::Daemon::Start(dopt, env);
  if (!daemon) return daemon.error();
  parts_->daemon = std::move(*daemon);
  parts_->daemon_ptr = parts_->daemon.get();
  return Ok();
}

void NodeRunner::Stop() {
  if (stopped_) return;
  stopped_ = true;
  parts_->daemon_ptr = nullptr;
  if (parts_->server) parts_->server->Stop();
  if (parts_->daemon) parts_->daemon->Stop();
  if (parts_->pool) parts_->pool->Stop();
  if (parts_->image_gc) parts_->image_gc->Stop();
  if (parts_->events) parts_->events->Stop();
}

Status NodeRunner::StopAndRemovePods(std::chrono::milliseconds grace) {
  Stop();
  std::vector<std::string> problems;
  auto note = [&problems](const std::string& what, const Status& st) {
    if (!st) problems.push_back(what + ": " + st.error().message());
  };
  node::Runtime* rt = parts_->runtime.get();
  if (rt != nullptr) {
    // Every container at once: SIGTERM, SIGKILL after `grace`.
    if (auto cs = rt->ListContainers()) {
      std::vector<std::thread> stoppers;
      std::vector<Status> results(cs->size(), Ok());
      for (size_t i = 0; i < cs->size(); ++i) {
        stoppers.emplace_back([rt, &cs, &results, i, grace] {
          const auto& c = (*cs)[i];
          if (c.state == node::ContainerState::kRunning || c.state == node::ContainerState::kCreated) {
            results[i] = rt->StopContainer(c.id, grace);
          }
          if (results[i]) results[i] = rt->RemoveContainer(c.id);
        });
      }
      for (auto& t : stoppers) t.join();
      for (size_t i = 0; i < cs->size(); ++i) note("container " + (*cs)[i].id, results[i]);
      log::Info("node", "containers stopped", {{"count", std::to_string(cs->size())}});
    } else {
      note("listing containers", cs.error());
    }
    if (auto sbs = rt->ListPodSandboxes()) {
      for (const auto& sb : *sbs) {
        if (parts_->network) note("network of pod " + sb.ns + "/" + sb.name, parts_->network->Teardown(sb.net_id, sb.netns_path));
        note("sandbox of pod " + sb.ns + "/" + sb.name, rt->RemovePodSandbox(sb.pod_uid));
      }
      log::Info("node", "pods removed", {{"count", std::to_string(sbs->size())}});
    } else {
      note("listing pods", sbs.error());
    }
  }
  if (!data_.empty()) note("mounts under " + data_, node::sandbox::UnmountUnder(data_));
  if (!opt_.cgroup_parent.empty()) {
    note("cgroup " + opt_.cgroup_parent,
         node::cgroups::RemoveTree("/sys/fs/cgroup", node::cgroups::Detect(), "/" + opt_.cgroup_parent));
  }
  if (!opt_.bridge.empty() && if_nametoindex(opt_.bridge.c_str()) != 0) {
    process::Options ip;
    ip.argv = {"ip", "link", "del", opt_.bridge};
    auto out = process::Run(ip);
    if (!out) {
      note("bridge " + opt_.bridge, out.error());
    } else if (!out->ok()) {
      problems.push_back("bridge " + opt_.bridge + ": ip link del: " + out->Describe());
    }
  }
  if (problems.empty()) return Ok();
  std::string msg = "could not remove everything:";
  for (const auto& p : problems) msg += "\n  " + p;
  return Error(Code::kIo, msg);
}

}  // namespace bosun::cli
