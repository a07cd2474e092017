// The real runtime, a pod at a time: containers of a pod share the network
// (localhost), IPC and UTS namespaces but not their PID namespaces; a
// container cannot see the host's processes or files; limits are enforced
// (OOM kill reported as such, a fork bomb stops at the pids limit).
#include "tests/node/runtime_fixture.h"

namespace bosun::node::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(RuntimeTest, ContainersOfAPodShareTheNetworkButNotPids) {
  Sandbox sb = MakeSandbox("web");
  auto server = rt_->StartContainer(sb, Container("server", {"httpd", "-f", "-p", "8080", "-h", "/www"}));
  ASSERT_TRUE(server) << server.error().message();
  auto client = rt_->StartContainer(sb, Container("client", {"sleep", "1000"}));
  ASSERT_TRUE(client) << client.error().message();
  ASSERT_EQ(client->state, ContainerState::kRunning);

  ExecResult got = ExecUntil(client->id, {"wget", "-q", "-O", "-", "http://127.0.0.1:8080/index.html"},
                             [](const ExecResult& r) { return r.exit_code == 0; });
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, "hello from the pod\n");

  // Each container is pid 1 of its own PID namespace.
  auto p1 = rt_->Exec(server->id, {"cat", "/proc/1/cmdline"}, 10s);
  auto p2 = rt_->Exec(client->id, {"cat", "/proc/1/cmdline"}, 10s);
  ASSERT_TRUE(p1 && p2);
  EXPECT_EQ(p1->out.substr(0, 5), std::string("httpd"));
  EXPECT_EQ(p2->out.substr(0, 5), std::string("sleep"));
  auto self = rt_->Exec(client->id, {"sh", "-c", "ps -o comm | grep -c '^httpd$'"}, 10s);
  ASSERT_TRUE(self);
  EXPECT_EQ(self->out, "0\n");  // the server's processes are not visible

  // The pod's hostname, in both, and /etc/hosts / /etc/hostname agree.
  for (const auto& id : {server->id, client->id}) {
    auto h = rt_->Exec(id, {"sh", "-c", "hostname; cat /etc/hostname; grep -c web /etc/hosts"}, 10s);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->out, "web\nweb\n1\n");
  }
  // The pod's namespaces are the sandbox's bind-mounted ones, not the host's.
  struct stat host_net, pod_net;
  ASSERT_EQ(::stat("/proc/self/ns/net", &host_net), 0);
  ASSERT_EQ(::stat(("/proc/" + std::to_string(client->pid) + "/ns/net").c_str(), &pod_net), 0);
  struct stat bound;
  ASSERT_EQ(::stat(sb.netns_path.c_str(), &bound), 0);
  EXPECT_NE(host_net.st_ino, pod_net.st_ino);
  EXPECT_EQ(bound.st_ino, pod_net.st_ino);
}

TEST_F(RuntimeTest, AContainerSeesNeitherHostProcessesNorHostFiles) {
  std::string secret = dir_ + "/host-secret";
  std::ofstream(secret) << "do not read\n";
  Sandbox sb = MakeSandbox("iso");
  auto st = rt_->StartContainer(sb, Container("main", {"sleep", "1000"}));
  ASSERT_TRUE(st) << st.error().message();
  auto ps = rt_->Exec(st->id, {"sh", "-c", "ls /proc | grep -c '^[0-9]'"}, 10s);
  ASSERT_TRUE(ps);
  // sleep, sh, grep (ls may have gone): never the host's hundreds.
  EXPECT_LE(std::stoi(ps->out), 4) << ps->out;
  auto mine = rt_->Exec(st->id, {"sh", "-c", "ps -o pid,args"}, 10s);
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->out.find("bosun_node_tests"), std::string::npos) << mine->out;
  auto cat = rt_->Exec(st->id, {"cat", secret}, 10s);
  ASSERT_TRUE(cat);
  EXPECT_NE(cat->exit_code, 0);
  EXPECT_EQ(cat->out.find("do not read"), std::string::npos);
  auto up = rt_->Exec(st->id, {"sh", "-c", "cat /../../../../" + secret + " 2>&1; ls /"}, 10s);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->out.find("do not read"), std::string::npos);
  EXPECT_EQ(up->out.find("layer"), std::string::npos) << up->out;
}

TEST_F(RuntimeTest, OverItsMemoryLimitAContainerIsOomKilled) {
  Sandbox sb = MakeSandbox("oom");
  ContainerConfig c = Container("hog", {"sh", "-c", "x=a; while true; do x=$x$x; done"});
  c.resources.memory_limit_bytes = 16 << 20;
  auto st = rt_->StartContainer(sb, c);
  ASSERT_TRUE(st) << st.error().message();
  ContainerStatus done = WaitExited(st->id, 30s);
  ASSERT_EQ(done.state, ContainerState::kExited);
  EXPECT_EQ(done.exit_code, 137);
  EXPECT_EQ(done.reason, "OOMKilled");
}

TEST_F(RuntimeTest, KilledWithoutOomIsNotReportedAsOom) {
  Sandbox sb = MakeSandbox("notoom");
  ContainerConfig c = Container("main", {"sleep", "1000"});
  c.resources.memory_limit_bytes = 16 << 20;
  auto st = rt_->StartContainer(sb, c);
  ASSERT_TRUE(st) << st.error().message();
  ASSERT_EQ(::kill(st->pid, SIGKILL), 0);
  ContainerStatus done = WaitExited(st->id);
  EXPECT_EQ(done.exit_code, 137);
  EXPECT_EQ(done.reason, "Error");
}

TEST_F(RuntimeTest, AForkBombStopsAtThePidsLimit) {
  Sandbox sb = MakeSandbox("bomb");
  // The shell execs sleep instead of forking it: once the bomb holds every
  // pid, a fork of sleep fails and the shell (the container's init) would
  // exit, taking the cgroup with it (seen under ctest -j2: no pids.events).
  ContainerConfig c = Container("bomb", {"sh", "-c", "b() { b | b & }; b & exec sleep 1000"});
  c.resources.pids_limit = 32;
  auto st = rt_->StartContainer(sb, c);
  ASSERT_TRUE(st) << st.error().message();
  const std::string cg = "/sys/fs/cgroup/pids/" + parent_ + "/pod-" + sb.pod_uid + "/" + st->id;
  ASSERT_EQ(cgroups::Detect(), cgroups::Version::kV1) << "this test reads cgroup v1 files";
  // The bomb reaches the limit and the kernel refuses forks beyond it.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string events;
  while (std::chrono::steady_clock::now() < deadline) {
    events = ReadAll(cg + "/pids.events");
    if (events.find("max 0") == std::string::npos && !events.empty()) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(!events.empty() && events.find("max 0") == std::string::npos) << events;
  for (int i = 0; i < 20; ++i) {
    int current = std::stoi(ReadAll(cg + "/pids.current"));
    EXPECT_LE(current, 32);
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(ReadAll(cg + "/pids.max"), "32\n");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(rt_->StopContainer(st->id, 0ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

}  // namespace
}  // namespace bosun::node::testing
