// `bosun delete KIND NAME` and `bosun delete -f FILE|DIR`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/client_flags.h"
#include "cli/verbs.h"
#include "core/duration.h"
#include "core/kinds.h"
#include "core/manifests.h"
#include "state/client.h"

namespace bosun::cli {
namespace {

struct DeleteOptions {
  std::vector<std::string> args;  // KIND NAME
  std::vector<std::string> files;
  std::string ns;
  bool ignore_not_found = false;
  bool wait = true;
  std::string timeout = "5m";
  ClientFlags client;
};

struct Target {
  const KindInfo* kind;
  std::string ns;
  std::string name;
  std::string where;  // "file:line: " for objects from manifests
};

// Waits until the object `deleted` (answered by a DELETE that left it
// terminating: a Namespace while its contents go) is gone, as kubectl's
// --wait does. A new object of the same name (another uid) means it is.
bool WaitUntilGone(state::Client& client, const Target& t, const Object& deleted, std::chrono::nanoseconds timeout,
                   const std::string& what) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  bool told = false;
  for (;;) {
    auto cur = client.Get(*t.kind, t.ns, t.name);
    if (!cur && cur.error().code() == Code::kNotFound) return true;
    // A leader change on the way: asked again.
    if (!cur && cur.error().code() == Code::kUnavailable && (timeout.count() == 0 || Clock::now() - start < timeout)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (!cur) {
      std::fprintf(stderr, "bosun delete: %swhile waiting for %s \"%s\" to go: %s\n", t.where.c_str(), what.c_str(),
                   t.name.c_str(), cur.error().message().c_str());
      return false;
    }
    if (cur->uid() != deleted.uid()) return true;
    const auto waited = Clock::now() - start;
    if (timeout.count() > 0 && waited >= timeout) {
      std::fprintf(stderr,
                   "bosun delete: %s%s \"%s\" is still terminating after %s: it goes once the namespace "
                   "controller has deleted everything in it and every finalizer in its spec.finalizers is released\n",
                   t.where.c_str(), what.c_str(), t.name.c_str(), FormatDuration(timeout).c_str());
      return false;
    }
    if (!told && waited >= std::chrono::seconds(1)) {
      std::fprintf(stderr, "waiting for %s \"%s\" to terminate: deleting what it holds (--wait=false not to wait)\n",
                   what.c_str(), t.name.c_str());
      told = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Prints `deployment.apps "web" deleted` or the error; returns whether it
// counts as a failure.
bool DeleteOne(state::Client& client, const Target& t, const DeleteOptions& opt, std::chrono::nanoseconds timeout) {
  auto r = client.Delete(*t.kind, t.ns, t.name);
  if (r) {
    std::string what = t.kind->singular + (t.kind->gvk.group.empty() ? "" : "." + t.kind->gvk.group);
    // As kubectl: said at once, then waited for.
    std::printf("%s \"%s\" deleted\n", what.c_str(), t.name.c_str());
    std::fflush(stdout);
    const bool terminating = !r->json().value("/metadata/deletionTimestamp"_json_pointer, std::string()).empty();
    return terminating && opt.wait && !WaitUntilGone(client, t, *r, timeout, what);
  }
  if (r.error().code() == Code::kNotFound && opt.ignore_not_found) return false;
  std::fprintf(stderr, "bosun delete: %s%s\n", t.where.c_str(), r.error().message().c_str());
  return true;
}

int RunDelete(DeleteOptions opt) {
  if (opt.args.size() == 1) {
    std::string name;
    if (Status s = SplitKindName(&opt.args[0], &name); !s) return Fail("delete", s.error().message());
    if (!name.empty()) opt.args.push_back(name);
  }
  if (!opt.files.empty() && !opt.args.empty()) {
    std::fprintf(stderr, "bosun delete: give either KIND NAME or -f FILE, not both\n");
    return 2;
  }
  if (opt.files.empty() && opt.args.size() != 2) {
    std::fprintf(stderr, "bosun delete: give KIND NAME (e.g. `bosun delete deploy web`) or -f FILE\n");
    return 2;
  }
  auto timeout = ParseDuration(opt.timeout);
  if (!timeout) {
    std::fprintf(stderr, "bosun delete: --timeout: %s\n", timeout.error().message().c_str());
    return 2;
  }
  std::string default_ns = opt.ns.empty() ? "default" : opt.ns;
  std::vector<Target> targets;
  if (opt.files.empty()) {
    auto kind = ResolveKind(opt.args[0]);
    if (!kind) return Fail("delete", kind.error().message());
    targets.push_back({*kind, (*kind)->namespaced ? default_ns : "", opt.args[1], ""});
  } else {
    auto files = FindManifestFiles(opt.files);
    if (!files) return Fail("delete", files.error().message());
    if (files->empty()) return Fail("delete", "no *.yaml, *.yml or *.json files in " + opt.files[0]);
    // What to delete needs kinds and names only: a field the kind does not
    // have is no reason to keep the object.
    DesiredSet set = LoadDesiredSet(*files, {}, FieldValidation::kIgnore);
    if (!set.ok()) {
      for (const Diagnostic& d : set.diagnostics) std::fprintf(stderr, "%s\n", d.ToString().c_str());
      return Fail("delete", "the manifests have errors; nothing was deleted");
    }
    int problems = 0;
    for (const Manifest& m : set.objects) {
      std::string where = m.file + ":" + std::to_string(m.start.line) + ": ";
      const KindInfo* kind = KindRegistry::Builtin().Find(m.object.gvk());
      if (kind == nullptr || m.object.name().empty()) {
        std::fprintf(stderr, "bosun delete: %s%s\n", where.c_str(),
                     kind == nullptr ? ("bosun does not know kind \"" + m.object.kind() + "\"").c_str()
                                     : "an object without metadata.name cannot be deleted by manifest");
        ++problems;
        continue;
      }
      std::string ns = m.object.namespace_().empty() ? default_ns : m.object.namespace_();
      targets.push_back({kind, kind->namespaced ? ns : "", m.object.name(), where});
    }
    if (problems > 0) return Fail("delete", "nothing was deleted");
    // Dependents first: the reverse of the order apply creates them in.
    std::stable_sort(targets.begin(), targets.end(), [](const Target& a, const Target& b) {
      return ApplyOrder(a.kind->gvk) > ApplyOrder(b.kind->gvk);
    });
  }
  auto client = MakeClient(opt.client);
  if (!client) return Fail("delete", client.error().message());
  int failures = 0;
  for (const Target& t : targets) failures += DeleteOne(**client, t, opt, *timeout) ? 1 : 0;
  return failures > 0 ? 1 : 0;
}

}  // namespace

void AddDelete(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<DeleteOptions>();
  CLI::App* cmd =
      app.add_subcommand("delete",
                         "Delete objects: `bosun delete KIND NAME [-n NS]`, or every object of manifests with\n"
                         "`bosun delete -f FILE|DIR` (dependents first). A Namespace goes once everything in it is\n"
                         "deleted; by default the command waits for that, as kubectl does.");
  cmd->add_option("args", opt->args, "KIND NAME or KIND/NAME (e.g. deploy web)");
  cmd->add_option("-f,--filename", opt->files, "Manifest files or directories (repeatable)");
  cmd->add_option("-n,--namespace", opt->ns, "Namespace (default: default)");
  cmd->add_flag("--ignore-not-found", opt->ignore_not_found, "Objects already gone are not an error");
  cmd->add_flag("--wait,!--no-wait", opt->wait,
                "Wait until a terminating object (a Namespace) is gone (default; --wait=false or --no-wait not to)");
  cmd->add_option("--timeout", opt->timeout, "How long --wait waits (e.g. 30s, 5m; 0 for ever)")->capture_default_str();
  AddClientFlags(cmd, &opt->client);
  cmd->callback([opt, exit_code] { *exit_code = RunDelete(*opt); });
}

}  // namespace bosun::cli
