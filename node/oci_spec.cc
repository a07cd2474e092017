#include "node/oci_spec.h"

#include <vector>

namespace bosun::node {
namespace {

using nlohmann::json;

const std::vector<std::string>& DefaultCaps() {
  static const std::vector<std::string> kCaps = {
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",  "CAP_FOWNER",           "CAP_MKNOD",
      "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",  "CAP_SETFCAP",          "CAP_SETPCAP",
      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};
  return kCaps;
}

json MountJson(const std::string& dest, const std::string& type, const std::string& source,
               const std::vector<std::string>& options) {
  return json{{"destination", dest}, {"type", type}, {"source", source}, {"options", options}};
}

}  // namespace

json DefaultSeccomp() {
  static const std::vector<std::string> kDenied = {
      "acct",           "add_key",          "bpf",           "clock_adjtime",   "clock_settime",
      "create_module",  "delete_module",    "finit_module",  "fsconfig",        "fsmount",
      "fsopen",         "fspick",           "get_kernel_syms", "init_module",   "ioperm",
      "iopl",           "kcmp",             "kexec_file_load", "kexec_load",    "keyctl",
      "lookup_dcookie", "mount",            "mount_setattr", "move_mount",      "name_to_handle_at",
      "nfsservctl",     "open_by_handle_at", "open_tree",    "perf_event_open", "pivot_root",
      "query_module",   "quotactl",         "reboot",        "request_key",     "setns",
      "settimeofday",   "stime",            "swapoff",       "swapon",          "syslog",
      "umount",         "umount2",          "unshare",       "uselib",          "userfaultfd",
      "vm86",           "vm86old",          "_sysctl",       "sysfs",           "adjtimex"};
  return json{
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
      {"syscalls", json::array({json{{"names", kDenied}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}})},
  };
}

json BuildSpec(const SpecInputs& in) {
  const ContainerConfig& c = *in.container;
  const Sandbox& sb = *in.sandbox;

  std::vector<std::string> env = c.env;
  bool has_path = false;
  for (const auto& e : env) has_path = has_path || e.rfind("PATH=", 0) == 0;
  if (!has_path) env.insert(env.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  bool has_hostname = false;
  for (const auto& e : env) has_hostname = has_hostname || e.rfind("HOSTNAME=", 0) == 0;
  if (!has_hostname) env.push_back("HOSTNAME=" + in.hostname);

  json caps = DefaultCaps();
  json process = {
      {"terminal", false},
      {"user", {{"uid", c.run_as_user.value_or(0)}, {"gid", c.run_as_group.value_or(0)}}},
      {"args", c.argv},
      {"env", env},
      {"cwd", c.working_dir.empty() ? "/" : c.working_dir},
      {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"noNewPrivileges", true},
  };

  json mounts = json::array({
      MountJson("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      MountJson("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      MountJson("/dev/pts", "devpts", "devpts",
                {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      MountJson("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      MountJson("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      MountJson("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      MountJson("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}),
      MountJson("/etc/hosts", "bind", sb.dir + "/hosts", {"rbind", "rprivate", "ro"}),
      MountJson("/etc/hostname", "bind", sb.dir + "/hostname", {"rbind", "rprivate", "ro"}),
      MountJson("/etc/resolv.conf", "bind", sb.dir + "/resolv.conf", {"rbind", "rprivate", "ro"}),
  });
  for (const auto& m : c.mounts) {
    std::vector<std::string> opts = m.options;
    if (m.type == "bind") {
      opts.push_back("rbind");
      opts.push_back("rprivate");
    }
    opts.push_back(m.read_only ? "ro" : "rw");
    mounts.push_back(MountJson(m.destination, m.type, m.source, opts));
  }

  json resources = {{"devices", json::array({json{{"allow", false}, {"access", "rwm"}}})}};
  const Resources& r = c.resources;
  json cpu = json::object();
  if (r.cpu_shares > 0) cpu["shares"] = r.cpu_shares;
  if (r.cpu_quota_us > 0) {
    cpu["quota"] = r.cpu_quota_us;
    cpu["period"] = r.cpu_period_us > 0 ? r.cpu_period_us : 100000;
  }
  if (!cpu.empty()) resources["cpu"] = cpu;
  if (r.memory_limit_bytes > 0) {
    // swap = limit: memory+swap capped at the limit, so going over it OOM-kills
    // instead of swapping.
    resources["memory"] = {{"limit", r.memory_limit_bytes}, {"swap", r.memory_limit_bytes}};
  }
  int64_t pids = r.pids_limit > 0 ? r.pids_limit : in.default_pids_limit;
  if (pids > 0) resources["pids"] = {{"limit", pids}};

  json linux_ = {
      {"cgroupsPath", in.cgroups_path},
      {"resources", resources},
      {"namespaces",
       json::array({
           json{{"type", "pid"}},
           json{{"type", "mount"}},
           json{{"type", "network"}, {"path", sb.netns_path}},
           json{{"type", "ipc"}, {"path", sb.ipc_path}},
           json{{"type", "uts"}, {"path", sb.uts_path}},
       })},
      {"maskedPaths",
       {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
      {"seccomp", DefaultSeccomp()},
  };

  return json{
      {"ociVersion", "1.0.2"},
      {"process", process},
      {"root", {{"path", in.rootfs}, {"readonly", c.read_only_rootfs}}},
      {"hostname", in.hostname},
      {"mounts", mounts},
      {"linux", linux_},
  };
}

}  // namespace bosun::node
