// reconciler/sync_controller.h — the sync controller: Git revisions become the
// cluster's state, all or nothing, and each one is recorded as a Revision
// (DESIGN.md §4; docs/GITOPS.md is the contract for the objects it writes).
//
// One loop thread: it waits for the fetch interval, a Trigger (webhook,
// `bosun sync`), or a change of the GitRepository's sync-requested-at
// annotation; fetches; and when the followed ref points at a commit that is
// not live, reads the desired set at that commit (only the files the tree diff
// says changed are read and parsed again), validates all of it, and only then
// applies it in one batch transaction (creates and updates in ApplyOrder,
// prunes managed objects that left the repository when SyncConfig.prune), with
// the Revision record's move to Applied in the same transaction. A revision
// with any invalid manifest is Refused with every error, and nothing of it is
// written. While a revision is live the controller watches the managed objects
// and records drift; with SyncConfig.selfHeal it puts them back.
//
// Restarts and leader changes: everything the controller knows is in the
// store (GitRepository status, Revision records, the marks on objects), so a
// new leader's controller carries on where the old one stopped, and a
// revision is applied exactly once.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "gitsync/mirror.h"
#include "state/client.h"

namespace bosun::reconciler {

struct SyncOptions {
  gitsync::Mirror* mirror = nullptr;  // not owned; outlives the controller
  state::Client* client = nullptr;    // not owned; admin token
  // The path under the repository holding the manifests ("" = all of it).
  std::string path;
  // Polling interval (SyncConfig.spec.interval in the repo overrides it).
  std::chrono::milliseconds interval{60000};
  // History: keep at most this many Revision records (0 = all) and at most
  // this many bytes of them (oldest removed first).
  size_t history_limit = 0;
  size_t history_max_bytes = 256u << 20;
  // Defaults for what a repository's SyncConfig does not say.
  bool prune = true;
  bool self_heal = true;
  Clock* clock = &Clock::System();
};

enum class SyncTrigger { kPoll, kWebhook, kManual, kStartup };
const char* TriggerName(SyncTrigger t);  // "poll", "webhook", "manual", "startup"

class SyncController {
 public:
  // Checks the options (kInvalid without a mirror or client). Does not start.
  static Result<std::unique_ptr<SyncController>> Create(SyncOptions options);
  ~SyncController();  // Stop()

  // Starts the loop (its first pass is a SyncTrigger::kStartup sync).
  void Start();
  // Stops the loop and the drift watches; returns when no work is running.
  // A sync in the middle of its batch write either committed or did not;
  // either way the next leader finds a consistent store.
  void Stop();
  // Asks for a fetch and sync now (coalesced with one already pending).
  void Trigger(SyncTrigger why);

  // One fetch-and-sync pass on the caller's thread (for tests and `bosun
  // sync` in-process). Returns the name of the Revision record written, or
  // "" when the followed commit was already live.
  Result<std::string> SyncOnce(SyncTrigger why);

  struct Impl;

 private:
  explicit SyncController(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bosun::reconciler
