// Writing Revision records (docs/GITOPS.md): new ones (Validated, Refused,
// Skipped), status changes (Failed, links), and the history limit.
#include <algorithm>
#include <set>

#include "core/log.h"
#include "reconciler/sync_internal.h"
#include "reconciler/sync_policy.h"

namespace bosun::reconciler {
namespace {

// Intermediate commits recorded as Skipped in one pass, at most.
constexpr size_t kMaxSkippedRecords = 50;
// How far back the first-parent walk goes looking for them.
constexpr size_t kMaxFirstParentWalk = 10000;
// How many records back a force-push's dropped revisions are looked for:
// each costs a graph walk and a status write before the new revision is
// applied.
constexpr size_t kMaxDroppedWalk = 100;
// How many of the commits a revision brings its record lists (spec.brings).
constexpr size_t kMaxBroughtCommits = 100;

}  // namespace

bool SyncController::Impl::SamePath(const RecordInfo& r) const {
  return !r.has_source || gitsync::CleanFolder(r.source.path) == gitsync::CleanFolder(source.path);
}

bool SyncController::Impl::SameRef(const RecordInfo& r) const {
  return !r.has_source || gitsync::FullRefName(r.source.ref) == gitsync::FullRefName(source.ref);
}

Object SyncController::Impl::NewRecord(const PassContext& ctx, int64_t sequence) const {
  std::string reverts = gitsync::ParseReverts(ctx.commit.message);
  if (!reverts.empty() && reverts.size() < 40) {
    if (auto full = mirror->Resolve(reverts)) reverts = *full;
  }
  // bosun's own revert found by a pass it did not ask for (a new leader's
  // first, a restart's, a poll) is still "revert": the leader that pushed it
  // may have died before its own pass. A person's `bosun sync` stays manual.
  const bool own_revert = ctx.commit.id == ctx.head && gitsync::IsBosunRevert(ctx.commit.message) &&
                          (ctx.why == SyncTrigger::kLeaderChange || ctx.why == SyncTrigger::kStartup ||
                           ctx.why == SyncTrigger::kPoll || ctx.why == SyncTrigger::kWebhook);
  Object rec = NewRevisionRecord(sequence, ctx.commit, TriggerName(own_revert ? SyncTrigger::kRevert : ctx.why), source,
                                 reverts);
  // A revert of several commits: the commit whose state it returns to.
  if (std::string to = gitsync::ParseRevertsTo(ctx.commit.message); !reverts.empty() && !to.empty()) {
    if (to.size() < 40) {
      if (auto full = mirror->Resolve(to)) to = *full;
    }
    rec.json()["spec"]["revertsTo"] = to;
  }
  SetSignatureStatus(rec, ctx.signature);
  // A force-push: the changelog says which live commit the branch dropped.
  if (ctx.descends_from_live == false && !ctx.ref_changed) rec.json()["spec"]["rewrites"] = ctx.live_commit;
  // The server was pointed elsewhere: what the live revision was read from.
  if (ctx.source_changed_from) {
    const RecordSource& from = *ctx.source_changed_from;
    rec.json()["spec"]["sourceChangedFrom"] = {{"url", from.url}, {"ref", from.ref}, {"path", from.path}};
  }
  // The head's record says what it was applied over, and how many commits
  // that brings (an auditor's `git log liveBefore..commit`): its changes
  // are theirs, not only the head's author's.
  if (ctx.commit.id == ctx.head && !ctx.live_commit.empty() && ctx.live_commit != ctx.head) {
    rec.json()["spec"]["liveBefore"] = ctx.live_commit;
    if (ctx.descends_from_live == true) rec.json()["spec"]["commitsSinceLive"] = ctx.since_live.size();
    // Which commits those are, and whose (a merged branch's too, which get
    // no record of their own): `history --author` and `history show SHA`
    // find them here. The newest kMaxBroughtCommits, newest first.
    if (ctx.descends_from_live == true && ctx.since_live.size() > 1) {
      Json brings = Json::array();
      for (auto it = ctx.since_live.rbegin(); it != ctx.since_live.rend() && brings.size() < kMaxBroughtCommits; ++it) {
        if (*it == ctx.head) continue;
        auto c = mirror->Commit(*it);
        if (!c) continue;
        brings.push_back({{"commit", c->id},
                          {"author", {{"name", c->author.name}, {"email", c->author.email}}},
                          {"subject", CommitSubject(c->message)}});
      }
      rec.json()["spec"]["brings"] = std::move(brings);
      if (ctx.since_live.size() - 1 > kMaxBroughtCommits) {
        rec.json()["spec"]["bringsMore"] = ctx.since_live.size() - 1 - kMaxBroughtCommits;
      }
    }
  }
  return rec;
}

Result<Object> SyncController::Impl::CreateRecord(Object record) {
  for (int attempt = 0;; ++attempt) {
    auto created = client->Create(record);
    if (created) {
      {
        std::lock_guard<std::mutex> lock(state_mu);
        index.Put(*created);
      }
      MarkDropped(*created);
      return created;
    }
    if (created.error().code() != Code::kAlreadyExists || attempt >= 2) {
      return created.error().Wrap("cannot write Revision " + record.name());
    }
    // Someone else (a previous leader) took the sequence number: read the
    // records again and take the next free one.
    if (Status s = LoadIndex(); !s) return s.error();
    int64_t seq;
    {
      std::lock_guard<std::mutex> lock(state_mu);
      seq = index.NextSequence();
    }
    record.set_name(RevisionName(seq));
    record.set_label(kSequenceLabel, std::to_string(seq));
    record.json()["spec"]["sequence"] = seq;
  }
}

void SyncController::Impl::MarkDropped(const Object& record) {
  const std::string head = record.json().value("/spec/commit"_json_pointer, "");
  const int64_t seq = InfoOf(record).sequence;
  std::vector<RecordInfo> older;  // newest first
  {
    std::lock_guard<std::mutex> lock(state_mu);
    const auto& all = index.records();
    for (auto it = all.rbegin(); it != all.rend() && older.size() < kMaxDroppedWalk; ++it) {
      if (it->second.sequence < seq) older.push_back(it->second);
    }
  }
  const std::string at = FormatRfc3339(clock->Now());
  std::vector<std::string> dropped;  // "16 (a1b2c3d)"
  for (const RecordInfo& r : older) {
    if (r.commit.empty()) continue;
    if (r.commit == head) break;
    // Read from another ref (the server was pointed at it): that ref's
    // commits were not dropped by a force-push of this one.
    if (!SameRef(r)) break;
    auto on = mirror->IsAncestor(r.commit, head);
    if (on && *on) break;  // on the branch: so is what came before it
    if (!on && on.error().code() != Code::kNotFound) {
      log::Warn(kSyncComponent, "cannot tell which revisions the force-push dropped",
                {{"revision", r.name}, {"error", on.error().message()}});
      break;
    }
    auto w = ChangeRecordStatus(r.name, [&](Json& st) {
      if (st.contains("droppedBy")) return false;
      st["droppedBy"] = {{"revision", record.name()}, {"commit", head}, {"at", at}};
      return true;
    });
    if (!w) {
      log::Warn(kSyncComponent, "cannot mark a revision the force-push dropped",
                {{"revision", r.name}, {"error", w.error().message()}});
      continue;
    }
    if (*w) dropped.push_back(std::to_string(r.sequence) + " (" + ShortSha(r.commit) + ")");
  }
  if (dropped.empty()) return;
  std::string list;
  for (size_t i = 0; i < dropped.size() && i < 10; ++i) list += (i == 0 ? "" : ", ") + dropped[i];
  if (dropped.size() > 10) list += " and " + std::to_string(dropped.size() - 10) + " more";
  log::Warn(kSyncComponent, "the followed branch was force-pushed: revisions are no longer on it",
            {{"revision", record.name()}, {"dropped", list}});
  Event(record, true, "ForcePushed",
        "the branch was force-pushed to " + ShortSha(head) + ": revision" + (dropped.size() == 1 ? " " : "s ") + list +
            (dropped.size() == 1 ? " is" : " are") + " no longer on it");
}

Result<Object> SyncController::Impl::UpdateRecordStatus(const Object& record) {
  auto r = client->UpdateStatus(record);
  if (r) {
    std::lock_guard<std::mutex> lock(state_mu);
    index.Put(*r);
  }
  return r;
}

Result<std::optional<Object>> SyncController::Impl::ChangeRecordStatus(const std::string& name,
                                                                       const std::function<bool(Json&)>& change) {
  auto w = reconciler::ChangeRecordStatus(*client, name, change, 3);
  if (w && *w) {
    std::lock_guard<std::mutex> lock(state_mu);
    index.Put(**w);
  }
  return w;
}

std::string SyncController::Impl::LiveRecordName() {
  std::lock_guard<std::mutex> lock(state_mu);
  const RecordInfo* l = index.Live();
  return l != nullptr ? l->name : "";
}

Result<std::string> SyncController::Impl::WriteRefused(PassContext& ctx, const DesiredSnapshot& snapshot,
                                                       const std::vector<Diagnostic>& also, const PolicyCheck* policy) {
  std::string stays = ctx.live_commit.empty() ? "nothing is applied" : ShortSha(ctx.live_commit) + " stays live";
  if (!snapshot.path_error.empty()) {
    Diagnostic d;
    d.file = source.path;
    d.message = snapshot.path_error;
    return WriteRefusal(ctx, "PathNotFound", snapshot.path_error, {d});
  }
  std::vector<Diagnostic> diagnostics = snapshot.diagnostics;
  diagnostics.insert(diagnostics.end(), also.begin(), also.end());
  std::set<std::string> files;
  for (const Diagnostic& d : snapshot.diagnostics) {
    if (d.severity == Severity::kError) files.insert(d.file);
  }
  std::string what = std::to_string(files.size()) + " invalid manifest" + (files.size() == 1 ? "" : "s") + " (" +
                     std::to_string(snapshot.errors) + " error" + (snapshot.errors == 1 ? "" : "s");
  if (const size_t n = snapshot.unknown_field_errors; n > 0) {
    what += ", " + std::to_string(n) + " of them unknown field" + (n == 1 ? "" : "s") +
            ": correct them, or set spec.fieldValidation: Warn in the SyncConfig to apply them with a warning";
  }
  what += ")";
  if (!also.empty()) {
    what += "; and " + std::to_string(also.size()) + (also.size() == 1 ? " object" : " objects") +
            " into a namespace that does not exist or is being deleted";
  }
  std::function<void(Object&)> decorate;
  if (policy != nullptr && (!policy->set.policies.empty() || policy->invalid())) {
    // A malformed Policy is also the manifests' own error: said once.
    std::set<std::string> said;
    for (const Diagnostic& d : diagnostics) said.insert(d.ToString());
    for (const Diagnostic& d : policy->set.diagnostics) {
      if (said.insert(d.ToString()).second) diagnostics.push_back(d);
    }
    for (const Diagnostic& d : policy->verdict.Diagnostics()) diagnostics.push_back(d);
    if (policy->invalid()) {
      what += "; and an invalid Policy";
    } else if (policy->verdict.refused()) {
      what += "; and " + policy->verdict.Summary();
    }
    decorate = [policy](Object& record) { record.json()["status"]["policy"] = policy->ToJson(); };
  }
  SortDiagnostics(diagnostics);
  return WriteRefusal(ctx, "InvalidManifests", what, diagnostics, decorate);
}

Result<std::string> SyncController::Impl::WriteRefusal(PassContext& ctx, const std::string& reason,
                                                       const std::string& what,
                                                       const std::vector<Diagnostic>& diagnostics,
                                                       const std::function<void(Object&)>& decorate) {
  const std::string rev = ShortSha(ctx.head);
  int64_t seq;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    seq = index.NextSequence();
  }
  Object rec = NewRecord(ctx, seq);
  AddPhase(rec, "Fetched", ctx.fetched.started, ctx.fetched.duration);
  AddPhase(rec, "Validated", ctx.validated.started, ctx.validated.duration);
  std::string stays = ctx.live_commit.empty() ? "nothing is applied" : ShortSha(ctx.live_commit) + " stays live";
  SetPhase(rec, phase::kRefused, reason, what + "; nothing of it was applied, " + stays);
  SetDiagnostics(rec, diagnostics, kMaxRecordBytes - kRecordReserveBytes);
  if (decorate) decorate(rec);
  std::string message = "revision " + rev + " refused: " + what + "; " + stays;
  auto created = CreateRecord(std::move(rec));
  if (!created) return created.error();
  log::Warn(kSyncComponent, "refused", {{"rev", rev}, {"revision", created->name()}, {"reason", message}});
  Event(*created, true, reason, message);
  for (const Diagnostic& d : diagnostics) {
    if (d.severity != Severity::kError) continue;
    log::Info(kSyncComponent, "refused because", {{"rev", rev}, {"error", d.ToString()}});
  }
  SetRepositoryStatus([&](Json& st) {
    st["lastSyncTime"] = FormatRfc3339(clock->Now());
    st["lastSyncError"] = message;
  });
  MarkRequestHandled(ctx.request);
  WriteRepositoryStatus();
  SyncSettings settings;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    settings = live_settings;
  }
  EnforceHistoryLimit(settings, created->name());
  NoteRevertNotApplied(ctx, created->name(), reason, /*failed=*/false);
  return created->name();
}

