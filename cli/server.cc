// `bosun server`: one control-plane member — a state replica and its API, and
// with --repo the GitOps sync (cli/control_plane.h does the work).
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <signal.h>

#include "cli/control_plane.h"
#include "cli/verbs.h"
#include "core/log.h"

namespace bosun::cli {
namespace {

using ServerOptions = ControlPlaneOptions;

int RunServer(ServerOptions opt) {
  // SIGINT/SIGTERM end the server; block them before any thread starts so
  // only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A failed store (a full disk) stops the process: see StoreFailure.
  opt.on_store_failure = NoteStoreFailure;

  auto cp = ControlPlane::Start(opt);
  if (!cp) {
    std::fprintf(stderr, "bosun server: %s\n", cp.error().message().c_str());
    return cp.error().code() == Code::kUnavailable ? 1 : 2;
  }
  std::printf(
      "bosun server: member %llu\n  API:          %s\n  raft:         %s\n  data:         %s\n  admin token:  %s\n",
      static_cast<unsigned long long>(opt.id), (*cp)->api_url().c_str(), opt.raft_listen.c_str(), opt.data.c_str(),
      (*cp)->admin_token_path().c_str());
  if ((*cp)->gitops()) std::printf("  repo:         %s\n", (*cp)->gitops()->Describe().c_str());
  // As `bosun up` says it: the CLI's defaults are another address and file.
  // An absolute path: the export is copied and used from other folders
  // (the repository's clone, for `bosun diff`).
  std::error_code ec;
  std::filesystem::path token = std::filesystem::absolute((*cp)->admin_token_path(), ec).lexically_normal();
  std::printf("  use the CLI:  export BOSUN_SERVER=%s BOSUN_TOKEN_FILE=%s\n", (*cp)->api_url().c_str(),
              ec ? (*cp)->admin_token_path().c_str() : token.c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  if (sig == SIGUSR1) {
    const std::string why = StoreFailure();
    std::fprintf(stderr,
                 "bosun server: stopping: this member's state store failed and applies nothing more: %s\n"
                 "  fix the cause (disk space in %s?) and start it again; its data is kept\n",
                 why.c_str(), opt.data.c_str());
    // Not an orderly stop: RocksDB (Debian's build keeps its assertions)
    // aborts when closed after a failed write. What was acknowledged is in
    // the Raft log, as after a crash, which a start recovers from.
    std::fflush(nullptr);
    std::_Exit(1);
  }
  log::Info("server", "stopping", {{"signal", std::to_string(sig)}});
  (*cp)->Stop();
  return 0;
}

}  // namespace

void AddServer(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<ServerOptions>();
  CLI::App* cmd = app.add_subcommand(
      "server",
      "Run one control-plane member: a replica of the state store (RocksDB, replicated with Raft) and its\n"
      "Kubernetes-style HTTP API. One member alone is a cluster of one; three or five survive the loss of one\n"
      "or two. Example, three members on one machine:\n"
      "  bosun server --id 1 --data d1 --listen 127.0.0.1:6441 --raft-listen 127.0.0.1:7001 \\\n"
      "               --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --admin-token-file admin.token \\\n"
      "               --encryption-key-file secrets.key\n"
      "  (and the same with --id 2 / 3, their own --data, --listen and --raft-listen; the same key file, and\n"
      "  the same --repo, --branch/--ref, --path and --verify-commits on every member)\n"
      "With --repo, the cluster follows a Git repository: every member keeps a mirror in DATA/git and the\n"
      "leader syncs the followed ref into the store, recording each revision (`bosun history`):\n"
      "  bosun server --data d --repo https://git.example.com/shop.git --branch main --path deploy/ \\\n"
      "               --webhook-secret-file hook.secret");
  cmd->add_option("--id", opt->id, "This member's id (a number > 0, unique in the cluster)")->capture_default_str();
  cmd->add_option("--data", opt->data, "Data folder (store, Raft log, tokens)")->required();
  cmd->add_option("--listen", opt->listen, "HOST:PORT for the HTTP API")->capture_default_str();
  cmd->add_option("--raft-listen", opt->raft_listen, "HOST:PORT for Raft traffic between members")
      ->capture_default_str();
  cmd->add_option("--peers", opt->peers,
                  "The first members, ID=HOST:PORT of their Raft address, comma-separated (used only when the data "
                  "folder is new). Without it, this member starts a cluster of one.");
  cmd->add_option("--join", opt->join, "API URL of a running member: join its cluster (with an empty --data)");
  cmd->add_option("--admin-token-file", opt->admin_token_file,
                  "Where the admin token is read from, or written to if absent (default DATA/admin.token); give "
                  "every member the same file");
  cmd->add_option("--encryption-key-file", opt->encryption_key_file,
                  "The key Secrets are encrypted with at rest (32 random bytes, mode 0600; default "
                  "DATA/keys/secrets.key, created at first start). Every member of a cluster must use the same "
                  "file: copy it to each machine before starting them; never lose it (the store's Secrets cannot "
                  "be read without it)");
  cmd->add_option("--bookmark-interval", opt->bookmark_seconds, "Seconds between watch BOOKMARK events")
      ->capture_default_str();
  cmd->add_option("--snapshot-threshold", opt->snapshot_threshold,
                  "Raft log entries between snapshots (a snapshot is a RocksDB checkpoint)")
      ->capture_default_str();
  cmd->add_option("--snapshot-trailing", opt->snapshot_trailing, "Raft log entries kept after a snapshot")
      ->capture_default_str();
  AddGitOpsFlags(cmd, &opt->gitops);
  AddControllerFlags(cmd, &opt->controllers);
  cmd->callback([opt, exit_code] { *exit_code = RunServer(*opt); });
}

}  // namespace bosun::cli
