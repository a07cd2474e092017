// tests/node/pod_worker_test_support.h — what the pod worker's and the
// daemon's tests share: fakes of the Runtime, Network, ImageStore and volumes
// (each records what it was asked to do; the real ones have their own tests
// and the daemon's real-path test), and a real state API on loopback.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/kinds.h"
#include "crypto/tokens.h"
#include "node/pod_worker.h"
#include "node/probes.h"
#include "state/api_server.h"
#include "state/auth.h"
#include "state/client.h"
#include "state/service.h"
#include "state/store.h"
#include "tests/api_harness.h"
#include "tests/test_support.h"

namespace bosun::node::testing {

using namespace std::chrono_literals;

class FakeRuntime : public Runtime {
 public:
  explicit FakeRuntime(Clock* clock) : clock_(clock) {}

  Result<Sandbox> RunPodSandbox(const SandboxConfig& c) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = sandboxes_.find(c.pod_uid);
    if (it != sandboxes_.end()) return it->second;
    Sandbox s{c.pod_uid, c.ns, c.name, "/fake/" + c.pod_uid + "/net", "", "", "/fake/" + c.pod_uid, c.pod_uid};
    sandboxes_[c.pod_uid] = s;
    calls_.push_back("sandbox " + c.name);
    return s;
  }
  Status RemovePodSandbox(const std::string& uid) override {
    std::lock_guard<std::mutex> lk(mu_);
    sandboxes_.erase(uid);
    for (auto it = containers_.begin(); it != containers_.end();) {
      it = it->second.pod_uid == uid ? containers_.erase(it) : std::next(it);
    }
    calls_.push_back("remove-sandbox " + uid);
    return Ok();
  }
  Result<std::vector<Sandbox>> ListPodSandboxes() override {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<Sandbox> out;
    for (const auto& [k, v] : sandboxes_) out.push_back(v);
    return out;
  }
  Result<ContainerStatus> StartContainer(const Sandbox& sb, const ContainerConfig& c) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (fail_start_.count(c.name) != 0) return Error(Code::kIo, "runc create failed: no such file");
    ContainerStatus s;
    s.id = sb.pod_uid + "_" + c.name + "_" + std::to_string(c.attempt);
    s.pod_uid = sb.pod_uid;
    s.name = c.name;
    s.attempt = c.attempt;
    s.state = ContainerState::kRunning;
    s.pid = next_pid_++;
    s.created_at = s.started_at = clock_->Now();
    s.log_path = "/fake/logs/" + s.id;
    containers_[s.id] = s;
    configs_[s.id] = c;
    calls_.push_back("start " + c.name + " " + std::to_string(c.attempt));
    return s;
  }
  Status StopContainer(const std::string& id, std::chrono::milliseconds grace) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return Error(Code::kNotFound, "no container " + id);
    if (it->second.state == ContainerState::kRunning || it->second.state == ContainerState::kUnknown) {
      it->second.state = ContainerState::kExited;
      it->second.exit_code = 143;
      it->second.reason = "Error";
      it->second.finished_at = clock_->Now();
    }
    last_grace_ = grace;
    calls_.push_back("stop " + id);
    return Ok();
  }
  Status RemoveContainer(const std::string& id) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (containers_.erase(id) == 0) return Error(Code::kNotFound, "no container " + id);
    calls_.push_back("remove " + id);
    return Ok();
  }
  Result<ContainerStatus> Inspect(const std::string& id) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return Error(Code::kNotFound, "no container " + id);
    return it->second;
  }
  Result<std::vector<ContainerStatus>> ListContainers() override {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<ContainerStatus> out;
    for (const auto& [k, v] : containers_) out.push_back(v);
    return out;
  }
  Result<ExecResult> Exec(const std::string& id, const std::vector<std::string>& argv,
                          std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lk(mu_);
    ExecResult r;
    std::string what = argv.empty() ? "" : argv.back();
    calls_.push_back("exec " + id + " " + what);
    r.exit_code = exec_exit_.count(what) ? exec_exit_[what] : 0;
    return r;
  }

  // Test controls.
  void Exit(const std::string& name, int code) {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [id, c] : containers_) {
      if (c.name == name && c.state == ContainerState::kRunning) {
        c.state = ContainerState::kExited;
        c.exit_code = code;
        c.reason = code == 0 ? "Completed" : "Error";
        c.finished_at = clock_->Now();
      }
    }
  }
  // The container's monitor (shim) died; the container runs on, unwatched.
  void LoseMonitor(const std::string& name) {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [id, c] : containers_) {
      if (c.name == name && c.state == ContainerState::kRunning) c.state = ContainerState::kUnknown;
    }
  }
  void SetExecExit(const std::string& last_arg, int code) {
    std::lock_guard<std::mutex> lk(mu_);
    exec_exit_[last_arg] = code;
  }
  void FailStart(const std::string& name) {
    std::lock_guard<std::mutex> lk(mu_);
    fail_start_.insert(name);
  }
  int Starts(const std::string& name) {
    std::lock_guard<std::mutex> lk(mu_);
    return static_cast<int>(std::count_if(calls_.begin(), calls_.end(),
                                          [&](const std::string& c) { return c.rfind("start " + name + " ", 0) == 0; }));
  }
  std::vector<std::string> Calls() {
    std::lock_guard<std::mutex> lk(mu_);
    return calls_;
  }
  std::vector<std::string> StartOrder() {
    std::vector<std::string> out;
    for (const auto& c : Calls()) {
      if (c.rfind("start ", 0) == 0) out.push_back(c.substr(6, c.rfind(' ') - 6));
    }
    return out;
  }
  size_t ContainerCount() {
    std::lock_guard<std::mutex> lk(mu_);
    return containers_.size();
  }
  size_t SandboxCount() {
    std::lock_guard<std::mutex> lk(mu_);
    return sandboxes_.size();
  }
  std::optional<ContainerConfig> ConfigOf(const std::string& id) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = configs_.find(id);
    if (it == configs_.end()) return std::nullopt;
    return it->second;
  }
  std::chrono::milliseconds last_grace() {
    std::lock_guard<std::mutex> lk(mu_);
    return last_grace_;
  }

 private:
  Clock* clock_;
  std::mutex mu_;
  std::map<std::string, Sandbox> sandboxes_;
  std::map<std::string, ContainerStatus> containers_;
  std::map<std::string, ContainerConfig> configs_;
  std::map<std::string, int> exec_exit_;
  std::set<std::string> fail_start_;
  std::vector<std::string> calls_;
  std::chrono::milliseconds last_grace_{-1};
  int next_pid_ = 1000;
};