void SyncController::Impl::NoteSkippedApplied(const PassContext& ctx, const std::string& revision) {
  if (ctx.since_live.empty()) return;
  const std::set<std::string> brought(ctx.since_live.begin(), ctx.since_live.end());
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    for (const auto& [seq, r] : index.records()) {
      if (r.phase == phase::kSkipped && r.name != revision && brought.count(r.commit) > 0) names.push_back(r.name);
    }
  }
  const std::string message =
      "applied with the commits after it by revision " + RevisionNumber(revision) + " (" + ShortSha(ctx.head) + ")";
  for (const std::string& name : names) {
    auto w = ChangeRecordStatus(name, [&](Json& st) {
      if (st.contains("appliedWith") || st.value("phase", "") != phase::kSkipped) return false;
      st["appliedWith"] = {{"revision", revision}, {"commit", ctx.head}};
      // The note of older commits skipped without a record stays.
      const std::string was = st.value("message", "");
      const size_t more = was.find("; ");
      st["message"] = message + (more == std::string::npos ? "" : was.substr(more));
      return true;
    });
    if (!w) {
      log::Warn(kSyncComponent, "cannot note that a skipped revision was applied",
                {{"revision", name}, {"error", w.error().message()}});
    }
  }
}

void SyncController::Impl::RecordSkipped(PassContext& ctx) {
  if (ctx.descends_from_live != true) return;  // nothing live, or a rewritten branch: nothing in between
  std::set<std::string> in_range(ctx.since_live.begin(), ctx.since_live.end());
  // The first-parent chain from the head back to the live commit: the
  // commits the branch itself went through (a merged branch's own commits
  // are not revisions of the followed branch).
  std::vector<gitsync::CommitInfo> chain;  // newest first
  const std::vector<std::string>* parents = &ctx.commit.parents;
  for (size_t walked = 0; walked < kMaxFirstParentWalk; ++walked) {
    if (parents->empty()) break;
    const std::string p = parents->front();
    if (p == ctx.live_commit || in_range.count(p) == 0) break;
    // A commit with a record (the refused head of an earlier pass, or one
    // recorded skipped then): what is older was looked at then, recorded or
    // counted in its note. Walking on would record 50 more of a long range
    // at each pass while its head stays refused.
    {
      std::lock_guard<std::mutex> lock(state_mu);
      if (index.HasCommit(p)) break;
    }
    auto c = mirror->Commit(p);
    if (!c) break;
    chain.push_back(std::move(*c));
    parents = &chain.back().parents;
  }
  std::vector<gitsync::CommitInfo> todo;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    for (auto& c : chain) {
      if (!index.HasCommit(c.id)) todo.push_back(std::move(c));
    }
  }
  if (todo.empty()) return;
  size_t more = todo.size() > kMaxSkippedRecords ? todo.size() - kMaxSkippedRecords : 0;
  todo.resize(std::min(todo.size(), kMaxSkippedRecords));
  std::reverse(todo.begin(), todo.end());  // oldest first: sequence numbers follow history
  int64_t seq;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    seq = index.NextSequence();
  }
  std::vector<state::BatchOp> ops;
  for (size_t i = 0; i < todo.size(); ++i) {
    PassContext skipped = ctx;
    skipped.commit = todo[i];
    Object rec = NewRecord(skipped, seq + static_cast<int64_t>(i));
    std::string msg = "superseded by " + ShortSha(ctx.head) + " before it was applied";
    if (i == 0 && more > 0) {
      msg += "; " + std::to_string(more) + " older first-parent commit" + (more == 1 ? "" : "s") + " since " +
             ShortSha(ctx.live_commit) + " were skipped without a record";
    }
    SetPhase(rec, phase::kSkipped, "Superseded", msg);
    state::BatchOp op;
    op.type = state::BatchOp::Type::kCreate;
    op.object = std::move(rec);
    ops.push_back(std::move(op));
  }
  auto r = client->Batch(ops);
  if (!r) {
    log::Warn(kSyncComponent, "cannot record the skipped commits",
              {{"rev", ShortSha(ctx.head)}, {"error", r.error().message()}});
    if (r.error().code() == Code::kAlreadyExists || r.error().code() == Code::kConflict) (void)LoadIndex();
    return;
  }
  std::lock_guard<std::mutex> lock(state_mu);
  for (const Object& item : r->items) {
    index.Put(item);
    log::Info(kSyncComponent, "skipped",
              {{"rev", ShortSha(item.spec().value("commit", ""))},
               {"revision", item.name()},
               {"supersededBy", ShortSha(ctx.head)}});
  }
  if (more > 0) {
    log::Info(kSyncComponent, "more commits skipped without a record",
              {{"rev", ShortSha(ctx.head)}, {"count", std::to_string(more)}});
  }
}

