// Issue 5's node behaviour end to end, as a user sees it through the API and
// the `bosun` CLI (root, real runc, CNI plugins, the test images): a
// `bosun server` and a `bosun node` process per test, pods created through
// the API with spec.nodeName set by hand, and `bosun exec` / `bosun logs`
// run as separate processes against the server. Covered: containers of a
// pod share the network but not PIDs, hostname is the pod name, env from a
// ConfigMap, a secret volume on tmpfs with mode 0400, logs (also of a
// missing container), OOMKilled in the pod status, liveness restarts with
// `logs --previous`, a failing readiness probe keeping Ready False, and
// hostPort reachable on the bridge gateway, `bosun exec POD -c C -- CMD`.
// The fixture (node_cluster_fixture.h) removes everything a test made even
// when it fails; pod CIDRs 10.20-89.x.0/24 here, DaemonReal's 10.100-249.
#include <gtest/gtest.h>

#include "tests/node/node_cluster_fixture.h"

namespace bosun::node {
namespace {

using namespace cluster_test;

// The output of one `bosun` CLI run.
struct Cli {
  int exit_code = -1;
  std::string out, err;
};

class NodeE2E : public NodeCluster {
 protected:
  NodeE2E() : NodeCluster("ne2e", 20, 70, {"busybox.tar", "web.tar"}) {}

  // The node runs as on a full disk: image GC is always under pressure and
  // may take any image at once. The airgap images these tests run are pinned,
  // so every test here also shows that GC leaves them alone.
  std::vector<std::string> ExtraNodeArgs() override {
    return {"--image-gc-high-threshold", "1", "--image-gc-low-threshold", "0", "--image-minimum-gc-age", "0s"};
  }

  void SetUp() override {
    NodeCluster::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    StartNode();
    ASSERT_TRUE(WaitFor([&] { return client_->Get(K("Node"), "", node_name_).ok(); }, 30s)) << Log("node.log");
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
