// Parsing Policy manifests into rules, with every problem located as
// FILE:LINE:COL: FIELD: MESSAGE (see policy.h).
#include <algorithm>
#include <initializer_list>
#include <set>
#include <string_view>

#include "core/kinds.h"
#include "core/suggest.h"
#include "policies/policy.h"

namespace bosun::policies {
namespace {

const std::initializer_list<std::string_view> kChecks = {
    "allowedRegistries", "requireDigest", "requireResources", "forbid", "requiredLabels", "maxReplicas", "paths"};
const std::initializer_list<std::string_view> kForbidNames = {"privileged", "hostNetwork", "hostPath",
                                                                  "runAsRoot",  "hostPID",     "hostIPC"};
const std::initializer_list<std::string_view> kResourceNames = {"cpu", "memory"};

std::string Quote(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string TypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::object: return "a map";
    case Json::value_t::array: return "a list";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::null: return "null";
    default: return "a number";
  }
}

// " (did you mean "x"?)" when some candidate is close, else "".
std::string DidYouMean(std::string_view got, std::initializer_list<std::string_view> known) {
  return bosun::DidYouMean(got, known, std::max<size_t>(3, got.size() / 3));
}

std::string List(std::initializer_list<std::string_view> items) {
  std::string out;
  for (auto i : items) out += (out.empty() ? "" : ", ") + std::string(i);
  return out;
}

// Reads one Policy, reporting at the positions of its manifest.
class Parser {
 public:
  Parser(const Manifest& m, std::vector<Diagnostic>* out) : m_(m), out_(out) {}

  std::optional<Policy> Parse() {
    Policy p;
    p.name = m_.object.name();
    p.file = m_.file;
    const Json& spec = m_.object.spec();
    FieldPath sp("spec");
    if (!spec.is_object()) {
      Error(sp, spec.is_null() ? "required: a Policy needs spec.rules" : "must be a map, not " + TypeName(spec));
      return std::nullopt;
    }
    Unknown(spec, sp, {"rules", "action"});
    Action def = Action::kEnforce;
    if (spec.contains("action")) ParseAction(spec["action"], sp.Child("action"), &def);
    const Json& rules = Object::Field(spec, "rules");
    FieldPath rp = sp.Child("rules");
    if (rules.is_null()) {
      Error(rp, "required: a list of rules");
    } else if (!rules.is_array()) {
      Error(rp, "must be a list, not " + TypeName(rules));
    } else if (rules.empty()) {
      Error(rp, "required: at least one rule");
    } else {
      std::set<std::string> names;
      for (size_t i = 0; i < rules.size(); ++i) {
        Rule r;
        r.action = def;
        if (ParseRule(rules[i], rp.Index(i), &r)) {
          if (!names.insert(r.name).second) {
            Error(rp.Index(i).Child("name"), "duplicate rule name " + Quote(r.name) + " in policy " + Quote(p.name));
            continue;
          }
          p.rules.push_back(std::move(r));
        }
      }
    }
    if (errors_ > 0) return std::nullopt;
    return p;
  }

 private:
  void Add(Severity s, const FieldPath& p, std::string msg) {
    Diagnostic d;
    d.severity = s;
    d.file = m_.file;
    d.pos = m_.positions ? m_.positions->Find(p) : SourcePos{};
    if (!d.pos.known()) d.pos = m_.start;
    d.field = p.str();
    d.message = std::move(msg);
    out_->push_back(std::move(d));
    if (s == Severity::kError) ++errors_;
  }
  void Error(const FieldPath& p, std::string msg) { Add(Severity::kError, p, std::move(msg)); }
  void Warn(const FieldPath& p, std::string msg) { Add(Severity::kWarning, p, std::move(msg)); }

