#include "core/process.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/test_support.h"

namespace bosun::process {
namespace {

TEST(ProcessTest, CapturesOutputAndExitCode) {
  Options o;
  o.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"};
  auto r = process::Run(o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->Describe(), "exit status 3: err");
}

TEST(ProcessTest, FeedsStdinAndSetsEnvironmentAndDirectory) {
  Options o;
  o.argv = {"sh", "-c", "cat; printf '%s' \"$BOSUN_X\"; pwd"};
  o.stdin_data = std::string(200000, 'a');  // larger than a pipe buffer
  o.set_env["BOSUN_X"] = "-x-";
  o.cwd = "/tmp";
  auto r = process::Run(o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, std::string(200000, 'a') + "-x-/tmp\n");
}

TEST(ProcessTest, MissingProgramIsNotFound) {
  Options o;
  o.argv = {"bosun-no-such-program"};
  auto r = process::Run(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_NE(r.error().message().find("bosun-no-such-program"), std::string::npos);
}

TEST(ProcessTest, TimeoutKillsTheWholeGroup) {
  Options o;
  o.argv = {"sh", "-c", "sleep 30 & sleep 30"};
  o.timeout = std::chrono::milliseconds(200);
  auto start = std::chrono::steady_clock::now();
  auto r = process::Run(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(ProcessTest, SignalIsReported) {
  Options o;
  o.argv = {"sh", "-c", "kill -9 $$"};
  auto r = process::Run(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->term_signal, 9);
  EXPECT_EQ(r->Describe(), "killed by signal 9");
}

TEST(ProcessTest, DetachedOutlivesAndWritesItsFiles) {
  auto dir = std::filesystem::temp_directory_path() / ("bosun-proc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  DetachedOptions o;
  o.argv = {"sh", "-c", "echo $$ ; echo e >&2; sleep 0.2"};
  o.stdout_path = (dir / "out").string();
  o.stderr_path = (dir / "err").string();
  auto pid = SpawnDetached(o, /*double_fork=*/true);
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  EXPECT_TRUE(Alive(*pid));
  EXPECT_NE(::getsid(*pid), ::getsid(0));  // not in our session
  for (int i = 0; i < 100 && Alive(*pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::ifstream in(o.stdout_path);
  pid_t written = 0;
  in >> written;
  EXPECT_EQ(written, *pid);
  std::filesystem::remove_all(dir);
}

// A listening socket opened without close-on-exec (as Boost.Asio opens the
// API's) is not handed to the programs the daemon runs: a detached one (a
// container's shim) would keep the port after the daemon is killed.
TEST(ProcessTest, ChildrenGetOnlyTheirStdio) {
  test::HeldPort held(1, /*inheritable=*/true);

  // `ls` lists its own descriptors: stdio and the one it reads the folder by.
  Options o;
  o.argv = {"ls", "/proc/self/fd"};
  auto r = process::Run(o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "0\n1\n2\n3\n");

  auto dir = std::filesystem::temp_directory_path() / ("bosun-proc-fd-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (bool double_fork : {false, true}) {
    DetachedOptions d;
    d.argv = {"ls", "/proc/self/fd"};
    d.stdout_path = (dir / ("out" + std::to_string(double_fork))).string();
    d.stderr_path = (dir / "err").string();
    auto pid = SpawnDetached(d, double_fork);
    ASSERT_TRUE(pid.ok()) << pid.error().message();
    if (!double_fork) ::waitpid(*pid, nullptr, 0);
    for (int i = 0; i < 100 && Alive(*pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::ifstream in(d.stdout_path);
    std::string listed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(listed, "0\n1\n2\n3\n") << (double_fork ? "double fork" : "single fork");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bosun::process
