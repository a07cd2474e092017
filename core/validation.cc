// Validation: the framework, metadata, and the non-workload kinds.
#include "core/validation.h"

#include <algorithm>
#include <set>

#include "core/ascii.h"
#include "core/duration.h"
#include "core/field_steps.h"
#include "core/kinds.h"
#include "core/labels.h"
#include "core/quantity.h"
#include "core/selector.h"
#include "core/suggest.h"
#include "core/validation_internal.h"

namespace bosun::validation {

std::string TypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::object: return "a map";
    case Json::value_t::array: return "a list";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::null: return "null";
    case Json::value_t::number_float: return "a decimal number";
    default: return "a number";
  }
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  out.append(s);
  out += "\"";
  return out;
}

const Json* Checker::Typed(const Json& parent, const FieldPath& pp, const char* key, bool required,
                           bool (Json::*is)() const noexcept, const char* want) {
  FieldPath p = pp.Child(key);
  const Json& v = bosun::Object::Field(parent, key);
  if (v.is_null()) {
    if (required) Error(p, "required");
    return nullptr;
  }
  if (!(v.*is)()) {
    Error(p, std::string("must be ") + want + ", not " + TypeName(v));
    return nullptr;
  }
  return &v;
}

const Json* Checker::Object(const Json& parent, const FieldPath& pp, const char* key, bool required) {
  return Typed(parent, pp, key, required, &Json::is_object, "a map");
}
const Json* Checker::Array(const Json& parent, const FieldPath& pp, const char* key, bool required) {
  return Typed(parent, pp, key, required, &Json::is_array, "a list");
}
const Json* Checker::String(const Json& parent, const FieldPath& pp, const char* key, bool required) {
  const Json* v = Typed(parent, pp, key, required, &Json::is_string, "a string");
  if (v != nullptr && required && v->get_ref<const std::string&>().empty()) {
    Error(pp.Child(key), "required (must not be empty)");
    return nullptr;
  }
  return v;
}

std::optional<bool> Checker::Bool(const Json& parent, const FieldPath& pp, const char* key) {
  const Json* v = Typed(parent, pp, key, false, &Json::is_boolean, "true or false");
  if (v == nullptr) return std::nullopt;
  return v->get<bool>();
}

std::optional<int64_t> Checker::Int(const Json& parent, const FieldPath& pp, const char* key, int64_t min,
                                    int64_t max, bool required) {
  FieldPath p = pp.Child(key);
  const Json& v = bosun::Object::Field(parent, key);
  if (v.is_null()) {
    if (required) Error(p, "required");
    return std::nullopt;
  }
  if (v.is_number_float()) {
    Error(p, "must be a whole number, not " + v.dump());
    return std::nullopt;
  }
  if (v.is_string()) {
    Error(p, StringForNumberMessage(v.get<std::string>()));
    return std::nullopt;
  }
  if (!v.is_number_integer()) {
    Error(p, "must be a number, not " + TypeName(v));
    return std::nullopt;
  }
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    Error(p, "must be at most " + std::to_string(max) + ", got " + v.dump());
    return std::nullopt;
  }
  int64_t n = v.get<int64_t>();
  if (n < min || n > max) {
    if (n > max && max >= INT32_MAX) {
      // Too large (an int32 field given 2147483648): not "must be ≥ 0".
      Error(p, "must be at most " + std::to_string(max) + ", got " + std::to_string(n));
    } else if (min == 0 && max >= INT32_MAX) {
      Error(p, "must be greater than or equal to 0, got " + std::to_string(n));
    } else if (max >= INT32_MAX) {
      Error(p, "must be at least " + std::to_string(min) + ", got " + std::to_string(n));
    } else {
      Error(p, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                   std::to_string(n));
    }
    return std::nullopt;
  }
  return n;
}

