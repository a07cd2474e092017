// `bosun get KIND [NAME]`: objects from the cluster, as kubectl shows them.
#include <cctype>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pthread.h>
#include <signal.h>

#include "cli/client_flags.h"
#include "cli/verbs.h"
#include "core/ascii.h"
#include "core/kinds.h"
#include "core/yaml_emit.h"
#include "state/client.h"
#include "state/secret_redaction.h"

namespace bosun::cli {
namespace {

struct GetOptions {
  std::string kind;
  std::string name;
  std::string ns;
  bool all_namespaces = false;
  std::string output;
  std::string selector;
  bool watch = false;
  bool reveal = false;  // print Secret values instead of "<redacted N bytes>"
  bool show_labels = false;  // a LABELS column, as kubectl --show-labels
  bool no_headers = false;   // no header line, as kubectl --no-headers
  ClientFlags client;
};

const Json& F(const Json& j, const char* key) {
  return Object::Field(j, key);
}

std::string Str(const Json& j, const std::string& fallback = "<none>") {
  if (j.is_string() && !j.get<std::string>().empty()) return j.get<std::string>();
  if (j.is_number()) return j.dump();
  return fallback;
}

int64_t Int(const Json& j, int64_t fallback = 0) {
  return j.is_number_integer() ? j.get<int64_t>() : fallback;
}

std::string Labels(const Object& o) {
  std::string out;
  for (const auto& [k, v] : o.labels()) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out.empty() ? "<none>" : out;
}

std::string PodStatus(const Object& o) {
  if (o.deletion_timestamp()) return "Terminating";
  std::string reason = Str(F(o.status(), "phase"), "Pending");
  if (F(o.status(), "reason").is_string()) reason = F(o.status(), "reason").get<std::string>();
  const Json& statuses = F(o.status(), "containerStatuses");
  if (statuses.is_array()) {
    for (const Json& cs : statuses) {
      const Json& state = F(cs, "state");
      const Json& waiting = F(F(state, "waiting"), "reason");
      const Json& terminated = F(F(state, "terminated"), "reason");
      if (waiting.is_string() && !waiting.get<std::string>().empty()) {
        reason = waiting.get<std::string>();
      } else if (terminated.is_string() && !terminated.get<std::string>().empty()) {
        reason = terminated.get<std::string>();
      }
    }
  }
  return reason;
}

std::string ServicePorts(const Object& o) {
  const Json& ports = F(o.spec(), "ports");
  std::string out;
  if (ports.is_array()) {
    for (const Json& p : ports) {
      std::string s = Str(F(p, "port"), "?");
      if (F(p, "nodePort").is_number()) s += ":" + F(p, "nodePort").dump();
      s += "/" + Str(F(p, "protocol"), "TCP");
      out += (out.empty() ? "" : ",") + s;
    }
  }
  return out.empty() ? "<none>" : out;
}

std::string NodeStatus(const Object& o) {
  std::string s = "Unknown";
  const Json& conds = F(o.status(), "conditions");
  if (conds.is_array()) {
    for (const Json& c : conds) {
      if (Str(F(c, "type"), "") == "Ready") s = Str(F(c, "status"), "") == "True" ? "Ready" : "NotReady";
    }
  }
  if (F(o.spec(), "unschedulable") == Json(true)) s += ",SchedulingDisabled";
  return s;
}

std::string NodeInternalIp(const Object& o) {
  const Json& addrs = F(o.status(), "addresses");
  if (addrs.is_array()) {
    for (const Json& a : addrs) {
      if (Str(F(a, "type"), "") == "InternalIP") return Str(F(a, "address"));
    }
  }
  return "<none>";
}

// A pod template's containers and images, as kubectl's wide CONTAINERS
// and IMAGES of a Deployment, ReplicaSet or Job.
std::vector<std::string> TemplateContainers(const Object& o) {
  std::string names, images;
  const Json& cs = F(F(F(o.spec(), "template"), "spec"), "containers");
  if (cs.is_array()) {
    for (const Json& c : cs) {
      names += (names.empty() ? "" : ",") + Str(F(c, "name"), "");
      images += (images.empty() ? "" : ",") + Str(F(c, "image"), "");
    }
  }
  return {names.empty() ? "<none>" : names, images.empty() ? "<none>" : images};
}

// A Job's STATUS as kubectl 1.28+ shows it: Complete, Failed, Suspended or
// Running.
std::string JobStatus(const Object& job) {
  const Json& conds = F(job.status(), "conditions");
  if (conds.is_array()) {
    for (const char* type : {"Complete", "Failed", "Suspended"}) {
      for (const Json& c : conds) {
        if (Str(F(c, "type"), "") == type && Str(F(c, "status"), "") == "True") return type;
      }
    }
  }
  return "Running";
}

// The columns of a kind between NAME and AGE (and after AGE with -o wide).
struct Columns {
  std::vector<std::string> middle;
  std::vector<std::string> wide;
};

Columns ColumnsFor(const KindInfo& kind) {
  const std::string& k = kind.gvk.kind;
  if (k == "Pod") return {{"READY", "STATUS", "RESTARTS"}, {"IP", "NODE"}};
  if (k == "Deployment") return {{"READY", "UP-TO-DATE", "AVAILABLE"}, {"CONTAINERS", "IMAGES"}};
  if (k == "ReplicaSet") return {{"DESIRED", "CURRENT", "READY"}, {"CONTAINERS", "IMAGES"}};
  if (k == "Job") return {{"STATUS", "COMPLETIONS", "DURATION"}, {"CONTAINERS", "IMAGES"}};
  if (k == "ConfigMap") return {{"DATA"}, {}};
  if (k == "Service") return {{"TYPE", "CLUSTER-IP", "PORT(S)"}, {"SELECTOR"}};
  if (k == "Namespace") return {{"STATUS"}, {}};
  if (k == "Node") return {{"STATUS"}, {"INTERNAL-IP"}};
  if (k == "Secret") return {{"TYPE", "DATA"}, {}};
  return {{}, {}};
}

bool IsEvent(const KindInfo& kind) {
  return kind.gvk.group.empty() && kind.gvk.kind == "Event";
}

// An Event as kubectl lists it: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE
// (-o wide: SOURCE, COUNT, FIRST SEEN, NAME), not by its generated name.
std::vector<std::string> EventRow(const Object& o, bool wide, bool with_ns) {
  const Json& j = o.json();
  const Json& involved = F(j, "involvedObject");
  std::string kind = Str(F(involved, "kind"), "");
  for (char& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::vector<std::string> r;
  if (with_ns) r.push_back(o.namespace_());
  r.push_back(Age(Str(F(j, "lastTimestamp"), o.creation_timestamp().c_str())));
  r.push_back(Str(F(j, "type"), ""));
  r.push_back(Str(F(j, "reason"), ""));
  r.push_back(kind + "/" + Str(F(involved, "name"), ""));
  r.push_back(Str(F(j, "message"), ""));
  if (wide) {
    r.push_back(Str(F(F(j, "source"), "component"), ""));
    r.push_back(std::to_string(Int(F(j, "count"), 1)));
    r.push_back(Age(Str(F(j, "firstTimestamp"), o.creation_timestamp().c_str())));
    r.push_back(o.name());
  }
  return r;
}

// `labels`: a LABELS column last (--show-labels).
std::vector<std::string> Row(const KindInfo& kind, const Object& o, bool wide, bool with_ns, bool labels) {
  if (IsEvent(kind)) return EventRow(o, wide, with_ns);
  std::vector<std::string> r;
  if (with_ns) r.push_back(o.namespace_());
  r.push_back(o.name());
  const std::string& k = kind.gvk.kind;
  std::vector<std::string> extra;
  if (k == "Pod") {
    const Json& containers = F(o.spec(), "containers");
    const Json& statuses = F(o.status(), "containerStatuses");
    int64_t ready = 0, restarts = 0;
    if (statuses.is_array()) {
      for (const Json& cs : statuses) {
        if (F(cs, "ready") == Json(true)) ++ready;
        restarts += Int(F(cs, "restartCount"));
      }
    }
    size_t total = containers.is_array() ? containers.size() : 0;
    r.push_back(std::to_string(ready) + "/" + std::to_string(total));
    r.push_back(PodStatus(o));
    r.push_back(std::to_string(restarts));
    extra = {Str(F(o.status(), "podIP")), Str(F(o.spec(), "nodeName"))};
  } else if (k == "Deployment") {
    r.push_back(std::to_string(Int(F(o.status(), "readyReplicas"))) + "/" +
                std::to_string(Int(F(o.spec(), "replicas"), 1)));
    r.push_back(std::to_string(Int(F(o.status(), "updatedReplicas"))));
    r.push_back(std::to_string(Int(F(o.status(), "availableReplicas"))));
    extra = TemplateContainers(o);
  } else if (k == "ReplicaSet") {
    r.push_back(std::to_string(Int(F(o.spec(), "replicas"), 1)));
    r.push_back(std::to_string(Int(F(o.status(), "replicas"))));
    r.push_back(std::to_string(Int(F(o.status(), "readyReplicas"))));
    extra = TemplateContainers(o);
  } else if (k == "Job") {
    r.push_back(JobStatus(o));
    r.push_back(std::to_string(Int(F(o.status(), "succeeded"))) + "/" +
                std::to_string(Int(F(o.spec(), "completions"), 1)));
    const std::string started = Str(F(o.status(), "startTime"), "");
    r.push_back(started.empty() ? "" : DurationBetween(started, Str(F(o.status(), "completionTime"), "")));
    extra = TemplateContainers(o);
  } else if (k == "ConfigMap") {
    size_t keys = 0;
    for (const char* field : {"data", "binaryData"}) {
      if (F(o.json(), field).is_object()) keys += F(o.json(), field).size();
    }
    r.push_back(std::to_string(keys));
  } else if (k == "Service") {
    r.push_back(Str(F(o.spec(), "type"), "ClusterIP"));
    r.push_back(Str(F(o.spec(), "clusterIP")));
    r.push_back(ServicePorts(o));
    std::string sel;
    const Json& s = F(o.spec(), "selector");
    if (s.is_object()) {
      for (auto it = s.begin(); it != s.end(); ++it) sel += (sel.empty() ? "" : ",") + it.key() + "=" + Str(*it, "");
    }
    extra = {sel.empty() ? "<none>" : sel};
  } else if (k == "Namespace") {
    r.push_back(Str(F(o.status(), "phase"), "Active"));
  } else if (k == "Node") {
    r.push_back(NodeStatus(o));
    extra = {NodeInternalIp(o)};
  } else if (k == "Secret") {
    // The number of keys, as kubectl shows it; never a value.
    r.push_back(Str(F(o.json(), "type"), "Opaque"));
    size_t keys = 0;
    for (const char* field : {"data", "stringData"}) {
      if (F(o.json(), field).is_object()) keys += F(o.json(), field).size();
    }
    r.push_back(std::to_string(keys));
  }
  r.push_back(Age(o.creation_timestamp()));
  if (wide) {
    for (auto& e : extra) r.push_back(std::move(e));
  }
  if (labels) r.push_back(Labels(o));
  return r;
}

std::vector<std::string> Header(const KindInfo& kind, bool wide, bool with_ns, bool labels) {
  std::vector<std::string> h;
  if (with_ns) h.push_back("NAMESPACE");
  if (IsEvent(kind)) {
    h.insert(h.end(), {"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"});
    if (wide) h.insert(h.end(), {"SOURCE", "COUNT", "FIRST SEEN", "NAME"});
    return h;
  }
  h.push_back("NAME");
  Columns c = ColumnsFor(kind);
  for (auto& m : c.middle) h.push_back(m);
  h.push_back("AGE");
  if (wide) {
    for (auto& w : c.wide) h.push_back(w);
  }
  if (labels) h.push_back("LABELS");
  return h;
}

Json AsList(const std::vector<Object>& items) {
  Json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"metadata", {{"resourceVersion", ""}}}};
  list["items"] = Json::array();
  for (const Object& o : items) list["items"].push_back(o.json());
  return list;
}

void PrintText(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

std::string Json4(const Json& j) {
  return j.dump(4, ' ', false, Json::error_handler_t::replace) + "\n";
}

// Prints one object in a non-table format (-o name|json|yaml).
void PrintObject(const KindInfo& kind, const Object& o, const std::string& output) {
  if (output == "name") {
    PrintText(ObjectRef(kind, o.name()) + "\n");
  } else if (output == "json") {
    PrintText(Json4(o.json()));
  } else {
    PrintText(EmitYaml(o.json()));
  }
}

std::string NoneFound(const KindInfo& kind, const GetOptions& opt) {
  if (opt.all_namespaces || !kind.namespaced) return "No resources found";
  return "No resources found in " + opt.ns + " namespace.";
}

// Where an object comes in a table: events oldest first, by when they last
// happened; other kinds as the server lists them (every key "").
std::string SortKey(const KindInfo& kind, const Object& o) {
  return IsEvent(kind) ? Str(F(o.json(), "lastTimestamp"), "") : "";
}

// -w: the current objects, then a line per change, until Ctrl-C.
int RunWatch(const KindInfo& kind, state::Client& client, const GetOptions& opt, bool with_ns) {
  // Ctrl-C ends the wait below; every thread started from here on inherits
  // the mask, so the signal comes only to sigwait.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  bool wide = opt.output == "wide";
  bool table = opt.output.empty() || wide;
  const bool labels = opt.show_labels && !IsEvent(kind);
  std::vector<std::string> header = Header(kind, wide, with_ns, labels);
  header.insert(header.begin(), "EVENT");
  TablePrinter printer(header);
  std::mutex mu;
  bool initial = true;
  bool printed_header = false;
  // The initial list, with each row's sort key (events: when they last
  // happened, so they read oldest first as `bosun get events` lists them).
  std::vector<std::pair<std::string, std::vector<std::string>>> first_rows;
  auto on_event = [&](const state::WatchEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    if (!opt.name.empty() && e.object.name() != opt.name && e.type != state::WatchEvent::Type::kBookmark) return;
    if (e.type == state::WatchEvent::Type::kBookmark) {
      // The end of the initial list: print it with columns fitted to it.
      if (initial && e.object.annotation(state::kInitialEventsEndAnnotation)) {
        initial = false;
        if (table && !first_rows.empty()) {
          std::stable_sort(first_rows.begin(), first_rows.end(),
                           [](const auto& a, const auto& b) { return a.first < b.first; });
          std::vector<std::vector<std::string>> rows;
          for (auto& r : first_rows) rows.push_back(std::move(r.second));
          printer.Fit(rows);
          if (!opt.no_headers) printer.PrintHeader();
          printed_header = true;
          for (const auto& r : rows) printer.PrintRow(r);
        }
        first_rows.clear();
      }
      return;
    }
    if (!table) {
      if (opt.output == "yaml") PrintText("---\n");
      Object shown = e.object;
      if (!opt.reveal) state::RedactSecret(shown.json());
      PrintObject(kind, shown, opt.output);
      return;
    }
    std::vector<std::string> row = Row(kind, e.object, wide, with_ns, labels);
    row.insert(row.begin(), state::WatchEventTypeName(e.type));
    if (initial) {
      first_rows.emplace_back(SortKey(kind, e.object), std::move(row));
      return;
    }
    if (!printed_header) {
      printer.Fit({row});
      if (!opt.no_headers) printer.PrintHeader();
      printed_header = true;
    }
    printer.PrintRow(row);
  };
  std::string ns = opt.all_namespaces ? "" : opt.ns;
  auto watch = client.Watch(kind, ns, opt.selector, "", on_event);
  if (!watch) return Fail("get", watch.error().message());
  int sig = 0;
  sigwait(&sigs, &sig);
  (*watch)->Stop();
  return 0;
}

// One kind's objects as `bosun get` prints them. `multi`: one of several
// kinds (`get deploy,svc`, `get all`): names as kubectl prints them there
// (deployment.apps/web), a blank line before every table but the first, and
// nothing for a kind without objects. Sets *printed when it printed a table.
int GetKind(const KindInfo& k, state::Client& client, const GetOptions& opt, bool multi, bool* printed) {
  bool with_ns = opt.all_namespaces && k.namespaced;
  if (opt.watch) return RunWatch(k, client, opt, with_ns);

  std::vector<Object> items;
  if (!opt.name.empty()) {
    auto o = client.Get(k, opt.ns, opt.name);
    if (!o) return Fail("get", o.error().message());
    items.push_back(std::move(*o));
  } else {
    std::string cont;
    do {
      auto page = client.List(k, opt.all_namespaces ? "" : opt.ns, opt.selector, 500, cont);
      if (!page) return Fail("get", page.error().message());
      for (Object& o : page->items) items.push_back(std::move(o));
      cont = page->continue_token;
    } while (!cont.empty());
  }

  // Secret values only with --reveal (docs/SECURITY.md).
  if (!opt.reveal) {
    for (Object& o : items) state::RedactSecret(o.json());
  }
  if (opt.output == "json" || opt.output == "yaml") {
    Json doc = opt.name.empty() ? AsList(items) : items[0].json();
    PrintText(opt.output == "json" ? Json4(doc) : EmitYaml(doc));
    return 0;
  }
  if (items.empty()) {
    if (!multi) std::fprintf(stderr, "%s\n", NoneFound(k, opt).c_str());
    return 0;
  }
  if (opt.output == "name") {
    for (const Object& o : items) PrintObject(k, o, "name");
    *printed = true;
    return 0;
  }
  bool wide = opt.output == "wide";
  std::stable_sort(items.begin(), items.end(),
                   [&](const Object& a, const Object& b) { return SortKey(k, a) < SortKey(k, b); });
  const bool labels = opt.show_labels && !IsEvent(k);
  std::vector<std::vector<std::string>> rows;
  for (const Object& o : items) {
    rows.push_back(Row(k, o, wide, with_ns, labels));
    if (multi && !IsEvent(k)) rows.back()[with_ns ? 1 : 0] = ObjectRef(k, o.name());  // Events have no NAME column
  }
  TablePrinter printer(Header(k, wide, with_ns, labels));
  printer.Fit(rows);
  if (multi && *printed) std::printf("\n");
  if (!opt.no_headers) printer.PrintHeader();
  for (const auto& r : rows) printer.PrintRow(r);
  *printed = true;
  return 0;
}

int RunGet(GetOptions opt) {
  if (Status s = SplitKindName(&opt.kind, &opt.name); !s) return Fail("get", s.error().message());
  // Several kinds at once, as kubectl: `get deploy,svc`, and `get all` (the
  // workloads and their Services).
  std::vector<std::string> names =
      opt.kind == "all" ? std::vector<std::string>{"pods", "services", "deployments", "replicasets", "jobs"}
                        : SplitNonEmpty(opt.kind, ',', /*trim=*/true);
  if (names.empty()) return Fail("get", "no KIND given");
  std::vector<const KindInfo*> kinds;
  for (const std::string& n : names) {
    auto kind = ResolveKind(n);
    if (!kind) return Fail("get", kind.error().message());
    kinds.push_back(*kind);
  }
  const bool multi = kinds.size() > 1;
  if (multi && (opt.watch || opt.output == "json" || opt.output == "yaml")) {
    std::fprintf(stderr, "bosun get: several kinds are shown as tables or names; -w, -o json and -o yaml take one\n");
    return 2;
  }
  if (!opt.name.empty() && opt.all_namespaces) {
    std::fprintf(stderr, "bosun get: a NAME cannot be looked up across all namespaces; drop -A or give -n\n");
    return 2;
  }
  if (!opt.name.empty() && !opt.selector.empty()) {
    std::fprintf(stderr, "bosun get: give either a NAME or a label selector (-l), not both\n");
    return 2;
  }
  auto client = MakeClient(opt.client);
  if (!client) return Fail("get", client.error().message());
  bool printed = false;
  int failed = 0;
  for (const KindInfo* k : kinds) {
    // As kubectl: a kind without the NAME (or one that fails) is said, and
    // the others are still shown; the exit status says something failed.
    if (int rc = GetKind(*k, **client, opt, multi, &printed); rc != 0) {
      if (!multi) return rc;
      failed = rc;
    }
  }
  if (failed != 0) return failed;
  if (multi && !printed) {
    std::fprintf(stderr, "No resources found%s.\n", opt.all_namespaces ? "" : (" in " + opt.ns + " namespace").c_str());
  }
  return 0;
}

}  // namespace

void AddGet(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<GetOptions>();
  CLI::App* cmd = app.add_subcommand(
      "get",
      "Show objects from the cluster: `bosun get pods`, `bosun get deploy web -o yaml`, `bosun get svc -A`.\n"
      "KIND is a resource name, singular, short name or kind (po, deploy, svc, cm, ns, ...).\n"
      "With -w, prints the objects and then a line per change until Ctrl-C.");
  cmd->add_option("kind", opt->kind,
                  "What to show: pods, deployments, services, ... (or KIND/NAME; several: deploy,svc; all)")
      ->required();
  cmd->add_option("name", opt->name, "One object's name (default: all)");
  cmd->add_option("-n,--namespace", opt->ns, "Namespace")->capture_default_str()->default_val("default");
  cmd->add_flag("-A,--all-namespaces", opt->all_namespaces, "Objects of every namespace");
  cmd->add_option("-o,--output", opt->output, "Output format: yaml, json, wide or name (default: a table)")
      ->check(CLI::IsMember({"", "yaml", "json", "wide", "name"}));
  cmd->add_option("-l,--selector", opt->selector, "Label selector, e.g. app=web,tier!=db");
  cmd->add_flag("-w,--watch", opt->watch, "After listing, print a line per change until Ctrl-C");
  cmd->add_flag("--show-labels", opt->show_labels, "A LABELS column, last (as kubectl)");
  cmd->add_flag("--no-headers", opt->no_headers, "No header line (for scripts, as kubectl)");
  cmd->add_flag("--reveal", opt->reveal,
                "Print the values of Secrets (without it: \"<redacted N bytes>\"). The API gives them only to "
                "admin and node tokens");
  AddClientFlags(cmd, &opt->client);
  cmd->callback([opt, exit_code] { *exit_code = RunGet(*opt); });
}

}  // namespace bosun::cli
