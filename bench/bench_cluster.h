// bench/bench_cluster.h — start a local etcd or bosun cluster for a benchmark,
// and always take it down again.
//
// Every member is a child process with its own data directory under the
// cluster's directory, its output in `<dir>/<member>.log`, on loopback ports
// chosen at start. A Cluster stops its members (SIGTERM, then SIGKILL after a
// grace period) and removes its directory when destroyed, also when start-up
// failed half-way; children also get SIGTERM from the kernel if the bench
// itself dies (PR_SET_PDEATHSIG), so a killed bench leaves no servers behind.
//
// Thread-safety: a Cluster is started, queried and destroyed by one thread;
// leader() and token() may be read from any thread while it lives.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "bench/bench_http.h"
#include "core/result.h"

namespace bosun::bench {

// A child process in its own process group with stdout and stderr in a file.
class ChildProcess {
 public:
  // Starts argv[0] (a path, or a name looked up in PATH). Failure: kIo when
  // fork fails; an exec failure shows as the child exiting with 127 and a line
  // in the log.
  static Result<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                     const std::filesystem::path& log);
  ~ChildProcess();  // Stop() if still running

  // Sends SIGTERM (once). Does not wait.
  void Terminate();
  // Waits until the process has ended, sending SIGKILL at `kill_at`. Returns
  // how it ended, e.g. "exited 0", "killed by SIGKILL after the grace period".
  std::string Wait(std::chrono::steady_clock::time_point kill_at);
  // Terminate() + Wait(now + grace).
  std::string Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

  // False once the process has ended (reaps it).
  bool Running();
  // How it ended, once it has ("exited 2"); empty while running.
  const std::string& ended() const { return ended_; }
  // The last `bytes` of its output.
  std::string LogTail(size_t bytes = 2000) const;
  pid_t pid() const { return pid_; }

 private:
  ChildProcess(pid_t pid, std::filesystem::path log) : pid_(pid), log_(std::move(log)) {}
  void Reaped(int status, bool killed);

  pid_t pid_;
  std::filesystem::path log_;
  bool terminated_ = false;
  std::string ended_;
};

struct ClusterOptions {
  std::string binary;                         // etcd or bosun
  int members = 1;                            // 1, 3, 5 …
  std::filesystem::path dir;                  // created; removed by the Cluster unless keep
  bool keep = false;                          // leave dir (data and logs) behind
  const std::atomic<bool>* cancel = nullptr;  // aborts waits for readiness
  std::chrono::seconds ready_timeout{60};
  // More arguments for every member (bosun: after `server …`).
  std::vector<std::string> extra_args;
};

class Cluster {
 public:
  virtual ~Cluster();

  // "etcd x3", "bosun x1".
  const std::string& name() const { return name_; }
  // Where clients send writes and linearizable reads: the leader's client
  // (etcd) or API (bosun) endpoint, found at start.
  const Endpoint& leader() const { return leader_; }
  // Bearer token for every request (bosun's admin token; empty for etcd).
  const std::string& token() const { return token_; }

  // Empty when every member still runs; otherwise one line per member that
  // ended ("bosun x3 member 2 exited 134") followed by the tail of its log.
  std::string Casualties();
  // The tail of every member's log, for an error report.
  std::string Logs(size_t bytes_per_member = 1500) const;

 protected:
  explicit Cluster(ClusterOptions options, std::string name);
  // Stops every member at once (SIGTERM to all, one shared grace period).
  void StopAll();
  Status WaitFor(const std::string& what, const std::function<bool()>& ready);

  ClusterOptions options_;
  std::string name_;
  std::vector<std::unique_ptr<ChildProcess>> members_;
  std::vector<Endpoint> clients_;  // client/API endpoint of each member
  Endpoint leader_;
  std::string token_;
};

// etcd with default durability (fsync of the WAL on every commit), logs at
// "warn". Waits until every member answers /health and one reports itself
// leader. Failure: kUnavailable with the members' log tails in the message
// (the directory is removed before returning).
Result<std::unique_ptr<Cluster>> StartEtcd(const ClusterOptions& options);

// `bosun server` members sharing one admin token file (member 1 starts first
// and writes it), logs at "warn". Waits until every member answers /readyz and
// /bosun/v1/members names a leader, then creates the namespace "bench".
// Failure as StartEtcd.
Result<std::unique_ptr<Cluster>> StartBosun(const ClusterOptions& options);

}  // namespace bosun::bench