Status SyncController::Impl::MarkFailed(PassContext& ctx, const std::string& name, const std::string& message,
                                        const std::string& reason, const std::vector<Diagnostic>* diagnostics) {
  auto cur = client->Get(*revision_kind, "", name);
  if (!cur) return cur.error();
  Object rec = std::move(*cur);
  SetPhase(rec, phase::kFailed, reason, message);
  if (diagnostics != nullptr) SetDiagnostics(rec, *diagnostics, kMaxRecordBytes - kRecordReserveBytes);
  auto w = UpdateRecordStatus(rec);
  std::string stays = ctx.live_commit.empty() ? "nothing is applied" : ShortSha(ctx.live_commit) + " stays live";
  log::Warn(kSyncComponent, "apply failed", {{"rev", ShortSha(ctx.head)}, {"revision", name}, {"error", message}});
  Event(w ? *w : rec, true, reason.empty() ? "ApplyFailed" : reason,
        "revision " + ShortSha(ctx.head) + " failed to apply: " + message + "; " + stays);
  SetRepositoryStatus([&](Json& st) {
    st["lastSyncTime"] = FormatRfc3339(clock->Now());
    st["lastSyncError"] = "revision " + ShortSha(ctx.head) + " failed to apply: " + message + "; " + stays;
  });
  MarkRequestHandled(ctx.request);
  WriteRepositoryStatus();
  NoteRevertNotApplied(ctx, name, reason.empty() ? "ApplyFailed" : reason, /*failed=*/true);
  if (!w) return w.error();
  return Ok();
}

