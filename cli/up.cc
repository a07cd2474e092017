// `bosun up`: the whole system in one process, as k3s runs a server and an
// agent together — a one-member control plane (cli/control_plane.h: the
// store, the API, GitOps and the leader's controllers) and a node daemon
// (cli/node_runner.h) on this machine.
//
// The data folder (default /var/lib/bosun, as k3s keeps /var/lib/rancher/k3s):
//   admin.token      the admin's bearer token (0600), for the CLI
//   server/          the control plane: store, Raft log, tokens, the Git mirror;
//                    server/node-token is the node's token (group system:nodes)
//   node/            the node: images, containers, volumes; node/airgap holds
//                    image archives imported at each start
//   origin.git       without --repo: the repository bosun follows (bare, as a
//                    Git server would hold it), made once from examples-repo/
//   repo/            its clone, for the user: edit, commit, `git push`; a
//                    push runs origin.git's post-receive hook, which asks
//                    bosun to sync at once (it also polls every 5 s)
//   bosun.log        the structured log (--log-file - for stderr)
// The repository is a bare one plus a clone, not one working tree, because an
// automated rollback pushes a revert commit to the followed branch: a branch
// checked out in a working tree would be moved under the user's feet.
//
// Ctrl-C (SIGINT or SIGTERM): every pod is stopped and removed (containers,
// mounts, namespaces, cgroups, veths, IP leases, hostPort rules) and the
// bridge deleted, as k3s-killall.sh does; then the control plane stops.
// Starting again on the same folder resumes: same tokens, same repository,
// the store as it was; the node starts the pods the store binds to it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/control_plane.h"
#include "cli/gitops.h"
#include "cli/node_runner.h"
#include "cli/up_repo.h"
#include "cli/verbs.h"
#include "core/duration.h"
#include "core/kinds.h"
#include "core/log.h"
#include "node/sandbox.h"
#include "state/auth.h"
#include "state/client.h"

namespace bosun::cli {
namespace {

namespace fs = std::filesystem;
using std::chrono::steady_clock;

struct UpOptions {
  std::string data = "/var/lib/bosun";
  std::string listen = "127.0.0.1:6443";
  std::string raft_listen = "127.0.0.1:7001";
  std::string examples;
  std::string log_file;
  std::string node_name;
  std::string node_listen = "127.0.0.1:10250";
  std::string pod_cidr = "10.244.0.0/24";
  std::string bridge = "bosun0";
  std::string cgroup_parent = "bosun";
  std::string stop_grace = "5s";
  GitOpsFlags gitops;
  ControllerFlags controllers;
  bool fetch_interval_given = false;
};

// Progress lines on stdout, "[  1.2s] what", from any thread.
class Progress {
 public:
  void Line(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    double s = std::chrono::duration<double>(steady_clock::now() - start_).count();
    std::printf("[%6.1fs] %s\n", s, text.c_str());
    std::fflush(stdout);
  }

