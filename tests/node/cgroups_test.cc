// node/cgroups: pod cgroups on the real /sys/fs/cgroup (as root), under a
// parent unique to the test, removed in TearDown.
#include "node/cgroups.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace bosun::node::cgroups {
namespace {

std::string Read(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class CgroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    v_ = Detect();
    parent_ = "bosun-cgtest-" + std::to_string(::getpid());
  }
  void TearDown() override {
    if (parent_.empty()) return;
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    EXPECT_TRUE(RemoveTree("/sys/fs/cgroup", v_, "/" + parent_));
  }
  Version v_ = Version::kV1;
  std::string parent_;
  pid_t child_ = 0;
};

TEST(CgroupsPaths, PodAndContainerPaths) {
  EXPECT_EQ(PodPath("bosun", "abc"), "/bosun/pod-abc");
  EXPECT_EQ(ContainerPath("bosun", "abc", "abc_web_0"), "/bosun/pod-abc/abc_web_0");
}

TEST_F(CgroupsTest, CreatesThePodWithItsLimitsAndRemovesItWithItsProcesses) {
  if (v_ != Version::kV1) GTEST_SKIP() << "reads cgroup v1 files";
  Resources r;
  r.memory_limit_bytes = 32 << 20;
  r.cpu_shares = 256;
  r.cpu_quota_us = 20000;
  r.pids_limit = 50;
  ASSERT_TRUE(CreatePod("/sys/fs/cgroup", v_, parent_, "p1", r));
  const std::string rel = PodPath(parent_, "p1");
  EXPECT_EQ(Read("/sys/fs/cgroup/memory" + rel + "/memory.limit_in_bytes"), std::to_string(32 << 20) + "\n");
  EXPECT_EQ(Read("/sys/fs/cgroup/cpu" + rel + "/cpu.shares"), "256\n");
  EXPECT_EQ(Read("/sys/fs/cgroup/cpu" + rel + "/cpu.cfs_quota_us"), "20000\n");
  EXPECT_EQ(Read("/sys/fs/cgroup/pids" + rel + "/pids.max"), "50\n");
  ASSERT_TRUE(CreatePod("/sys/fs/cgroup", v_, parent_, "p1", r));  // idempotent

  // A process in a child cgroup (as runc makes for a container).
  std::filesystem::create_directories("/sys/fs/cgroup/memory" + rel + "/c1");
  child_ = ::fork();
  if (child_ == 0) {
    ::pause();
    ::_exit(0);
  }
  std::ofstream("/sys/fs/cgroup/memory" + rel + "/c1/cgroup.procs") << child_;
  std::ofstream("/sys/fs/cgroup/pids" + rel + "/cgroup.procs") << child_;
  EXPECT_EQ(Pids("/sys/fs/cgroup", v_, rel), std::vector<int>{child_});
  EXPECT_EQ(OomKills("/sys/fs/cgroup", v_, rel), 0);

  ASSERT_TRUE(RemoveTree("/sys/fs/cgroup", v_, rel));
  int status = 0;
  ASSERT_EQ(::waitpid(child_, &status, 0), child_);
  child_ = 0;
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  for (const auto& c : V1PodControllers()) EXPECT_FALSE(std::filesystem::exists("/sys/fs/cgroup/" + c + rel)) << c;
  EXPECT_EQ(OomKills("/sys/fs/cgroup", v_, rel), -1);
  EXPECT_TRUE(RemoveTree("/sys/fs/cgroup", v_, rel));  // idempotent
}

}  // namespace
}  // namespace bosun::node::cgroups
