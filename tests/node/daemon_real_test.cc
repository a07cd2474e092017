// The node daemon end to end, as a user runs it (root, real runc, CNI
// plugins, the test images): a `bosun server` and a `bosun node` process; a
// Pod created through the API with spec.nodeName set by hand runs, becomes
// Running and Ready with a pod IP that answers HTTP from the host; the
// daemon is killed with SIGKILL and started again and the container keeps
// running untouched; the deleted pod leaves no container, sandbox, cgroup or
// veth behind. Everything the test made is removed even when it fails.
#include <gtest/gtest.h>

#include <algorithm>

#include "node/sandbox_pool.h"
#include "tests/node/node_cluster_fixture.h"

namespace bosun::node {
namespace {

using namespace cluster_test;

class DaemonReal : public NodeCluster {
 protected:
  DaemonReal() : NodeCluster("e2e", 100, 150, {"web.tar"}) {}
};

TEST_F(DaemonReal, PodRunsSurvivesADaemonKillAndIsCleanedOnDelete) {
  StartNode();
  ASSERT_TRUE(WaitFor([&] { return client_->Get(K("Node"), "", node_name_).ok(); }, 30s)) << Log("node.log");

  Object pod(GroupVersionKind{"", "v1", "Pod"}, "default", "web");
  pod.json()["spec"] = {
      {"nodeName", node_name_},
      {"terminationGracePeriodSeconds", 2},
      {"containers",
       Json::array({{{"name", "web"},
                     {"image", "bosun.test/web:1"},
                     {"imagePullPolicy", "Never"},
                     {"ports", Json::array({{{"containerPort", 8080}}})},
                     {"readinessProbe", {{"httpGet", {{"path", "/"}, {"port", 8080}}}, {"periodSeconds", 1}}}}})}};
  auto created = client_->Create(pod);
  ASSERT_TRUE(created.ok()) << created.error().message();
  std::string uid = created->uid();

  ASSERT_TRUE(WaitFor(
      [&] {
        Json st = PodStatus("web");
        if (st.value("phase", "") != "Running") return false;
        if (!st.contains("conditions")) return false;
        for (const auto& c : st["conditions"]) {
          if (c["type"] == "Ready") return c["status"] == "True";
        }
        return false;
      },
      60s))
      << PodStatus("web").dump(2) << "\n" << Log("node.log");
  Json st = PodStatus("web");
  std::string ip = st.value("podIP", "");
  ASSERT_EQ(ip.rfind(prefix_, 0), 0u) << "pod IP " << ip << " not in " << prefix_ << "0/24";
  EXPECT_NE(HttpGet(ip, 8080).find("bosun web v1"), std::string::npos) << "the pod's httpd did not answer";
  std::string container_id = st["containerStatuses"][0]["containerID"];

  auto rt = ReadRuntime();
  ASSERT_TRUE(rt);
  auto before = rt->Inspect(uid + "_web_0");
  ASSERT_TRUE(before.ok()) << before.error().message();
  ASSERT_EQ(before->state, ContainerState::kRunning);
  int pid = before->pid;
  ASSERT_GT(pid, 0);

  // kill -9 of the daemon, and a new one: the container runs on untouched.
  Kill(&node_pid_, SIGKILL);
  StartNode();
  std::this_thread::sleep_for(3s);
  auto after = rt->Inspect(uid + "_web_0");
  ASSERT_TRUE(after.ok()) << after.error().message();
  EXPECT_EQ(after->state, ContainerState::kRunning);
  EXPECT_EQ(after->pid, pid) << "the container was restarted";
  EXPECT_TRUE(process::Alive(pid));
  st = PodStatus("web");
  EXPECT_EQ(st["containerStatuses"][0]["restartCount"], 0);
  EXPECT_EQ(st["containerStatuses"][0]["containerID"], container_id);
  EXPECT_EQ(st.value("phase", ""), "Running");
  EXPECT_NE(HttpGet(ip, 8080).find("bosun web v1"), std::string::npos);
  auto listed = rt->ListContainers();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u) << "a second container was started";

  // Deleted: containers, sandbox, cgroups, veth all gone.
  ASSERT_TRUE(client_->Delete(K("Pod"), "default", "web").ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        auto cs = rt->ListContainers();
        auto sbs = rt->ListPodSandboxes();
        if (!cs.ok() || !cs->empty() || !sbs.ok()) return false;
        for (const auto& sb : *sbs) {
          if (!SandboxPool::IsPoolId(sb.pod_uid)) return false;  // the warm pool's stay
        }
        return true;
      },
      30s))
      << Log("node.log");
  EXPECT_FALSE(process::Alive(pid)) << "the container's process survived its pod";
  // One veth per warm sandbox of the pool, none for the pod.
  size_t pooled = 0;
  if (auto sbs = rt->ListPodSandboxes()) pooled = sbs->size();
  std::string veths = RunCommand("ip -o link show master " + bridge_ + " 2>/dev/null").out;
  EXPECT_EQ(static_cast<size_t>(std::count(veths.begin(), veths.end(), '\n')), pooled)
      << "a veth is left on the bridge:\n" << veths;
  EXPECT_EQ(RunCommand("find /sys/fs/cgroup/ -maxdepth 4 -path '*" + cgroup_parent_ + "*' -name '*" + uid + "*'").out,
            "")
      << "a cgroup of the pod is left";
  EXPECT_TRUE(HttpGet(ip, 8080).empty());
}

}  // namespace
}  // namespace bosun::node
