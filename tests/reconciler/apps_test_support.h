// tests/reconciler/apps_test_support.h — what the ReplicaSet and Deployment
// tests share: a real API in the process, a ControllerManager running the
// two controllers against it, and a small "kubelet" that watches pods and
// marks them Running and Ready (unless told not to), sampling the whole set
// of pods after every watch event — every state the API went through.
#pragma once

#include <chrono>
#include <condition_variable>
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
#include "reconciler/controller.h"
#include "reconciler/deployment_controller.h"
#include "reconciler/deployment_util.h"
#include "reconciler/replicaset_controller.h"
#include "tests/api_harness.h"
#include "tests/test_support.h"

namespace bosun::reconciler::appstest {

using namespace std::chrono_literals;

inline const KindInfo& PodKind() { return *KindRegistry::Builtin().FindKind("Pod"); }
inline const KindInfo& ReplicaSetKind() { return *KindRegistry::Builtin().FindKind("ReplicaSet"); }
inline const KindInfo& DeploymentKind() { return *KindRegistry::Builtin().FindKind("Deployment"); }
inline const KindInfo& EventKind() { return *KindRegistry::Builtin().FindKind("Event"); }

// Polls `pred` every 20 ms until it holds or `timeout` passes.
inline bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 15s) {
  return test::Eventually(pred, timeout);
}

// The kubelet of these tests: a watch on pods; each new pod is marked
// Running, and Ready unless `never_ready` says otherwise. After every event
// (its own writes included) `sample` sees every pod of the namespace as the
// API holds them at that revision.
class TestKubelet {
 public:
  using Pods = std::map<std::string, Object>;

  explicit TestKubelet(test::InProcessApi& api, std::string ns = "default")
      : client_(api.NewClient()), ns_(std::move(ns)) {}
  ~TestKubelet() { Stop(); }

  void set_never_ready(std::function<bool(const Object&)> f) {
    std::lock_guard<std::mutex> lock(mu_);
    never_ready_ = std::move(f);
  }
  void set_sample(std::function<void(const Pods&)> f) {
    std::lock_guard<std::mutex> lock(mu_);
    sample_ = std::move(f);
  }
  // While held, new pods are left as they are (neither Running nor Ready).
  void Hold(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = hold;
  }

  void Start() {
    auto w = client_->Watch(PodKind(), ns_, {}, "", [this](const state::WatchEvent& ev) { OnEvent(ev); });
    ASSERT_TRUE(w.ok()) << w.error().message();
    watch_ = std::move(*w);
    worker_ = std::thread([this] { Work(); });
  }
  void Stop() {
    if (watch_) watch_->Stop();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    if (worker_.joinable()) worker_.join();
  }

  Pods pods() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pods_;
  }
  // Every pod name ever seen.
  std::set<std::string> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  // Marks a pod Ready now (a pod kept back by never_ready or Hold).
  Status MakeReady(const std::string& name) { return SetStatus(name, true); }

 private:
  void OnEvent(const state::WatchEvent& ev) {
    if (ev.type == state::WatchEvent::Type::kBookmark) return;
    std::lock_guard<std::mutex> lock(mu_);
    const std::string name = ev.object.name();
    if (ev.type == state::WatchEvent::Type::kDeleted) {
      pods_.erase(name);
    } else {
      pods_[name] = ev.object;
      seen_.insert(name);
      if (apps::PodPhase(ev.object).empty() && !hold_) {
        todo_.push_back({name, !(never_ready_ && never_ready_(ev.object))});
        cv_.notify_all();
      }
    }
    if (sample_) sample_(pods_);
  }

  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stopping_ || !todo_.empty(); });
      if (stopping_) return;
      auto [name, ready] = todo_.front();
      todo_.erase(todo_.begin());
      lock.unlock();
      (void)SetStatus(name, ready);
      lock.lock();
    }
  }

  Status SetStatus(const std::string& name, bool ready) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto pod = client_->Get(PodKind(), ns_, name);
      if (!pod) return pod.error();
      std::string now = FormatRfc3339(Clock::System().Now());
      Json& st = pod->json()["status"];
      st = {{"phase", "Running"},
            {"startTime", now},
            {"conditions",
             {{{"type", "Ready"}, {"status", ready ? "True" : "False"}, {"lastTransitionTime", now}},
              {{"type", "ContainersReady"}, {"status", ready ? "True" : "False"}, {"lastTransitionTime", now}}}},
            {"containerStatuses", {{{"name", "app"}, {"ready", ready}, {"restartCount", 0}}}}};
      auto w = client_->UpdateStatus(*pod);
      if (w || w.error().code() != Code::kConflict) return w ? Ok() : Status(w.error());
    }
    return Error(Code::kConflict, "pod " + name + " kept changing");
  }

  std::unique_ptr<state::Client> client_;
  const std::string ns_;
  state::WatchPtr watch_;
  std::thread worker_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Pods pods_;
  std::set<std::string> seen_;
  std::vector<std::pair<std::string, bool>> todo_;
  std::function<bool(const Object&)> never_ready_;
  std::function<void(const Pods&)> sample_;
  bool hold_ = false;
  bool stopping_ = false;
};

