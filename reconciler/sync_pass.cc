// One fetch-and-sync pass: fetch, decide what the head commit needs (nothing,
// a refusal, an apply, or the resumption of an apply a crash interrupted),
// load and validate its desired set, and hand it to Apply.
#include "core/log.h"
#include "reconciler/sync_internal.h"
#include "reconciler/sync_policy.h"

namespace bosun::reconciler {
namespace {

using Ms = std::chrono::milliseconds;

Ms Since(MonoTime t, const Clock& c) {
  return std::chrono::duration_cast<Ms>(c.Monotonic() - t);
}

}  // namespace

Status SyncController::Impl::LoadIndex() {
  RevisionIndex fresh;
  std::string cont;
  do {
    auto page = client->List(*revision_kind, "", "", 100, cont);
    if (!page) return page.error().Wrap("cannot list the Revision records");
    for (const Object& r : page->items) fresh.Put(r);
    cont = page->continue_token;
  } while (!cont.empty());
  std::lock_guard<std::mutex> lock(state_mu);
  index = std::move(fresh);
  return Ok();
}

Status SyncController::Impl::Setup() {
  if (!repo_ready) {
    if (Status s = EnsureRepository(); !s) return s;
    repo_ready = true;
  }
  if (!setup_done) {
    if (Status s = LoadIndex(); !s) return s;
    setup_done = true;
  }
  Informer* inf = nullptr;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    if (!informer) {
      std::string selector = std::string(kManagedByLabel) + "=" + kManagedByValue;
      informer = std::make_unique<Informer>(client, ManageableKinds(), selector,
                                            [this](const std::string& key) { EnqueueDrift(key); });
    }
    inf = informer.get();
  }
  // Not under state_mu: the watches' first events go through EnqueueDrift.
  if (Status s = inf->Start(opt.watch_start_timeout, &stopping); !s) return s;
  StartDrift();
  StartRepositoryWatch();
  return Ok();
}

Status SyncController::Impl::ResolvePending(const std::string& head) {
  std::vector<RecordInfo> todo;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    for (const auto& [seq, r] : index.records()) {
      if (r.phase == phase::kValidated) todo.push_back(r);
    }
  }
  // Newest first: of several records of the head (there should be one), the
  // newest is resumed and the others are skipped.
  bool kept = false;
  for (auto it = todo.rbegin(); it != todo.rend(); ++it) {
    auto rec = client->Get(*revision_kind, "", it->name);
    if (!rec && rec.error().code() == Code::kNotFound) {
      std::lock_guard<std::mutex> lock(state_mu);
      index.Remove(it->name);
      continue;
    }
    if (!rec) return rec.error().Wrap("cannot read Revision " + it->name);
    RecordInfo info = InfoOf(*rec);
    Object next = *rec;
    std::string what;
    if (info.phase != phase::kValidated) {
      // Finished meanwhile (the batch carried its status).
    } else if (info.applied_marker) {
      // The batch committed (objects and the marker together) but the status
      // write after it did not happen: finish it, apply nothing again.
      SetPhase(next, phase::kApplied, "Applied", "applied; the record was completed after a restart");
      next.json()["status"]["appliedAt"] = next.annotation(kAppliedAtAnnotation).value_or("");
      what = "finished an applied revision's record";
    } else if (info.commit != head || kept) {
      SetPhase(
          next, phase::kSkipped, "Superseded",
          "superseded by " + ShortSha(head) + " before it was applied (interrupted by a restart or a leader change)");
      what = "skipped a revision left unapplied";
    } else {
      kept = true;
    }
    if (!what.empty()) {
      auto w = UpdateRecordStatus(next);
      if (!w) return w.error().Wrap("cannot update Revision " + it->name);
      next = std::move(*w);
      log::Info(kSyncComponent, what, {{"rev", ShortSha(info.commit)}, {"revision", info.name}});
    }
    std::lock_guard<std::mutex> lock(state_mu);
    index.Put(next);
  }
  std::lock_guard<std::mutex> lock(state_mu);
  uncertain = false;
  return Ok();
}

