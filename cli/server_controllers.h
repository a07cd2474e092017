// cli/server_controllers.h — the workload controllers of `bosun server`
// (reconciler/workloads.h): one ControllerManager that runs only while this
// member leads. Leadership is polled every 250 ms, as for the sync
// controller; a member that becomes leader starts a new manager (its
// informers list everything afresh), one that stops leading stops it. The
// controllers are clients of this member's own API with the admin token.
//
// Thread-safety: Start and Stop from the server's main thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "core/result.h"
#include "reconciler/revision_health.h"
#include "state/replicated_service.h"

namespace bosun::cli {

struct ControllerFlags {
  std::string node_monitor_grace = "40s";
  std::string pod_eviction_timeout = "60s";
  std::string scheduler_scoring = "LeastAllocated";
  // How long a rolled-out Deployment's new pods must stay up before its
  // revision is Healthy (RevisionHealthOptions::healthy_after).
  std::string healthy_after = "10s";
  // How long the live revision is still watched for crash loops once
  // Healthy (RevisionHealthOptions::watch_after_healthy).
  std::string watch_after_healthy = "10m";
  // A sealing key pair file (crypto/sealed.h key file) imported at start
  // unless the store already holds that key (`bosun up`'s demo key).
  std::string sealing_key_file;
};

// Adds --node-monitor-grace-period, --pod-eviction-timeout, --scheduler-scoring,
// --healthy-after, --sealing-key-file.
void AddControllerFlags(CLI::App* cmd, ControllerFlags* flags);

class LeaderControllers {
 public:
  // Checks the flags (kInvalid naming the flag).
  static Result<std::unique_ptr<LeaderControllers>> Prepare(const ControllerFlags& flags);
  ~LeaderControllers();  // Stop()

  // `revert` / `trigger_sync` come from the GitOps half (null without --repo).
  Status Start(state::ReplicatedService* service, const std::string& api_url, const std::string& admin_token,
               decltype(reconciler::RevisionHealthOptions::revert) revert, std::function<void()> trigger_sync);
  void Stop();

  struct Impl;

 private:
  explicit LeaderControllers(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bosun::cli
