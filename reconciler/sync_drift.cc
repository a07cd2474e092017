// Drift: a managed object changed (or deleted) through the API while a
// revision is live. The informer reports every change that is not our own
// write; a worker compares the object with the live revision's desired one
// (a plan of one object, docs/GITOPS.md "Desired vs live"), records what
// differs in the live Revision's status.drift, and with selfHeal writes the
// desired object back. The input is a key, never an event: the worker reads
// the cache's current object, so a burst of changes is one check.
#include <algorithm>

#include "core/log.h"
#include "reconciler/sync_internal.h"

namespace bosun::reconciler {
namespace {

using Ms = std::chrono::milliseconds;

// Keys checked per hold of state_mu, so a pass never waits long for it.
constexpr size_t kDriftChunk = 256;
// An object healed again within this window is being fought over (another
// writer puts its change back): heals of it back off.
constexpr Ms kFightWindow{10000};
constexpr Ms kHealDelayMin{1000};
constexpr Ms kHealDelayMax{300000};

std::string DescribeKey(const KindInfo& kind, const Manifest& m) {
  std::string ns = kind.namespaced ? m.object.namespace_() : "";
  if (kind.namespaced && ns.empty()) ns = "default";
  return kind.gvk.kind + " " + (ns.empty() ? "" : ns + "/") + m.object.name();
}

// Writes a heal: a create, an update, or (with force, when the drifted
// object differs in an immutable field) a replace.
Result<Object> Heal(state::Client& client, const PlannedChange& c) {
  if (c.action == PlannedChange::Action::kCreate) return client.Create(c.object);
  if (c.action == PlannedChange::Action::kReplace) return client.Replace(c.object);
  return client.Update(c.object);
}

}  // namespace

void SyncController::Impl::StartDrift() {
  {
    std::lock_guard<std::mutex> lock(drift_mu);
    if (drift_thread.joinable()) return;
    drift_stop = false;
  }
  drift_thread = std::thread([this] { DriftLoop(); });
}

void SyncController::Impl::StopDrift() {
  {
    std::lock_guard<std::mutex> lock(drift_mu);
    drift_stop = true;
    drift_cv.notify_all();
  }
  if (drift_thread.joinable()) drift_thread.join();
  std::lock_guard<std::mutex> lock(drift_mu);
  drift_queue.clear();
  drift_delayed.clear();
}

void SyncController::Impl::EnqueueDrift(const std::string& key) {
  std::lock_guard<std::mutex> lock(drift_mu);
  drift_queue.insert(key);
  drift_cv.notify_one();
}

std::vector<std::string> SyncController::Impl::QueuedDrift() {
  std::lock_guard<std::mutex> lock(drift_mu);
  std::vector<std::string> out(drift_queue.begin(), drift_queue.end());
  for (const auto& [k, t] : drift_delayed) out.push_back(k);
  return out;
}

void SyncController::Impl::DriftLoop() {
  while (true) {
    std::vector<std::string> keys;
    {
      std::unique_lock<std::mutex> lock(drift_mu);
      while (!drift_stop) {
        MonoTime now = std::chrono::steady_clock::now();
        for (auto it = drift_delayed.begin(); it != drift_delayed.end();) {
          if (it->second <= now) {
            drift_queue.insert(it->first);
            it = drift_delayed.erase(it);
          } else {
            ++it;
          }
        }
        if (!drift_queue.empty()) break;
        MonoTime wake = now + std::chrono::seconds(60);
        for (const auto& [k, t] : drift_delayed) wake = std::min(wake, t);
        drift_cv.wait_until(lock, wake);
      }
      if (drift_stop) return;
      while (!drift_queue.empty() && keys.size() < kDriftChunk) {
        keys.push_back(*drift_queue.begin());
        drift_queue.erase(drift_queue.begin());
      }
    }
    std::vector<std::pair<std::string, DriftEntry>> found;
    std::vector<std::string> retry;
    bool wait = false;
    {
      std::lock_guard<std::mutex> lock(state_mu);
      if (uncertain) {
        // A batch's outcome is unknown: the live revision may have changed.
        retry = keys;
        wait = true;
      } else {
        // Suspended: recorded, not healed (read for each key: a suspension
        // may come in the middle of a chunk).
        for (const auto& key : keys) CheckDrift(key, &found, &retry, live_settings.self_heal && !suspended.load());
      }
    }
    if (!retry.empty()) {
      std::lock_guard<std::mutex> lock(drift_mu);
      MonoTime at = std::chrono::steady_clock::now() + (wait ? Ms(1000) : Ms(200));
      for (const auto& k : retry) drift_delayed.emplace(k, at);
    }
    if (!found.empty()) FlushDrift(found);
  }
}

void SyncController::Impl::HealDriftOnRequest() {
  std::vector<std::pair<std::string, DriftEntry>> found;
  std::vector<std::string> retry;
  std::vector<std::string> keys = QueuedDrift();  // changes not looked at yet
  {
    std::lock_guard<std::mutex> lock(state_mu);
    if (uncertain || live_settings.self_heal) return;  // self-heal does it anyway
    keys.insert(keys.end(), dirty.begin(), dirty.end());
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (const auto& key : keys) CheckDrift(key, &found, &retry, /*heal=*/true, /*on_request=*/true);
  }
  for (const auto& k : retry) EnqueueDrift(k);
  if (!found.empty()) FlushDrift(found);
}

void SyncController::Impl::CheckDrift(const std::string& key, std::vector<std::pair<std::string, DriftEntry>>* found,
                                      std::vector<std::string>* retry, bool heal, bool on_request) {
  if (!live || live_record.empty() || !informer) return;
  const Manifest* m = live->Find(key);
  if (m == nullptr) {
    // Not desired by the live revision (left over with prune off, or made by
    // hand with bosun's label): not drift.
    dirty.erase(key);
    return;
  }
  const KindInfo* kind = ManifestKind(*m);
  if (kind == nullptr) return;
  std::optional<Object> cur = informer->Get(key);
  if (!cur) {
    // Gone from the cache, which holds only objects with bosun's label: the
    // object may still be there without it (replaced by a hand-written
    // copy, `bosun apply`). That is a change (of the label among the rest),
    // not a delete.
    auto got = client->Get(*kind, kind->NamespaceOf(m->object.namespace_()), m->object.name());
    if (got) {
      cur = std::move(*got);
    } else if (got.error().code() != Code::kNotFound) {
      retry->push_back(key);
      return;
    }
  }
  std::vector<Object> lv;
  if (cur) lv.push_back(*cur);
  PlanOptions po;
  // A heal puts back the content; the object keeps the commit that last
  // changed it.
  po.revision = cur ? cur->annotation(kRevisionAnnotation).value_or(live->commit) : live->commit;
  po.prune = false;
  po.force = live_settings.force;
  po.ignore = live_settings.ignore;
  Plan p = PlanSync({*m}, lv, po);
  const PlannedChange* c = nullptr;
  for (const auto& ch : p.changes) {
    if (ch.name == m->object.name()) c = &ch;
  }
  if (c == nullptr || c->action == PlannedChange::Action::kUnchanged) {
    // Drift left in place (self-heal off, or a heal that failed) that is as
    // the revision has it again: someone undid their change. The open entry
    // is closed, so `bosun status` stops listing it.
    if (dirty.erase(key) > 0 && c != nullptr) {
      DriftEntry e;
      e.kind = kind;
      e.ns = c->ns;
      e.name = c->name;
      e.detected_at = clock->Now();
      e.healed = true;
      e.healed_at = e.detected_at;
      e.undone_by_hand = true;
      log::Info(kSyncComponent, "drift undone by hand",
                {{"rev", ShortSha(live->commit)}, {"object", DescribeKey(*kind, *m)}, {"revision", live_record}});
      DriftEvent(e, cur, heal);
      found->push_back({live_record, e});
    }
    return;
  }
  dirty.insert(key);
  const std::string rev = ShortSha(live->commit);
  const std::string what = DescribeKey(*kind, *m);
  DriftEntry e;
  e.kind = kind;
  e.ns = c->ns;
  e.name = c->name;
  e.detected_at = clock->Now();
  e.deleted = !cur;
  for (const FieldChange& f : c->diff) e.fields.push_back(f.field);
  std::string fields;
  for (const auto& f : e.fields) fields += (fields.empty() ? "" : ",") + f;
  log::Info(kSyncComponent, e.deleted ? "drift: managed object deleted" : "drift: managed object changed",
            {{"rev", rev}, {"object", what}, {"fields", fields}, {"revision", live_record}});

  std::optional<Object> healed_object;
  if (heal) {
    HealBackoff& b = heal_backoff[key];
    MonoTime now = std::chrono::steady_clock::now();
    if (b.last_heal != MonoTime{} && now - b.last_heal < kFightWindow) {
      b.delay = std::min(std::max(b.delay * 2, kHealDelayMin), kHealDelayMax);
    } else {
      b.delay = Ms(0);
    }
    if (b.delay.count() > 0 && now < b.last_heal + b.delay) {
      // Healed moments ago and changed again: someone is putting their
      // change back. Try again later, and say so once.
      std::lock_guard<std::mutex> lock(drift_mu);
      drift_delayed[key] = b.last_heal + b.delay;
      e.error = "changed again right after healing; next try in " + std::to_string(b.delay.count() / 1000) + "s";
      // One Event however often it is fought over (no changing delay in it).
      DriftEntry said = e;
      said.error = "changed again right after it was put back; putting it back less often";
      DriftEvent(said, cur, heal);
      found->push_back({live_record, e});
      return;
    }
    Result<Object> w = Heal(*client, *c);
    if (!w && w.error().code() == Code::kAlreadyExists) {
      // Still there, only without bosun's label: adopt it again.
      auto got = client->Get(*kind, c->ns, c->name);
      if (got) {
        Plan again = PlanSync({*m}, {*got}, po);
        for (const auto& ch : again.changes) {
          if (ch.name == c->name && ch.action != PlannedChange::Action::kUnchanged) w = Heal(*client, ch);
        }
      }
    }
    if (w) {
      healed_object = *w;  // the Event is about the object as it is now (a new uid if made again)
      informer->Store(*kind, *w);
      dirty.erase(key);
      b.last_heal = now;
      e.healed = true;
      e.healed_on_request = on_request;
      e.healed_at = clock->Now();
      e.replaced = c->action == PlannedChange::Action::kReplace;
      log::Info(kSyncComponent,
                e.replaced ? "drift healed: replaced (an immutable field differed; force)" : "drift healed",
                {{"rev", rev}, {"object", what}, {"revision", live_record}});
    } else if (w.error().code() == Code::kConflict || w.error().code() == Code::kNotFound ||
               w.error().code() == Code::kForbidden) {
      // Changed again under us: the cache will bring the newer version. Or
      // its namespace is being deleted (403) or gone (404): healed once the
      // Namespace is back, its own heal.
      retry->push_back(key);
      return;
    } else {
      e.error = w.error().message();
      log::Warn(kSyncComponent, "cannot heal drift", {{"rev", rev}, {"object", what}, {"error", e.error}});
    }
  }
  DriftEvent(e, healed_object ? healed_object : cur, heal);
  found->push_back({live_record, e});
}

void SyncController::Impl::DriftEvent(const DriftEntry& e, const std::optional<Object>& cur, bool heal) {
  if (!events) return;
  // About the object itself (`bosun describe deployment web` shows it); a
  // deleted one by its name.
  const Object regarding = cur ? *cur : Object(e.kind->gvk, e.ns, e.name);
  const std::string revision = "revision " + live_record + " (" + ShortSha(live ? live->commit : "") + ")";
  if (e.undone_by_hand) {
    Event(regarding, false, "DriftUndone", "changed back by hand to what " + revision + " has");
    return;
  }
  std::string what = "deleted by hand";
  if (!e.deleted) {
    std::string fields;
    const size_t shown = std::min<size_t>(e.fields.size(), 5);
    for (size_t i = 0; i < shown; ++i) fields += (i == 0 ? "" : ", ") + e.fields[i];
    if (e.fields.size() > shown) fields += " and " + std::to_string(e.fields.size() - shown) + " more";
    what = fields + " changed by hand";
  }
  if (e.healed) {
    Event(regarding, false, "DriftHealed",
          what + "; put back as " + revision + " has it" +
              (e.replaced ? " (deleted and created again: an immutable field differed)" : ""));
  } else if (!e.error.empty()) {
    Event(regarding, true, "Drift", what + "; not put back: " + e.error);
  } else if (suspended.load()) {
    // Resumed, self-heal puts it back; without it, `bosun sync` does.
    Event(regarding, true, "Drift",
          what + "; left as is: syncing is suspended (" +
              (live_settings.self_heal ? "`bosun resume` puts" : "`bosun resume`, then `bosun sync`, put") +
              " it back to " + revision + ")");
  } else {
    Event(regarding, true, "Drift",
          what + "; left as is" + (heal ? "" : ": self-heal is off") + " (`bosun sync` puts it back to " + revision +
              ")");
  }
}

void SyncController::Impl::FlushDrift(const std::vector<std::pair<std::string, DriftEntry>>& found) {
  std::map<std::string, std::vector<const DriftEntry*>> by_record;
  for (const auto& [name, e] : found) by_record[name].push_back(&e);
  for (const auto& [name, entries] : by_record) {
    bool done = false;
    for (int attempt = 0; attempt < 5 && !done; ++attempt) {
      auto cur = client->Get(*revision_kind, "", name);
      if (!cur) break;
      Object rec = std::move(*cur);
      for (const DriftEntry* e : entries) AddDrift(rec, *e);
      auto w = UpdateRecordStatus(rec);
      if (w) {
        done = true;
      } else if (w.error().code() != Code::kConflict) {
        break;
      }
    }
    if (!done) log::Warn(kSyncComponent, "cannot record drift", {{"revision", name}});
  }
}

}  // namespace bosun::reconciler
