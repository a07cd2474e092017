// The warm sandbox pool (node/sandbox_pool.h) with the real runtime (runc),
// the real CNI plugins and a bridge of the test's own: sandboxes are made
// ready with an IP, a pod takes one (renamed to the pod, its cgroup made, the
// same IP, a container runs in it and reaches the gateway), the pool
// refills, a clean stop removes the unclaimed ones (namespaces, IPs, veths),
// and a new pool removes what a killed one left. Root only; everything is
// removed even when a test fails.
#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include "node/network.h"
#include "node/sandbox_pool.h"
#include "tests/node/runtime_fixture.h"
#include "tests/test_support.h"

namespace bosun::node::testing {
namespace {

using namespace std::chrono_literals;
using bosun::test::RunCommand;

class SandboxPoolTest : public RuntimeTest {
 protected:
  void SetUp() override {
    RuntimeTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!std::filesystem::exists("/usr/lib/cni/bridge")) GTEST_SKIP() << "containernetworking-plugins not installed";
    int pid = ::getpid();
    bridge_ = "bsp" + std::to_string(pid % 100000000);
    std::string routes = RunCommand("ip -4 route; ip -4 addr").out;
    for (int i = 0; i < 200; ++i) {
      prefix_ = "10.254." + std::to_string((pid / 5 + i * 11) % 250) + ".";
      if (routes.find(prefix_) == std::string::npos) break;
    }
    NetworkOptions o;
    o.bridge = bridge_;
    o.subnet = prefix_ + "0/24";
    o.network_name = "bosun-pool-" + std::to_string(pid);
    o.data_dir = dir_ + "/cni";
    auto n = MakeCniNetwork(o);
    ASSERT_TRUE(n) << n.error().message();
    net_ = std::move(*n);
  }
  void TearDown() override {
    pool_.reset();
    if (net_ && rt_) {
      if (auto sbs = rt_->ListPodSandboxes()) {
        for (const auto& sb : *sbs) (void)net_->Teardown(sb.net_id, sb.netns_path);
      }
    }
    RuntimeTest::TearDown();
    if (!bridge_.empty()) RunCommand("ip link del " + bridge_ + " 2>/dev/null");
  }

  std::vector<Sandbox> Pooled() {
    std::vector<Sandbox> out;
    if (auto sbs = rt_->ListPodSandboxes()) {
      for (const auto& sb : *sbs) {
        if (SandboxPool::IsPoolId(sb.pod_uid)) out.push_back(sb);
      }
    }
    return out;
  }
  size_t Veths() {
    std::string v = RunCommand("ip -o link show master " + bridge_ + " 2>/dev/null").out;
    return static_cast<size_t>(std::count(v.begin(), v.end(), '\n'));
  }
  bool Eventually(const std::function<bool()>& c, std::chrono::milliseconds limit = 20s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (c()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return c();
  }

  std::string bridge_, prefix_;
  std::unique_ptr<Network> net_;
  std::unique_ptr<SandboxPool> pool_;
};

TEST_F(SandboxPoolTest, APodTakesAReadySandboxWithItsAddressAndThePoolRefills) {
  pool_ = std::make_unique<SandboxPool>(rt_.get(), net_.get(), 2);
  pool_->Start();
  ASSERT_TRUE(Eventually([&] { return pool_->ready() == 2; })) << "the pool did not fill";
  EXPECT_EQ(Pooled().size(), 2u);
  EXPECT_EQ(Veths(), 2u);

  SandboxConfig pc = PodConfig("web");
  auto taken = pool_->Take(pc);
  ASSERT_TRUE(taken);
  const Sandbox& sb = taken->sandbox;
  EXPECT_EQ(sb.pod_uid, pc.pod_uid);
  EXPECT_TRUE(SandboxPool::IsPoolId(sb.net_id)) << sb.net_id;
  EXPECT_EQ(taken->ip.rfind(prefix_, 0), 0u) << taken->ip;
  EXPECT_EQ(ReadAll(sb.dir + "/hostname"), "web\n");
  // The network follows the renamed namespace: the same IP, no new ADD.
  auto ip = net_->Setup(sb.net_id, sb.netns_path, {});
  ASSERT_TRUE(ip) << ip.error().message();
  EXPECT_EQ(*ip, taken->ip);
  // The pod cgroup exists (a pooled sandbox has none).
  EXPECT_TRUE(std::filesystem::exists("/sys/fs/cgroup/memory/" + parent_ + "/pod-" + pc.pod_uid));
  // The runtime reads it back as the pod's (after a restart, too).
  auto listed = rt_->ListPodSandboxes();
  ASSERT_TRUE(listed);
  bool found = false;
  for (const auto& s : *listed) found = found || (s.pod_uid == pc.pod_uid && s.net_id == sb.net_id && s.name == "web");
  EXPECT_TRUE(found);

  // A container in it has the pod's hostname and reaches the gateway.
  auto c = rt_->StartContainer(sb, Container("main", {"sleep", "1000"}));
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_EQ(c->state, ContainerState::kRunning) << c->message;
  auto host = rt_->Exec(c->id, {"hostname"}, 10s);
  ASSERT_TRUE(host);
  EXPECT_EQ(host->out, "web\n");
  auto ping = rt_->Exec(c->id, {"ping", "-c", "1", "-W", "2", prefix_ + "1"}, 10s);
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->exit_code, 0) << ping->out << ping->err;

  // The pool refills to two while the pod keeps its sandbox.
  EXPECT_TRUE(Eventually([&] { return pool_->ready() == 2; }));
  EXPECT_EQ(Pooled().size(), 2u);

  // A clean stop removes the unclaimed sandboxes and their addresses, not the pod's.
  pool_->Stop();
  EXPECT_TRUE(Pooled().empty());
  EXPECT_EQ(Veths(), 1u) << "only the pod's veth stays";
  ASSERT_TRUE(rt_->StopContainer(c->id, 0ms));
  ASSERT_TRUE(rt_->RemoveContainer(c->id));
  ASSERT_TRUE(net_->Teardown(sb.net_id, sb.netns_path));
  ASSERT_TRUE(rt_->RemovePodSandbox(pc.pod_uid));
  EXPECT_EQ(Veths(), 0u);
}

TEST_F(SandboxPoolTest, ANewPoolRemovesWhatAKilledDaemonsPoolLeft) {
  // A pooled sandbox as a killed daemon leaves it: namespaces, files, an IP.
  SandboxConfig left;
  left.pod_uid = "pool-left-" + tag_;
  left.name = "pool";
  left.pooled = true;
  auto sb = rt_->RunPodSandbox(left);
  ASSERT_TRUE(sb) << sb.error().message();
  ASSERT_TRUE(net_->Setup(sb->net_id, sb->netns_path, {}));
  EXPECT_EQ(Veths(), 1u);
  pool_ = std::make_unique<SandboxPool>(rt_.get(), net_.get(), 0);  // no refill: only the clean-up
  pool_->Start();
  EXPECT_TRUE(Pooled().empty());
  EXPECT_EQ(Veths(), 0u);
  EXPECT_FALSE(std::filesystem::exists(sb->dir));
  // A pod never takes from an empty pool.
  EXPECT_FALSE(pool_->Take(PodConfig("none")));
}

}  // namespace
}  // namespace bosun::node::testing
