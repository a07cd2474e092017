// node/cgroups.h — the pod cgroups of the runtime, on cgroup v1 and v2.
//
// Every pod gets one cgroup under the node's parent ("bosun"): on v1 one
// directory per controller, /sys/fs/cgroup/<ctrl>/<parent>/pod-<uid>; on v2
// one directory, /sys/fs/cgroup/<parent>/pod-<uid>, with the cpu, memory and
// pids controllers enabled for its children. runc creates each container's
// cgroup below it (the config's cgroupsPath "/<parent>/pod-<uid>/<id>").
//
// The root is injectable so tests of the path logic need no real cgroupfs;
// the real-path tests (tests/node/cgroups_test.cc) run against /sys/fs/cgroup.
// All functions are thread-safe (they only touch the filesystem).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "node/runtime.h"

namespace bosun::node::cgroups {

enum class Version { kV1, kV2 };

// v2 when `root` is a cgroup2 mount (statfs), v1 (hybrid or legacy) otherwise.
Version Detect(const std::string& root = "/sys/fs/cgroup");

// The controllers a pod cgroup is created in on v1 (and limits are written to).
const std::vector<std::string>& V1PodControllers();

// The cgroup path (relative to a hierarchy's root) of a pod and of one of its
// containers: "/bosun/pod-<uid>" and "/bosun/pod-<uid>/<id>".
std::string PodPath(const std::string& parent, const std::string& pod_uid);
std::string ContainerPath(const std::string& parent, const std::string& pod_uid, const std::string& id);

// Creates the pod cgroup (and the parent, if missing) and writes its limits
// (0 fields stay unlimited / default). Idempotent.
Status CreatePod(const std::string& root, Version v, const std::string& parent, const std::string& pod_uid,
                 const Resources& limits);

// Kills (SIGKILL) every process in the cgroup at `rel` and its descendants in
// every hierarchy, then removes the directories, deepest first. Succeeds when
// none of them exists any more (idempotent).
Status RemoveTree(const std::string& root, Version v, const std::string& rel);

// How many times the kernel's OOM killer killed a process in the cgroup at
// `rel` (v1: memory.oom_control "oom_kill"; v2: memory.events "oom_kill").
// -1 when it cannot be read (the cgroup is gone).
int64_t OomKills(const std::string& root, Version v, const std::string& rel);

// The pids in the cgroup at `rel` and below (the memory hierarchy on v1).
std::vector<int> Pids(const std::string& root, Version v, const std::string& rel);

}  // namespace bosun::node::cgroups
