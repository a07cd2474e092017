// reconciler/plan.cc — desired vs live, and the plan that makes live desired.
#include "reconciler/plan.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "core/field_path.h"
#include "core/immutable.h"
#include "core/kinds.h"
#include "core/labels.h"
#include "core/parallel.h"

namespace bosun::reconciler {
namespace {

// From this many desired objects a plan copies and marks them on every core.
constexpr size_t kParallelMarkObjects = 512;

// What a diff may show of a value: Secrets' values never leave the store.
bool Redacted(const GroupVersionKind& gvk, const std::string& top) {
  if (gvk.group.empty() && gvk.kind == "Secret") return top == "data" || top == "stringData";
  if (gvk.group == "bosun.dev" && gvk.kind == "SealedSecret") return top == "spec";
  return false;
}

void Add(std::vector<FieldChange>* out, const FieldPath& path, FieldChange::Op op, const Json* from, const Json* to,
         bool redact) {
  FieldChange c;
  c.field = path.str();
  c.op = op;
  c.redacted = redact;
  if (!redact) {
    if (from != nullptr) c.from = *from;
    if (to != nullptr) c.to = *to;
  }
  out->push_back(std::move(c));
}

// Whether a list is one of maps each with a distinct string "name" (env,
// containers, volumes, ports, …), and that name list.
bool NamedEntries(const Json& list, std::vector<std::string>* names) {
  names->clear();
  std::set<std::string> seen;
  for (const Json& e : list) {
    if (!e.is_object()) return false;
    auto n = e.find("name");
    if (n == e.end() || !n->is_string() || !seen.insert(n->get<std::string>()).second) return false;
    names->push_back(n->get<std::string>());
  }
  return true;
}

void DiffValues(const Json& from, const Json& to, const FieldPath& path, bool redact, std::vector<FieldChange>* out);

// Lists of named entries whose names moved (one added, removed or
// reordered): entry by name, as `kubectl diff` reads them ("env[name=A]"), so
// removing the first env var is one removal, not every later one renamed.
bool DiffNamedLists(const Json& from, const Json& to, const FieldPath& path, bool redact,
                    std::vector<FieldChange>* out) {
  std::vector<std::string> a, b;
  if (from.empty() || to.empty() || !NamedEntries(from, &a) || !NamedEntries(to, &b) || a == b) return false;
  // The entries both have, in each one's order: reordered (the order of env
  // vars matters to $(VAR) references) is diffed by position, so it is a
  // change, never "unchanged".
  std::set<std::string> in_from(a.begin(), a.end()), in_to(b.begin(), b.end());
  std::vector<std::string> kept_a, kept_b;
  for (const auto& n : a)
    if (in_to.count(n)) kept_a.push_back(n);
  for (const auto& n : b)
    if (in_from.count(n)) kept_b.push_back(n);
  if (kept_a != kept_b) return false;
  std::map<std::string, const Json*> by_name;
  for (const Json& e : to) by_name[e["name"].get<std::string>()] = &e;
  for (const Json& e : from) {
    const std::string& n = e["name"].get_ref<const std::string&>();
    const FieldPath at = path.Child("name=" + n);
    auto it = by_name.find(n);
    if (it == by_name.end()) {
      Add(out, at, FieldChange::Op::kRemoved, &e, nullptr, redact);
    } else {
      DiffValues(e, *it->second, at, redact, out);
    }
  }
  for (const Json& e : to) {
    const std::string& n = e["name"].get_ref<const std::string&>();
    if (in_from.count(n) == 0) Add(out, path.Child("name=" + n), FieldChange::Op::kAdded, nullptr, &e, redact);
  }
  return true;
}

// A recursive diff of two values: maps key by key, lists index by index (or
// by name, DiffNamedLists), and anything else as one change. For a redacted
// subtree the leaves are named (so a person sees which key of a Secret
// changed) but not shown.
void DiffValues(const Json& from, const Json& to, const FieldPath& path, bool redact, std::vector<FieldChange>* out) {
  if (from.is_object() && to.is_object()) {
    for (auto it = from.begin(); it != from.end(); ++it) {
      auto other = to.find(it.key());
      if (other == to.end()) {
        Add(out, path.Child(it.key()), FieldChange::Op::kRemoved, &it.value(), nullptr, redact);
      } else {
        DiffValues(it.value(), *other, path.Child(it.key()), redact, out);
      }
    }
    for (auto it = to.begin(); it != to.end(); ++it) {
      if (!from.contains(it.key())) Add(out, path.Child(it.key()), FieldChange::Op::kAdded, nullptr, &it.value(), redact);
    }
    return;
  }
  if (from.is_array() && to.is_array()) {
    if (DiffNamedLists(from, to, path, redact, out)) return;
    size_t common = std::min(from.size(), to.size());
    for (size_t i = 0; i < common; ++i) DiffValues(from[i], to[i], path.Index(i), redact, out);
    for (size_t i = common; i < from.size(); ++i) {
      Add(out, path.Index(i), FieldChange::Op::kRemoved, &from[i], nullptr, redact);
    }
    for (size_t i = common; i < to.size(); ++i) Add(out, path.Index(i), FieldChange::Op::kAdded, nullptr, &to[i], redact);
    return;
  }
  // Numbers compare by value whatever their JSON type (3 vs 3.0).
  if (from.is_number() && to.is_number() && from.get<double>() == to.get<double>()) return;
  if (from != to) Add(out, path, FieldChange::Op::kChanged, &from, &to, redact);
}

const Json& MetaMap(const Object& o, const char* field) {
  return Object::Field(Object::Field(o.json(), "metadata"), field);
}

// The keys of labels/annotations the previous apply set.
std::set<std::string> AppliedKeys(const Object& live, const char* field) {
  std::set<std::string> keys;
  auto raw = live.annotation(kAppliedKeysAnnotation);
  if (!raw) return keys;
  Json j = Json::parse(*raw, nullptr, false);
  if (!j.is_object()) return keys;
  const Json& list = Object::Field(j, field);
  if (!list.is_array()) return keys;
  for (const auto& k : list) {
    if (k.is_string()) keys.insert(k.get<std::string>());
  }
  return keys;
}

bool IgnoredAnnotation(const std::string& key) { return key == kRevisionAnnotation || key == kAppliedKeysAnnotation; }

// kLastAppliedAnnotation on a Secret holds the data (a manifest copied from
// `kubectl get -o yaml` keeps it), so it is shown as the data is, by name
// only (Argo CD hides it as well).

void DiffMetaMap(const Object& desired, const Object& live, const char* field, std::vector<FieldChange>* out) {
  const Json& want = MetaMap(desired, field);
  const Json& have = MetaMap(live, field);
  FieldPath base = FieldPath("metadata").Child(field);
  bool annotations = std::string(field) == "annotations";
  const bool secret = Redacted(desired.gvk(), "data") || Redacted(desired.gvk(), "spec");
  auto redact = [&](const std::string& key) { return annotations && secret && key == kLastAppliedAnnotation; };
  if (want.is_object()) {
    for (auto it = want.begin(); it != want.end(); ++it) {
      if (annotations && IgnoredAnnotation(it.key())) continue;
      const Json* cur = have.is_object() && have.contains(it.key()) ? &have[it.key()] : nullptr;
      if (cur == nullptr) {
        Add(out, base.Child(it.key()), FieldChange::Op::kAdded, nullptr, &it.value(), redact(it.key()));
      } else if (*cur != it.value()) {
        Add(out, base.Child(it.key()), FieldChange::Op::kChanged, cur, &it.value(), redact(it.key()));
      }
    }
  }
  // Keys the repository set last time and no longer wants are removed.
  for (const auto& key : AppliedKeys(live, field)) {
    if (annotations && IgnoredAnnotation(key)) continue;
    if (want.is_object() && want.contains(key)) continue;
    if (have.is_object() && have.contains(key)) {
      Add(out, base.Child(key), FieldChange::Op::kRemoved, &have[key], nullptr, redact(key));
    }
  }
}

std::string Identity(const std::string& group, const std::string& kind, const std::string& ns, const std::string& name) {
  return group + "\x1f" + kind + "\x1f" + ns + "\x1f" + name;
}

std::vector<std::string> MapKeys(const Json& m) {
  std::vector<std::string> keys;
  if (m.is_object()) {
    for (auto it = m.begin(); it != m.end(); ++it) keys.push_back(it.key());
  }
  return keys;
}

// The desired object as bosun writes it: namespace defaulted, marks added.
Object Marked(const Manifest& m, const KindInfo& kind, const std::string& ns, const PlanOptions& options) {
  Object o = m.object;
  if (kind.namespaced) o.set_namespace(ns);
  Json applied = {{"labels", MapKeys(MetaMap(m.object, "labels"))},
                  {"annotations", MapKeys(MetaMap(m.object, "annotations"))}};
  o.set_label(kManagedByLabel, kManagedByValue);
  o.set_annotation(kSourcePathAnnotation, m.file);
  o.set_annotation(kRevisionAnnotation, options.revision);
  o.set_annotation(kAppliedKeysAnnotation, applied.dump());
  return o;
}

// For an update: the marked desired object, keeping what other writers put
// in the live metadata (labels/annotations the repository never set) and
// the live resourceVersion as the precondition.
Object ForUpdate(Object desired, const Object& live) {
  for (const char* field : {"labels", "annotations"}) {
    const Json& have = MetaMap(live, field);
    if (!have.is_object()) continue;
    std::set<std::string> applied = AppliedKeys(live, field);
    Json& want = desired.json()["metadata"][field];
    if (!want.is_object()) want = Json::object();
    for (auto it = have.begin(); it != have.end(); ++it) {
      if (want.contains(it.key()) || applied.count(it.key()) != 0) continue;
      want[it.key()] = it.value();
    }
  }
  // A Pod the scheduler bound stays on its node (spec.nodeName cannot be
  // taken back).
  if (desired.kind() == "Pod" && !Object::Field(desired.spec(), "nodeName").is_string() &&
      Object::Field(live.spec(), "nodeName").is_string()) {
    desired.json()["spec"]["nodeName"] = Object::Field(live.spec(), "nodeName");
  }
  desired.set_resource_version(live.resource_version());
  return desired;
}

// The value at `steps` of `j`, or null when it has none ([*] is not a
// single value: null).
const Json* At(const Json& j, const std::vector<FieldStep>& steps, size_t from, size_t to) {
  const Json* cur = &j;
  for (size_t i = from; i < to; ++i) {
    const FieldStep& s = steps[i];
    if (s.kind == FieldStep::Kind::kKey) {
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(s.key);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (s.kind == FieldStep::Kind::kIndex) {
      if (!cur->is_array() || s.index >= cur->size()) return nullptr;
      cur = &(*cur)[s.index];
    } else {
      return nullptr;
    }
  }
  return cur;
}

// Makes the field at `steps` (from `at` on, `path` naming it so far) of
// `want` what it is in `have`, and adds to `kept` how the two differed
// (from: live, to: the repository's, as a diff has them; redacted as the
// object's diff is):
// - the live value, when the live object has it (the maps on the way are
//   made in `want`, never a list item: an index `want` lacks is appended
//   only right after its last item);
// - absent, when the live object has the field's map but not the field (a
//   list item is never taken away);
// - the repository's value, when the live object lacks the field's parent
//   (a list item it does not have).
// `[*]` is every item of the live list (for the last step: the live list).
void KeepLive(Json& want, const Json& have, const std::vector<FieldStep>& steps, size_t at, const FieldPath& path,
              bool redact, std::vector<FieldChange>* kept) {
  for (size_t i = at; i < steps.size(); ++i) {
    if (steps[i].kind != FieldStep::Kind::kEveryIndex) continue;
    const Json* list = At(have, steps, at, i);
    if (list == nullptr || !list->is_array()) return;
    // The desired list at the same place (maps are not made on the way: a
    // list it lacks has no items whose fields could be kept).
    Json* mine = &want;
    FieldPath here = path;
    for (size_t k = at; k < i; ++k) {
      const FieldStep& s = steps[k];
      if (s.kind == FieldStep::Kind::kKey) {
        if (!mine->is_object() || !mine->contains(s.key)) return;
        mine = &(*mine)[s.key];
        here = here.Child(s.key);
      } else {
        if (!mine->is_array() || s.index >= mine->size()) return;
        mine = &(*mine)[s.index];
        here = here.Index(s.index);
      }
    }
    if (!mine->is_array()) return;
    if (i + 1 == steps.size()) {
      DiffValues(*list, *mine, here, redact, kept);
      *mine = *list;
      return;
    }
    for (size_t n = 0; n < std::min(mine->size(), list->size()); ++n) {
      KeepLive((*mine)[n], (*list)[n], steps, i + 1, here.Index(n), redact, kept);
    }
    return;
  }
  if (at >= steps.size()) {
    DiffValues(have, want, path, redact, kept);
    want = have;
    return;
  }
  const Json* parent = At(have, steps, at, steps.size() - 1);
  if (parent == nullptr) return;
  const Json* value = At(*parent, steps, steps.size() - 1, steps.size());
  // Whether `want` can hold it: once a map key is missing, only maps are
  // made, so every step after it must be a key; an index must exist (the
  // last may be appended right after the last item).
  {
    const Json* cur = &want;
    bool making = false;
    for (size_t i = at; i < steps.size(); ++i) {
      const FieldStep& s = steps[i];
      const bool last = i + 1 == steps.size();
      if (making) {
        if (s.kind != FieldStep::Kind::kKey) return;
        continue;
      }
      if (s.kind == FieldStep::Kind::kKey) {
        if (!cur->is_object() && !cur->is_null()) return;
        if (last) break;
        auto it = cur->is_object() ? cur->find(s.key) : cur->end();
        if (!cur->is_object() || it == cur->end()) {
          if (value == nullptr) return;  // nothing to take away
          making = true;
          continue;
        }
        cur = &*it;
      } else {
        if (!cur->is_array()) return;
        if (last) {
          if (s.index > cur->size() || value == nullptr) return;
          break;
        }
        if (s.index >= cur->size()) return;
        cur = &(*cur)[s.index];
      }
    }
  }
  Json* cur = &want;
  FieldPath here = path;
  for (size_t i = at; i + 1 < steps.size(); ++i) {
    const FieldStep& s = steps[i];
    if (s.kind == FieldStep::Kind::kKey) {
      if (cur->is_null()) *cur = Json::object();
      cur = &(*cur)[s.key];
      here = here.Child(s.key);
    } else {
      cur = &(*cur)[s.index];
      here = here.Index(s.index);
    }
  }
  const FieldStep& last = steps.back();
  if (last.kind == FieldStep::Kind::kKey) {
    if (!cur->is_object()) {
      if (value == nullptr) return;
      *cur = Json::object();
    }
    auto it = cur->find(last.key);
    const Json* mine = it == cur->end() ? nullptr : &*it;
    here = here.Child(last.key);
    if (value != nullptr && mine != nullptr) {
      DiffValues(*value, *mine, here, redact, kept);
      (*cur)[last.key] = *value;
    } else if (value != nullptr) {
      Add(kept, here, FieldChange::Op::kRemoved, value, nullptr, redact);
      (*cur)[last.key] = *value;
    } else if (mine != nullptr) {
      Add(kept, here, FieldChange::Op::kAdded, nullptr, mine, redact);
      cur->erase(it);
    }
  } else {
    here = here.Index(last.index);
    if (last.index < cur->size()) {
      DiffValues(*value, (*cur)[last.index], here, redact, kept);
      (*cur)[last.index] = *value;
    } else {
      Add(kept, here, FieldChange::Op::kRemoved, value, nullptr, redact);
      cur->push_back(*value);
    }
  }
}

// The fields of `m` the cluster owns: the SyncConfig's rules that match it,
// and its own kIgnoreFieldsAnnotation.
std::vector<std::vector<FieldStep>> IgnoredFields(const Manifest& m, const KindInfo& kind, const std::string& ns,
                                                  const PlanOptions& options) {
  std::vector<std::vector<FieldStep>> out;
  for (const IgnoreRule& r : options.ignore) {
    if (r.Matches(kind.gvk, ns, m.object.name())) out.insert(out.end(), r.steps.begin(), r.steps.end());
  }
  if (auto a = m.object.annotation(kIgnoreFieldsAnnotation)) {
    for (const std::string& f : SplitFieldList(*a)) {
      if (auto steps = ParseFieldPath(f); steps && !steps->empty()) out.push_back(std::move(*steps));
    }
  }
  return out;
}

}  // namespace

const char* FieldChangeOpName(FieldChange::Op op) {
  switch (op) {
    case FieldChange::Op::kAdded:
      return "added";
    case FieldChange::Op::kRemoved:
      return "removed";
    case FieldChange::Op::kChanged:
      return "changed";
  }
  return "changed";
}

Json FieldChangeToJson(const FieldChange& c) {
  Json j = {{"field", c.field}, {"op", FieldChangeOpName(c.op)}};
  if (!c.redacted) {
    if (c.op != FieldChange::Op::kAdded) j["from"] = c.from;
    if (c.op != FieldChange::Op::kRemoved) j["to"] = c.to;
  }
  return j;
}

const char* ActionName(PlannedChange::Action a) {
  switch (a) {
    case PlannedChange::Action::kCreate:
      return "created";
    case PlannedChange::Action::kUpdate:
      return "updated";
    case PlannedChange::Action::kDelete:
      return "deleted";
    case PlannedChange::Action::kUnchanged:
      return "unchanged";
    case PlannedChange::Action::kReplace:
      return "replaced";
  }
  return "unchanged";
}

const char* KeptName(PlannedChange::Kept k) {
  switch (k) {
    case PlannedChange::Kept::kPruneOff:
      return "pruneOff";
    case PlannedChange::Kept::kPruneDisabled:
      return "pruneDisabled";
    case PlannedChange::Kept::kNamespaceInUse:
      return "namespaceInUse";
    case PlannedChange::Kept::kSystemNamespace:
      return "systemNamespace";
  }
  return "pruneOff";
}

std::string KeptBecause(std::string_view name) {
  if (name == "pruneOff") return "the SyncConfig sets prune: false";
  if (name == "pruneDisabled") return std::string("its ") + kPruneAnnotation + " annotation is \"false\"";
  if (name == "namespaceInUse") return "objects of the repository are still in it";
  if (name == "systemNamespace") return "the API never deletes it";
  return "";
}

bool IgnoreRule::Matches(const GroupVersionKind& gvk, const std::string& object_ns,
                         const std::string& object_name) const {
  if (gvk.kind != kind) return false;
  if (group && *group != gvk.group) return false;
  if (ns && *ns != object_ns) return false;
  if (name && *name != object_name) return false;
  return true;
}

std::vector<IgnoreRule> IgnoreRulesOf(const Json& ignore_differences) {
  std::vector<IgnoreRule> out;
  if (!ignore_differences.is_array()) return out;
  for (const Json& e : ignore_differences) {
    if (!e.is_object() || !Object::Field(e, "kind").is_string()) continue;
    IgnoreRule r;
    r.kind = e["kind"].get<std::string>();
    for (auto [field, slot] : {std::pair{"group", &r.group}, {"namespace", &r.ns}, {"name", &r.name}}) {
      if (Object::Field(e, field).is_string()) *slot = e[field].get<std::string>();
    }
    const Json& fields = Object::Field(e, "fields");
    if (!fields.is_array()) continue;
    for (const Json& f : fields) {
      if (!f.is_string()) continue;
      auto steps = ParseFieldPath(f.get<std::string>());
      if (!steps || steps->empty()) continue;
      r.fields.push_back(f.get<std::string>());
      r.steps.push_back(std::move(*steps));
    }
    if (!r.fields.empty()) out.push_back(std::move(r));
  }
  return out;
}

Json IgnoreRulesJson(const std::vector<IgnoreRule>& rules) {
  Json out = Json::array();
  for (const IgnoreRule& r : rules) {
    Json j = {{"kind", r.kind}};
    if (r.group) j["group"] = *r.group;
    if (r.ns) j["namespace"] = *r.ns;
    if (r.name) j["name"] = *r.name;
    j["fields"] = r.fields;
    out.push_back(std::move(j));
  }
  return out;
}

std::vector<Diagnostic> Plan::ImmutableErrors() const {
  std::vector<Diagnostic> out;
  for (const PlannedChange& c : changes) {
    if (c.action != PlannedChange::Action::kUpdate) continue;
    out.insert(out.end(), c.immutable.begin(), c.immutable.end());
  }
  return out;
}

bool ForceReplace(const Manifest& m, bool force) {
  auto a = m.object.annotation(kForceAnnotation);
  return a ? *a == "true" : force;
}

std::string ImmutableAdvice(size_t objects) {
  const bool one = objects == 1;
  return std::string("annotate ") + (one ? "it" : "them") + " " + kForceAnnotation +
         ": \"true\", or set spec.force: true in the SyncConfig, to delete and create " + (one ? "it" : "them") +
         " again";
}

bool IsSettingsKind(const GroupVersionKind& gvk) {
  return gvk.group == "bosun.dev" && (gvk.kind == "SyncConfig" || gvk.kind == "Policy");
}

std::string NoManifestsMessage(const std::string& path, size_t live_objects) {
  const std::string where = path.empty() ? "in the repository" : "under " + path;
  return "no manifests " + where + " (SyncConfigs and Policies aside): applying this revision would delete " +
         (live_objects == 1 ? std::string("the one object") : "all " + std::to_string(live_objects) + " objects") +
         " of the live one. If that is meant, set spec.allowEmpty: true in a SyncConfig of the revision";
}

const std::vector<const KindInfo*>& ManageableKinds() {
  static const std::vector<const KindInfo*> kinds = [] {
    std::vector<const KindInfo*> out;
    for (const auto& k : KindRegistry::Builtin().all()) {
      if (!k.from_manifests) continue;
      out.push_back(&k);
    }
    return out;
  }();
  return kinds;
}

std::vector<FieldChange> DiffDesiredLive(const Object& desired, const Object& live) {
  std::vector<FieldChange> out;
  GroupVersionKind gvk = desired.gvk();
  DiffMetaMap(desired, live, "labels", &out);
  DiffMetaMap(desired, live, "annotations", &out);
  // Everything but metadata and status, in full: a field someone added by
  // hand (spec.paused) is drift as much as one they changed.
  const Json& want = desired.json();
  const Json& have_raw = live.json();
  // The spec fields the cluster writes are not drift: the scheduler's
  // binding of a Pod the repository leaves unbound, and a Namespace's
  // finalizers (the API sets them when it is deleted, and only /finalize
  // changes them, whatever a manifest says).
  Json want_copy, without;
  const Json* want_p = &want;
  const Json* have_p = &have_raw;
  auto drop = [](Json& j, const char* field) {
    if (!j.is_object()) return;
    auto spec = j.find("spec");
    if (spec == j.end() || !spec->is_object()) return;
    spec->erase(field);
    if (spec->empty()) j.erase(spec);
  };
  if (gvk.group.empty() && gvk.kind == "Pod" && !Object::Field(desired.spec(), "nodeName").is_string() &&
      Object::Field(live.spec(), "nodeName").is_string()) {
    without = have_raw;
    drop(without, "nodeName");
    have_p = &without;
  }
  if (gvk.group.empty() && gvk.kind == "Namespace") {
    want_copy = want;
    without = have_raw;
    drop(want_copy, "finalizers");
    drop(without, "finalizers");
    want_p = &want_copy;
    have_p = &without;
  }
  const Json& have = *have_p;
  const Json& wanted = *want_p;
  std::set<std::string> keys;
  for (const Json* j : {&wanted, &have}) {
    if (!j->is_object()) continue;
    for (auto it = j->begin(); it != j->end(); ++it) keys.insert(it.key());
  }
  for (const auto& key : keys) {
    if (key == "metadata" || key == "status") continue;
    const Json& w = Object::Field(wanted, key.c_str());
    const Json& h = Object::Field(have, key.c_str());
    bool redact = Redacted(gvk, key);
    if (redact && (!wanted.contains(key) || !have.contains(key))) {
      // A Secret's data added or removed whole: each key by name (which
      // keys changed is for the auditor to see; the values are not).
      const bool added = !have.contains(key);
      const Json& whole = added ? w : h;
      if (whole.is_object() && !whole.empty()) {
        for (auto it = whole.begin(); it != whole.end(); ++it) {
          Add(&out, FieldPath(key).Child(it.key()), added ? FieldChange::Op::kAdded : FieldChange::Op::kRemoved,
              nullptr, nullptr, true);
        }
        continue;
      }
    }
    if (!wanted.contains(key)) {
      Add(&out, FieldPath(key), FieldChange::Op::kRemoved, &h, nullptr, redact);
    } else if (!have.contains(key)) {
      Add(&out, FieldPath(key), FieldChange::Op::kAdded, nullptr, &w, redact);
    } else {
      DiffValues(h, w, FieldPath(key), redact, &out);
    }
  }
  return out;
}

Plan PlanSync(const std::vector<Manifest>& desired, const std::vector<Object>& live, const PlanOptions& options) {
  std::vector<const Manifest*> pointers;
  pointers.reserve(desired.size());
  for (const Manifest& m : desired) pointers.push_back(&m);
  return PlanSyncRefs(pointers, live, options);
}

Plan PlanSyncRefs(const std::vector<const Manifest*>& desired, const std::vector<Object>& live,
                  const PlanOptions& options) {
  const KindRegistry& reg = KindRegistry::Builtin();
  std::unordered_map<std::string, const Object*> live_by_id;
  live_by_id.reserve(live.size());
  for (const auto& o : live) {
    GroupVersionKind gvk = o.gvk();
    live_by_id[Identity(gvk.group, gvk.kind, o.namespace_(), o.name())] = &o;
  }

  // Each desired object as bosun writes it, copied and marked on every core
  // (a first sync marks 10,000); null for an unknown kind.
  struct Desired {
    const KindInfo* kind = nullptr;
    std::string ns;
    Object marked;
  };
  std::vector<Desired> marked(desired.size());
  ParallelFor(desired.size(), kParallelMarkObjects, [&](size_t i) {
    const Manifest& m = *desired[i];
    Desired& d = marked[i];
    d.kind = reg.Find(m.object.gvk());
    if (d.kind == nullptr) return true;  // validation refuses unknown kinds before a plan is made
    d.ns = d.kind->NamespaceOf(m.object.namespace_());
    d.marked = Marked(m, *d.kind, d.ns, options);
    return true;
  });

  Plan plan;
  std::vector<PlannedChange> writes;
  std::unordered_set<std::string> wanted;
  wanted.reserve(desired.size());
  for (size_t i = 0; i < desired.size(); ++i) {
    const Manifest& m = *desired[i];
    const KindInfo* kind = marked[i].kind;
    if (kind == nullptr) continue;
    const std::string& ns = marked[i].ns;
    GroupVersionKind gvk = m.object.gvk();
    std::string id = Identity(gvk.group, gvk.kind, ns, m.object.name());
    if (!wanted.insert(id).second) continue;  // a duplicate: validation reports it
    PlannedChange c;
    c.kind = kind;
    c.ns = ns;
    c.name = m.object.name();
    c.path = m.file;
    Object marked_object = std::move(marked[i].marked);
    auto it = live_by_id.find(id);
    if (it == live_by_id.end()) {
      c.action = PlannedChange::Action::kCreate;
      c.object = std::move(marked_object);
      ++plan.created;
    } else {
      const Object& live_object = *it->second;
      // The fields the cluster owns take their live values (how they
      // differ from the repository is kept for `bosun diff`); a replace,
      // which creates the object again, writes the repository's.
      std::optional<Object> as_written;
      if (auto owned = IgnoredFields(m, *kind, ns, options); !owned.empty()) {
        as_written = marked_object;
        for (const auto& steps : owned) {
          const bool redact = steps.front().kind == FieldStep::Kind::kKey && Redacted(gvk, steps.front().key);
          KeepLive(marked_object.json(), live_object.json(), steps, 0, FieldPath(), redact, &c.ignored);
        }
      }
      c.diff = DiffDesiredLive(marked_object, live_object);
      if (c.diff.empty()) {
        c.action = PlannedChange::Action::kUnchanged;
        c.object = *it->second;
        ++plan.unchanged;
      } else {
        for (FieldError& fe : ImmutableChanges(live_object.json(), marked_object.json(), *kind, /*from_git=*/true)) {
          c.immutable.push_back(DiagnosticAt(m, std::move(fe)));
        }
        if (!c.immutable.empty() && ForceReplace(m, options.force)) {
          c.action = PlannedChange::Action::kReplace;
          if (as_written) {
            c.diff = DiffDesiredLive(*as_written, live_object);
            c.ignored.clear();
            marked_object = std::move(*as_written);
          }
          c.object = std::move(marked_object);
          if (auto rv = live_object.resource_version(); !rv.empty()) {
            c.object.json()["metadata"]["resourceVersion"] = rv;
          }
          ++plan.replaced;
        } else {
          c.action = PlannedChange::Action::kUpdate;
          c.object = ForUpdate(std::move(marked_object), live_object);
          ++plan.updated;
        }
      }
    }
    writes.push_back(std::move(c));
  }
  std::stable_sort(writes.begin(), writes.end(), [](const PlannedChange& a, const PlannedChange& b) {
    return ApplyOrder(a.kind->gvk) < ApplyOrder(b.kind->gvk);
  });

  // Managed objects no longer desired: deleted with prune, else kept.
  std::vector<PlannedChange> deletes;
  for (const auto& o : live) {
    if (o.label(kManagedByLabel) != std::optional<std::string>(kManagedByValue)) continue;
    // Already being deleted (a Terminating Namespace): neither deleted again
    // nor kept.
    if (o.deletion_timestamp()) continue;
    GroupVersionKind gvk = o.gvk();
    if (wanted.count(Identity(gvk.group, gvk.kind, o.namespace_(), o.name())) != 0) continue;
    const KindInfo* kind = reg.Find(gvk);
    if (kind == nullptr) continue;
    PlannedChange c;
    c.action = PlannedChange::Action::kDelete;
    c.kind = kind;
    c.ns = kind->namespaced ? o.namespace_() : "";
    c.name = o.name();
    c.path = o.annotation(kSourcePathAnnotation).value_or("");
    c.object = o;
    deletes.push_back(std::move(c));
  }
  // Dependents go first: Services before workloads before Namespaces.
  std::stable_sort(deletes.begin(), deletes.end(), [](const PlannedChange& a, const PlannedChange& b) {
    int oa = ApplyOrder(a.kind->gvk), ob = ApplyOrder(b.kind->gvk);
    if (oa != ob) return oa > ob;
    return std::tie(a.ns, a.name) < std::tie(b.ns, b.name);
  });
  plan.changes = std::move(writes);
  std::set<std::string> used_here;
  if (options.used_namespaces == nullptr) {
    for (const Desired& d : marked) {
      if (d.kind != nullptr && d.kind->namespaced) used_here.insert(d.ns);
    }
  }
  const std::set<std::string>& used = options.used_namespaces != nullptr ? *options.used_namespaces : used_here;
  std::set<std::string> holding;  // the namespaces of objects kept
  for (auto& d : deletes) {
    // What the repository said to keep, everything with prune off, and
    // Namespaces the API will not delete or that objects of the set, or
    // objects kept, are still in stay (deleting one deletes what is in it;
    // Namespaces come last).
    using Kept = PlannedChange::Kept;
    const bool is_namespace = d.kind->gvk.group.empty() && d.kind->gvk.kind == "Namespace";
    std::optional<Kept> kept;
    if (d.object.annotation(kPruneAnnotation) == std::optional<std::string>("false")) {
      kept = Kept::kPruneDisabled;
    } else if (!options.prune) {
      kept = Kept::kPruneOff;
    } else if (is_namespace && !NamespaceMayBeDeleted(d.name)) {
      kept = Kept::kSystemNamespace;
    } else if (is_namespace && (used.count(d.name) != 0 || holding.count(d.name) != 0)) {
      kept = Kept::kNamespaceInUse;
    }
    if (kept) {
      if (!d.ns.empty()) holding.insert(d.ns);
      d.kept = *kept;
      plan.kept.push_back(std::move(d));
    } else {
      ++plan.deleted;
      plan.changes.push_back(std::move(d));
    }
  }
  return plan;
}

Result<std::vector<Object>> ListLive(state::Client& client, const std::vector<Manifest>& desired) {
  const KindRegistry& reg = KindRegistry::Builtin();
  std::set<const KindInfo*> full;
  for (const auto& m : desired) {
    if (const KindInfo* k = reg.Find(m.object.gvk())) full.insert(k);
  }
  std::set<const KindInfo*> kinds(full.begin(), full.end());
  for (const KindInfo* k : ManageableKinds()) kinds.insert(k);
  std::vector<Object> out;
  std::string managed = std::string(kManagedByLabel) + "=" + kManagedByValue;
  // In registry order, so the result does not depend on pointer values.
  for (const auto& k : reg.all()) {
    if (kinds.count(&k) == 0) continue;
    auto list = client.List(k, "", full.count(&k) != 0 ? "" : managed);
    if (!list) return list.error().Wrap("listing " + k.QualifiedResource());
    for (auto& o : list->items) out.push_back(std::move(o));
  }
  return out;
}

namespace {

// metadata.namespace without a copy ("" when absent).
std::string_view NamespaceView(const Manifest& m) {
  const Json& ns = Object::Field(Object::Field(m.object.json(), "metadata"), "namespace");
  return ns.is_string() ? std::string_view(ns.get_ref<const std::string&>()) : std::string_view();
}

}  // namespace

std::set<std::string> UsedNamespaces(const std::vector<std::pair<const KindInfo*, const Manifest*>>& desired) {
  // Run on every pass over every object: neighbours mostly share a
  // namespace, so the set is asked only when it changes.
  std::set<std::string, std::less<>> used;
  std::string_view last;
  bool any = false;
  for (const auto& [kind, m] : desired) {
    if (kind == nullptr || !kind->namespaced) continue;
    std::string_view ns = NamespaceView(*m);
    if (ns.empty()) ns = "default";
    if (any && ns == last) continue;
    any = true;
    last = ns;
    if (used.find(ns) == used.end()) used.emplace(ns);
  }
  return std::set<std::string>(used.begin(), used.end());
}

std::string MissingNamespaces::Summary() const {
  const size_t n = diagnostics.size();
  auto list = [](const std::set<std::string>& names) {
    std::string out;
    for (const std::string& ns : names) out += (out.empty() ? "\"" : ", \"") + ns + "\"";
    return out;
  };
  std::string what;
  if (!namespaces.empty()) {
    what = namespaces.size() == 1 ? "namespace " + list(namespaces) + ", which does not exist"
                                  : "namespaces " + list(namespaces) + ", which do not exist";
  }
  if (!terminating.empty()) {
    what += std::string(what.empty() ? "" : ", and ") +
            (terminating.size() == 1 ? "namespace " + list(terminating) + ", which is being deleted"
                                     : "namespaces " + list(terminating) + ", which are being deleted");
  }
  return std::to_string(n) + " object" + (n == 1 ? "" : "s") + " in " + what;
}

NamespaceState NamespaceStateOf(const std::optional<Object>& ns) {
  if (!ns) return NamespaceState::kMissing;
  return ns->deletion_timestamp() ? NamespaceState::kTerminating : NamespaceState::kActive;
}

Result<NamespaceState> GetNamespaceState(state::Client& client, const std::string& ns) {
  auto got = client.Get(*KindRegistry::Builtin().FindKind("Namespace"), "", ns);
  if (got) return NamespaceStateOf(std::move(*got));
  if (got.error().code() == Code::kNotFound) return NamespaceState::kMissing;
  return got.error();
}

Result<MissingNamespaces> FindMissingNamespaces(
    const std::vector<std::pair<const KindInfo*, const Manifest*>>& desired,
    const std::function<Result<NamespaceState>(const std::string& ns)>& namespace_state,
    const std::function<Result<bool>(const KindInfo& kind, const Manifest& m)>& object_exists,
    const std::set<std::string>* used) {
  const KindInfo* ns_kind = KindRegistry::Builtin().FindKind("Namespace");
  std::set<std::string> defined;
  for (const auto& [kind, m] : desired) {
    // A Namespace manifest that is itself invalid (a wrong apiVersion) still
    // says the repository means to create it.
    if (kind == ns_kind || (kind == nullptr && m->object.kind() == "Namespace")) defined.insert(m->object.name());
  }
  // The namespaces first (a handful), the objects only of those that lack.
  std::set<std::string> computed;
  if (used == nullptr) computed = UsedNamespaces(desired);
  std::map<std::string, NamespaceState, std::less<>> lacking;
  for (const std::string& ns : used != nullptr ? *used : computed) {
    // An invalid name is the manifest's own error (in a revision refused
    // for it, not looked up as a namespace too).
    if (ns == "default" || !CheckDns1123Label(ns).empty()) continue;
    auto state = namespace_state(ns);
    if (!state) return state.error().Wrap("cannot look up Namespace " + ns);
    if (*state == NamespaceState::kActive) continue;
    // One the set defines is created with it, unless it is being deleted.
    if (*state == NamespaceState::kMissing && defined.count(ns) != 0) continue;
    lacking[ns] = *state;
  }
  MissingNamespaces out;
  if (lacking.empty()) return out;
  for (const auto& [kind, m] : desired) {
    if (kind == nullptr || !kind->namespaced) continue;
    auto it = lacking.find(NamespaceView(*m));
    if (it == lacking.end()) continue;
    const std::string& ns = it->first;
    const bool terminating = it->second == NamespaceState::kTerminating;
    auto exists = object_exists(*kind, *m);
    if (!exists) return exists.error();
    if (*exists) continue;
    Diagnostic d;
    d.file = m->file;
    d.pos = m->positions ? m->positions->Find(FieldPath("metadata.namespace")) : m->start;
    d.field = "metadata.namespace";
    d.message = terminating ? "namespace \"" + ns +
                                  "\" is being deleted (Terminating): nothing new goes into it until it is gone"
                            : "namespace \"" + ns + "\" does not exist: add a Namespace manifest named \"" + ns +
                                  "\" to the repository, or create it";
    out.diagnostics.push_back(std::move(d));
    (terminating ? out.terminating : out.namespaces).insert(ns);
  }
  SortDiagnostics(out.diagnostics);
  return out;
}

}  // namespace bosun::reconciler
