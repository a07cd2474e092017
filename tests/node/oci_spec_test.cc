// BuildSpec: the config.json a container gets (no runc needed; the runtime
// tests run these specs for real).
#include "node/oci_spec.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace bosun::node {
namespace {

class OciSpecTest : public ::testing::Test {
 protected:
  OciSpecTest() {
    sb_.pod_uid = "u1";
    sb_.dir = "/run/bosun/sandboxes/u1";
    sb_.netns_path = sb_.dir + "/ns/net";
    sb_.ipc_path = sb_.dir + "/ns/ipc";
    sb_.uts_path = sb_.dir + "/ns/uts";
    c_.name = "app";
    c_.argv = {"/bin/app", "--flag"};
    c_.env = {"A=1"};
    in_.container = &c_;
    in_.sandbox = &sb_;
    in_.hostname = "web-0";
    in_.rootfs = "/run/bosun/containers/x/rootfs";
    in_.cgroups_path = "/bosun/pod-u1/x";
  }
  Sandbox sb_;
  ContainerConfig c_;
  SpecInputs in_;
};

TEST_F(OciSpecTest, JoinsThePodsNamespacesAndGetsItsOwnPidAndMount) {
  nlohmann::json s = BuildSpec(in_);
  std::map<std::string, std::string> ns;
  for (const auto& n : s["linux"]["namespaces"]) ns[n["type"]] = n.value("path", "");
  EXPECT_EQ(ns.at("network"), sb_.netns_path);
  EXPECT_EQ(ns.at("ipc"), sb_.ipc_path);
  EXPECT_EQ(ns.at("uts"), sb_.uts_path);
  EXPECT_EQ(ns.at("pid"), "");
  EXPECT_EQ(ns.at("mount"), "");
  EXPECT_EQ(ns.count("user"), 0u);
  EXPECT_EQ(s["hostname"], "web-0");
  EXPECT_EQ(s["linux"]["cgroupsPath"], "/bosun/pod-u1/x");
  EXPECT_EQ(s["root"]["path"], in_.rootfs);
}

TEST_F(OciSpecTest, ProcessFromTheContainerWithDefaults) {
  nlohmann::json s = BuildSpec(in_);
  EXPECT_EQ(s["process"]["args"], nlohmann::json({"/bin/app", "--flag"}));
  EXPECT_EQ(s["process"]["cwd"], "/");
  EXPECT_EQ(s["process"]["user"]["uid"], 0);
  auto env = s["process"]["env"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(env.begin(), env.end(), "A=1"), env.end());
  EXPECT_EQ(env[0].rfind("PATH=", 0), 0u);
  EXPECT_TRUE(s["process"]["noNewPrivileges"].get<bool>());
  EXPECT_FALSE(s["root"]["readonly"].get<bool>());

  c_.working_dir = "/srv";
  c_.run_as_user = 1000;
  c_.run_as_group = 3000;
  c_.read_only_rootfs = true;
  c_.env = {"PATH=/opt/bin"};
  s = BuildSpec(in_);
  EXPECT_EQ(s["process"]["cwd"], "/srv");
  EXPECT_EQ(s["process"]["user"]["uid"], 1000);
  EXPECT_EQ(s["process"]["user"]["gid"], 3000);
  EXPECT_TRUE(s["root"]["readonly"].get<bool>());
  EXPECT_EQ(s["process"]["env"][0], "PATH=/opt/bin");  // the image's PATH is kept
}

TEST_F(OciSpecTest, DockersCapabilitiesMaskedPathsAndSeccomp) {
  nlohmann::json s = BuildSpec(in_);
  auto caps = s["process"]["capabilities"]["bounding"].get<std::vector<std::string>>();
  EXPECT_EQ(caps.size(), 14u);
  EXPECT_NE(std::find(caps.begin(), caps.end(), "CAP_NET_BIND_SERVICE"), caps.end());
  EXPECT_EQ(std::find(caps.begin(), caps.end(), "CAP_SYS_ADMIN"), caps.end());
  EXPECT_EQ(std::find(caps.begin(), caps.end(), "CAP_NET_ADMIN"), caps.end());
  auto masked = s["linux"]["maskedPaths"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(masked.begin(), masked.end(), "/proc/kcore"), masked.end());
  auto ro = s["linux"]["readonlyPaths"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(ro.begin(), ro.end(), "/proc/sys"), ro.end());
  const auto& seccomp = s["linux"]["seccomp"];
  EXPECT_EQ(seccomp["defaultAction"], "SCMP_ACT_ALLOW");
  auto denied = seccomp["syscalls"][0]["names"].get<std::vector<std::string>>();
  for (const char* sc : {"kexec_load", "init_module", "finit_module", "delete_module", "open_by_handle_at", "bpf"}) {
    EXPECT_NE(std::find(denied.begin(), denied.end(), sc), denied.end()) << sc;
  }
  for (const char* sc : {"clone", "execve", "socket", "chown", "setuid"}) {
    EXPECT_EQ(std::find(denied.begin(), denied.end(), sc), denied.end()) << sc;
  }
  EXPECT_EQ(seccomp["syscalls"][0]["action"], "SCMP_ACT_ERRNO");
}

TEST_F(OciSpecTest, ResourcesFromLimitsWithSwapEqualToMemory) {
  nlohmann::json s = BuildSpec(in_);
  EXPECT_FALSE(s["linux"]["resources"].contains("memory"));
  EXPECT_FALSE(s["linux"]["resources"].contains("cpu"));
  EXPECT_EQ(s["linux"]["resources"]["pids"]["limit"], 1024);  // the default
  c_.resources.memory_limit_bytes = 64 << 20;
  c_.resources.cpu_shares = 512;
  c_.resources.cpu_quota_us = 50000;
  c_.resources.pids_limit = 100;
  s = BuildSpec(in_);
  const auto& r = s["linux"]["resources"];
  EXPECT_EQ(r["memory"]["limit"], 64 << 20);
  EXPECT_EQ(r["memory"]["swap"], 64 << 20);
  EXPECT_EQ(r["cpu"]["shares"], 512);
  EXPECT_EQ(r["cpu"]["quota"], 50000);
  EXPECT_EQ(r["cpu"]["period"], 100000);
  EXPECT_EQ(r["pids"]["limit"], 100);
}

TEST_F(OciSpecTest, MountsTheSandboxFilesAndVolumes) {
  c_.mounts.push_back(Mount{"/var/lib/pods/u1/vol", "/data", "bind", true, {}});
  c_.mounts.push_back(Mount{"tmpfs", "/cache", "tmpfs", false, {"size=64m"}});
  nlohmann::json s = BuildSpec(in_);
  std::map<std::string, nlohmann::json> by_dest;
  for (const auto& m : s["mounts"]) by_dest[m["destination"]] = m;
  for (const char* d : {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"}) {
    EXPECT_EQ(by_dest.count(d), 1u) << d;
  }
  EXPECT_EQ(by_dest.at("/etc/hosts")["source"], sb_.dir + "/hosts");
  EXPECT_EQ(by_dest.at("/etc/hostname")["source"], sb_.dir + "/hostname");
  EXPECT_EQ(by_dest.at("/etc/resolv.conf")["source"], sb_.dir + "/resolv.conf");
  auto data_opts = by_dest.at("/data")["options"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(data_opts.begin(), data_opts.end(), "ro"), data_opts.end());
  EXPECT_NE(std::find(data_opts.begin(), data_opts.end(), "rbind"), data_opts.end());
  auto cache_opts = by_dest.at("/cache")["options"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(cache_opts.begin(), cache_opts.end(), "size=64m"), cache_opts.end());
  EXPECT_EQ(by_dest.at("/cache")["type"], "tmpfs");
  auto sys_opts = by_dest.at("/sys")["options"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(sys_opts.begin(), sys_opts.end(), "ro"), sys_opts.end());
}

}  // namespace
}  // namespace bosun::node