  void Unknown(const Json& obj, const FieldPath& p, std::initializer_list<std::string_view> known) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
      Warn(p.Child(it.key()), "unknown field " + Quote(it.key()) + DidYouMean(it.key(), known));
      out_->back().unknown_field = true;
    }
  }

  bool ParseAction(const Json& v, const FieldPath& p, Action* out) {
    if (v.is_string() && v.get<std::string>() == "enforce") {
      *out = Action::kEnforce;
      return true;
    }
    if (v.is_string() && v.get<std::string>() == "warn") {
      *out = Action::kWarn;
      return true;
    }
    std::string got = v.is_string() ? Quote(v.get<std::string>()) : TypeName(v);
    Error(p, "unsupported value " + got + ": must be \"enforce\" (refuse the revision) or \"warn\" (record and apply)");
    return false;
  }

  // A list of non-empty strings; `required` makes absence and emptiness errors.
  bool Strings(const Json& v, const FieldPath& p, std::vector<std::string>* out, bool non_empty) {
    if (!v.is_array()) {
      Error(p, "must be a list, not " + TypeName(v));
      return false;
    }
    if (non_empty && v.empty()) {
      Error(p, "must list at least one value");
      return false;
    }
    bool ok = true;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string() || v[i].get<std::string>().empty()) {
        Error(p.Index(i), v[i].is_string() ? "must not be empty" : "must be a string, not " + TypeName(v[i]));
        ok = false;
        continue;
      }
      out->push_back(v[i].get<std::string>());
    }
    return ok;
  }

  bool ParseMatch(const Json& v, const FieldPath& p, Match* out) {
    if (!v.is_object()) {
      Error(p, "must be a map (kinds, namespaces), not " + TypeName(v));
      return false;
    }
    Unknown(v, p, {"kinds", "namespaces"});
    bool ok = true;
    if (v.contains("kinds")) {
      ok &= Strings(v["kinds"], p.Child("kinds"), &out->kinds, true);
      const KindRegistry& reg = KindRegistry::Builtin();
      for (size_t i = 0; i < out->kinds.size(); ++i) {
        const std::string& k = out->kinds[i];
        const KindInfo* info = reg.FindKind(k);
        if (info != nullptr && info->gvk.kind == k) continue;
        std::string hint = info != nullptr ? " (did you mean " + Quote(info->gvk.kind) + "?)" : "";
        Error(p.Child("kinds").Index(i), "unknown kind " + Quote(k) + hint);
        ok = false;
      }
    }
    if (v.contains("namespaces")) ok &= Strings(v["namespaces"], p.Child("namespaces"), &out->namespaces, true);
    return ok;
  }

  bool ParseRule(const Json& v, const FieldPath& p, Rule* r) {
    size_t before = errors_;
    if (!v.is_object()) {
      Error(p, "a rule must be a map with a name and one check, not " + TypeName(v));
      return false;
    }
    std::initializer_list<std::string_view> known = {"name", "action", "match", "allowedRegistries",
                                                     "requireDigest", "requireResources", "forbid",
                                                     "requiredLabels", "maxReplicas", "paths"};
    Unknown(v, p, known);
    const Json& name = Object::Field(v, "name");
    if (!name.is_string() || name.get<std::string>().empty()) {
      Error(p.Child("name"), name.is_null() ? "required: every rule has a name (it is shown in every violation)"
                                            : "must be a non-empty string");
    } else {
      r->name = name.get<std::string>();
    }
    if (v.contains("action")) ParseAction(v["action"], p.Child("action"), &r->action);
    if (v.contains("match")) ParseMatch(v["match"], p.Child("match"), &r->match);

    std::string first;
    for (auto c : kChecks) {
      std::string key(c);
      if (!v.contains(key)) continue;
      if (!first.empty()) {
        Error(p.Child(key), "a rule has one check and this one already has " + Quote(first) +
                                "; split them into two rules");
        continue;
      }
      first = key;
      ParseCheck(key, v[key], p.Child(key), r);
    }
    if (first.empty()) Error(p, "a rule needs one check: " + List(kChecks));
    return errors_ == before;
  }

  void ParseCheck(const std::string& key, const Json& v, const FieldPath& p, Rule* r) {
    if (key == "allowedRegistries") {
      r->check = Rule::Check::kAllowedRegistries;
      if (!Strings(v, p, &r->registries, true)) return;
      for (size_t i = 0; i < r->registries.size(); ++i) {
        std::string& reg = r->registries[i];
        if (reg.find("://") != std::string::npos) {
          Error(p.Index(i), "a registry is a host (and optional path) without a scheme: " + Quote(reg));
        }
        while (!reg.empty() && reg.back() == '/') reg.pop_back();
      }
    } else if (key == "requireDigest") {
      r->check = Rule::Check::kRequireDigest;
      if (!v.is_boolean()) {
        Error(p, "must be true or false, not " + TypeName(v));
      } else if (!v.get<bool>()) {
        Error(p, "must be true (remove the rule to allow images without a digest)");
      }
    } else if (key == "requireResources") {
      r->check = Rule::Check::kRequireResources;
      if (!v.is_object()) {
        Error(p, "must be a map (requests, limits), not " + TypeName(v));
        return;
      }
      Unknown(v, p, {"requests", "limits"});
      for (const char* part : {"requests", "limits"}) {
        if (!v.contains(part)) continue;
        auto* list = std::string_view(part) == "requests" ? &r->requests : &r->limits;
        if (!Strings(v[part], p.Child(part), list, false)) continue;
        for (size_t i = 0; i < list->size(); ++i) {
          const std::string& res = (*list)[i];
          if (std::find(kResourceNames.begin(), kResourceNames.end(), res) == kResourceNames.end()) {
            Error(p.Child(part).Index(i), "unsupported resource " + Quote(res) + ": must be one of " +
                                              List(kResourceNames) + DidYouMean(res, kResourceNames));
          }
        }
      }
      if (r->requests.empty() && r->limits.empty()) {
        Error(p, "must list at least one resource under requests or limits (cpu, memory)");
      }
    } else if (key == "forbid") {
      r->check = Rule::Check::kForbid;
      std::vector<std::string> names;
      if (!Strings(v, p, &names, true)) return;
      for (size_t i = 0; i < names.size(); ++i) {
        auto it = std::find(kForbidNames.begin(), kForbidNames.end(), names[i]);
        if (it == kForbidNames.end()) {
          Error(p.Index(i), "unsupported value " + Quote(names[i]) + ": must be one of " + List(kForbidNames) +
                                DidYouMean(names[i], kForbidNames));
          continue;
        }
        r->forbid.push_back(static_cast<Forbidden>(it - kForbidNames.begin()));
      }
    } else if (key == "requiredLabels") {
      r->check = Rule::Check::kRequiredLabels;
      if (!Strings(v, p, &r->labels, true)) return;
      for (size_t i = 0; i < r->labels.size(); ++i) {
        if (r->labels[i].front() == '=') Error(p.Index(i), "a label key is required before '='");
      }
    } else if (key == "maxReplicas") {
      r->check = Rule::Check::kMaxReplicas;
      if (v.is_string()) {
        Error(p, StringForNumberMessage(v.get<std::string>()));
      } else if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT32_MAX)) {
        Error(p, "must be a whole number, not " + (v.is_number() ? v.dump() : TypeName(v)));
      } else if (v.get<int64_t>() < 0) {
        Error(p, "must be greater than or equal to 0, got " + v.dump());
      } else {
        r->max_replicas = v.get<int64_t>();
      }
    } else if (key == "paths") {
      r->check = Rule::Check::kPaths;
      if (!v.is_object() || v.empty()) {
        Error(p, v.is_object() ? "must map at least one path to its namespaces"
                               : "must be a map of a path to its namespaces ({\"apps/web/\": [web]}), not " +
                                     TypeName(v));
        return;
      }
      for (auto it = v.begin(); it != v.end(); ++it) {
        FieldPath kp = p.Child(it.key());
        std::string prefix = it.key();
        while (prefix.rfind("./", 0) == 0) prefix = prefix.substr(2);
        if (prefix.empty() || prefix == "." || prefix.front() == '/' || prefix.find("..") != std::string::npos) {
          Error(kp, "a path is relative to the synced folder, without \"..\": " + Quote(it.key()));
          continue;
        }
        std::vector<std::string> ns;
        if (!Strings(it.value(), kp, &ns, true)) continue;
        r->paths.emplace_back(prefix, std::move(ns));
      }
    }
  }

  const Manifest& m_;
  std::vector<Diagnostic>* out_;
  size_t errors_ = 0;
};

}  // namespace

