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

// Waits for the sync of the revert commit and says how it went: the
// cluster is rolled back only when that revision applies (a revert can
// bring back an error the reverted commit had mended, and be refused).
int WaitForSyncOf(state::Client& c, const std::string& revert, std::chrono::steady_clock::time_point deadline,
                  std::chrono::nanoseconds timeout) {
  std::fprintf(stderr, "waiting for the sync of %s...\n", ShortSha(revert).c_str());
  for (;;) {
    auto list = RecordsOfCommit(c, revert);
    if (list) {
      const Object* newest = nullptr;
      for (const Object& o : *list) {
        // Record names are zero-padded sequence numbers.
        if (newest == nullptr || o.name() > newest->name()) newest = &o;
      }
      // Validated: written, being applied (the sync writes the record
      // first); only a phase after it is the outcome.
      const std::string phase = newest != nullptr ? StringField(newest->status(), "phase") : "";
      if (!phase.empty() && phase != "Validated" && phase != "Pending") {
        std::printf("%s\n", DescribeRecord(*newest).c_str());
        if (RecordFailed(*newest)) {
          std::printf("the cluster is NOT rolled back: `bosun history show %s` says why\n",
                      SequenceOf(*newest).c_str());
          return 1;
        }
        return 0;
      }
    } else if (list.error().code() != Code::kUnavailable && list.error().code() != Code::kTimeout) {
      return Fail("revert", list.error().message());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail("revert", "the revert is pushed, but no sync applied it within " + FormatDuration(timeout) +
                                ": `bosun status` shows where the sync stands");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

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
  // Reverted already, or no longer on the branch: said here, without a
  // request (which would replace the record of the revert that was made,
  // or record a failure nobody needs to act on).
  const Json& st = rec->status();
  const Json& made = Object::Field(st, "revert");
  if (const std::string by = StringField(made, "commit"); !by.empty()) {
    std::printf("revision %s (%s) was reverted already: %s\n", SequenceOf(*rec).c_str(), ShortSha(commit).c_str(),
                RevertSummary(made).c_str());
    return 0;
  }
  if (const std::string by = StringField(st, "revertedBy"); !by.empty()) {
    std::printf("revision %s (%s) was reverted already, by %s\n", SequenceOf(*rec).c_str(), ShortSha(commit).c_str(),
                ShortSha(by).c_str());
    return 0;
  }
  if (const Json& dropped = Object::Field(st, "droppedBy"); dropped.is_object()) {
    return Fail("revert", "revision " + SequenceOf(*rec) + " (" + ShortSha(commit) +
                              ") is no longer on the followed branch: a force-push to " +
                              ShortSha(StringField(dropped, "commit")) + " left it out; nothing to revert");
  }
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
          const std::string revert = rv.value("commit", "");
          if (rv.value("pushedBefore", false)) {
            std::printf("%s was reverted already, by %s on the followed branch: nothing new was pushed\n",
                        ShortSha(commit).c_str(), ShortSha(revert).c_str());
          } else {
            std::string what = ShortSha(commit);
            if (const Json& to = Object::Field(rv, "backTo"); to.is_object()) {
              // The revision brought several commits: all undone.
              what += " and the commits before it back to " + ShortSha(StringField(to, "commit"));
            }
            std::printf("reverted %s with %s, pushed to the followed branch (`bosun history` links them)\n",
                        what.c_str(), ShortSha(revert).c_str());
          }
          auto repo = GetGitRepository(c);
          if (repo && RepositorySuspended(*repo)) {
            std::printf("syncing is suspended: the cluster is rolled back after `bosun resume`\n");
            return 0;
          }
          return WaitForSyncOf(c, revert, deadline, *timeout);
        }
        if (rv.value("notNeeded", false)) {
          std::printf("nothing to revert: %s\n", rv.value("message", "").c_str());
          return 0;
        }
        // The leader's error names the commit already ("cannot revert …").
        const std::string error = rv.value("error", "unknown error");
        return Fail("revert",
                    error.starts_with("cannot revert") ? error : "cannot revert " + ShortSha(commit) + ": " + error);
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
      "Bosun-Reverts and Bosun-Reason trailers), pushes it fast-forward only and syncs. A revision that\n"
      "brought several commits (merged together, or after a refused one) has all of them undone, back to\n"
      "the commit live before it (one commit, with a Bosun-Reverts-To trailer). A revert that\n"
      "conflicts with later commits is refused (revert it by hand in Git). Waits for the revert's sync\n"
      "and prints its outcome. Exit status 1 when the revert or its sync fails.");
  cmd->add_option("rev", opt->rev, "The revision: sequence number, record name, or commit id (prefix)")->required();
  cmd->add_option("--reason", opt->reason, "Why (recorded in the Bosun-Reason trailer)");
  cmd->add_flag("--wait,!--no-wait", opt->wait, "Wait for the revert commit and its sync (default) or only ask for it");
  cmd->add_option("--timeout", opt->timeout, "How long to wait, for both")->capture_default_str();
  AddClientFlags(cmd, &opt->client);
  cmd->callback([opt, exit_code] { *exit_code = RunRevert(*opt); });
}

}  // namespace bosun::cli
