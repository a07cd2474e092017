#include "node/sandbox_pool.h"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>

#include "core/log.h"

namespace bosun::node {
namespace {

constexpr char kPrefix[] = "pool-";
constexpr int kFillNice = 10;

std::string NewPoolId() {
  static std::atomic<uint64_t> seq{0};
  auto now = std::chrono::system_clock::now().time_since_epoch();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%x-%llx-%llx", kPrefix, static_cast<unsigned>(::getpid()),
                static_cast<unsigned long long>(std::chrono::duration_cast<std::chrono::microseconds>(now).count()),
                static_cast<unsigned long long>(seq.fetch_add(1)));
  return buf;
}

}  // namespace

bool SandboxPool::IsPoolId(const std::string& uid) { return uid.rfind(kPrefix, 0) == 0; }

SandboxPool::~SandboxPool() { Stop(); }

void SandboxPool::Discard(const std::string& uid, const std::string& net_id, const std::string& netns) {
  if (auto st = network_->Teardown(net_id.empty() ? uid : net_id, netns); !st) {
    log::Warn("node", "pooled sandbox: network teardown failed", {{"sandbox", uid}, {"error", st.error().message()}});
  }
  if (auto st = runtime_->RemovePodSandbox(uid); !st) {
    log::Warn("node", "pooled sandbox: removal failed", {{"sandbox", uid}, {"error", st.error().message()}});
  }
}

void SandboxPool::Start() {
  if (started_) return;
  started_ = true;
  // Left by a daemon that was killed: they belong to no pod.
  if (auto sbs = runtime_->ListPodSandboxes()) {
    for (const auto& sb : *sbs) {
      if (IsPoolId(sb.pod_uid)) Discard(sb.pod_uid, sb.net_id, sb.netns_path);
    }
  }
  if (size_ <= 0) return;
  filler_ = std::thread([this] { FillLoop(); });
}

void SandboxPool::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (filler_.joinable()) filler_.join();
  std::deque<Claimed> left;
  {
    std::lock_guard<std::mutex> l(mu_);
    left.swap(ready_);
  }
  for (const auto& c : left) Discard(c.sandbox.pod_uid, c.sandbox.net_id, c.sandbox.netns_path);
  if (!left.empty()) log::Info("node", "sandbox pool emptied", {{"removed", std::to_string(left.size())}});
}

size_t SandboxPool::ready() const {
  std::lock_guard<std::mutex> l(mu_);
  return ready_.size();
}

void SandboxPool::FillLoop() {
  // Filling is background work: a take starts a refill at the very moment
  // its pod's container starts, and the CNI plugins of the refill would
  // compete with runc for the CPU. At nice 10 (inherited by the processes
  // this thread starts) the fill yields to pod starts but is not starved
  // while it holds host-local's lock. Failure to lower it is harmless.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kFillNice);
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    if (ready_.size() >= static_cast<size_t>(size_)) {
      cv_.wait(l, [&] { return stop_ || ready_.size() < static_cast<size_t>(size_); });
      continue;
    }
    l.unlock();
    SandboxConfig sc;
    sc.pod_uid = NewPoolId();
    sc.name = "pool";
    sc.hostname = "pool";
    sc.pooled = true;
    std::optional<Claimed> made;
    auto sb = runtime_->RunPodSandbox(sc);
    if (!sb) {
      log::Warn("node", "sandbox pool: cannot make a sandbox", {{"error", sb.error().message()}});
    } else {
      auto ip = network_->Setup(sb->net_id, sb->netns_path, {});
      if (!ip) {
        log::Warn("node", "sandbox pool: network set-up failed", {{"error", ip.error().message()}});
        Discard(sb->pod_uid, sb->net_id, sb->netns_path);
      } else {
        made = Claimed{*sb, *ip};
      }
    }
    l.lock();
    if (made) {
      ready_.push_back(std::move(*made));
    } else {
      cv_.wait_for(l, std::chrono::seconds(1), [&] { return stop_; });
    }
  }
}

std::optional<SandboxPool::Claimed> SandboxPool::Take(const SandboxConfig& config) {
  std::optional<Claimed> c;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_ || ready_.empty()) return std::nullopt;
    c = std::move(ready_.front());
    ready_.pop_front();
    cv_.notify_all();
  }
  auto sb = runtime_->ClaimPodSandbox(c->sandbox.pod_uid, config);
  if (!sb) {
    if (sb.error().code() == Code::kAlreadyExists) {
      std::lock_guard<std::mutex> l(mu_);
      ready_.push_front(std::move(*c));  // untouched: still ready
      return std::nullopt;
    }
    log::Warn("node", "sandbox pool: claim failed", {{"sandbox", c->sandbox.pod_uid}, {"error", sb.error().message()}});
    Discard(c->sandbox.pod_uid, c->sandbox.net_id, "");
    (void)runtime_->RemovePodSandbox(config.pod_uid);
    return std::nullopt;
  }
  return Claimed{*sb, c->ip};
}

}  // namespace bosun::node