class FakeNetwork : public Network {
 public:
  Result<std::string> Setup(const std::string& uid, const std::string&, const std::vector<PortMapping>& ports) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = ips_.find(uid);
    if (it != ips_.end()) return it->second;
    std::string ip = "10.244.0." + std::to_string(next_++);
    ips_[uid] = ip;
    ports_[uid] = ports;
    return ip;
  }
  Status Teardown(const std::string& uid, const std::string&) override {
    std::lock_guard<std::mutex> lk(mu_);
    ips_.erase(uid);
    torn_down_.push_back(uid);
    return Ok();
  }
  size_t attached() {
    std::lock_guard<std::mutex> lk(mu_);
    return ips_.size();
  }
  std::vector<PortMapping> PortsOf(const std::string& uid) {
    std::lock_guard<std::mutex> lk(mu_);
    return ports_[uid];
  }
  std::vector<std::string> torn_down() {
    std::lock_guard<std::mutex> lk(mu_);
    return torn_down_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> ips_;
  std::map<std::string, std::vector<PortMapping>> ports_;
  std::vector<std::string> torn_down_;
  int next_ = 2;
};

class FakeImages : public ImageStore {
 public:
  FakeImages() {
    Image i;
    i.refs = {"bosun.test/busybox:1"};
    i.digest = "sha256:1111";
    i.config.entrypoint = {"/bin/sh"};
    images_["bosun.test/busybox:1"] = i;
  }
  Result<Image> Get(const std::string& ref) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = images_.find(ref);
    if (it == images_.end()) return Error(Code::kNotFound, "image " + ref + " not present");
    return it->second;
  }
  Result<Image> Pull(const std::string& ref, const ProgressFn&) override {
    std::lock_guard<std::mutex> lk(mu_);
    pulls_++;
    auto it = images_.find(ref);
    if (it == images_.end()) return Error(Code::kNotFound, "pulling " + ref + ": manifest unknown");
    return it->second;
  }
  Result<Image> Ensure(const std::string& ref, PullPolicy policy, const ProgressFn& p) override {
    if (on_ensure) on_ensure();
    if (policy == PullPolicy::kAlways) return Pull(ref, p);
    return Pull(ref, p);
  }
  Result<std::vector<Image>> Import(const std::string&) override { return std::vector<Image>{}; }
  Result<std::vector<Image>> List() override { return std::vector<Image>{}; }
  Result<std::vector<std::string>> GarbageCollect(const std::set<std::string>&) override {
    return std::vector<std::string>{};
  }
  int pulls() {
    std::lock_guard<std::mutex> lk(mu_);
    return pulls_;
  }
  // Runs at each Ensure, in the middle of the worker's pass (set it before
  // the worker runs).
  std::function<void()> on_ensure;

 private:
  std::mutex mu_;
  std::map<std::string, Image> images_;
  int pulls_ = 0;
};