std::optional<std::string> Checker::Enum(const Json& parent, const FieldPath& pp, const char* key,
                                         std::initializer_list<std::string_view> allowed, bool required) {
  const Json* v = String(parent, pp, key, required);
  if (v == nullptr) return std::nullopt;
  const std::string& s = v->get_ref<const std::string&>();
  for (auto a : allowed)
    if (s == a) return s;
  std::string list;
  for (auto a : allowed) {
    if (!list.empty()) list += ", ";
    list += Quote(a);
  }
  Error(pp.Child(key), "unsupported value " + Quote(s) + ": must be one of " + list);
  return std::nullopt;
}

const Json* Checker::StringMap(const Json& parent, const FieldPath& pp, const char* key) {
  const Json* m = Object(parent, pp, key);
  if (m == nullptr) return nullptr;
  FieldPath p = pp.Child(key);
  bool ok = true;
  for (auto it = m->begin(); it != m->end(); ++it) {
    if (!it.value().is_string()) {
      std::string hint = it.value().is_number() || it.value().is_boolean()
                             ? " (quote it: " + Quote(it.value().dump()) + ")"
                             : "";
      Error(p.Child(it.key()), "must be a string, not " + TypeName(it.value()) + hint);
      ok = false;
    }
  }
  return ok ? m : nullptr;
}

void Checker::Unknown(const Json& obj, const FieldPath& p, std::span<const std::string_view> known) {
  if (!obj.is_object()) return;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& k = it.key();
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    out_->push_back({Severity::kWarning, p.Child(k), "unknown field " + Quote(k) + DidYouMean(k, known, 3), true});
  }
}

const Json* Checker::ObjectList(const Json& parent, const FieldPath& pp, const char* key,
                                std::span<const std::string_view> known) {
  const Json* list = Array(parent, pp, key);
  if (list == nullptr) return nullptr;
  for (size_t i = 0; i < list->size(); ++i) {
    const FieldPath ip = pp.Child(key).Index(i);
    if (!(*list)[i].is_object()) {
      Error(ip, "must be a map, not " + TypeName((*list)[i]));
      continue;
    }
    Unknown((*list)[i], ip, known);
  }
  return list;
}

size_t Checker::error_count() const {
  return static_cast<size_t>(
      std::count_if(out_->begin(), out_->end(), [](const FieldError& e) { return e.severity == Severity::kError; }));
}

void ValidateLabels(Checker& c, const Json& labels, const FieldPath& p) {
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    FieldPath kp = p.Child(it.key());
    for (const auto& m : CheckQualifiedName(it.key())) c.Error(kp, "invalid label key " + Quote(it.key()) + ": " + m);
    if (it.value().is_string()) {
      for (const auto& m : CheckLabelValue(it.value().get<std::string>())) {
        c.Error(kp, "invalid label value " + Quote(it.value().get<std::string>()) + ": " + m);
      }
    }
  }
}

void ValidateObjectMeta(Checker& c, const Json& doc, const FieldPath& root, bool namespaced, NameRule rule,
                        bool require_name) {
  const Json* meta = c.Object(doc, root, "metadata", /*required=*/true);
  if (meta == nullptr) return;
  FieldPath p = root.Child("metadata");
  c.Unknown(*meta, p, kObjectMetaFields);
  const Json* name = c.String(*meta, p, "name");
  const Json* gen = c.String(*meta, p, "generateName");
  if (name != nullptr && !name->get_ref<const std::string&>().empty()) {
    const std::string& n = name->get_ref<const std::string&>();
    switch (rule) {
      case NameRule::kSubdomain: c.Errors(p.Child("name"), CheckDns1123Subdomain(n)); break;
      case NameRule::kDns1123Label: c.Errors(p.Child("name"), CheckDns1123Label(n)); break;
      case NameRule::kDns1035Label: c.Errors(p.Child("name"), CheckDns1035Label(n)); break;
    }
  } else if (require_name && gen == nullptr) {
    c.Error(p.Child("name"), "required");
  }
  if (const Json* ns = c.String(*meta, p, "namespace")) {
    const std::string& n = ns->get_ref<const std::string&>();
    if (!namespaced && !n.empty()) {
      c.Warn(p.Child("namespace"), "ignored: this kind is not namespaced");
    } else if (!n.empty()) {
      c.Errors(p.Child("namespace"), CheckDns1123Label(n));
    }
  }
  if (const Json* labels = c.StringMap(*meta, p, "labels")) ValidateLabels(c, *labels, p.Child("labels"));
  if (const Json* ann = c.StringMap(*meta, p, "annotations")) {
    size_t total = 0;
    for (auto it = ann->begin(); it != ann->end(); ++it) {
      for (const auto& m : CheckQualifiedName(it.key())) {
        c.Error(p.Child("annotations").Child(it.key()), "invalid annotation key " + Quote(it.key()) + ": " + m);
      }
      total += it.key().size() + it.value().get_ref<const std::string&>().size();
    }
    if (total > 256 * 1024) {
      c.Error(p.Child("annotations"), "annotations total " + std::to_string(total) + " bytes; must be at most 262144");
    }
  }
  c.Int(*meta, p, "generation", 0, INT64_MAX);
  c.Array(*meta, p, "ownerReferences");
  c.Array(*meta, p, "finalizers");
}

