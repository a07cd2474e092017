// The real runtime across a daemon restart (a new Runtime object on the same
// run dir re-adopts running containers and reports exits that happened in
// between), across a reboot (an empty run dir), where its state and the
// containers' layers live, and the cleanup of a removed sandbox.
#include <algorithm>

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "node/shim.h"
#include "tests/node/runtime_fixture.h"
#include "tests/test_support.h"

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

// The daemon's listening sockets (Boost.Asio opens them without
// close-on-exec) must not live on in the shims, the zygote that forks them,
// runc or the container: after `kill -9` of the daemon they would keep its
// ports, and the same command could not start again.
TEST_F(RuntimeTest, TheShimsDoNotHoldTheDaemonsSockets) {
  NewRuntime();  // the zygote starts at the first container, with this socket open
  // Above the few descriptors a child sets up (a daemon has many open).
  bosun::test::HeldPort held(1, /*inheritable=*/true, /*min_fd=*/40);
  struct stat self {};
  ASSERT_EQ(::fstat(held.fd(), &self), 0);
  const std::string link = "socket:[" + std::to_string(self.st_ino) + "]";

  Sandbox sb = MakeSandbox("fds");
  auto st = rt_->StartContainer(sb, Container("main", {"sleep", "1000"}));
  ASSERT_TRUE(st) << st.error().message();
  std::vector<std::string> holders;
  for (const auto& proc : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = proc.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid == std::to_string(::getpid())) continue;
    std::error_code ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", ec)) {
      std::error_code lec;
      if (std::filesystem::read_symlink(fd.path(), lec).string() == link) {
        std::ifstream comm(proc.path() / "cmdline");
        std::string cmd((std::istreambuf_iterator<char>(comm)), std::istreambuf_iterator<char>());
        std::replace(cmd.begin(), cmd.end(), '\0', ' ');
        holders.push_back(pid + ": " + cmd);
      }
    }
  }
  std::string who;
  for (const std::string& h : holders) who += "\n  " + h;
  EXPECT_TRUE(holders.empty()) << "processes holding the daemon's socket:" << who;
}

// The shim killed while its container runs: Inspect says so (Unknown, not
// running), and StopContainer still ends the container, which is then an
// exit the pod worker restarts.
TEST_F(RuntimeTest, AContainerWhoseShimWasKilledCanBeStopped) {
  Sandbox sb = MakeSandbox("noshim");
  auto st = rt_->StartContainer(sb, Container("main", {"sleep", "1000"}));
  ASSERT_TRUE(st) << st.error().message();
  auto shim = ReadShimState(dir_ + "/run/containers/" + st->id);
  ASSERT_TRUE(shim) << shim.error().message();
  ASSERT_GT(shim->shim_pid, 0);
  ASSERT_EQ(::kill(shim->shim_pid, SIGKILL), 0);
  ContainerStatus unknown = WaitFor(
      st->id, [](const ContainerStatus& s) { return s.state == ContainerState::kUnknown; }, 10s);
  ASSERT_EQ(unknown.state, ContainerState::kUnknown) << "the container did not show as unwatched";
  EXPECT_TRUE(ProcessStartTime(st->pid).has_value()) << "the container should still run";
  ASSERT_TRUE(rt_->StopContainer(st->id, 0ms));
  auto after = rt_->Inspect(st->id);
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_EQ(after->state, ContainerState::kExited);
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = !ProcessStartTime(st->pid).has_value();  // a zombie nobody reaps counts as gone
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone) << "the container still runs";
  ASSERT_TRUE(rt_->RemoveContainer(st->id));
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
  EXPECT_EQ(sandbox::MountsUnder(dir_ + "/run"), std::vector<std::string>{dir_ + "/run"});
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/run/secure/bundles/" + a->id)) << "the container's spec is left";
  EXPECT_FALSE(std::filesystem::exists(sb.dir));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/run/containers/" + a->id));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/storage/containers/" + a->id)) << "the writable layer is left";
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/storage/logs/" + sb.pod_uid)) << "the logs are left";
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

