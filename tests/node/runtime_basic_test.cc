// The real runtime, one container at a time: output in the log with its
// format, exit codes and reasons, start errors, exec, stop with a grace
// period, and the security context (read-only root, runAsUser).
#include <regex>

#include "tests/node/runtime_fixture.h"

namespace bosun::node::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(RuntimeTest, OutputGoesToTheLogWithTimestampsAndStreams) {
  Sandbox sb = MakeSandbox("logs");
  auto st = rt_->StartContainer(sb, Container("main", {"sh", "-c", "echo hello; echo oops >&2; exit 3"}));
  ASSERT_TRUE(st) << st.error().message();
  ContainerStatus done = WaitExited(st->id);
  ASSERT_EQ(done.state, ContainerState::kExited);
  EXPECT_EQ(done.exit_code, 3);
  EXPECT_EQ(done.reason, "Error");
  EXPECT_GE(done.finished_at, done.started_at);
  std::string log = ReadAll(done.log_path);
  std::regex out_line(R"((^|\n)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout hello\n)");
  std::regex err_line(R"((^|\n)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stderr oops\n)");
  EXPECT_TRUE(std::regex_search(log, out_line)) << log;
  EXPECT_TRUE(std::regex_search(log, err_line)) << log;
}

TEST_F(RuntimeTest, ExitZeroIsCompleted) {
  Sandbox sb = MakeSandbox("ok");
  auto st = rt_->StartContainer(sb, Container("main", {"true"}));
  ASSERT_TRUE(st) << st.error().message();
  ContainerStatus done = WaitExited(st->id);
  EXPECT_EQ(done.exit_code, 0);
  EXPECT_EQ(done.reason, "Completed");
  EXPECT_NE(done.finished_at, std::chrono::system_clock::time_point{});
}

TEST_F(RuntimeTest, MissingExecutableIsAStartErrorWithRuncsMessage) {
  Sandbox sb = MakeSandbox("missing");
  auto st = rt_->StartContainer(sb, Container("main", {"/no/such/program"}));
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->state, ContainerState::kExited);
  EXPECT_EQ(st->reason, "StartError");
  EXPECT_NE(st->message.find("/no/such/program"), std::string::npos) << st->message;
}

TEST_F(RuntimeTest, StartReturnsWithTheContainerRunning) {
  Sandbox sb = MakeSandbox("running");
  auto st = rt_->StartContainer(sb, Container("main", {"sleep", "1000"}));
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->state, ContainerState::kRunning);
  EXPECT_GT(st->pid, 0);
  EXPECT_TRUE(process::Alive(st->pid));
  // The init execs the container's program as runc returns: give it a moment.
  std::string cmdline;
  for (int i = 0; i < 100 && cmdline.find("sleep") == std::string::npos; ++i) {
    cmdline = ReadAll("/proc/" + std::to_string(st->pid) + "/cmdline");
    if (cmdline.find("sleep") == std::string::npos) std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(cmdline.find("sleep"), std::string::npos) << cmdline;
  auto again = rt_->StartContainer(sb, Container("main", {"sleep", "1000"}));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kAlreadyExists);
}

TEST_F(RuntimeTest, ExecRunsInTheContainerAndTimesOut) {
  Sandbox sb = MakeSandbox("exec");
  ContainerConfig c = Container("main", {"sleep", "1000"});
  c.env = {"GREETING=hi there"};
  auto st = rt_->StartContainer(sb, c);
  ASSERT_TRUE(st) << st.error().message();
  auto r = rt_->Exec(st->id, {"sh", "-c", "echo $GREETING; echo err >&2; exit 4"}, 10s);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->exit_code, 4);
  EXPECT_EQ(r->out, "hi there\n");
  EXPECT_EQ(r->err, "err\n");
  // A command that is not there: runc's reason, not its log line, and the
  // shell's 127; a command exiting 255 itself keeps its code and stderr.
  auto missing = rt_->Exec(st->id, {"/nonexistent"}, 10s);
  ASSERT_TRUE(missing) << missing.error().message();
  EXPECT_EQ(missing->exit_code, 127);
  EXPECT_NE(missing->err.find("exec: \"/nonexistent\""), std::string::npos) << missing->err;
  EXPECT_EQ(missing->err.find("level=error"), std::string::npos) << missing->err;
  auto own = rt_->Exec(st->id, {"sh", "-c", "echo mine >&2; exit 255"}, 10s);
  ASSERT_TRUE(own) << own.error().message();
  EXPECT_EQ(own->exit_code, 255);
  EXPECT_EQ(own->err, "mine\n");
  auto slow = rt_->Exec(st->id, {"sleep", "30"}, 300ms);
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code(), Code::kTimeout);
  // The timed-out command does not linger in the container.
  auto left = rt_->Exec(st->id, {"sh", "-c", "ps -o args | grep -c '^sleep 30'"}, 10s);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->out, "0\n");
}

