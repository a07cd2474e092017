// The node daemon end to end, as a user runs it (root, real runc, CNI
// plugins, the test images): a `bosun server` and a `bosun node` process; a
// Pod created through the API with spec.nodeName set by hand runs, becomes
// Running and Ready with a pod IP that answers HTTP from the host; the
// daemon is killed with SIGKILL and started again and the container keeps
// running untouched; the deleted pod leaves no container, sandbox, cgroup or
// veth behind. Everything the test made is removed even when it fails.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <gtest/gtest.h>

#include "core/kinds.h"
#include "core/process.h"
#include "node/cgroups.h"
#include "node/network.h"
#include "node/runtime.h"
#include "node/sandbox.h"
#include "state/client.h"
#include "tests/node/image_test_support.h"

namespace bosun::node {
namespace {

using namespace std::chrono_literals;
using bosun::test::RunCommand;
namespace fs = std::filesystem;

const KindInfo& K(const char* kind) { return *KindRegistry::Builtin().FindKind(kind); }

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return cond();
}

// GET / from ip:port over a plain socket; the whole answer, or "".
std::string HttpGet(const std::string& ip, int port) {
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

class DaemonReal : public ::testing::Test {
 protected:
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
    bridge_ = "bd" + tag_.substr(0, 12);
    cgroup_parent_ = "bosun-e2e-" + tag_;
    node_name_ = "e2e-" + tag_;
    std::string routes = RunCommand("ip -4 route; ip -4 addr").out;
    for (int i = 0; i < 200; ++i) {
      std::string p = "10." + std::to_string(100 + (pid + i * 7) % 150) + "." + std::to_string((pid / 3 + i) % 250) + ".";
      if (routes.find(p) == std::string::npos) {
        prefix_ = p;
        break;
      }
    }
    ASSERT_FALSE(prefix_.empty());
    server_data_ = dir_.Sub("server");
    node_data_ = dir_.Sub("node");
    fs::create_directories(node_data_ + "/airgap");
    fs::copy_file(images_ + "/web.tar", node_data_ + "/airgap/web.tar");

    int api_port = bosun::test::FreePort();
    api_url_ = "http://127.0.0.1:" + std::to_string(api_port);
    server_pid_ = Spawn({BOSUN_BINARY, "server", "--data", server_data_, "--listen", "127.0.0.1:" + std::to_string(api_port),
                         "--raft-listen", "127.0.0.1:" + std::to_string(bosun::test::FreePort())},
                        dir_.Sub("server.log"));
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

  void TearDown() override {
    if (node_pid_ > 0) Kill(&node_pid_, SIGKILL);
    // Whatever the daemon left (a failed test): containers, sandboxes, IPs.
    if (!node_data_.empty() && fs::exists(node_data_ + "/run")) {
      RuntimeOptions ro;
      ro.run_dir = node_data_ + "/run";
      ro.shim_binary = BOSUN_BINARY;
      ro.cgroup_parent = cgroup_parent_;
      if (auto rt = MakeRuncRuntime(ro)) {
        NetworkOptions no;
        no.bridge = bridge_;
        no.subnet = prefix_ + "0/24";
        no.data_dir = node_data_ + "/cni";
        auto net = MakeCniNetwork(no);
        if (auto cs = (*rt)->ListContainers()) {
          for (const auto& c : *cs) {
            (void)(*rt)->StopContainer(c.id, 0ms);
            (void)(*rt)->RemoveContainer(c.id);
          }
        }
        if (auto sbs = (*rt)->ListPodSandboxes()) {
          for (const auto& sb : *sbs) {
            if (net) (void)(*net)->Teardown(sb.pod_uid, sb.netns_path);
            (void)(*rt)->RemovePodSandbox(sb.pod_uid);
          }
        }
      }
      (void)sandbox::UnmountUnder(node_data_);
    }
    if (!cgroup_parent_.empty()) (void)cgroups::RemoveTree("/sys/fs/cgroup", cgroups::Detect(), "/" + cgroup_parent_);
    if (!bridge_.empty()) RunCommand("ip link del " + bridge_ + " 2>/dev/null");
    client_.reset();
    if (server_pid_ > 0) Kill(&server_pid_, SIGTERM);
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
    node_pid_ = Spawn({BOSUN_BINARY, "node", "--server", api_url_, "--token-file", server_data_ + "/admin.token",
                       "--name", node_name_, "--data", node_data_, "--pod-cidr", prefix_ + "0/24", "--bridge", bridge_,
                       "--listen", "127.0.0.1:0", "--cgroup-parent", cgroup_parent_},
                      dir_.Sub("node.log"));
    ASSERT_GT(node_pid_, 0);
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

  bosun::test::TempDir dir_{"bosun-daemon-e2e"};
  std::string images_, tag_, bridge_, prefix_, cgroup_parent_, node_name_;
  std::string server_data_, node_data_, api_url_;
  pid_t server_pid_ = -1, node_pid_ = -1;
  std::unique_ptr<state::Client> client_;
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
        return cs.ok() && cs->empty() && sbs.ok() && sbs->empty();
      },
      30s))
      << Log("node.log");
  EXPECT_FALSE(process::Alive(pid)) << "the container's process survived its pod";
  EXPECT_EQ(RunCommand("ip -o link show master " + bridge_ + " 2>/dev/null").out, "") << "a veth is left on the bridge";
  EXPECT_EQ(RunCommand("find /sys/fs/cgroup/ -maxdepth 4 -path '*" + cgroup_parent_ + "*' -name '*" + uid + "*'").out,
            "")
      << "a cgroup of the pod is left";
  EXPECT_TRUE(HttpGet(ip, 8080).empty());
}

}  // namespace
}  // namespace bosun::node
