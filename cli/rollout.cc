// `bosun rollout status DEPLOYMENT`: waits for a Deployment's rollout to
// finish and says how it goes, as `kubectl rollout status` does (its
// DeploymentStatusViewer, word for word):
//
//   Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...
//   Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...
//   Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...
//   deployment "web" successfully rolled out
//
// Exit 0 once rolled out (or, with --watch=false, after printing where it
// stands); 1 with `error: deployment "web" exceeded its progress deadline`
// when the Deployment reports ProgressDeadlineExceeded, with `error: timed
// out waiting for the condition` after --timeout, and when the Deployment
// does not exist or is deleted meanwhile; 2 for a usage error.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "cli/client_flags.h"
#include "cli/verbs.h"
#include "core/duration.h"
#include "core/kinds.h"
#include "state/client.h"

namespace bosun::cli {
namespace {

struct RolloutStatusOptions {
  std::string target;
  std::string ns = "default";
  std::string timeout = "0s";
  bool watch = true;
  ClientFlags client;
};

struct Verdict {
  std::string message;  // a line, printed to stdout
  bool done = false;
  std::string error;  // set: the rollout failed
};

Verdict Waiting(std::string message) {
  return Verdict{std::move(message), false, ""};
}

int64_t Int(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

std::string Quoted(const std::string& s) {
  return "\"" + s + "\"";
}

// kubectl's DeploymentStatusViewer.Status.
Verdict Evaluate(const Object& d) {
  const std::string name = Quoted(d.name());
  const Json& st = d.status();
  if (d.generation() > Int(st, "observedGeneration")) return Waiting("Waiting for deployment spec update to be observed...");
  const Json& conds = Object::Field(st, "conditions");
  if (conds.is_array()) {
    for (const Json& c : conds) {
      if (Object::Field(c, "type") == "Progressing" && Object::Field(c, "reason") == "ProgressDeadlineExceeded") {
        return Verdict{"", false, "deployment " + name + " exceeded its progress deadline"};
      }
    }
  }
  const Json& replicas_field = Object::Field(d.spec(), "replicas");
  const int64_t replicas = replicas_field.is_number_integer() ? replicas_field.get<int64_t>() : 1;
  const int64_t updated = Int(st, "updatedReplicas");
  const int64_t current = Int(st, "replicas");
  const int64_t available = Int(st, "availableReplicas");
  const std::string waiting = "Waiting for deployment " + name + " rollout to finish: ";
  if (updated < replicas) {
    return Waiting(waiting + std::to_string(updated) + " out of " + std::to_string(replicas) +
                   " new replicas have been updated...");
  }
  if (current > updated) {
    return Waiting(waiting + std::to_string(current - updated) + " old replicas are pending termination...");
  }
  if (available < updated) {
    return Waiting(waiting + std::to_string(available) + " of " + std::to_string(updated) +
                   " updated replicas are available...");
  }
  return Verdict{"deployment " + name + " successfully rolled out", true, ""};
}

// "web", "deployment/web", "deploy/web", "deployments.apps/web".
Result<std::string> DeploymentName(const std::string& target) {
  auto slash = target.find('/');
  if (slash == std::string::npos) return target;
  auto kind = ResolveKind(target.substr(0, slash));
  if (!kind) return kind.error();
  if ((*kind)->gvk.kind != "Deployment") {
    return Error(Code::kInvalid, "no rollout status for " + (*kind)->QualifiedResource() + ": only deployments roll out");
  }
  std::string name = target.substr(slash + 1);
  if (name.empty()) return Error(Code::kInvalid, "no name after \"" + target.substr(0, slash + 1) + "\"");
  return name;
}

int Error1(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

int RunRolloutStatus(const RolloutStatusOptions& opt) {
  auto name = DeploymentName(opt.target);
  if (!name) {
    std::fprintf(stderr, "bosun rollout status: %s\n", name.error().message().c_str());
    return 2;
  }
  auto timeout = ParseDuration(opt.timeout);
  if (!timeout || timeout->count() < 0) {
    std::fprintf(stderr, "bosun rollout status: --timeout: %s\n",
                 timeout ? "must not be negative" : timeout.error().message().c_str());
    return 2;
  }
  const bool forever = timeout->count() == 0;
  const auto deadline = std::chrono::steady_clock::now() + *timeout;
  auto client = MakeClient(opt.client);
  if (!client) return Fail("rollout status", client.error().message());
  const KindInfo& kind = *KindRegistry::Builtin().FindKind("Deployment");
  auto d = (*client)->Get(kind, opt.ns, *name);
  if (!d) return Error1(d.error().message());

  std::string last;
  // Prints a verdict (once per change of message); returns the exit code
  // when the wait is over.
  auto report = [&](const Object& obj) -> std::optional<int> {
    Verdict v = Evaluate(obj);
    if (!v.error.empty()) return Error1(v.error);
    if (v.message != last) {
      std::printf("%s\n", v.message.c_str());
      std::fflush(stdout);
      last = v.message;
    }
    if (v.done || !opt.watch) return 0;
    return std::nullopt;
  };
  if (auto code = report(*d)) return *code;

  std::mutex mu;
  std::condition_variable cv;
  std::optional<Object> latest;
  bool deleted = false;
  auto watch = (*client)->Watch(kind, opt.ns, state::Selectors("", "metadata.name=" + *name), d->resource_version(),
                                [&](const state::WatchEvent& e) {
                                  if (e.type == state::WatchEvent::Type::kBookmark || e.object.name() != *name) return;
                                  std::lock_guard<std::mutex> lock(mu);
                                  if (e.type == state::WatchEvent::Type::kDeleted) {
                                    deleted = true;
                                  } else {
                                    latest = e.object;
                                  }
                                  cv.notify_all();
                                });
  if (!watch) return Fail("rollout status", watch.error().message());
  std::unique_lock<std::mutex> lock(mu);
  while (true) {
    auto ready = [&] { return deleted || latest.has_value(); };
    if (forever) {
      cv.wait(lock, ready);
    } else if (!cv.wait_until(lock, deadline, ready)) {
      lock.unlock();
      (*watch)->Stop();
      return Error1("timed out waiting for the condition");
    }
    if (deleted) {
      lock.unlock();
      (*watch)->Stop();
      return Error1("deployment " + Quoted(*name) + " was deleted");
    }
    Object obj = std::move(*latest);
    latest.reset();
    lock.unlock();
    auto code = report(obj);
    if (code) {
      (*watch)->Stop();
      return *code;
    }
    lock.lock();
  }
}

}  // namespace

void AddRollout(CLI::App& app, int* exit_code) {
  CLI::App* rollout = app.add_subcommand("rollout", "Follow the rollout of a Deployment");
  rollout->require_subcommand(1);
  auto opt = std::make_shared<RolloutStatusOptions>();
  CLI::App* status = rollout->add_subcommand(
      "status",
      "Wait for a Deployment's rollout to finish, printing its progress as kubectl does. Exit 0 when\n"
      "it rolled out; 1 when it exceeded its progress deadline, after --timeout, or when it is missing.");
  status->add_option("DEPLOYMENT", opt->target, "The Deployment: NAME or deployment/NAME")->required();
  status->add_option("-n,--namespace", opt->ns, "Namespace")->capture_default_str();
  status->add_option("--timeout", opt->timeout, "How long to wait (\"5m\", \"30s\"); 0 waits for ever")
      ->capture_default_str();
  status->add_flag("-w,--watch", opt->watch, "Wait for the rollout to finish (--watch=false: print where it stands)")
      ->capture_default_str();
  AddClientFlags(status, &opt->client);
  status->callback([opt, exit_code] { *exit_code = RunRolloutStatus(*opt); });
}

}  // namespace bosun::cli