 private:
  std::mutex mu_;
  steady_clock::time_point start_ = steady_clock::now();
};

// Follows the cluster as a person would with `bosun status` and `bosun get
// pods`: one line when the live revision or its outcome changes, when a sync
// fails, and when the number of ready pods changes.
class Watcher {
 public:
  // `resuming`: a start on a folder used before (the live revision is not
  // this start's first).
  // `watch_after_healthy`: how long a Healthy revision may still turn
  // Degraded (the server's --watch-after-healthy): followed that long.
  Watcher(Progress* progress, std::unique_ptr<state::Client> client, bool resuming,
          std::chrono::milliseconds watch_after_healthy)
      : progress_(progress),
        client_(std::move(client)),
        resuming_(resuming),
        watch_after_healthy_(watch_after_healthy) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Watcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      Poll();
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_; });
    }
  }

  void Poll() {
    if (auto repo = GetGitRepository(*client_)) {
      std::string live = StringField(repo->status(), "liveRevisionName");
      // From the live record on: each record's outcome as it changes (a
      // Degraded revision may be reverted between two polls of the live one).
      if (next_ == 0 && !live.empty()) next_ = std::stoll(live);
      while (next_ > 0) {
        char name[32];
        std::snprintf(name, sizeof name, "%08lld", next_);
        auto rec = client_->Get(RevisionKind(), "", name);
        if (!rec) break;
        Report(*rec);
        ++next_;
      }
      for (auto it = open_.begin(); it != open_.end();) {
        auto rec = client_->Get(RevisionKind(), "", it->first);
        bool done = !rec || Report(*rec);
        it = done ? open_.erase(it) : std::next(it);
      }
      std::string err = StringField(repo->status(), "lastSyncError");
      if (err != last_sync_error_) {
        if (!err.empty()) progress_->Line("sync: " + err);
        last_sync_error_ = err;
      }
      // A repository that cannot be fetched (down, wrong URL, credentials):
      // said here, not only in `bosun status` and the log; and when it
      // answers again.
      const std::string fetching = StringField(repo->status(), "fetchingSince");
      if (fetching != last_fetching_) {
        if (!fetching.empty())
          progress_->Line("fetch: the repository is slow to answer (fetching since " + fetching + ")");
        last_fetching_ = fetching;
      }
      std::string fetch_err = StringField(repo->status(), "lastFetchError");
      if (fetch_err != last_fetch_error_) {
        if (!fetch_err.empty()) {
          progress_->Line("fetch: " + fetch_err + " (retried every " + PollIntervalOf(*repo) +
                          "; `bosun status` shows the last attempt)");
        } else if (!last_fetch_error_.empty()) {
          progress_->Line("fetch: the repository answers again");
        }
        last_fetch_error_ = fetch_err;
      }
    }
    if (auto pods = client_->List(*KindRegistry::Builtin().FindKind("Pod"), "")) {
      int ready = 0, total = 0, completed = 0;
      for (const auto& pod : pods->items) {
        std::string phase = StringField(pod.status(), "phase");
        if (phase == "Succeeded") {
          ++completed;
          continue;
        }
        if (phase == "Failed" || !StringField(Object::Field(pod.json(), "metadata"), "deletionTimestamp").empty())
          continue;
        ++total;
        const Json& conds = Object::Field(pod.status(), "conditions");
        if (!conds.is_array()) continue;
        for (const auto& c : conds) {
          if (StringField(c, "type") == "Ready" && StringField(c, "status") == "True") ++ready;
        }
      }
      std::string line = "pods ready " + std::to_string(ready) + "/" + std::to_string(total);
      if (completed > 0) line += " (" + std::to_string(completed) + " completed)";
      if (line != last_pods_ && (total > 0 || !last_pods_.empty())) {
        progress_->Line(line);
        last_pods_ = line;
      }
    }
  }

  // Prints the record's outcome when it changed; true once it is final.
  bool Report(const Object& rec) {
    const Json& msg = Object::Field(rec.spec(), "message");
    std::string subject = msg.is_string() ? msg.get<std::string>() : "";
    subject = subject.substr(0, subject.find('\n'));
    std::string seq = SequenceOf(rec);
    std::string outcome = OutcomeOf(rec);
    std::string& last = open_[rec.name()];
    if (outcome != last) {
      std::string prefix =
          !printed_any_ ? (seq == "1" && !resuming_ ? "first revision applied: " : "live revision: ") : "";
      progress_->Line(prefix + "revision " + seq + " (" + ShortSha(StringField(rec.spec(), "commit")) + " \"" +
                      subject + "\"): " + outcome);
      printed_any_ = true;
      last = outcome;
    }
    std::string phase = StringField(rec.status(), "phase");
    bool final = phase == "Reverted" || phase == "Superseded" || phase == "Refused" || phase == "Skipped" ||
                 phase == "Failed" || (phase == "Degraded" && !MayBeReverted(rec)) ||
                 (phase == "Healthy" && !MayStillTurn(rec));
    return final;
  }
  // Whether a Degraded record may still turn Reverted: not when it is itself
  // a revert or its revert failed (needs a human).
  static bool MayBeReverted(const Object& rec) {
    const Json& revert = Object::Field(rec.status(), "revert");
    bool failed = revert.is_object() &&
                  (revert.contains("error") || revert.contains("needsHuman") || revert.contains("notNeeded"));
    return StringField(rec.spec(), "reverts").empty() && !failed;
  }
  // Whether a Healthy record is still watched by the server (a crash loop
  // then makes it Degraded): for watch_after_healthy_ after it went so.
  bool MayStillTurn(const Object& rec) const {
    auto at = ParseRfc3339(StringField(rec.status(), "healthyAt"));
    return at && Clock::System().Now() < *at + watch_after_healthy_;
  }

  Progress* progress_;
  std::unique_ptr<state::Client> client_;
  const bool resuming_;
  const std::chrono::milliseconds watch_after_healthy_;
  long long next_ = 0;                       // the next record to look for
  std::map<std::string, std::string> open_;  // records not final yet → last outcome printed
  bool printed_any_ = false;
  std::string last_sync_error_, last_fetch_error_, last_fetching_, last_pods_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

