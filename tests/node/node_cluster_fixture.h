// tests/node/node_cluster_fixture.h — a real `bosun server` and `bosun node`
// process for end-to-end tests of the node (root, runc, the CNI plugins, the
// test images of scripts/build-test-images): unique names, bridge and pod
// CIDR per process, and a TearDown that removes everything the test made —
// containers, sandboxes, IP leases, mounts, cgroups, the bridge, the
// processes — even when the test fails. Used by daemon_real_test.cc,
// daemon_e2e_test.cc and workloads_e2e_test.cc.
//
// One node by default (StartNode(), node_name_, node_data_, prefix_,
// bridge_, cgroup_parent_, "node.log"). StartNode(i) for i >= 1 starts more
// nodes, each with its own name ("<kind>-<pid>-<i>"), bridge, pod CIDR, data
// folder, cgroup parent and log ("node<i>.log"); NodeName(i) / NodePrefix(i)
// name them for any index, and CrashNode(i) kills a node's daemon with
// SIGKILL and stops its containers, as a machine that dies would.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/kinds.h"
#include "core/process.h"
#include "node/cgroups.h"
#include "node/network.h"
#include "node/runtime.h"
#include "node/sandbox.h"
#include "state/client.h"
#include "tests/node/image_test_support.h"

namespace bosun::node::cluster_test {

using namespace std::chrono_literals;
using bosun::test::RunCommand;
namespace fs = std::filesystem;

inline const KindInfo& K(const char* kind) { return *KindRegistry::Builtin().FindKind(kind); }

inline bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return cond();
}

