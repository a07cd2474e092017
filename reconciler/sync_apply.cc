// Applying a valid desired set: the plan against the informer's cache (only
// the objects that can have changed are compared), then ONE batch with every
// write and the record's move to Applied (its status included: withStatus),
// so both commit together or not at all. The batch's short answer brings back
// only what the server set in each object; the rest is what we sent.
//
// The record's Applied phase is written by that same transaction, so its
// duration covers planning and building the batch, not the commit itself.
#include <unordered_set>

#include "core/ascii.h"
#include "core/log.h"
#include "reconciler/sync_internal.h"

namespace bosun::reconciler {
namespace {

using Ms = std::chrono::milliseconds;

// Above this many objects of one kind missing from the cache, one List of
// the kind is cheaper than a Get each.
constexpr size_t kListThreshold = 16;

bool Transient(Code c) {
  return c == Code::kUnavailable || c == Code::kTimeout || c == Code::kIo || c == Code::kInternal;
}

std::string Describe(const PlannedChange& c) {
  std::string kind = c.kind != nullptr ? c.kind->gvk.kind : c.object.kind();
  return kind + " " + (c.ns.empty() ? c.name : c.ns + "/" + c.name);
}

std::string Summary(const Plan& p, int extra_unchanged) {
  int unchanged = p.unchanged + extra_unchanged;
  if (p.empty()) return "no object changed (" + std::to_string(unchanged) + " unchanged)";
  return std::to_string(p.created) + " created, " + std::to_string(p.updated) + " updated, " +
         (p.replaced > 0 ? std::to_string(p.replaced) + " replaced, " : "") + std::to_string(p.deleted) + " deleted, " +
         std::to_string(unchanged) + " unchanged";
}

// "Job shop/migrate: spec.template: field is immutable: …; annotate it …",
// the first object's first field, and how many more.
std::string ImmutableMessage(const Plan& p) {
  std::string first;
  size_t objects = 0, more_fields = 0;
  for (const PlannedChange& c : p.changes) {
    if (c.action != PlannedChange::Action::kUpdate || c.immutable.empty()) continue;
    if (objects++ == 0) {
      first = Describe(c) + ": " + c.immutable.front().field + ": " + c.immutable.front().message;
      more_fields += c.immutable.size() - 1;
    } else {
      more_fields += c.immutable.size();
    }
  }
  std::string out = first;
  if (more_fields > 0) {
    out += " (and " + std::to_string(more_fields) + " more immutable field" + (more_fields == 1 ? "" : "s") +
           (objects > 1 ? " of " + std::to_string(objects) + " objects" : "") + ", listed in the errors)";
  }
  return out + "; " + ImmutableAdvice(objects);
}

}  // namespace

Result<SyncController::Impl::Planned> SyncController::Impl::PlanFor(
    const DesiredSnapshot& snapshot, const SyncSettings& settings, const std::string& revision,
    std::unordered_map<std::string, std::optional<Object>>* extra) {
  // Which desired objects can differ from what is live.
  std::unordered_set<std::string> keys;
  // Every object, too, when the fields the cluster owns changed: one no
  // longer owned is put back as the repository has it.
  if (all_dirty || !live || settings.ignore != live_settings.ignore) {
    keys.reserve(snapshot.by_key.size());
    for (const auto& [key, m] : snapshot.by_key) keys.insert(key);
  } else {
    for (const auto& [path, file] : snapshot.files) {
      auto lf = live->files.find(path);
      if (lf != live->files.end() && (lf->second == file || lf->second->blob == file->blob)) continue;
      for (const Manifest& m : file->objects) {
        std::string key = ManifestKey(m);
        if (!key.empty() && snapshot.Find(key) == &m) keys.insert(std::move(key));
      }
    }
    auto consider = [&](const std::string& key) {
      if (snapshot.Find(key) != nullptr) keys.insert(key);
    };
    for (const auto& k : dirty) consider(k);
    for (const auto& k : QueuedDrift()) consider(k);
    for (const auto& [k, v] : *extra) consider(k);
  }

  Planned out;
  std::vector<const Manifest*> desired;
  std::vector<Object> live_objects;
  desired.reserve(keys.size());
  std::map<const KindInfo*, std::vector<std::pair<std::string, const Manifest*>>> missing;
  for (const std::string& key : keys) {
    const Manifest* m = snapshot.Find(key);
    desired.push_back(m);
    if (auto e = extra->find(key); e != extra->end()) {
      if (e->second) live_objects.push_back(*e->second);
      continue;
    }
    if (auto o = informer->Get(key)) {
      live_objects.push_back(std::move(*o));
      continue;
    }
    // New, or there but not managed (yet): an unmanaged object of a desired
    // name is adopted, so it must be read.
    missing[ManifestKind(*m)].push_back({key, m});
  }
  for (const auto& [kind, list] : missing) {
    if (list.size() > kListThreshold) {
      std::unordered_map<std::string, Object> found;
      std::string cont;
      do {
        auto page = client->List(*kind, "", "", 1000, cont);
        if (!page) return page.error().Wrap("cannot list " + kind->QualifiedResource());
        for (Object& o : page->items) found.emplace(Informer::KeyOf(*kind, o), std::move(o));
        cont = page->continue_token;
      } while (!cont.empty());
      for (const auto& [key, m] : list) {
        auto it = found.find(key);
        if (it == found.end()) {
          (*extra)[key] = std::nullopt;
        } else {
          live_objects.push_back(it->second);
          (*extra)[key] = std::move(it->second);
        }
      }
      continue;
    }
    for (const auto& [key, m] : list) {
      std::string ns = kind->namespaced ? m->object.namespace_() : "";
      if (kind->namespaced && ns.empty()) ns = "default";
      auto got = client->Get(*kind, ns, m->object.name());
      if (!got && got.error().code() == Code::kNotFound) {
        (*extra)[key] = std::nullopt;
      } else if (!got) {
        return got.error();
      } else {
        live_objects.push_back(*got);
        (*extra)[key] = std::move(*got);
      }
    }
  }
  // Managed objects no longer desired: deleted with prune, else listed as
  // kept in the record.
  informer->ForEach([&](const std::string& key, const KindInfo&, const Object& o) {
    if (snapshot.Find(key) != nullptr) return;
    auto e = extra->find(key);
    if (e == extra->end()) {
      live_objects.push_back(o);
    } else if (e->second) {
      live_objects.push_back(*e->second);
    }
  });
  PlanOptions po;
  po.revision = revision;
  po.prune = settings.prune;
  po.used_namespaces = &snapshot.namespaces;  // `desired` is only what may have changed
  po.force = settings.force;
  po.ignore = settings.ignore;
  out.plan = PlanSyncRefs(desired, live_objects, po);
  out.extra_unchanged = static_cast<int>(snapshot.by_key.size() - desired.size());
  return out;
}

Status SyncController::Impl::Reread(const KindInfo& kind, const std::string& ns, const std::string& name,
                                    std::unordered_map<std::string, std::optional<Object>>* extra) {
  auto got = client->Get(kind, ns, name);
  std::string key = Informer::Key(kind, ns, name);
  if (got) {
    informer->Store(kind, *got);
    (*extra)[key] = std::move(*got);
  } else if (got.error().code() == Code::kNotFound) {
    informer->Forget(kind, ns, name, "");
    (*extra)[key] = std::nullopt;
  } else {
    return got.error();
  }
  return Ok();
}

void SyncController::Impl::DropOwnWritesFromDrift(const std::vector<std::string>& keys,
                                                  const std::string& resource_version) {
  // The batch's own watch events race its answer: those that reached the
  // cache before Store were reported as changes and queued drift checks of
  // objects that are exactly as the batch wrote them (10,000 for a first
  // sync, each a plan of one object, competing with the rest of the pass).
  // A key whose cached object is still at the batch's revision is ours; one
  // changed since has a later revision and stays queued.
  std::vector<std::string> queued;
  {
    std::lock_guard<std::mutex> lock(drift_mu);
    if (drift_queue.empty()) return;
    for (const auto& k : keys) {
      if (drift_queue.count(k) != 0) queued.push_back(k);
    }
  }
  std::vector<std::string> ours;
  for (const auto& k : queued) {
    auto cur = informer->Get(k);
    if (cur && cur->resource_version() == resource_version) ours.push_back(k);
  }
  std::lock_guard<std::mutex> lock(drift_mu);
  for (const auto& k : ours) drift_queue.erase(k);
}

Result<std::string> SyncController::Impl::Apply(PassContext& ctx, Object record,
                                                std::shared_ptr<const DesiredSnapshot> snapshot,
                                                const SyncSettings& settings) {
  const std::string rev = ShortSha(ctx.head);
  const std::string name = record.name();
  StepTiming applied;
  applied.started = clock->Now();
  const MonoTime t0 = clock->Monotonic();
  std::unordered_map<std::string, std::optional<Object>> extra;

  std::unique_lock<std::mutex> lock(state_mu);
  const std::string was_live = live_record;
  std::vector<DriftEntry> drift_put_back;  // closed on was_live's record once applied
  Planned planned;
  std::vector<state::BatchOp> ops;
  std::vector<const PlannedChange*> op_changes;  // ops[i] applies op_changes[i]; the record is last
  Object rec;
  Result<state::BatchResult> result = Error(Code::kInternal, "not applied");
  int64_t plan_ms = 0, batch_ms = 0;  // the last attempt's: planning and building the batch, then the batch
  // A revert undoes what its revision did, and that may have been a forced
  // replace (the commit that set bosun.dev/force and changed the Job's
  // template): the revert, which takes the annotation away again, must be
  // able to change the field back, or the failing revision would stay live.
  SyncSettings plan_settings = settings;
  if (!gitsync::ParseReverts(ctx.commit.message).empty()) plan_settings.force = true;
  for (int attempt = 0;; ++attempt) {
    auto p = PlanFor(*snapshot, plan_settings, ctx.head, &extra);
    if (!p) return p.error().Wrap("cannot read the live objects for revision " + rev);
    planned = std::move(*p);
    if (!planned.plan.ImmutableErrors().empty()) {
      // Judged from the cache, which may be behind (an object replaced by
      // hand a moment ago): read those objects and plan again before the
      // revision fails for them.
      for (const PlannedChange& c : planned.plan.changes) {
        if (c.action != PlannedChange::Action::kUpdate || c.immutable.empty()) continue;
        if (Status s = Reread(*c.kind, c.ns, c.name, &extra); !s) return s.error();
      }
      p = PlanFor(*snapshot, plan_settings, ctx.head, &extra);
      if (!p) return p.error().Wrap("cannot read the live objects for revision " + rev);
      planned = std::move(*p);
    }
    if (auto immutable = planned.plan.ImmutableErrors(); !immutable.empty()) {
      // The API would refuse these updates: fail the revision with every
      // one, before anything is written, and say how to let them through.
      lock.unlock();
      const std::string message = ImmutableMessage(planned.plan);
      for (const Diagnostic& d : snapshot->diagnostics) immutable.push_back(d);  // its warnings stay
      if (Status s = MarkFailed(ctx, name, message, "ImmutableFieldChanged", &immutable); !s) return s.error();
      return name;
    }
    // Objects this revision writes that its commits did not change (the live
    // revision has them as the head does): drift left by hand (self-heal
    // off, or suspended) that the apply puts back, not the commits' doing.
    std::set<std::string> put_back;  // "Kind/namespace/name"
    drift_put_back.clear();
    if (live) {
      for (PlannedChange& c : planned.plan.changes) {
        using A = PlannedChange::Action;
        if (c.action != A::kCreate && c.action != A::kUpdate && c.action != A::kReplace) continue;
        const std::string key = Informer::Key(*c.kind, c.ns, c.name);
        const Manifest* was = live->Find(key);
        const Manifest* now = snapshot->Find(key);
        if (was != nullptr && now != nullptr && was->object.json() == now->object.json()) {
          // Its bosun.dev/revision stays the commit that last applied it, as
          // self-heal leaves it: this revision's commits did not touch it.
          std::optional<Object> cur = informer ? informer->Get(key) : std::nullopt;
          c.object.set_annotation(kRevisionAnnotation,
                                  cur ? cur->annotation(kRevisionAnnotation).value_or(live->commit) : live->commit);
          put_back.insert(c.kind->gvk.kind + "/" + c.ns + "/" + c.name);
          DriftEntry e;
          e.kind = c.kind;
          e.ns = c.ns;
          e.name = c.name;
          e.healed = true;
          e.healed_by_revision = name;
          drift_put_back.push_back(std::move(e));
        }
      }
    }
    ops.clear();
    op_changes.clear();
    // The plan's objects move into the batch: after it, only the changes'
    // kind, name, path and diff are read (the record, the log).
    for (PlannedChange& c : planned.plan.changes) {
      state::BatchOp op;
      switch (c.action) {
        case PlannedChange::Action::kUnchanged:
          continue;
        case PlannedChange::Action::kCreate:
          op.type = state::BatchOp::Type::kCreate;
          op.object = std::move(c.object);
          break;
        case PlannedChange::Action::kUpdate:
          op.type = state::BatchOp::Type::kUpdate;
          op.object = std::move(c.object);
          break;
        case PlannedChange::Action::kReplace:
          op.type = state::BatchOp::Type::kReplace;
          op.object = std::move(c.object);
          break;
        case PlannedChange::Action::kDelete:
          op.type = state::BatchOp::Type::kDelete;
          op.kind = c.kind;
          op.ns = c.ns;
          op.name = c.name;
          op.precondition_rv = c.object.resource_version();
          break;
      }
      ops.push_back(std::move(op));
      op_changes.push_back(&c);
    }
    rec = record;
    rec.set_annotation(kAppliedAtAnnotation, FormatRfc3339(clock->Now()));
    SetPhase(rec, phase::kApplied, planned.plan.empty() ? "NoChanges" : "Applied",
             Summary(planned.plan, planned.extra_unchanged));
    SetChanges(rec, planned.plan, planned.extra_unchanged, kMaxRecordBytes - kRecordReserveBytes);
    if (!put_back.empty()) {
      for (Json& o : rec.json()["status"]["objects"]) {
        if (put_back.count(o.value("kind", "") + "/" + o.value("namespace", "") + "/" + o.value("name", ""))) {
          o["driftPutBack"] = true;
        }
      }
    }
    rec.json()["status"]["appliedAt"] = FormatRfc3339(clock->Now());
    applied.duration = std::chrono::duration_cast<Ms>(clock->Monotonic() - t0);
    Object with_phase = rec;
    AddPhase(with_phase, "Applied", applied.started, applied.duration);
    state::BatchOp rec_op;
    rec_op.type = state::BatchOp::Type::kUpdate;
    rec_op.object = std::move(with_phase);
    rec_op.with_status = true;
    ops.push_back(std::move(rec_op));

    // Over HTTP the short answer: the objects are ours; only the fields the
    // server set come back, and Batch puts them into our objects. In `bosun
    // server` the batch goes to the API in-process (ClientOptions::
    // local_batch) and the objects come back whole. Either way they move
    // into the answer's items (and from there into the cache): after this
    // only op_changes says what each op was.
    const MonoTime batch_start = clock->Monotonic();
    plan_ms = std::chrono::duration_cast<Ms>(batch_start - t0).count();
    result = client->Batch(std::move(ops), state::BatchAnswer::kShort);
    batch_ms = std::chrono::duration_cast<Ms>(clock->Monotonic() - batch_start).count();
    if (result) break;
    const Code code = result.error().code();
    if ((code == Code::kConflict || code == Code::kAlreadyExists || code == Code::kNotFound) && attempt < 2) {
      // Someone wrote one of the objects since the cache saw it: read them
      // again, and plan again.
      log::Info(kSyncComponent, "batch conflict; planning again",
                {{"rev", rev}, {"revision", name}, {"error", result.error().message()}});
      for (const PlannedChange* c : op_changes) {
        if (c->kind == nullptr) continue;
        if (Status s = Reread(*c->kind, c->ns, c->name, &extra); !s) return s.error();
      }
      auto fresh = client->Get(*revision_kind, "", name);
      if (!fresh) return fresh.error().Wrap("cannot read Revision " + name);
      record = std::move(*fresh);
      continue;
    }
    if (Transient(code)) {
      // The batch may or may not have committed: the next pass reads the
      // record to know, and drift checks wait until then.
      uncertain = true;
      return result.error().Wrap("revision " + rev + ": the apply's outcome is not known yet");
    }
    lock.unlock();
    if (Status s = MarkFailed(ctx, name, result.error().message()); !s) return s.error();
    return name;
  }

  const Ms since_fetch = std::chrono::duration_cast<Ms>(clock->Monotonic() - ctx.fetch_done);
  // Committed: the cache learns our writes (so their watch events are not
  // taken for drift), and the snapshot becomes the live one.
  Object stored = result->items.back();
  std::vector<std::string> written;  // keys of the objects the batch put
  written.reserve(op_changes.size());
  for (size_t i = 0; i < op_changes.size() && i < result->items.size(); ++i) {
    const PlannedChange& c = *op_changes[i];
    if (c.kind == nullptr) continue;
    if (c.action == PlannedChange::Action::kDelete) {
      informer->Forget(*c.kind, c.ns, c.name, result->resource_version);
    } else {
      written.push_back(Informer::KeyOf(*c.kind, result->items[i]));
      informer->Store(*c.kind, std::move(result->items[i]));
    }
  }
  DropOwnWritesFromDrift(written, result->resource_version);
  const int64_t cache_ms =
      std::chrono::duration_cast<Ms>(clock->Monotonic() - t0).count() - plan_ms - batch_ms;  // this, since the batch
  live = snapshot;
  live_record = name;
  live_settings = settings;
  dirty.clear();
  all_dirty = false;
  index.Put(stored);
  lock.unlock();

  applied.duration = std::chrono::duration_cast<Ms>(clock->Monotonic() - t0);
  if (!stored.status().is_object() || stored.status().value("phase", "") != phase::kApplied) {
    // The batch's update kept the record's old status (a leader that does
    // not know withStatus, during an upgrade): write it now. The marker
    // annotation, committed with the objects, already says it is applied.
    rec.json()["metadata"]["resourceVersion"] = stored.resource_version();
    rec.json()["metadata"]["annotations"] = stored.json()["metadata"]["annotations"];
    AddPhase(rec, "Applied", applied.started, applied.duration);
    auto w = UpdateRecordStatus(rec);
    if (!w)
      log::Warn(kSyncComponent, "cannot write the record's status",
                {{"revision", name}, {"error", w.error().message()}});
  }

  SetRepositoryStatus([&](Json& st) {
    st["liveRevision"] = ctx.head;
    st["liveRevisionName"] = name;
    st["liveResourceVersion"] = result->resource_version;  // what revision health judges by
    st["lastSyncTime"] = FormatRfc3339(clock->Now());
    st["lastSyncError"] = "";
    st["syncConfig"] = SettingsJson(settings);
  });
  MarkRequestHandled(ctx.request);
  WriteRepositoryStatus();
  // The per-object lines are written once the revision is live (the status
  // tells first): the first 20 at info, the rest at debug, as a first sync
  // of 10,000 objects would drown the log (the record lists them all).
  constexpr size_t kObjectLines = 20;
  size_t changed = 0;
  for (const PlannedChange& c : planned.plan.changes) {
    if (c.action == PlannedChange::Action::kUnchanged) continue;
    if (++changed <= kObjectLines) {
      log::Info(kSyncComponent, ActionName(c.action), {{"rev", rev}, {"object", Describe(c)}, {"path", c.path}});
    } else {
      log::Debug(kSyncComponent, ActionName(c.action), {{"rev", rev}, {"object", Describe(c)}, {"path", c.path}});
    }
  }
  if (changed > kObjectLines) {
    log::Info(kSyncComponent, "and more objects (each at debug level; `bosun history show` lists them)",
              {{"rev", rev}, {"more", std::to_string(changed - kObjectLines)}});
  }
  log::Info(kSyncComponent, planned.plan.empty() ? "applied: no changes" : "applied",
            {{"rev", rev},
             {"revision", name},
             {"trigger", TriggerName(ctx.why)},
             {"changes", Summary(planned.plan, planned.extra_unchanged)},
             {"applyMs", std::to_string(applied.duration.count())},
             {"planMs", std::to_string(plan_ms)},
             {"batchMs", std::to_string(batch_ms)},
             {"cacheMs", std::to_string(cache_ms)},
             {"sinceFetchMs", std::to_string(since_fetch.count())}});
  {
    const std::string subject = CommitSubject(ctx.commit.message);
    Event(stored, false, planned.plan.empty() ? "NoChanges" : "Applied",
          "revision " + rev + " (\"" + subject + "\") applied: " + Summary(planned.plan, planned.extra_unchanged));
  }
  LinkRevert(ctx);
  NoteSkippedApplied(ctx, name);
  if (!drift_put_back.empty() && !was_live.empty() && was_live != name) {
    // The drift the live revision's record holds open is closed: put back
    // by this apply.
    std::vector<std::pair<std::string, DriftEntry>> closed;
    for (DriftEntry& e : drift_put_back) {
      e.detected_at = e.healed_at = clock->Now();
      closed.emplace_back(was_live, std::move(e));
    }
    FlushDrift(closed);
  }
  EnforceHistoryLimit(settings, name);
  return name;
}

}  // namespace bosun::reconciler