std::optional<Quantity> ValidateQuantity(Checker& c, const Json& v, const FieldPath& p) {
  std::string text;
  if (v.is_string()) {
    text = v.get<std::string>();
  } else if (v.is_number()) {
    text = v.dump();  // `cpu: 2` and `cpu: 0.5` are valid quantities
  } else {
    c.Error(p, "must be a quantity such as 500m or 128Mi, not " + TypeName(v));
    return std::nullopt;
  }
  auto q = Quantity::Parse(text);
  if (!q) {
    c.Error(p, q.error().message());
    return std::nullopt;
  }
  if (q->Compare(Quantity()) < 0) {
    c.Error(p, "must be greater than or equal to 0, got " + Quote(text));
    return std::nullopt;
  }
  return *q;
}

void ValidateIntOrPortName(Checker& c, const Json& parent, const FieldPath& pp, const char* key, bool required) {
  FieldPath p = pp.Child(key);
  const Json& v = bosun::Object::Field(parent, key);
  if (v.is_null()) {
    if (required) c.Error(p, "required");
  } else if (v.is_number_integer()) {
    c.Int(parent, pp, key, 1, 65535);
  } else if (v.is_string()) {
    c.Errors(p, CheckIanaSvcName(v.get<std::string>()));
  } else {
    c.Error(p, "must be a port number or a port name, not " + TypeName(v));
  }
}

bool ValidateLabelSelector(Checker& c, const Json& sel, const FieldPath& p) {
  size_t before = c.error_count();
  c.Unknown(sel, p, {"matchLabels", "matchExpressions"});
  if (const Json* ml = c.StringMap(sel, p, "matchLabels")) ValidateLabels(c, *ml, p.Child("matchLabels"));
  if (const Json* me = c.Array(sel, p, "matchExpressions")) {
    for (size_t i = 0; i < me->size(); ++i) {
      FieldPath ep = p.Child("matchExpressions").Index(i);
      const Json& e = (*me)[i];
      if (!e.is_object()) {
        c.Error(ep, "must be a map, not " + TypeName(e));
        continue;
      }
      c.Unknown(e, ep, {"key", "operator", "values"});
      if (const Json* key = c.String(e, ep, "key", true)) {
        for (const auto& m : CheckQualifiedName(key->get<std::string>())) c.Error(ep.Child("key"), m);
      }
      auto op = c.Enum(e, ep, "operator", {"In", "NotIn", "Exists", "DoesNotExist"}, true);
      const Json* values = c.Array(e, ep, "values");
      if (op && (*op == "In" || *op == "NotIn") && (values == nullptr || values->empty())) {
        c.Error(ep.Child("values"), "must be specified when operator is " + *op);
      }
      if (op && (*op == "Exists" || *op == "DoesNotExist") && values != nullptr && !values->empty()) {
        c.Error(ep.Child("values"), "may not be specified when operator is " + *op);
      }
      if (values != nullptr) {
        for (size_t j = 0; j < values->size(); ++j) {
          const Json& val = (*values)[j];
          if (!val.is_string()) {
            c.Error(ep.Child("values").Index(j), "must be a string, not " + TypeName(val));
          } else {
            c.Errors(ep.Child("values").Index(j), CheckLabelValue(val.get<std::string>()));
          }
        }
      }
    }
  }
  return c.error_count() == before;
}

