// The GitRepository "default" (docs/GITOPS.md): its spec from the server's
// flags, its status from each pass, and the sync requests `bosun sync` makes
// through its bosun.dev/sync-requested-at annotation.
#include "core/duration.h"
#include "core/log.h"
#include "reconciler/sync_internal.h"

namespace bosun::reconciler {
namespace {
// What asked for the sync a GitRepository's request annotation holds: its
// bosun.dev/sync-trigger ("push@<requested-at>", "webhook@…") when it names
// this very request, else a person (`bosun sync`, or any other writer of the
// request alone).
SyncTrigger RequestTrigger(const Object& repo) {
  const std::string t = repo.annotation(kSyncTriggerAnnotation).value_or("");
  const std::string req = repo.annotation(kSyncRequestedAnnotation).value_or("");
  const size_t at = t.find('@');
  if (at == std::string::npos || req.empty() || t.substr(at + 1) != req) return SyncTrigger::kManual;
  const std::string what = t.substr(0, at);
  if (what == "push") return SyncTrigger::kPush;
  if (what == "webhook") return SyncTrigger::kWebhook;
  return SyncTrigger::kManual;
}
}  // namespace

Status SyncController::Impl::EnsureRepository() {
  Object obj;
  for (int attempt = 0;; ++attempt) {
    Json spec = {
        {"url", source.url}, {"ref", source.ref}, {"path", source.path}, {"interval", FormatDuration(opt.interval)}};
    auto cur = client->Get(*repo_kind, "", kRepositoryName);
    if (!cur && cur.error().code() != Code::kNotFound) return cur.error().Wrap("cannot read the GitRepository");
    // The flags say what is followed; `bosun suspend` says whether, and that
    // outlives a restart.
    if (cur && RepositorySuspended(*cur)) spec["suspend"] = true;
    Result<Object> wrote = Error(Code::kInternal, "");
    if (!cur) {
      Object fresh(repo_kind->gvk, "", kRepositoryName);
      fresh.json()["spec"] = spec;
      wrote = client->Create(fresh);
      if (wrote) log::Info(kSyncComponent, "created the GitRepository", {{"repo", source.url}, {"ref", source.ref}});
    } else if (cur->spec() != spec) {
      Object next = *cur;
      next.json()["spec"] = spec;
      wrote = client->Update(next);
    } else {
      obj = std::move(*cur);
      break;
    }
    if (wrote) {
      obj = std::move(*wrote);
      break;
    }
    Code c = wrote.error().code();
    if (attempt >= 3 || (c != Code::kAlreadyExists && c != Code::kConflict && c != Code::kNotFound)) {
      return wrote.error().Wrap("cannot write the GitRepository");
    }
  }
  NoteSuspend(obj);
  RecordSuspension(obj);
  std::lock_guard<std::mutex> lock(repo_mu);
  // What this controller wrote wins; the rest (a previous leader's status)
  // is carried on.
  if (obj.status().is_object()) {
    for (auto it = obj.status().begin(); it != obj.status().end(); ++it) {
      if (!repo_status.contains(it.key())) repo_status[it.key()] = it.value();
    }
  }
  if (last_handled.empty()) last_handled = repo_status.value("lastHandledSyncRequest", "");
  std::string req = obj.annotation(kSyncRequestedAnnotation).value_or("");
  if (!req.empty() && req != last_handled && req != requested) {
    requested = req;
    Trigger(RequestTrigger(obj));
  }
  return Ok();
}

void SyncController::Impl::StartRepositoryWatch() {
  if (repo_watch) return;
  auto w = client->Watch(*repo_kind, "", "", "", [this](const state::WatchEvent& ev) { OnRepositoryEvent(ev); });
  if (!w) {
    log::Warn(kSyncComponent, "cannot watch the GitRepository for sync requests; polling only",
              {{"error", w.error().message()}});
    return;
  }
  repo_watch = std::move(*w);
}

void SyncController::Impl::OnRepositoryEvent(const state::WatchEvent& ev) {
  if (ev.type == state::WatchEvent::Type::kBookmark || ev.object.name() != kRepositoryName) return;
  if (ev.type == state::WatchEvent::Type::kDeleted) {
    // Written again by the next pass.
    log::Warn(kSyncComponent, "the GitRepository was deleted; it is written again on the next sync");
    Trigger(SyncTrigger::kPoll);
    return;
  }
  const bool was_suspended = suspended.load();
  NoteSuspend(ev.object);
  if (was_suspended && !suspended.load()) {
    // Resumed: catch up at once (what was fetched meanwhile, drift left).
    // Not a sync request: a request would also put back drift with
    // self-heal off (as `bosun sync` does), which resuming does not. The
    // history says `resume` asked.
    log::Info(kSyncComponent, "sync resumed");
    resumed = true;
    Trigger(SyncTrigger::kResume);
  } else if (!was_suspended && suspended.load()) {
    log::Warn(kSyncComponent, "sync suspended: new commits are fetched, not applied; drift is recorded, not healed",
              {{"reason", ev.object.annotation(kSuspendReasonAnnotation).value_or("")}});
    Trigger(SyncTrigger::kPoll);  // status.suspended says so at once
  }
  // After the flags above: its API calls must not delay them.
  RecordSuspension(ev.object);
  std::string req = ev.object.annotation(kSyncRequestedAnnotation).value_or("");
  bool trigger = false;
  {
    std::lock_guard<std::mutex> lock(repo_mu);
    if (!req.empty() && req != last_handled && req != requested) {
      requested = req;
      trigger = true;
    }
  }
  if (trigger) {
    const SyncTrigger why = RequestTrigger(ev.object);
    log::Info(kSyncComponent, "sync requested", {{"requestedAt", req}, {"trigger", TriggerName(why)}});
    Trigger(why);
  }
}

bool RepositorySuspended(const Object& repo) {
  return Object::Field(repo.spec(), "suspend") == true;
}

void SyncController::Impl::NoteSuspend(const Object& repo) {
  suspended = RepositorySuspended(repo);
}

void SyncController::Impl::RecordSuspension(const Object& repo) {
  const bool now = RepositorySuspended(repo);
  const int64_t rv = std::atoll(repo.resource_version().c_str());
  const std::string reason = repo.annotation(kSuspendReasonAnnotation).value_or("");
  std::string opened, closed, closed_reason, closed_record;
  bool first = false;
  std::string at;
  {
    std::lock_guard<std::mutex> lock(suspension_mu);
    // The watch and ReadSuspend's reads arrive in any order: only newer
    // versions of the GitRepository count.
    if (rv > 0 && rv <= suspension_rv) return;
    if (rv > 0) suspension_rv = rv;
    at = repo.annotation(kSuspendedAtAnnotation).value_or("");
    if (now && at.empty()) at = noted_suspension.empty() ? FormatRfc3339(clock->Now()) : noted_suspension;
    if (!suspension_seen) {
      // Not before the records are known (a leader's start reads the
      // GitRepository first): the first look is the one with a live record.
      {
        std::lock_guard<std::mutex> state_lock(state_mu);
        if (index.Live() == nullptr) {
          suspension_rv = 0;
          return;
        }
      }
      suspension_seen = true;
      first = true;
      noted_suspension = now ? at : "";
      noted_reason = reason;
    } else {
      if (!noted_suspension.empty() && (!now || at != noted_suspension)) {
        closed = noted_suspension;
        closed_reason = noted_reason;
        closed_record = noted_record;
        noted_suspension.clear();
      }
      if (now && at != noted_suspension) {
        opened = at;
        noted_suspension = at;
        noted_reason = reason;
      }
    }
  }
  // A leader's first look: the live record is brought in line quietly (a
  // resume or a suspension during the change of leader), without Events.
  if (first) {
    ReconcileSuspensionsInRecord(now ? at : "", reason);
    return;
  }
  if (!closed.empty()) {
    std::string after;
    if (auto t = ParseRfc3339(closed)) {
      after = " after " + FormatDuration(std::chrono::duration_cast<std::chrono::seconds>(clock->Now() - *t));
    }
    Event(repo, false, "Resumed",
          "sync resumed" + after + " (suspended at " + closed + (closed_reason.empty() ? "" : ": " + closed_reason) +
              "); what was fetched meanwhile is applied now");
    NoteSuspensionInRecord(closed, closed_reason, FormatRfc3339(clock->Now()), closed_record);
  }
  if (!opened.empty()) {
    Event(repo, true, "Suspended",
          "sync suspended" + (reason.empty() ? std::string() : ": " + reason) +
              "; new commits are fetched, not applied; drift is recorded, not healed; no automatic revert "
              "(`bosun resume` to go on)");
    const std::string name = NoteSuspensionInRecord(opened, reason, "", "");
    std::lock_guard<std::mutex> lock(suspension_mu);
    if (noted_suspension == opened) noted_record = name;
  }
}

// The live record's status.suspensions: {suspendedAt, reason} when it
// began, resumedAt added when it ended (the newest kMaxSuspensionEntries);
// `record`: the one that holds the entry ("": the live one). The record
// written, "" when none.
std::string SyncController::Impl::NoteSuspensionInRecord(const std::string& at, const std::string& reason,
                                                         const std::string& resumed_at, const std::string& record) {
  const std::string name = record.empty() ? LiveRecordName() : record;
  if (name.empty()) return "";
  auto w = ChangeRecordStatus(name, [&](Json& status) {
    AddSuspension(status, at, reason, resumed_at);
    return true;
  });
  if (w) return name;
  log::Warn(kSyncComponent, "cannot note the suspension in the record",
            {{"revision", name}, {"error", w.error().message()}});
  return "";
}

// The live record's open suspension entries made to agree with what a
// leader finds at its start: one for `open_at` ("" when not suspended) and
// no other left open (those are closed as of now).
void SyncController::Impl::ReconcileSuspensionsInRecord(const std::string& open_at, const std::string& reason) {
  const std::string name = LiveRecordName();
  if (name.empty()) return;
  (void)ChangeRecordStatus(name, [&](Json& status) {
    bool has_open = false, changed = false;
    if (status.contains("suspensions") && status["suspensions"].is_array()) {
      for (Json& e : status["suspensions"]) {
        if (!e.is_object() || e.contains("resumedAt")) continue;
        if (e.value("suspendedAt", "") == open_at) {
          has_open = true;
        } else {
          e["resumedAt"] = FormatRfc3339(clock->Now());
          changed = true;
        }
      }
    }
    if (!open_at.empty() && !has_open) {
      AddSuspension(status, open_at, reason, "");
      changed = true;
    }
    return changed;
  });
  std::lock_guard<std::mutex> lock(suspension_mu);
  if (!open_at.empty() && noted_suspension == open_at) noted_record = name;
}

std::string SyncController::Impl::CurrentRequest() {
  std::lock_guard<std::mutex> lock(repo_mu);
  return requested != last_handled ? requested : "";
}

void SyncController::Impl::MarkRequestHandled(const std::string& request) {
  if (request.empty()) return;
  std::lock_guard<std::mutex> lock(repo_mu);
  last_handled = request;
  repo_status["lastHandledSyncRequest"] = request;
}

void SyncController::Impl::SetRepositoryStatus(const std::function<void(Json& status)>& change) {
  std::lock_guard<std::mutex> lock(repo_mu);
  change(repo_status);
}

void SyncController::Impl::WriteRepositoryStatus() {
  Object obj(repo_kind->gvk, "", kRepositoryName);
  {
    std::lock_guard<std::mutex> lock(repo_mu);
    obj.json()["status"] = repo_status;
  }
  auto r = client->UpdateStatus(obj);
  if (!r && r.error().code() == Code::kNotFound) {
    // Deleted by hand: put it back, then its status.
    if (EnsureRepository()) r = client->UpdateStatus(obj);
  }
  if (!r) log::Warn(kSyncComponent, "cannot write the GitRepository status", {{"error", r.error().message()}});
}

}  // namespace bosun::reconciler