void SyncController::Impl::NoteRevertNotApplied(const PassContext& ctx, const std::string& name,
                                                const std::string& reason, bool failed) {
  std::string reverts = gitsync::ParseReverts(ctx.commit.message);
  if (reverts.empty()) return;
  std::optional<RecordInfo> target = RevertedRecord(reverts);
  if (!target) return;
  // The reverted record's revert note says its revert never went live: a
  // person reading `bosun status` must not take "pushed" for rolled back.
  auto w = ChangeRecordStatus(target->name, [&](Json& st) {
    Json& revert = st["revert"];
    if (!revert.is_object() || revert.value("commit", "") != ctx.commit.id) return false;
    revert["notApplied"] = {{"revision", name}, {"reason", reason}};
    revert["needsHuman"] = true;
    return true;
  });
  if (!w) {
    log::Warn(kSyncComponent, "cannot note on the reverted revision that its revert was not applied",
              {{"revision", target->name}, {"error", w.error().message()}});
  } else if (*w) {
    Event(**w, true, "RevertNotApplied",
          "its revert " + ShortSha(ctx.commit.id) + " was " + (failed ? "not applied" : "refused") + " (" + reason +
              ", revision " + name + "): the cluster is not rolled back; needs a human");
  }
}

void SyncController::Impl::LinkRevert(const PassContext& ctx) {
  std::string reverts = gitsync::ParseReverts(ctx.commit.message);
  if (reverts.empty()) return;
  std::optional<RecordInfo> reverted = RevertedRecord(reverts);
  if (!reverted) return;
  // The reverted record and, for a revert back to an earlier commit, the
  // applied records after that commit's (their changes are undone too).
  std::vector<RecordInfo> targets = {*reverted};
  if (const std::string back_to = gitsync::ParseRevertsTo(ctx.commit.message); !back_to.empty()) {
    std::lock_guard<std::mutex> lock(state_mu);
    std::vector<RecordInfo> between;
    bool found = false;
    for (auto it = index.records().rbegin(); it != index.records().rend() && !found; ++it) {
      const RecordInfo& r = it->second;
      if (r.sequence >= reverted->sequence || !IsAppliedPhase(r.phase)) continue;
      found = r.commit.compare(0, back_to.size(), back_to) == 0;
      if (!found && r.phase != phase::kReverted) between.push_back(r);
    }
    // Without the record gone back to (removed by the history limit),
    // where the range starts is not known: the reverted record alone.
    if (found) targets.insert(targets.end(), between.begin(), between.end());
  }
  for (const RecordInfo& target : targets) MarkReverted(ctx, target);
}

