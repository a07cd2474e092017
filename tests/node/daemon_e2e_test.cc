// Issue 5's node behaviour end to end, as a user sees it through the API and
// the `bosun` CLI (root, real runc, CNI plugins, the test images): a
// `bosun server` and a `bosun node` process per test, pods created through
// the API with spec.nodeName set by hand, and `bosun exec` / `bosun logs`
// run as separate processes against the server. Covered: containers of a
// pod share the network but not PIDs, hostname is the pod name, env from a
// ConfigMap, a secret volume on tmpfs with mode 0400, logs (also of a
// missing container), OOMKilled in the pod status, liveness restarts with
// `logs --previous`, a failing readiness probe keeping Ready False, and
// hostPort reachable on the bridge gateway; two tests of known CLI/client
// bugs skip while the bug shows (see their comments). Everything the test made
// (containers, sandboxes, cgroups, bridge, processes) is removed in TearDown
// even when the test fails. Names, bridge and pod CIDR are unique per pid and
// differ from DaemonReal's (10.100-249.x.0/24 there, 10.20-89.x.0/24 here).
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
    std::this_thread::sleep_for(200ms);
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

// The output of one `bosun` CLI run.
struct Cli {
  int exit_code = -1;
  std::string out, err;
};

class NodeE2E : public ::testing::Test {
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
    bridge_ = "be" + tag_.substr(0, 12);
    cgroup_parent_ = "bosun-ne2e-" + tag_;
    node_name_ = "ne2e-" + tag_;
    std::string routes = RunCommand("ip -4 route; ip -4 addr").out;
    for (int i = 0; i < 200; ++i) {
      std::string p = "10." + std::to_string(20 + (pid + i * 7) % 70) + "." + std::to_string((pid / 3 + i) % 250) + ".";
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
    fs::copy_file(images_ + "/busybox.tar", node_data_ + "/airgap/busybox.tar");

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

    node_pid_ = Spawn({BOSUN_BINARY, "node", "--server", api_url_, "--token-file", server_data_ + "/admin.token",
                       "--name", node_name_, "--data", node_data_, "--pod-cidr", prefix_ + "0/24", "--bridge", bridge_,
                       "--listen", "127.0.0.1:0", "--cgroup-parent", cgroup_parent_},
                      dir_.Sub("node.log"));
    ASSERT_GT(node_pid_, 0);
    ASSERT_TRUE(WaitFor([&] { return client_->Get(K("Node"), "", node_name_).ok(); }, 30s)) << Log("node.log");
  }

  void TearDown() override {
    if (node_pid_ > 0) Kill(&node_pid_, SIGKILL);
    // Whatever the daemon left: containers, sandboxes, IPs, mounts.
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
    }
    if (!node_data_.empty()) (void)sandbox::UnmountUnder(node_data_);
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

  std::string Log(const std::string& name) { return bosun::test::Slurp(dir_.Sub(name)); }

  Json PodStatus(const std::string& name) {
    auto p = client_->Get(K("Pod"), "default", name);
    return p.ok() && p->status().is_object() ? p->status() : Json::object();
  }

  static bool Ready(const Json& st) {
    if (!st.contains("conditions")) return false;
    for (const auto& c : st["conditions"]) {
      if (c["type"] == "Ready") return c["status"] == "True";
    }
    return false;
  }

  void CreatePod(const std::string& name, const Json& spec) {
    Object pod(GroupVersionKind{"", "v1", "Pod"}, "default", name);
    pod.json()["spec"] = spec;
    pod.json()["spec"]["nodeName"] = node_name_;
    auto created = client_->Create(pod);
    ASSERT_TRUE(created.ok()) << created.error().message();
  }

  // A one-container pod "one" (busybox, sleeping).
  void StartSleeper() {
    CreatePod("one", {{"terminationGracePeriodSeconds", 1},
                      {"containers", Json::array({{{"name", "main"},
                                                   {"image", "bosun.test/busybox:1"},
                                                   {"imagePullPolicy", "Never"},
                                                   {"command", Json::array({"sleep", "100000"})}}})}});
  }

