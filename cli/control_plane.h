// cli/control_plane.h — one control-plane member, as `bosun server` and
// `bosun up` run it: the tokens, a state replica (RocksDB + Raft) and its
// HTTP API, the member-join route, with --repo the GitOps half
// (cli/server_gitops.h), and the workload controllers that run while this
// member leads (cli/server_controllers.h).
//
// Start brings the parts up in order and, when one fails, stops those already
// started before returning the error (a message for the terminal). Stop takes
// them down in the reverse order: the controllers (clients of the API) first,
// then GitOps, the API and the replica.
//
// Signals are the caller's: block SIGINT/SIGTERM before Start so that no
// thread started here receives them.
//
// Thread-safety: Start and Stop from one thread; the accessors from any.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cli/server_controllers.h"
#include "cli/server_gitops.h"
#include "core/result.h"
#include "state/api_server.h"
#include "state/auth.h"
#include "state/replicated_service.h"
#include "state/secret_codec.h"

namespace bosun::cli {

struct ControlPlaneOptions {
  uint64_t id = 1;
  std::string data;
  std::string listen = "127.0.0.1:6443";
  std::string raft_listen = "127.0.0.1:7001";
  std::string peers;
  std::string join;
  std::string admin_token_file;
  // The data-encryption key for Secrets at rest (docs/SECURITY.md); empty:
  // DATA/keys/secrets.key, created at first start. Every member of a cluster
  // must use the same file.
  std::string encryption_key_file;
  int bookmark_seconds = 10;
  unsigned snapshot_threshold = 65536;  // see state/replicator.h
  unsigned snapshot_trailing = 2048;
  GitOpsFlags gitops;
  ControllerFlags controllers;
  // Called once, from a thread of the store, when this member's store failed
  // and stopped (state/replicator.h on_fatal): `bosun server` and `bosun up`
  // then stop the process with an error, so that it does not look alive
  // while it applies nothing. Must not block.
  std::function<void(const std::string& why)> on_store_failure;
};

// For ControlPlaneOptions::on_store_failure in a process that waits for
// its signals with sigwait (SIGUSR1 among them): keeps `why` and sends this
// process SIGUSR1; the waiting thread then stops with StoreFailure().
void NoteStoreFailure(const std::string& why);
std::string StoreFailure();

class ControlPlane {
 public:
  static Result<std::unique_ptr<ControlPlane>> Start(const ControlPlaneOptions& options);
  ~ControlPlane();  // Stop()
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // The API's bound URL, e.g. "http://127.0.0.1:6443".
  std::string api_url() const;
  const std::string& admin_token() const { return admin_token_; }
  const std::string& admin_token_path() const { return admin_token_path_; }
  const std::string& tokens_path() const { return tokens_path_; }
  // nullptr without --repo.
  GitOps* gitops() const { return gitops_.get(); }
  state::ReplicatedService* service() const { return service_.get(); }
  state::ApiServer* api() const { return api_.get(); }
  state::TokenAuthenticator& auth() { return auth_; }

  // Idempotent.
  void Stop();

 private:
  ControlPlane() = default;
  Status StartParts(const ControlPlaneOptions& options);

  std::string admin_token_;
  std::string admin_token_path_;
  std::string tokens_path_;
  state::TokenAuthenticator auth_;
  std::unique_ptr<GitOps> gitops_;
  std::unique_ptr<LeaderControllers> controllers_;
  std::unique_ptr<state::ReplicatedService> service_;
  // Outlives api_ (declared before it), which encodes through it.
  std::unique_ptr<state::EncryptingValueCodec> codec_;
  std::unique_ptr<state::ApiServer> api_;
  struct Publisher;
  std::unique_ptr<Publisher> publisher_;
  bool stopped_ = false;
  // DATA/bosun.lock, held (flock) for the process's life: a second process
  // on the same data directory stops before it touches anything in it.
  int data_lock_fd_ = -1;
};

}  // namespace bosun::cli
