// What the scheduler reads of pods and nodes: requests as Kubernetes computes
// them, host ports, tolerations, taints, and node selectors compiled against
// the interned node labels.
#include <algorithm>
#include <charconv>

#include "core/quantity.h"
#include "reconciler/scheduler_internal.h"

namespace bosun::reconciler::sched {
namespace {

const Json& F(const Json& j, const char* key) {
  return Object::Field(j, key);
}

std::string Str(const Json& j, const char* key) {
  const Json& v = F(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

// A quantity as a JSON string or number; nullopt when absent or malformed.
std::optional<Quantity> QuantityOf(const Json& v) {
  if (v.is_string()) {
    auto q = Quantity::Parse(v.get_ref<const std::string&>());
    if (q) return *q;
    return std::nullopt;
  }
  if (v.is_number_integer()) return Quantity::FromInt(v.get<int64_t>());
  if (v.is_number()) {
    auto q = Quantity::Parse(v.dump());
    if (q) return *q;
  }
  return std::nullopt;
}

struct Request {
  Resources value;    // what the container asks for (0 when nothing)
  Resources nonzero;  // the same, with kube-scheduler's defaults for scoring
};

constexpr int64_t kDefaultMilliCpu = 100;                // 100m
constexpr int64_t kDefaultMemory = 200LL * 1024 * 1024;  // 200Mi

// A container's request of cpu and memory: resources.requests, or
// resources.limits where requests do not name the resource (API defaulting).
Request ContainerRequest(const Json& c) {
  const Json& res = F(c, "resources");
  const Json& req = F(res, "requests");
  const Json& lim = F(res, "limits");
  Request out;
  auto get = [&](const char* name) -> std::optional<Quantity> {
    if (auto q = QuantityOf(F(req, name))) return q;
    return QuantityOf(F(lim, name));
  };
  if (auto q = get("cpu")) {
    out.value.milli_cpu = out.nonzero.milli_cpu = q->MilliValue();
  } else {
    out.nonzero.milli_cpu = kDefaultMilliCpu;
  }
  if (auto q = get("memory")) {
    out.value.memory = out.nonzero.memory = q->Value();
  } else {
    out.nonzero.memory = kDefaultMemory;
  }
  return out;
}

void Add(Resources& a, const Resources& b) {
  a.milli_cpu += b.milli_cpu;
  a.memory += b.memory;
}
void Max(Resources& a, const Resources& b) {
  a.milli_cpu = std::max(a.milli_cpu, b.milli_cpu);
  a.memory = std::max(a.memory, b.memory);
}

bool IsSidecar(const Json& init_container) {
  return Str(init_container, "restartPolicy") == "Always";
}

void AddPorts(const Json& container, std::vector<HostPort>* out) {
  const Json& ports = F(container, "ports");
  if (!ports.is_array()) return;
  for (const auto& p : ports) {
    const Json& hp = F(p, "hostPort");
    if (!hp.is_number_integer() || hp.get<int64_t>() <= 0) continue;
    HostPort h;
    h.port = static_cast<int32_t>(hp.get<int64_t>());
    h.ip = Str(p, "hostIP");
    if (h.ip.empty()) h.ip = "0.0.0.0";
    std::string proto = Str(p, "protocol");
    h.protocol = proto.empty() || proto == "TCP" ? 0 : proto == "UDP" ? 1 : proto == "SCTP" ? 2 : 3;
    out->push_back(std::move(h));
  }
}

Effect EffectOf(const std::string& s) {
  if (s == "NoSchedule") return Effect::kNoSchedule;
  if (s == "PreferNoSchedule") return Effect::kPreferNoSchedule;
  if (s == "NoExecute") return Effect::kNoExecute;
  return Effect::kOther;
}

std::optional<int64_t> ParseInt(const std::string& s) {
  int64_t v = 0;
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') ++b;
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e || b == e) return std::nullopt;
  return v;
}

Term CompileTerm(const Json& term, const Interner& interner) {
  Term t;
  const Json& exprs = F(term, "matchExpressions");
  const Json& fields = F(term, "matchFields");
  size_t n = (exprs.is_array() ? exprs.size() : 0) + (fields.is_array() ? fields.size() : 0);
  if (n == 0) {
    t.matches_nothing = true;  // an empty term selects no node, as in Kubernetes
    return t;
  }
  auto compile = [&](const Json& e, bool field) {
    Requirement r;
    r.field = field;
    std::string op = Str(e, "operator");
    const Json& values = F(e, "values");
    std::vector<std::string> vals;
    if (values.is_array()) {
      for (const auto& v : values) {
        if (v.is_string()) vals.push_back(v.get<std::string>());
      }
    }
    if (field) {
      // Only metadata.name with In/NotIn is a valid field requirement.
      if (Str(e, "key") != "metadata.name" || (op != "In" && op != "NotIn") || vals.empty()) {
        t.matches_nothing = true;
        return;
      }
      r.op = op == "In" ? Requirement::Op::kIn : Requirement::Op::kNotIn;
      r.names = std::move(vals);
      t.requirements.push_back(std::move(r));
      return;
    }
    r.key = interner.Find(Str(e, "key"));
    if (op == "In" || op == "NotIn") {
      if (vals.empty()) {
        t.matches_nothing = true;  // invalid: In/NotIn need values
        return;
      }
      r.op = op == "In" ? Requirement::Op::kIn : Requirement::Op::kNotIn;
      for (const auto& v : vals) {
        int32_t id = interner.Find(v);
        if (id >= 0) r.values.push_back(id);  // an unknown value is on no node
      }
    } else if (op == "Exists" || op == "DoesNotExist") {
      if (!vals.empty()) {
        t.matches_nothing = true;
        return;
      }
      r.op = op == "Exists" ? Requirement::Op::kExists : Requirement::Op::kDoesNotExist;
    } else if (op == "Gt" || op == "Lt") {
      auto num = vals.size() == 1 ? ParseInt(vals[0]) : std::nullopt;
      if (!num) {
        t.matches_nothing = true;
        return;
      }
      r.op = op == "Gt" ? Requirement::Op::kGt : Requirement::Op::kLt;
      r.number = *num;
    } else {
      t.matches_nothing = true;
      return;
    }
    t.requirements.push_back(std::move(r));
  };
  if (exprs.is_array()) {
    for (const auto& e : exprs) compile(e, false);
  }
  if (fields.is_array()) {
    for (const auto& e : fields) compile(e, true);
  }
  return t;
}

}  // namespace

bool Tolerates(const Toleration& t, const Taint& taint) {
  if (!t.any_effect && t.effect != taint.effect) return false;
  if (!t.key.empty() && t.key != taint.key) return false;
  return t.exists || t.value == taint.value;
}

bool ToleratesAny(const std::vector<Toleration>& ts, const Taint& taint) {
  for (const auto& t : ts) {
    if (Tolerates(t, taint)) return true;
  }
  return false;
}

PodFootprint ParsePodFootprint(const Object& pod) {
  PodFootprint fp;
  const Json& spec = pod.spec();
  Resources sum, nz_sum;
  const Json& containers = F(spec, "containers");
  if (containers.is_array()) {
    for (const auto& c : containers) {
      Request r = ContainerRequest(c);
      Add(sum, r.value);
      Add(nz_sum, r.nonzero);
      AddPorts(c, &fp.ports);
    }
  }
  // Init containers run one after another before the others, so the pod
  // needs at least the largest of them; sidecars (restartPolicy Always) keep
  // running, so they add to everything after them (resourcehelper.PodRequests).
  const Json& inits = F(spec, "initContainers");
  if (inits.is_array()) {
    Resources sidecars, nz_sidecars, init_max, nz_init_max;
    for (const auto& c : inits) {
      Request r = ContainerRequest(c);
      if (IsSidecar(c)) {
        Add(sum, r.value);
        Add(nz_sum, r.nonzero);
        Add(sidecars, r.value);
        Add(nz_sidecars, r.nonzero);
        r.value = sidecars;
        r.nonzero = nz_sidecars;
        AddPorts(c, &fp.ports);
      } else {
        Add(r.value, sidecars);
        Add(r.nonzero, nz_sidecars);
      }
      Max(init_max, r.value);
      Max(nz_init_max, r.nonzero);
    }
    Max(sum, init_max);
    Max(nz_sum, nz_init_max);
  }
  const Json& overhead = F(spec, "overhead");
  if (overhead.is_object()) {
    Resources o;
    if (auto q = QuantityOf(F(overhead, "cpu"))) o.milli_cpu = q->MilliValue();
    if (auto q = QuantityOf(F(overhead, "memory"))) o.memory = q->Value();
    Add(sum, o);
    Add(nz_sum, o);
  }
  fp.request = sum;
  fp.nonzero = nz_sum;
  if (auto ref = pod.controller_ref()) fp.owner_uid = ref->uid;
  return fp;
}

std::vector<Toleration> ParseTolerations(const Json& spec) {
  std::vector<Toleration> out;
  const Json& ts = F(spec, "tolerations");
  if (!ts.is_array()) return out;
  for (const auto& j : ts) {
    Toleration t;
    t.key = Str(j, "key");
    std::string op = Str(j, "operator");
    if (op != "" && op != "Equal" && op != "Exists") continue;  // tolerates nothing
    t.exists = op == "Exists";
    t.value = Str(j, "value");
    std::string effect = Str(j, "effect");
    t.any_effect = effect.empty();
    t.effect = EffectOf(effect);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<Taint> ParseTaints(const Json& node_spec) {
  std::vector<Taint> out;
  const Json& ts = F(node_spec, "taints");
  if (!ts.is_array()) return out;
  for (const auto& j : ts) {
    out.push_back(Taint{Str(j, "key"), Str(j, "value"), EffectOf(Str(j, "effect"))});
  }
  return out;
}

int32_t Interner::Intern(const std::string& s) {
  auto [it, added] = ids_.try_emplace(s, static_cast<int32_t>(strings_.size()));
  if (added) strings_.push_back(s);
  return it->second;
}

int32_t Interner::Find(const std::string& s) const {
  auto it = ids_.find(s);
  return it == ids_.end() ? -1 : it->second;
}

void NodeInfo::SetLabels(std::vector<std::pair<int32_t, int32_t>> sorted) {
  labels = std::move(sorted);
  inline_count = labels.size() <= static_cast<size_t>(kInlineLabels) ? static_cast<int32_t>(labels.size()) : -1;
  for (int i = 0; i < inline_count; ++i) inline_labels[i] = labels[i];
}

const std::pair<int32_t, int32_t>* NodeInfo::LabelSlow(int32_t key) const {
  auto it = std::lower_bound(labels.begin(), labels.end(), key,
                             [](const std::pair<int32_t, int32_t>& l, int32_t k) { return l.first < k; });
  return it != labels.end() && it->first == key ? &*it : nullptr;
}

bool NodeInfo::SameForScheduling(const NodeInfo& o) const {
  auto same_taints = [](const std::vector<Taint>& a, const std::vector<Taint>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i].key != b[i].key || a[i].value != b[i].value || a[i].effect != b[i].effect) return false;
    }
    return true;
  };
  return allocatable.milli_cpu == o.allocatable.milli_cpu && allocatable.memory == o.allocatable.memory &&
         allocatable_pods == o.allocatable_pods && labels == o.labels && unschedulable == o.unschedulable &&
         same_taints(taints, o.taints);
}

PodQuery PreparePod(const Object& pod) {
  PodQuery q;
  q.key = pod.namespace_().empty() ? pod.name() : pod.namespace_() + "/" + pod.name();
  q.uid = pod.uid();
  q.footprint = ParsePodFootprint(pod);
  q.tolerations = ParseTolerations(pod.spec());
  q.tolerates_unschedulable =
      ToleratesAny(q.tolerations, Taint{"node.kubernetes.io/unschedulable", "", Effect::kNoSchedule});
  return q;
}

void ResolveSelectors(const Object& pod, const Interner& interner, PodQuery* q) {
  const Json& spec = pod.spec();
  const Json& selector = F(spec, "nodeSelector");
  if (selector.is_object()) {
    for (const auto& [k, v] : selector.items()) {
      int32_t kid = interner.Find(k);
      int32_t vid = v.is_string() ? interner.Find(v.get<std::string>()) : -1;
      if (kid < 0 || vid < 0) {
        q->selector_impossible = true;
        continue;
      }
      q->node_selector.emplace_back(kid, vid);
    }
  }
  const Json& na = F(F(spec, "affinity"), "nodeAffinity");
  const Json& required = F(na, "requiredDuringSchedulingIgnoredDuringExecution");
  if (required.is_object()) {
    q->has_required = true;
    const Json& terms = F(required, "nodeSelectorTerms");
    if (terms.is_array()) {
      for (const auto& t : terms) q->required.push_back(CompileTerm(t, interner));
    }
  }
  q->needs_affinity = q->selector_impossible || !q->node_selector.empty() || q->has_required;
  const Json& preferred = F(na, "preferredDuringSchedulingIgnoredDuringExecution");
  if (preferred.is_array()) {
    for (const auto& p : preferred) {
      const Json& w = F(p, "weight");
      int32_t weight = w.is_number_integer() ? static_cast<int32_t>(w.get<int64_t>()) : 0;
      if (weight == 0) continue;
      Term t = CompileTerm(F(p, "preference"), interner);
      if (t.matches_nothing) continue;  // empty preferences are skipped, as in Kubernetes
      t.weight = weight;
      q->preferred.push_back(std::move(t));
    }
  }
}

bool MatchesTerm(const Term& t, const NodeInfo& node, const Interner& interner) {
  if (t.matches_nothing) return false;
  for (const auto& r : t.requirements) {
    bool ok = false;
    if (r.field) {
      bool in = std::find(r.names.begin(), r.names.end(), node.name) != r.names.end();
      ok = r.op == Requirement::Op::kIn ? in : !in;
    } else {
      const auto* label = node.Label(r.key);
      switch (r.op) {
        case Requirement::Op::kIn:
          ok = label != nullptr && std::find(r.values.begin(), r.values.end(), label->second) != r.values.end();
          break;
        case Requirement::Op::kNotIn:
          ok = label == nullptr || std::find(r.values.begin(), r.values.end(), label->second) == r.values.end();
          break;
        case Requirement::Op::kExists:
          ok = label != nullptr;
          break;
        case Requirement::Op::kDoesNotExist:
          ok = label == nullptr;
          break;
        case Requirement::Op::kGt:
        case Requirement::Op::kLt: {
          if (label == nullptr) break;
          auto v = ParseInt(interner.Get(label->second));
          ok = v && (r.op == Requirement::Op::kGt ? *v > r.number : *v < r.number);
          break;
        }
        case Requirement::Op::kNever:
          break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace bosun::reconciler::sched
