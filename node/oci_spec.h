// node/oci_spec.h — the OCI runtime spec (config.json) of one container.
//
// Pure: from the container's configuration and its sandbox's paths to the
// JSON runc reads (runtime-spec 1.0). The defaults follow Docker/containerd:
// their capability set, no_new_privileges, `runc spec`'s masked and read-only
// /proc paths and mounts, a deny-list seccomp profile; network, IPC and UTS
// namespaces are joined by path (the sandbox's), PID and mount namespaces
// are new. /etc/hosts, /etc/hostname and /etc/resolv.conf are bind-mounted
// from the sandbox's directory so every container of a pod sees the same.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "node/runtime.h"

namespace bosun::node {

struct SpecInputs {
  const ContainerConfig* container = nullptr;
  const Sandbox* sandbox = nullptr;
  std::string hostname;      // the pod's hostname
  std::string rootfs;        // the container's root (the overlay mount)
  std::string cgroups_path;  // e.g. "/bosun/pod-<uid>/<id>"
  int64_t default_pids_limit = 1024;
};

nlohmann::json BuildSpec(const SpecInputs& in);

// The default seccomp profile: allow everything but a deny-list of
// syscalls a container has no business making (kernel modules, kexec,
// reboot, swap, keyrings, bpf, mount and namespaces, clock setting, …),
// which fail with EPERM.
nlohmann::json DefaultSeccomp();

}  // namespace bosun::node
