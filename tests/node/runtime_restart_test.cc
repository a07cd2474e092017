// The real runtime across a daemon restart (a new Runtime object on the same
// run dir re-adopts running containers and reports exits that happened in
// between), and the cleanup of a removed sandbox.
#include "tests/node/runtime_fixture.h"

namespace bosun::node::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(RuntimeTest, ANewRuntimeReadoptsRunningContainersAndSeesLaterExits) {
  Sandbox sb = MakeSandbox("restart");
  auto st = rt_->StartContainer(sb, Container("main", {"sleep", "1000"}));
  ASSERT_TRUE(st) << st.error().message();
  ASSERT_EQ(st->state, ContainerState::kRunning);

  rt_.reset();  // the daemon goes away; the shim and the container stay
  NewRuntime();
  auto list = rt_->ListContainers();
  ASSERT_TRUE(list) << list.error().message();
  ASSERT_EQ(list->size(), 1u);
  const ContainerStatus& again = (*list)[0];
  EXPECT_EQ(again.id, st->id);
  EXPECT_EQ(again.state, ContainerState::kRunning);
  EXPECT_EQ(again.pid, st->pid);
  EXPECT_EQ(again.started_at, st->started_at);
  EXPECT_EQ(again.pod_uid, sb.pod_uid);
  EXPECT_EQ(again.name, "main");
  auto sandboxes = rt_->ListPodSandboxes();
  ASSERT_TRUE(sandboxes);
  ASSERT_EQ(sandboxes->size(), 1u);
  EXPECT_EQ((*sandboxes)[0].netns_path, sb.netns_path);

  // Killed from outside while no runtime watches: the shim records it.
  rt_.reset();
  ASSERT_EQ(::kill(st->pid, SIGKILL), 0);
  std::this_thread::sleep_for(50ms);
  NewRuntime();
  ContainerStatus done = WaitExited(st->id);
  ASSERT_EQ(done.state, ContainerState::kExited);
  EXPECT_EQ(done.exit_code, 137);
  EXPECT_GT(done.finished_at, done.started_at);
  EXPECT_LT(std::chrono::system_clock::now() - done.finished_at, 10s);
}

TEST_F(RuntimeTest, RemovingASandboxLeavesNothingBehind) {
  Sandbox sb = MakeSandbox("gone");
  auto a = rt_->StartContainer(sb, Container("a", {"sleep", "1000"}));
  ASSERT_TRUE(a) << a.error().message();
  auto b = rt_->StartContainer(sb, Container("b", {"sh", "-c", "sleep 1000 & sleep 1000"}));
  ASSERT_TRUE(b) << b.error().message();
  int pid_a = a->pid, pid_b = b->pid;
  ASSERT_FALSE(sandbox::MountsUnder(dir_ + "/run").empty());

  ASSERT_TRUE(rt_->RemovePodSandbox(sb.pod_uid));
  // Only the runtime's own tmpfs stays (it outlives pods and daemons).
  EXPECT_EQ(sandbox::MountsUnder(dir_ + "/run"), std::vector<std::string>{dir_ + "/run/secure"});
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/run/secure/bundles/" + a->id)) << "the container's spec is left";
  EXPECT_FALSE(std::filesystem::exists(sb.dir));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/run/containers/" + a->id));
  for (const char* ctrl : {"cpu", "cpuacct", "memory", "pids", "freezer", "devices", "blkio", "cpuset", "systemd"}) {
    EXPECT_FALSE(std::filesystem::exists(std::string("/sys/fs/cgroup/") + ctrl + "/" + parent_ + "/pod-" + sb.pod_uid))
        << ctrl;
  }
  std::error_code ec;
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/run/secure/runc", ec));
  auto runc_list = RunCmd({"runc", "--root", dir_ + "/run/secure/runc", "list", "-q"});
  ASSERT_TRUE(runc_list);
  EXPECT_EQ(runc_list->out, "");
  auto gone = [](int pid) {
    for (int i = 0; i < 200 && process::Alive(pid); ++i) std::this_thread::sleep_for(10ms);
    return !process::Alive(pid);
  };
  EXPECT_TRUE(gone(pid_a));
  EXPECT_TRUE(gone(pid_b));
  auto list = rt_->ListContainers();
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
  // Idempotent.
  EXPECT_TRUE(rt_->RemovePodSandbox(sb.pod_uid));
}

TEST_F(RuntimeTest, RunPodSandboxIsIdempotent) {
  SandboxConfig c = PodConfig("same");
  auto first = rt_->RunPodSandbox(c);
  ASSERT_TRUE(first) << first.error().message();
  auto second = rt_->RunPodSandbox(c);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(first->netns_path, second->netns_path);
  struct stat s1, s2;
  ASSERT_EQ(::stat(first->netns_path.c_str(), &s1), 0);
  ASSERT_EQ(::stat(second->netns_path.c_str(), &s2), 0);
  EXPECT_EQ(s1.st_ino, s2.st_ino);
  // The loopback interface is up in the pod's network namespace.
  auto lo = RunCmd({"nsenter", "--net=" + first->netns_path, "ip", "-o", "link", "show", "lo"});
  ASSERT_TRUE(lo);
  EXPECT_NE(lo->out.find("UP"), std::string::npos) << lo->out;
}

}  // namespace
}  // namespace bosun::node::testing
