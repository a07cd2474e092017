#include "cli/server_gitops.h"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <sys/stat.h>

#include "cli/gitops.h"
#include "cli/member_settings.h"
#include "core/ascii.h"
#include "core/clock.h"
#include "core/duration.h"
#include "core/log.h"
#include "core/quantity.h"
#include "crypto/sshsig.h"
#include "crypto/tokens.h"
#include "gitsync/mirror.h"
#include "gitsync/revert.h"
#include "gitsync/webhook.h"
#include "reconciler/signing_key.h"
#include "reconciler/sync_controller.h"
#include "state/client.h"

namespace bosun::cli {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto kLeaderPoll = 250ms;
// A follower retries forwarding a webhook's sync request this many times
// (one poll apart) while no leader answers.
constexpr int kForwardAttempts = 40;

// Checks that a credentials file can be read; the message names the flag, the
// file and why, never its content.
Status CheckReadable(const char* flag, const std::string& file) {
  if (file.empty()) return Ok();
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    return Error(Code::kInvalid, std::string(flag) + " " + file + ": cannot read it: no such file");
  }
  if (fs::is_directory(file, ec)) {
    return Error(Code::kInvalid, std::string(flag) + " " + file + ": is a folder, not a file");
  }
  std::ifstream in(file);
  if (!in) {
    return Error(Code::kInvalid, std::string(flag) + " " + file + ": cannot read it: " + std::strerror(errno));
  }
  return Ok();
}

// True when the URL's user part carries a password ("https://u:p@host/…").
bool UrlHasPassword(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return false;
  size_t start = scheme + 3;
  size_t end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  size_t at = authority.rfind('@');
  if (at == std::string::npos) return false;
  return authority.substr(0, at).find(':') != std::string::npos;
}

}  // namespace

void AddGitOpsFlags(CLI::App* cmd, GitOpsFlags* f) {
  const char* group = "GitOps (docs/GITOPS.md)";
  cmd->add_option("--repo", f->repo,
                  "The Git repository to follow: a local path, file://, http(s):// or ssh:// URL (never with a "
                  "password in it; see --repo-password-file)")
      ->group(group);
  cmd->add_option("--branch", f->branch, "The branch to follow (same as --ref BRANCH; default main)")->group(group);
  cmd->add_option("--ref", f->ref, "What to follow: a branch, refs/tags/TAG, or a 40-hex commit id")->group(group);
  cmd->add_option("--path", f->path, "The folder of the repository holding the manifests (default: all of it)")
      ->group(group);
  cmd->add_option("--fetch-interval", f->fetch_interval, "How often to poll the repository (webhooks sync at once)")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--repo-username", f->username, "User name for HTTP(S) basic auth")->group(group);
  cmd->add_option("--repo-password-file", f->password_file, "File holding the HTTP(S) password or token")->group(group);
  cmd->add_option("--repo-ssh-key-file", f->ssh_key_file,
                  "Private SSH key file for ssh:// repositories (ed25519 or ECDSA; RSA keys are refused by OpenSSH "
                  "8.8 and later servers)")
      ->group(group);
  cmd->add_option("--repo-ssh-key-passphrase-file", f->ssh_passphrase_file,
                  "File holding the passphrase of --repo-ssh-key-file, when the key is encrypted")
      ->group(group);
  cmd->add_option("--repo-known-hosts-file", f->known_hosts_file,
                  "known_hosts file the SSH host key must be listed in (an ssh repository needs one; `ssh-keyscan -p "
                  "PORT HOST`)")
      ->group(group);
  cmd->add_option("--repo-ca-file", f->ca_file,
                  "PEM file of the CA certificates that sign the HTTPS repository server's certificate, trusted "
                  "besides the system's (a private Git server behind an internal CA)")
      ->group(group);
  cmd->add_flag("--repo-insecure-skip-host-key-check", f->insecure_skip_host_key_check,
                "Accept any SSH host key of the repository's server (without it an ssh repository needs "
                "--repo-known-hosts-file): anyone on the way to the server could then serve the manifests")
      ->group(group);
  cmd->add_option("--webhook-secret-file", f->webhook_secret_file,
                  "File holding the shared secret of push webhooks (POST /hooks/github|gitea|gitlab|generic); "
                  "without it webhooks are refused")
      ->group(group);
  cmd->add_option("--history-limit", f->history_limit, "Keep at most this many revision records (0: no limit)")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--history-max-bytes", f->history_max_bytes,
                  "Keep at most this much of revision records, oldest removed first (e.g. 256Mi)")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--verify-commits", f->verify_commits,
                  "Signed commits: none, head (the head of each revision) or all (every commit since the live "
                  "one); a repository's SyncConfig may raise it, never lower it")
      ->check(CLI::IsMember({"none", "head", "all"}))
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--allowed-signers", f->allowed_signers_file,
                  "Allowed-signers file (git's gpg.ssh.allowedSignersFile format) of the keys trusted to sign "
                  "commits; read again when it changes. The cluster's own key is trusted too")
      ->group(group);
}

