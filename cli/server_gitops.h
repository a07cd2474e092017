// cli/server_gitops.h — the GitOps half of `bosun server` (docs/GITOPS.md):
// the --repo flags, the bare mirror under <data>/git, the sync controller that
// runs only while this member leads, and the /hooks/<provider> webhook route.
//
// Leadership is polled (every 250 ms): a member that becomes the Raft leader
// creates and starts a reconciler::SyncController; one that stops leading
// stops it. The controller is a client of this member's own API URL with the
// admin token, like any other controller. A verified push webhook triggers
// the local controller when there is one; a follower instead sets the
// GitRepository's bosun.dev/sync-requested-at annotation through the API (the
// write is forwarded to the leader), and the leader's controller syncs.
//
// Thread-safety: Prepare, Start and Stop are called from the server's main
// thread; the webhook route runs on the API server's threads.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "core/result.h"
#include "reconciler/revision_health.h"
#include "state/api_server.h"
#include "state/replicated_service.h"

namespace bosun::cli {

struct GitOpsFlags {
  std::string repo;
  std::string branch;
  std::string ref;
  std::string path;
  std::string fetch_interval = "1m";
  std::string username;
  std::string password_file;
  std::string ssh_key_file;
  std::string ssh_passphrase_file;
  std::string known_hosts_file;
  std::string ca_file;
  bool insecure_skip_host_key_check = false;
  std::string webhook_secret_file;
  size_t history_limit = 0;
  std::string history_max_bytes = "256Mi";
  std::string verify_commits = "none";  // none | head | all
  std::string allowed_signers_file;
};

// Adds --repo, --branch/--ref, --path, --fetch-interval, --repo-username,
// --repo-password-file, --repo-ssh-key-file, --repo-known-hosts-file, --repo-ca-file,
// --webhook-secret-file, --history-limit, --history-max-bytes,
// --verify-commits, --allowed-signers.
void AddGitOpsFlags(CLI::App* cmd, GitOpsFlags* flags);

class GitOps {
 public:
  // Checks the flags, reads the webhook secret and opens (or creates) the
  // mirror in <data_dir>/git; contacts no remote. nullptr without --repo.
  // kInvalid for a bad flag, a credentials file that cannot be read (the
  // message names the flag, the file and why — never what it holds), or a
  // URL carrying a password.
  static Result<std::unique_ptr<GitOps>> Prepare(const GitOpsFlags& flags, const std::string& data_dir);
  ~GitOps();  // Stop()

  // "URL (ref main, path deploy/, fetch every 1m)", for the start-up banner.
  std::string Describe() const;
  // What this member follows, as it publishes it to the others
  // (cli/member_settings.h): {url, ref, path, verifyCommits}.
  Json Source() const;

  // Registers /hooks on `api` and starts following leadership. `service` and
  // `api` must outlive Stop(); `api_url` and `admin_token` are what the
  // controller's client uses.
  Status Start(state::ReplicatedService* service, state::ApiServer* api, const std::string& api_url,
               const std::string& admin_token);

  // Asks this member's sync controller (when it leads) to fetch and apply
  // the revert commit it has just pushed (the record's trigger: "revert").
  void TriggerSync();
  // Commits `git revert <commit>` (trailers Bosun-Reverts / Bosun-Reason) on
  // the followed branch and pushes it fast-forward only (gitsync/revert.h);
  // with `back_to`, one commit that reverts every commit after back_to up to
  // `commit` (when back_to is an ancestor; the commit alone otherwise);
  // the mirror then follows the revert commit. kConflict when the revert
  // does not apply cleanly or the branch kept moving, kInvalid when bosun
  // follows a tag or a commit.
  Result<reconciler::RevertOutcome> Revert(const std::string& commit, const std::string& back_to,
                                           const std::string& reason);

  // Stops the controller (if this member runs it) and the leadership loop;
  // webhooks then get 503. Call before stopping the API server. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit GitOps(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bosun::cli
