// tests/e2e/up_e2e_fixture.h — the fixture of the end-to-end stories (issue
// 8): a real `bosun up` process (control plane + node daemon running runc
// containers) on a fresh data folder, following a real bare Git remote the
// test makes with the git CLI (a work clone, feature branches merged with
// `git merge --no-ff`, pushed). Needs root, runc, the CNI plugins and the
// example images (scripts/build-example-images); skips without them.
//
// Each test gets its own node name, bridge, pod CIDR (10.130-139.x.0/24),
// cgroup parent, API / Raft / host ports. Stop(SIGINT) is how a user stops
// bosun up; ExpectNothingLeft checks nothing of it is left (processes,
// mounts, cgroups, bridge, hostPort rules). TearDown removes whatever a
// failed run left (containers and sandboxes through the node's runtime,
// processes, mounts, cgroups, the bridge) and the folders.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/kinds.h"
#include "core/process.h"
#include "node/cgroups.h"
#include "node/network.h"
#include "node/runtime.h"
#include "node/sandbox.h"
#include "state/client.h"
#include "tests/test_support.h"

namespace bosun::e2e {

using namespace std::chrono_literals;
using bosun::test::Eventually;
using bosun::test::FreePort;
using bosun::test::Outcome;
using bosun::test::RunCommand;
using bosun::test::TempDir;
namespace fs = std::filesystem;

inline std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}
inline std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}
inline std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }
inline std::string Tail(const std::string& s, size_t n = 6000) { return s.size() > n ? s.substr(s.size() - n) : s; }
inline const KindInfo& K(const char* kind) { return *KindRegistry::Builtin().FindKind(kind); }
inline const KindInfo& RevisionK() { return K("Revision"); }