struct GitOps::Impl {
  GitOpsFlags flags;
  gitsync::RemoteOptions remote;
  std::chrono::milliseconds interval{60000};
  size_t history_max_bytes = 0;
  std::string webhook_secret;
  std::unique_ptr<gitsync::Mirror> mirror;

  state::ReplicatedService* service = nullptr;
  std::unique_ptr<state::Client> client;
  std::thread loop;

  // Shared with the webhook route (which may outlive Stop until the API
  // server stops): guarded by mu.
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool stopping = false;
    bool forward_request = false;                      // a webhook on a member without a controller
    reconciler::SyncController* controller = nullptr;  // owned by the loop thread
  };
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();

  void Loop();
  void ForwardSyncRequest(int* attempts_left);
  // What this member follows, as it publishes it (GitOps::Source).
  Json Source() const {
    return {{"url", remote.url}, {"ref", remote.ref}, {"path", flags.path}, {"verifyCommits", flags.verify_commits}};
  }
};

GitOps::GitOps(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GitOps::~GitOps() {
  Stop();
}

Result<std::unique_ptr<GitOps>> GitOps::Prepare(const GitOpsFlags& f, const std::string& data_dir) {
  if (f.repo.empty()) {
    struct {
      const char* flag;
      bool set;
    } const needs_repo[] = {{"--branch", !f.branch.empty()},
                            {"--ref", !f.ref.empty()},
                            {"--path", !f.path.empty()},
                            {"--repo-username", !f.username.empty()},
                            {"--repo-password-file", !f.password_file.empty()},
                            {"--repo-ssh-key-file", !f.ssh_key_file.empty()},
                            {"--repo-ssh-key-passphrase-file", !f.ssh_passphrase_file.empty()},
                            {"--repo-known-hosts-file", !f.known_hosts_file.empty()},
                            {"--repo-insecure-skip-host-key-check", f.insecure_skip_host_key_check},
                            {"--repo-ca-file", !f.ca_file.empty()},
                            {"--webhook-secret-file", !f.webhook_secret_file.empty()},
                            {"--history-limit", f.history_limit != 0},
                            {"--verify-commits", f.verify_commits != "none"},
                            {"--allowed-signers", !f.allowed_signers_file.empty()}};
    for (const auto& n : needs_repo) {
      if (n.set) return Error(Code::kInvalid, std::string(n.flag) + " needs --repo (the repository to follow)");
    }
    return std::unique_ptr<GitOps>();
  }
  auto impl = std::make_unique<Impl>();
  impl->flags = f;
  if (!f.branch.empty() && !f.ref.empty()) {
    return Error(Code::kInvalid, "give --branch or --ref, not both (--branch main is --ref main)");
  }
  if (UrlHasPassword(f.repo)) {
    return Error(Code::kInvalid,
                 "--repo: the URL carries a password; give the URL without it, the user with --repo-username and "
                 "the password in a file with --repo-password-file");
  }
  impl->remote.url = f.repo;
  // A local path is recorded absolute: the GitRepository shows it to people
  // and tools that do not share the server's working directory.
  std::error_code ec;
  if (f.repo.find("://") == std::string::npos && fs::exists(f.repo, ec)) {
    fs::path abs = fs::absolute(f.repo, ec);
    if (!ec) {
      fs::path canonical = fs::weakly_canonical(abs, ec);
      impl->remote.url = (ec ? abs : canonical).string();
    }
  }
  impl->remote.ref = !f.ref.empty() ? f.ref : !f.branch.empty() ? f.branch : "main";
  impl->remote.username = f.username;
  impl->remote.password_file = f.password_file;
  impl->remote.ssh_key_file = f.ssh_key_file;
  impl->remote.ssh_passphrase_file = f.ssh_passphrase_file;
  impl->remote.ssh_known_hosts_file = f.known_hosts_file;
  impl->remote.ssh_accept_any_host_key = f.insecure_skip_host_key_check;
  impl->remote.ca_file = f.ca_file;
  if (!f.password_file.empty() && f.username.empty() && f.repo.find('@') == std::string::npos) {
    log::Warn("server", "--repo-password-file without --repo-username: the password is sent with an empty user name");
  }

  auto interval = ParseDuration(f.fetch_interval);
  if (!interval) return Error(Code::kInvalid, "--fetch-interval: " + interval.error().message());
  if (*interval < std::chrono::seconds(1)) {
    return Error(Code::kInvalid, "--fetch-interval " + f.fetch_interval + ": must be at least 1s (e.g. 30s, 1m, 5m)");
  }
  impl->interval = std::chrono::duration_cast<std::chrono::milliseconds>(*interval);

  auto max_bytes = Quantity::Parse(f.history_max_bytes);
  if (!max_bytes) return Error(Code::kInvalid, "--history-max-bytes: " + max_bytes.error().message());
  if (max_bytes->Value() <= 0) {
    return Error(Code::kInvalid, "--history-max-bytes " + f.history_max_bytes + ": must be more than 0 (e.g. 256Mi)");
  }
  impl->history_max_bytes = static_cast<size_t>(max_bytes->Value());

  for (const auto& [flag, file] : {std::pair<const char*, std::string>{"--repo-password-file", f.password_file},
                                   {"--repo-ssh-key-file", f.ssh_key_file},
                                   {"--repo-ssh-key-passphrase-file", f.ssh_passphrase_file},
                                   {"--repo-known-hosts-file", f.known_hosts_file},
                                   {"--repo-ca-file", f.ca_file},
                                   {"--webhook-secret-file", f.webhook_secret_file},
                                   {"--allowed-signers", f.allowed_signers_file}}) {
    if (auto st = CheckReadable(flag, file); !st) return st.error();
  }
  // Secrets others on the machine can read: said at start (not refused: a
  // file a secret manager mounts may be so, and the admin decides).
  for (const auto& [flag, file] : {std::pair<const char*, std::string>{"--repo-password-file", f.password_file},
                                   {"--repo-ssh-key-file", f.ssh_key_file},
                                   {"--repo-ssh-key-passphrase-file", f.ssh_passphrase_file},
                                   {"--webhook-secret-file", f.webhook_secret_file}}) {
    struct stat st {};
    if (file.empty() || ::stat(file.c_str(), &st) != 0 || (st.st_mode & 0077) == 0) continue;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    log::Warn("server", std::string(flag) + ": the file is readable by other users of this machine; chmod 600 it",
              {{"file", file}, {"mode", mode}});
  }
  // The followed folder is one inside the repository's tree.
  if (!f.path.empty()) {
    const fs::path p(f.path);
    bool up = false;
    for (const auto& part : p) up = up || part == "..";
    if (p.is_absolute() || up) {
      return Error(Code::kInvalid, "--path " + f.path +
                                       ": give a folder inside the repository, relative to its top (e.g. deploy/), "
                                       "without .. or a leading /");
    }
  }
  if (!f.allowed_signers_file.empty()) {
    auto signers = crypto::LoadAllowedSigners(f.allowed_signers_file);
    if (!signers) return signers.error().Wrap("--allowed-signers");
    for (const std::string& w : signers->warnings) log::Warn("server", "--allowed-signers", {{"warning", w}});
  } else if (f.verify_commits != "none") {
    log::Warn("server", "--verify-commits without --allowed-signers: only the cluster's own key is trusted");
  }
  if (!f.webhook_secret_file.empty()) {
    // One secret per line: each is accepted (a rotation has two for a while).
    std::ifstream in(f.webhook_secret_file);
    std::string line;
    impl->webhook_secret.clear();
    while (std::getline(in, line)) {
      const std::string_view s = TrimAscii(line);
      if (!s.empty()) impl->webhook_secret += std::string(s) + "\n";
    }
    crypto::Wipe(line);
    if (impl->webhook_secret.empty()) {
      return Error(Code::kInvalid, "--webhook-secret-file " + f.webhook_secret_file +
                                       ": holds no secret (write one line, e.g. `openssl rand -hex 32 > FILE`)");
    }
  }

  auto mirror = gitsync::Mirror::Open(data_dir + "/git", impl->remote);
  if (!mirror) return mirror.error().Wrap("--repo");
  impl->mirror = std::move(*mirror);
  return std::unique_ptr<GitOps>(new GitOps(std::move(impl)));
}

std::string GitOps::Describe() const {
  std::string s = impl_->remote.url + " (ref " + impl_->remote.ref;
  if (!impl_->flags.path.empty()) s += ", path " + impl_->flags.path;
  s += ", fetch every " + FormatDuration(impl_->interval) + ")";
  if (impl_->webhook_secret.empty()) s += ", webhooks off (no --webhook-secret-file)";
  if (impl_->flags.verify_commits != "none") s += ", verify commits: " + impl_->flags.verify_commits;
  return s;
}

Json GitOps::Source() const {
  return impl_->Source();
}

Status GitOps::Start(state::ReplicatedService* service, state::ApiServer* api, const std::string& api_url,
                     const std::string& admin_token) {
  state::ClientOptions co;
  co.servers = {api_url};
  co.unavailable_retry = std::chrono::milliseconds(0);  // its own loops retry
  co.token = admin_token;
  // The sync's batch (a whole repository, on a first sync) goes to this
  // process's API server as a value instead of as 13 MB of JSON each way; on
  // a member that does not lead it goes over HTTP (docs/GITOPS.md).
  co.local_batch = [api, authorization = "Bearer " + admin_token](
                       Json* body, std::function<void(int, Json)> done) {
    return api->Batch(authorization, body, std::move(done));
  };
  auto client = state::Client::Create(co);
  if (!client) return client.error();
  impl_->client = std::move(*client);
  impl_->service = service;

  // Ready once a leader is known (as the built-in /readyz) and the sync
  // has written the GitRepository: before, `bosun sync` or `bosun status`
  // run right after start would answer that no repository is followed.
  const std::string repo_key =
      StoreKey(*KindRegistry::Builtin().Find({"bosun.dev", "v1", "GitRepository"}), "", "default");
  api->AddReadyCheck([service, repo_key]() -> std::optional<std::string> {
    if (!service->store().Get(repo_key)) return "the repository is not followed yet";
    return std::nullopt;
  });

  gitsync::WebhookOptions wo;
  wo.secret = impl_->webhook_secret;
  wo.ref = impl_->remote.ref;
  auto receiver = std::make_shared<gitsync::WebhookReceiver>(wo);
  std::weak_ptr<Impl::Shared> weak = impl_->shared;
  api->AddRoute("/hooks", true, [receiver, weak, service](const state::HttpRequest& req, state::Responder reply) {
    auto shared = weak.lock();
    if (!shared) {
      return reply({503, "application/json", {}, R"({"triggered":false,"message":"the server is stopping"})"});
    }
    gitsync::WebhookRequest wr;
    std::string path = req.path;
    while (!path.empty() && path.back() == '/') path.pop_back();
    size_t slash = path.rfind('/');
    wr.provider =
        path.size() > std::string("/hooks").size() && slash != std::string::npos ? path.substr(slash + 1) : "";
    wr.method = req.method;
    wr.headers = req.headers;
    wr.body = req.body;
    gitsync::WebhookAnswer answer = receiver->Handle(wr);
    if (answer.trigger) {
      std::lock_guard<std::mutex> lock(shared->mu);
      if (shared->stopping) {
        answer.status = 503;
        answer.body = R"({"triggered":false,"message":"the server is stopping"})";
      } else if (shared->controller != nullptr) {
        shared->controller->Trigger(reconciler::SyncTrigger::kWebhook);
        log::Debug("server", "webhook: sync triggered",
                   {{"provider", wr.provider}, {"ref", answer.ref}, {"rev", answer.after}});
      } else if (!service->IsLeader() && !service->LeaderApiUrl()) {
        // Nobody to hand it to: said to the Git host (which shows the
        // delivery failed and may send it again), not taken and dropped.
        // The next leader fetches at once when elected anyway.
        answer.status = 503;
        answer.body = Json{{"triggered", false},
                           {"message",
                            "no leader is known (an election, or fewer than a majority of the members are up): the "
                            "push is not taken; the next leader fetches when it is elected"}}
                          .dump();
        log::Warn("server", "webhook: no leader to ask to sync; answered 503",
                  {{"provider", wr.provider}, {"ref", answer.ref}, {"rev", answer.after}});
      } else {
        shared->forward_request = true;
        shared->cv.notify_all();
        log::Info("server", "webhook: asking the leader to sync",
                  {{"provider", wr.provider}, {"ref", answer.ref}, {"rev", answer.after}});
      }
    }
    reply({answer.status, "application/json", answer.headers, answer.body});
  });

  impl_->loop = std::thread([impl = impl_.get()] { impl->Loop(); });
  return Ok();
}

void GitOps::Impl::ForwardSyncRequest(int* attempts_left) {
  std::string now = FormatRfc3339Millis(Clock::System().Now());
  Json patch = {
      {"metadata",
       {{"annotations", {{kSyncRequestedAtAnnotation, now}, {reconciler::kSyncTriggerAnnotation, "webhook@" + now}}}}}};
  auto r = client->Patch(GitRepositoryKind(), "", kGitRepositoryName, patch);
  if (r) {
    log::Info("server", "sync requested from the leader", {{"requestedAt", now}});
    *attempts_left = 0;
    return;
  }
  if (r.error().code() == Code::kNotFound) {
    // The leader has not written the GitRepository yet; its first sync
    // fetches anyway.
    log::Info("server", "no GitRepository yet: the leader's first sync will fetch");
    *attempts_left = 0;
    return;
  }
  if (--*attempts_left <= 0) {
    log::Warn("server", "could not ask the leader to sync", {{"error", r.error().message()}});
  }
}

void GitOps::Impl::Loop() {
  std::unique_ptr<reconciler::SyncController> controller;
  int forward_attempts = 0;
  bool signing_key_ready = false;
  int signing_key_attempts = 0;
  auto stop_controller = [&](const char* why) {
    if (!controller) return;
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->controller = nullptr;
    }
    controller->Stop();
    controller.reset();
    log::Info("server", "sync controller stopped", {{"why", why}});
  };
  // Whether another member led while this one ran: its first pass as the
  // leader is then a leader change, not the server's start.
  bool saw_other_leader = false;
  for (;;) {
    bool leader = service->IsLeader();
    if (!leader && service->LeaderApiUrl()) saw_other_leader = true;
    if (leader && !signing_key_ready) {
      // The cluster's signing key (signs reverts, trusted by verification).
      auto key = reconciler::EnsureClusterSigningKey(*client);
      signing_key_ready = key.ok();
      if (key) log::Info("server", "cluster signing key", {{"fingerprint", key->Fingerprint()}});
      if (!key && signing_key_attempts++ % 40 == 0) {
        log::Warn("server", "cannot set up the cluster signing key; retrying", {{"error", key.error().message()}});
      }
    }
    if (leader && !controller) {
      reconciler::SyncOptions so;
      so.mirror = mirror.get();
      so.client = client.get();
      so.path = flags.path;
      so.interval = interval;
      so.history_limit = flags.history_limit;
      so.history_max_bytes = history_max_bytes;
      so.verify = flags.verify_commits;
      so.allowed_signers_file = flags.allowed_signers_file;
      so.record_events = true;  // `bosun get events`, `bosun describe`
      // This member's own source as it is now: its record may be the one
      // it published before a restart with other flags.
      so.source_conflict = [svc = service, mine = Json{{"gitops", Source()}}.dump()] {
        return GitOpsSourceConflict(MemberItems(svc->Members(), mine));
      };
      so.first_trigger = saw_other_leader ? reconciler::SyncTrigger::kLeaderChange : reconciler::SyncTrigger::kStartup;
      auto c = reconciler::SyncController::Create(so);
      if (!c) {
        log::Error("server", "cannot start the sync controller", {{"error", c.error().message()}});
      } else {
        controller = std::move(*c);
        controller->Start();
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->controller = controller.get();
        log::Info("server", "leading: sync controller started", {{"repo", remote.url}, {"ref", remote.ref}});
      }
    } else if (!leader && controller) {
      stop_controller("no longer the leader");
    }

    bool forward = false;
    {
      std::unique_lock<std::mutex> lock(shared->mu);
      shared->cv.wait_for(lock, kLeaderPoll, [&] { return shared->stopping || shared->forward_request; });
      if (shared->stopping) break;
      if (shared->forward_request) {
        shared->forward_request = false;
        forward_attempts = kForwardAttempts;
      }
      forward = forward_attempts > 0;
    }
    if (!forward) continue;
    if (controller) {
      controller->Trigger(reconciler::SyncTrigger::kWebhook);
      forward_attempts = 0;
    } else {
      ForwardSyncRequest(&forward_attempts);
    }
  }
  stop_controller("the server is stopping");
}

