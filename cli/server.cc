// `bosun server`: one control-plane member — a state replica and its API, and
// with --repo the GitOps sync (cli/server_gitops.h).
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cpprest/http_client.h>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "cli/server_controllers.h"
#include "cli/server_gitops.h"
#include "cli/verbs.h"
#include "core/log.h"
#include "state/api_server.h"
#include "state/auth.h"
#include "state/replicated_service.h"

namespace bosun::cli {
namespace {

namespace fs = std::filesystem;

struct ServerOptions {
  uint64_t id = 1;
  std::string data;
  std::string listen = "127.0.0.1:6443";
  std::string raft_listen = "127.0.0.1:7001";
  std::string peers;
  std::string join;
  std::string admin_token_file;
  int bookmark_seconds = 10;
  unsigned snapshot_threshold = 8192;
  unsigned snapshot_trailing = 2048;
  GitOpsFlags gitops;
  ControllerFlags controllers;
};

// "1=127.0.0.1:7001,2=127.0.0.1:7002" → members.
Result<std::vector<state::Member>> ParsePeers(const std::string& spec) {
  std::vector<state::Member> out;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos) {
      return Error(Code::kInvalid, "--peers: \"" + item + "\" is not ID=HOST:PORT (e.g. 1=127.0.0.1:7001)");
    }
    state::Member m;
    try {
      m.id = std::stoull(item.substr(0, eq));
    } catch (...) {
      return Error(Code::kInvalid, "--peers: \"" + item.substr(0, eq) + "\" is not a member id (a number > 0)");
    }
    if (m.id == 0) return Error(Code::kInvalid, "--peers: member ids start at 1");
    m.address = item.substr(eq + 1);
    if (m.address.find(':') == std::string::npos) {
      return Error(Code::kInvalid, "--peers: \"" + m.address + "\" needs a port (HOST:PORT)");
    }
    out.push_back(m);
  }
  return out;
}

