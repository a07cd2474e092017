// The pod worker's teardown: a deleted pod's containers stopped (SIGTERM,
// the grace period, SIGKILL), then every trace of it removed — containers,
// network, sandbox, volumes.
#include <algorithm>
#include <future>

#include "core/kinds.h"
#include "core/log.h"
#include "node/pod_worker.h"
#include "state/client.h"

namespace bosun::node {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

milliseconds PodWorker::Terminate() {
  const Object& pod = snapshot_;
  std::string key = pod.Key();
  if (!terminating_logged_) {
    log::Info("node", "pod deleted: stopping containers", {{"pod", key}, {"grace", std::to_string(Grace().count() / 1000) + "s"}});
    terminating_logged_ = true;
  }
  // Every container of the pod the runtime knows, not only the ones this
  // worker started (older attempts, or runs from before a restart).
  std::vector<std::string> ids;
  if (auto all = env_.runtime->ListContainers()) {
    for (const auto& c : *all) {
      if (c.pod_uid == pod.uid()) ids.push_back(c.id);
    }
  }
  for (const auto& c : states_) {
    for (const auto* run : {&c.current, &c.previous}) {
      if (*run && std::find(ids.begin(), ids.end(), (*run)->id) == ids.end()) ids.push_back((*run)->id);
    }
  }
  bool ok = true;
  std::vector<std::future<Status>> stops;
  milliseconds grace = Grace();
  for (const auto& id : ids) {
    stops.push_back(std::async(std::launch::async, [this, id, grace] { return env_.runtime->StopContainer(id, grace); }));
  }
  for (size_t i = 0; i < stops.size(); ++i) {
    Status st = stops[i].get();
    if (!st && st.error().code() != Code::kNotFound) {
      ok = false;
      log::Warn("node", "stop failed", {{"pod", key}, {"id", ids[i]}, {"error", st.error().message()}});
    }
  }
  for (const auto& id : ids) {
    Status st = env_.runtime->RemoveContainer(id);
    if (!st && st.error().code() != Code::kNotFound) {
      ok = false;
      log::Warn("node", "remove failed", {{"pod", key}, {"id", id}, {"error", st.error().message()}});
    }
  }
  std::string netns = sandbox_ ? sandbox_->netns_path : "";
  std::string net_id = sandbox_ ? sandbox_->net_id : "";
  if (netns.empty() || net_id.empty()) {
    if (auto sbs = env_.runtime->ListPodSandboxes()) {
      for (const auto& s : *sbs) {
        if (s.pod_uid == pod.uid()) netns = s.netns_path, net_id = s.net_id;
      }
    }
  }
  // A sandbox from the warm pool keeps the network id it was attached under.
  if (net_id.empty()) net_id = pod.uid();
  if (auto st = env_.network->Teardown(net_id, netns); !st) {
    ok = false;
    log::Warn("node", "network teardown failed", {{"pod", key}, {"error", st.error().message()}});
  }
  if (auto st = env_.runtime->RemovePodSandbox(pod.uid()); !st) {
    ok = false;
    log::Warn("node", "sandbox removal failed", {{"pod", key}, {"error", st.error().message()}});
  }
  if (auto st = env_.volumes->Teardown(pod.uid()); !st) {
    ok = false;
    log::Warn("node", "volume teardown failed", {{"pod", key}, {"error", st.error().message()}});
  }
  if (!ok) return 2s;
  for (auto& c : states_) {
    if (c.current) c.current->state = ContainerState::kExited;
  }
  sandbox_.reset();
  if (!deleted_seen_ && env_.client != nullptr) {
    // Graceful deletion: the API kept the object with a deletionTimestamp
    // until the node is done.
    const KindInfo* k = KindRegistry::Builtin().FindKind("Pod");
    auto d = env_.client->Delete(*k, pod.namespace_(), pod.name());
    if (!d && d.error().code() != Code::kNotFound) {
      log::Warn("node", "cannot delete the pod object", {{"pod", key}, {"error", d.error().message()}});
      return 2s;
    }
  }
  log::Info("node", "pod cleaned up", {{"pod", key}});
  done_ = true;
  return 0ms;
}

}  // namespace bosun::node