class UpE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (RunCommand("runc --version").exit_code != 0) GTEST_SKIP() << "needs runc";
    if (!fs::exists("/usr/lib/cni/bridge")) GTEST_SKIP() << "needs containernetworking-plugins";
    if (RunCommand("git --version").exit_code != 0) GTEST_SKIP() << "needs git";
    images_ = "/tmp/bosun-example-images";
    Outcome built = RunCommand(BOSUN_SOURCE_DIR "/scripts/build-example-images " + images_);
    if (built.exit_code != 0) GTEST_SKIP() << "scripts/build-example-images failed: " << built.out;

    std::string tag = std::to_string(getpid());
    bridge_ = "be" + tag.substr(0, 12);
    cgroup_ = "bosun-e2e-" + tag;
    node_ = "e2e-" + tag;
    std::string routes = RunCommand("ip -4 route; ip -4 addr").out;
    for (int i = 0; i < 200 && prefix_.empty(); ++i) {
      std::string p = "10." + std::to_string(130 + (getpid() + i) % 10) + "." +
                      std::to_string((getpid() / 7 + i) % 250) + ".";
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

    remote_ = dir_.Sub("remote.git");
    work_ = dir_.Sub("work");
    ASSERT_EQ(RunCommand("git init -q --bare -b main " + remote_).exit_code, 0);
    ASSERT_EQ(RunCommand("git clone -q " + remote_ + " " + work_).exit_code, 0);
  }

  void TearDown() override {
    if (pid_ > 0) Stop(SIGINT);
    if (data_.empty()) return;
    // Whatever a failed run left: containers and sandboxes, processes,
    // mounts, cgroups, the bridge.
    if (fs::exists(data_ + "/node/run")) {
      node::RuntimeOptions ro;
      ro.run_dir = data_ + "/node/run";
      ro.shim_binary = BOSUN_BINARY;
      ro.cgroup_parent = cgroup_;
      if (auto rt = node::MakeRuncRuntime(ro)) {
        node::NetworkOptions no;
        no.bridge = bridge_;
        no.subnet = prefix_ + "0/24";
        no.data_dir = data_ + "/node/cni";
        auto net = node::MakeCniNetwork(no);
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
    RunCommand("for p in /proc/[0-9]*; do grep -qs '" + DataPattern() + "' $p/cmdline && kill -9 ${p#/proc/}; done");
    (void)node::sandbox::UnmountUnder(data_);
    RunCommand("grep ' " + data_ + "' /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l");
    (void)node::cgroups::RemoveTree("/sys/fs/cgroup", node::cgroups::Detect(), "/" + cgroup_);
    RunCommand("ip link del " + bridge_ + " 2>/dev/null");
  }

  // ---- the Git remote, as a team changes it ----

  Outcome Git(const std::string& args, const std::string& who = "Ada Author <ada@example.com>") {
    std::string name = who.substr(0, who.find(" <"));
    std::string email = who.substr(who.find('<') + 1, who.find('>') - who.find('<') - 1);
    // Exported: `args` may chain more git commands ("checkout main && git merge …").
    return RunCommand("cd " + work_ + " && export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME='" +
                      name + "' GIT_AUTHOR_EMAIL=" + email + " GIT_COMMITTER_NAME='" + name +
                      "' GIT_COMMITTER_EMAIL=" + email + " && git -c commit.gpgsign=false " + args);
  }
  std::string Head(const std::string& rev = "HEAD") { return Trim(Git("rev-parse " + rev).out); }
  std::string Remote(const std::string& args) {
    return Trim(RunCommand("GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git --git-dir=" + remote_ + " " + args)
                    .out);
  }
  // Writes (or, for nullopt, removes) files in the work clone and commits
  // them on the current branch.
  void CommitFiles(const std::map<std::string, std::optional<std::string>>& files, const std::string& subject,
                   const std::string& who) {
    for (const auto& [path, text] : files) {
      fs::path p = fs::path(work_) / path;
      if (text) {
        fs::create_directories(p.parent_path());
        std::ofstream(p) << *text;
        ASSERT_EQ(Git("add " + path).exit_code, 0);
      } else {
        ASSERT_EQ(Git("rm -q " + path).exit_code, 0);
      }
    }
    Outcome c = Git("commit -q -m '" + subject + "'", who);
    ASSERT_EQ(c.exit_code, 0) << c.out;
  }
  // The first commit on main, pushed.
  void PushInitial(const std::map<std::string, std::optional<std::string>>& files) {
    ASSERT_EQ(Git("checkout -q -b main").exit_code, 0);
    CommitFiles(files, "initial system", "Ada Author <ada@example.com>");
    Outcome p = Git("push -q origin main");
    ASSERT_EQ(p.exit_code, 0) << p.out;
  }
  // A change on a feature branch by `author`, merged into main by `merger`
  // (a merge commit, --no-ff) and pushed; the merge commit's id.
  std::string MergeChange(const std::string& branch, const std::map<std::string, std::optional<std::string>>& files,
                          const std::string& subject, const std::string& author, const std::string& merger) {
    Outcome pull = Git("checkout -q main && git pull -q --ff-only origin main");
    EXPECT_EQ(pull.exit_code, 0) << pull.out;
    EXPECT_EQ(Git("checkout -q -b " + branch).exit_code, 0);
    CommitFiles(files, subject, author);
    Outcome m = Git("checkout -q main && git merge -q --no-ff -m 'Merge branch " + branch + "' " + branch, merger);
    EXPECT_EQ(m.exit_code, 0) << m.out;
    Outcome p = Git("push -q origin main");
    EXPECT_EQ(p.exit_code, 0) << p.out;
    return Head("main");
  }

  // ---- bosun up ----

  void Start() {
    process::DetachedOptions o;
    o.argv = {BOSUN_BINARY, "up", "--data", data_, "--repo", "file://" + remote_, "--branch", "main",
              "--fetch-interval", "1s", "--listen", "127.0.0.1:" + std::to_string(port_), "--raft-listen",
              "127.0.0.1:" + std::to_string(raft_port_), "--node-listen", "127.0.0.1:0", "--node-name", node_,
              "--bridge", bridge_, "--pod-cidr", prefix_ + "0/24", "--cgroup-parent", cgroup_, "--stop-grace", "2s"};
    out_ = dir_.Sub("up-" + std::to_string(++starts_) + ".out");
    o.stdout_path = out_;
    o.stderr_path = out_;
    auto pid = process::SpawnDetached(o);
    ASSERT_TRUE(pid.ok()) << pid.error().message();
    pid_ = *pid;
    ASSERT_TRUE(Eventually([&] { return fs::exists(data_ + "/admin.token"); }, 30s, 100ms)) << Diagnose();
    state::ClientOptions co;
    co.servers = {api_};
    co.token = Trim(Slurp(data_ + "/admin.token"));
    co.timeout = 5s;
    auto c = state::Client::Create(co);
    ASSERT_TRUE(c.ok()) << c.error().message();
    client_ = std::move(*c);
    ASSERT_TRUE(Eventually([&] { return client_->List(K("Pod"), "").ok(); }, 30s, 100ms)) << Diagnose();
  }

  // Sends `sig` (SIGINT: Ctrl-C) and waits for the exit status (SIGKILL
  // after 60 s); the exit code, or -1 when it had to be killed.
  int Stop(int sig) {
    client_.reset();
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

  // A grep pattern for the data folder that the shell running the grep does
  // not match itself ("[/]tmp/…").
  std::string DataPattern() const { return "[/]" + data_.substr(1); }

  // What SIGINT must leave behind: nothing of this bosun up.
  void ExpectNothingLeft() {
    std::string procs = RunCommand("grep -ls '" + DataPattern() + "' /proc/[0-9]*/cmdline").out;
    EXPECT_EQ(procs, "") << "processes of this bosun up are still running";
    EXPECT_EQ(Slurp("/proc/self/mountinfo").find(data_), std::string::npos) << "mounts left";
    EXPECT_EQ(RunCommand("find /sys/fs/cgroup -maxdepth 3 -name '" + cgroup_ + "*'").out, "") << "cgroups left";
    EXPECT_FALSE(fs::exists("/sys/class/net/" + bridge_)) << "bridge left";
    EXPECT_EQ(Trim(RunCommand("iptables-save -t nat 2>/dev/null | grep -c -- '--dport " + std::to_string(host_port_) +
                              " '")
                       .out),
              "0")
        << "hostPort rules left";
  }

  // The CLI as a user runs it.
  Outcome Bosun(const std::string& args) {
    return RunCommand("BOSUN_SERVER=" + api_ + " BOSUN_TOKEN_FILE=" + data_ + "/admin.token " BOSUN_BINARY " " + args);
  }
  // `bosun history -o json`'s items, oldest first.
  Json History() {
    Outcome h = RunCommand("(BOSUN_SERVER=" + api_ + " BOSUN_TOKEN_FILE=" + data_ +
                           "/admin.token " BOSUN_BINARY " history -o json 2>/dev/null)");
    if (h.exit_code != 0) return Json::array();
    Json doc = Json::parse(h.out, nullptr, false);
    if (doc.is_discarded() || !doc.contains("items")) return Json::array();
    Json items = doc["items"];
    std::reverse(items.begin(), items.end());
    return items;
  }

  // ---- the cluster ----

  std::optional<Object> RecordOf(const std::string& commit) {
    if (!client_) return std::nullopt;
    auto l = client_->List(RevisionK(), "");
    if (!l) return std::nullopt;
    for (const Object& r : l->items) {
      if (r.json().value("/spec/commit"_json_pointer, "") == commit) return r;
    }
    return std::nullopt;
  }
  std::optional<Object> RevertOf(const std::string& commit) {
    if (!client_) return std::nullopt;
    auto l = client_->List(RevisionK(), "");
    if (!l) return std::nullopt;
    for (const Object& r : l->items) {
      if (r.json().value("/spec/reverts"_json_pointer, "") == commit) return r;
    }
    return std::nullopt;
  }
  std::string PhaseOf(const std::string& commit) {
    auto r = RecordOf(commit);
    return r ? r->json().value("/status/phase"_json_pointer, "") : "";
  }

  static bool Ready(const Object& p) {
    const Json& st = p.status();
    if (!st.is_object() || !st.contains("conditions")) return false;
    for (const auto& c : st["conditions"]) {
      if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
    }
    return false;
  }
  static bool Terminating(const Object& p) {
    return !p.json().value("/metadata/deletionTimestamp"_json_pointer, "").empty();
  }
  // The pods of namespace `ns` whose label app.kubernetes.io/name is `app`.
  std::vector<Object> Pods(const std::string& ns, const std::string& app) {
    std::vector<Object> out;
    if (!client_) return out;
    auto l = client_->List(K("Pod"), ns);
    if (!l) return out;
    for (const Object& p : l->items) {
      if (p.json().value("/metadata/labels/app"_json_pointer, "") == app) out.push_back(p);
    }
    return out;
  }
  static std::string ImageOf(const Object& p) { return p.json().value("/spec/containers/0/image"_json_pointer, ""); }

  std::string HostPortPage() {
    return RunCommand("curl -sf -m 2 http://127.0.0.1:" + std::to_string(host_port_) + "/").out;
  }
  std::string PodPage(const Object& p) {
    std::string ip = p.status().is_object() ? p.status().value("podIP", "") : "";
    if (ip.empty()) return "";
    return RunCommand("curl -sf -m 2 http://" + ip + ":8080/").out;
  }

  std::string Records() {
    std::string out;
    for (const Json& r : History()) {
      out += r.value("/metadata/name"_json_pointer, "") + " " +
             r.value("/spec/commit"_json_pointer, "").substr(0, 7) + " \"" +
             FirstLine(r.value("/spec/message"_json_pointer, "")) + "\" " +
             r.value("/status/phase"_json_pointer, "") + " " + r.value("/status/reason"_json_pointer, "") + ": " +
             r.value("/status/message"_json_pointer, "") + "\n";
    }
    return out;
  }
  std::string Diagnose() {
    return "\nrecords:\n" + Records() + "remote log:\n" + Remote("log --format='%h %p %s' -12 main") +
           "\nbosun up output (tail):\n" + Tail(Slurp(out_), 3000) + "\nbosun.log (tail):\n" +
           Tail(Slurp(data_ + "/bosun.log"));
  }

  TempDir dir_{"bosun-e2e"};
  std::string images_, bridge_, cgroup_, node_, prefix_, data_, api_, out_, remote_, work_;
  int port_ = 0, raft_port_ = 0, host_port_ = 0, starts_ = 0;
  pid_t pid_ = -1;
  std::unique_ptr<state::Client> client_;
};

}  // namespace bosun::e2e