std::optional<RecordInfo> SyncController::Impl::RevertedRecord(const std::string& reverts) {
  std::lock_guard<std::mutex> lock(state_mu);
  for (auto it = index.records().rbegin(); it != index.records().rend(); ++it) {
    const RecordInfo& r = it->second;
    if (r.commit.compare(0, reverts.size(), reverts) == 0 && IsAppliedPhase(r.phase)) return r;
  }
  return std::nullopt;
}

void SyncController::Impl::MarkReverted(const PassContext& ctx, const RecordInfo& target) {
  auto w = ChangeRecordStatus(target.name, [&](Json& st) {
    st["revertedBy"] = ctx.head;
    // Reverted now: a note that its revert was not applied, or that a
    // person has to revert it (none was made), no longer holds.
    if (st.contains("revert") && st["revert"].is_object()) {
      Json& revert = st["revert"];
      if (!revert.contains("commit")) {
        st.erase("revert");
      } else {
        revert.erase("notApplied");
        revert.erase("needsHuman");
      }
    }
    // A Degraded revision keeps its reason (ImagePullFailed…); any other
    // says it was reverted instead of keeping "RollingOut" or "RolledOut".
    const std::string was = st.value("phase", "");
    const Json& degraded = st.contains("degraded") ? st["degraded"] : Json();
    if (was != phase::kDegraded && degraded.is_object() && !degraded.value("reason", "").empty()) {
      // Degraded before (then superseded, or recovered): that reason stays
      // what an auditor finds it by (`history --outcome CrashLoopBackOff`).
      st["reason"] = degraded.value("reason", "");
      st["message"] = "reverted by " + ShortSha(ctx.head) + " after it was degraded: " + degraded.value("message", "");
    } else if (was != phase::kDegraded) {
      st["reason"] = "Reverted";
      st["message"] = "reverted by " + ShortSha(ctx.head) +
                      (was == phase::kApplied || was == phase::kProgressing ? " before its rollout was judged"
                       : was == phase::kHealthy                             ? " after it was rolled out and healthy"
                                                                            : "");
    }
    st["phase"] = phase::kReverted;
    return true;
  });
  if (!w) {
    log::Warn(kSyncComponent, "cannot mark the reverted revision", {{"revision", target.name}});
    return;
  }
  log::Info(kSyncComponent, "linked a revert",
            {{"rev", ShortSha(ctx.head)}, {"reverted", ShortSha(target.commit)}, {"revision", target.name}});
}

