// reconciler/scheduler_internal.h — the scheduler's data, private to
// scheduler*.cc: what it keeps of nodes and pods (parsed once, compact, so
// that a filter is a few integer comparisons), and the parsing itself.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/object.h"
#include "reconciler/scheduler.h"

namespace bosun::reconciler::sched {

enum class Effect : uint8_t { kNoSchedule, kPreferNoSchedule, kNoExecute, kOther };

struct Taint {
  std::string key;
  std::string value;
  Effect effect = Effect::kNoSchedule;
};

struct Toleration {
  std::string key;      // "" with Exists: every key
  bool exists = false;  // operator Exists (else Equal)
  std::string value;
  bool any_effect = true;  // effect ""
  Effect effect = Effect::kNoSchedule;
};

// v1helper.TolerationsTolerateTaint.
bool Tolerates(const Toleration& t, const Taint& taint);
bool ToleratesAny(const std::vector<Toleration>& ts, const Taint& taint);

struct HostPort {
  std::string ip;        // "0.0.0.0" when unset
  uint8_t protocol = 0;  // 0 TCP, 1 UDP, 2 SCTP, 3 other
  int32_t port = 0;
  bool Conflicts(const HostPort& o) const {
    return port == o.port && protocol == o.protocol && (ip == o.ip || ip == "0.0.0.0" || o.ip == "0.0.0.0");
  }
  bool operator==(const HostPort&) const = default;
};

struct Resources {
  int64_t milli_cpu = 0;
  int64_t memory = 0;
};

// What the cache keeps of a pod on a node.
struct PodFootprint {
  Resources request;  // for NodeResourcesFit
  Resources nonzero;  // for scoring
  std::vector<HostPort> ports;
  std::string owner_uid;  // the controller ownerReference's uid
};

// Reads a pod's footprint as Kubernetes computes it (see scheduler.h).
PodFootprint ParsePodFootprint(const Object& pod);
std::vector<Toleration> ParseTolerations(const Json& spec);
std::vector<Taint> ParseTaints(const Json& node_spec);

// Strings of node labels, numbered, so that labels compare as integers.
class Interner {
 public:
  int32_t Intern(const std::string& s);
  int32_t Find(const std::string& s) const;  // -1: unknown
  const std::string& Get(int32_t id) const { return strings_[id]; }

 private:
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::string> strings_;
};

struct NodeInfo {
  // What every filter and score reads comes first, in one cache line: a
  // pod's search touches hundreds of nodes, so this is where time goes.
  bool present = false;  // a Node object is known (else a holder of bound pods)
  bool unschedulable = false;
  bool hard_taints = false;    // some taint is NoSchedule or NoExecute
  bool prefer_taints = false;  // some taint is PreferNoSchedule
  int32_t pods = 0;            // pods on it (bound or assumed)
  int32_t allocatable_pods = 0;
  int32_t owner_count = 0;  // scratch for one Schedule: this pod's owner's replicas here
  Resources allocatable;
  Resources requested;          // summed requests of the pods on it
  Resources nonzero_requested;  // the same with scoring's defaults
  // Labels, interned and sorted by key; the first kInlineLabels also right
  // here, next to the fields above, since selectors look at many nodes.
  static constexpr int kInlineLabels = 14;
  int32_t inline_count = 0;  // -1: more than kInlineLabels, look in `labels`
  std::pair<int32_t, int32_t> inline_labels[kInlineLabels];
  std::vector<std::pair<int32_t, int32_t>> labels;
  std::vector<Taint> taints;  // spec.taints, plus not-ready/unreachable
  std::vector<HostPort> used_ports;
  std::string name;

  // True when a pod fitting before may not fit now or the reverse.
  bool SameForScheduling(const NodeInfo& o) const;
  void SetLabels(std::vector<std::pair<int32_t, int32_t>> sorted);
  const std::pair<int32_t, int32_t>* Label(int32_t key) const {
    if (key < 0) return nullptr;
    if (inline_count >= 0) {
      for (int i = 0; i < inline_count; ++i) {
        if (inline_labels[i].first == key) return &inline_labels[i];
      }
      return nullptr;
    }
    return LabelSlow(key);
  }
  const std::pair<int32_t, int32_t>* LabelSlow(int32_t key) const;
};

// A node selector requirement with its strings resolved against the
// Interner (unknown strings cannot match a node label).
struct Requirement {
  enum class Op : uint8_t { kIn, kNotIn, kExists, kDoesNotExist, kGt, kLt, kNever };
  Op op = Op::kNever;
  bool field = false;  // matchFields metadata.name
  int32_t key = -1;
  std::vector<int32_t> values;     // label values (In/NotIn)
  std::vector<std::string> names;  // node names (matchFields)
  int64_t number = 0;              // Gt/Lt
};
struct Term {
  std::vector<Requirement> requirements;  // ANDed
  bool matches_nothing = false;           // an empty or invalid term
  int32_t weight = 0;                     // preferred terms
};

// Everything Schedule needs to know of the pod being scheduled.
struct PodQuery {
  std::string key;
  std::string uid;
  PodFootprint footprint;
  std::vector<Toleration> tolerations;
  bool tolerates_unschedulable = false;
  std::vector<std::pair<int32_t, int32_t>> node_selector;
  bool selector_impossible = false;  // names a label no node has
  bool has_required = false;
  bool needs_affinity = false;  // any of the three above
  std::vector<Term> required;   // ORed
  std::vector<Term> preferred;  // weighted
};

// Reads what the pod asks for (no lock needed), then resolves its node
// selectors against the node labels known now (under the cache's lock).
PodQuery PreparePod(const Object& pod);
void ResolveSelectors(const Object& pod, const Interner& interner, PodQuery* q);

bool MatchesTerm(const Term& t, const NodeInfo& node, const Interner& interner);

// One feasible node's scores before normalization.
struct RawScore {
  int64_t resources = 0;  // already 0-100
  int64_t spread = 0;     // replicas of the pod's owner on the node
  int64_t preferred = 0;  // summed weights of matching preferred terms
  int64_t taints = 0;     // untolerated PreferNoSchedule taints
};

}  // namespace bosun::reconciler::sched

namespace bosun::reconciler {

struct CachedPod {
  std::string uid;
  sched::NodeInfo* node = nullptr;
  sched::PodFootprint footprint;
  bool assumed = false;
};

struct Scheduler::State {
  SchedulerConfig config;
  mutable std::mutex mu;
  sched::Interner interner;
  std::unordered_map<std::string, std::unique_ptr<sched::NodeInfo>> nodes;  // by name
  std::vector<sched::NodeInfo*> list;                                       // present nodes, in the order searched
  std::unordered_map<std::string, CachedPod> pods;                          // by "ns/name"
  // owner uid -> node -> replicas there.
  std::unordered_map<std::string, std::unordered_map<sched::NodeInfo*, int32_t>> owners;
  size_t next_start = 0;
  std::mt19937_64 rng;
  // Scratch, reused by Schedule.
  std::vector<sched::NodeInfo*> feasible;
  std::vector<sched::RawScore> raw;
};

}  // namespace bosun::reconciler
