// Evaluating rules on a desired set (see policy.h).
#include <algorithm>
#include <map>
#include <set>

#include "core/kinds.h"
#include "policies/policy.h"
#include "core/ascii.h"

namespace bosun::policies {
namespace {

std::string Quote(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

const Json& F(const Json& j, const char* key) {
  return Object::Field(j, key);
}

bool IsTrue(const Json& j) {
  return j.is_boolean() && j.get<bool>();
}

// "team-*" matches a prefix; anything else matches exactly.
bool NameMatches(const std::string& pattern, const std::string& name) {
  if (!pattern.empty() && pattern.back() == '*') return name.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  return pattern == name;
}

bool AnyMatches(const std::vector<std::string>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return NameMatches(p, name); });
}

// An image reference split as Docker normalises it: "nginx:1.25" is
// docker.io/library/nginx; the first component is a registry only when it
// looks like a host (has a '.' or a ':', or is "localhost").
struct ImageRef {
  std::string registry;
  std::string repository;
  std::string digest;  // "sha256:…" or ""
};

ImageRef ParseImage(const std::string& image) {
  ImageRef r;
  std::string name = image;
  if (size_t at = name.find('@'); at != std::string::npos) {
    r.digest = name.substr(at + 1);
    name = name.substr(0, at);
  }
  size_t slash = name.find('/');
  std::string first = slash == std::string::npos ? "" : name.substr(0, slash);
  if (!first.empty() && (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
                         first == "localhost")) {
    r.registry = first;
    name = name.substr(slash + 1);
  } else {
    r.registry = "docker.io";
    if (slash == std::string::npos) name = "library/" + name;
  }
  // The tag follows the last ':' after the last '/'.
  size_t colon = name.rfind(':');
  if (colon != std::string::npos && name.find('/', colon) == std::string::npos) name = name.substr(0, colon);
  r.repository = name;
  r.registry = AsciiLower(r.registry);
  return r;
}

bool ValidDigest(const std::string& d) {
  if (d.rfind("sha256:", 0) != 0 || d.size() != 7 + 64) return false;
  return std::all_of(d.begin() + 7, d.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool RegistryAllowed(const ImageRef& img, const std::vector<std::string>& allowed) {
  std::string full = img.registry + "/" + img.repository;
  for (std::string a : allowed) {
    a = AsciiLower(a);
    if (a.find('/') == std::string::npos) {
      if (a == img.registry) return true;
    } else if (full == a || full.rfind(a + "/", 0) == 0) {
      return true;
    }
  }
  return false;
}

// Where a manifest keeps its pod spec; empty path and nullptr when it has none.
const Json* PodSpecOf(const Object& o, FieldPath* path) {
  const std::string k = o.kind();
  if (k == "Pod") {
    *path = FieldPath("spec");
    return o.spec().is_object() ? &o.spec() : nullptr;
  }
  if (k == "Deployment" || k == "ReplicaSet" || k == "Job") {
    *path = FieldPath("spec").Child("template").Child("spec");
    const Json& s = F(F(o.spec(), "template"), "spec");
    return s.is_object() ? &s : nullptr;
  }
  return nullptr;
}

struct Container {
  const Json* json;
  FieldPath path;
  std::string name;
};

std::vector<Container> ContainersOf(const Json& pod, const FieldPath& pp) {
  std::vector<Container> out;
  for (const char* list : {"initContainers", "containers"}) {
    const Json& cs = F(pod, list);
    if (!cs.is_array()) continue;
    for (size_t i = 0; i < cs.size(); ++i) {
      if (!cs[i].is_object()) continue;
      out.push_back({&cs[i], pp.Child(list).Index(i), F(cs[i], "name").is_string() ? cs[i]["name"].get<std::string>() : "?"});
    }
  }
  return out;
}

// Evaluates one rule of one policy on one subject.
class RuleRun {
 public:
  RuleRun(const Policy& p, const Rule& r, const Subject& s, std::vector<Violation>* out)
      : p_(p), r_(r), s_(s), m_(*s.manifest), out_(out) {}

  void Run() {
    if (!Matches()) return;
    switch (r_.check) {
      case Rule::Check::kAllowedRegistries: Registries(); break;
      case Rule::Check::kRequireDigest: Digests(); break;
      case Rule::Check::kRequireResources: Resources(); break;
      case Rule::Check::kForbid: Forbid(); break;
      case Rule::Check::kRequiredLabels: Labels(); break;
      case Rule::Check::kMaxReplicas: Replicas(); break;
      case Rule::Check::kPaths: Paths(); break;
    }
  }

 private:
  // "policy baseline rule registries".
  std::string By() const { return "policy " + p_.name + " rule " + r_.name; }

  void Add(const FieldPath& field, std::string message) {
    Violation v;
    v.policy = p_.name;
    v.rule = r_.name;
    v.action = r_.action;
    v.file = m_.file;
    v.pos = m_.positions ? m_.positions->Find(field) : SourcePos{};
    if (!v.pos.known()) v.pos = m_.start;
    v.field = field.str();
    v.message = std::move(message);
    out_->push_back(std::move(v));
  }

  // The namespace a namespaced object lands in; nullopt for cluster-scoped.
  std::optional<std::string> Namespace() const {
    const KindInfo* info = KindRegistry::Builtin().Find(m_.object.gvk());
    if (info != nullptr && !info->namespaced) return std::nullopt;
    std::string ns = m_.object.namespace_();
    return ns.empty() ? "default" : ns;
  }

  bool Matches() const {
    const Match& m = r_.match;
    if (!m.kinds.empty() && std::find(m.kinds.begin(), m.kinds.end(), m_.object.kind()) == m.kinds.end()) return false;
    if (m.namespaces.empty()) return true;
    if (auto ns = Namespace()) return AnyMatches(m.namespaces, *ns);
    // A Namespace object is matched by its own name; other cluster-scoped
    // objects belong to no namespace.
    return m_.object.kind() == "Namespace" && AnyMatches(m.namespaces, m_.object.name());
  }

  template <typename Fn>
  void ForEachContainer(Fn fn) {
    FieldPath pp;
    const Json* pod = PodSpecOf(m_.object, &pp);
    if (pod == nullptr) return;
    for (const Container& c : ContainersOf(*pod, pp)) fn(c);
  }

  void Registries() {
    ForEachContainer([&](const Container& c) {
      const Json& img = F(*c.json, "image");
      // No image: validation says it is required; it names no registry.
      if (!img.is_string() || img.get<std::string>().empty()) return;
      ImageRef ref = ParseImage(img.get<std::string>());
      if (RegistryAllowed(ref, r_.registries)) return;
      Add(c.path.Child("image"), "registry " + Quote(ref.registry) + " is not allowed by " + By() +
                                     " (allowed: " + Join(r_.registries) + ")");
    });
  }

  void Digests() {
    ForEachContainer([&](const Container& c) {
      const Json& img = F(*c.json, "image");
      if (!img.is_string() || img.get<std::string>().empty()) return;  // as Registries
      ImageRef ref = ParseImage(img.get<std::string>());
      if (ValidDigest(ref.digest)) return;
      std::string what = ref.digest.empty() ? " is not pinned by digest" : " has a malformed digest";
      Add(c.path.Child("image"), "image " + Quote(img.get<std::string>()) + what + ", required by " + By() +
                                     " (write it as name@sha256:<64 hex digits>)");
    });
  }

  void Resources() {
    ForEachContainer([&](const Container& c) {
      const Json& res = F(*c.json, "resources");
      FieldPath rp = c.path.Child("resources");
      auto has = [&](const char* part, const std::string& name) {
        const Json& v = F(F(res, part), name.c_str());
        return !v.is_null() && !(v.is_string() && v.get<std::string>().empty());
      };
      for (const std::string& name : r_.requests) {
        // Kubernetes takes a request from the limit when only the limit is set.
        if (has("requests", name) || has("limits", name)) continue;
        Add(rp.Child("requests").Child(name),
            "container " + Quote(c.name) + " has no " + name + " request, required by " + By());
      }
      for (const std::string& name : r_.limits) {
        if (has("limits", name)) continue;
        Add(rp.Child("limits").Child(name),
            "container " + Quote(c.name) + " has no " + name + " limit, required by " + By());
      }
    });
  }

  void Forbid() {
    FieldPath pp;
    const Json* pod = PodSpecOf(m_.object, &pp);
    if (pod == nullptr) return;
    const Json& psc = F(*pod, "securityContext");
    for (Forbidden f : r_.forbid) {
      switch (f) {
        case Forbidden::kHostNetwork:
        case Forbidden::kHostPID:
        case Forbidden::kHostIPC: {
          const char* key = ForbiddenName(f);
          if (IsTrue(F(*pod, key))) Add(pp.Child(key), std::string(key) + " is forbidden by " + By());
          break;
        }
        case Forbidden::kHostPath: {
          const Json& vols = F(*pod, "volumes");
          if (!vols.is_array()) break;
          for (size_t i = 0; i < vols.size(); ++i) {
            const Json& hp = F(vols[i], "hostPath");
            if (hp.is_null()) continue;
            std::string path = F(hp, "path").is_string() ? " (" + hp["path"].get<std::string>() + ")" : "";
            std::string name = F(vols[i], "name").is_string() ? vols[i]["name"].get<std::string>() : "?";
            Add(pp.Child("volumes").Index(i).Child("hostPath"),
                "hostPath volume " + Quote(name) + path + " is forbidden by " + By());
          }
          break;
        }
        case Forbidden::kPrivileged:
          for (const Container& c : ContainersOf(*pod, pp)) {
            if (!IsTrue(F(F(*c.json, "securityContext"), "privileged"))) continue;
            Add(c.path.Child("securityContext").Child("privileged"),
                "container " + Quote(c.name) + " is privileged, forbidden by " + By());
          }
          break;
        case Forbidden::kRunAsRoot:
          for (const Container& c : ContainersOf(*pod, pp)) RunAsRoot(c, psc, pp);
          break;
      }
    }
  }

  // A container runs as root unless it (or its pod) says runAsNonRoot: true
  // or a non-zero runAsUser: an image's own USER is not known here, so the
  // rule asks for the guarantee the kubelet enforces.
  void RunAsRoot(const Container& c, const Json& psc, const FieldPath& pp) {
    const Json& csc = F(*c.json, "securityContext");
    FieldPath cscp = c.path.Child("securityContext");
    auto pick = [&](const char* key, FieldPath* where) -> const Json& {
      if (!F(csc, key).is_null()) {
        *where = cscp.Child(key);
        return F(csc, key);
      }
      *where = pp.Child("securityContext").Child(key);
      return F(psc, key);
    };
    FieldPath user_at, nonroot_at;
    const Json& user = pick("runAsUser", &user_at);
    const Json& nonroot = pick("runAsNonRoot", &nonroot_at);
    if (user.is_number_integer() && user.get<int64_t>() == 0) {
      Add(user_at, "container " + Quote(c.name) + " runs as root (runAsUser: 0), forbidden by " + By());
      return;
    }
    if (IsTrue(nonroot) || (user.is_number_integer() && user.get<int64_t>() > 0)) return;
    Add(nonroot.is_null() ? c.path : nonroot_at,
        "container " + Quote(c.name) + " may run as root, forbidden by " + By() +
            " (set securityContext.runAsNonRoot: true or a non-zero runAsUser)");
  }

  void Labels() {
    StringMap labels = m_.object.labels();
    FieldPath lp = FieldPath("metadata").Child("labels");
    for (const std::string& want : r_.labels) {
      size_t eq = want.find('=');
      std::string key = want.substr(0, eq);
      auto it = labels.find(key);
      if (it == labels.end()) {
        Add(lp.Child(key), m_.object.kind() + " " + Quote(m_.object.name()) + " has no label " + Quote(key) +
                               ", required by " + By());
      } else if (eq != std::string::npos && it->second != want.substr(eq + 1)) {
        Add(lp.Child(key), "label " + Quote(key) + " is " + Quote(it->second) + ", but " + By() + " requires " +
                               Quote(want.substr(eq + 1)));
      }
    }
  }

  void Replicas() {
    const std::string k = m_.object.kind();
    if (k != "Deployment" && k != "ReplicaSet") return;
    const Json& v = F(m_.object.spec(), "replicas");
    int64_t n = v.is_number_integer() ? v.get<int64_t>() : (v.is_null() ? 1 : 0);
    if (n <= r_.max_replicas) return;
    std::string shown = std::to_string(n) + (v.is_null() ? " (the default)" : "");
    Add(FieldPath("spec").Child("replicas"), "replicas " + shown + " is more than " +
                                                 std::to_string(r_.max_replicas) + ", the maximum of " + By());
  }

  void Paths() {
    const std::pair<std::string, std::vector<std::string>>* best = nullptr;
    for (const auto& entry : r_.paths) {
      std::string dir = entry.first;
      if (dir.back() != '/') dir += '/';
      if (s_.path != entry.first && s_.path.rfind(dir, 0) != 0) continue;
      if (best == nullptr || entry.first.size() > best->first.size()) best = &entry;
    }
    if (best == nullptr) return;
    const std::vector<std::string>& allowed = best->second;
    std::string where = "objects of " + best->first + " may only write to namespaces " + Join(allowed) + " (" +
                        By() + ")";
    if (auto ns = Namespace()) {
      if (AnyMatches(allowed, *ns)) return;
      FieldPath at = m_.object.namespace_().empty() ? FieldPath("metadata") : FieldPath("metadata.namespace");
      Add(at, "namespace " + Quote(*ns) + " is not allowed: " + where);
    } else if (m_.object.kind() == "Namespace") {
      if (AnyMatches(allowed, m_.object.name())) return;
      Add(FieldPath("metadata.name"), "Namespace " + Quote(m_.object.name()) + " is not allowed: " + where);
    } else {
      Add(FieldPath("kind"), "a cluster-scoped " + m_.object.kind() + " is not allowed: " + where);
    }
  }

  const Policy& p_;
  const Rule& r_;
  const Subject& s_;
  const Manifest& m_;
  std::vector<Violation>* out_;
};

}  // namespace

Diagnostic Violation::ToDiagnostic() const {
  Diagnostic d;
  d.severity = action == Action::kEnforce ? Severity::kError : Severity::kWarning;
  d.file = file;
  d.pos = pos;
  d.field = field;
  d.message = message;
  return d;
}

size_t Verdict::enforced() const {
  return static_cast<size_t>(std::count_if(violations.begin(), violations.end(),
                                           [](const Violation& v) { return v.action == Action::kEnforce; }));
}

std::vector<Diagnostic> Verdict::Diagnostics() const {
  std::vector<Diagnostic> out;
  out.reserve(violations.size());
  for (const Violation& v : violations) out.push_back(v.ToDiagnostic());
  return out;
}

std::string Verdict::Summary() const {
  auto part = [&](Action a, const char* noun) {
    std::set<std::string> rules;
    size_t n = 0;
    for (const Violation& v : violations) {
      if (v.action != a) continue;
      ++n;
      rules.insert(v.policy + "/" + v.rule);
    }
    if (n == 0) return std::string();
    std::vector<std::string> list(rules.begin(), rules.end());
    return std::to_string(n) + " " + noun + (n == 1 ? "" : "s") + " (" + Join(list) + ")";
  };
  std::string e = part(Action::kEnforce, "policy violation");
  std::string w = part(Action::kWarn, "policy warning");
  if (e.empty() && w.empty()) {
    return std::to_string(policies) + " polic" + (policies == 1 ? "y" : "ies") + " (" + std::to_string(rules) +
           " rule" + (rules == 1 ? "" : "s") + ") passed";
  }
  if (e.empty()) return w;
  if (w.empty()) return e;
  return e + "; " + w;
}

Verdict Evaluate(const std::vector<Policy>& policies, const std::vector<Subject>& subjects) {
  Verdict v;
  v.policies = policies.size();
  for (const Policy& p : policies) {
    v.rules += p.rules.size();
    for (const Rule& r : p.rules) {
      for (const Subject& s : subjects) {
        if (s.manifest == nullptr) continue;
        RuleRun(p, r, s, &v.violations).Run();
      }
    }
  }
  std::stable_sort(v.violations.begin(), v.violations.end(), [](const Violation& a, const Violation& b) {
    if (a.file != b.file) return a.file < b.file;
    if (a.pos.line != b.pos.line) return a.pos.line < b.pos.line;
    if (a.pos.column != b.pos.column) return a.pos.column < b.pos.column;
    if (a.policy != b.policy) return a.policy < b.policy;
    return a.rule < b.rule;
  });
  return v;
}

std::string RelativePath(const std::string& file, const std::string& root) {
  auto strip = [](std::string s) {
    while (s.rfind("./", 0) == 0) s = s.substr(2);
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  };
  std::string f = strip(file), r = strip(root);
  if (r.empty() || r == ".") return f;
  if (f.size() > r.size() && f.compare(0, r.size(), r) == 0 && f[r.size()] == '/') return f.substr(r.size() + 1);
  if (r == "/") return f.rfind('/', 0) == 0 ? f.substr(1) : f;
  return f;
}

}  // namespace bosun::policies