class FakeVolumes : public PodVolumes {
 public:
  Result<std::map<std::string, std::string>> Setup(const Object& pod, const ObjectFetcher&) override {
    std::lock_guard<std::mutex> lk(mu_);
    set_up_.insert(pod.uid());
    return std::map<std::string, std::string>{};
  }
  Result<bool> Refresh(const Object&, const ObjectFetcher&) override { return false; }
  Result<std::vector<Mount>> MountsFor(const Object&, const std::string&,
                                       const std::map<std::string, std::string>&) override {
    return std::vector<Mount>{};
  }
  Status Teardown(const std::string& uid) override {
    std::lock_guard<std::mutex> lk(mu_);
    set_up_.erase(uid);
    return Ok();
  }
  size_t count() {
    std::lock_guard<std::mutex> lk(mu_);
    return set_up_.size();
  }

 private:
  std::mutex mu_;
  std::set<std::string> set_up_;
};

// The API in-process (tests/api_harness.h), with pod helpers.
class Api : public test::InProcessApi {
 public:
  using InProcessApi::InProcessApi;

  Object CreatePod(const Json& spec, const std::string& name = "web", const std::string& ns = "default") {
    Object pod(GroupVersionKind{"", "v1", "Pod"}, ns, name);
    pod.json()["spec"] = spec;
    auto r = client().Create(pod);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : pod;
  }
  Json PodStatus(const std::string& name = "web", const std::string& ns = "default") {
    auto r = client().Get(*KindRegistry::Builtin().FindKind("Pod"), ns, name);
    // {} until the node writes one.
    return r.ok() && r->status().is_object() ? r->status() : Json::object();
  }
};

// Every fake and the API, wired into a WorkerEnv.
struct Fixture {
  explicit Fixture(Clock* clock) : runtime(clock), api(dir.Sub("store")) {
    env.runtime = &runtime;
    env.network = &network;
    env.images = &images;
    env.volumes = &volumes;
    env.client = &api.client();
    env.clock = clock;
    env.probe = RunProbe;
    env.node_name = "n1";
    env.host_ip = "127.0.0.1";
  }
  bosun::test::TempDir dir{"bosun-podworker"};
  FakeRuntime runtime;
  FakeNetwork network;
  FakeImages images;
  FakeVolumes volumes;
  Api api;
  WorkerEnv env;
};

inline std::string CondStatus(const Json& status, const std::string& type) {
  const Json& cs = Object::Field(status, "conditions");
  if (!cs.is_array()) return "";
  for (const auto& c : cs) {
    if (c.value("type", "") == type) return c.value("status", "");
  }
  return "";
}

inline const Json& ContainerStatusOf(const Json& status, const std::string& name, bool init = false) {
  static const Json null;
  const Json& cs = Object::Field(status, init ? "initContainerStatuses" : "containerStatuses");
  if (!cs.is_array()) return null;
  for (const auto& c : cs) {
    if (c.value("name", "") == name) return c;
  }
  return null;
}

}  // namespace bosun::node::testing