// Asks the member at `url` (following the leader hint) to add us.
Status Join(const std::string& url, const std::string& token, uint64_t id, const std::string& raft_address,
            const std::string& api_url) {
  std::string target = url;
  for (int attempt = 0; attempt < 60; ++attempt) {
    try {
      web::http::client::http_client_config cfg;
      cfg.set_timeout(std::chrono::seconds(30));
      web::http::client::http_client client(utility::conversions::to_string_t(target), cfg);
      web::http::http_request req(web::http::methods::POST);
      req.set_request_uri(U("/bosun/v1/members/join"));
      req.headers().add(U("Authorization"), U("Bearer ") + utility::conversions::to_string_t(token));
      nlohmann::json body = {{"id", id}, {"raftAddress", raft_address}, {"apiUrl", api_url}};
      req.set_body(body.dump(), "application/json");
      auto resp = client.request(req).get();
      std::string text = resp.extract_utf8string(true).get();
      if (resp.status_code() == 200) return Ok();
      auto j = nlohmann::json::parse(text, nullptr, false);
      if (resp.status_code() == 503 && j.is_object() && j.contains("details") && j["details"].contains("leader")) {
        target = j["details"]["leader"].get<std::string>();
        continue;
      }
      if (resp.status_code() != 503) {
        return Error(Code::kUnavailable, "joining through " + target + " failed: " + (j.is_object() ? j.value("message", text) : text));
      }
    } catch (const std::exception& e) {
      log::Warn("server", "join attempt failed", {{"via", target}, {"error", e.what()}});
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return Error(Code::kUnavailable, "could not join the cluster through " + url + " within a minute");
}

int RunServer(const ServerOptions& opt) {
  if (opt.data.empty()) {
    std::fprintf(stderr, "bosun server: --data is required\n");
    return 2;
  }
  std::error_code ec;
  fs::create_directories(opt.data, ec);
  if (ec) {
    std::fprintf(stderr, "bosun server: cannot create %s: %s\n", opt.data.c_str(), ec.message().c_str());
    return 2;
  }
  ::chmod(opt.data.c_str(), 0700);

  std::string tokens_path = opt.data + "/tokens";
  std::string admin_path = opt.admin_token_file.empty() ? opt.data + "/admin.token" : opt.admin_token_file;
  auto token = state::EnsureAdminToken(tokens_path, admin_path);
  if (!token) {
    std::fprintf(stderr, "bosun server: %s\n", token.error().message().c_str());
    return 2;
  }
  state::TokenAuthenticator auth;
  if (auto st = auth.Load(tokens_path); !st) {
    std::fprintf(stderr, "bosun server: %s\n", st.error().message().c_str());
    return 2;
  }

  // The --repo flags are checked (and the mirror opened) before the member
  // starts, so a bad flag costs nothing.
  auto gitops = GitOps::Prepare(opt.gitops, opt.data);
  if (!gitops) {
    std::fprintf(stderr, "bosun server: %s\n", gitops.error().message().c_str());
    return 2;
  }
  auto controllers = LeaderControllers::Prepare(opt.controllers);
  if (!controllers) {
    std::fprintf(stderr, "bosun server: %s\n", controllers.error().message().c_str());
    return 2;
  }

  state::ReplicatedServiceOptions so;
  so.data_dir = opt.data;
  so.api_url = "http://" + opt.listen;
  so.raft.id = opt.id;
  so.raft.address = opt.raft_listen;
  so.raft.snapshot_threshold = opt.snapshot_threshold;
  so.raft.snapshot_trailing = opt.snapshot_trailing;
  if (!opt.join.empty()) {
    so.raft.join = true;
  } else if (opt.peers.empty()) {
    so.raft.bootstrap = {state::Member{opt.id, opt.raft_listen, true}};
  } else {
    auto peers = ParsePeers(opt.peers);
    if (!peers) {
      std::fprintf(stderr, "bosun server: %s\n", peers.error().message().c_str());
      return 2;
    }
    bool self = false;
    for (const auto& m : *peers) self = self || m.id == opt.id;
    if (!self) {
      std::fprintf(stderr, "bosun server: --peers must include this member (--id %llu)\n",
                   static_cast<unsigned long long>(opt.id));
      return 2;
    }
    so.raft.bootstrap = *peers;
  }

  // SIGINT/SIGTERM end the server; block them before any thread starts so
  // only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto service = state::ReplicatedService::Start(so);
  if (!service) {
    std::fprintf(stderr, "bosun server: %s\n", service.error().message().c_str());
    return 2;
  }
  state::ApiServerOptions ao;
  ao.listen = so.api_url;
  ao.bookmark_interval = std::chrono::seconds(opt.bookmark_seconds);
  ao.version = BOSUN_VERSION;
  auto api = state::ApiServer::Start(ao, service->get(), &auth);
  if (!api) {
    std::fprintf(stderr, "bosun server: %s\n", api.error().message().c_str());
    return 2;
  }
  state::ReplicatedService* svc = service->get();
  // Joining members ask an existing member to add them; only the leader can.
  (*api)->AddRoute("/bosun/v1/members/join", false, [svc](const state::HttpRequest& req, state::Responder reply) {
    auto status_body = [](int code, const std::string& reason, const std::string& msg, nlohmann::json details) {
      nlohmann::json s = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                          {"status", code == 200 ? "Success" : "Failure"}, {"message", msg}, {"reason", reason},
                          {"code", code}};
      if (!details.is_null()) s["details"] = details;
      return state::HttpResponse{code, "application/json", {}, s.dump()};
    };
    if (req.method != "POST") return reply(status_body(405, "MethodNotAllowed", "POST a member to join", nullptr));
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (!j.is_object() || !j["id"].is_number_unsigned() || !j["raftAddress"].is_string()) {
      return reply(status_body(400, "BadRequest", "body must be {\"id\": N, \"raftAddress\": \"HOST:PORT\", \"apiUrl\": URL}",
                               nullptr));
    }
    if (!svc->IsLeader()) {
      nlohmann::json details = nlohmann::json::object();
      if (auto url = svc->LeaderApiUrl()) details["leader"] = *url;
      return reply(status_body(503, "ServiceUnavailable", "not the leader", details));
    }
    state::Member m{j["id"].get<uint64_t>(), j["raftAddress"].get<std::string>(), true};
    std::string api_url = j.value("apiUrl", "");
    svc->replicator().AddMember(m, [svc, m, api_url, reply, status_body](Status st) {
      if (!st) return reply(status_body(500, "InternalError", st.error().message(), nullptr));
      log::Info("server", "member added", {{"member", std::to_string(m.id)}, {"raft", m.address}, {"api", api_url}});
      reply(status_body(200, "", "member " + std::to_string(m.id) + " added", nullptr));
    });
  });

  std::printf("bosun server: member %llu\n  API:        %s\n  raft:       %s\n  data:       %s\n  admin token: %s\n",
              static_cast<unsigned long long>(opt.id), (*api)->url().c_str(), opt.raft_listen.c_str(),
              opt.data.c_str(), admin_path.c_str());
  if (*gitops) std::printf("  repo:       %s\n", (*gitops)->Describe().c_str());
  std::fflush(stdout);

  if (!opt.join.empty()) {
    if (auto st = Join(opt.join, *token, opt.id, opt.raft_listen, (*api)->url()); !st) {
      std::fprintf(stderr, "bosun server: %s\n", st.error().message().c_str());
      (*api)->Stop();
      svc->Stop();
      return 1;
    }
  }

  if (*gitops) {
    if (auto st = (*gitops)->Start(svc, api->get(), (*api)->url(), *token); !st) {
      std::fprintf(stderr, "bosun server: %s\n", st.error().message().c_str());
      (*api)->Stop();
      svc->Stop();
      return 2;
    }
  }

  {
    decltype(reconciler::RevisionHealthOptions::revert) revert;
    std::function<void()> trigger_sync;
    if (*gitops) {
      GitOps* g = gitops->get();
      revert = [g](const std::string& commit, const std::string& reason) { return g->Revert(commit, reason); };
      trigger_sync = [g] { g->TriggerSync(); };
    }
    if (auto st = (*controllers)->Start(svc, (*api)->url(), *token, revert, trigger_sync); !st) {
      std::fprintf(stderr, "bosun server: %s\n", st.error().message().c_str());
      if (*gitops) (*gitops)->Stop();
      (*api)->Stop();
      svc->Stop();
      return 2;
    }
  }

  // Publish our API URL once a leader exists, so followers can point clients at us.
  std::atomic<bool> stopping{false};
  std::thread publisher([&] {
    while (!stopping) {
      if (svc->PublishSelf()) {
        log::Info("server", "member registered", {{"member", std::to_string(opt.id)}, {"api", (*api)->url()}});
        return;
      }
      for (int i = 0; i < 10 && !stopping; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  int sig = 0;
  sigwait(&signals, &sig);
  log::Info("server", "stopping", {{"signal", std::to_string(sig)}});
  stopping = true;
  // The controllers are clients of this API: they stop first.
  (*controllers)->Stop();
  if (*gitops) (*gitops)->Stop();
  (*api)->Stop();
  svc->Stop();
  publisher.join();
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
      "               --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --admin-token-file admin.token\n"
      "  (and the same with --id 2 / 3, their own --data, --listen and --raft-listen)\n"
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
