// tests/node/network_test.cc — the CNI network with Debian's real plugins (as
// root): pods in namespaces made with `ip netns add` on a bridge of the test's
// own (unique name and subnet), reaching each other and a hostPort, and a
// Teardown that leaves no veth, lease or iptables rule behind. Every test
// deletes its namespaces, bridge and rules even when it fails.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/process.h"
#include "node/network.h"
#include "tests/test_support.h"

namespace bosun::node {
namespace {

namespace fs = std::filesystem;
using bosun::test::RunCommand;

// A process started in its own session and killed (with its group) at the end.
class Background {
 public:
  explicit Background(std::vector<std::string> argv) {
    process::DetachedOptions o;
    o.argv = std::move(argv);
    auto pid = process::SpawnDetached(o);
    EXPECT_TRUE(pid) << pid.error().message();
    if (pid) pid_ = *pid;
  }
  ~Background() {
    if (pid_ <= 0) return;
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

 private:
  pid_t pid_ = -1;
};

// Connects (with retries while the listener starts) and returns what it says.
std::string Fetch(const std::string& ns_prefix, const std::string& ip, int port) {
  std::string out;
  for (int i = 0; i < 30; ++i) {
    auto r = RunCommand(ns_prefix + "busybox nc -w 2 " + ip + " " + std::to_string(port) + " </dev/null");
    if (r.exit_code == 0 && !r.out.empty()) return r.out;
    out = r.out;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "(no answer: " + out + ")";
}

class NetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, bridges, iptables)";
    if (!fs::exists("/usr/lib/cni/bridge")) GTEST_SKIP() << "containernetworking-plugins not installed";
    const int pid = getpid();
    id_ = std::to_string(pid) + std::to_string(counter_++);
    bridge_ = "bt" + id_.substr(0, 13);
    // A /24 that nothing on the host uses.
    std::string routes = RunCommand("ip -4 route; ip -4 addr").out;
    for (int i = 0; i < 200; ++i) {
      int a = 100 + (pid + i) % 150, b = (pid / 7 + i * 13) % 250;
      prefix_ = "10." + std::to_string(a) + "." + std::to_string(b) + ".";
      if (routes.find(prefix_) == std::string::npos) break;
    }
    opts_.bridge = bridge_;
    opts_.subnet = prefix_ + "0/24";
    opts_.network_name = "bosun-test-" + id_;
    opts_.data_dir = tmp_.Sub("cni");
    for (const char* s : {"a", "b"}) {
      std::string ns = "bnt" + id_ + s;
      ASSERT_EQ(RunCommand("ip netns add " + ns).exit_code, 0);
      namespaces_.push_back(ns);
    }
    auto n = MakeCniNetwork(opts_);
    ASSERT_TRUE(n) << n.error().message();
    net_ = std::move(*n);
  }

  void TearDown() override {
    if (net_) {
      for (const auto& uid : uids_) (void)net_->Teardown(uid, "");
    }
    for (const auto& ns : namespaces_) RunCommand("ip netns del " + ns);
    if (!bridge_.empty()) RunCommand("ip link del " + bridge_ + " 2>/dev/null");
  }

  std::string NetnsPath(int i) const { return "/var/run/netns/" + namespaces_[i]; }
  std::string Exec(int i) const { return "ip netns exec " + namespaces_[i] + " "; }
  std::string Uid(const std::string& s) {
    std::string uid = "pod-" + id_ + "-" + s;
    uids_.push_back(uid);
    return uid;
  }
  std::string Gateway() const { return prefix_ + "1"; }
  std::string Ruleset() const { return RunCommand("iptables-save; nft list ruleset").out; }