TEST_F(RuntimeTest, StateIsOnATmpfsAndAContainersWritesAndLogsAreOnDisk) {
  auto on_tmpfs = [](const std::string& p) {
    struct statfs st;
    return ::statfs(p.c_str(), &st) == 0 && static_cast<unsigned long>(st.f_type) == static_cast<unsigned long>(TMPFS_MAGIC);
  };
  EXPECT_TRUE(on_tmpfs(dir_ + "/run")) << "the run dir is not a tmpfs";
  Sandbox sb = MakeSandbox("where");
  auto c = rt_->StartContainer(sb, Container("app", {"sh", "-c", "echo to-the-log; echo written > /tmp/file; sleep 1000"}));
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_EQ(WaitFor(c->id, [](const ContainerStatus& s) { return s.state == ContainerState::kRunning; }).state,
            ContainerState::kRunning);
  const std::string upper_file = dir_ + "/storage/containers/" + c->id + "/upper/tmp/file";
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!std::filesystem::exists(upper_file) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(std::filesystem::exists(upper_file)) << "the container's write is not in its layer on disk";
  EXPECT_FALSE(on_tmpfs(upper_file)) << "the writable layer is in memory";
  EXPECT_EQ(c->log_path, dir_ + "/storage/logs/" + sb.pod_uid + "/app_0.log");
  while (ReadAll(c->log_path).find("to-the-log") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(ReadAll(c->log_path).find("to-the-log"), std::string::npos) << ReadAll(c->log_path);
  EXPECT_FALSE(on_tmpfs(c->log_path)) << "the log is in memory";
  EXPECT_TRUE(on_tmpfs(dir_ + "/run/containers/" + c->id + "/meta.json"));
}

TEST_F(RuntimeTest, AfterARebootTheLayersAndLogsOfForgottenContainersAreRemoved) {
  Sandbox sb = MakeSandbox("kept");
  auto c = rt_->StartContainer(sb, Container("app", {"sleep", "1000"}));
  ASSERT_TRUE(c) << c.error().message();
  // What a reboot leaves: layers and logs on disk whose run-dir state is gone.
  const std::string ghost_layer = dir_ + "/storage/containers/uid-ghost_app_0/upper";
  const std::string ghost_logs = dir_ + "/storage/logs/uid-ghost";
  std::filesystem::create_directories(ghost_layer);
  std::filesystem::create_directories(ghost_logs);
  std::ofstream(ghost_logs + "/app_0.log") << "old\n";
  // A restart within the same boot is no proof that they are unused.
  NewRuntime();
  EXPECT_TRUE(std::filesystem::exists(ghost_layer));
  // A reboot: the boot id the storage dir recorded is not this one.
  std::ofstream(dir_ + "/storage/boot_id") << "an-earlier-boot\n";
  NewRuntime();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/storage/containers/uid-ghost_app_0"));
  EXPECT_FALSE(std::filesystem::exists(ghost_logs));
  // What the run dir still knows stays, and the container still runs.
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/storage/containers/" + c->id + "/upper"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/storage/logs/" + sb.pod_uid));
  auto st = rt_->Inspect(c->id);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->state, ContainerState::kRunning);
}

TEST_F(RuntimeTest, ARunDirAnOlderBosunLeftOnDiskMovesToATmpfsOnlyWhenItHoldsNoPod) {
  auto runtime_on = [&](const std::string& run) {
    RuntimeOptions o;
    o.run_dir = run;
    o.shim_binary = BOSUN_BINARY;
    o.cgroup_parent = parent_;
    return MakeRuncRuntime(o);
  };
  auto is_mount = [](const std::string& p) {
    auto m = sandbox::MountsUnder(p);
    return std::find(m.begin(), m.end(), p) != m.end();
  };
  // The old layout after a clean stop: empty dirs, its secure tmpfs mounted.
  const std::string empty_run = dir_ + "/old-empty/run";
  for (const char* d : {"sandboxes", "containers", "secure"}) std::filesystem::create_directories(empty_run + "/" + d);
  ASSERT_EQ(::mount("tmpfs", (empty_run + "/secure").c_str(), "tmpfs", 0, "mode=0700"), 0);
  {
    auto rt = runtime_on(empty_run);
    ASSERT_TRUE(rt) << rt.error().message();
  }
  EXPECT_EQ(sandbox::MountsUnder(empty_run), std::vector<std::string>{empty_run}) << "not moved to a tmpfs";
  // With a pod in it, it stays on disk (its pods are re-adopted there).
  const std::string busy_run = dir_ + "/old-busy/run";
  std::filesystem::create_directories(busy_run + "/sandboxes/uid-old-pod");
  {
    auto rt = runtime_on(busy_run);
    ASSERT_TRUE(rt) << rt.error().message();
  }
  EXPECT_FALSE(is_mount(busy_run)) << "a run dir with pods was hidden under a tmpfs";
  EXPECT_TRUE(std::filesystem::exists(busy_run + "/sandboxes/uid-old-pod"));
  EXPECT_TRUE(is_mount(busy_run + "/secure")) << "its secure dir is on disk";
}

}  // namespace
}  // namespace bosun::node::testing
