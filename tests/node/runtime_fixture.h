// tests/node/runtime_fixture.h — the fixture of the real-runc runtime tests
// (tests/node/runtime_*_test.cc): a busybox root filesystem layer built in the
// test (no image store), a run dir and a cgroup parent unique to the test, and
// a TearDown that removes everything the test made even when it failed.
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/process.h"
#include "node/cgroups.h"
#include "node/runtime.h"
#include "node/sandbox.h"

namespace bosun::node::testing {

inline Result<process::Output> RunCmd(std::vector<std::string> argv,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  process::Options o;
  o.argv = std::move(argv);
  o.timeout = timeout;
  return process::Run(o);
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (::access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs /bin/busybox (busybox-static)";
    if (!RunCmd({"runc", "--version"})) GTEST_SKIP() << "needs runc";
    static int counter = 0;
    tag_ = std::to_string(::getpid()) + "-" + std::to_string(++counter);
    dir_ = "/tmp/bosun-rt-" + tag_;
    parent_ = "bosun-test-" + tag_;
    std::filesystem::create_directories(dir_);
    layer_ = dir_ + "/layer";
    MakeBusyboxLayer(layer_);
    NewRuntime();
  }

  void TearDown() override {
    if (dir_.empty()) return;
    if (rt_) {
      if (auto list = rt_->ListPodSandboxes(); list) {
        for (const auto& sb : *list) {
          if (auto s = rt_->RemovePodSandbox(sb.pod_uid); !s) ADD_FAILURE() << s.error().message();
        }
      }
      for (const auto& uid : uids_) (void)rt_->RemovePodSandbox(uid);
    }
    rt_.reset();
    // Whatever a failed test left: containers runc still knows, mounts,
    // cgroups, files.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_ + "/run/secure/runc", ec)) {
      (void)RunCmd({"runc", "--root", dir_ + "/run/secure/runc", "delete", "--force", e.path().filename()});
    }
    cgroups::Version v = cgroups::Detect();
    (void)cgroups::RemoveTree("/sys/fs/cgroup", v, "/" + parent_);
    (void)sandbox::UnmountUnder(dir_);
    std::filesystem::remove_all(dir_, ec);
  }

  void NewRuntime() {
    RuntimeOptions o;
    o.run_dir = dir_ + "/run";
    o.shim_binary = BOSUN_BINARY;
    o.cgroup_parent = parent_;
    auto rt = MakeRuncRuntime(o);
    ASSERT_TRUE(rt) << rt.error().message();
    rt_ = std::move(*rt);
  }

  static void MakeBusyboxLayer(const std::string& layer) {
    namespace fs = std::filesystem;
    for (const char* d : {"bin", "etc", "tmp", "proc", "sys", "dev", "www", "root"}) fs::create_directories(layer + "/" + d);
    fs::copy_file("/bin/busybox", layer + "/bin/busybox");
    auto list = RunCmd({"/bin/busybox", "--list"});
    ASSERT_TRUE(list && list->ok());
    std::istringstream in(list->out);
    std::string applet;
    while (in >> applet) {
      if (applet == "busybox") continue;
      std::error_code ec;
      fs::create_symlink("busybox", layer + "/bin/" + applet, ec);
    }
    ::chmod((layer + "/tmp").c_str(), 01777);
    std::ofstream(layer + "/www/index.html") << "hello from the pod\n";
    std::ofstream(layer + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n";
  }

  SandboxConfig PodConfig(const std::string& name) {
    SandboxConfig c;
    c.pod_uid = "uid-" + tag_ + "-" + name;
    c.ns = "default";
    c.name = name;
    c.hostname = name;
    uids_.push_back(c.pod_uid);
    return c;
  }

  Sandbox MakeSandbox(const std::string& name) {
    auto sb = rt_->RunPodSandbox(PodConfig(name));
    EXPECT_TRUE(sb) << sb.error().message();
    return sb ? *sb : Sandbox{};
  }

  ContainerConfig Container(const std::string& name, std::vector<std::string> argv) {
    ContainerConfig c;
    c.name = name;
    c.image.digest = "sha256:test";
    c.image.layer_dirs = {layer_};
    c.argv = std::move(argv);
    return c;
  }

  // Polls Inspect until `pred` holds (every 10 ms) or `wait` passes.
  ContainerStatus WaitFor(const std::string& id, const std::function<bool(const ContainerStatus&)>& pred,
                          std::chrono::milliseconds wait = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    ContainerStatus last;
    for (;;) {
      auto st = rt_->Inspect(id);
      if (st) {
        last = *st;
        if (pred(last)) return last;
      }
      if (std::chrono::steady_clock::now() > deadline) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ContainerStatus WaitExited(const std::string& id, std::chrono::milliseconds wait = std::chrono::seconds(20)) {
    return WaitFor(id, [](const ContainerStatus& s) { return s.state == ContainerState::kExited; }, wait);
  }

  // Exec, retried until `pred` holds on its result (for servers still starting).
  ExecResult ExecUntil(const std::string& id, const std::vector<std::string>& argv,
                       const std::function<bool(const ExecResult&)>& pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    ExecResult last;
    for (;;) {
      auto r = rt_->Exec(id, argv, std::chrono::seconds(10));
      if (r) {
        last = *r;
        if (pred(last)) return last;
      }
      if (std::chrono::steady_clock::now() > deadline) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  std::string tag_, dir_, parent_, layer_;
  std::vector<std::string> uids_;
  std::unique_ptr<Runtime> rt_;
};

}  // namespace bosun::node::testing
