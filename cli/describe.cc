// `bosun describe KIND NAME [-n NS]`: one object for a person, as kubectl
// describe shows it — its identity, labels and annotations, what its status
// says (phase, replicas, conditions, containers, a revision's outcome and
// revert), and the Events recorded about it, newest last: why the
// controllers did what they did. A Secret's values are never shown (only
// their keys and sizes).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/client_flags.h"
#include "cli/gitops.h"
#include "cli/verbs.h"
#include "state/secret_redaction.h"

namespace bosun::cli {
namespace {

struct DescribeOptions {
  std::string kind;
  std::string name;
  std::string ns = "default";
  ClientFlags client;
};

std::string Str(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  const Json& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

void Line(const char* label, const std::string& value) {
  std::printf("%-14s %s\n", (std::string(label) + ":").c_str(), value.empty() ? "<none>" : Printable(value).c_str());
}

void PrintMap(const char* label, const StringMap& m) {
  if (m.empty()) return Line(label, "");
  bool first = true;
  for (const auto& [k, v] : m) {
    std::string value = v.size() > 100 ? v.substr(0, 100) + "…" : v;
    std::printf("%-14s %s=%s\n", first ? (std::string(label) + ":").c_str() : "", Printable(k).c_str(),
                Printable(value).c_str());
    first = false;
  }
}

void PrintConditions(const Json& status) {
  if (!status.contains("conditions") || !status["conditions"].is_array() || status["conditions"].empty()) return;
  std::printf("Conditions:\n");
  TablePrinter t({"  TYPE", "STATUS", "REASON", "MESSAGE"});
  std::vector<std::vector<std::string>> rows;
  for (const Json& c : status["conditions"]) {
    rows.push_back({"  " + Str(c, "type"), Str(c, "status"), Str(c, "reason"), Str(c, "message")});
  }
  t.Fit(rows);
  t.PrintHeader();
  for (const auto& r : rows) t.PrintRow(r);
}

void PrintContainers(const Json& status) {
  if (!status.contains("containerStatuses") || !status["containerStatuses"].is_array()) return;
  std::printf("Containers:\n");
  for (const Json& c : status["containerStatuses"]) {
    std::string state = "unknown";
    const Json& s = c.value("state", Json::object());
    if (s.contains("running")) state = "Running since " + Str(s["running"], "startedAt");
    if (s.contains("waiting")) {
      state = "Waiting (" + Str(s["waiting"], "reason") + ")";
      // Why: a failed pull, a volume that cannot be set up, a back-off.
      if (!Str(s["waiting"], "message").empty()) state += ": " + Str(s["waiting"], "message");
    }
    if (s.contains("terminated")) {
      state = "Terminated (" + Str(s["terminated"], "reason") + ", exit code " + Str(s["terminated"], "exitCode") + ")";
    }
    std::printf("  %s: image %s, %s, ready %s, restarts %s\n", Str(c, "name").c_str(), Str(c, "image").c_str(),
                state.c_str(), Str(c, "ready").c_str(), Str(c, "restartCount").c_str());
    if (c.contains("lastState") && c["lastState"].contains("terminated")) {
      const Json& t = c["lastState"]["terminated"];
      std::printf("    last: %s, exit code %s\n", Str(t, "reason").c_str(), Str(t, "exitCode").c_str());
    }
  }
}

void PrintKindDetails(const KindInfo& kind, const Object& o) {
  const Json& spec = o.json().value("spec", Json::object());
  const Json& st = o.json().value("status", Json::object());
  const std::string& k = kind.gvk.kind;
  if (k == "Deployment" || k == "ReplicaSet") {
    Line("Replicas", Str(spec, "replicas") + " desired | " + (k == "Deployment" ? Str(st, "updatedReplicas") + " updated | " : "") +
                         Str(st, "replicas") + " total | " + Str(st, "readyReplicas") + " ready | " +
                         Str(st, "availableReplicas") + " available");
    if (k == "Deployment") {
      const Json& strategy = spec.value("strategy", Json::object());
      Line("Strategy", strategy.value("type", "RollingUpdate"));
      if (spec.value("paused", false)) Line("Paused", "true");
    }
  } else if (k == "Pod") {
    Line("Node", Str(spec, "nodeName"));
    Line("Phase", Str(st, "phase"));
    // Why it is stuck, as its node says (FailedMount: a Secret that is not there).
    if (!Str(st, "reason").empty() || !Str(st, "message").empty()) {
      Line("Reason", Str(st, "reason"));
      Line("Message", Str(st, "message"));
    }
    Line("IP", Str(st, "podIP"));
    auto owner = o.controller_ref();
    if (owner) Line("Controlled By", owner->kind + "/" + owner->name);
    PrintContainers(st);
  } else if (k == "Job") {
    Line("Completions", Str(spec, "completions").empty() ? "1" : Str(spec, "completions"));
    Line("Parallelism", Str(spec, "parallelism").empty() ? "1" : Str(spec, "parallelism"));
    Line("Pods", Str(st, "active") + " active / " + Str(st, "succeeded") + " succeeded / " + Str(st, "failed") +
                     " failed");
  } else if (k == "Node") {
    Line("Unschedulable", spec.value("unschedulable", false) ? "true" : "false");
    if (spec.contains("taints") && spec["taints"].is_array()) {
      std::string taints;
      for (const Json& t : spec["taints"]) {
        taints += (taints.empty() ? "" : ", ") + Str(t, "key") + (Str(t, "value").empty() ? "" : "=" + Str(t, "value")) +
                  ":" + Str(t, "effect");
      }
      Line("Taints", taints);
    }
  } else if (k == "Revision") {
    Line("Commit", Str(spec, "commit"));
    std::string msg = Str(spec, "message");
    Line("Subject", msg.substr(0, msg.find('\n')));
    if (!Str(spec, "reverts").empty()) Line("Reverts", Str(spec, "reverts"));
    Line("Phase", OutcomeOf(o));
    Line("Message", Str(st, "message"));
    // A refused revision's errors (file:line:col: field: why), the first
    // of them; `bosun history show` prints the whole record.
    if (st.contains("errors") && st["errors"].is_array() && !st["errors"].empty()) {
      constexpr size_t kShown = 10;
      const Json& errors = st["errors"];
      std::printf("Errors:\n");
      for (size_t i = 0; i < errors.size() && i < kShown; ++i) {
        std::printf("  %s\n",
                    Printable(errors[i].is_string() ? errors[i].get<std::string>() : errors[i].dump()).c_str());
      }
      if (errors.size() > kShown) {
        std::printf("  … and %zu more: bosun history show %s\n", errors.size() - kShown, SequenceOf(o).c_str());
      }
    }
    if (!Str(st, "revertedBy").empty()) Line("Reverted By", Str(st, "revertedBy"));
    const std::string revert = RevertSummary(Object::Field(st, "revert"));
    if (!revert.empty()) Line("Revert", revert);
    const std::string degraded = DegradedSummary(Object::Field(st, "degraded"));
    if (!degraded.empty()) Line("Was Degraded", degraded);
  } else if (k == "Secret") {
    // Keys and sizes only, never values.
    std::string keys;
    for (const char* field : {"data", "stringData"}) {
      if (!o.json().contains(field) || !o.json()[field].is_object()) continue;
      for (auto it = o.json()[field].begin(); it != o.json()[field].end(); ++it) {
        const size_t n = state::SecretValueLength(it.value(), std::string(field) == "data");
        keys += (keys.empty() ? "" : ", ") + it.key() + " (" + std::to_string(n) + " bytes)";
      }
    }
    Line("Data", keys);
  }
  if (!Str(st, "phase").empty() && k != "Pod" && k != "Revision") Line("Phase", Str(st, "phase"));
  PrintConditions(st);
}

int RunDescribe(DescribeOptions opt) {
  if (Status s = SplitKindName(&opt.kind, &opt.name); !s) return Fail("describe", s.error().message());
  if (opt.name.empty()) {
    std::fprintf(stderr, "bosun describe: give KIND NAME or KIND/NAME (e.g. `bosun describe deploy web`)\n");
    return 2;
  }
  auto kind = ResolveKind(opt.kind);
  if (!kind) return Fail("describe", kind.error().message());
  auto client = MakeClient(opt.client);
  if (!client) return Fail("describe", client.error().message());
  state::Client& c = **client;
  std::string name = opt.name;
  Result<Object> obj = Error(Code::kNotFound, "");
  if ((*kind)->gvk.kind == "Revision") {
    obj = FindRevision(c, name);
  } else {
    obj = c.Get(**kind, (*kind)->namespaced ? opt.ns : "", name);
  }
  if (!obj) return Fail("describe", obj.error().message());
  const Object& o = *obj;
  Line("Name", o.name());
  if ((*kind)->namespaced) Line("Namespace", o.namespace_());
  Line("Kind", (*kind)->gvk.kind + " (" + (*kind)->gvk.ApiVersion() + ")");
  PrintMap("Labels", o.labels());
  StringMap ann = o.annotations();
  ann.erase("bosun.dev/applied-keys");
  PrintMap("Annotations", ann);
  Line("Created", o.creation_timestamp() + (o.creation_timestamp().empty() ? "" : " (" + Ago(o.creation_timestamp()) + ")"));
  PrintKindDetails(**kind, o);

  // Events about this object, oldest first.
  const KindInfo* ev = KindRegistry::Builtin().FindKind("Event");
  std::string ev_ns = o.namespace_().empty() ? "default" : o.namespace_();
  auto events = c.List(*ev, ev_ns, state::Selectors("", "involvedObject.uid=" + o.uid()));
  if (!events) {
    std::printf("Events:       <cannot list: %s>\n", events.error().message().c_str());
    return 0;
  }
  if (events->items.empty()) {
    std::printf("Events:       <none>\n");
    return 0;
  }
  std::vector<Object> items = events->items;
  std::sort(items.begin(), items.end(), [](const Object& a, const Object& b) {
    return Str(a.json(), "lastTimestamp") < Str(b.json(), "lastTimestamp");
  });
  std::printf("Events:\n");
  TablePrinter t({"  TYPE", "REASON", "AGE", "FROM", "MESSAGE"});
  std::vector<std::vector<std::string>> rows;
  for (const Object& e : items) {
    const Json& j = e.json();
    std::string age = Ago(Str(j, "lastTimestamp"));
    int64_t count = j.value("count", int64_t{1});
    if (count > 1) age += " (x" + std::to_string(count) + ")";
    rows.push_back({"  " + Str(j, "type"), Str(j, "reason"), age,
                    Str(j.value("source", Json::object()), "component"), Str(j, "message")});
  }
  t.Fit(rows);
  t.PrintHeader();
  for (const auto& r : rows) t.PrintRow(r);
  return 0;
}

}  // namespace

void AddDescribe(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<DescribeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "describe",
      "Show one object for a person: what it is, what its status says, and the Events recorded about it\n"
      "(why the controllers did what they did). Examples:\n"
      "  bosun describe deployment web -n shop\n"
      "  bosun describe pod web-7d9f6c-x2x4k -n shop\n"
      "  bosun describe revision 42");
  cmd->add_option("kind", opt->kind, "The kind: deployment, pod, job, node, revision, ... (or KIND/NAME)")->required();
  cmd->add_option("name", opt->name, "The object's name (for a revision: number or commit)");
  cmd->add_option("-n,--namespace", opt->ns, "Namespace")->capture_default_str();
  AddClientFlags(cmd, &opt->client);
  cmd->callback([opt, exit_code] { *exit_code = RunDescribe(*opt); });
}

}  // namespace bosun::cli
