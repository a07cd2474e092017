// `bosun status`: the repository the cluster follows and where its sync
// stands — head, live revision, last fetch and last sync (the GitRepository
// "default" of docs/GITOPS.md, and the Revision record of the live commit).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/client_flags.h"
#include "cli/gitops.h"
#include "cli/member_settings.h"
#include "cli/verbs.h"
#include "core/clock.h"
#include "core/duration.h"
#include "core/yaml_emit.h"
#include "reconciler/history.h"
#include "reconciler/sync_controller.h"

namespace bosun::cli {
namespace {

struct StatusOptions {
  std::string output;
  ClientFlags client;
};

std::string S(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  return "";
}

void Line(const char* label, const std::string& value) {
  std::printf("%-15s%s\n", label, Printable(value).c_str());
}

// "2m ago (2026-11-21T10:00:00Z)", or "never".
std::string When(const std::string& ts) {
  return ts.empty() ? "never" : Ago(ts) + " (" + ts + ")";
}

int RunStatus(const StatusOptions& opt) {
  auto client = MakeClient(opt.client);
  if (!client) return Fail("status", client.error().message());
  auto repo = GetGitRepository(**client);
  if (!repo) return Fail("status", repo.error().message());
  const Json& spec = repo->spec();
  const Json& st = repo->status();

  std::optional<Object> live_record;
  std::string live_name = S(st, "liveRevisionName");
  if (!live_name.empty()) {
    auto rec = (*client)->Get(RevisionKind(), "", live_name);
    if (rec) {
      live_record = std::move(*rec);
    } else if (rec.error().code() != Code::kNotFound) {
      return Fail("status", rec.error().message());
    }
  }

  // Earlier revisions a later one went live over before their rollout
  // ended: still rolling out, or failed and not reverted (only the newest
  // applied revision is reverted automatically: the others are left to a
  // person, however many revisions came after). Up to 200 records back (a
  // push of 40 commits records 39 Skipped ones), and at most the 20 the
  // history limit holds.
  std::vector<Object> earlier;
  if (live_record) {
    const int64_t live_seq = std::strtoll(SequenceOf(*live_record).c_str(), nullptr, 10);
    for (int64_t seq = live_seq - 1; seq > 0 && seq >= live_seq - 200 && earlier.size() < 20; --seq) {
      auto rec = (*client)->Get(RevisionKind(), "", reconciler::RevisionName(seq));
      if (!rec && rec.error().code() == Code::kNotFound) continue;
      if (!rec) return Fail("status", rec.error().message());
      if (!reconciler::IsAppliedPhase(S(rec->status(), "phase"))) continue;
      if (reconciler::Unsettled(rec->status())) earlier.push_back(std::move(*rec));
    }
  }

  // Settings the members of a cluster of several must share and do not
  // (cli/member_settings.h), and which one leads: only the leader syncs.
  std::vector<std::string> conflicts;
  std::string leader;
  size_t members = 0;
  if (auto list = (*client)->Members()) {
    const Json& items = Object::Field(*list, "items");
    conflicts = MemberSettingConflicts(items);
    if (items.is_array()) {
      members = items.size();
      for (const Json& m : items) {
        if (Object::Field(m, "isLeader") == Json(true)) {
          leader = "member " + Object::Field(m, "id").dump() + " (" + S(m, "apiUrl") + ")";
        }
      }
    }
  }

  if (opt.output == "json" || opt.output == "yaml") {
    Json live = nullptr;
    if (live_record) {
      live = live_record->json();
      ScrubSecretValues(&live);
    }
    Json doc = {{"repository", repo->json()},
                {"liveRevision", live},
                {"earlierRevisions", Json::array()},
                {"memberConflicts", conflicts}};
    for (const Object& rec : earlier) {
      Json e = rec.json();
      ScrubSecretValues(&e);
      doc["earlierRevisions"].push_back(std::move(e));
    }
    std::string text =
        opt.output == "json" ? doc.dump(4, ' ', false, Json::error_handler_t::replace) + "\n" : EmitYaml(doc);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }

  std::string path = S(spec, "path");
  Line("Repository:", S(spec, "url"));
  Line("Following:", S(spec, "ref").empty() ? "(default branch)" : S(spec, "ref"));
  Line("Path:", path.empty() ? "(the whole repository)" : path);
  if (members > 1 && !leader.empty()) Line("Synced by:", "the leader, " + leader);
  for (const std::string& c : conflicts) Line("Members:", c);
  // The interval in force; the server's too where the SyncConfig's differs.
  const std::string in_force = PollIntervalOf(*repo), server = S(spec, "interval");
  if (in_force != server) {
    Line("Poll interval:",
         in_force + " (the repository's SyncConfig" + (server.empty() ? "" : "; the server's is " + server) + ")");
  } else if (!server.empty()) {
    Line("Poll interval:", server);
  }

  std::string head = S(st, "head");
  std::string live = S(st, "liveRevision");
  Line("Head:", head.empty() ? "(not fetched yet)" : head);
  if (live.empty()) {
    Line("Live:", "nothing applied yet");
  } else {
    std::string l = live;
    if (live_record) {
      l += "  revision " + SequenceOf(*live_record) + ", " + OutcomeOf(*live_record);
    } else if (!live_name.empty()) {
      l += "  (record " + live_name + " no longer in the history)";
    }
    Line("Live:", l);
    // What it waits for, or why it failed ("…; pod web/web-x, container
    // web: Readiness probe failed: …").
    if (live_record) {
      const std::string phase = S(live_record->status(), "phase");
      const std::string msg = S(live_record->status(), "message");
      if (!msg.empty() && (phase == "Progressing" || phase == "Degraded" || phase == "Failed")) Line("", msg);
    }
    // bosun's revert of the live revision: pushed, or why not (needs a human).
    if (live_record) {
      std::string revert = RevertLineOf(live_record->status());
      // Degraded, and no revert is coming: say so, and how to make one.
      const Json& sync_config = Object::Field(st, "syncConfig");
      if (revert.empty() && S(live_record->status(), "phase") == "Degraded" &&
          Object::Field(sync_config, "autoRevert") == false) {
        revert = "none: the repository's SyncConfig sets autoRevert: false (`bosun revert " + SequenceOf(*live_record) +
                 "` undoes it)";
      }
      if (!revert.empty()) Line("Revert:", revert);
    }
  }
  // Its own line: under an Earlier or Revert line it read as theirs.
  if (!head.empty() && !live.empty() && head != live) {
    Line("Not live:", "head " + ShortSha(head) + " is not live" +
                          (RepositorySuspended(*repo) ? " (suspended)" : " (`bosun history` shows why)"));
  }
  for (const Object& rec : earlier) {
    const std::string msg = S(rec.status(), "message");
    // Degraded and not reverted: why (the revert's note: not the newest
    // applied revision, the first commit, a conflict…), or the command.
    std::string left;
    if (S(rec.status(), "phase") == "Degraded") {
      const std::string why = S(Object::Field(rec.status(), "revert"), "error");
      left = " — not reverted: " + (why.empty() ? "`bosun revert " + SequenceOf(rec) + "`" : why);
    }
    Line("Earlier:", "revision " + SequenceOf(rec) + " (" + ShortSha(S(rec.spec(), "commit")) + "), " + OutcomeOf(rec) +
                         (msg.empty() ? "" : ": " + msg) + left);
  }
  const bool suspended = RepositorySuspended(*repo);
  if (suspended) {
    std::string reason = repo->annotation(kSuspendReasonAnnotation).value_or("");
    Line("Suspended:", "since " + When(repo->annotation(kSuspendedAtAnnotation).value_or("")) +
                           (reason.empty() ? "" : ": " + reason));
    Line("", "new commits are fetched, not applied; drift is recorded, not healed; no automatic revert");
    Line("", "`bosun resume` to go on");
  }
  std::string fetch_error = S(st, "lastFetchError");
  Line("Last fetch:", When(S(st, "lastFetchTime")) + (fetch_error.empty() ? "" : ", failed: " + fetch_error));
  // The leader fetches at every interval, whatever else fails: a last fetch
  // long past it means no sync controller runs (or it is stuck).
  // (Not while the members' disagreement holds it: that is said below.)
  const bool held = S(st, "lastSyncError").rfind(reconciler::kConflictPrefix, 0) == 0;
  if (auto last = ParseRfc3339(S(st, "lastFetchTime")); last && S(st, "fetchingSince").empty() && !held) {
    if (auto every = ParseDuration(PollIntervalOf(*repo)); every) {
      // (In seconds: three times an absurd interval would overflow.)
      const auto secs = std::chrono::duration_cast<std::chrono::seconds>(*every);
      const auto late = std::max(secs + secs + secs, secs + std::chrono::seconds(60));
      if (Clock::System().Now() - *last > late) {
        Line("", "overdue: the repository is fetched every " + PollIntervalOf(*repo) +
                     "; the leader's sync controller is not running or is stuck (its log says why; `bosun members` "
                     "shows the leader)");
      }
    }
  }
  // A fetch that has not ended yet (a remote that stalls).
  if (const std::string since = S(st, "fetchingSince"); !since.empty()) {
    Line("Fetching:", "since " + When(since) + ": the repository is slow to answer");
  }
  std::string sync_error = S(st, "lastSyncError");
  Line("Last sync:", When(S(st, "lastSyncTime")) + (sync_error.empty() ? "" : ", failed: " + sync_error));
  std::string requested = repo->annotation(kSyncRequestedAtAnnotation).value_or("");
  std::string handled = S(st, "lastHandledSyncRequest");
  if (!requested.empty() && requested != handled) Line("Sync requested:", When(requested) + ", not handled yet");
  const Json& cfg = Object::Field(st, "syncConfig");
  if (cfg.is_object() && !cfg.empty()) {
    std::string c;
    for (auto it = cfg.begin(); it != cfg.end(); ++it) {
      if (it.key() == "ignoreDifferences") continue;
      c += (c.empty() ? "" : ", ") + it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
    }
    // The fields the cluster owns: "Deployment shop/web: spec.replicas".
    const Json& ignore = Object::Field(cfg, "ignoreDifferences");
    if (ignore.is_array()) {
      for (const Json& r : ignore) {
        std::string where = S(r, "namespace");
        if (!S(r, "name").empty()) where += (where.empty() ? "" : "/") + S(r, "name");
        std::string fields;
        if (Object::Field(r, "fields").is_array()) {
          for (const Json& f : r["fields"])
            fields += (fields.empty() ? "" : ", ") + (f.is_string() ? f.get<std::string>() : f.dump());
        }
        c += std::string(c.empty() ? "" : "; ") + "ignoring " + S(r, "kind") + (where.empty() ? "" : " " + where) +
             ": " + fields;
      }
    }
    Line("Sync config:", c);
  }
  if (live_record) {
    // What was changed by hand and is still so: with self-heal off it stays
    // until `bosun sync` or the next revision; a failed heal says why.
    const Json& drift = Object::Field(live_record->status(), "drift");
    std::vector<std::string> left, failed;
    if (drift.is_array()) {
      for (const Json& d : drift) {
        if (d.value("healed", false)) continue;
        std::string error = S(d, "error");
        std::string name = ObjectName(d) + (d.value("deleted", false) ? " (deleted)" : "");
        if (error.empty()) {
          left.push_back(name);
        } else {
          failed.push_back(name + ": " + error);
        }
      }
    }
    // The first few, then how many more (`bosun history show` lists them all).
    auto join = [](const std::vector<std::string>& v) {
      constexpr size_t kShown = 10;
      std::string out;
      for (size_t i = 0; i < v.size() && i < kShown; ++i) out += (out.empty() ? "" : ", ") + v[i];
      if (v.size() > kShown) out += " and " + std::to_string(v.size() - kShown) + " more";
      return out;
    };
    const Json& dropped = Object::Field(live_record->status(), "driftDropped");
    const std::string more = dropped.is_number_integer() && dropped.get<int64_t>() > 0
                                 ? " (the record keeps the newest changes: " + std::to_string(dropped.get<int64_t>()) +
                                       " older ones were dropped, so there may be more)"
                                 : "";
    if (!left.empty()) {
      Line("Drift:", std::to_string(left.size()) + (left.size() == 1 ? " object" : " objects") +
                         " changed by hand and left so" + more + " " +
                         (suspended ? "(suspended): " + join(left) + "; `bosun resume` puts them back with self-heal"
                                    : "(self-heal is off): " + join(left) + "; `bosun sync` puts them back"));
    }
    if (!failed.empty()) Line("Drift:", "could not put back " + join(failed));
    const Json& sig = Object::Field(live_record->status(), "signature");
    if (sig.is_object()) {
      // An unsigned commit is "not signed", as `history show` says it.
      const bool is_signed = Object::Field(Object::Field(live_record->spec(), "signature"), "signed") == Json(true);
      std::string by = S(sig, "verified") == "true" ? "verified, " + S(sig, "signer") + " (" + S(sig, "key") + ")"
                       : !is_signed                 ? "not signed"
                                    : "not verified" + (S(sig, "key").empty() ? "" : ", key " + S(sig, "key"));
      Line("Live signed:", by + ", verify=" + S(sig, "level"));
    }
  }
  // The cluster's own key (signs reverts; docs/GITOPS.md "Signed commits").
  if (const KindInfo* cm = KindRegistry::Builtin().FindKind("ConfigMap")) {
    auto key = (*client)->Get(*cm, "bosun-system", "signing-key");
    if (key) {
      const Json& data = Object::Field(key->json(), "data");
      Line("Signing key:", S(data, "fingerprint") + "  " + S(data, "publicKey"));
    }
  }
  return 0;
}

}  // namespace

void AddStatus(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand(
      "status",
      "The Git repository the cluster follows and where its sync stands: the followed ref and path,\n"
      "the head commit, the live revision (with its history record and outcome), the last fetch and\n"
      "the last sync with their errors.");
  cmd->add_option("-o,--output", opt->output, "Output format: json or yaml (default: text)")
      ->check(CLI::IsMember({"", "json", "yaml"}));
  AddClientFlags(cmd, &opt->client);
  cmd->callback([opt, exit_code] { *exit_code = RunStatus(*opt); });
}

}  // namespace bosun::cli