void SyncController::Impl::EnsureLiveSnapshot() {
  std::string commit, name;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    const RecordInfo* l = index.Live();
    if (l == nullptr) {
      live.reset();
      live_record.clear();
      return;
    }
    if (live && live->commit == l->commit) {
      live_record = l->name;
      return;
    }
    if (!SamePath(*l)) {
      // Read from another folder (the server's --path changed): this
      // folder's manifests at that commit are not what is live, and drift
      // against them would "put back" what was never applied. Drift is
      // checked again once a revision of this folder is applied (the next
      // pass applies the head).
      if (live_record != l->name) {
        log::Info(kSyncComponent, "the followed folder changed; drift is not checked until a revision of it is applied",
                  {{"live", l->name}, {"from", l->source.path}, {"to", source.path}});
      }
      live.reset();
      live_record = l->name;
      return;
    }
    commit = l->commit;
    name = l->name;
  }
  auto snap = loader->Load(commit);
  // Unreadable: a damaged mirror is made again (a fetch), and read again.
  if (!snap && RepairMirror("reading the live revision " + ShortSha(commit))) snap = loader->Load(commit);
  // Drift the record holds open, which another leader may have seen happen:
  // put back by hand, it is closed (CheckDrift), as if seen here.
  std::vector<std::string> open_drift;
  if (auto rec = client->Get(*revision_kind, "", name)) open_drift = OpenDriftKeys(*rec);
  std::vector<std::string> keys;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    if (!snap || !(*snap)->applied_ok()) {
      log::Warn(kSyncComponent, "cannot read the live revision's manifests; drift is not checked until the next apply",
                {{"rev", ShortSha(commit)}, {"error", snap ? (*snap)->path_error : snap.error().message()}});
      live.reset();
      live_record = name;
      all_dirty = true;
      return;
    }
    live = *snap;
    live_record = name;
    live_settings = SettingsFor(live.get(), opt);
    all_dirty = true;
    for (const auto& [key, m] : live->by_key) keys.push_back(key);
    for (const auto& key : open_drift) dirty.insert(key);
  }
  // Every object is checked once against the revision now known live: drift
  // that happened while no controller was watching is found too.
  if (informer) informer->ForEach([&](const std::string& key, const KindInfo&, const Object&) { keys.push_back(key); });
  for (const auto& k : keys) EnqueueDrift(k);
}

void SyncController::Impl::NoteFetch(const std::string& error) {
  FetchFailures& f = fetch_failures;
  const MonoTime now = clock->Monotonic();
  if (error.empty()) {
    if (f.count > 0) {
      log::Info(kSyncComponent, "fetch works again",
                {{"repo", source.url}, {"failures", std::to_string(f.count)}, {"since", FormatRfc3339(f.since)}});
    }
    f = FetchFailures{};
    return;
  }
  if (f.count == 0) f.since = clock->Now();
  ++f.count;
  // A remote that is down fails at every interval (each minute by default):
  // one warning when it starts, another when the error changes, and a
  // reminder every kFetchWarnEvery; the ones between are at debug level.
  const bool changed = error != f.error;
  if (f.count == 1 || changed || now - f.warned >= kFetchWarnEvery) {
    log::Warn(kSyncComponent, f.count == 1 ? "fetch failed" : "fetch still failing",
              {{"repo", source.url},
               {"error", error},
               {"failures", std::to_string(f.count)},
               {"since", FormatRfc3339(f.since)}});
    f.warned = now;
  } else {
    log::Debug(kSyncComponent, "fetch failed",
               {{"repo", source.url}, {"error", error}, {"failures", std::to_string(f.count)}});
  }
  f.error = error;
}

Status SyncController::Impl::ReadSuspend() {
  auto repo = client->Get(*repo_kind, "", kRepositoryName);
  if (!repo) return repo.error().Wrap("cannot read the GitRepository");
  // Only ever to suspend: a resume is the watch's to see (it also checks
  // the drift left meanwhile again).
  if (RepositorySuspended(*repo)) {
    suspended = true;
    RecordSuspension(*repo);
  }
  return Ok();
}