int Fail2(const std::string& message) {
  std::fprintf(stderr, "bosun up: %s\n", message.c_str());
  return 2;
}

// Every log record to `path` (appended), one line each.
Status LogToFile(const std::string& path) {
  auto file = std::make_shared<std::ofstream>(path, std::ios::app);
  if (!*file) return Error(Code::kIo, "cannot write the log file " + path);
  auto mu = std::make_shared<std::mutex>();
  log::SetSink([file, mu](const log::Record& r) {
    std::string line = log::FormatLine(r);
    std::lock_guard<std::mutex> lock(*mu);
    *file << line << '\n';
    file->flush();
  });
  return Ok();
}

// The command line that starts this again: this one as it was given (its
// flags are not saved in DATA), with --data made absolute; quoted for a shell.
std::string ResumeCommand(const std::string& data) {
  auto text = node::sandbox::ReadFile("/proc/self/cmdline");
  std::vector<std::string> args;
  if (text) {
    size_t start = 0;
    for (size_t i = 0; i < text->size(); ++i) {
      if ((*text)[i] == '\0') {
        args.push_back(text->substr(start, i - start));
        start = i + 1;
      }
    }
  }
  // From the verb on: `bosun` rather than the path it was run by.
  auto verb = std::find(args.begin(), args.end(), "up");
  if (verb == args.end()) return "bosun up --data " + data;
  auto quote = [](const std::string& a) {
    if (!a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,@%+") ==
                          std::string::npos) {
      return a;
    }
    std::string q = "'";
    for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  std::string cmd = "bosun";
  bool has_data = false;
  for (auto it = verb; it != args.end(); ++it) {
    if (*it == "--data" && std::next(it) != args.end()) {
      cmd += " --data " + quote(data);
      ++it;
      has_data = true;
    } else if (it->rfind("--data=", 0) == 0) {
      cmd += " " + quote("--data=" + data);
      has_data = true;
    } else {
      cmd += " " + quote(*it);
    }
  }
  if (!has_data) cmd += " --data " + quote(data);
  return cmd;
}

int RunUp(UpOptions opt) {
  // SIGINT/SIGTERM end bosun up; blocked before any thread starts so only
  // sigwait below sees them.
  // A shell starts background jobs with SIGINT ignored, and an ignored
  // signal never reaches sigwait: take them back first.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // the store failed (NoteStoreFailure)
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (::geteuid() != 0) {
    return Fail2("needs root: the node runs containers with runc, namespaces, cgroups and CNI networking");
  }
  auto grace = ParseDuration(opt.stop_grace);
  if (!grace) return Fail2("--stop-grace: " + grace.error().message());
  std::error_code ec;
  // A folder used before: the store, its tokens and repository are kept.
  const bool resuming = fs::exists(fs::path(opt.data) / "admin.token", ec);
  fs::create_directories(opt.data + "/server", ec);
  if (ec) return Fail2("cannot create " + opt.data + "/server: " + ec.message());
  std::string data = fs::absolute(opt.data).lexically_normal().string();
  if (data.size() > 1 && data.back() == '/') data.pop_back();
  ::chmod(data.c_str(), 0700);
  ::chmod((data + "/server").c_str(), 0700);
  std::string log_file = opt.log_file.empty() ? data + "/bosun.log" : opt.log_file;
  if (log_file != "-") {
    if (auto st = LogToFile(log_file); !st) return Fail2(st.error().message());
  }
  Progress progress;

  // Without --repo: the example repository (made once; later starts follow it
  // as it is now).
  std::string repo_note;
  if (opt.gitops.repo.empty()) {
    auto example = EnsureExampleRepo(data, opt.examples);
    if (!example) return Fail2(example.error().message());
    opt.gitops.repo = example->origin;
    opt.gitops.branch = "main";
    opt.gitops.ref.clear();
    if (!opt.fetch_interval_given) opt.gitops.fetch_interval = "5s";
    repo_note = example->created ? "made from " + example->source + "; " : "";
    repo_note += "edit in " + example->clone + ", then git commit and git push";
    // The bundled examples' SealedSecret is sealed to a public demo key.
    if (opt.examples.empty() && opt.controllers.sealing_key_file.empty()) {
      opt.controllers.sealing_key_file = InstallDemoSealingKey(data);
      if (!opt.controllers.sealing_key_file.empty()) {
        repo_note += "\n                sealing key: the DEMO ONLY key of the examples (public: never seal a real secret with it)";
      }
    }
  }

  ControlPlaneOptions cpo;
  cpo.data = data + "/server";
  cpo.listen = opt.listen;
  cpo.raft_listen = opt.raft_listen;
  cpo.admin_token_file = data + "/admin.token";
  cpo.gitops = opt.gitops;
  cpo.on_store_failure = NoteStoreFailure;  // stops bosun up (SIGUSR1 below)
  cpo.controllers = opt.controllers;
  // The node's own token (group system:nodes), before the control plane
  // loads the tokens file.
  std::string node_name = opt.node_name.empty() ? "" : opt.node_name;
  auto node_token = state::EnsureToken(cpo.data + "/tokens", cpo.data + "/node-token", "system:node",
                                       "system:nodes");
  if (!node_token) return Fail2(node_token.error().message());

  auto cp = ControlPlane::Start(cpo);
  if (!cp) return Fail2(cp.error().message());
  std::string api = (*cp)->api_url();
  std::printf("bosun up: a cluster of one on this machine\n");
  std::printf("  API:          %s\n", api.c_str());
  std::printf("  admin token:  %s\n", (*cp)->admin_token_path().c_str());
  std::printf("  data:         %s (log: %s)\n", data.c_str(), log_file == "-" ? "stderr" : log_file.c_str());
  if ((*cp)->gitops()) std::printf("  following:    %s\n", (*cp)->gitops()->Describe().c_str());
  if (!repo_note.empty()) std::printf("                %s\n", repo_note.c_str());
  std::printf("  use the CLI:  export BOSUN_SERVER=%s BOSUN_TOKEN_FILE=%s\n", api.c_str(),
              (*cp)->admin_token_path().c_str());
  std::fflush(stdout);
  progress.Line("store ready (API " + api + ")");
  if (!repo_note.empty()) {
    if (auto st = WriteSyncHook(opt.gitops.repo, api, (*cp)->admin_token_path()); !st) {
      progress.Line("warning: " + st.error().message() + " (bosun still polls the repository)");
    }
  }

  NodeRunnerOptions no;
  no.servers = {api};
  no.token = *node_token;
  no.name = node_name;
  no.data = data + "/node";
  no.pod_cidr = opt.pod_cidr;
  no.bridge = opt.bridge;
  no.listen = opt.node_listen;
  no.cgroup_parent = opt.cgroup_parent;
  fs::create_directories(no.data + "/airgap", ec);
  auto node = NodeRunner::Start(no);
  if (!node) {
    (*cp)->Stop();
    return Fail2("the node: " + node.error().message());
  }
  const auto& imported = (*node)->imported();
  if (imported.empty()) {
    progress.Line("images imported: none (put image archives in " + no.data + "/airgap)");
  } else {
    std::string list;
    for (size_t i = 0; i < imported.size() && i < 4; ++i) list += (i ? ", " : "") + imported[i];
    if (imported.size() > 4) list += ", …";
    progress.Line("images imported: " + std::to_string(imported.size()) + " (" + list + ")");
  }
  for (const auto& failure : (*node)->import_failures()) progress.Line("image archive skipped: " + failure);
  progress.Line("node registered: " + (*node)->name() + " (pods " + opt.pod_cidr + " on bridge " + opt.bridge + ")");

  std::unique_ptr<Watcher> watcher;
  {
    state::ClientOptions co;
    co.servers = {api};
    co.token = (*cp)->admin_token();
    co.timeout = std::chrono::seconds(5);
    if (auto client = state::Client::Create(co)) {
      auto watch = ParseDuration(opt.controllers.watch_after_healthy);
      watcher = std::make_unique<Watcher>(
          &progress, std::move(*client), resuming,
          watch ? std::chrono::duration_cast<std::chrono::milliseconds>(*watch) : std::chrono::minutes(10));
    }
  }

  int sig = 0;
  sigwait(&signals, &sig);
  int rc = 0;
  if (sig == SIGUSR1) {
    std::fprintf(stderr,
                 "bosun up: the control plane's state store failed and applies nothing more: %s\n"
                 "  fix the cause (disk space in %s?) and start it again; its data is kept\n",
                 StoreFailure().c_str(), data.c_str());
    rc = 1;
  }
  log::Info("up", "stopping", {{"signal", std::to_string(sig)}});
  progress.Line("stopping: pods, then the node and the control plane");
  watcher.reset();
  if (auto st = (*node)->StopAndRemovePods(std::chrono::duration_cast<std::chrono::milliseconds>(*grace)); !st) {
    std::fprintf(stderr, "bosun up: %s\n", st.error().message().c_str());
    rc = 1;
  }
  if (sig == SIGUSR1) {
    // As `bosun server` does: no orderly stop of a store whose write failed
    // (RocksDB aborts when closed then); a start recovers as after a crash.
    progress.Line("stopped; `" + ResumeCommand(data) + "` resumes once the cause is fixed");
    std::fflush(nullptr);
    std::_Exit(1);
  }
  (*cp)->Stop();
  progress.Line("stopped; `" + ResumeCommand(data) + "` resumes");
  log::SetSink(nullptr);
  return rc;
}

}  // namespace

