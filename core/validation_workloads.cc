// Validation of pods, pod templates and the workload kinds that own them.
#include <set>

#include "core/labels.h"
#include "core/quantity.h"
#include "core/selector.h"
#include "core/validation_internal.h"

namespace bosun::validation {
namespace {

constexpr int64_t kInt32Max = INT32_MAX;

void ValidateEnv(Checker& c, const Json& container, const FieldPath& cp) {
  if (const Json* env = c.Array(container, cp, "env")) {
    for (size_t i = 0; i < env->size(); ++i) {
      FieldPath ep = cp.Child("env").Index(i);
      const Json& e = (*env)[i];
      if (!e.is_object()) {
        c.Error(ep, "must be a map with name and value, not " + TypeName(e));
        continue;
      }
      c.Unknown(e, ep, {"name", "value", "valueFrom"});
      if (const Json* name = c.String(e, ep, "name", true)) c.Errors(ep.Child("name"), CheckEnvVarName(name->get<std::string>()));
      const Json& raw = Object::Field(e, "value");
      if (!raw.is_null() && !raw.is_string()) {
        std::string hint = raw.is_number() || raw.is_boolean() ? " (quote it: " + Quote(raw.dump()) + ")" : "";
        c.Error(ep.Child("value"), "must be a string, not " + TypeName(raw) + hint);
      }
      const Json* from = c.Object(e, ep, "valueFrom");
      if (from == nullptr) continue;
      FieldPath fp = ep.Child("valueFrom");
      if (!raw.is_null()) c.Error(fp, "may not be specified when value is not empty");
      c.Unknown(*from, fp, {"fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"});
      int sources = 0;
      for (const char* ref : {"configMapKeyRef", "secretKeyRef"}) {
        if (const Json* r = c.Object(*from, fp, ref)) {
          ++sources;
          FieldPath rp = fp.Child(ref);
          c.Unknown(*r, rp, {"name", "key", "optional"});
          if (const Json* n = c.String(*r, rp, "name", true)) c.Errors(rp.Child("name"), CheckDns1123Subdomain(n->get<std::string>()));
          if (const Json* k = c.String(*r, rp, "key", true)) c.Errors(rp.Child("key"), CheckConfigMapKey(k->get<std::string>()));
          c.Bool(*r, rp, "optional");
        }
      }
      if (const Json* r = c.Object(*from, fp, "fieldRef")) {
        ++sources;
        c.String(*r, fp.Child("fieldRef"), "fieldPath", true);
      }
      if (const Json* r = c.Object(*from, fp, "resourceFieldRef")) {
        ++sources;
        c.String(*r, fp.Child("resourceFieldRef"), "resource", true);
      }
      if (sources != 1) {
        c.Error(fp, sources == 0 ? "must specify one of configMapKeyRef, secretKeyRef, fieldRef or resourceFieldRef"
                                 : "may not have more than one source");
      }
    }
  }
  if (const Json* env_from = c.Array(container, cp, "envFrom")) {
    for (size_t i = 0; i < env_from->size(); ++i) {
      FieldPath ep = cp.Child("envFrom").Index(i);
      const Json& e = (*env_from)[i];
      if (!e.is_object()) {
        c.Error(ep, "must be a map, not " + TypeName(e));
        continue;
      }
      c.Unknown(e, ep, {"prefix", "configMapRef", "secretRef"});
      int sources = 0;
      for (const char* ref : {"configMapRef", "secretRef"}) {
        if (const Json* r = c.Object(e, ep, ref)) {
          ++sources;
          c.Unknown(*r, ep.Child(ref), {"name", "optional"});
          if (const Json* n = c.String(*r, ep.Child(ref), "name", true)) {
            c.Errors(ep.Child(ref).Child("name"), CheckDns1123Subdomain(n->get<std::string>()));
          }
        }
      }
      if (const Json* prefix = c.String(e, ep, "prefix"); prefix != nullptr && !prefix->get<std::string>().empty()) {
        c.Errors(ep.Child("prefix"), CheckEnvVarName(prefix->get<std::string>()));
      }
      if (sources != 1) c.Error(ep, sources == 0 ? "must specify configMapRef or secretRef" : "may not have more than one source");
    }
  }
}

void ValidateResources(Checker& c, const Json& container, const FieldPath& cp) {
  const Json* res = c.Object(container, cp, "resources");
  if (res == nullptr) return;
  FieldPath rp = cp.Child("resources");
  c.Unknown(*res, rp, {"requests", "limits", "claims"});
  std::map<std::string, Quantity> requests, limits;
  for (const char* which : {"requests", "limits"}) {
    const Json* m = c.Object(*res, rp, which);
    if (m == nullptr) continue;
    for (auto it = m->begin(); it != m->end(); ++it) {
      FieldPath qp = rp.Child(which).Child(it.key());
      const std::string& name = it.key();
      bool standard = name == "cpu" || name == "memory" || name == "ephemeral-storage" || name == "pods" ||
                      name.rfind("hugepages-", 0) == 0;
      if (!standard) {
        if (name.find('/') == std::string::npos) {
          c.Error(qp, "unknown resource " + Quote(name) +
                          ": use cpu, memory, ephemeral-storage, or a domain-qualified name such as example.com/gpu");
          continue;
        }
        c.Errors(qp, CheckQualifiedName(name));
      }
      if (auto q = ValidateQuantity(c, it.value(), qp)) {
        (std::string(which) == "requests" ? requests : limits).insert_or_assign(name, *q);
      }
    }
  }
  for (const auto& [name, req] : requests) {
    auto lim = limits.find(name);
    if (lim != limits.end() && req.Compare(lim->second) > 0) {
      c.Error(rp.Child("requests").Child(name), "must be less than or equal to the " + name + " limit of " +
                                                   lim->second.String());
    }
  }
}

void ValidateHandler(Checker& c, const Json& h, const FieldPath& p, bool is_probe) {
  int handlers = 0;
  if (const Json* ex = c.Object(h, p, "exec")) {
    ++handlers;
    c.Unknown(*ex, p.Child("exec"), {"command"});
    const Json* cmd = c.Array(*ex, p.Child("exec"), "command", true);
    if (cmd != nullptr && cmd->empty()) c.Error(p.Child("exec").Child("command"), "required (must not be empty)");
  }
  if (const Json* hg = c.Object(h, p, "httpGet")) {
    ++handlers;
    FieldPath hp = p.Child("httpGet");
    c.Unknown(*hg, hp, {"path", "port", "host", "scheme", "httpHeaders"});
    ValidateIntOrPortName(c, *hg, hp, "port", true);
    if (const Json* path = c.String(*hg, hp, "path"); path != nullptr && !path->get<std::string>().empty() &&
                                                       path->get<std::string>()[0] != '/') {
      c.Error(hp.Child("path"), "must start with \"/\", got " + Quote(path->get<std::string>()));
    }
    c.Enum(*hg, hp, "scheme", {"HTTP", "HTTPS"});
    c.ObjectList(*hg, hp, "httpHeaders", {"name", "value"});
  }
  if (const Json* ts = c.Object(h, p, "tcpSocket")) {
    ++handlers;
    c.Unknown(*ts, p.Child("tcpSocket"), {"port", "host"});
    ValidateIntOrPortName(c, *ts, p.Child("tcpSocket"), "port", true);
  }
  if (is_probe) {
    if (const Json* g = c.Object(h, p, "grpc")) {
      ++handlers;
      c.Unknown(*g, p.Child("grpc"), {"port", "service"});
      c.Int(*g, p.Child("grpc"), "port", 1, 65535, true);
    }
  } else if (const Json* sl = c.Object(h, p, "sleep")) {
    // A lifecycle hook's pause (Kubernetes 1.29).
    ++handlers;
    c.Unknown(*sl, p.Child("sleep"), {"seconds"});
    c.Int(*sl, p.Child("sleep"), "seconds", 0, INT64_MAX, true);
  }
  if (handlers == 0) {
    c.Error(p, is_probe ? "must specify a handler: exec, httpGet, tcpSocket or grpc"
                        : "must specify a handler: exec, httpGet, tcpSocket or sleep");
  } else if (handlers > 1) {
    c.Error(p, "may not specify more than one handler");
  }
}

void ValidateProbe(Checker& c, const Json& container, const FieldPath& cp, const char* which) {
  const Json* probe = c.Object(container, cp, which);
  if (probe == nullptr) return;
  FieldPath p = cp.Child(which);
  c.Unknown(*probe, p,
            {"exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds", "timeoutSeconds", "periodSeconds",
             "successThreshold", "failureThreshold", "terminationGracePeriodSeconds"});
  ValidateHandler(c, *probe, p, true);
  c.Int(*probe, p, "initialDelaySeconds", 0, kInt32Max);
  c.Int(*probe, p, "timeoutSeconds", 0, kInt32Max);
  c.Int(*probe, p, "periodSeconds", 0, kInt32Max);
  c.Int(*probe, p, "failureThreshold", 0, kInt32Max);
  c.Int(*probe, p, "terminationGracePeriodSeconds", 1, kInt32Max);
  if (auto s = c.Int(*probe, p, "successThreshold", 0, kInt32Max); s && *s > 1 && std::string(which) != "readinessProbe") {
    c.Error(p.Child("successThreshold"), "must be 1 for a " + std::string(which));
  }
}

void ValidateContainer(Checker& c, const Json& ct, const FieldPath& cp, std::set<std::string>& names,
                       std::set<std::string>& port_names, std::set<std::pair<int64_t, std::string>>& host_ports,
                       const std::set<std::string>& volumes, bool init) {
  c.Unknown(ct, cp,
            {"name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources", "volumeMounts",
             "volumeDevices", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
             "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty",
             "restartPolicy", "resizePolicy"});
  if (const Json* name = c.String(ct, cp, "name", true)) {
    const std::string& n = name->get_ref<const std::string&>();
    c.Errors(cp.Child("name"), CheckDns1123Label(n));
    if (!names.insert(n).second) c.Error(cp.Child("name"), "duplicate container name " + Quote(n));
  }
  if (const Json* image = c.String(ct, cp, "image", true)) {
    const std::string& im = image->get_ref<const std::string&>();
    if (im.find_first_of(" \t\n") != std::string::npos) {
      c.Error(cp.Child("image"), "must not contain whitespace: " + Quote(im));
    }
  }
  c.Enum(ct, cp, "imagePullPolicy", {"Always", "IfNotPresent", "Never"});
  for (const char* list : {"command", "args"}) {
    if (const Json* a = c.Array(ct, cp, list)) {
      for (size_t i = 0; i < a->size(); ++i) {
        const Json& v = (*a)[i];
        if (!v.is_string()) {
          std::string hint = v.is_number() || v.is_boolean() ? " (quote it: " + Quote(v.dump()) + ")" : "";
          c.Error(cp.Child(list).Index(i), "must be a string, not " + TypeName(v) + hint);
        }
      }
    }
  }
  c.String(ct, cp, "workingDir");
  if (const Json* ports = c.Array(ct, cp, "ports")) {
    for (size_t i = 0; i < ports->size(); ++i) {
      FieldPath pp = cp.Child("ports").Index(i);
      const Json& port = (*ports)[i];
      if (!port.is_object()) {
        c.Error(pp, "must be a map with containerPort, not " + TypeName(port));
        continue;
      }
      c.Unknown(port, pp, {"name", "containerPort", "hostPort", "protocol", "hostIP"});
      if (const Json* pn = c.String(port, pp, "name")) {
        const std::string& n = pn->get_ref<const std::string&>();
        c.Errors(pp.Child("name"), CheckIanaSvcName(n));
        if (!port_names.insert(n).second) c.Error(pp.Child("name"), "duplicate port name " + Quote(n));
      }
      c.Int(port, pp, "containerPort", 1, 65535, true);
      std::string proto = c.Enum(port, pp, "protocol", {"TCP", "UDP", "SCTP"}).value_or("TCP");
      if (auto hp = c.Int(port, pp, "hostPort", 0, 65535); hp && *hp != 0) {
        if (!host_ports.insert({*hp, proto}).second) {
          c.Error(pp.Child("hostPort"), "duplicate host port " + std::to_string(*hp) + "/" + proto);
        }
      }
    }
  }
  ValidateEnv(c, ct, cp);
  ValidateResources(c, ct, cp);
  if (const Json* mounts = c.Array(ct, cp, "volumeMounts")) {
    std::set<std::string> paths;
    for (size_t i = 0; i < mounts->size(); ++i) {
      FieldPath mp = cp.Child("volumeMounts").Index(i);
      const Json& m = (*mounts)[i];
      if (!m.is_object()) {
        c.Error(mp, "must be a map, not " + TypeName(m));
        continue;
      }
      c.Unknown(m, mp,
                {"name", "readOnly", "recursiveReadOnly", "mountPath", "subPath", "mountPropagation", "subPathExpr"});
      if (const Json* n = c.String(m, mp, "name", true); n != nullptr && !volumes.count(n->get<std::string>())) {
        c.Error(mp.Child("name"), "no volume named " + Quote(n->get<std::string>()) + " in spec.volumes");
      }
      if (const Json* path = c.String(m, mp, "mountPath", true)) {
        const std::string& s = path->get_ref<const std::string&>();
        if (s[0] != '/') c.Error(mp.Child("mountPath"), "must be an absolute path, got " + Quote(s));
        if (!paths.insert(s).second) c.Error(mp.Child("mountPath"), "must be unique; " + Quote(s) + " is mounted twice");
      }
      c.Bool(m, mp, "readOnly");
      c.String(m, mp, "subPath");
    }
  }
  // A sidecar (an init container with restartPolicy Always, Kubernetes
  // 1.28) runs beside the others and may have probes.
  const Json& restart = bosun::Object::Field(ct, "restartPolicy");
  if (init && !(restart.is_string() && restart.get_ref<const std::string&>() == "Always")) {
    for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
      if (ct.contains(probe))
        c.Error(cp.Child(probe), "may not be set for init containers without restartPolicy=Always");
    }
  } else {
    ValidateProbe(c, ct, cp, "livenessProbe");
    ValidateProbe(c, ct, cp, "readinessProbe");
    ValidateProbe(c, ct, cp, "startupProbe");
  }
  if (const Json* lc = c.Object(ct, cp, "lifecycle")) {
    const FieldPath lp = cp.Child("lifecycle");
    c.Unknown(*lc, lp, {"postStart", "preStop"});
    for (const char* hook : {"postStart", "preStop"}) {
      if (const Json* h = c.Object(*lc, lp, hook)) {
        c.Unknown(*h, lp.Child(hook), {"exec", "httpGet", "tcpSocket", "sleep"});
        ValidateHandler(c, *h, lp.Child(hook), false);
      }
    }
  }
  if (const Json* sc = c.Object(ct, cp, "securityContext")) {
    FieldPath sp = cp.Child("securityContext");
    if (const Json* caps = c.Object(*sc, sp, "capabilities")) {
      c.Unknown(*caps, sp.Child("capabilities"), {"add", "drop"});
    }
    if (const Json* seccomp = c.Object(*sc, sp, "seccompProfile")) {
      c.Unknown(*seccomp, sp.Child("seccompProfile"), {"type", "localhostProfile"});
    }
    c.Unknown(
        *sc, sp,
        {"capabilities", "privileged", "seLinuxOptions", "windowsOptions", "runAsUser", "runAsGroup", "runAsNonRoot",
         "readOnlyRootFilesystem", "allowPrivilegeEscalation", "procMount", "seccompProfile", "appArmorProfile"});
    c.Int(*sc, sp, "runAsUser", 0, INT32_MAX);
    c.Int(*sc, sp, "runAsGroup", 0, INT32_MAX);
    c.Bool(*sc, sp, "runAsNonRoot");
    c.Bool(*sc, sp, "readOnlyRootFilesystem");
    c.Bool(*sc, sp, "privileged");
    auto ape = c.Bool(*sc, sp, "allowPrivilegeEscalation");
    auto priv = c.Bool(*sc, sp, "privileged");
    if (ape && priv && !*ape && *priv) {
      c.Error(sp, "cannot set allowPrivilegeEscalation to false and privileged to true");
    }
  }
}

// A NodeSelectorTerm (its own fields already checked): matchExpressions and
// matchFields, each a list of {key, operator, values}.
void ValidateNodeSelectorTerm(Checker& c, const Json& term, const FieldPath& p) {
  for (const char* f : {"matchExpressions", "matchFields"}) {
    const Json* reqs = c.ObjectList(term, p, f, {"key", "operator", "values"});
    if (reqs == nullptr) continue;
    for (size_t i = 0; i < reqs->size(); ++i) {
      const Json& r = (*reqs)[i];
      if (!r.is_object()) continue;
      FieldPath rp = p.Child(f).Index(i);
      c.String(r, rp, "key", true);
      c.Enum(r, rp, "operator", {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"}, true);
      c.Array(r, rp, "values");
    }
  }
}

// A PodAffinityTerm (its own fields already checked).
void ValidatePodAffinityTerm(Checker& c, const Json& term, const FieldPath& p) {
  for (const char* f : {"labelSelector", "namespaceSelector"}) {
    if (const Json* sel = c.Object(term, p, f)) ValidateLabelSelector(c, *sel, p.Child(f));
  }
  c.String(term, p, "topologyKey", true);
  c.Array(term, p, "namespaces");
  c.Array(term, p, "matchLabelKeys");
  c.Array(term, p, "mismatchLabelKeys");
}

constexpr std::array<std::string_view, 6> kPodAffinityTermFields = {
    "labelSelector", "namespaces", "topologyKey", "namespaceSelector", "matchLabelKeys", "mismatchLabelKeys"};

// spec.affinity, as Kubernetes 1.31's Affinity: a misspelt level there
// would be dropped and the pod scheduled without the rule.
void ValidateAffinity(Checker& c, const Json& spec, const FieldPath& p) {
  const Json* a = c.Object(spec, p, "affinity");
  if (a == nullptr) return;
  const FieldPath ap = p.Child("affinity");
  c.Unknown(*a, ap, {"nodeAffinity", "podAffinity", "podAntiAffinity"});
  constexpr const char* kRequired = "requiredDuringSchedulingIgnoredDuringExecution";
  constexpr const char* kPreferred = "preferredDuringSchedulingIgnoredDuringExecution";
  if (const Json* na = c.Object(*a, ap, "nodeAffinity")) {
    const FieldPath np = ap.Child("nodeAffinity");
    c.Unknown(*na, np, {kRequired, kPreferred});
    if (const Json* req = c.Object(*na, np, kRequired)) {
      const FieldPath rp = np.Child(kRequired);
      c.Unknown(*req, rp, {"nodeSelectorTerms"});
      if (const Json* terms = c.ObjectList(*req, rp, "nodeSelectorTerms", {"matchExpressions", "matchFields"})) {
        for (size_t i = 0; i < terms->size(); ++i) {
          if ((*terms)[i].is_object()) ValidateNodeSelectorTerm(c, (*terms)[i], rp.Child("nodeSelectorTerms").Index(i));
        }
      }
    }
    if (const Json* prefs = c.ObjectList(*na, np, kPreferred, {"weight", "preference"})) {
      for (size_t i = 0; i < prefs->size(); ++i) {
        const Json& pref = (*prefs)[i];
        if (!pref.is_object()) continue;
        const FieldPath pp = np.Child(kPreferred).Index(i);
        c.Int(pref, pp, "weight", 1, 100, true);
        if (const Json* term = c.Object(pref, pp, "preference")) {
          c.Unknown(*term, pp.Child("preference"), {"matchExpressions", "matchFields"});
          ValidateNodeSelectorTerm(c, *term, pp.Child("preference"));
        }
      }
    }
  }
  for (const char* kind : {"podAffinity", "podAntiAffinity"}) {
    const Json* pa = c.Object(*a, ap, kind);
    if (pa == nullptr) continue;
    const FieldPath kp = ap.Child(kind);
    c.Unknown(*pa, kp, {kRequired, kPreferred});
    if (const Json* terms = c.ObjectList(*pa, kp, kRequired, kPodAffinityTermFields)) {
      for (size_t i = 0; i < terms->size(); ++i) {
        if ((*terms)[i].is_object()) ValidatePodAffinityTerm(c, (*terms)[i], kp.Child(kRequired).Index(i));
      }
    }
    if (const Json* prefs = c.ObjectList(*pa, kp, kPreferred, {"weight", "podAffinityTerm"})) {
      for (size_t i = 0; i < prefs->size(); ++i) {
        const Json& pref = (*prefs)[i];
        if (!pref.is_object()) continue;
        const FieldPath pp = kp.Child(kPreferred).Index(i);
        c.Int(pref, pp, "weight", 1, 100, true);
        if (const Json* term = c.Object(pref, pp, "podAffinityTerm", true)) {
          c.Unknown(*term, pp.Child("podAffinityTerm"), kPodAffinityTermFields);
          ValidatePodAffinityTerm(c, *term, pp.Child("podAffinityTerm"));
        }
      }
    }
  }
}

// The pod spec's smaller lists of Kubernetes 1.31: topologySpreadConstraints,
// readinessGates, schedulingGates, resourceClaims and os.
void ValidateSchedulingLists(Checker& c, const Json& spec, const FieldPath& p) {
  if (const Json* tsc = c.ObjectList(spec, p, "topologySpreadConstraints",
                                     {"maxSkew", "topologyKey", "whenUnsatisfiable", "labelSelector", "minDomains",
                                      "nodeAffinityPolicy", "nodeTaintsPolicy", "matchLabelKeys"})) {
    for (size_t i = 0; i < tsc->size(); ++i) {
      const Json& t = (*tsc)[i];
      if (!t.is_object()) continue;
      const FieldPath tp = p.Child("topologySpreadConstraints").Index(i);
      c.Int(t, tp, "maxSkew", 1, INT32_MAX, true);
      c.String(t, tp, "topologyKey", true);
      c.Enum(t, tp, "whenUnsatisfiable", {"DoNotSchedule", "ScheduleAnyway"}, true);
      if (const Json* sel = c.Object(t, tp, "labelSelector")) ValidateLabelSelector(c, *sel, tp.Child("labelSelector"));
      c.Int(t, tp, "minDomains", 1, INT32_MAX);
      c.Enum(t, tp, "nodeAffinityPolicy", {"Honor", "Ignore"});
      c.Enum(t, tp, "nodeTaintsPolicy", {"Honor", "Ignore"});
      c.Array(t, tp, "matchLabelKeys");
    }
  }
  c.ObjectList(spec, p, "readinessGates", {"conditionType"});
  c.ObjectList(spec, p, "schedulingGates", {"name"});
  c.ObjectList(spec, p, "resourceClaims", {"name", "resourceClaimName", "resourceClaimTemplateName"});
  if (const Json* os = c.Object(spec, p, "os")) c.Unknown(*os, p.Child("os"), {"name"});
}

// A downwardAPI volume's items (and a projected downwardAPI source's).
void ValidateDownwardApiItems(Checker& c, const Json& parent, const FieldPath& p) {
  const Json* items = c.ObjectList(parent, p, "items", {"path", "fieldRef", "resourceFieldRef", "mode"});
  if (items == nullptr) return;
  for (size_t i = 0; i < items->size(); ++i) {
    const Json& item = (*items)[i];
    if (!item.is_object()) continue;
    const FieldPath ip = p.Child("items").Index(i);
    c.String(item, ip, "path", true);
    if (const Json* f = c.Object(item, ip, "fieldRef"))
      c.Unknown(*f, ip.Child("fieldRef"), {"apiVersion", "fieldPath"});
    if (const Json* r = c.Object(item, ip, "resourceFieldRef")) {
      c.Unknown(*r, ip.Child("resourceFieldRef"), {"containerName", "resource", "divisor"});
    }
  }
}

// A projected volume's sources, as Kubernetes 1.31's VolumeProjection.
void ValidateProjectedSources(Checker& c, const Json& projected, const FieldPath& p) {
  const Json* sources = c.ObjectList(
      projected, p, "sources", {"secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle"});
  if (sources == nullptr) return;
  for (size_t i = 0; i < sources->size(); ++i) {
    const Json& src = (*sources)[i];
    if (!src.is_object()) continue;
    const FieldPath sp = p.Child("sources").Index(i);
    for (const char* f : {"secret", "configMap"}) {
      if (const Json* o = c.Object(src, sp, f)) {
        c.Unknown(*o, sp.Child(f), {"name", "items", "optional"});
        c.ObjectList(*o, sp.Child(f), "items", {"key", "path", "mode"});
      }
    }
    if (const Json* da = c.Object(src, sp, "downwardAPI")) {
      c.Unknown(*da, sp.Child("downwardAPI"), {"items"});
      ValidateDownwardApiItems(c, *da, sp.Child("downwardAPI"));
    }
    if (const Json* sat = c.Object(src, sp, "serviceAccountToken")) {
      c.Unknown(*sat, sp.Child("serviceAccountToken"), {"audience", "expirationSeconds", "path"});
    }
    if (const Json* ctb = c.Object(src, sp, "clusterTrustBundle")) {
      c.Unknown(*ctb, sp.Child("clusterTrustBundle"), {"name", "signerName", "labelSelector", "optional", "path"});
    }
  }
}

}  // namespace

void ValidatePodSpec(Checker& c, const Json& spec, const FieldPath& p) {
  c.Unknown(spec, p,
            {"containers", "initContainers", "volumes", "restartPolicy", "terminationGracePeriodSeconds",
             "activeDeadlineSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount",
             "automountServiceAccountToken", "nodeName", "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace",
             "securityContext", "imagePullSecrets", "hostname", "subdomain", "affinity", "schedulerName", "tolerations",
             "hostAliases", "priorityClassName", "priority", "dnsConfig", "readinessGates", "runtimeClassName",
             "enableServiceLinks", "preemptionPolicy", "overhead", "topologySpreadConstraints", "setHostnameAsFQDN",
             "os", "hostUsers", "schedulingGates", "resourceClaims", "ephemeralContainers"});
  std::set<std::string> volumes;
  if (const Json* vols = c.Array(spec, p, "volumes")) {
    for (size_t i = 0; i < vols->size(); ++i) {
      FieldPath vp = p.Child("volumes").Index(i);
      const Json& v = (*vols)[i];
      if (!v.is_object()) {
        c.Error(vp, "must be a map, not " + TypeName(v));
        continue;
      }
      if (const Json* n = c.String(v, vp, "name", true)) {
        const std::string& name = n->get_ref<const std::string&>();
        c.Errors(vp.Child("name"), CheckDns1123Label(name));
        if (!volumes.insert(name).second) c.Error(vp.Child("name"), "duplicate volume name " + Quote(name));
      }
      // A name and Kubernetes 1.31's VolumeSource: bosun's nodes mount the
      // first six kinds; the rest are accepted as Kubernetes accepts them.
      static constexpr std::array<std::string_view, 31> kVolumeFields = {"name",
                                                                         "emptyDir",
                                                                         "configMap",
                                                                         "secret",
                                                                         "hostPath",
                                                                         "projected",
                                                                         "downwardAPI",
                                                                         "persistentVolumeClaim",
                                                                         "ephemeral",
                                                                         "csi",
                                                                         "nfs",
                                                                         "gcePersistentDisk",
                                                                         "awsElasticBlockStore",
                                                                         "gitRepo",
                                                                         "iscsi",
                                                                         "glusterfs",
                                                                         "rbd",
                                                                         "flexVolume",
                                                                         "cinder",
                                                                         "cephfs",
                                                                         "flocker",
                                                                         "fc",
                                                                         "azureFile",
                                                                         "vsphereVolume",
                                                                         "quobyte",
                                                                         "azureDisk",
                                                                         "photonPersistentDisk",
                                                                         "portworxVolume",
                                                                         "scaleIO",
                                                                         "storageos",
                                                                         "image"};
      c.Unknown(v, vp, kVolumeFields);
      int sources = 0;
      for (std::string_view f : kVolumeFields) {
        if (f != "name" && v.contains(f)) ++sources;
      }
      if (sources == 0) c.Error(vp, "must specify a volume type (emptyDir, configMap, secret, hostPath, …)");
      if (sources > 1) c.Error(vp, "may not specify more than one volume type");
      if (const Json* cm = c.Object(v, vp, "configMap")) {
        c.Unknown(*cm, vp.Child("configMap"), {"name", "items", "defaultMode", "optional"});
        c.String(*cm, vp.Child("configMap"), "name", true);
        c.ObjectList(*cm, vp.Child("configMap"), "items", {"key", "path", "mode"});
      }
      if (const Json* s = c.Object(v, vp, "secret")) {
        c.Unknown(*s, vp.Child("secret"), {"secretName", "items", "defaultMode", "optional"});
        c.String(*s, vp.Child("secret"), "secretName", true);
        c.ObjectList(*s, vp.Child("secret"), "items", {"key", "path", "mode"});
      }
      if (const Json* pvc = c.Object(v, vp, "persistentVolumeClaim")) {
        c.Unknown(*pvc, vp.Child("persistentVolumeClaim"), {"claimName", "readOnly"});
      }
      if (const Json* nfs = c.Object(v, vp, "nfs")) c.Unknown(*nfs, vp.Child("nfs"), {"server", "path", "readOnly"});
      if (const Json* csi = c.Object(v, vp, "csi")) {
        c.Unknown(*csi, vp.Child("csi"), {"driver", "readOnly", "fsType", "volumeAttributes", "nodePublishSecretRef"});
      }
      if (const Json* da = c.Object(v, vp, "downwardAPI")) {
        c.Unknown(*da, vp.Child("downwardAPI"), {"items", "defaultMode"});
        ValidateDownwardApiItems(c, *da, vp.Child("downwardAPI"));
      }
      if (const Json* pr = c.Object(v, vp, "projected")) {
        c.Unknown(*pr, vp.Child("projected"), {"sources", "defaultMode"});
        ValidateProjectedSources(c, *pr, vp.Child("projected"));
      }
      if (const Json* hp = c.Object(v, vp, "hostPath")) {
        c.Unknown(*hp, vp.Child("hostPath"), {"path", "type"});
        if (const Json* path = c.String(*hp, vp.Child("hostPath"), "path", true);
            path != nullptr && path->get<std::string>()[0] != '/') {
          c.Error(vp.Child("hostPath").Child("path"), "must be an absolute path");
        }
      }
      if (const Json* ed = c.Object(v, vp, "emptyDir")) {
        c.Unknown(*ed, vp.Child("emptyDir"), {"medium", "sizeLimit"});
        c.Enum(*ed, vp.Child("emptyDir"), "medium", {"", "Memory"});
        if (ed->contains("sizeLimit")) ValidateQuantity(c, (*ed)["sizeLimit"], vp.Child("emptyDir").Child("sizeLimit"));
      }
    }
  }
  std::set<std::string> names, port_names;
  std::set<std::pair<int64_t, std::string>> host_ports;
  const Json* containers = c.Array(spec, p, "containers", true);
  if (containers != nullptr && containers->empty()) c.Error(p.Child("containers"), "required: at least one container");
  if (containers != nullptr) {
    for (size_t i = 0; i < containers->size(); ++i) {
      FieldPath cp = p.Child("containers").Index(i);
      const Json& ct = (*containers)[i];
      if (!ct.is_object()) {
        c.Error(cp, "must be a map with name and image, not " + TypeName(ct));
        continue;
      }
      ValidateContainer(c, ct, cp, names, port_names, host_ports, volumes, false);
    }
  }
  if (const Json* inits = c.Array(spec, p, "initContainers")) {
    std::set<std::string> init_ports;
    std::set<std::pair<int64_t, std::string>> init_host_ports;
    for (size_t i = 0; i < inits->size(); ++i) {
      FieldPath cp = p.Child("initContainers").Index(i);
      const Json& ct = (*inits)[i];
      if (!ct.is_object()) {
        c.Error(cp, "must be a map with name and image, not " + TypeName(ct));
        continue;
      }
      ValidateContainer(c, ct, cp, names, init_ports, init_host_ports, volumes, true);
    }
  }
  c.Enum(spec, p, "restartPolicy", {"Always", "OnFailure", "Never"});
  c.Enum(spec, p, "dnsPolicy", {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"});
  c.Int(spec, p, "terminationGracePeriodSeconds", 0, INT64_MAX);
  c.Int(spec, p, "activeDeadlineSeconds", 1, INT64_MAX);
  c.Bool(spec, p, "hostNetwork");
  if (const Json* ns = c.StringMap(spec, p, "nodeSelector")) ValidateLabels(c, *ns, p.Child("nodeSelector"));
  if (const Json* tols = c.Array(spec, p, "tolerations")) {
    for (size_t i = 0; i < tols->size(); ++i) {
      FieldPath tp = p.Child("tolerations").Index(i);
      const Json& t = (*tols)[i];
      if (!t.is_object()) {
        c.Error(tp, "must be a map, not " + TypeName(t));
        continue;
      }
      c.Unknown(t, tp, {"key", "operator", "value", "effect", "tolerationSeconds"});
      auto op = c.Enum(t, tp, "operator", {"Exists", "Equal"}).value_or("Equal");
      const Json* key = c.String(t, tp, "key");
      if (key != nullptr && !key->get<std::string>().empty()) c.Errors(tp.Child("key"), CheckQualifiedName(key->get<std::string>()));
      if ((key == nullptr || key->get<std::string>().empty()) && op != "Exists") {
        c.Error(tp.Child("operator"), "must be \"Exists\" when key is empty");
      }
      const Json* value = c.String(t, tp, "value");
      if (op == "Exists" && value != nullptr && !value->get<std::string>().empty()) {
        c.Error(tp.Child("value"), "must be empty when operator is \"Exists\"");
      }
      c.Enum(t, tp, "effect", {"NoSchedule", "PreferNoSchedule", "NoExecute"});
      c.Int(t, tp, "tolerationSeconds", INT64_MIN, INT64_MAX);
    }
  }
  ValidateAffinity(c, spec, p);
  ValidateSchedulingLists(c, spec, p);
  c.String(spec, p, "nodeName");
  c.String(spec, p, "serviceAccountName");
  c.ObjectList(spec, p, "imagePullSecrets", {"name"});
  c.ObjectList(spec, p, "hostAliases", {"ip", "hostnames"});
  if (const Json* dns = c.Object(spec, p, "dnsConfig")) {
    c.Unknown(*dns, p.Child("dnsConfig"), {"nameservers", "searches", "options"});
    c.ObjectList(*dns, p.Child("dnsConfig"), "options", {"name", "value"});
  }
}

void ValidatePodTemplate(Checker& c, const Json& parent, const FieldPath& pp, const Json* selector,
                         const FieldPath& selector_path) {
  const Json* tmpl = c.Object(parent, pp, "template", true);
  if (tmpl == nullptr) return;
  FieldPath tp = pp.Child("template");
  c.Unknown(*tmpl, tp, {"metadata", "spec"});
  Labels labels;
  if (const Json* meta = c.Object(*tmpl, tp, "metadata")) {
    FieldPath mp = tp.Child("metadata");
    c.Unknown(*meta, mp, kObjectMetaFields);
    if (const Json* l = c.StringMap(*meta, mp, "labels")) {
      ValidateLabels(c, *l, mp.Child("labels"));
      for (auto it = l->begin(); it != l->end(); ++it) labels[it.key()] = it.value().get<std::string>();
    }
    c.StringMap(*meta, mp, "annotations");
  }
  if (selector != nullptr) {
    auto sel = Selector::FromLabelSelector(*selector);
    if (sel && !sel->Empty() && !sel->Matches(labels)) {
      c.Error(tp.Child("metadata").Child("labels"),
              "selector does not match template labels: " + selector_path.str() + " is " + Quote(sel->String()) +
                  " but the pod template's labels would never be selected by it");
    }
  }
  if (const Json* spec = c.Object(*tmpl, tp, "spec", true)) ValidatePodSpec(c, *spec, tp.Child("spec"));
}

namespace {

// Validates spec.selector of a controller; returns it when usable.
const Json* ControllerSelector(Checker& c, const Json& spec, const FieldPath& sp, bool required) {
  const Json* sel = c.Object(spec, sp, "selector", required);
  if (sel == nullptr) return nullptr;
  if (!ValidateLabelSelector(c, *sel, sp.Child("selector"))) return nullptr;
  bool empty = (!sel->contains("matchLabels") || (*sel)["matchLabels"].empty()) &&
               (!sel->contains("matchExpressions") || (*sel)["matchExpressions"].empty());
  if (empty) {
    c.Error(sp.Child("selector"), "empty selector is invalid for a " + std::string(required ? "controller" : "Job") +
                                      ": it would select every pod in the namespace");
    return nullptr;
  }
  return sel;
}

// maxSurge / maxUnavailable: a non-negative integer or a percentage.
std::optional<std::string> IntOrPercent(Checker& c, const Json& parent, const FieldPath& pp, const char* key) {
  const Json& v = Object::Field(parent, key);
  FieldPath p = pp.Child(key);
  if (v.is_null()) return std::nullopt;
  if (v.is_number_integer()) {
    if (c.Int(parent, pp, key, 0, kInt32Max)) return v.dump();
    return std::nullopt;
  }
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    bool ok = s.size() >= 2 && s.back() == '%' && s.size() <= 5;
    for (size_t i = 0; ok && i + 1 < s.size(); ++i) ok = s[i] >= '0' && s[i] <= '9';
    if (!ok) {
      c.Error(p, "must be a number or a percentage such as \"25%\", got " + Quote(s));
      return std::nullopt;
    }
    if (std::stoi(s.substr(0, s.size() - 1)) > 100 && std::string(key) == "maxUnavailable") {
      c.Error(p, "must not be greater than 100%");
      return std::nullopt;
    }
    return s;
  }
  c.Error(p, "must be a number or a percentage, not " + TypeName(v));
  return std::nullopt;
}

bool IsZero(const std::optional<std::string>& v) { return v && (*v == "0" || *v == "0%"); }

}  // namespace

void ValidateDeployment(Checker& c, const Object& obj) {
  const Json* spec = c.Object(obj.json(), FieldPath(), "spec", true);
  if (spec == nullptr) return;
  FieldPath sp("spec");
  c.Unknown(*spec, sp,
            {"replicas", "selector", "template", "strategy", "minReadySeconds", "revisionHistoryLimit", "paused",
             "progressDeadlineSeconds"});
  c.Int(*spec, sp, "replicas", 0, kInt32Max);
  const Json* sel = ControllerSelector(c, *spec, sp, true);
  ValidatePodTemplate(c, *spec, sp, sel, sp.Child("selector"));
  if (const Json* tmpl = c.Object(*spec, sp, "template")) {
    if (const Json* ps = c.Object(*tmpl, sp.Child("template"), "spec")) {
      const Json& rp = Object::Field(*ps, "restartPolicy");
      if (rp.is_string() && rp.get<std::string>() != "Always") {
        c.Error(sp.Child("template").Child("spec").Child("restartPolicy"),
                "unsupported value " + Quote(rp.get<std::string>()) + ": a Deployment's pods must use \"Always\"");
      }
    }
  }
  auto min_ready = c.Int(*spec, sp, "minReadySeconds", 0, kInt32Max);
  c.Int(*spec, sp, "revisionHistoryLimit", 0, kInt32Max);
  c.Bool(*spec, sp, "paused");
  if (auto pd = c.Int(*spec, sp, "progressDeadlineSeconds", 1, kInt32Max); pd && min_ready && *pd <= *min_ready) {
    c.Error(sp.Child("progressDeadlineSeconds"), "must be greater than minReadySeconds (" + std::to_string(*min_ready) + ")");
  }
  if (const Json* strat = c.Object(*spec, sp, "strategy")) {
    FieldPath stp = sp.Child("strategy");
    c.Unknown(*strat, stp, {"type", "rollingUpdate"});
    std::string type = c.Enum(*strat, stp, "type", {"RollingUpdate", "Recreate"}).value_or("RollingUpdate");
    if (const Json* ru = c.Object(*strat, stp, "rollingUpdate")) {
      FieldPath rp = stp.Child("rollingUpdate");
      if (type == "Recreate") c.Error(rp, "may not be specified when strategy type is \"Recreate\"");
      c.Unknown(*ru, rp, {"maxSurge", "maxUnavailable"});
      auto surge = IntOrPercent(c, *ru, rp, "maxSurge");
      auto unavail = IntOrPercent(c, *ru, rp, "maxUnavailable");
      if (IsZero(surge) && IsZero(unavail)) {
        c.Error(rp.Child("maxUnavailable"), "may not be 0 when maxSurge is 0: the rollout could never make progress");
      }
    }
  }
}

void ValidateReplicaSet(Checker& c, const Object& obj) {
  const Json* spec = c.Object(obj.json(), FieldPath(), "spec", true);
  if (spec == nullptr) return;
  FieldPath sp("spec");
  c.Unknown(*spec, sp, {"replicas", "selector", "template", "minReadySeconds"});
  c.Int(*spec, sp, "replicas", 0, kInt32Max);
  c.Int(*spec, sp, "minReadySeconds", 0, kInt32Max);
  const Json* sel = ControllerSelector(c, *spec, sp, true);
  ValidatePodTemplate(c, *spec, sp, sel, sp.Child("selector"));
}

void ValidateJob(Checker& c, const Object& obj) {
  const Json* spec = c.Object(obj.json(), FieldPath(), "spec", true);
  if (spec == nullptr) return;
  FieldPath sp("spec");
  c.Unknown(*spec, sp,
            {"parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "selector", "manualSelector",
             "template", "ttlSecondsAfterFinished", "completionMode", "suspend", "podFailurePolicy",
             "backoffLimitPerIndex", "maxFailedIndexes", "podReplacementPolicy", "successPolicy", "managedBy"});
  c.Int(*spec, sp, "parallelism", 0, kInt32Max);
  c.Int(*spec, sp, "completions", 0, kInt32Max);
  c.Int(*spec, sp, "backoffLimit", 0, kInt32Max);
  c.Int(*spec, sp, "activeDeadlineSeconds", 1, INT64_MAX);
  c.Int(*spec, sp, "ttlSecondsAfterFinished", 0, kInt32Max);
  c.Bool(*spec, sp, "suspend");
  c.Enum(*spec, sp, "completionMode", {"NonIndexed", "Indexed"});
  auto manual = c.Bool(*spec, sp, "manualSelector");
  const Json* sel = nullptr;
  if (spec->contains("selector")) {
    if (!manual.value_or(false)) {
      c.Error(sp.Child("selector"), "is generated by bosun; set manualSelector: true to choose it yourself");
    } else {
      sel = ControllerSelector(c, *spec, sp, false);
    }
  }
  ValidatePodTemplate(c, *spec, sp, sel, sp.Child("selector"));
  if (const Json* tmpl = c.Object(*spec, sp, "template")) {
    if (const Json* ps = c.Object(*tmpl, sp.Child("template"), "spec")) {
      FieldPath rp = sp.Child("template").Child("spec").Child("restartPolicy");
      const Json& v = Object::Field(*ps, "restartPolicy");
      if (v.is_null()) {
        c.Error(rp, "required: a Job's pods need restartPolicy \"OnFailure\" or \"Never\"");
      } else if (v.is_string() && v.get<std::string>() == "Always") {
        c.Error(rp, "unsupported value \"Always\": a Job's pods need \"OnFailure\" or \"Never\"");
      }
    }
  }
}

void ValidatePod(Checker& c, const Object& obj) {
  if (const Json* spec = c.Object(obj.json(), FieldPath(), "spec", true)) ValidatePodSpec(c, *spec, FieldPath("spec"));
}

}  // namespace bosun::validation