void SyncController::Impl::NoteLive(Json& st, const std::string& commit, const std::string& name) {
  if (commit.empty()) return;
  // The store revision it was written at is known only to the pass that
  // applied it: a record found live otherwise (a pass that crashed after
  // its commit) has none.
  if (st.value("liveRevisionName", "") != name) {
    st.erase("liveResourceVersion");
    // The pass that applied it stopped before it said so (the status still
    // had the revision before, or none): this pass's is the last sync.
    st["lastSyncTime"] = FormatRfc3339(clock->Now());
  }
  st["liveRevision"] = commit;
  st["liveRevisionName"] = name;
}

Result<std::string> SyncController::Impl::Suspended(PassContext& ctx) {
  // `bosun suspend`: the head is fetched (status.head says what waits),
  // nothing is applied, and a sync request is answered as such.
  log::Debug(kSyncComponent, "suspended: not applying",
             {{"rev", ShortSha(ctx.head)}, {"trigger", TriggerName(ctx.why)}});
  std::string commit, name;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    if (const RecordInfo* l = index.Live()) commit = l->commit, name = l->name;
  }
  SetRepositoryStatus([&](Json& st) {
    st["suspended"] = true;
    NoteLive(st, commit, name);
  });
  MarkRequestHandled(ctx.request);
  WriteRepositoryStatus();
  return std::string();
}

Status SyncController::Impl::HoldForConflict(const PassContext& ctx, const std::string& why) {
  if (why != conflict_said) {
    log::Error(kSyncComponent, "not syncing: the members disagree on what to follow", {{"problem", why}});
    conflict_said = why;
  }
  held_for_conflict.store(true);
  auto cur = client->Get(*repo_kind, "", kRepositoryName);
  if (!cur)
    return cur.error().code() == Code::kNotFound ? Ok() : Status(cur.error().Wrap("cannot read the GitRepository"));
  {
    // What was answered before (by another leader) is not taken for new
    // when the watch below first sees the object.
    const Json& handled = Object::Field(cur->status(), "lastHandledSyncRequest");
    std::lock_guard<std::mutex> lock(repo_mu);
    if (last_handled.empty() && handled.is_string()) last_handled = handled.get<std::string>();
  }
  // A `bosun sync` meanwhile gets this answer, not its time-out.
  StartRepositoryWatch();
  const std::string message = kConflictPrefix + why;
  std::string req = cur->annotation(kSyncRequestedAnnotation).value_or("");
  if (req.empty()) req = ctx.request;
  SetRepositoryStatus([&](Json& st) { st["lastSyncError"] = message; });
  MarkRequestHandled(req);
  Object next = *cur;
  Json& st = next.json()["status"];
  if (!st.is_object()) st = Json::object();
  if (st.value("lastSyncError", "") == message && (req.empty() || st.value("lastHandledSyncRequest", "") == req)) {
    return Ok();
  }
  st["lastSyncError"] = message;
  if (!req.empty()) st["lastHandledSyncRequest"] = req;
  auto r = client->UpdateStatus(next);
  if (!r) return r.error().Wrap("cannot write the GitRepository status");
  return Ok();
}

