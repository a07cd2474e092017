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
    // A poll, not a sync request: a request would also put back drift with
    // self-heal off (as `bosun sync` does), which resuming does not.
    log::Info(kSyncComponent, "sync resumed");
    resumed = true;
    Trigger(SyncTrigger::kPoll);
  } else if (!was_suspended && suspended.load()) {
    log::Warn(kSyncComponent, "sync suspended: new commits are fetched, not applied; drift is recorded, not healed",
              {{"reason", ev.object.annotation(kSuspendReasonAnnotation).value_or("")}});
    Trigger(SyncTrigger::kPoll);  // status.suspended says so at once
  }
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
  RecordSuspension(repo);
}

void SyncController::Impl::RecordSuspension(const Object& repo) {
  const bool now = RepositorySuspended(repo);
  std::string at = repo.annotation(kSuspendedAtAnnotation).value_or("");
  if (now && at.empty()) at = "?";
  const std::string reason = repo.annotation(kSuspendReasonAnnotation).value_or("");
  std::string opened, closed, closed_reason;
  {
    std::lock_guard<std::mutex> lock(suspension_mu);
    if (!suspension_seen) {
      suspension_seen = true;
      noted_suspension = now ? at : "";
      noted_reason = reason;
      return;
    }
    if (now && at != noted_suspension) {
      opened = at;
      noted_suspension = at;
      noted_reason = reason;
    } else if (!now && !noted_suspension.empty()) {
      closed = noted_suspension;
      closed_reason = noted_reason;
      noted_suspension.clear();
    }
  }
  if (!opened.empty()) {
    Event(repo, true, "Suspended",
          "sync suspended" + (reason.empty() ? std::string() : ": " + reason) +
              "; new commits are fetched, not applied; drift is recorded, not healed; no automatic revert "
              "(`bosun resume` to go on)");
    NoteSuspensionInRecord(opened, reason, "");
  }
  if (!closed.empty()) {
    const std::string resumed_at = FormatRfc3339(clock->Now());
    std::string after;
    if (auto t = ParseRfc3339(closed)) {
      after = " after " + FormatDuration(std::chrono::duration_cast<std::chrono::seconds>(clock->Now() - *t));
    }
    Event(repo, false, "Resumed",
          "sync resumed" + after + " (suspended at " + closed + (closed_reason.empty() ? "" : ": " + closed_reason) +
              "); what was fetched meanwhile is applied now");
    NoteSuspensionInRecord(closed, closed_reason, resumed_at);
  }
}

// The live record's status.suspensions: {suspendedAt, reason} when it
// began, resumedAt added when it ended (the newest kMaxSuspensionEntries).
void SyncController::Impl::NoteSuspensionInRecord(const std::string& at, const std::string& reason,
                                                  const std::string& resumed_at) {
  std::string name;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    if (const RecordInfo* l = index.Live()) name = l->name;
  }
  if (name.empty()) return;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto cur = client->Get(*revision_kind, "", name);
    if (!cur) break;
    Object rec = std::move(*cur);
    AddSuspension(rec, at, reason, resumed_at);
    auto w = UpdateRecordStatus(rec);
    if (w) return;
    if (w.error().code() != Code::kConflict) break;
  }
  log::Warn(kSyncComponent, "cannot note the suspension in the live record", {{"revision", name}});
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
