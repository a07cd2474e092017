// node/sandbox.h — a pod's persistent namespaces and files on the host.
//
// A sandbox directory RUN/sandboxes/<uid> holds:
//   ns/{net,ipc,uts}   nsfs bind mounts that keep the pod's namespaces alive
//                      without a process (ns/ is a private mount of itself)
//   hosts, hostname, resolv.conf   bind-mounted read-only into every container
//   sandbox.json       the Sandbox and its hostname, written last (atomically):
//                      a directory without it is a half-made sandbox
//
// The namespaces are made by a short-lived thread that unshare()s them (a
// thread may unshare net, IPC and UTS on its own), sets the hostname, brings
// the loopback interface up and bind-mounts its /proc/self/task/<tid>/ns/*
// onto the files, so no helper process is started.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/result.h"
#include "node/runtime.h"

namespace bosun::node::sandbox {

// Creates the namespaces and files of `sb` (dir and ns paths set). On error
// whatever was made is left for Remove.
Status CreateNamespaces(const Sandbox& sb, const std::string& hostname);
Status WriteEtcFiles(const Sandbox& sb, const std::string& hostname);

// Unmounts (MNT_DETACH) every mount at or below `dir` (read from
// /proc/self/mountinfo, deepest first). Succeeds when none is left.
Status UnmountUnder(const std::string& dir);

// Every mount point at or below `dir` in /proc/self/mountinfo.
std::vector<std::string> MountsUnder(const std::string& dir);

// rm -rf that refuses to cross into a mount point (call UnmountUnder first).
Status RemoveDir(const std::string& dir);

// Writes `data` to `path` through a temporary file and rename.
Status WriteAtomic(const std::string& path, const std::string& data, mode_t mode = 0644);
Result<std::string> ReadFile(const std::string& path);

}  // namespace bosun::node::sandbox
