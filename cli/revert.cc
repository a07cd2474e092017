// `bosun revert REV [--reason R]`: undo a revision the GitOps way, by hand —
// the leader commits `git revert` of its commit on the followed branch (with
// the Bosun-Reverts / Bosun-Reason trailers), pushes it fast-forward only,
// and syncs; the history links the reverted revision and the revert. The
// request is the Revision's bosun.dev/revert-requested annotation (an id and
// the reason); the leader answers in the record's status.revert with the same
// id (reconciler/revision_health.h). Waits for the answer by default.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "cli/client_flags.h"
#include "cli/gitops.h"
#include "cli/verbs.h"
#include "core/clock.h"
#include "core/duration.h"
#include "reconciler/revision_health.h"

namespace bosun::cli {
namespace {

struct RevertOptions {
  std::string rev;
  std::string reason;
  bool wait = true;
  std::string timeout = "120s";
  ClientFlags client;
};

int RunRevert(const RevertOptions& opt) {
  auto timeout = ParseDuration(opt.timeout);
  if (!timeout) return Fail("revert", "--timeout: " + timeout.error().message());
  auto client = MakeClient(opt.client);
  if (!client) return Fail("revert", client.error().message());
  state::Client& c = **client;
  auto rec = FindRevision(c, opt.rev);
  if (!rec) return Fail("revert", rec.error().message());
  const std::string commit = Object::Field(rec->spec(), "commit").is_string()
                                 ? Object::Field(rec->spec(), "commit").get<std::string>()
                                 : "";
  const std::string id = FormatRfc3339Millis(Clock::System().Now()) + "-" + std::to_string(::getpid());
  Json request = {{"id", id}, {"reason", opt.reason.empty() ? "reverted by hand with bosun revert" : opt.reason}};
  Json patch = {{"metadata", {{"annotations", {{reconciler::kRevertRequestedAnnotation, request.dump()}}}}}};
  auto patched = c.Patch(RevisionKind(), "", rec->name(), patch);
  if (!patched) return Fail("revert", "asking for the revert: " + patched.error().message());
  if (!opt.wait) {
    std::printf("revert of revision %s (%s) requested; `bosun history` shows the outcome\n",
                SequenceOf(*rec).c_str(), ShortSha(commit).c_str());
    return 0;
  }
  std::fprintf(stderr, "revert of revision %s (%s) requested; waiting for the leader to commit and push it...\n",
               SequenceOf(*rec).c_str(), ShortSha(commit).c_str());
  auto deadline = std::chrono::steady_clock::now() + *timeout;
  for (;;) {
    auto cur = c.Get(RevisionKind(), "", rec->name());
    if (cur) {
      const Json& rv = Object::Field(cur->status(), "revert");
      if (rv.is_object() && rv.value("request", "") == id) {
        if (rv.contains("commit")) {
          auto repo = GetGitRepository(c);
          const bool suspended = repo && RepositorySuspended(*repo);
          std::printf("reverted %s with %s, pushed to the followed branch; %s (`bosun history` links them)\n",
                      ShortSha(commit).c_str(), ShortSha(rv.value("commit", "")).c_str(),
                      suspended ? "syncing is suspended: the cluster is rolled back after `bosun resume`"
                                : "the next sync rolls the cluster back");
          return 0;
        }
        return Fail("revert", "cannot revert " + ShortSha(commit) + ": " + rv.value("error", "unknown error"));
      }
    } else if (cur.error().code() != Code::kUnavailable && cur.error().code() != Code::kTimeout) {
      return Fail("revert", cur.error().message());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail("revert", "no answer within " + FormatDuration(*timeout) +
                                ": the leader may be busy or unable to reach the remote; `bosun describe revision " +
                                rec->name() + "` shows what it did");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

void AddRevert(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<RevertOptions>();
  CLI::App* cmd = app.add_subcommand(
      "revert",
      "Undo a revision the GitOps way: the cluster commits `git revert` of it on the followed branch (with\n"
      "Bosun-Reverts and Bosun-Reason trailers), pushes it fast-forward only and syncs. A revert that\n"
      "conflicts with later commits is refused (revert it by hand in Git). Exit status 1 when it fails.");
  cmd->add_option("rev", opt->rev, "The revision: sequence number, record name, or commit id (prefix)")->required();
  cmd->add_option("--reason", opt->reason, "Why (recorded in the Bosun-Reason trailer)");
  cmd->add_flag("--wait,!--no-wait", opt->wait, "Wait for the revert commit (default) or only ask for it");
  cmd->add_option("--timeout", opt->timeout, "How long to wait")->capture_default_str();
  AddClientFlags(cmd, &opt->client);
  cmd->callback([opt, exit_code] { *exit_code = RunRevert(*opt); });
}

}  // namespace bosun::cli
