// `bosun up` as a user runs it (root, runc, the CNI plugins, umoci): the real
// binary on a fresh data folder with a small example repository (--examples),
// the example images in its airgap folder. It checks the start-up banner and
// phases, the API, the Node, the pods running, a commit pushed to the clone
// deployed through the push hook, that SIGINT leaves nothing of its own behind
// (processes, mounts, cgroups, bridge, hostPort rules), and that a restart on
// the same folder resumes (same token, same repository, no new revision).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/process.h"
#include "tests/test_support.h"

namespace {

using bosun::test::Eventually;
using bosun::test::FreePort;
using bosun::test::Outcome;
using bosun::test::RunCommand;
using bosun::test::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A small repository: a namespace, a Deployment of 2 web pods with a readiness
// probe, and one pod holding a host port.
constexpr const char* kNamespace =
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: upt\n";
std::string Hello(const std::string& version) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\n  namespace: upt\nspec:\n  replicas: 2\n"
         "  selector:\n    matchLabels: {app: hello}\n  template:\n    metadata:\n      labels: {app: hello}\n"
         "    spec:\n      terminationGracePeriodSeconds: 2\n      containers:\n        - name: web\n"
         "          image: bosun.local/examples/web:" + version + "\n"
         "          env: [{name: APP_VERSION, value: \"" + version + "\"}]\n"
         "          ports: [{containerPort: 8080}]\n"
         "          readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}\n";
}
std::string Edge(int host_port) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: edge\n  namespace: upt\nspec:\n  replicas: 1\n"
         "  strategy: {type: Recreate}\n  selector:\n    matchLabels: {app: edge}\n  template:\n    metadata:\n"
         "      labels: {app: edge}\n    spec:\n      terminationGracePeriodSeconds: 2\n      containers:\n"
         "        - name: web\n          image: bosun.local/examples/web:1.0\n"
         "          ports: [{containerPort: 8080, hostPort: " + std::to_string(host_port) + "}]\n";
}

class UpCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (RunCommand("runc --version").exit_code != 0) GTEST_SKIP() << "needs runc";
    if (!fs::exists("/usr/lib/cni/bridge")) GTEST_SKIP() << "needs containernetworking-plugins";
    // The example images, built once (the script is idempotent and locks).
    images_ = "/tmp/bosun-example-images";
    Outcome built = RunCommand(BOSUN_SOURCE_DIR "/scripts/build-example-images " + images_);
    if (built.exit_code != 0) GTEST_SKIP() << "scripts/build-example-images failed: " << built.out;

    std::string tag = std::to_string(getpid());
    bridge_ = "bu" + tag.substr(0, 12);
    cgroup_ = "bosun-up-test-" + tag;
    node_ = "up-" + tag;
    std::string routes = RunCommand("ip -4 route; ip -4 addr").out;
    for (int i = 0; i < 200 && prefix_.empty(); ++i) {
      std::string p = "10." + std::to_string(120 + (getpid() + i) % 10) + "." + std::to_string((getpid() / 7 + i) % 250) + ".";
      if (routes.find(p) == std::string::npos) prefix_ = p;
    }
    ASSERT_FALSE(prefix_.empty());
    data_ = dir_.Sub("data");
    port_ = FreePort();
    raft_port_ = FreePort();
    host_port_ = FreePort();
    api_ = "http://127.0.0.1:" + std::to_string(port_);
    fs::create_directories(data_ + "/node/airgap");
    fs::copy_file(images_ + "/examples.tar", data_ + "/node/airgap/examples.tar");
    examples_ = dir_.Sub("examples");
    dir_.Write("examples/upt/namespace.yaml", kNamespace);
    dir_.Write("examples/upt/hello.yaml", Hello("1.0"));
    dir_.Write("examples/upt/edge.yaml", Edge(host_port_));
  }

  void TearDown() override {
    if (pid_ > 0) Stop(SIGTERM);
    // Whatever a failed run left: its processes, mounts, cgroups, bridge.
    if (!data_.empty()) {
      RunCommand("for p in /proc/[0-9]*; do grep -qs '" + Pattern() + "' $p/cmdline && kill -9 ${p#/proc/}; done");
      RunCommand("grep ' " + data_ + "' /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l");
      RunCommand("find /sys/fs/cgroup -depth -type d -path '*/" + cgroup_ + "*' -exec rmdir {} \\; 2>/dev/null");
      RunCommand("ip link del " + bridge_ + " 2>/dev/null");
    }
  }

  void Start(const std::vector<std::string>& more = {}) {
    bosun::process::DetachedOptions o;
    o.argv = {BOSUN_BINARY, "up", "--data", data_, "--examples", examples_,
              "--listen", "127.0.0.1:" + std::to_string(port_), "--raft-listen", "127.0.0.1:" + std::to_string(raft_port_),
              "--node-listen", "127.0.0.1:0", "--node-name", node_, "--bridge", bridge_, "--pod-cidr", prefix_ + "0/24",
              "--cgroup-parent", cgroup_, "--stop-grace", "2s"};
    o.argv.insert(o.argv.end(), more.begin(), more.end());
    out_ = dir_.Sub("up-" + std::to_string(++starts_) + ".out");
    o.stdout_path = out_;
    o.stderr_path = out_;
    auto pid = bosun::process::SpawnDetached(o);
    ASSERT_TRUE(pid.ok());
    pid_ = *pid;
  }

  // Sends `sig` and waits for the exit status (SIGKILL after 60 s).
  int Stop(int sig) {
    ::kill(pid_, sig);
    int status = 0;
    bool exited = Eventually([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, 60s, 50ms);
    if (!exited) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    return exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string Output() const { return Slurp(out_); }
  // A grep pattern for the data folder that does not match the grep (or its
  // shell) itself: "[/]tmp/…".
  std::string Pattern() const { return "[" + data_.substr(0, 1) + "]" + data_.substr(1); }
  bool Printed(const std::string& text, std::chrono::milliseconds limit) {
    return Eventually([&] { return Output().find(text) != std::string::npos; }, limit, 100ms);
  }
  Outcome Bosun(const std::string& args) {
    return RunCommand("BOSUN_SERVER=" + api_ + " BOSUN_TOKEN_FILE=" + data_ + "/admin.token " BOSUN_BINARY " " + args);
  }
  Outcome Git(const std::string& args) { return RunCommand("git -C " + data_ + "/repo " + args); }
  int HostPortRules() {
    return std::stoi("0" + RunCommand("iptables-save -t nat 2>/dev/null | grep -c -- '--dport " +
                                      std::to_string(host_port_) + " '").out);
  }

  // What SIGINT must leave behind: nothing of this bosun up.
  void ExpectNothingLeft() {
    std::string procs = RunCommand("grep -ls '" + Pattern() + "' /proc/[0-9]*/cmdline").out;
    EXPECT_EQ(procs, "") << "processes of this bosun up are still running";
    EXPECT_THAT(Slurp("/proc/self/mountinfo"), Not(HasSubstr(data_))) << "mounts left";
    EXPECT_EQ(RunCommand("find /sys/fs/cgroup -maxdepth 2 -name '" + cgroup_ + "*'").out, "") << "cgroups left";
    EXPECT_FALSE(fs::exists("/sys/class/net/" + bridge_)) << "bridge left";
    EXPECT_EQ(HostPortRules(), 0) << "hostPort rules left";
    EXPECT_TRUE(fs::exists(data_ + "/node/run")) << "the node's folder is kept for the restart";
  }

  TempDir dir_{"bosun-up"};
  std::string images_, bridge_, cgroup_, node_, prefix_, data_, examples_, api_, out_;
  int port_ = 0, raft_port_ = 0, host_port_ = 0, starts_ = 0;
  pid_t pid_ = -1;
};

TEST_F(UpCli, RunsTheRepositoryAndStopsCleanAndResumes) {
  Start();
  ASSERT_TRUE(Printed("pods ready 3/3", 120s)) << Output() << Slurp(data_ + "/bosun.log");
  std::string out = Output();
  // The banner: where the API and token are, how to use the CLI, what it follows.
  EXPECT_THAT(out, HasSubstr("API:          " + api_));
  EXPECT_THAT(out, HasSubstr("admin token:  " + data_ + "/admin.token"));
  EXPECT_THAT(out, HasSubstr("export BOSUN_SERVER=" + api_ + " BOSUN_TOKEN_FILE=" + data_ + "/admin.token"));
  EXPECT_THAT(out, HasSubstr("following:    " + data_ + "/origin.git (ref main"));
  EXPECT_THAT(out, HasSubstr("made from " + examples_));
  // The phases, in order.
  size_t store = out.find("] store ready"), images = out.find("] images imported: 3 ("),
         node = out.find("] node registered: " + node_), applied = out.find("] first revision applied: revision 1");
  ASSERT_NE(store, std::string::npos) << out;
  ASSERT_NE(images, std::string::npos) << out;
  ASSERT_NE(node, std::string::npos) << out;
  ASSERT_NE(applied, std::string::npos) << out;
  EXPECT_LT(store, images);
  EXPECT_LT(images, node);

  // The API serves, with the admin token; the node registered with its own token.
  Outcome nodes = Bosun("get nodes");
  EXPECT_THAT(nodes.out, ::testing::ContainsRegex(node_ + " +Ready"));
  EXPECT_THAT(Slurp(data_ + "/server/tokens"), HasSubstr("system:nodes"));
  EXPECT_TRUE(fs::exists(data_ + "/server/node-token"));
  Outcome pods = Bosun("get pods -n upt -o wide");
  EXPECT_THAT(pods.out, ::testing::ContainsRegex("hello-[a-z0-9-]+ +1/1 +Running"));
  EXPECT_GT(HostPortRules(), 0) << "the edge pod's host port is mapped";
  EXPECT_TRUE(Eventually([&] {
    return RunCommand("curl -sf -m 2 http://127.0.0.1:" + std::to_string(host_port_) + "/").out.find("bosun example") !=
           std::string::npos;
  }, 20s, 200ms)) << "the page through the host port";

  // The user's clone: commit, push — the hook asks for a sync at once.
  ASSERT_EQ(RunCommand("sed -i 's/web:1.0/web:1.1/; s/\"1.0\"/\"1.1\"/' " + data_ + "/repo/upt/hello.yaml").exit_code, 0);
  ASSERT_EQ(Git("commit -qam 'hello 1.1'").exit_code, 0);
  Outcome push = Git("push -q origin main");
  ASSERT_EQ(push.exit_code, 0) << push.out;
  EXPECT_THAT(push.out, HasSubstr("bosun: sync requested"));
  EXPECT_TRUE(Printed("revision 2 (", 10s)) << Output();
  EXPECT_TRUE(Eventually([&] {
    return Bosun("get pods -n upt -o yaml").out.find("bosun.local/examples/web:1.1") != std::string::npos &&
           Output().rfind("pods ready 3/3") > Output().find("revision 2 (");
  }, 60s, 250ms)) << Output();

  // Ctrl-C: every pod and the network go; the control plane stops.
  EXPECT_EQ(Stop(SIGINT), 0) << Output();
  // How to start it again: the same flags (they are not saved in DATA).
  EXPECT_THAT(Output(), HasSubstr("stopped; `bosun up --data " + data_ + " --examples " + examples_));
  EXPECT_THAT(Output(), HasSubstr("--bridge " + bridge_ + " --pod-cidr " + prefix_ + "0/24"));
  EXPECT_THAT(Output(), HasSubstr(" --stop-grace 2s` resumes"));
  ExpectNothingLeft();
  std::string token = Slurp(data_ + "/admin.token");

  // Again on the same folder: the same token and repository, the store as it
  // was (no new revision for the same commit), the pods back.
  Start();
  ASSERT_TRUE(Printed("pods ready 3/3", 120s)) << Output() << Slurp(data_ + "/bosun.log");
  EXPECT_THAT(Output(), Not(HasSubstr("made from")));
  EXPECT_TRUE(Printed("] live revision: revision 2", 30s)) << Output();
  EXPECT_THAT(Output(), Not(HasSubstr("first revision applied")));
  EXPECT_EQ(Slurp(data_ + "/admin.token"), token);
  // Revision 2 is judged again by its pods (they stay up --healthy-after,
  // 10s, first).
  Outcome history;
  EXPECT_TRUE(Eventually(
      [&] {
        history = Bosun("history");
        return std::regex_search(history.out, std::regex("\n2 +[0-9a-f]{7} .*Healthy"));
      },
      40s, 500ms))
      << history.out;
  EXPECT_THAT(history.out, Not(::testing::ContainsRegex("\n3 ")));
  EXPECT_THAT(Bosun("get pods -n upt -o yaml").out, HasSubstr("bosun.local/examples/web:1.1"));
  // A push while syncing is suspended: the pusher is told, not left to
  // wonder why nothing happens.
  ASSERT_EQ(Bosun("suspend --reason 'incident 7'").exit_code, 0);
  ASSERT_EQ(Git("commit -q --allow-empty -m 'while suspended'").exit_code, 0);
  Outcome held = Git("push -q origin main");
  ASSERT_EQ(held.exit_code, 0) << held.out;
  EXPECT_THAT(held.out, HasSubstr("syncing is suspended"));
  EXPECT_THAT(held.out, HasSubstr("incident 7"));
  EXPECT_EQ(Stop(SIGTERM), 0) << Output();
  ExpectNothingLeft();
}

// A repository that cannot be fetched is said on the console (not only in
// `bosun status` and the log), and so is its coming back.
TEST_F(UpCli, SaysWhenTheRepositoryCannotBeFetched) {
  const std::string remote = dir_.Sub("later.git");
  Start({"--repo", "file://" + remote, "--branch", "main", "--fetch-interval", "1s"});
  ASSERT_TRUE(Printed("fetch: ", 60s)) << Output();
  EXPECT_THAT(Output(), HasSubstr("(retried every 1s; `bosun status` shows the last attempt)"));
  const std::string work = dir_.Sub("later-work");
  ASSERT_EQ(RunCommand("git init -q --bare -b main " + remote + " && git init -q -b main " + work + " && cd " + work +
                       " && printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: x}\\n' > cm.yaml && "
                       "git add cm.yaml && git -c user.name=t -c user.email=t@e -c commit.gpgsign=false commit -qm "
                       "one && git push -q " +
                       remote + " main")
                .exit_code,
            0);
  EXPECT_TRUE(Printed("fetch: the repository answers again", 30s)) << Output();
  EXPECT_TRUE(Printed("revision 1 (", 30s)) << Output();
  EXPECT_EQ(Stop(SIGINT), 0) << Output();
  ExpectNothingLeft();
}

TEST_F(UpCli, RefusesToStartWithoutTheExamples) {
  Outcome r = RunCommand(std::string(BOSUN_BINARY) + " up --data " + data_ + " --examples " + dir_.Sub("nothing") +
                         " --listen 127.0.0.1:" + std::to_string(port_) + " --log-file -");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("--examples " + dir_.Sub("nothing") + " is not a folder"));
  EXPECT_FALSE(fs::exists(data_ + "/origin.git"));
}

}  // namespace
