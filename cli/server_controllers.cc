#include "cli/server_controllers.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "core/duration.h"
#include "core/log.h"
#include "reconciler/sealing_keys.h"
#include "reconciler/workloads.h"
#include "state/client.h"

namespace bosun::cli {
namespace {

using namespace std::chrono_literals;
constexpr auto kLeaderPoll = 250ms;

Result<std::chrono::milliseconds> FlagDuration(const std::string& flag, const std::string& text) {
  auto d = ParseDuration(text);
  if (!d) return Error(Code::kInvalid, flag + ": " + d.error().message());
  if (*d < 1s) return Error(Code::kInvalid, flag + ": must be at least 1s, not " + text);
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

}  // namespace

void AddControllerFlags(CLI::App* cmd, ControllerFlags* f) {
  cmd->add_option("--node-monitor-grace-period", f->node_monitor_grace,
                  "A node whose Lease is not renewed for this long is marked NotReady")
      ->capture_default_str();
  cmd->add_option("--pod-eviction-timeout", f->pod_eviction_timeout,
                  "Pods of a node NotReady for this long are evicted and replaced elsewhere")
      ->capture_default_str();
  cmd->add_option("--scheduler-scoring", f->scheduler_scoring,
                  "LeastAllocated (spread pods over nodes) or MostAllocated (bin-packing)")
      ->capture_default_str();
  cmd->add_option("--healthy-after", f->healthy_after,
                  "A revision is Healthy once its new pods have stayed up this long (a crash loop looks\n"
                  "rolled out between its restarts); 0s: as soon as they are available")
      ->capture_default_str();
  cmd->add_option("--watch-after-healthy", f->watch_after_healthy,
                  "How long the live revision is still watched once Healthy: a container of its new pods that\n"
                  "crash-loops in that time makes it Degraded (and reverted, with autoRevert); 0s: not watched")
      ->capture_default_str();
  cmd->add_option("--sealing-key-file", f->sealing_key_file,
                  "Import this sealing key pair (bosun-sealing-key file) at start unless the cluster has it");
}

struct LeaderControllers::Impl {
  reconciler::WorkloadOptions options;
  state::ReplicatedService* service = nullptr;
  std::unique_ptr<state::Client> client;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::atomic<bool> stop_flag{false};
  std::thread loop;

  void Loop();
};

LeaderControllers::LeaderControllers(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LeaderControllers::~LeaderControllers() {
  Stop();
}

Result<std::unique_ptr<LeaderControllers>> LeaderControllers::Prepare(const ControllerFlags& f) {
  auto impl = std::make_unique<Impl>();
  auto grace = FlagDuration("--node-monitor-grace-period", f.node_monitor_grace);
  if (!grace) return grace.error();
  auto eviction = FlagDuration("--pod-eviction-timeout", f.pod_eviction_timeout);
  if (!eviction) return eviction.error();
  if (f.scheduler_scoring != "LeastAllocated" && f.scheduler_scoring != "MostAllocated") {
    return Error(Code::kInvalid,
                 "--scheduler-scoring: must be LeastAllocated or MostAllocated, not \"" + f.scheduler_scoring + "\"");
  }
  // `bosun node` renews its Lease every 5 s (node/daemon.h): a grace under
  // two renewals marks live nodes Unknown between them.
  if (*grace < 10s) {
    log::Warn("server", "--node-monitor-grace-period is shorter than two Lease renewals of a node (5s each): live "
                        "nodes may be marked Unknown between renewals",
              {{"grace", f.node_monitor_grace}});
  }
  impl->options.node_monitor_grace = *grace;
  impl->options.pod_eviction_timeout = *eviction;
  impl->options.scheduler_scoring = f.scheduler_scoring;
  auto healthy_after = ParseDuration(f.healthy_after);
  if (!healthy_after) return Error(Code::kInvalid, "--healthy-after: " + healthy_after.error().message());
  if (healthy_after->count() < 0) return Error(Code::kInvalid, "--healthy-after: must not be negative");
  impl->options.health.healthy_after = std::chrono::duration_cast<std::chrono::milliseconds>(*healthy_after);
  auto watch = ParseDuration(f.watch_after_healthy);
  if (!watch) return Error(Code::kInvalid, "--watch-after-healthy: " + watch.error().message());
  if (watch->count() < 0) return Error(Code::kInvalid, "--watch-after-healthy: must not be negative");
  impl->options.health.watch_after_healthy = std::chrono::duration_cast<std::chrono::milliseconds>(*watch);
  if (!f.sealing_key_file.empty()) {
    auto key = reconciler::ReadSealingKeyFile(f.sealing_key_file);
    if (!key) return Error(key.error().code(), "--sealing-key-file: " + key.error().message());
    impl->options.sealed_secrets.import_key = std::move(*key);
  }
  return std::unique_ptr<LeaderControllers>(new LeaderControllers(std::move(impl)));
}

Status LeaderControllers::Start(state::ReplicatedService* service, const std::string& api_url,
                                const std::string& admin_token,
                                decltype(reconciler::RevisionHealthOptions::revert) revert,
                                std::function<void()> trigger_sync) {
  state::ClientOptions co;
  co.servers = {api_url};
  co.unavailable_retry = std::chrono::milliseconds(0);  // its own loops retry
  co.token = admin_token;
  auto client = state::Client::Create(co);
  if (!client) return client.error();
  impl_->client = std::move(*client);
  impl_->service = service;
  impl_->options.health.revert = std::move(revert);
  impl_->options.health.trigger_sync = std::move(trigger_sync);
  impl_->loop = std::thread([impl = impl_.get()] { impl->Loop(); });
  return Ok();
}

void LeaderControllers::Impl::Loop() {
  std::unique_ptr<reconciler::ControllerManager> mgr;
  auto stop_manager = [&](const char* why) {
    if (!mgr) return;
    mgr->Stop();
    mgr.reset();
    log::Info("server", "workload controllers stopped", {{"why", why}});
  };
  for (;;) {
    bool leader = service->IsLeader();
    if (leader && !mgr) {
      auto m = std::make_unique<reconciler::ControllerManager>(client.get(), &Clock::System());
      Status st = reconciler::AddWorkloadControllers(*m, options);
      if (st) st = m->Start(&stop_flag);
      if (!st) {
        log::Error("server", "cannot start the workload controllers", {{"error", st.error().message()}});
        m->Stop();
      } else {
        mgr = std::move(m);
        log::Info("server", "leading: workload controllers started");
      }
    } else if (!leader && mgr) {
      stop_manager("no longer the leader");
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, mgr || !leader ? kLeaderPoll : 2s, [&] { return stopping; });
    if (stopping) break;
  }
  stop_manager("the server is stopping");
}

void LeaderControllers::Stop() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    impl_->stop_flag = true;
    impl_->cv.notify_all();
  }
  if (impl_->loop.joinable()) impl_->loop.join();
}

}  // namespace bosun::cli