const char* ActionName(Action a) {
  return a == Action::kEnforce ? "enforce" : "warn";
}

const char* ForbiddenName(Forbidden f) {
  return (kForbidNames.begin() + static_cast<int>(f))->data();
}

size_t PolicySet::errors() const {
  return static_cast<size_t>(std::count_if(diagnostics.begin(), diagnostics.end(),
                                           [](const Diagnostic& d) { return d.severity == Severity::kError; }));
}

bool IsPolicy(const Manifest& m) {
  return m.object.kind() == "Policy" && m.object.api_version() == "bosun.dev/v1";
}

std::optional<Policy> ParsePolicy(const Manifest& m, std::vector<Diagnostic>* diagnostics) {
  return Parser(m, diagnostics).Parse();
}

PolicySet ParsePolicies(const std::vector<const Manifest*>& manifests, FieldValidation mode) {
  PolicySet set;
  for (const Manifest* m : manifests) {
    if (m == nullptr || !IsPolicy(*m)) continue;
    size_t first = set.diagnostics.size();
    if (auto p = ParsePolicy(*m, &set.diagnostics)) set.policies.push_back(std::move(*p));
    // In the order of the file, as every other diagnostic.
    std::stable_sort(set.diagnostics.begin() + static_cast<std::ptrdiff_t>(first), set.diagnostics.end(),
                     [](const Diagnostic& a, const Diagnostic& b) {
                       if (a.pos.line != b.pos.line) return a.pos.line < b.pos.line;
                       return a.pos.column < b.pos.column;
                     });
  }
  ApplyFieldValidation(set.diagnostics, mode);
  return set;
}

}  // namespace bosun::policies