  // `bosun VERB --server URL --token-file F ARGS…`. The flags go right after
  // the verb: `bosun exec` takes everything after the pod name as the
  // command (CLI11 positionals_at_end), flags included.
  Cli Bosun(std::vector<std::string> args) {
    std::vector<std::string> argv = {BOSUN_BINARY, args.at(0), "--server", api_url_, "--token-file",
                                     server_data_ + "/admin.token"};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    process::Options o;
    o.argv = argv;
    o.timeout = 60s;
    auto r = process::Run(o);
    if (!r) return Cli{-1, "", r.error().message()};
    return Cli{r->exit_code, r->out, r->err};
  }

  Cli Exec(const std::string& pod, const std::string& container, std::vector<std::string> cmd) {
    // As a user types it: `bosun exec POD -c C -- CMD…`.
    std::vector<std::string> args = {"exec", pod, "-c", container, "--"};
    args.insert(args.end(), cmd.begin(), cmd.end());
    return Bosun(args);
  }

  bosun::test::TempDir dir_{"bosun-node-e2e"};
  std::string images_, tag_, bridge_, prefix_, cgroup_parent_, node_name_;
  std::string server_data_, node_data_, api_url_;
  pid_t server_pid_ = -1, node_pid_ = -1;
  std::unique_ptr<state::Client> client_;
};

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

TEST_F(NodeE2E, TwoContainersShareTheNetworkButNotPids) {
  Object cm(GroupVersionKind{"", "v1", "ConfigMap"}, "default", "greet");
  cm.json()["data"] = {{"greeting", "hello-from-configmap"}};
  ASSERT_TRUE(client_->Create(cm).ok());
  Object secret(GroupVersionKind{"", "v1", "Secret"}, "default", "creds");
  secret.json()["data"] = {{"password", "czNjcjN0LXZhbHVl"}};  // "s3cr3t-value"
  ASSERT_TRUE(client_->Create(secret).ok());

  CreatePod("pair",
            {{"terminationGracePeriodSeconds", 1},
             {"volumes", Json::array({{{"name", "creds"}, {"secret", {{"secretName", "creds"}}}}})},
             {"containers",
              Json::array({{{"name", "web"}, {"image", "bosun.test/web:1"}, {"imagePullPolicy", "Never"}},
                           {{"name", "side"},
                            {"image", "bosun.test/busybox:1"},
                            {"imagePullPolicy", "Never"},
                            {"command", Json::array({"sh", "-c", "echo hello-from-side; exec sleep 100000"})},
                            {"env", Json::array({{{"name", "GREETING"},
                                                  {"valueFrom", {{"configMapKeyRef", {{"name", "greet"}, {"key", "greeting"}}}}}}})},
                            {"volumeMounts", Json::array({{{"name", "creds"}, {"mountPath", "/secret"}}})}}})}});
  ASSERT_TRUE(WaitFor([&] { return PodStatus("pair").value("phase", "") == "Running" && Ready(PodStatus("pair")); }, 60s))
      << PodStatus("pair").dump(2) << "\n" << Log("node.log");

  // Shared network: localhost in "side" reaches httpd in "web" (it may take a moment to listen).
  Cli web;
  ASSERT_TRUE(WaitFor(
      [&] {
        web = Exec("pair", "side", {"wget", "-q", "-O-", "http://127.0.0.1:8080/"});
        return web.out.find("bosun web v1") != std::string::npos;
      },
      15s))
      << "exit " << web.exit_code << " out: " << web.out << " err: " << web.err;

  // Separate PID namespaces: pid 1 is side's sleep, and web's httpd is not visible.
  Cli cmdline = Exec("pair", "side", {"cat", "/proc/1/cmdline"});
  EXPECT_EQ(cmdline.exit_code, 0) << cmdline.err;
  EXPECT_EQ(cmdline.out.rfind("sleep", 0), 0u) << "pid 1 in side: " << cmdline.out;
  Cli ps = Exec("pair", "side", {"ps"});
  EXPECT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_NE(ps.out.find("sleep"), std::string::npos) << ps.out;
  EXPECT_EQ(ps.out.find("httpd"), std::string::npos) << "side sees web's processes:\n" << ps.out;

  Cli host = Exec("pair", "side", {"hostname"});
  EXPECT_EQ(Trim(host.out), "pair") << host.err;

  Cli env = Exec("pair", "side", {"sh", "-c", "echo $GREETING"});
  EXPECT_EQ(Trim(env.out), "hello-from-configmap") << env.err;

  Cli mounts = Exec("pair", "side", {"cat", "/proc/mounts"});
  EXPECT_NE(mounts.out.find(" /secret tmpfs "), std::string::npos) << "/secret is not a tmpfs:\n" << mounts.out;
  Cli pw = Exec("pair", "side", {"cat", "/secret/password"});
  EXPECT_EQ(pw.out, "s3cr3t-value") << pw.err;
  Cli mode = Exec("pair", "side", {"stat", "-L", "-c", "%a", "/secret/password"});
  EXPECT_EQ(Trim(mode.out), "400") << mode.err;

  // A command's exit status comes back through exec.
  EXPECT_EQ(Exec("pair", "side", {"sh", "-c", "exit 7"}).exit_code, 7);

  Cli logs;
  EXPECT_TRUE(WaitFor(
      [&] {
        logs = Bosun({"logs", "pair", "-c", "side"});
        return logs.out.find("hello-from-side") != std::string::npos;
      },
      10s))
      << "exit " << logs.exit_code << " out: " << logs.out << " err: " << logs.err;
  Cli missing = Bosun({"logs", "pair", "-c", "nope"});
  EXPECT_NE(missing.exit_code, 0) << "logs of a container the pod does not have succeeded: " << missing.out;
  EXPECT_NE(missing.err, "") << "no message";
  // Whether the message names the container: LogsOfAMissingContainerNameIt.
}

