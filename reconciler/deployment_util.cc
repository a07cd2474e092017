#include "reconciler/deployment_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace bosun::reconciler::apps {

std::string Str(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

int64_t Int(const Json& j, const char* key, int64_t fallback) {
  const Json& v = Object::Field(j, key);
  return v.is_number_integer() ? v.get<int64_t>() : fallback;
}

int32_t SpecReplicas(const Object& o) {
  return static_cast<int32_t>(Int(o.spec(), "replicas", 1));
}

std::optional<int64_t> IntAnnotation(const Object& o, const char* key) {
  auto v = o.annotation(key);
  if (!v || v->empty() || v->size() > 18) return std::nullopt;
  int64_t n = 0;
  bool neg = (*v)[0] == '-';
  for (size_t i = neg ? 1 : 0; i < v->size(); ++i) {
    char c = (*v)[i];
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return neg ? -n : n;
}

std::string PodPhase(const Object& pod) {
  return Str(pod.status(), "phase");
}

bool PodActive(const Object& pod) {
  std::string phase = PodPhase(pod);
  return phase != "Succeeded" && phase != "Failed" && !pod.deletion_timestamp();
}

const Json* FindCondition(const Json& status, const std::string& type) {
  const Json& conds = Object::Field(status, "conditions");
  if (!conds.is_array()) return nullptr;
  for (const auto& c : conds) {
    if (Str(c, "type") == type) return &c;
  }
  return nullptr;
}

bool PodReady(const Object& pod) {
  const Json* c = FindCondition(pod.status(), "Ready");
  return c != nullptr && Str(*c, "status") == "True";
}

std::optional<WallTime> PodReadySince(const Object& pod) {
  const Json* c = FindCondition(pod.status(), "Ready");
  if (c == nullptr || Str(*c, "status") != "True") return std::nullopt;
  return ParseRfc3339(Str(*c, "lastTransitionTime"));
}

bool PodAvailable(const Object& pod, int64_t min_ready_seconds, WallTime now) {
  if (!PodReady(pod)) return false;
  if (min_ready_seconds <= 0) return true;
  auto since = PodReadySince(pod);
  return since && *since + std::chrono::seconds(min_ready_seconds) <= now;
}

int64_t PodRestarts(const Object& pod) {
  int64_t n = 0;
  const Json& list = Object::Field(pod.status(), "containerStatuses");
  if (!list.is_array()) return 0;
  for (const auto& cs : list) n = std::max(n, Int(cs, "restartCount", 0));
  return n;
}

bool SetCondition(Json& status, const std::string& type, const std::string& value, const std::string& reason,
                  const std::string& message, const std::string& now) {
  if (!status.is_object()) status = Json::object();
  Json& conds = status["conditions"];
  if (!conds.is_array()) conds = Json::array();
  std::string transition = now;
  for (auto it = conds.begin(); it != conds.end(); ++it) {
    if (Str(*it, "type") != type) continue;
    if (Str(*it, "status") == value && Str(*it, "reason") == reason) return false;
    if (Str(*it, "status") == value) transition = Str(*it, "lastTransitionTime");
    conds.erase(it);
    break;
  }
  conds.push_back({{"type", type},
                   {"status", value},
                   {"lastUpdateTime", now},
                   {"lastTransitionTime", transition},
                   {"reason", reason},
                   {"message", message}});
  return true;
}

bool RemoveCondition(Json& status, const std::string& type) {
  if (!status.is_object() || !status.contains("conditions") || !status["conditions"].is_array()) return false;
  Json& conds = status["conditions"];
  for (auto it = conds.begin(); it != conds.end(); ++it) {
    if (Str(*it, "type") == type) {
      conds.erase(it);
      return true;
    }
  }
  return false;
}

OwnerReference ControllerRefTo(const Object& owner) {
  OwnerReference r;
  r.api_version = owner.api_version();
  r.kind = owner.kind();
  r.name = owner.name();
  r.uid = owner.uid();
  r.controller = true;
  r.block_owner_deletion = true;
  return r;
}

bool IsControlledBy(const Object& o, const Object& owner) {
  auto ref = o.controller_ref();
  return ref && !ref->uid.empty() && ref->uid == owner.uid();
}

namespace {

uint32_t Fnv32a(const std::string& data, uint32_t h = 2166136261u) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

// The template without the pod-template-hash label (and without the maps
// that removing it leaves empty), so templates compare as Kubernetes'
// EqualIgnoreHash does.
Json WithoutHash(const Json& t) {
  Json c = t.is_object() ? t : Json::object();
  if (c.contains("metadata") && c["metadata"].is_object()) {
    Json& meta = c["metadata"];
    if (meta.contains("labels") && meta["labels"].is_object()) {
      meta["labels"].erase(kPodTemplateHashLabel);
      if (meta["labels"].empty()) meta.erase("labels");
    }
    if (meta.empty()) c.erase("metadata");
  }
  return c;
}

}  // namespace

std::string PodTemplateHash(const Json& pod_template, std::optional<int64_t> collision_count) {
  uint32_t h = Fnv32a(pod_template.dump());
  if (collision_count) {
    // As Kubernetes: the count's 32 bits little-endian in an 8-byte buffer.
    std::string bytes(8, '\0');
    uint32_t c = static_cast<uint32_t>(*collision_count);
    for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((c >> (8 * i)) & 0xff);
    h = Fnv32a(bytes, h);
  }
  static constexpr char kAlphanums[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string digits = std::to_string(h);
  std::string out;
  for (char d : digits) out.push_back(kAlphanums[static_cast<unsigned char>(d) % (sizeof(kAlphanums) - 1)]);
  return out;
}

bool EqualIgnoreHash(const Json& a, const Json& b) {
  return WithoutHash(a) == WithoutHash(b);
}

Result<int32_t> ScaledValue(const Json& v, const std::string& fallback, int32_t total, bool round_up) {
  if (v.is_number_integer()) return static_cast<int32_t>(v.get<int64_t>());
  std::string s = v.is_string() ? v.get<std::string>() : v.is_null() ? fallback : "";
  if (s.size() < 2 || s.back() != '%') {
    return Error(Code::kInvalid, "must be an integer or a percentage such as \"25%\", not " + (v.is_null() ? s : v.dump()));
  }
  int64_t pct = 0;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9' || pct > 1000000) return Error(Code::kInvalid, "invalid percentage \"" + s + "\"");
    pct = pct * 10 + (s[i] - '0');
  }
  int64_t scaled = pct * total;
  return static_cast<int32_t>(round_up ? (scaled + 99) / 100 : scaled / 100);
}

Result<Strategy> ResolveStrategy(const Object& d) {
  Strategy s;
  const Json& strategy = Object::Field(d.spec(), "strategy");
  s.recreate = Str(strategy, "type") == "Recreate";
  if (s.recreate) return s;
  const Json& ru = Object::Field(strategy, "rollingUpdate");
  int32_t replicas = SpecReplicas(d);
  auto surge = ScaledValue(Object::Field(ru, "maxSurge"), "25%", replicas, true);
  if (!surge) return surge.error().Wrap("spec.strategy.rollingUpdate.maxSurge");
  auto unavailable = ScaledValue(Object::Field(ru, "maxUnavailable"), "25%", replicas, false);
  if (!unavailable) return unavailable.error().Wrap("spec.strategy.rollingUpdate.maxUnavailable");
  s.max_surge = *surge;
  s.max_unavailable = *unavailable;
  if (s.max_surge == 0 && s.max_unavailable == 0) s.max_unavailable = 1;
  return s;
}

int32_t MaxUnavailable(const Object& d, const Strategy& s) {
  int32_t replicas = SpecReplicas(d);
  if (s.recreate || replicas == 0) return 0;
  return std::min(s.max_unavailable, replicas);
}

int32_t MaxSurge(const Strategy& s) {
  return s.recreate ? 0 : s.max_surge;
}

Result<std::vector<ObjectPtr>> Claim(state::Client& client, SharedInformer& informer, const Object& owner,
                                     const Selector& selector, const std::vector<ObjectPtr>& candidates,
                                     const std::function<Status()>& can_adopt) {
  std::vector<ObjectPtr> claimed;
  std::optional<Status> adoptable;  // asked once, only if there is an orphan
  for (const ObjectPtr& o : candidates) {
    auto ref = o->controller_ref();
    bool matches = selector.Matches(o->labels());
    if (ref && ref->uid == owner.uid()) {
      if (matches) {
        claimed.push_back(o);
        continue;
      }
      // Release: no longer selected, so no longer ours.
      Object copy = *o;
      std::vector<OwnerReference> refs;
      for (const auto& r : o->owner_references()) {
        if (r.uid != owner.uid()) refs.push_back(r);
      }
      copy.set_owner_references(refs);
      auto w = client.Update(copy);
      if (!w) {
        if (w.error().code() == Code::kNotFound) continue;
        return w.error().Wrap("cannot release " + o->Describe());
      }
      informer.Store(*w);
      continue;
    }
    if (ref || !matches || o->deletion_timestamp() || owner.deletion_timestamp()) continue;
    if (!adoptable) adoptable = can_adopt();
    if (!*adoptable) continue;
    Object copy = *o;
    std::vector<OwnerReference> refs = o->owner_references();
    refs.push_back(ControllerRefTo(owner));
    copy.set_owner_references(refs);
    auto w = client.Update(copy);
    if (!w) {
      if (w.error().code() == Code::kNotFound) continue;
      return w.error().Wrap("cannot adopt " + o->Describe());
    }
    informer.Store(*w);
    claimed.push_back(std::make_shared<const Object>(std::move(*w)));
  }
  return claimed;
}

}  // namespace bosun::reconciler::apps