void GitOps::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->shared->mu);
    impl_->shared->stopping = true;
    impl_->shared->cv.notify_all();
  }
  if (impl_->loop.joinable()) impl_->loop.join();
}

}  // namespace bosun::cli

namespace bosun::cli {

void GitOps::TriggerSync() {
  std::lock_guard<std::mutex> lock(impl_->shared->mu);
  if (impl_->shared->controller != nullptr) impl_->shared->controller->Trigger(reconciler::SyncTrigger::kRevert);
}

Result<reconciler::RevertOutcome> GitOps::Revert(const std::string& commit, const std::string& back_to,
                                                 const std::string& reason) {
  gitsync::RevertOptions ro;
  ro.reason = reason;
  ro.back_to = back_to;
  // Signed with the cluster's key (bosun-system/signing-key), which
  // verification trusts by default.
  if (impl_->client) ro.signer = reconciler::ClusterCommitSigner(impl_->client.get());
  // A merge commit (a merged pull request: how a team usually deploys) is
  // reverted against its first parent, the followed branch before the merge
  // (`git revert -m 1`); gitsync refuses a merge without a mainline.
  if (auto info = impl_->mirror->Commit(commit); info && info->parents.size() > 1) ro.mainline = 1;
  auto r = impl_->mirror->Revert(commit, ro);
  if (!r) return r.error();
  if (!r->conflicts.empty()) return Error(Code::kConflict, r->conflict_message);
  log::Info("server", r->pushed_before ? "the revert was pushed before" : "pushed a revert",
            {{"reverted", commit.substr(0, 7)},
             {"commits", std::to_string(r->commits)},
             {"commit", r->commit.substr(0, 7)},
             {"attempts", std::to_string(r->attempts)}});
  return reconciler::RevertOutcome{r->commit, r->attempts, r->pushed_before, r->back_to, r->commits};
}

}  // namespace bosun::cli