// A real API, the two controllers, a kubelet.
class AppsFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<test::InProcessApi>(dir_.Sub("api"));
    kubelet_ = std::make_unique<TestKubelet>(*api_);
  }
  void TearDown() override {
    if (mgr_) mgr_->Stop();
    kubelet_.reset();
    mgr_.reset();
    api_.reset();
  }

  void StartControllers(bool deployments = true) {
    kubelet_->Start();
    ManagerOptions o;
    o.sync_timeout = 10s;
    mgr_ = std::make_unique<ControllerManager>(&api_->client(), &Clock::System(), o);
    ASSERT_TRUE(AddReplicaSetController(*mgr_).ok());
    if (deployments) {
      ASSERT_TRUE(AddDeploymentController(*mgr_).ok());
    }
    auto s = mgr_->Start();
    ASSERT_TRUE(s.ok()) << s.error().message();
  }

  state::Client& client() { return api_->client(); }

  Object Get(const KindInfo& kind, const std::string& name) {
    auto o = client().Get(kind, "default", name);
    return o ? *o : Object();
  }
  std::vector<Object> List(const KindInfo& kind) {
    auto l = client().List(kind, "default");
    return l ? l->items : std::vector<Object>{};
  }
  std::vector<Object> ActivePods() {
    std::vector<Object> out;
    for (auto& p : List(PodKind())) {
      if (apps::PodActive(p)) out.push_back(p);
    }
    return out;
  }
  // What a failed wait shows: every Deployment's and ReplicaSet's status and
  // every pod's phase and readiness.
  std::string Dump() {
    std::string out;
    for (const KindInfo* k : {&DeploymentKind(), &ReplicaSetKind()}) {
      for (const Object& o : List(*k)) {
        out += k->gvk.kind + " " + o.name() + " generation " + std::to_string(o.generation()) + ": " +
               o.status().dump() + "\n";
      }
    }
    auto pod = [](const Object& p) {
      return p.name() + "@" + p.resource_version() + ": " + apps::PodPhase(p) + (apps::PodReady(p) ? " ready" : "") +
             (p.json()["metadata"].contains("deletionTimestamp") ? " deleting" : "") + "\n";
    };
    for (const Object& p : List(PodKind())) out += "Pod " + pod(p);
    // What the controllers' cache has.
    if (mgr_) {
      for (const ObjectPtr& p : mgr_->Informer(PodKind()).List()) out += "cached Pod " + pod(*p);
    }
    return out;
  }
  // The messages of the Events of `reason` about `name`.
  std::vector<std::string> EventMessages(const std::string& name, const std::string& reason) {
    std::vector<std::string> out;
    for (auto& e : List(EventKind())) {
      if (apps::Str(e.json()["involvedObject"], "name") == name && apps::Str(e.json(), "reason") == reason) {
        out.push_back(apps::Str(e.json(), "message"));
      }
    }
    return out;
  }
  // Applies `change` to the latest object and updates it (retrying conflicts).
  void Modify(const KindInfo& kind, const std::string& name, const std::function<void(Object&)>& change) {
    for (int i = 0; i < 10; ++i) {
      auto o = client().Get(kind, "default", name);
      ASSERT_TRUE(o.ok()) << o.error().message();
      change(*o);
      auto w = client().Update(*o);
      if (w) return;
      ASSERT_EQ(w.error().code(), Code::kConflict) << w.error().message();
    }
    FAIL() << "could not update " << name;
  }

  test::TempDir dir_{"bosun-apps"};
  std::unique_ptr<test::InProcessApi> api_;
  std::unique_ptr<TestKubelet> kubelet_;
  std::unique_ptr<ControllerManager> mgr_;
};

inline Json PodTemplate(const std::string& app, const std::string& image) {
  return {{"metadata", {{"labels", {{"app", app}}}}},
          {"spec", {{"containers", {{{"name", "app"}, {"image", image}}}}}}};
}

inline Object MakeReplicaSet(const std::string& name, int replicas, const std::string& app = "web") {
  Object rs(GroupVersionKind{"apps", "v1", "ReplicaSet"}, "default", name);
  rs.json()["spec"] = {{"replicas", replicas},
                       {"selector", {{"matchLabels", {{"app", app}}}}},
                       {"template", PodTemplate(app, "bosun.test/web:1")}};
  return rs;
}

inline Object MakeDeployment(const std::string& name, int replicas, const std::string& image,
                             const Json& extra_spec = Json::object()) {
  Object d(GroupVersionKind{"apps", "v1", "Deployment"}, "default", name);
  d.json()["spec"] = {{"replicas", replicas},
                      {"selector", {{"matchLabels", {{"app", name}}}}},
                      {"template", PodTemplate(name, image)}};
  for (auto it = extra_spec.begin(); it != extra_spec.end(); ++it) d.json()["spec"][it.key()] = it.value();
  return d;
}

inline std::string Image(const Object& pod_or_template_owner) {
  const Json& spec = pod_or_template_owner.spec();
  const Json& pod_spec = spec.contains("template") ? Object::Field(Object::Field(spec, "template"), "spec") : spec;
  const Json& containers = Object::Field(pod_spec, "containers");
  return containers.is_array() && !containers.empty() ? apps::Str(containers[0], "image") : "";
}

}  // namespace bosun::reconciler::appstest
