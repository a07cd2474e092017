// The node daemon against a real API server and fakes of the runtime,
// network, images and volumes: the Node and its Lease, the pod watch, one
// worker per pod bound here, deletion, and re-adoption by a new daemon.
#include <gtest/gtest.h>

#include <functional>

#include "node/daemon.h"
#include "tests/node/pod_worker_test_support.h"

namespace bosun::node::testing {
namespace {

const KindInfo& K(const char* kind) { return *KindRegistry::Builtin().FindKind(kind); }

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return cond();
}

DaemonOptions Options(const std::string& data) {
  DaemonOptions o;
  o.node_name = "n1";
  o.labels = {{"zone", "a"}};
  o.data_dir = data;
  o.address = "127.0.0.1";
  o.node_server_port = 10250;
  o.runtime_version = "runc 1.1.5";
  o.lease_renew = 200ms;
  o.status_interval = 300ms;
  return o;
}

Json Spec(const std::string& node) {
  return Json{{"nodeName", node},
              {"containers", Json::array({{{"name", "app"}, {"image", "bosun.test/busybox:1"}}})}};
}

TEST(DaemonFake, RegistersTheNodeAndRenewsItsLease) {
  Fixture fx(&Clock::System());
  auto d = Daemon::Start(Options(fx.dir.path()), fx.env);
  ASSERT_TRUE(d.ok()) << d.error().message();
  auto node = fx.api.client().Get(K("Node"), "", "n1");
  ASSERT_TRUE(node.ok()) << node.error().message();
  EXPECT_EQ(node->label("zone"), "a");
  EXPECT_EQ(node->label("kubernetes.io/hostname"), "n1");
  EXPECT_EQ(node->label("kubernetes.io/os"), "linux");
  EXPECT_EQ(node->label("kubernetes.io/arch"), "amd64");
  EXPECT_EQ(node->spec()["podCIDR"], "10.244.0.0/24");
  const Json& st = node->status();
  EXPECT_EQ(st["capacity"]["pods"], "110");
  EXPECT_GT(std::stoi(st["capacity"]["cpu"].get<std::string>()), 0);
  std::string mem = st["capacity"]["memory"].get<std::string>();
  EXPECT_EQ(mem.substr(mem.size() - 2), "Ki");
  EXPECT_EQ(st["allocatable"], st["capacity"]);
  EXPECT_EQ(st["addresses"][0]["type"], "InternalIP");
  EXPECT_EQ(st["addresses"][0]["address"], "127.0.0.1");
  EXPECT_EQ(st["addresses"][1]["type"], "Hostname");
  EXPECT_EQ(st["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
  EXPECT_EQ(st["nodeInfo"]["containerRuntimeVersion"], "runc 1.1.5");
  EXPECT_FALSE(st["nodeInfo"]["kernelVersion"].get<std::string>().empty());
  std::map<std::string, std::string> conds;
  for (const auto& c : st["conditions"]) {
    conds[c["type"]] = c["status"];
    EXPECT_FALSE(c.value("lastHeartbeatTime", "").empty());
    EXPECT_FALSE(c.value("lastTransitionTime", "").empty());
    EXPECT_FALSE(c.value("reason", "").empty());
  }
  EXPECT_EQ(conds["Ready"], "True");
  EXPECT_EQ(conds["MemoryPressure"], "False");
  EXPECT_EQ(conds["DiskPressure"], "False");
  EXPECT_EQ(conds["PIDPressure"], "False");

  auto lease = fx.api.client().Get(K("Lease"), "kube-node-lease", "n1");
  ASSERT_TRUE(lease.ok()) << lease.error().message();
  EXPECT_EQ(lease->spec()["holderIdentity"], "n1");
  EXPECT_EQ(lease->spec()["leaseDurationSeconds"], 40);
  std::string first = lease->spec()["renewTime"];
  EXPECT_EQ(first.size(), std::string("2026-11-22T03:01:29.123456Z").size()) << first;
  EXPECT_TRUE(WaitFor([&] {
    auto l = fx.api.client().Get(K("Lease"), "kube-node-lease", "n1");
    return l.ok() && l->spec()["renewTime"].get<std::string>() > first;
  })) << "the lease was not renewed";
  (*d)->Stop();
}

TEST(DaemonFake, RunsThePodsBoundHereAndCleansDeletedOnes) {
  Fixture fx(&Clock::System());
  auto d = Daemon::Start(Options(fx.dir.path()), fx.env);
  ASSERT_TRUE(d.ok()) << d.error().message();
  Object mine = fx.api.CreatePod(Spec("n1"), "mine");
  fx.api.CreatePod(Spec("other-node"), "theirs");
  EXPECT_TRUE(WaitFor([&] { return fx.api.PodStatus("mine").value("phase", "") == "Running"; }))
      << fx.api.PodStatus("mine").dump(2);
  EXPECT_TRUE(fx.api.PodStatus("theirs").empty()) << "a pod bound elsewhere got a status";
  EXPECT_EQ(fx.runtime.ContainerCount(), 1u);
  EXPECT_EQ((*d)->workers(), 1u);
  auto ref = (*d)->Lookup("default", "mine", "app");
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  EXPECT_TRUE(ref->running);
  EXPECT_EQ(ref->id, mine.uid() + "_app_0");
  EXPECT_FALSE((*d)->Lookup("default", "theirs", "app").ok());

  ASSERT_TRUE(fx.api.client().Delete(K("Pod"), "default", "mine").ok());
  EXPECT_TRUE(WaitFor([&] { return fx.runtime.ContainerCount() == 0 && fx.runtime.SandboxCount() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return (*d)->workers() == 0; }));
  EXPECT_EQ(fx.network.attached(), 0u);
  EXPECT_EQ(fx.volumes.count(), 0u);
  (*d)->Stop();
}

TEST(DaemonFake, ANewDaemonAdoptsRunningContainersAndCleansOrphans) {
  Fixture fx(&Clock::System());
  Object web, gone;
  {
    auto d = Daemon::Start(Options(fx.dir.path()), fx.env);
    ASSERT_TRUE(d.ok()) << d.error().message();
    web = fx.api.CreatePod(Spec("n1"), "web");
    gone = fx.api.CreatePod(Spec("n1"), "gone");
    ASSERT_TRUE(WaitFor([&] { return fx.runtime.ContainerCount() == 2; }));
    ASSERT_TRUE(WaitFor([&] { return fx.api.PodStatus("web").value("phase", "") == "Running"; }));
    (*d)->Stop();  // containers keep running
  }
  EXPECT_EQ(fx.runtime.ContainerCount(), 2u) << "stopping the daemon stopped containers";
  // While no daemon runs, "gone" is deleted.
  ASSERT_TRUE(fx.api.client().Delete(K("Pod"), "default", "gone").ok());

  auto d = Daemon::Start(Options(fx.dir.path()), fx.env);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_TRUE(WaitFor([&] { return fx.runtime.SandboxCount() == 1 && fx.runtime.ContainerCount() == 1; }))
      << "the sandbox of a pod deleted meanwhile was not removed";
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fx.runtime.Starts("app"), 2) << "a container was started again after the daemon restarted";
  Json cs = ContainerStatusOf(fx.api.PodStatus("web"), "app");
  EXPECT_EQ(cs["restartCount"], 0);
  EXPECT_EQ(cs["containerID"], "bosun://" + web.uid() + "_app_0");
  auto ref = (*d)->Lookup("default", "web", "");
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  EXPECT_TRUE(ref->running);
  (*d)->Stop();
}

}  // namespace
}  // namespace bosun::node::testing