// GET / from ip:port over a plain socket; the whole answer, or "".
inline std::string HttpGet(const std::string& ip, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET / HTTP/1.0\r\nHost: " + ip + "\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

class NodeCluster : public ::testing::Test {
 protected:
  // `kind` names this fixture's resources apart from other suites' (bridge
  // "b<k><pid>", cgroup parent, node name); pod CIDRs come from
  // 10.<cidr_first .. cidr_first+cidr_span-1>.x.0/24, ranges suites keep
  // apart; `images` are the test image archives put in the node's airgap
  // folder.
  NodeCluster(std::string kind, int cidr_first, int cidr_span, std::vector<std::string> images)
      : kind_(std::move(kind)), cidr_first_(cidr_first), cidr_span_(cidr_span), airgap_(std::move(images)) {}

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    process::Options runc;
    runc.argv = {"runc", "--version"};
    if (!process::Run(runc)) GTEST_SKIP() << "needs runc";
    if (!fs::exists("/usr/lib/cni/bridge")) GTEST_SKIP() << "needs containernetworking-plugins";
    images_ = bosun::test::TestImagesDir();
    if (images_.empty()) GTEST_SKIP() << "scripts/build-test-images failed (umoci, busybox-static)";
    int pid = getpid();
    tag_ = std::to_string(pid);
    bridge_ = "b" + kind_.substr(0, 1) + tag_.substr(0, 12);
    cgroup_parent_ = "bosun-" + kind_ + "-" + tag_;
    node_name_ = kind_ + "-" + tag_;
    prefix_ = PickPrefix();
    ASSERT_FALSE(prefix_.empty());
    server_data_ = dir_.Sub("server");
    node_data_ = dir_.Sub("node");
    fs::create_directories(node_data_ + "/airgap");
    for (const auto& image : airgap_) fs::copy_file(images_ + "/" + image, node_data_ + "/airgap/" + image);

    int api_port = bosun::test::FreePort();
    api_url_ = "http://127.0.0.1:" + std::to_string(api_port);
    std::vector<std::string> server_argv = {BOSUN_BINARY, "server", "--data", server_data_, "--listen",
                                            "127.0.0.1:" + std::to_string(api_port), "--raft-listen",
                                            "127.0.0.1:" + std::to_string(bosun::test::FreePort())};
    for (const auto& a : ExtraServerArgs()) server_argv.push_back(a);
    server_pid_ = Spawn(server_argv, dir_.Sub("server.log"));
    ASSERT_GT(server_pid_, 0);
    ASSERT_TRUE(WaitFor([&] { return fs::exists(server_data_ + "/admin.token"); }, 20s));
    std::string token = bosun::test::Slurp(server_data_ + "/admin.token");
    while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
    state::ClientOptions co;
    co.servers = {api_url_};
    co.token = token;
    client_ = std::move(*state::Client::Create(co));
    ASSERT_TRUE(WaitFor([&] { return client_->List(K("Pod"), "").ok(); }, 30s)) << Log("server.log");
  }

  // More `bosun server` flags (a suite's --repo, shorter node timeouts...).
  virtual std::vector<std::string> ExtraServerArgs() { return {}; }
  // More `bosun node` flags.
  virtual std::vector<std::string> ExtraNodeArgs() { return {}; }

  void TearDown() override {
    for (auto& n : more_nodes_) {
      if (n.pid > 0) Kill(&n.pid, SIGKILL);
      CleanNode(n.data, n.prefix, n.bridge, n.cgroup_parent, true);
    }
    if (node_pid_ > 0) Kill(&node_pid_, SIGKILL);
    CleanNode(node_data_, prefix_, bridge_, cgroup_parent_, true);
    client_.reset();
    if (server_pid_ > 0) Kill(&server_pid_, SIGTERM);
  }

  // Whatever a node's daemon left (a failed test, a crashed node):
  // containers, sandboxes, IPs; with `all`, also its mounts, cgroups and
  // bridge.
  void CleanNode(const std::string& data, const std::string& prefix, const std::string& bridge,
                 const std::string& cgroup_parent, bool all) {
    if (!data.empty() && fs::exists(data + "/run")) {
      RuntimeOptions ro;
      ro.run_dir = data + "/run";
      ro.shim_binary = BOSUN_BINARY;
      ro.cgroup_parent = cgroup_parent;
      if (auto rt = MakeRuncRuntime(ro)) {
        NetworkOptions no;
        no.bridge = bridge;
        no.subnet = prefix + "0/24";
        no.data_dir = data + "/cni";
        auto net = MakeCniNetwork(no);
        if (auto cs = (*rt)->ListContainers()) {
          for (const auto& c : *cs) {
            (void)(*rt)->StopContainer(c.id, 0ms);
            (void)(*rt)->RemoveContainer(c.id);
          }
        }
        if (auto sbs = (*rt)->ListPodSandboxes()) {
          for (const auto& sb : *sbs) {
            if (net) (void)(*net)->Teardown(sb.net_id, sb.netns_path);
            (void)(*rt)->RemovePodSandbox(sb.pod_uid);
          }
        }
      }
      if (all) (void)sandbox::UnmountUnder(data);
    }
    if (!all) return;
    if (!cgroup_parent.empty()) (void)cgroups::RemoveTree("/sys/fs/cgroup", cgroups::Detect(), "/" + cgroup_parent);
    if (!bridge.empty()) RunCommand("ip link del " + bridge + " 2>/dev/null");
  }

  // A free 10.x.y. prefix in this suite's range that no route, address or
  // other node of this test uses.
  std::string PickPrefix() {
    std::string routes = RunCommand("ip -4 route; ip -4 addr").out;
    int pid = getpid();
    for (int i = 0; i < 200; ++i) {
      std::string p = "10." + std::to_string(cidr_first_ + (pid + i * 7) % cidr_span_) + "." +
                      std::to_string((pid / 3 + i) % 250) + ".";
      bool taken = routes.find(p) != std::string::npos || p == prefix_;
      for (const auto& n : more_nodes_) taken = taken || p == n.prefix;
      if (!taken) return p;
    }
    return "";
  }

  pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
    process::DetachedOptions o;
    o.argv = argv;
    o.stdout_path = log;
    o.stderr_path = log;
    auto pid = process::SpawnDetached(o);
    EXPECT_TRUE(pid.ok()) << (pid.ok() ? "" : pid.error().message());
    return pid.ok() ? *pid : -1;
  }

  void Kill(pid_t* pid, int sig) {
    ::kill(*pid, sig);
    int status = 0;
    for (int i = 0; i < 200; ++i) {
      if (waitpid(*pid, &status, WNOHANG) == *pid) break;
      if (i == 150) ::kill(*pid, SIGKILL);
      std::this_thread::sleep_for(50ms);
    }
    *pid = -1;
  }

  void StartNode() {
    std::vector<std::string> argv = {BOSUN_BINARY, "node",     "--server", api_url_,        "--token-file",
                                     server_data_ + "/admin.token", "--name", node_name_, "--data",
                                     node_data_,   "--pod-cidr", prefix_ + "0/24", "--bridge", bridge_,
                                     "--listen",   "127.0.0.1:0", "--cgroup-parent", cgroup_parent_};
    for (const auto& a : ExtraNodeArgs()) argv.push_back(a);
    node_pid_ = Spawn(argv, dir_.Sub("node.log"));
    ASSERT_GT(node_pid_, 0);
  }

  // Node `index`: 0 is the default node; 1, 2… are made on first use (own
  // name, bridge, pod CIDR, data folder with the airgap images, cgroup parent).
  void StartNode(int index) {
    if (index == 0) return StartNode();
    ASSERT_GE(index, 1);
    while (static_cast<int>(more_nodes_.size()) < index) {
      int i = static_cast<int>(more_nodes_.size()) + 1;
      MoreNode n;
      n.name = node_name_ + "-" + std::to_string(i);
      n.bridge = "b" + kind_.substr(0, 1) + tag_.substr(0, 10) + "n" + std::to_string(i);
      n.cgroup_parent = cgroup_parent_ + "-" + std::to_string(i);
      n.prefix = PickPrefix();
      ASSERT_FALSE(n.prefix.empty());
      n.data = dir_.Sub("node" + std::to_string(i));
      fs::create_directories(n.data + "/airgap");
      for (const auto& image : airgap_) fs::copy_file(images_ + "/" + image, n.data + "/airgap/" + image);
      more_nodes_.push_back(n);
    }
    MoreNode& n = more_nodes_[static_cast<size_t>(index - 1)];
    ASSERT_LE(n.pid, 0) << "node " << index << " runs already";
    std::vector<std::string> argv = {BOSUN_BINARY, "node",     "--server", api_url_,       "--token-file",
                                     server_data_ + "/admin.token", "--name", n.name,   "--data",
                                     n.data,       "--pod-cidr", n.prefix + "0/24", "--bridge", n.bridge,
                                     "--listen",   "127.0.0.1:0", "--cgroup-parent", n.cgroup_parent};
    for (const auto& a : ExtraNodeArgs()) argv.push_back(a);
    n.pid = Spawn(argv, dir_.Sub(NodeLog(index)));
    ASSERT_GT(n.pid, 0);
  }

  std::string NodeName(int index) const {
    return index == 0 ? node_name_ : more_nodes_.at(static_cast<size_t>(index - 1)).name;
  }
  std::string NodePrefix(int index) const {
    return index == 0 ? prefix_ : more_nodes_.at(static_cast<size_t>(index - 1)).prefix;
  }
  static std::string NodeLog(int index) { return index == 0 ? "node.log" : "node" + std::to_string(index) + ".log"; }

  // Node `index` dies: its daemon is killed with SIGKILL and its containers
  // and sandboxes are stopped, so its pods stop answering.
  void CrashNode(int index) {
    if (index == 0) {
      if (node_pid_ > 0) Kill(&node_pid_, SIGKILL);
      return CleanNode(node_data_, prefix_, bridge_, cgroup_parent_, false);
    }
    MoreNode& n = more_nodes_.at(static_cast<size_t>(index - 1));
    if (n.pid > 0) Kill(&n.pid, SIGKILL);
    CleanNode(n.data, n.prefix, n.bridge, n.cgroup_parent, false);
  }

  std::string Log(const std::string& name) { return bosun::test::Slurp(dir_.Sub(name)); }

  Json PodStatus(const std::string& name) {
    auto p = client_->Get(K("Pod"), "default", name);
    return p.ok() && p->status().is_object() ? p->status() : Json::object();
  }

  std::unique_ptr<Runtime> ReadRuntime() {
    RuntimeOptions ro;
    ro.run_dir = node_data_ + "/run";
    ro.shim_binary = BOSUN_BINARY;
    ro.cgroup_parent = cgroup_parent_;
    auto rt = MakeRuncRuntime(ro);
    EXPECT_TRUE(rt.ok()) << (rt.ok() ? "" : rt.error().message());
    return rt.ok() ? std::move(*rt) : nullptr;
  }

  std::string kind_;
  int cidr_first_, cidr_span_;
  std::vector<std::string> airgap_;
  bosun::test::TempDir dir_{"bosun-node-cluster"};
  std::string images_, tag_, bridge_, prefix_, cgroup_parent_, node_name_;
  std::string server_data_, node_data_, api_url_;
  pid_t server_pid_ = -1, node_pid_ = -1;
  struct MoreNode {
    std::string name, data, prefix, bridge, cgroup_parent;
    pid_t pid = -1;
  };
  std::vector<MoreNode> more_nodes_;  // nodes 1, 2…
  std::unique_ptr<state::Client> client_;
};

}  // namespace bosun::node::cluster_test