TEST_F(RuntimeTest, StopLetsAHandlerFinishWithinTheGracePeriod) {
  Sandbox sb = MakeSandbox("stopgood");
  auto st = rt_->StartContainer(
      sb, Container("main", {"sh", "-c", "trap 'echo bye; exit 0' TERM; while true; do sleep 0.05; done"}));
  ASSERT_TRUE(st) << st.error().message();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(rt_->StopContainer(st->id, 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  auto done = rt_->Inspect(st->id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, ContainerState::kExited);
  EXPECT_EQ(done->exit_code, 0);
  EXPECT_NE(ReadAll(done->log_path).find(" stdout bye\n"), std::string::npos);
}

TEST_F(RuntimeTest, StopKillsAfterTheGracePeriodWhenTermIsIgnored) {
  Sandbox sb = MakeSandbox("stopkill");
  auto st = rt_->StartContainer(sb, Container("main", {"sh", "-c", "trap '' TERM; while true; do sleep 0.05; done"}));
  ASSERT_TRUE(st) << st.error().message();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(rt_->StopContainer(st->id, 400ms));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 400ms);
  EXPECT_LT(took, 5s);
  auto done = rt_->Inspect(st->id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, ContainerState::kExited);
  EXPECT_EQ(done->exit_code, 137);
  EXPECT_EQ(done->reason, "Error");
  // Removing it keeps its log (for --previous) until the sandbox goes.
  ASSERT_TRUE(rt_->RemoveContainer(st->id));
  EXPECT_EQ(rt_->Inspect(st->id).error().code(), Code::kNotFound);
  EXPECT_TRUE(std::filesystem::exists(done->log_path));
}

TEST_F(RuntimeTest, ReadOnlyRootAndRunAsUser) {
  Sandbox sb = MakeSandbox("secctx");
  ContainerConfig c = Container("main", {"sleep", "1000"});
  c.read_only_rootfs = true;
  c.run_as_user = 1000;
  c.run_as_group = 2000;
  auto st = rt_->StartContainer(sb, c);
  ASSERT_TRUE(st) << st.error().message();
  auto id = rt_->Exec(st->id, {"sh", "-c", "id -u; id -g"}, 10s);
  ASSERT_TRUE(id) << id.error().message();
  EXPECT_EQ(id->out, "1000\n2000\n");
  auto w = rt_->Exec(st->id, {"sh", "-c", "echo x > /bin/newfile"}, 10s);
  ASSERT_TRUE(w);
  EXPECT_NE(w->exit_code, 0);
  EXPECT_NE(w->err.find("Read-only file system"), std::string::npos) << w->err;
  // As root too: the root filesystem itself is read-only.
  ContainerConfig r = Container("root", {"sleep", "1000"});
  r.read_only_rootfs = true;
  auto st2 = rt_->StartContainer(sb, r);
  ASSERT_TRUE(st2) << st2.error().message();
  auto w2 = rt_->Exec(st2->id, {"touch", "/newfile"}, 10s);
  ASSERT_TRUE(w2);
  EXPECT_NE(w2->exit_code, 0);
  EXPECT_NE(w2->err.find("Read-only file system"), std::string::npos) << w2->err;
  // A writable root keeps writes in the container's own upper dir.
  auto st3 = rt_->StartContainer(sb, Container("rw", {"sleep", "1000"}));
  ASSERT_TRUE(st3) << st3.error().message();
  auto w3 = rt_->Exec(st3->id, {"touch", "/newfile"}, 10s);
  ASSERT_TRUE(w3);
  EXPECT_EQ(w3->exit_code, 0) << w3->err;
  EXPECT_FALSE(std::filesystem::exists(layer_ + "/newfile"));
}

TEST_F(RuntimeTest, DefaultSecurityDropsCapabilitiesAndBlocksSyscalls) {
  Sandbox sb = MakeSandbox("caps");
  auto st = rt_->StartContainer(sb, Container("main", {"sleep", "1000"}));
  ASSERT_TRUE(st) << st.error().message();
  // No CAP_SYS_ADMIN (and mount is on the seccomp deny-list): mounting fails.
  auto m = rt_->Exec(st->id, {"mount", "-t", "tmpfs", "tmpfs", "/tmp"}, 10s);
  ASSERT_TRUE(m);
  EXPECT_NE(m->exit_code, 0);
  auto status = rt_->Exec(st->id, {"grep", "-E", "^(CapEff|NoNewPrivs|Seccomp):", "/proc/self/status"}, 10s);
  ASSERT_TRUE(status);
  EXPECT_NE(status->out.find("CapEff:\t00000000a80425fb"), std::string::npos) << status->out;
  EXPECT_NE(status->out.find("NoNewPrivs:\t1"), std::string::npos) << status->out;
  EXPECT_NE(status->out.find("Seccomp:\t2"), std::string::npos) << status->out;
  // Masked (/dev/null over it) and read-only /proc paths.
  auto masked = rt_->Exec(st->id, {"sh", "-c", "wc -c < /proc/keys; ls /proc/acpi | wc -l"}, 10s);
  ASSERT_TRUE(masked);
  EXPECT_EQ(masked->out, "0\n0\n") << masked->err;
  auto sys = rt_->Exec(st->id, {"sh", "-c", "echo 1 > /proc/sys/vm/drop_caches"}, 10s);
  ASSERT_TRUE(sys);
  EXPECT_NE(sys->exit_code, 0);
}

}  // namespace
}  // namespace bosun::node::testing