  static inline int counter_ = 0;
  bosun::test::TempDir tmp_{"bosun-net"};
  std::string id_, bridge_, prefix_;
  NetworkOptions opts_;
  std::vector<std::string> namespaces_;
  std::vector<std::string> uids_;
  std::unique_ptr<Network> net_;
};

TEST_F(NetworkTest, TwoPodsGetDifferentIpsAndReachEachOther) {
  std::string a = Uid("a"), b = Uid("b");
  // In parallel, as pod workers call it (the first ADD creates the bridge).
  Result<std::string> ip_a = Error(Code::kInternal, "not run"), ip_b = ip_a;
  std::thread ta([&] { ip_a = net_->Setup(a, NetnsPath(0), {}); });
  std::thread tb([&] { ip_b = net_->Setup(b, NetnsPath(1), {}); });
  ta.join();
  tb.join();
  ASSERT_TRUE(ip_a) << ip_a.error().message();
  ASSERT_TRUE(ip_b) << ip_b.error().message();
  EXPECT_NE(*ip_a, *ip_b);
  EXPECT_EQ(ip_a->rfind(prefix_, 0), 0u) << *ip_a;
  EXPECT_EQ(ip_a->find('/'), std::string::npos) << *ip_a;
  EXPECT_NE(RunCommand(Exec(0) + "ip -4 -o addr show eth0").out.find(*ip_a + "/24"), std::string::npos);
  EXPECT_NE(RunCommand(Exec(0) + "ip -o link show lo").out.find("UP"), std::string::npos);

  EXPECT_EQ(RunCommand(Exec(1) + "busybox ping -c1 -W1 " + *ip_a).exit_code, 0);
  Background listener({"ip", "netns", "exec", namespaces_[0], "busybox", "nc", "-l", "-p", "7000", "-e", "echo", "pong-a"});
  EXPECT_EQ(Fetch(Exec(1), *ip_a, 7000), "pong-a\n");
  EXPECT_TRUE(net_->Teardown(a, NetnsPath(0)));
  EXPECT_TRUE(net_->Teardown(b, NetnsPath(1)));
}

TEST_F(NetworkTest, HostPortReachesThePodAndTeardownRemovesEverything) {
  std::string a = Uid("hp");
  const int host_port = bosun::test::FreePort();
  auto ip = net_->Setup(a, NetnsPath(0), {PortMapping{8080, host_port, "TCP", ""}});
  ASSERT_TRUE(ip) << ip.error().message();
  {
    Background listener({"ip", "netns", "exec", namespaces_[0], "busybox", "nc", "-l", "-p", "8080", "-e", "echo", "via-gateway"});
    EXPECT_EQ(Fetch("", Gateway(), host_port), "via-gateway\n");
  }
  {
    // portmap sets route_localnet on the bridge, so localhost works too.
    Background listener({"ip", "netns", "exec", namespaces_[0], "busybox", "nc", "-l", "-p", "8080", "-e", "echo", "via-localhost"});
    EXPECT_EQ(Fetch("", "127.0.0.1", host_port), "via-localhost\n");
  }
  // Everything Setup made is visible before the teardown…
  const std::string lease = opts_.data_dir + "/ipam/" + opts_.network_name + "/" + *ip;
  EXPECT_TRUE(fs::exists(lease));
  std::string rules = Ruleset();
  EXPECT_NE(rules.find(a), std::string::npos);
  EXPECT_NE(rules.find(*ip), std::string::npos);
  EXPECT_NE(RunCommand("ip -o link show master " + bridge_).out.find("veth"), std::string::npos);

  // …and gone after it.
  ASSERT_TRUE(net_->Teardown(a, NetnsPath(0)));
  EXPECT_FALSE(fs::exists(lease));
  rules = Ruleset();
  EXPECT_EQ(rules.find(a), std::string::npos) << rules;
  EXPECT_EQ(rules.find(*ip + "/"), std::string::npos) << rules;
  EXPECT_EQ(rules.find(*ip + ":"), std::string::npos) << rules;
  EXPECT_EQ(RunCommand("ip -o link show master " + bridge_).out.find("veth"), std::string::npos);
  EXPECT_EQ(RunCommand(Exec(0) + "ip -o link show eth0").exit_code, 1);
  EXPECT_FALSE(fs::exists(opts_.data_dir + "/results/" + a + ".json"));
  // A second teardown finds nothing to do.
  EXPECT_TRUE(net_->Teardown(a, NetnsPath(0)));
}

TEST_F(NetworkTest, SetupIsIdempotentAndSurvivesANewNetworkObject) {
  std::string a = Uid("idem");
  auto first = net_->Setup(a, NetnsPath(0), {});
  ASSERT_TRUE(first) << first.error().message();
  auto second = net_->Setup(a, NetnsPath(0), {});
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(*first, *second);
  // After a daemon restart (a fresh Network over the same data dir).
  auto again = MakeCniNetwork(opts_);
  ASSERT_TRUE(again);
  auto third = (*again)->Setup(a, NetnsPath(0), {});
  ASSERT_TRUE(third) << third.error().message();
  EXPECT_EQ(*first, *third);
  EXPECT_EQ(RunCommand("ip -o link show master " + bridge_ + " | grep -c veth").out, "1\n");
  // A namespace re-created at the same path (a new sandbox) is set up afresh.
  ASSERT_EQ(RunCommand("ip netns del " + namespaces_[0] + " && ip netns add " + namespaces_[0]).exit_code, 0);
  auto fresh = net_->Setup(a, NetnsPath(0), {});
  ASSERT_TRUE(fresh) << fresh.error().message();
  EXPECT_NE(RunCommand(Exec(0) + "ip -4 -o addr show eth0").out.find(*fresh + "/24"), std::string::npos);
  EXPECT_EQ(RunCommand("ls " + opts_.data_dir + "/ipam/" + opts_.network_name + " | grep -c '^10\\.'").out, "1\n");
  EXPECT_TRUE(net_->Teardown(a, NetnsPath(0)));
}

TEST_F(NetworkTest, TeardownAfterTheNamespaceIsGoneStillReleasesEverything) {
  std::string a = Uid("gone");
  auto ip = net_->Setup(a, NetnsPath(0), {PortMapping{80, bosun::test::FreePort(), "TCP", ""}});
  ASSERT_TRUE(ip) << ip.error().message();
  ASSERT_EQ(RunCommand("ip netns del " + namespaces_[0]).exit_code, 0);
  ASSERT_TRUE(net_->Teardown(a, NetnsPath(0)));
  EXPECT_FALSE(fs::exists(opts_.data_dir + "/ipam/" + opts_.network_name + "/" + *ip));
  std::string rules = Ruleset();
  EXPECT_EQ(rules.find(a), std::string::npos) << rules;
  EXPECT_EQ(rules.find(*ip + "/"), std::string::npos) << rules;
  // The IP goes back to the pool: a new pod may get it.
  ASSERT_EQ(RunCommand("ip netns add " + namespaces_[0]).exit_code, 0);
  auto next = net_->Setup(Uid("next"), NetnsPath(0), {});
  ASSERT_TRUE(next) << next.error().message();
}

TEST_F(NetworkTest, ErrorsSayWhatFailed) {
  auto r = net_->Setup(Uid("notns"), tmp_.Write("not-a-netns", ""), {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("is not a network namespace"), std::string::npos) << r.error().message();

  // A CNI error from the plugin (JSON on stdout) becomes a readable message,
  // and the failed setup leaves no lease behind.
  NetworkOptions bad = opts_;
  bad.subnet = "10.300.0.0/24";
  auto n = MakeCniNetwork(bad);
  ASSERT_TRUE(n);
  r = (*n)->Setup(Uid("badnet"), NetnsPath(1), {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("CNI plugin bridge ADD for pod"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("10.300.0.0/24"), std::string::npos) << r.error().message();

  NetworkOptions missing = opts_;
  missing.plugin_dir = tmp_.Sub("no-plugins");
  auto m = MakeCniNetwork(missing);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("containernetworking-plugins"), std::string::npos);
}

}  // namespace
}  // namespace bosun::node