void SyncController::Impl::EnforceHistoryLimit(const SyncSettings& settings, const std::string& just_written) {
  // A record revision health is not done with (Unsettled: still rolling out,
  // or failed and not reverted) is held beyond the limit: removing it would
  // lose the verdict, or the note of what a person has to revert. The index
  // keeps the phase a record had when the sync wrote it, so each chosen
  // record is read again. Held records do not count against the limit (the
  // newest N settled ones stay as well); at most kMaxHeld are held, the
  // newest.
  constexpr size_t kMaxHeld = 20;
  std::set<std::string> keep = {just_written};
  std::vector<std::string> held;  // oldest first
  size_t held_bytes = 0;          // of the held records still in `keep`
  auto over_limit = [&] {
    const size_t n = std::min(held.size(), kMaxHeld);
    return index.OverLimit(settings.history_limit == 0 ? 0 : settings.history_limit + n,
                           opt.history_max_bytes == 0 ? 0 : opt.history_max_bytes + held_bytes, keep);
  };
  std::set<std::string> checked;
  std::vector<std::string> victims;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    if (const RecordInfo* l = index.Live()) keep.insert(l->name);
    for (const RecordInfo& p : index.Pending()) keep.insert(p.name);
  }
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(state_mu);
      victims = over_limit();
    }
    bool more = false;
    for (const std::string& name : victims) {
      if (!checked.insert(name).second) continue;
      auto cur = client->Get(*revision_kind, "", name);
      if (!cur) {
        more = true;
        if (cur.error().code() != Code::kNotFound) {
          held.push_back(name);  // not known to be settled: left to the next sync
          keep.insert(name);
          continue;
        }
        std::lock_guard<std::mutex> lock(state_mu);
        index.Remove(name);
        continue;
      }
      {
        std::lock_guard<std::mutex> lock(state_mu);
        index.Put(*cur);
      }
      if (Unsettled(cur->status())) {
        held_bytes += InfoOf(*cur).bytes;
        held.push_back(name);
        keep.insert(name);
        more = true;
      }
    }
    if (!more) break;
  }
  if (held.size() > kMaxHeld) {
    std::sort(held.begin(), held.end());
    std::lock_guard<std::mutex> lock(state_mu);
    for (size_t i = 0; i + kMaxHeld < held.size(); ++i) {
      keep.erase(held[i]);
      for (const auto& [seq, r] : index.records()) {
        if (r.name == held[i]) held_bytes -= std::min(held_bytes, r.bytes);
      }
    }
    log::Warn(kSyncComponent, "history limit: more unsettled records than are held; removing the oldest",
              {{"unsettled", std::to_string(held.size())}, {"held", std::to_string(kMaxHeld)}});
    victims = over_limit();
  }
  if (!held.empty()) {
    log::Debug(kSyncComponent, "history limit: holding records still rolling out or left to a person",
               {{"count", std::to_string(std::min(held.size(), kMaxHeld))}, {"oldest", held.front()}});
  }
  if (victims.empty()) return;
  std::vector<state::BatchOp> ops;
  for (const std::string& name : victims) {
    state::BatchOp op;
    op.type = state::BatchOp::Type::kDelete;
    op.kind = revision_kind;
    op.name = name;
    ops.push_back(std::move(op));
  }
  auto r = client->Batch(ops);
  if (!r) {
    log::Warn(kSyncComponent, "cannot remove old Revision records", {{"error", r.error().message()}});
    if (r.error().code() == Code::kNotFound) (void)LoadIndex();
    return;
  }
  std::lock_guard<std::mutex> lock(state_mu);
  for (const std::string& name : victims) index.Remove(name);
  log::Info(kSyncComponent, "history limit: removed old records",
            {{"count", std::to_string(victims.size())}, {"oldest", victims.front()}, {"newest", victims.back()}});
}

}  // namespace bosun::reconciler
