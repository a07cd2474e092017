// core/process.h — the one process runner of bosun: runc, the shims, the CNI
// plugins, mount helpers and git hooks all start through it.
//
// Built on posix_spawn and poll rather than Boost.Process: Boost 1.74's
// child::wait_for is unreliable (it can miss the exit of a child that is
// already reaped or block past its deadline), and the runner needs exactly a
// time-out, stdin, captured output and detached starts.
//
//   process::Options o;
//   o.argv = {"runc", "--root", root, "state", id};
//   o.timeout = std::chrono::seconds(10);
//   Result<process::Output> r = process::Run(o);
//   if (!r) return r.error();                    // could not start, or timed out
//   if (r->exit_code != 0) ... r->err ...
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace bosun::process {

struct Options {
  // argv[0] is a path, or a name looked up in PATH.
  std::vector<std::string> argv;
  // The environment: nullopt inherits this process's environment; `set_env`
  // entries are added to (or replace in) whichever environment is used.
  std::optional<std::vector<std::string>> env;  // "KEY=value"
  std::map<std::string, std::string> set_env;
  // Written to the child's stdin, which is then closed. Empty: /dev/null.
  std::string stdin_data;
  // Working directory; empty keeps ours.
  std::string cwd;
  // 0: wait for ever. On expiry the child (its whole process group) is sent
  // SIGKILL and Run returns kTimeout.
  std::chrono::milliseconds timeout{0};
  // stdout and stderr are each kept up to this many bytes (the rest is read
  // and dropped).
  size_t max_output = 16u << 20;
};

struct Output {
  int exit_code = -1;    // the exit status, or -1 when killed by a signal
  int term_signal = 0;   // the signal that ended it, 0 when it exited
  std::string out;
  std::string err;
  bool ok() const { return exit_code == 0; }
  // "exit status 2: <last line of stderr>" / "killed by signal 9" — for messages.
  std::string Describe() const;
};

// Runs to completion. An Error only when the program could not be started
// (kNotFound: not installed / not in PATH; kIo otherwise) or timed out
// (kTimeout); a non-zero exit is an Output.
Result<Output> Run(const Options& options);

struct DetachedOptions {
  std::vector<std::string> argv;
  std::optional<std::vector<std::string>> env;
  std::map<std::string, std::string> set_env;
  std::string cwd;
  // stdin is /dev/null; stdout and stderr go to these files (appended,
  // created 0640), or /dev/null when empty.
  std::string stdout_path;
  std::string stderr_path;
};

// Starts a process in its own session (setsid), so it outlives this one and
// is not killed with our process group. The caller must reap it (waitpid) if
// it stays our child, or let it be re-parented (see DoubleFork).
// `double_fork`: the started process is a grandchild re-parented to init (or
// the nearest subreaper), so this process never has to reap it; the returned
// pid is then the grandchild's.
Result<pid_t> SpawnDetached(const DetachedOptions& options, bool double_fork = false);

// In a forked child before exec: marks every descriptor from `low_fd` up
// close-on-exec, so what this process has open (the API's listening socket,
// its connections, which Boost.Asio opens without SOCK_CLOEXEC) does not
// live on in the program run — a container's shim outlives the daemon, and
// would keep its ports from a restart. Async-signal-safe.
void CloseOnExecFrom(int low_fd);

// Whether a process with this pid exists (kill(pid, 0)).
bool Alive(pid_t pid);

}  // namespace bosun::process