// The node's 404 for a container the pod does not have names the container
// (details.name), so the client keeps its message instead of saying the pod
// is missing.
TEST_F(NodeE2E, LogsOfAMissingContainerNameIt) {
  StartSleeper();
  ASSERT_TRUE(WaitFor([&] { return PodStatus("one").value("phase", "") == "Running"; }, 60s))
      << PodStatus("one").dump(2) << "\n" << Log("node.log");
  Cli missing = Bosun({"logs", "one", "-c", "nope"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_EQ(missing.err.find("pods \"one\" not found"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << "the message does not name the container: " << missing.err;
}

// `bosun exec POD [flags] -- CMD…`: flags may follow the pod; everything
// after `--` is the command, flags of its own included.
TEST_F(NodeE2E, ExecTakesTheCommandAfterDashDash) {
  StartSleeper();
  ASSERT_TRUE(WaitFor([&] { return PodStatus("one").value("phase", "") == "Running"; }, 60s))
      << PodStatus("one").dump(2) << "\n" << Log("node.log");
  Cli r = Bosun({"exec", "one", "--", "echo", "dash-dash-works"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Trim(r.out), "dash-dash-works") << r.err;
  Cli flags = Bosun({"exec", "one", "-n", "default", "--", "sh", "-c", "echo -n flags-ok; exit 3"});
  EXPECT_EQ(flags.exit_code, 3) << flags.err;
  EXPECT_EQ(flags.out, "flags-ok") << flags.err;
}

TEST_F(NodeE2E, OomKilledIsReportedInPodStatus) {
  CreatePod("hog", {{"restartPolicy", "Never"},
                    {"terminationGracePeriodSeconds", 1},
                    {"containers",
                     Json::array({{{"name", "hog"},
                                   {"image", "bosun.test/busybox:1"},
                                   {"imagePullPolicy", "Never"},
                                   {"command", Json::array({"sh", "-c", "x=a; while true; do x=$x$x; done"})},
                                   {"resources", {{"limits", {{"memory", "16Mi"}}}}}}})}});
  ASSERT_TRUE(WaitFor([&] { return PodStatus("hog").value("phase", "") == "Failed"; }, 60s))
      << PodStatus("hog").dump(2) << "\n" << Log("node.log");
  Json st = PodStatus("hog");
  ASSERT_TRUE(st.contains("containerStatuses")) << st.dump(2);
  const Json& cs = st["containerStatuses"][0];
  ASSERT_TRUE(cs.contains("state") && cs["state"].contains("terminated")) << st.dump(2);
  EXPECT_EQ(cs["state"]["terminated"].value("reason", ""), "OOMKilled") << st.dump(2);
  EXPECT_NE(cs["state"]["terminated"].value("exitCode", 0), 0) << st.dump(2);
  EXPECT_EQ(cs.value("restartCount", -1), 0) << "restartPolicy Never restarted it";
}

TEST_F(NodeE2E, LivenessFailureRestartsTheContainer) {
  CreatePod(
      "flaky",
      {{"terminationGracePeriodSeconds", 1},
       {"containers",
        Json::array({{{"name", "app"},
                      {"image", "bosun.test/busybox:1"},
                      {"imagePullPolicy", "Never"},
                      {"command", Json::array({"sh", "-c",
                                               "touch /tmp/healthy; echo run-started; sleep 2; rm /tmp/healthy; "
                                               "exec sleep 100000"})},
                      {"livenessProbe",
                       {{"exec", {{"command", Json::array({"cat", "/tmp/healthy"})}}},
                        {"periodSeconds", 1},
                        {"failureThreshold", 1}}},
                      // Nothing listens on 9999: never ready.
                      {"readinessProbe", {{"httpGet", {{"path", "/"}, {"port", 9999}}}, {"periodSeconds", 1}}}}})}});
  ASSERT_TRUE(WaitFor(
      [&] {
        Json st = PodStatus("flaky");
        return st.contains("containerStatuses") && st["containerStatuses"][0].value("restartCount", 0) >= 1;
      },
      30s))
      << PodStatus("flaky").dump(2) << "\n" << Log("node.log");
  Json st = PodStatus("flaky");
  EXPECT_FALSE(Ready(st)) << "ready although the readiness probe cannot pass:\n" << st.dump(2);
  EXPECT_FALSE(st["containerStatuses"][0].value("ready", false)) << st.dump(2);
  EXPECT_TRUE(st["containerStatuses"][0].contains("lastState") &&
              st["containerStatuses"][0]["lastState"].contains("terminated"))
      << st.dump(2);

  Cli prev = Bosun({"logs", "flaky", "--previous"});
  EXPECT_EQ(prev.exit_code, 0) << prev.err;
  EXPECT_NE(prev.out.find("run-started"), std::string::npos) << "previous run's log: " << prev.out << prev.err;

  // Still not ready a while later: the conditions do not flap to True.
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(1s);
    EXPECT_FALSE(Ready(PodStatus("flaky"))) << PodStatus("flaky").dump(2);
  }
}

TEST_F(NodeE2E, HostPortReachesThePod) {
  int host_port = bosun::test::FreePort();
  CreatePod("hp", {{"terminationGracePeriodSeconds", 1},
                   {"containers", Json::array({{{"name", "web"},
                                                {"image", "bosun.test/web:1"},
                                                {"imagePullPolicy", "Never"},
                                                {"ports", Json::array({{{"containerPort", 8080}, {"hostPort", host_port}}})},
                                                {"readinessProbe",
                                                 {{"httpGet", {{"path", "/"}, {"port", 8080}}}, {"periodSeconds", 1}}}}})}});
  ASSERT_TRUE(WaitFor([&] { return PodStatus("hp").value("phase", "") == "Running" && Ready(PodStatus("hp")); }, 60s))
      << PodStatus("hp").dump(2) << "\n" << Log("node.log");
  // node/network.h: from the node itself, hostPort answers on the bridge's gateway (.1).
  std::string gateway = prefix_ + "1";
  std::string answer;
  EXPECT_TRUE(WaitFor(
      [&] {
        answer = HttpGet(gateway, host_port);
        return answer.find("bosun web v1") != std::string::npos;
      },
      10s))
      << "GET http://" << gateway << ":" << host_port << "/ answered: " << answer << "\n"
      << RunCommand("iptables-save -t nat | grep -i hostport").out;
}

}  // namespace
}  // namespace bosun::node