void AddUp(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<UpOptions>();
  CLI::App* cmd = app.add_subcommand(
      "up",
      "Run the whole system on this machine in one process (as root): a one-member control plane (store,\n"
      "API, GitOps, controllers) and a node daemon that runs the pods with runc. With no --repo, the first\n"
      "start makes a Git repository of the bundled examples-repo in DATA/origin.git with a clone to edit in\n"
      "DATA/repo, and follows it:\n"
      "  bosun up                                   # data in /var/lib/bosun, API on 127.0.0.1:6443\n"
      "  cd /var/lib/bosun/repo && $EDITOR web/configmap.yaml && git commit -am 'web: 1.1' && git push\n"
      "  bosun up --repo https://git.example.com/shop.git --branch main --path deploy/\n"
      "Image archives in DATA/node/airgap are imported at start (scripts/build-example-images makes the\n"
      "examples'). Ctrl-C stops and removes every pod (containers, mounts, namespaces, cgroups, network)\n"
      "and then the control plane; starting again on the same DATA resumes.");
  cmd->add_option("--data", opt->data, "Data folder (store, tokens, node, the example repository, the log)")
      ->capture_default_str();
  cmd->add_option("--listen", opt->listen, "HOST:PORT for the HTTP API")->capture_default_str();
  cmd->add_option("--raft-listen", opt->raft_listen, "HOST:PORT of the store's Raft member")->capture_default_str();
  cmd->add_option("--examples", opt->examples,
                  "The folder the first start copies into the example repository (default: the examples-repo "
                  "bosun was built from). The DEMO ONLY sealing key is imported only for the bundled examples: "
                  "for a copy of them, add --sealing-key-file scripts/DEMO-ONLY-sealing-key");
  cmd->add_option("--log-file", opt->log_file, "Where the log goes (default DATA/bosun.log; - for stderr)");
  cmd->add_option("--node-name", opt->node_name, "The Node's name (default: the host name)");
  cmd->add_option("--node-listen", opt->node_listen, "HOST:PORT of the node server (logs, exec); port 0 picks one")
      ->capture_default_str();
  cmd->add_option("--pod-cidr", opt->pod_cidr, "The node's pod addresses")->capture_default_str();
  cmd->add_option("--bridge", opt->bridge, "The pods' bridge")->capture_default_str();
  cmd->add_option("--cgroup-parent", opt->cgroup_parent, "The cgroup every pod's cgroup lives under")
      ->capture_default_str();
  cmd->add_option("--stop-grace", opt->stop_grace, "On Ctrl-C, how long containers get between SIGTERM and SIGKILL")
      ->capture_default_str();
  AddGitOpsFlags(cmd, &opt->gitops);
  AddControllerFlags(cmd, &opt->controllers);
  cmd->callback([opt, exit_code, cmd] {
    opt->fetch_interval_given = cmd->get_option("--fetch-interval")->count() > 0;
    *exit_code = RunUp(*opt);
  });
}

}  // namespace bosun::cli
