// node/shim_zygote.h — starting shims (node/shim.h) without exec'ing the
// whole `bosun` binary for each container.
//
// Exec'ing bosun costs ~15 ms of dynamic linking and static set-up; a shim
// per container start paid it every time. Instead the runtime starts one
// small helper process once, `bosun shim-zygote --fd 3` (a fresh,
// single-threaded bosun with a socket to the runtime on fd 3), and asks it
// for each shim: the zygote forks, the child starts a new session and forks
// again (so the shim is re-parented to init or the nearest subreaper and
// outlives both the zygote and the daemon, exactly like a double-forked
// `bosun shim`), sets stdin to /dev/null, stdout to /dev/null, stderr to the
// given file and the working dir to /, and runs RunShim. The zygote answers
// with the shim's pid.
//
// The zygote exits when the runtime closes the socket (ShimLauncher's
// destructor) or when its parent is gone (the daemon was killed), and never
// touches the shims it started. If it dies, the next Launch starts a new one;
// if that fails, Launch falls back to exec'ing `bosun shim` (double fork).
//
// Thread-safety: Launch may be called from any thread (requests go one at a
// time; a fork of the small zygote takes well under a millisecond).
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>

#include "core/result.h"
#include "node/shim.h"

namespace bosun::node {

class ShimLauncher {
 public:
  // `bosun_binary`: the executable to run as `shim-zygote` (and `shim` as a
  // fall-back). The zygote starts lazily, at the first Launch.
  explicit ShimLauncher(std::string bosun_binary) : binary_(std::move(bosun_binary)) {}
  ~ShimLauncher();  // ends the zygote (the shims it started keep running)
  ShimLauncher(const ShimLauncher&) = delete;
  ShimLauncher& operator=(const ShimLauncher&) = delete;

  // Starts one detached shim with stderr appended to `stderr_path`; returns
  // its pid.
  Result<pid_t> Launch(const ShimOptions& options, const std::string& stderr_path);

  // The zygote's pid, 0 when none runs (for tests).
  pid_t zygote_pid() const;

 private:
  Status StartZygoteLocked();
  void StopZygoteLocked();
  Result<pid_t> AskLocked(const std::string& request);

  std::string binary_;
  mutable std::mutex mu_;
  int fd_ = -1;
  pid_t pid_ = 0;
};

// The zygote's side: serves requests on `fd` until EOF or its parent exits.
// Returns the process's exit code.
int RunShimZygote(int fd);

}  // namespace bosun::node
