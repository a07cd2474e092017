// `bosun sync`: asks the cluster to fetch its repository and apply the
// followed commit now, and (by default) waits for the outcome. The request is
// the GitRepository's bosun.dev/sync-requested-at annotation; the leader's
// sync controller answers it by setting status.lastHandledSyncRequest to the
// same value (docs/GITOPS.md).
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/client_flags.h"
#include "cli/gitops.h"
#include "cli/verbs.h"
#include "core/clock.h"
#include "core/duration.h"
#include "reconciler/history.h"

namespace bosun::cli {
namespace {

struct SyncOptions {
  bool wait = true;
  std::string timeout = "60s";
  std::string trigger = "manual";  // what the history records as having asked
  ClientFlags client;
};

std::string StatusStr(const Object& repo, const char* key) {
  const Json& v = Object::Field(repo.status(), key);
  return v.is_string() ? v.get<std::string>() : "";
}

bool IsSequenceName(const std::string& s) {
  return s.size() == 8 && s.find_first_not_of("0123456789") == std::string::npos;
}

// The newest Revision record's sequence number (0 when there is none).
// Records are numbered without gaps above the live one, so this probes
// upwards from it by name rather than listing the whole history.
Result<int64_t> NewestSequence(state::Client& client, const Object& repo) {
  std::string live = StatusStr(repo, "liveRevisionName");
  int64_t seq = 0;
  if (IsSequenceName(live)) {
    seq = std::stoll(live);
  } else {
    auto all = ListRevisions(client);
    if (!all) return all.error();
    if (all->empty()) return int64_t{0};
    return std::stoll(SequenceOf(all->front()));
  }
  for (;;) {
    auto next = client.Get(RevisionKind(), "", reconciler::RevisionName(seq + 1));
    if (!next && next.error().code() == Code::kNotFound) return seq;
    if (!next) return next.error();
    ++seq;
  }
}

int RunSync(const SyncOptions& opt) {
  // A usage error exits 2, as the parser's own do.
  auto timeout = ParseDuration(opt.timeout);
  if (!timeout || timeout->count() <= 0) {
    Fail("sync", timeout ? "--timeout must be more than 0 (e.g. 60s, 5m)" : "--timeout: " + timeout.error().message());
    return 2;
  }
  auto client = MakeClient(opt.client);
  if (!client) return Fail("sync", client.error().message());
  state::Client& c = **client;

  auto repo = GetGitRepository(c);
  if (!repo) return Fail("sync", repo.error().message());
  if (RepositorySuspended(*repo)) {
    std::string reason = repo->annotation(kSuspendReasonAnnotation).value_or("");
    return Fail("sync", "syncing is suspended (since " + repo->annotation(kSuspendedAtAnnotation).value_or("?") +
                            (reason.empty() ? "" : ": " + reason) + "); `bosun resume` first");
  }
  std::optional<int64_t> before;
  if (opt.wait) {
    auto newest = NewestSequence(c, *repo);
    if (!newest) return Fail("sync", newest.error().message());
    before = *newest;
  }

  std::string requested = FormatRfc3339Millis(Clock::System().Now());
  // A person's request carries no trigger annotation (one a hook left is
  // removed); a push hook's says "push".
  Json patch = {{"metadata",
                 {{"annotations",
                   {{kSyncRequestedAtAnnotation, requested},
                    {reconciler::kSyncTriggerAnnotation,
                     opt.trigger == "manual" ? Json(nullptr) : Json(opt.trigger + "@" + requested)}}}}}};
  auto patched = c.Patch(GitRepositoryKind(), "", kGitRepositoryName, patch);
  if (!patched) return Fail("sync", "asking for a sync: " + patched.error().message());
  if (!opt.wait) {
    std::printf("sync requested at %s; `bosun status` and `bosun history` show how it ends\n", requested.c_str());
    return 0;
  }
  std::fprintf(stderr, "sync requested at %s; waiting for the leader to fetch and apply (up to %s)...\n",
               requested.c_str(), FormatDuration(*timeout).c_str());

  auto deadline = std::chrono::steady_clock::now() + *timeout;
  Object now;
  for (;;) {
    auto cur = c.Get(GitRepositoryKind(), "", kGitRepositoryName);
    if (cur) {
      // A later request (someone else's sync) handled after ours covers ours:
      // the timestamps have one format, so they order as strings.
      std::string handled = StatusStr(*cur, "lastHandledSyncRequest");
      if (!handled.empty() && handled.size() == requested.size() && handled >= requested) {
        now = std::move(*cur);
        break;
      }
    } else if (cur.error().code() != Code::kUnavailable && cur.error().code() != Code::kTimeout) {
      return Fail("sync", cur.error().message());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail("sync", "no answer to the sync request within " + FormatDuration(*timeout) +
                              ": the leader may be busy with a long fetch or down; `bosun status` shows the last "
                              "fetch and sync, `bosun members` the leader (or wait longer with --timeout)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  // The records written since the request (in order), then the outcome.
  std::vector<Object> made;
  for (int64_t seq = *before + 1;; ++seq) {
    auto rec = c.Get(RevisionKind(), "", reconciler::RevisionName(seq));
    if (!rec) break;
    made.push_back(std::move(*rec));
  }
  int code = 0;
  bool record_failed = false;
  for (const Object& rec : made) {
    std::printf("%s\n", DescribeRecord(rec).c_str());
    if (&rec == &made.back() && RecordFailed(rec)) record_failed = true;
  }
  if (record_failed) code = 1;
  std::string fetch_error = StatusStr(now, "lastFetchError");
  std::string sync_error = StatusStr(now, "lastSyncError");
  std::string live = StatusStr(now, "liveRevision");
  std::string live_name = StatusStr(now, "liveRevisionName");
  if (!fetch_error.empty()) {
    std::printf("fetch failed: %s\n", Printable(fetch_error).c_str());
    code = 1;
  }
  // A refused or failed record already said why; otherwise say it here.
  // The head refused before this request (by a poll, a webhook, an earlier
  // sync) is that record: its errors are printed below as for a new one.
  std::optional<Object> failed;
  if (record_failed) failed = made.back();
  if (!sync_error.empty() && !record_failed) {
    std::printf("sync failed: %s\n", Printable(sync_error).c_str());
    code = 1;
    if (made.empty() && *before > 0) {
      auto last = c.Get(RevisionKind(), "", reconciler::RevisionName(*before));
      if (last && RecordFailed(*last) && StringField(last->spec(), "commit") == StatusStr(now, "head")) {
        failed = std::move(*last);
      }
    }
  }
  // Self-heal off: the request put back what was changed by hand.
  if (made.empty() && code == 0 && !live_name.empty()) {
    auto rec = c.Get(RevisionKind(), "", live_name);
    auto since = ParseRfc3339(requested);
    std::vector<std::string> healed;
    const Json& drift = rec ? Object::Field(rec->status(), "drift") : Json();
    for (const Json& e : drift.is_array() ? drift : Json::array()) {
      if (!e.is_object() || e.value("healedBy", "") != "sync request") continue;
      auto at = ParseRfc3339(e.value("healedAt", ""));
      if (!at || !since || *at + std::chrono::seconds(1) <= *since) continue;  // healedAt is in whole seconds
      const std::string ns = e.value("namespace", "");
      healed.push_back(e.value("kind", "") + " " + (ns.empty() ? "" : ns + "/") + e.value("name", ""));
    }
    if (!healed.empty()) {
      std::string list;
      for (size_t i = 0; i < healed.size() && i < 5; ++i) list += (i == 0 ? "" : ", ") + healed[i];
      if (healed.size() > 5) list += " and " + std::to_string(healed.size() - 5) + " more";
      std::printf("put back %zu %s changed by hand (self-heal is off): %s\n", healed.size(),
                  healed.size() == 1 ? "object" : "objects", list.c_str());
    }
  }
  if (live.empty()) {
    std::printf("nothing is live yet\n");
  } else if (made.empty() && code == 0) {
    std::printf("already up to date: %s is live (revision %s)\n", ShortSha(live).c_str(),
                reconciler::RevisionNumber(live_name).c_str());
  } else {
    std::printf("live: %s (revision %s)\n", ShortSha(live).c_str(), reconciler::RevisionNumber(live_name).c_str());
  }
  if (code != 0 && failed) {
    // The errors themselves (file:line:col: field: why), for a CI log that
    // has nothing else: the first 20, on stderr as `bosun validate` has them.
    const Json& errors = Object::Field(failed->status(), "errors");
    size_t shown = 0;
    for (const Json& e : errors.is_array() ? errors : Json::array()) {
      if (!e.is_string()) continue;
      if (shown == 20) break;
      std::fprintf(stderr, "%s\n", Printable(e.get<std::string>()).c_str());
      ++shown;
    }
    const size_t total = errors.is_array() ? errors.size() : 0;
    std::printf("see `bosun history show %s` for %s\n", SequenceOf(*failed).c_str(),
                total > shown ? ("all " + std::to_string(total) + " errors").c_str() : "the whole record");
  }
  return code;
}

struct SuspendOptions {
  std::string reason;
  ClientFlags client;
};

// `bosun suspend` / `bosun resume`: the GitRepository's spec.suspend.
int RunSuspend(const SuspendOptions& opt, bool suspend) {
  const char* verb = suspend ? "suspend" : "resume";
  auto client = MakeClient(opt.client);
  if (!client) return Fail(verb, client.error().message());
  state::Client& c = **client;
  auto repo = GetGitRepository(c);
  if (!repo) return Fail(verb, repo.error().message());
  const bool was = RepositorySuspended(*repo);
  const std::string now = FormatRfc3339Millis(Clock::System().Now());
  Json patch;
  if (suspend) {
    if (was) {
      std::printf("already suspended since %s\n", repo->annotation(kSuspendedAtAnnotation).value_or("?").c_str());
      return 0;
    }
    patch = {{"spec", {{"suspend", true}}},
             {"metadata",
              {{"annotations",
                {{kSuspendedAtAnnotation, now},
                 {kSuspendReasonAnnotation, opt.reason.empty() ? Json(nullptr) : Json(opt.reason)}}}}}};
  } else {
    if (!was) {
      std::printf("not suspended\n");
      return 0;
    }
    // The leader syncs at once when it sees the resume. Not a sync request:
    // that would also put back drift with self-heal off, as `bosun sync`
    // does, which resuming does not.
    patch = {{"spec", {{"suspend", nullptr}}},
             {"metadata", {{"annotations", {{kSuspendedAtAnnotation, nullptr}, {kSuspendReasonAnnotation, nullptr}}}}}};
  }
  auto patched = c.Patch(GitRepositoryKind(), "", kGitRepositoryName, patch);
  if (!patched) return Fail(verb, patched.error().message());
  if (suspend) {
    // The leader says so once no pass of it applies any more (one under
    // way finishes first): only then is a change by hand safe.
    std::fprintf(stderr, "suspending; waiting for the leader to confirm...\n");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool confirmed = false;
    while (!confirmed && std::chrono::steady_clock::now() < deadline) {
      auto cur = c.Get(GitRepositoryKind(), "", kGitRepositoryName);
      confirmed = cur && Object::Field(cur->status(), "suspended") == true;
      if (!confirmed) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (!confirmed) {
      return Fail(verb,
                  "asked, but the leader has not confirmed within 60s (a long fetch or apply, or no leader): "
                  "`bosun status` shows \"Suspended\" once it has");
    }
    std::printf(
        "sync suspended: new commits are fetched, not applied; drift is recorded, not healed; no automatic "
        "revert. `bosun resume` to go on\n");
  } else {
    std::printf("sync resumed: the followed ref is fetched and applied now (`bosun status` shows when)\n");
  }
  return 0;
}

}  // namespace

void AddSuspend(CLI::App& app, int* exit_code) {
  struct Verb {
    const char* name;
    const char* help;
    bool suspend;
  };
  for (const Verb& v :
       {Verb{"suspend",
             "Stop applying the repository, as `flux suspend` does, e.g. while an incident is handled by hand:\n"
             "new commits are fetched but not applied, drift is recorded but not put back, and no revision is\n"
             "reverted automatically. Returns once the leader confirms; lasts until `bosun resume` (a restart\n"
             "keeps it).",
             true},
        Verb{"resume",
             "Apply the repository again after `bosun suspend`: the followed commit at once, drift put back\n"
             "(with self-heal), and a degraded revision reverted (with autoRevert, unless a newer commit waits).",
             false}}) {
    auto opt = std::make_shared<SuspendOptions>();
    CLI::App* cmd = app.add_subcommand(v.name, v.help);
    if (v.suspend) cmd->add_option("--reason", opt->reason, "Why, for `bosun status` (e.g. \"incident 42\")");
    AddClientFlags(cmd, &opt->client);
    cmd->callback([opt, exit_code, suspend = v.suspend] { *exit_code = RunSuspend(*opt, suspend); });
  }
}

void AddSync(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<SyncOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sync",
      "Fetch the repository and apply the followed commit now, instead of at the next poll. By default\n"
      "waits for the leader to handle the request and prints the outcome: the revision records it\n"
      "made and what is live. Exit status 1 when the sync failed or the revision was refused.");
  cmd->add_flag("--wait,!--no-wait", opt->wait, "Wait for the outcome (default) or only ask for the sync");
  cmd->add_option("--timeout", opt->timeout, "How long to wait for the outcome")->capture_default_str();
  cmd->add_option("--trigger", opt->trigger,
                  "What the history records as having asked: manual (a person) or push (a Git hook, as the\n"
                  "one `bosun up` writes)")
      ->check(CLI::IsMember({"manual", "push"}))
      ->capture_default_str();
  AddClientFlags(cmd, &opt->client);
  cmd->callback([opt, exit_code] { *exit_code = RunSync(*opt); });
}

}  // namespace bosun::cli