Result<std::string> SyncController::Impl::Pass(SyncTrigger why) {
  std::lock_guard<std::mutex> pass_lock(pass_mu);
  if (stopping.load()) return Error(Code::kUnavailable, "the sync controller is stopping");
  PassContext ctx;
  ctx.why = why;
  ctx.request = CurrentRequest();
  if (opt.source_conflict) {
    if (auto conflict = opt.source_conflict()) {
      if (Status s = HoldForConflict(ctx, *conflict); !s) return s.error();
      return std::string();
    }
    if (!conflict_said.empty()) {
      log::Info(kSyncComponent, "the members agree on what to follow again: syncing");
      conflict_said.clear();
      held_for_conflict.store(false);
      SetRepositoryStatus([](Json& st) {
        if (st.value("lastSyncError", "").rfind(kConflictPrefix, 0) == 0) st["lastSyncError"] = "";
      });
    }
  }
  if (Status s = Setup(); !s) return s.error();
  // What asked meanwhile (a request or a webhook seen by Setup, which a
  // first pass after a start or a leader change would otherwise take over):
  // this pass is it, rather than one more after.
  {
    std::lock_guard<std::mutex> lock(loop_mu);
    if (pending_trigger && TriggerWeight(*pending_trigger) > TriggerWeight(why)) {
      why = *pending_trigger;
      pending_trigger.reset();
    }
  }
  ctx.why = why;
  if (ctx.request.empty()) ctx.request = CurrentRequest();

  // Fetch.
  ctx.fetched.started = clock->Now();
  MonoTime t0 = clock->Monotonic();
  auto fetched = Fetch();
  if (stopping.load()) return Error(Code::kUnavailable, "the sync controller is stopping");
  ctx.fetch_done = clock->Monotonic();
  ctx.fetched.duration = std::chrono::duration_cast<Ms>(ctx.fetch_done - t0);
  std::string fetch_error = fetched ? "" : fetched.error().message();
  NoteFetch(fetch_error);
  if (fetched) {
    ctx.head = *fetched;
  } else {
    auto h = mirror->Head();
    if (h) ctx.head = *h;
  }
  SetRepositoryStatus([&](Json& st) {
    st.erase("fetchingSince");
    st["lastFetchTime"] = FormatRfc3339(clock->Now());
    st["lastFetchError"] = fetch_error;
    if (!ctx.head.empty()) st["head"] = ctx.head;
  });
  if (ctx.head.empty()) {
    // Never fetched (a branch that does not exist, a remote down since the
    // start): a `bosun sync` waiting on this request gets the error now,
    // as it does once a fetch has worked, not at its time-out.
    MarkRequestHandled(ctx.request);
    WriteRepositoryStatus();
    return fetched.error();
  }

  // What is live, and what a previous pass left half done (records only:
  // this is done while suspended too, so drift is checked against the live
  // revision and an interrupted apply's record is settled).
  if (Status s = ResolvePending(ctx.head); !s) return s.error();
  EnsureLiveSnapshot();
  if (suspended.load()) return Suspended(ctx);
  SetRepositoryStatus([&](Json& st) { st.erase("suspended"); });
  if (resumed.exchange(false)) {
    // Drift recorded and left while suspended: healed now (with self-heal).
    std::vector<std::string> left;
    {
      std::lock_guard<std::mutex> lock(state_mu);
      left.assign(dirty.begin(), dirty.end());
    }
    for (const auto& k : left) EnqueueDrift(k);
  }
  std::optional<RecordInfo> pending, last, live_info;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    if (const RecordInfo* l = index.Live()) {
      ctx.live_commit = l->commit;
      live_info = *l;
    }
    for (const RecordInfo& r : index.Pending()) {
      if (r.commit == ctx.head) pending = r;
    }
    if (const RecordInfo* a = index.LastAttempt()) last = *a;
  }
  const std::string rev = ShortSha(ctx.head);
  // The server follows another folder, ref or repository than the live
  // revision was read from (a restart with a new --path): the head is
  // applied again as a new revision, and a refusal or failure under the old
  // source does not count for the new one.
  if (live_info && live_info->has_source &&
      (!SamePath(*live_info) || !SameRef(*live_info) || live_info->source.url != source.url)) {
    ctx.source_changed_from = live_info->source;
    ctx.ref_changed = !SameRef(*live_info);
  }
  const bool last_same_source = last && SamePath(*last);
  if (!pending) {
    std::string why_not;
    if (ctx.head == ctx.live_commit && SamePath(*live_info)) {
      why_not = "already live";
    } else if (last_same_source && last->commit == ctx.head && last->phase == phase::kRefused &&
               !RefusalLifted(*last)) {
      why_not = "already refused (revision " + last->name + ")";
    } else if (last_same_source && last->commit == ctx.head && last->phase == phase::kFailed &&
               why != SyncTrigger::kManual) {
      why_not = "its apply failed (revision " + last->name + "); `bosun sync` retries it";
    }
    if (!why_not.empty()) {
      log::Debug(kSyncComponent, "nothing to do", {{"rev", rev}, {"reason", why_not}, {"trigger", TriggerName(why)}});
      if (why == SyncTrigger::kManual && ctx.head == ctx.live_commit) HealDriftOnRequest();
      std::string live_name;
      Json settings;
      {
        std::lock_guard<std::mutex> lock(state_mu);
        if (const RecordInfo* l = index.Live()) live_name = l->name;
        settings = SettingsJson(live_settings);
      }
      SetRepositoryStatus([&](Json& st) {
        NoteLive(st, ctx.live_commit, live_name);
        st["syncConfig"] = settings;
      });
      MarkRequestHandled(ctx.request);
      WriteRepositoryStatus();
      return std::string();
    }
  }

  // Load and validate (only the files changed since the last load are read).
  ctx.validated.started = clock->Now();
  MonoTime t1 = clock->Monotonic();
  LoadStats stats;
  auto snapshot = loader->Load(ctx.head, &stats);
  if (!snapshot) return snapshot.error().Wrap("cannot read commit " + rev);
  auto commit = mirror->Commit(ctx.head);
  if (!commit) return commit.error().Wrap("cannot read commit " + rev);
  ctx.commit = std::move(*commit);
  ctx.validated.duration = Since(t1, *clock);
  log::Info(kSyncComponent, "loaded",
            {{"rev", rev},
             {"trigger", TriggerName(why)},
             {"files", std::to_string(stats.files_total)},
             {"reread", std::to_string(stats.files_read)},
             {"objects", std::to_string((*snapshot)->objects)},
             {"errors", std::to_string((*snapshot)->errors)}});
  SyncSettings settings = SettingsFor(snapshot->get(), opt);
  if (!ctx.live_commit.empty() && ctx.live_commit != ctx.head) {
    auto d = mirror->IsAncestor(ctx.live_commit, ctx.head);
    if (d) ctx.descends_from_live = *d;
    if (d && *d) {
      auto range = mirror->CommitsBetween(ctx.live_commit, ctx.head);
      if (range) {
        ctx.since_live = std::move(*range);
      } else {
        log::Warn(kSyncComponent, "cannot list the commits since the live one", {{"error", range.error().message()}});
        ctx.descends_from_live.reset();
      }
    }
    if (d && !*d && ctx.ref_changed) {
      log::Info(kSyncComponent, "the followed ref changed: the live commit is not in the new ref's history",
                {{"rev", rev},
                 {"live", ShortSha(ctx.live_commit)},
                 {"from", ctx.source_changed_from->ref},
                 {"to", source.ref}});
    } else if (d && !*d) {
      log::Warn(kSyncComponent, "the followed branch was rewritten: the live commit is not in the new head's history",
                {{"rev", rev}, {"live", ShortSha(ctx.live_commit)}, {"repo", source.url}});
    }
  }
  if (!pending) RecordSkipped(ctx);
  // TRUST HOOK 1 (issue 7, sync_verify.cc): signature verification per
  // settings.verify goes here, before anything of the revision is trusted
  // (its SyncConfig and Policies included); a refusal returns WriteRefusal.
  if (auto refused = VerifySignatures(ctx, settings)) return std::move(*refused);
  // TRUST HOOK 2 (issue 7, sync_policy.cc): the revision's Policies are
  // evaluated on its whole desired set here; an enforced violation returns
  // WriteRefusal, warnings go into the record written below. With invalid
  // manifests, on the objects that loaded: the refusal lists both.
  PolicyCheck policy = CheckPolicies(**snapshot, opt.path, settings.field_validation);
  if (!(*snapshot)->ok()) {
    // Every error at once: also the objects the API would refuse for a
    // namespace that does not exist (best effort: an invalid namespace name
    // is the manifests' own error already).
    std::vector<Diagnostic> also;
    if (!pending && (*snapshot)->path_error.empty()) {
      auto missing = MissingNamespacesOf(**snapshot);
      if (missing && !missing->empty()) also = missing->diagnostics;
      if (!missing) {
        log::Warn(kSyncComponent, "cannot look up the revision's namespaces; refused for its manifests alone",
                  {{"rev", rev}, {"error", missing.error().message()}});
      }
    }
    return WriteRefused(ctx, **snapshot, also, &policy);
  }
  if (policy.refuses()) return RefuseByPolicy(*this, ctx, policy);
  // Not for a pending record (an interrupted apply of this commit): its
  // objects may be in already, and ResolvePending settles it.
  if (!pending) {
    auto missing = MissingNamespacesOf(**snapshot);
    if (!missing) return missing.error();
    if (!missing->empty()) {
      auto decorate = [&](Object& record) {
        record.json()["status"]["missingNamespaces"] = Json(missing->namespaces);
        if (!missing->terminating.empty()) {
          record.json()["status"]["terminatingNamespaces"] = Json(missing->terminating);
        }
      };
      return WriteRefusal(ctx, "MissingNamespace", missing->Summary(), missing->diagnostics, decorate);
    }
    // A revision with nothing but bosun's own settings (the followed folder
    // emptied, its files moved elsewhere) would prune every object: refused,
    // unless its SyncConfig says that is meant (Argo CD's allowEmpty).
    size_t live_objects = 0;
    {
      std::lock_guard<std::mutex> lock(state_mu);
      if (live) live_objects = WorkloadObjects(*live);
    }
    if (!live && !ctx.live_commit.empty() && informer) {
      // No snapshot of what is live (the followed folder changed, or it
      // could not be read): the managed objects in the store count.
      informer->ForEach([&](const std::string&, const KindInfo& kind, const Object&) {
        if (!IsSettingsKind(kind.gvk)) ++live_objects;
      });
    }
    if (settings.prune && !settings.allow_empty && live_objects > 0 && WorkloadObjects(**snapshot) == 0) {
      Diagnostic d;
      d.file = source.path;
      d.message = NoManifestsMessage(source.path, live_objects);
      return WriteRefusal(ctx, "NoManifests", d.message, {d});
    }
  }

  // A suspension that came while this pass loaded the revision: asked the
  // API, not the watch, since the engineer's first change by hand may be
  // coming right after `bosun suspend` returned.
  if (Status s = ReadSuspend(); !s) return s.error();
  if (suspended.load()) return Suspended(ctx);

  Object record;
  if (pending) {
    auto r = client->Get(*revision_kind, "", pending->name);
    if (!r) return r.error().Wrap("cannot read Revision " + pending->name);
    record = std::move(*r);
    log::Info(kSyncComponent, "resuming an interrupted apply", {{"rev", rev}, {"revision", pending->name}});
  } else {
    int64_t seq;
    {
      std::lock_guard<std::mutex> lock(state_mu);
      seq = index.NextSequence();
    }
    Object fresh = NewRecord(ctx, seq);
    AddPhase(fresh, "Fetched", ctx.fetched.started, ctx.fetched.duration);
    AddPhase(fresh, "Validated", ctx.validated.started, ctx.validated.duration);
    SetPhase(fresh, phase::kValidated, "Validated",
             std::to_string((*snapshot)->objects) + " objects in " + std::to_string((*snapshot)->files.size()) +
                 " files are valid; applying");
    SetDiagnostics(fresh, (*snapshot)->diagnostics, kMaxRecordBytes - kRecordReserveBytes);
    RecordPolicyCheck(fresh, **snapshot, policy);
    auto created = CreateRecord(std::move(fresh));
    if (!created) return created.error();
    record = std::move(*created);
  }
  if (opt.before_apply) {
    if (Status s = opt.before_apply(record.name()); !s) return s.error();
  }
  return Apply(ctx, std::move(record), *snapshot, settings);
}

}  // namespace bosun::reconciler
