#include "node/daemon.h"

#include <cstdio>
#include <ctime>
#include <set>

#include "core/kinds.h"
#include "core/log.h"
#include "node/node_info.h"
#include "node/volumes.h"

namespace bosun::node {
namespace {

using namespace std::chrono_literals;

const KindInfo& Kind(const char* kind) { return *KindRegistry::Builtin().FindKind(kind); }

std::string Str(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

constexpr const char* kLeaseNamespace = "kube-node-lease";

class ManagerVolumes final : public PodVolumes {
 public:
  explicit ManagerVolumes(std::string dir) : vm_(std::move(dir)) {}
  Result<std::map<std::string, std::string>> Setup(const Object& pod, const ObjectFetcher& fetch) override {
    return vm_.Setup(pod, fetch);
  }
  Result<bool> Refresh(const Object& pod, const ObjectFetcher& fetch) override { return vm_.Refresh(pod, fetch); }
  Result<std::vector<Mount>> MountsFor(const Object& pod, const std::string& container,
                                       const std::map<std::string, std::string>& paths) override {
    return vm_.MountsFor(pod, container, paths);
  }
  Status Teardown(const std::string& pod_uid) override { return vm_.Teardown(pod_uid); }

 private:
  VolumeManager vm_;
};

}  // namespace

std::unique_ptr<PodVolumes> MakePodVolumes(const std::string& pods_dir) {
  return std::make_unique<ManagerVolumes>(pods_dir);
}

std::string FormatRfc3339Micro(WallTime t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(us / 1000000);
  long frac = static_cast<long>(us % 1000000);
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

Result<std::unique_ptr<Daemon>> Daemon::Start(const DaemonOptions& options, const WorkerEnv& env) {
  if (options.node_name.empty()) return Error(Code::kInvalid, "the node needs a name");
  std::unique_ptr<Daemon> d(new Daemon(options, env));
  d->env_.node_name = options.node_name;
  d->env_.host_ip = options.address;

  // The lease namespace, as Kubernetes has it from the start.
  Object ns(GroupVersionKind{"", "v1", "Namespace"}, "", kLeaseNamespace);
  if (auto r = env.client->Create(ns); !r && r.error().code() != Code::kAlreadyExists) {
    return r.error().Wrap("creating namespace " + std::string(kLeaseNamespace));
  }
  if (auto st = d->RegisterNode(); !st) return st.error();
  if (auto st = d->RenewLease(); !st) return st.error();

  // What already runs here, to adopt rather than start again.
  auto containers = env.runtime->ListContainers();
  if (!containers) return containers.error().Wrap("reading the runtime's containers");
  for (const auto& c : *containers) d->adoptable_[c.pod_uid].push_back(c);
  log::Info("node", "runtime state read", {{"node", options.node_name}, {"containers", std::to_string(containers->size())}});

  Daemon* self = d.get();
  // Only the pods bound here (the server filters; OnPodEvent checks again).
  auto watch = env.client->Watch(Kind("Pod"), "", state::Selectors("", "spec.nodeName=" + options.node_name), "",
                                 [self](const state::WatchEvent& ev) { self->OnPodEvent(ev); });
  if (!watch) return watch.error().Wrap("watching pods");
  d->watch_ = std::move(*watch);
  d->heartbeat_ = std::thread([self] { self->HeartbeatLoop(); });
  log::Info("node", "node ready", {{"node", options.node_name}, {"address", options.address},
                                   {"nodeServerPort", std::to_string(options.node_server_port)}});
  return d;
}

Daemon::~Daemon() { Stop(); }

void Daemon::Stop() {
  if (watch_) watch_->Stop();
  {
    std::lock_guard<std::mutex> lk(hb_mu_);
    stop_ = true;
    hb_cv_.notify_all();
  }
  if (heartbeat_.joinable()) heartbeat_.join();
  std::map<std::string, std::unique_ptr<PodWorker>> workers;
  {
    std::lock_guard<std::mutex> lk(mu_);
    workers.swap(workers_);
  }
  for (auto& [uid, w] : workers) w->Stop();
  workers.clear();
  watch_.reset();
}

size_t Daemon::workers() const {
  std::lock_guard<std::mutex> lk(mu_);
  size_t n = 0;
  for (const auto& [uid, w] : workers_) n += w->done() ? 0 : 1;
  return n;
}

Result<ContainerRef> Daemon::Lookup(const std::string& ns, const std::string& pod, const std::string& container) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = uid_by_key_.find(ns + "/" + pod);
  if (it == uid_by_key_.end()) {
    return Error(Code::kNotFound, "pod " + ns + "/" + pod + " does not run on node " + opt_.node_name);
  }
  auto w = workers_.find(it->second);
  if (w == workers_.end()) return Error(Code::kNotFound, "pod " + ns + "/" + pod + " has no worker");
  return w->second->Lookup(container);
}

void Daemon::OnPodEvent(const state::WatchEvent& ev) {
  using T = state::WatchEvent::Type;
  if (ev.type == T::kBookmark) {
    if (ev.object.annotation(state::kInitialEventsEndAnnotation) == std::optional<std::string>("true")) {
      CleanupOrphans();
    }
    return;
  }
  const Object& pod = ev.object;
  std::string uid = pod.uid();
  std::string key = pod.Key();
  bool mine = Str(pod.spec(), "nodeName") == opt_.node_name;
  std::lock_guard<std::mutex> lk(mu_);
  auto it = workers_.find(uid);
  if (ev.type == T::kDeleted || !mine) {
    if (it != workers_.end()) {
      log::Info("node", ev.type == T::kDeleted ? "pod deleted" : "pod no longer bound here", {{"pod", key}});
      it->second->Delete(pod);
    }
    if (auto k = uid_by_key_.find(key); k != uid_by_key_.end() && k->second == uid) uid_by_key_.erase(k);
    return;
  }
  if (it != workers_.end()) {
    it->second->Update(pod);
    return;
  }
  std::string phase = Str(pod.status(), "phase");
  size_t alive = 0;
  for (const auto& [u, w] : workers_) alive += w->done() ? 0 : 1;
  if (alive >= static_cast<size_t>(opt_.max_pods) && adoptable_.count(uid) == 0) {
    if (phase != "Failed") {
      log::Warn("node", "too many pods: refusing", {{"pod", key}, {"maxPods", std::to_string(opt_.max_pods)}});
      Object failed = pod;
      failed.json()["status"] = {{"phase", "Failed"}, {"reason", "OutOfpods"},
                                 {"message", "Pod was rejected: Node didn't have enough resource: pods"}};
      failed.json()["metadata"].erase("resourceVersion");
      (void)env_.client->UpdateStatus(failed);
    }
    return;
  }
  std::vector<ContainerStatus> adopted;
  if (auto a = adoptable_.find(uid); a != adoptable_.end()) {
    adopted = std::move(a->second);
    adoptable_.erase(a);
  }
  log::Info("node", adopted.empty() ? "new pod" : "pod adopted",
            {{"pod", key}, {"uid", uid}, {"containers", std::to_string(adopted.size())}});
  auto w = std::make_unique<PodWorker>(env_, pod, std::move(adopted));
  w->Start();
  workers_[uid] = std::move(w);
  uid_by_key_[key] = uid;
}

void Daemon::CleanupOrphans() {
  std::set<std::string> uids;
  if (auto sbs = env_.runtime->ListPodSandboxes()) {
    for (const auto& s : *sbs) uids.insert(s.pod_uid);
  } else {
    log::Warn("node", "cannot list sandboxes", {{"error", sbs.error().message()}});
  }
  std::lock_guard<std::mutex> lk(mu_);
  for (const auto& [uid, cs] : adoptable_) uids.insert(uid);
  orphans_cleaned_ = true;
  for (const auto& uid : uids) {
    if (workers_.count(uid) != 0) continue;
    if (SandboxPool::IsPoolId(uid)) continue;  // the pool's own, not a pod's
    // A pod that is gone or bound elsewhere: a worker that only tears down.
    std::string ns = "default", name = uid;
    auto a = adoptable_.find(uid);
    std::vector<ContainerStatus> adopted;
    if (a != adoptable_.end()) {
      adopted = std::move(a->second);
      adoptable_.erase(a);
    }
    if (auto sbs = env_.runtime->ListPodSandboxes()) {
      for (const auto& s : *sbs) {
        if (s.pod_uid == uid) ns = s.ns, name = s.name;
      }
    }
    log::Info("node", "removing a pod no longer bound here", {{"pod", ns + "/" + name}, {"uid", uid}});
    Object pod(GroupVersionKind{"", "v1", "Pod"}, ns, name);
    pod.set_uid(uid);
    pod.json()["spec"] = {{"terminationGracePeriodSeconds", 0}};
    auto w = std::make_unique<PodWorker>(env_, pod, std::move(adopted));
    w->Delete(Object());
    w->Start();
    workers_[uid] = std::move(w);
  }
}

Status Daemon::RegisterNode() {
  const KindInfo& kind = Kind("Node");
  auto cur = env_.client->Get(kind, "", opt_.node_name);
  if (!cur && cur.error().code() != Code::kNotFound) return cur.error().Wrap("reading node " + opt_.node_name);
  Object node = cur ? *cur : Object(GroupVersionKind{"", "v1", "Node"}, "", opt_.node_name);
  for (const auto& [k, v] : opt_.labels) node.set_label(k, v);
  node.set_label("kubernetes.io/hostname", opt_.node_name);
  node.set_label("kubernetes.io/os", "linux");
  node.set_label("kubernetes.io/arch", "amd64");
  node.json()["spec"]["podCIDR"] = opt_.pod_cidr;
  node.json()["spec"]["podCIDRs"] = Json::array({opt_.pod_cidr});
  if (!cur) {
    node.json()["status"] = NodeStatus();
    auto r = env_.client->Create(node);
    if (!r && r.error().code() != Code::kAlreadyExists) return r.error().Wrap("registering node " + opt_.node_name);
    log::Info("node", "node registered", {{"node", opt_.node_name}});
  } else {
    auto r = env_.client->Update(node);
    if (!r) return r.error().Wrap("updating node " + opt_.node_name);
    log::Info("node", "node updated", {{"node", opt_.node_name}});
  }
  return WriteNodeStatus();
}

Json Daemon::NodeStatus() {
  Json status = Json::object();
  auto cap = ReadCapacity();
  Json capacity = {{"pods", std::to_string(opt_.max_pods)}};
  if (cap) {
    capacity["cpu"] = std::to_string(cap->cpus);
    capacity["memory"] = std::to_string(cap->memory_kib) + "Ki";
  }
  status["capacity"] = capacity;
  status["allocatable"] = capacity;
  status["addresses"] = Json::array({{{"type", "InternalIP"}, {"address", opt_.address}},
                                     {{"type", "Hostname"}, {"address", opt_.node_name}}});
  status["daemonEndpoints"] = {{"kubeletEndpoint", {{"Port", opt_.node_server_port}}}};
  SystemInfo si = ReadSystemInfo();
  status["nodeInfo"] = {{"machineID", si.machine_id},           {"systemUUID", si.machine_id},
                        {"bootID", si.boot_id},                 {"kernelVersion", si.kernel_version},
                        {"osImage", si.os_image},               {"containerRuntimeVersion", opt_.runtime_version},
                        {"kubeletVersion", opt_.version},       {"kubeProxyVersion", ""},
                        {"operatingSystem", si.operating_system}, {"architecture", si.architecture}};
  Pressure p = ReadPressure(opt_.data_dir.empty() ? "/" : opt_.data_dir);
  std::string now = FormatRfc3339(env_.clock->Now());
  auto cond = [&](const std::string& type, bool on, const std::string& reason_on, const std::string& reason_off,
                  const std::string& msg_on, const std::string& msg_off) {
    std::string status_s = on ? "True" : "False";
    std::string since = now;
    if (last_conditions_.is_array()) {
      for (const auto& c : last_conditions_) {
        if (Str(c, "type") == type && Str(c, "status") == status_s) since = Str(c, "lastTransitionTime");
      }
    }
    return Json{{"type", type},           {"status", status_s},        {"lastHeartbeatTime", now},
                {"lastTransitionTime", since}, {"reason", on ? reason_on : reason_off},
                {"message", on ? msg_on : msg_off}};
  };
  Json conds = Json::array(
      {cond("MemoryPressure", p.memory, "KubeletHasInsufficientMemory", "KubeletHasSufficientMemory",
            "node has memory pressure: " + p.message, "node has sufficient memory available"),
       cond("DiskPressure", p.disk, "KubeletHasDiskPressure", "KubeletHasNoDiskPressure",
            "node has disk pressure: " + p.message, "node has no disk pressure"),
       cond("PIDPressure", p.pids, "KubeletHasInsufficientPID", "KubeletHasSufficientPID",
            "node has PID pressure: " + p.message, "node has sufficient PID available"),
       cond("Ready", true, "KubeletReady", "", "bosun node is posting ready status", "")});
  last_conditions_ = conds;
  last_pressure_ = std::string(p.memory ? "M" : "") + (p.disk ? "D" : "") + (p.pids ? "P" : "");
  status["conditions"] = conds;
  return status;
}

Status Daemon::WriteNodeStatus() {
  Object node(GroupVersionKind{"", "v1", "Node"}, "", opt_.node_name);
  {
    std::lock_guard<std::mutex> lk(hb_mu_);
    node.json()["status"] = NodeStatus();
  }
  auto r = env_.client->UpdateStatus(node);
  if (!r) return r.error().Wrap("writing the status of node " + opt_.node_name);
  return Ok();
}

Status Daemon::RenewLease() {
  const KindInfo& kind = Kind("Lease");
  std::string now = FormatRfc3339Micro(env_.clock->Now());
  auto cur = env_.client->Get(kind, kLeaseNamespace, opt_.node_name);
  if (!cur && cur.error().code() != Code::kNotFound) return cur.error().Wrap("reading the node's lease");
  Object lease = cur ? *cur : Object(GroupVersionKind{"coordination.k8s.io", "v1", "Lease"}, kLeaseNamespace, opt_.node_name);
  Json& spec = lease.json()["spec"];
  spec["holderIdentity"] = opt_.node_name;
  spec["leaseDurationSeconds"] = opt_.lease_duration_seconds;
  spec["renewTime"] = now;
  if (!spec.contains("acquireTime")) spec["acquireTime"] = now;
  auto r = cur ? env_.client->Update(lease) : env_.client->Create(lease);
  if (!r) return r.error().Wrap("renewing the lease " + std::string(kLeaseNamespace) + "/" + opt_.node_name);
  return Ok();
}

Status Daemon::Heartbeat() {
  Status lease = RenewLease();
  Status status = WriteNodeStatus();
  return lease ? status : lease;
}

void Daemon::HeartbeatLoop() {
  MonoTime next_lease = env_.clock->Monotonic() + opt_.lease_renew;
  MonoTime next_status = env_.clock->Monotonic() + opt_.status_interval;
  while (true) {
    {
      std::unique_lock<std::mutex> lk(hb_mu_);
      hb_cv_.wait_for(lk, std::min<std::chrono::milliseconds>(opt_.lease_renew, 1s), [&] { return stop_.load(); });
      if (stop_) return;
    }
    // Workers that finished tearing a pod down go.
    std::vector<std::unique_ptr<PodWorker>> finished;
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (auto it = workers_.begin(); it != workers_.end();) {
        if (it->second->done()) {
          finished.push_back(std::move(it->second));
          it = workers_.erase(it);
        } else {
          ++it;
        }
      }
    }
    finished.clear();
    MonoTime now = env_.clock->Monotonic();
    if (now >= next_lease) {
      next_lease = now + opt_.lease_renew;
      if (auto st = RenewLease(); !st) log::Warn("node", "lease renewal failed", {{"error", st.error().message()}});
    }
    std::string pressure_before;
    {
      std::lock_guard<std::mutex> lk(hb_mu_);
      pressure_before = last_pressure_;
    }
    Pressure p = ReadPressure(opt_.data_dir.empty() ? "/" : opt_.data_dir);
    std::string pressure_now = std::string(p.memory ? "M" : "") + (p.disk ? "D" : "") + (p.pids ? "P" : "");
    if (now >= next_status || pressure_now != pressure_before) {
      next_status = now + opt_.status_interval;
      if (auto st = WriteNodeStatus(); !st) {
        log::Warn("node", "node status update failed", {{"error", st.error().message()}});
      }
    }
  }
}

}  // namespace bosun::node
