// `bosun logs POD` and `bosun exec POD -- CMD…`: a container's output and a
// command run in it, through the API server, which forwards both to the node
// the pod runs on (docs/API.md "Logs and exec").
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/client_flags.h"
#include "cli/verbs.h"
#include "core/duration.h"
#include "core/selector.h"

namespace bosun::cli {
namespace {

struct LogsOptions {
  std::string pod;
  std::string ns = "default";
  std::string container;
  bool follow = false;
  bool previous = false;
  bool timestamps = false;
  long tail = -1;
  ClientFlags client;
};

struct ExecOptions {
  std::string pod;
  std::string ns = "default";
  std::string container;
  std::string timeout = "5m";
  std::vector<std::string> command;
  ClientFlags client;
};

// kubectl's KIND/NAME for a pod: "pod/web-1" is that pod; a Deployment,
// ReplicaSet or Job ("deploy/web", "job/migrate") stands for one of its pods,
// a running one first, and says which on stderr when it has several, as
// kubectl does.
Result<std::string> PodOf(state::Client& c, const std::string& ns, std::string ref) {
  std::string name;
  if (Status s = SplitKindName(&ref, &name); !s) return s.error();
  if (name.empty()) return ref;
  auto kind = ResolveKind(ref);
  if (!kind) return kind.error();
  const std::string& k = (*kind)->gvk.kind;
  if (k == "Pod") return name;
  if (k != "Deployment" && k != "ReplicaSet" && k != "Job") {
    return Error(Code::kInvalid, "a " + k + " has no pods: give a pod, or a deploy/, rs/ or job/ NAME");
  }
  auto owner = c.Get(**kind, ns, name);
  if (!owner) return owner.error();
  std::string selector;
  if (auto parsed = Selector::FromLabelSelector(Object::Field(owner->spec(), "selector")); parsed) {
    selector = parsed->String();
  }
  if (selector.empty() && k == "Job") selector = "job-name=" + name;
  if (selector.empty()) return Error(Code::kInvalid, k + " " + ns + "/" + name + " has no label selector");
  auto pods = c.List(*KindRegistry::Builtin().FindKind("Pod"), ns, selector);
  if (!pods) return pods.error();
  std::vector<Object> items = pods->items;
  if (items.empty()) return Error(Code::kNotFound, k + " " + ns + "/" + name + " has no pods");
  std::stable_sort(items.begin(), items.end(), [](const Object& a, const Object& b) {
    auto running = [](const Object& p) { return p.json().value("/status/phase"_json_pointer, "") == "Running"; };
    if (running(a) != running(b)) return running(a);
    return a.name() < b.name();
  });
  if (items.size() > 1) std::fprintf(stderr, "Found %zu pods, using pod/%s\n", items.size(), items[0].name().c_str());
  return items[0].name();
}

int RunLogs(const LogsOptions& opt) {
  state::ClientOptions co;
  co.watch_idle_timeout = std::chrono::hours(24);  // a quiet container is not a dead stream
  auto client = MakeClient(opt.client, co);
  if (!client) return Fail("logs", client.error().message());
  state::Client::LogOptions lo;
  lo.container = opt.container;
  lo.follow = opt.follow;
  lo.previous = opt.previous;
  lo.timestamps = opt.timestamps;
  lo.tail_lines = opt.tail;
  auto pod = PodOf(**client, opt.ns, opt.pod);
  if (!pod) return Fail("logs", pod.error().message());
  Status s = (*client)->Logs(opt.ns, *pod, lo, [](std::string_view data) {
    std::fwrite(data.data(), 1, data.size(), stdout);
    std::fflush(stdout);
  });
  if (!s) return Fail("logs", s.error().message());
  return 0;
}

int RunExec(const ExecOptions& opt) {
  auto timeout = ParseDuration(opt.timeout);
  if (!timeout) return Fail("exec", "--timeout: " + timeout.error().message());
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(*timeout);
  if (secs.count() < 1) secs = std::chrono::seconds(1);
  state::ClientOptions co;
  co.timeout = secs + std::chrono::seconds(15);
  auto client = MakeClient(opt.client, co);
  if (!client) return Fail("exec", client.error().message());
  auto pod = PodOf(**client, opt.ns, opt.pod);
  if (!pod) return Fail("exec", pod.error().message());
  auto r = (*client)->Exec(opt.ns, *pod, opt.container, opt.command, secs);
  if (!r) return Fail("exec", r.error().message());
  std::fwrite(r->out.data(), 1, r->out.size(), stdout);
  std::fwrite(r->err.data(), 1, r->err.size(), stderr);
  return r->exit_code;
}

}  // namespace

void AddLogsExec(CLI::App& app, int* exit_code) {
  auto logs = std::make_shared<LogsOptions>();
  CLI::App* l = app.add_subcommand("logs", "Print a container's logs (stdout and stderr) from the node it runs on");
  l->add_option("pod", logs->pod, "The pod (or deploy/NAME, job/NAME: one of its pods)")->required();
  l->add_option("-n,--namespace", logs->ns, "The pod's namespace")->capture_default_str();
  l->add_option("-c,--container", logs->container, "The container (needed when the pod has several)");
  l->add_flag("-f,--follow", logs->follow, "Keep printing as the container writes, until it stops");
  l->add_flag("-p,--previous", logs->previous, "The previous run of the container (before its last restart)");
  l->add_flag("--timestamps", logs->timestamps, "Prefix each line with its time (RFC 3339)");
  l->add_option("--tail", logs->tail, "Only the last N lines (-1: all)")->capture_default_str();
  AddClientFlags(l, &logs->client);
  l->callback([logs, exit_code] { *exit_code = RunLogs(*logs); });

  auto ex = std::make_shared<ExecOptions>();
  CLI::App* e = app.add_subcommand("exec", "Run a command in a running container; exits with the command's status");
  e->add_option("pod", ex->pod, "The pod (or deploy/NAME, job/NAME: one of its pods)")->required();
  e->add_option("command", ex->command, "The command and its arguments, after --")->required();
  e->add_option("-n,--namespace", ex->ns, "The pod's namespace")->capture_default_str();
  e->add_option("-c,--container", ex->container, "The container (needed when the pod has several)");
  e->add_option("--timeout", ex->timeout, "Kill the command after this long (e.g. 30s, 5m)")->capture_default_str();
  // Flags go before `--`; everything after it is the command (CLI11 treats
  // what follows `--` as positionals).
  AddClientFlags(e, &ex->client);
  e->footer("Example: bosun exec web-0 -n shop -- cat /etc/hostname");
  e->callback([ex, exit_code] { *exit_code = RunExec(*ex); });
}

}  // namespace bosun::cli
