// The scheduler's cache and algorithm (scheduler.h): nodes and the pods on
// them kept from informer events; Schedule filters, scores and assumes.
#include "reconciler/scheduler.h"

#include <algorithm>
#include <map>

#include "core/quantity.h"
#include "reconciler/scheduler_internal.h"

namespace bosun::reconciler {
namespace {

using sched::Effect;
using sched::NodeInfo;
using sched::PodFootprint;
using sched::PodQuery;
using sched::Taint;

constexpr int64_t kMaxNodeScore = 100;
// kube-scheduler's minFeasibleNodesToFind and minFeasibleNodesPercentageToFind.
constexpr int kMinFeasibleNodes = 100;
constexpr int kMinFeasiblePercentage = 5;
// kube-scheduler's default score weights.
constexpr int64_t kWeightResources = 1;
constexpr int64_t kWeightSpread = 2;
constexpr int64_t kWeightNodeAffinity = 2;
constexpr int64_t kWeightTaints = 3;

const char* const kReasonUnschedulable = "node(s) were unschedulable";
const char* const kReasonAffinity = "node(s) didn't match Pod's node affinity/selector";
const char* const kReasonPorts = "node(s) didn't have free ports for the requested pod ports";
const char* const kReasonTooManyPods = "Too many pods";
const char* const kReasonCpu = "Insufficient cpu";
const char* const kReasonMemory = "Insufficient memory";
const char* const kNoNodes = "no nodes available to schedule pods";

const Json& F(const Json& j, const char* key) {
  return Object::Field(j, key);
}

std::string Str(const Json& j, const char* key) {
  const Json& v = F(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::string PodKey(const Object& pod) {
  return pod.namespace_().empty() ? pod.name() : pod.namespace_() + "/" + pod.name();
}

bool Terminal(const Object& pod) {
  std::string phase = Str(pod.status(), "phase");
  return phase == "Succeeded" || phase == "Failed";
}

int64_t QuantityField(const Json& list, const char* name, bool milli) {
  const Json& v = F(list, name);
  if (v.is_number_integer()) return milli ? v.get<int64_t>() * 1000 : v.get<int64_t>();
  if (!v.is_string()) return 0;
  auto q = Quantity::Parse(v.get_ref<const std::string&>());
  if (!q) return 0;
  return milli ? q->MilliValue() : q->Value();
}

// Reads what scheduling needs of a Node into `n` (pods are left alone).
void ReadNode(const Object& node, sched::Interner& interner, NodeInfo* n) {
  const Json& status = node.status();
  const Json* alloc = &F(status, "allocatable");
  if (!alloc->is_object()) alloc = &F(status, "capacity");
  n->allocatable.milli_cpu = QuantityField(*alloc, "cpu", true);
  n->allocatable.memory = QuantityField(*alloc, "memory", false);
  n->allocatable_pods = static_cast<int32_t>(std::min<int64_t>(QuantityField(*alloc, "pods", false), INT32_MAX));
  std::vector<std::pair<int32_t, int32_t>> ids;
  const Json& labels = F(F(node.json(), "metadata"), "labels");
  if (labels.is_object()) {
    for (const auto& [k, v] : labels.items()) {
      if (v.is_string()) ids.emplace_back(interner.Intern(k), interner.Intern(v.get<std::string>()));
    }
  }
  std::sort(ids.begin(), ids.end());
  n->SetLabels(std::move(ids));
  n->taints = sched::ParseTaints(node.spec());
  // A node that is not Ready carries the taint Kubernetes' node lifecycle
  // controller would give it, so that tolerating pods may still go there.
  std::string ready;
  const Json& conds = F(status, "conditions");
  if (conds.is_array()) {
    for (const auto& c : conds) {
      if (Str(c, "type") == "Ready") ready = Str(c, "status");
    }
  }
  if (ready != "True") {
    std::string key = ready == "Unknown" ? "node.kubernetes.io/unreachable" : "node.kubernetes.io/not-ready";
    bool has = std::any_of(n->taints.begin(), n->taints.end(), [&](const Taint& t) { return t.key == key; });
    if (!has) n->taints.push_back(Taint{key, "", Effect::kNoSchedule});
  }
  n->hard_taints = n->prefer_taints = false;
  for (const auto& t : n->taints) {
    if (t.effect == Effect::kNoSchedule || t.effect == Effect::kNoExecute) n->hard_taints = true;
    if (t.effect == Effect::kPreferNoSchedule) n->prefer_taints = true;
  }
  const Json& unsched = F(node.spec(), "unschedulable");
  n->unschedulable = unsched.is_boolean() && unsched.get<bool>();
}

}  // namespace

namespace sched {
namespace {

NodeInfo* NodeFor(Scheduler::State& s, const std::string& name) {
  auto& slot = s.nodes[name];
  if (!slot) {
    slot = std::make_unique<NodeInfo>();
    slot->name = name;
  }
  return slot.get();
}

void AddToNode(Scheduler::State& s, NodeInfo* n, const PodFootprint& fp) {
  n->requested.milli_cpu += fp.request.milli_cpu;
  n->requested.memory += fp.request.memory;
  n->nonzero_requested.milli_cpu += fp.nonzero.milli_cpu;
  n->nonzero_requested.memory += fp.nonzero.memory;
  n->pods += 1;
  n->used_ports.insert(n->used_ports.end(), fp.ports.begin(), fp.ports.end());
  if (!fp.owner_uid.empty()) s.owners[fp.owner_uid][n] += 1;
}

// Takes the pod off its node; drops a node that is gone and now empty.
void RemoveFromNode(Scheduler::State& s, NodeInfo* n, const PodFootprint& fp) {
  n->requested.milli_cpu -= fp.request.milli_cpu;
  n->requested.memory -= fp.request.memory;
  n->nonzero_requested.milli_cpu -= fp.nonzero.milli_cpu;
  n->nonzero_requested.memory -= fp.nonzero.memory;
  n->pods -= 1;
  for (const auto& p : fp.ports) {
    auto it = std::find(n->used_ports.begin(), n->used_ports.end(), p);
    if (it != n->used_ports.end()) n->used_ports.erase(it);
  }
  if (!fp.owner_uid.empty()) {
    auto o = s.owners.find(fp.owner_uid);
    if (o != s.owners.end()) {
      auto c = o->second.find(n);
      if (c != o->second.end() && --c->second <= 0) o->second.erase(c);
      if (o->second.empty()) s.owners.erase(o);
    }
  }
  if (!n->present && n->pods <= 0) s.nodes.erase(n->name);
}

int NumFeasibleNodesToFind(int percentage, int n) {
  if (n < kMinFeasibleNodes) return n;
  if (percentage <= 0) percentage = std::max(50 - n / 125, kMinFeasiblePercentage);
  if (percentage >= 100) return n;
  return std::max(n * percentage / 100, kMinFeasibleNodes);
}

// The NoSchedule/NoExecute taint of `n` that the pod does not tolerate.
const Taint* UntoleratedTaint(const PodQuery& q, const NodeInfo& n) {
  for (const auto& t : n.taints) {
    if (t.effect != Effect::kNoSchedule && t.effect != Effect::kNoExecute) continue;
    if (!ToleratesAny(q.tolerations, t)) return &t;
  }
  return nullptr;
}

// spec.nodeSelector and required node affinity.
bool MatchesAffinity(const PodQuery& q, const NodeInfo& n, const Interner& interner) {
  if (q.selector_impossible) return false;
  for (const auto& [key, value] : q.node_selector) {
    const auto* l = n.Label(key);
    if (l == nullptr || l->second != value) return false;
  }
  return !q.has_required ||
         std::any_of(q.required.begin(), q.required.end(), [&](const Term& t) { return MatchesTerm(t, n, interner); });
}

bool PortsConflict(const PodQuery& q, const NodeInfo& n) {
  for (const auto& want : q.footprint.ports) {
    for (const auto& used : n.used_ports) {
      if (want.Conflicts(used)) return true;
    }
  }
  return false;
}

// kube-scheduler's filters in its order, the fast way: does `n` fit?
inline bool Fits(const PodQuery& q, const NodeInfo& n, const Interner& interner) {
  if (n.unschedulable && !q.tolerates_unschedulable) return false;
  if (n.hard_taints && UntoleratedTaint(q, n) != nullptr) return false;
  if (q.needs_affinity && !MatchesAffinity(q, n, interner)) return false;
  if (!q.footprint.ports.empty() && !n.used_ports.empty() && PortsConflict(q, n)) return false;
  const Resources& r = q.footprint.request;
  return n.pods < n.allocatable_pods &&
         (r.milli_cpu <= 0 || r.milli_cpu <= n.allocatable.milli_cpu - n.requested.milli_cpu) &&
         (r.memory <= 0 || r.memory <= n.allocatable.memory - n.requested.memory);
}

// The same filters, saying why `n` does not fit: the first filter that
// rejects it gives the reasons (NodeResourcesFit may give several).
void WhyNot(const PodQuery& q, const NodeInfo& n, const Interner& interner, std::vector<std::string>* reasons) {
  if (n.unschedulable && !q.tolerates_unschedulable) {
    reasons->push_back(kReasonUnschedulable);
    return;
  }
  if (const Taint* t = n.hard_taints ? UntoleratedTaint(q, n) : nullptr) {
    reasons->push_back("node(s) had untolerated taint {" + t->key + ": " + t->value + "}");
    return;
  }
  if (q.needs_affinity && !MatchesAffinity(q, n, interner)) {
    reasons->push_back(kReasonAffinity);
    return;
  }
  if (!q.footprint.ports.empty() && PortsConflict(q, n)) {
    reasons->push_back(kReasonPorts);
    return;
  }
  if (n.pods + 1 > n.allocatable_pods) reasons->push_back(kReasonTooManyPods);
  const Resources& r = q.footprint.request;
  if (r.milli_cpu > 0 && r.milli_cpu > n.allocatable.milli_cpu - n.requested.milli_cpu) {
    reasons->push_back(kReasonCpu);
  }
  if (r.memory > 0 && r.memory > n.allocatable.memory - n.requested.memory) reasons->push_back(kReasonMemory);
}

int64_t LeastRequested(int64_t requested, int64_t capacity) {
  if (capacity <= 0 || requested > capacity) return 0;
  return (capacity - requested) * kMaxNodeScore / capacity;
}

int64_t MostRequested(int64_t requested, int64_t capacity) {
  if (capacity <= 0) return 0;
  if (requested > capacity) requested = capacity;
  return requested * kMaxNodeScore / capacity;
}

// kube-scheduler's FitError message over every node.
std::string Diagnose(const PodQuery& q, const std::vector<NodeInfo*>& nodes, const Interner& interner) {
  std::map<std::string, int> counts;
  std::vector<std::string> reasons;
  for (const NodeInfo* n : nodes) {
    reasons.clear();
    WhyNot(q, *n, interner, &reasons);
    for (const auto& r : reasons) ++counts[r];
  }
  std::vector<std::string> parts;
  parts.reserve(counts.size());
  for (const auto& [reason, count] : counts) parts.push_back(std::to_string(count) + " " + reason);
  std::sort(parts.begin(), parts.end());  // Go's sort.Strings of "count reason"
  std::string msg = "0/" + std::to_string(nodes.size()) + " nodes are available:";
  for (size_t i = 0; i < parts.size(); ++i) msg += (i == 0 ? " " : ", ") + parts[i];
  return msg + ".";
}

// Scores the feasible nodes (kube-scheduler's plugins, normalized and
// weighted as its defaults) and picks the best, ties at random.
NodeInfo* PickBest(Scheduler::State& s, const PodQuery& q) {
  const size_t m = s.feasible.size();
  const std::unordered_map<NodeInfo*, int32_t>* owner = nullptr;
  if (!q.footprint.owner_uid.empty()) {
    auto it = s.owners.find(q.footprint.owner_uid);
    if (it != s.owners.end()) owner = &it->second;
  }
  if (owner != nullptr) {
    for (const auto& [node, count] : *owner) node->owner_count = count;
  }
  const bool least = s.config.scoring == ScoringStrategy::kLeastAllocated;
  const Resources& want = q.footprint.nonzero;
  s.raw.resize(m);
  RawScore max;
  for (size_t i = 0; i < m; ++i) {
    const NodeInfo& n = *s.feasible[i];
    RawScore& r = s.raw[i];
    int64_t cpu = n.nonzero_requested.milli_cpu + want.milli_cpu;
    int64_t mem = n.nonzero_requested.memory + want.memory;
    r.resources = least ? (LeastRequested(cpu, n.allocatable.milli_cpu) + LeastRequested(mem, n.allocatable.memory)) / 2
                        : (MostRequested(cpu, n.allocatable.milli_cpu) + MostRequested(mem, n.allocatable.memory)) / 2;
    r.spread = n.owner_count;
    r.preferred = 0;
    for (const auto& t : q.preferred) {
      if (MatchesTerm(t, n, s.interner)) r.preferred += t.weight;
    }
    r.taints = 0;
    if (n.prefer_taints) {
      for (const auto& t : n.taints) {
        if (t.effect == Effect::kPreferNoSchedule && !ToleratesAny(q.tolerations, t)) ++r.taints;
      }
    }
    max.spread = std::max(max.spread, r.spread);
    max.preferred = std::max(max.preferred, r.preferred);
    max.taints = std::max(max.taints, r.taints);
  }
  if (owner != nullptr) {
    for (const auto& [node, count] : *owner) node->owner_count = 0;
  }
  NodeInfo* best = nullptr;
  int64_t best_score = -1;
  uint64_t ties = 0;
  for (size_t i = 0; i < m; ++i) {
    const RawScore& r = s.raw[i];
    int64_t spread = max.spread == 0 ? kMaxNodeScore : kMaxNodeScore * (max.spread - r.spread) / max.spread;
    int64_t preferred = max.preferred == 0 ? 0 : kMaxNodeScore * r.preferred / max.preferred;
    int64_t taints = max.taints == 0 ? kMaxNodeScore : kMaxNodeScore - kMaxNodeScore * r.taints / max.taints;
    int64_t score = r.resources * kWeightResources + spread * kWeightSpread + preferred * kWeightNodeAffinity +
                    taints * kWeightTaints;
    if (score > best_score) {
      best_score = score;
      best = s.feasible[i];
      ties = 1;
    } else if (score == best_score && s.rng() % ++ties == 0) {
      best = s.feasible[i];  // reservoir sampling: each tie equally likely
    }
  }
  return best;
}

}  // namespace
}  // namespace sched

Scheduler::Scheduler(SchedulerConfig config) : s_(std::make_unique<State>()) {
  s_->config = config;
  uint64_t seed = config.seed != 0 ? config.seed : static_cast<uint64_t>(std::random_device{}());
  s_->rng.seed(seed);
}

Scheduler::~Scheduler() = default;

bool Scheduler::UpsertNode(const Object& node) {
  std::lock_guard<std::mutex> lock(s_->mu);
  NodeInfo fresh;
  ReadNode(node, s_->interner, &fresh);
  NodeInfo* n = sched::NodeFor(*s_, node.name());
  bool changed = !n->present || !n->SameForScheduling(fresh);
  n->allocatable = fresh.allocatable;
  n->allocatable_pods = fresh.allocatable_pods;
  n->SetLabels(std::move(fresh.labels));
  n->taints = std::move(fresh.taints);
  n->hard_taints = fresh.hard_taints;
  n->prefer_taints = fresh.prefer_taints;
  n->unschedulable = fresh.unschedulable;
  if (!n->present) {
    n->present = true;
    s_->list.push_back(n);
  }
  return changed;
}

bool Scheduler::RemoveNode(const std::string& name) {
  std::lock_guard<std::mutex> lock(s_->mu);
  auto it = s_->nodes.find(name);
  if (it == s_->nodes.end() || !it->second->present) return false;
  NodeInfo* n = it->second.get();
  n->present = false;
  s_->list.erase(std::find(s_->list.begin(), s_->list.end(), n));
  if (s_->next_start >= s_->list.size()) s_->next_start = 0;
  if (n->pods <= 0) s_->nodes.erase(it);
  return true;
}

bool Scheduler::UpsertPod(const Object& pod) {
  const Json& node_name = F(pod.spec(), "nodeName");
  if (!node_name.is_string() || node_name.get_ref<const std::string&>().empty()) return false;
  const std::string& node = node_name.get_ref<const std::string&>();
  std::string key = PodKey(pod);
  std::string uid = pod.uid();
  bool terminal = Terminal(pod);
  std::lock_guard<std::mutex> lock(s_->mu);
  bool freed = false;
  auto it = s_->pods.find(key);
  if (it != s_->pods.end() && (it->second.uid != uid || terminal || it->second.node->name != node)) {
    // Another pod of the same name, a finished one, or moved: off its node.
    sched::RemoveFromNode(*s_, it->second.node, it->second.footprint);
    s_->pods.erase(it);
    it = s_->pods.end();
    freed = true;
  }
  if (terminal) return freed;
  if (it != s_->pods.end()) {
    it->second.assumed = false;  // the bind is confirmed
    return freed;
  }
  CachedPod cp;
  cp.uid = uid;
  cp.node = sched::NodeFor(*s_, node);
  cp.footprint = sched::ParsePodFootprint(pod);
  sched::AddToNode(*s_, cp.node, cp.footprint);
  s_->pods.emplace(std::move(key), std::move(cp));
  return freed;
}

bool Scheduler::RemovePod(const Object& pod) {
  std::string key = PodKey(pod);
  std::string uid = pod.uid();
  std::lock_guard<std::mutex> lock(s_->mu);
  auto it = s_->pods.find(key);
  if (it == s_->pods.end() || (!uid.empty() && it->second.uid != uid)) return false;
  sched::RemoveFromNode(*s_, it->second.node, it->second.footprint);
  s_->pods.erase(it);
  return true;
}

void Scheduler::Forget(const Object& pod) {
  std::string key = PodKey(pod);
  std::lock_guard<std::mutex> lock(s_->mu);
  auto it = s_->pods.find(key);
  if (it == s_->pods.end() || !it->second.assumed || it->second.uid != pod.uid()) return;
  sched::RemoveFromNode(*s_, it->second.node, it->second.footprint);
  s_->pods.erase(it);
}

ScheduleResult Scheduler::Schedule(const Object& pod) {
  ScheduleResult out;
  State& s = *s_;
  PodQuery q = sched::PreparePod(pod);
  std::lock_guard<std::mutex> lock(s.mu);
  sched::ResolveSelectors(pod, s.interner, &q);
  if (auto it = s.pods.find(q.key); it != s.pods.end()) {
    if (it->second.uid == q.uid) {
      out.outcome = ScheduleResult::Outcome::kAlreadyBound;
      out.node = it->second.node->name;
      return out;
    }
    // A pod of the same name that is gone (its deletion not heard of yet).
    sched::RemoveFromNode(s, it->second.node, it->second.footprint);
    s.pods.erase(it);
  }
  const int n = static_cast<int>(s.list.size());
  if (n == 0) {
    out.message = kNoNodes;
    return out;
  }
  const int want = sched::NumFeasibleNodesToFind(s.config.percentage_of_nodes_to_score, n);
  s.feasible.clear();
  int processed = 0;
  size_t idx = s.next_start;
  while (processed < n && static_cast<int>(s.feasible.size()) < want) {
    NodeInfo* node = s.list[idx];
    if (++idx == static_cast<size_t>(n)) idx = 0;
    ++processed;
    if (sched::Fits(q, *node, s.interner)) s.feasible.push_back(node);
  }
  s.next_start = idx;
  out.evaluated = processed;
  out.feasible = static_cast<int>(s.feasible.size());
  if (s.feasible.empty()) {
    out.message = sched::Diagnose(q, s.list, s.interner);
    return out;
  }
  NodeInfo* chosen = s.feasible.front();
  if (s.feasible.size() > 1) chosen = sched::PickBest(s, q);
  sched::AddToNode(s, chosen, q.footprint);
  CachedPod cp;
  cp.uid = q.uid;
  cp.node = chosen;
  cp.footprint = std::move(q.footprint);
  cp.assumed = true;
  s.pods.emplace(std::move(q.key), std::move(cp));
  out.outcome = ScheduleResult::Outcome::kScheduled;
  out.node = chosen->name;
  return out;
}

std::optional<Scheduler::NodeUsage> Scheduler::Usage(const std::string& node) const {
  std::lock_guard<std::mutex> lock(s_->mu);
  auto it = s_->nodes.find(node);
  if (it == s_->nodes.end()) return std::nullopt;
  NodeUsage u;
  u.milli_cpu = it->second->requested.milli_cpu;
  u.memory = it->second->requested.memory;
  u.pods = it->second->pods;
  return u;
}

size_t Scheduler::num_nodes() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->list.size();
}

}  // namespace bosun::reconciler