namespace {

void ValidateNamespace(Checker& c, const bosun::Object& obj) {
  ValidateObjectMeta(c, obj.json(), FieldPath(), false, NameRule::kDns1123Label, true);
  if (const Json* spec = c.Object(obj.json(), FieldPath(), "spec")) {
    c.Unknown(*spec, FieldPath("spec"), {"finalizers"});
    c.Array(*spec, FieldPath("spec"), "finalizers");
  }
}

void ValidateConfigData(Checker& c, const bosun::Object& obj, bool secret) {
  const Json& doc = obj.json();
  FieldPath root;
  std::set<std::string> keys;
  size_t total = 0;
  auto check_keys = [&](const Json& m, const FieldPath& p) {
    for (auto it = m.begin(); it != m.end(); ++it) {
      FieldPath kp = p.Child(it.key());
      for (const auto& msg : CheckConfigMapKey(it.key())) c.Error(kp, "invalid key " + Quote(it.key()) + ": " + msg);
      if (!keys.insert(it.key()).second) c.Error(kp, "duplicate key " + Quote(it.key()) + " (also in another data map)");
      if (it.value().is_string()) total += it.value().get_ref<const std::string&>().size();
    }
  };
  // Standard base64: groups of four, `=` only as the last one or two.
  auto check_base64 = [&](const Json& m, const FieldPath& p) {
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (!it.value().is_string()) continue;  // reported as a type error
      const std::string& v = it.value().get_ref<const std::string&>();
      const size_t pad = v.find('=') == std::string::npos ? v.size() : v.find('=');
      bool ok = v.size() % 4 == 0 && v.size() - pad <= 2 && v.find_first_not_of('=', pad) == std::string::npos;
      for (size_t i = 0; ok && i < pad; ++i) {
        char ch = v[i];
        ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
      }
      // Never echo a Secret's value in a message.
      if (!ok) c.Error(p.Child(it.key()), "must be base64-encoded (use stringData for plain text)");
    }
  };
  // Checker::StringMap, without its "(quote it: VALUE)" hint: a Secret's
  // value is never echoed in a message. The map is returned with values of
  // the wrong type too (each an error here), so the other values' errors are
  // all reported at once.
  auto secret_map = [&](const char* key) -> const Json* {
    const Json* m = c.Object(doc, root, key);
    if (m == nullptr) return nullptr;
    for (auto it = m->begin(); it != m->end(); ++it) {
      if (it.value().is_string()) continue;
      c.Error(root.Child(key).Child(it.key()), "must be a string, not " + TypeName(it.value()) + " (quote the value)");
    }
    return m;
  };
  if (secret) {
    c.Unknown(doc, root, {"apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"});
    if (const Json* d = secret_map("data")) {
      check_keys(*d, FieldPath("data"));
      check_base64(*d, FieldPath("data"));
    }
    if (const Json* d = secret_map("stringData")) check_keys(*d, FieldPath("stringData"));
    c.String(doc, root, "type");
    c.Warn(FieldPath("kind"),
           "a plain Secret in Git exposes its values to everyone who can read the repository; "
           "seal it with `bosun seal` and commit the SealedSecret instead");
  } else {
    c.Unknown(doc, root, {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"});
    if (const Json* d = c.StringMap(doc, root, "data")) check_keys(*d, FieldPath("data"));
    if (const Json* d = c.StringMap(doc, root, "binaryData")) {
      check_keys(*d, FieldPath("binaryData"));
      check_base64(*d, FieldPath("binaryData"));
    }
  }
  c.Bool(doc, root, "immutable");
  if (total > (1u << 20)) {
    c.Error(FieldPath(secret ? "data" : "data"),
            "total size " + std::to_string(total) + " bytes; must be at most 1048576");
  }
}

void ValidateService(Checker& c, const bosun::Object& obj) {
  const Json& doc = obj.json();
  const Json* spec = c.Object(doc, FieldPath(), "spec", true);
  if (spec == nullptr) return;
  FieldPath sp("spec");
  c.Unknown(*spec, sp,
            {"type",
             "ports",
             "selector",
             "clusterIP",
             "clusterIPs",
             "externalName",
             "sessionAffinity",
             "externalTrafficPolicy",
             "internalTrafficPolicy",
             "ipFamilies",
             "ipFamilyPolicy",
             "publishNotReadyAddresses",
             "loadBalancerIP",
             "externalIPs",
             "sessionAffinityConfig",
             "loadBalancerSourceRanges",
             "allocateLoadBalancerNodePorts",
             "healthCheckNodePort",
             "loadBalancerClass",
             "trafficDistribution"});
  std::string type =
      c.Enum(*spec, sp, "type", {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"}).value_or("ClusterIP");
  if (const Json* sel = c.StringMap(*spec, sp, "selector")) ValidateLabels(c, *sel, sp.Child("selector"));
  c.Enum(*spec, sp, "sessionAffinity", {"None", "ClientIP"});
  const Json* cip = c.String(*spec, sp, "clusterIP");
  bool headless = cip != nullptr && cip->get<std::string>() == "None";
  if (type == "ExternalName") {
    if (const Json* en = c.String(*spec, sp, "externalName", true)) {
      c.Errors(sp.Child("externalName"), CheckDns1123Subdomain(en->get<std::string>()));
    }
    return;
  }
  const Json* ports = c.Array(*spec, sp, "ports", !headless);
  if (ports == nullptr) return;
  if (ports->empty() && !headless) c.Error(sp.Child("ports"), "required: a Service needs at least one port");
  std::set<std::string> names;
  std::set<std::pair<int64_t, std::string>> port_protos;
  for (size_t i = 0; i < ports->size(); ++i) {
    FieldPath pp = sp.Child("ports").Index(i);
    const Json& port = (*ports)[i];
    if (!port.is_object()) {
      c.Error(pp, "must be a map, not " + TypeName(port));
      continue;
    }
    c.Unknown(port, pp, {"name", "port", "targetPort", "protocol", "nodePort", "appProtocol"});
    const Json* name = c.String(port, pp, "name");
    if (name != nullptr) {
      c.Errors(pp.Child("name"), CheckDns1123Label(name->get<std::string>()));
      if (!names.insert(name->get<std::string>()).second) {
        c.Error(pp.Child("name"), "duplicate port name " + Quote(name->get<std::string>()));
      }
    } else if (ports->size() > 1) {
      c.Error(pp.Child("name"), "required when a Service has more than one port");
    }
    auto num = c.Int(port, pp, "port", 1, 65535, true);
    std::string proto = c.Enum(port, pp, "protocol", {"TCP", "UDP", "SCTP"}).value_or("TCP");
    if (num && !port_protos.insert({*num, proto}).second) {
      c.Error(pp.Child("port"), "duplicate port " + std::to_string(*num) + "/" + proto);
    }
    ValidateIntOrPortName(c, port, pp, "targetPort", false);
    if (auto np = c.Int(port, pp, "nodePort", 0, 65535); np && *np != 0) {
      if (type == "ClusterIP") {
        c.Error(pp.Child("nodePort"), "may not be used when type is \"ClusterIP\"");
      } else if (*np < 30000 || *np > 32767) {
        c.Error(pp.Child("nodePort"), "must be in the node port range 30000-32767, got " + std::to_string(*np));
      }
    }
  }
}

void ValidateSealedSecret(Checker& c, const bosun::Object& obj) {
  const Json* spec = c.Object(obj.json(), FieldPath(), "spec", true);
  if (spec == nullptr) return;
  FieldPath sp("spec");
  c.Unknown(*spec, sp, {"encryptedData", "template", "scope"});
  c.Enum(*spec, sp, "scope", {"strict", "namespace", "cluster"});
  const Json* data = c.StringMap(*spec, sp, "encryptedData");
  if (spec->contains("encryptedData") && data == nullptr) return;
  if (data == nullptr || data->empty()) {
    c.Error(sp.Child("encryptedData"), "required: the sealed values (make them with `bosun seal`)");
    return;
  }
  for (auto it = data->begin(); it != data->end(); ++it) {
    for (const auto& m : CheckConfigMapKey(it.key())) c.Error(sp.Child("encryptedData").Child(it.key()), m);
    // What `bosun seal` writes: standard base64 of at least a header and a
    // sealed box (9 + 48 bytes, 76 characters). crypto/sealed.h checks the rest.
    if (!it.value().is_string()) continue;
    const std::string& v = it.value().get_ref<const std::string&>();
    bool b64 = v.size() % 4 == 0 && v.size() >= 76;
    for (size_t i = 0; b64 && i < v.size(); ++i) {
      char ch = v[i];
      b64 = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
            ch == '/' || (ch == '=' && i >= v.size() - 2);
    }
    if (!b64) {
      c.Error(sp.Child("encryptedData").Child(it.key()),
              "not a sealed value (base64 text made by `bosun seal`, at least 76 characters)");
    }
  }
  if (auto scope = obj.annotation("bosun.dev/sealed-scope");
      scope && *scope != "strict" && *scope != "namespace" && *scope != "cluster") {
    c.Error(FieldPath("metadata").Child("annotations").Child("bosun.dev/sealed-scope"),
            "must be strict, namespace or cluster, not " + Quote(*scope));
  }
  if (const Json* t = c.Object(*spec, sp, "template")) {
    if (const Json* tm = c.Object(*t, sp.Child("template"), "metadata")) {
      FieldPath mp = sp.Child("template").Child("metadata");
      if (const Json* labels = c.StringMap(*tm, mp, "labels")) ValidateLabels(c, *labels, mp.Child("labels"));
    }
    c.String(*t, sp.Child("template"), "type");
  }
}

void ValidateSyncConfig(Checker& c, const bosun::Object& obj) {
  const Json* spec = c.Object(obj.json(), FieldPath(), "spec");
  if (spec == nullptr) return;
  FieldPath sp("spec");
  c.Unknown(*spec, sp,
            {"path", "interval", "prune", "selfHeal", "autoRevert", "force", "verify", "revisionHistoryLimit",
             "fieldValidation", "ignoreDifferences", "allowEmpty"});
  if (c.String(*spec, sp, "path")) {
    c.Warn(sp.Child("path"), "not used: the folder bosun follows is the server's --path");
  }
  if (const Json* iv = c.String(*spec, sp, "interval")) {
    auto d = ParseDuration(iv->get<std::string>());
    if (!d) {
      c.Error(sp.Child("interval"), d.error().message());
    } else if (d->count() <= 0) {
      c.Error(sp.Child("interval"), "must be positive, got " + Quote(iv->get<std::string>()));
    } else if (*d < std::chrono::seconds(1)) {
      // The leader would poll the remote that often; a push is applied at
      // once through a webhook, whatever the interval. A warning, not an
      // error: a repository that had one keeps syncing after an upgrade.
      c.Warn(sp.Child("interval"), Quote(iv->get<std::string>()) +
                                       " is raised to 1s, the shortest poll (for pushes to apply at once, send a "
                                       "webhook: docs/GITOPS.md)");
    }
  }
  c.Bool(*spec, sp, "prune");
  c.Bool(*spec, sp, "selfHeal");
  c.Bool(*spec, sp, "autoRevert");
  c.Bool(*spec, sp, "force");
  c.Bool(*spec, sp, "allowEmpty");
  c.Enum(*spec, sp, "verify", {"none", "head", "all"});
  c.Int(*spec, sp, "revisionHistoryLimit", 0, INT32_MAX);
  c.Enum(*spec, sp, "fieldValidation", {"Strict", "Warn", "Ignore"});
  // The fields the cluster owns (reconciler/plan.h IgnoreRule).
  if (const Json* list =
          c.ObjectList(*spec, sp, "ignoreDifferences", {"group", "kind", "namespace", "name", "fields"})) {
    for (size_t i = 0; i < list->size(); ++i) {
      const Json& rule = (*list)[i];
      if (!rule.is_object()) continue;
      FieldPath rp = sp.Child("ignoreDifferences").Index(i);
      const KindInfo* info = nullptr;
      if (const Json* kind = c.String(rule, rp, "kind", true)) {
        info = KindRegistry::Builtin().FindKind(kind->get<std::string>());
        if (info == nullptr || info->gvk.kind != kind->get<std::string>()) {
          c.Error(rp.Child("kind"), "unknown kind " + Quote(kind->get<std::string>()));
          info = nullptr;
        }
      }
      // A group or namespace the kind cannot have would match nothing.
      if (const Json* group = c.String(rule, rp, "group");
          group != nullptr && info != nullptr && group->get<std::string>() != info->gvk.group) {
        c.Error(rp.Child("group"), info->gvk.kind + " is in group " + Quote(info->gvk.group) +
                                       (info->gvk.group.empty() ? " (the core group)" : "") + ", not " +
                                       Quote(group->get<std::string>()));
      }
      if (c.String(rule, rp, "namespace") != nullptr && info != nullptr && !info->namespaced) {
        c.Error(rp.Child("namespace"), info->gvk.kind + " is cluster-scoped: a namespace would match nothing");
      }
      c.String(rule, rp, "name");
      const Json* fields = c.Array(rule, rp, "fields", true);
      if (fields == nullptr) continue;
      if (fields->empty()) c.Error(rp.Child("fields"), "must name at least one field");
      for (size_t k = 0; k < fields->size(); ++k) {
        FieldPath fp = rp.Child("fields").Index(k);
        const Json& f = (*fields)[k];
        if (!f.is_string()) {
          c.Error(fp, "must be a field path such as \"spec.replicas\", not " + TypeName(f));
        } else if (std::string why = OwnedFieldError(f.get<std::string>()); !why.empty()) {
          c.Error(fp, why);
        }
      }
    }
  }
}

void ValidatePolicy(Checker& c, const bosun::Object& obj) {
  const Json* spec = c.Object(obj.json(), FieldPath(), "spec", true);
  if (spec == nullptr) return;
  // The rule language arrives with the policies component; until then a
  // Policy must at least be well-formed.
  c.Array(*spec, FieldPath("spec"), "rules");
}

}  // namespace
}  // namespace bosun::validation

namespace bosun {

std::string StringForNumberMessage(std::string_view text) {
  std::string_view digits = text;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) digits.remove_prefix(1);
  const bool number = !digits.empty() && digits.size() <= 19 &&
                      std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (number) return "must be a number, not a string (remove the quotes around " + validation::Quote(text) + ")";
  return "must be a number, not " + validation::Quote(text);
}

std::vector<FieldError> ValidateObject(const Object& obj) {
  using namespace validation;
  std::vector<FieldError> out;
  Checker c(&out);
  const Json& doc = obj.json();
  FieldPath root;
  if (!doc.is_object()) {
    c.Error(root, "a manifest must be a map with apiVersion, kind and metadata, not " + TypeName(doc));
    return out;
  }
  const Json* api = c.String(doc, root, "apiVersion", true);
  const Json* kind = c.String(doc, root, "kind", true);
  if (api == nullptr || kind == nullptr) return out;
  const KindRegistry& reg = KindRegistry::Builtin();
  GroupVersionKind gvk = obj.gvk();
  const KindInfo* info = reg.Find(gvk);
  if (info == nullptr) {
    if (const KindInfo* other = reg.FindKind(gvk.kind); other != nullptr && other->gvk.kind == gvk.kind) {
      c.Error(FieldPath("apiVersion"), gvk.kind + " is served as " + Quote(other->gvk.ApiVersion()) + ", not " +
                                           Quote(gvk.ApiVersion()));
    } else {
      std::string known;
      for (const auto& k : reg.all()) {
        if (!k.from_manifests) continue;
        if (!known.empty()) known += ", ";
        known += k.gvk.kind;
      }
      c.Error(FieldPath("kind"), "unknown kind " + Quote(gvk.kind) + " in " + Quote(gvk.ApiVersion()) +
                                     " (bosun knows " + known + ")");
    }
    return out;
  }
  if (gvk.kind != "Namespace") {
    NameRule rule = gvk.kind == "Service" ? NameRule::kDns1035Label : NameRule::kSubdomain;
    ValidateObjectMeta(c, doc, root, info->namespaced, rule, true);
  }
  const std::string& k = gvk.kind;
  if (k == "ServiceAccount") {
    c.Unknown(doc, root,
              {"apiVersion", "kind", "metadata", "secrets", "imagePullSecrets", "automountServiceAccountToken"});
  } else if (k == "Namespace" || k == "Service" || k == "Deployment" || k == "ReplicaSet" || k == "Job" || k == "Pod" ||
             k == "SealedSecret" || k == "SyncConfig" || k == "Policy" || k == "Node" || k == "Lease") {
    // The kinds of spec and status. A Secret's and a ConfigMap's own checks
    // list their top-level fields; an Event's are left unchecked.
    c.Unknown(doc, root, {"apiVersion", "kind", "metadata", "spec", "status"});
  }
  if (k == "Namespace") ValidateNamespace(c, obj);
  else if (k == "ConfigMap") ValidateConfigData(c, obj, false);
  else if (k == "Secret") ValidateConfigData(c, obj, true);
  else if (k == "Service") ValidateService(c, obj);
  else if (k == "Deployment") ValidateDeployment(c, obj);
  else if (k == "ReplicaSet") ValidateReplicaSet(c, obj);
  else if (k == "Job") ValidateJob(c, obj);
  else if (k == "Pod") ValidatePod(c, obj);
  else if (k == "SealedSecret") ValidateSealedSecret(c, obj);
  else if (k == "SyncConfig") ValidateSyncConfig(c, obj);
  else if (k == "Policy") ValidatePolicy(c, obj);
  return out;
}

std::optional<std::string> NotFromManifests(const KindInfo& kind) {
  if (kind.from_manifests) return std::nullopt;
  const std::string& k = kind.gvk.kind;
  if (k == "Revision") return "Revision records are written by bosun itself and cannot be applied from manifests";
  if (k == "GitRepository") {
    return "the GitRepository is written by bosun from its server flags (--repo, --branch, --path) and cannot be "
           "applied from manifests";
  }
  if (k == "Node") {
    return "Nodes are registered by their node daemons (bosun node, bosun up) and cannot be applied from manifests";
  }
  if (k == "Lease") return "Leases are renewed by the node daemons and cannot be applied from manifests";
  if (k == "Event") return "Events are recorded by bosun's controllers and cannot be applied from manifests";
  return k + " objects are written by bosun itself and cannot be applied from manifests";
}

std::optional<FieldValidation> ParseFieldValidation(std::string_view s) {
  const std::string v = AsciiLower(s);
  if (v == "strict" || v == "true") return FieldValidation::kStrict;
  if (v == "warn") return FieldValidation::kWarn;
  if (v == "ignore" || v == "false") return FieldValidation::kIgnore;
  return std::nullopt;
}

const char* FieldValidationName(FieldValidation v) {
  switch (v) {
    case FieldValidation::kStrict:
      return "Strict";
    case FieldValidation::kWarn:
      return "Warn";
    case FieldValidation::kIgnore:
      return "Ignore";
  }
  return "Strict";
}

}  // namespace bosun
