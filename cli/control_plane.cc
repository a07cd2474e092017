// The control-plane member of `bosun server` and `bosun up` (cli/control_plane.h).
#include "cli/control_plane.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>

#include <cpprest/http_client.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/member_routes.h"
#include "cli/member_settings.h"
#include "cli/sealing_api.h"
#include "core/log.h"
#include "crypto/aead.h"

namespace bosun::cli {
namespace {

namespace fs = std::filesystem;

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

struct MemberAnswer {
  int status = 0;
  nlohmann::json body;  // discarded when not JSON
};

// One request with the admin token to the member at `url`
// (cli/member_routes.h); kUnavailable when it does not answer.
Result<MemberAnswer> SendToMember(const std::string& url, const std::string& token, const web::http::method& method,
                                  const std::string& path, const nlohmann::json& body) {
  try {
    web::http::client::http_client_config cfg;
    cfg.set_timeout(std::chrono::seconds(30));
    web::http::client::http_client client(utility::conversions::to_string_t(url), cfg);
    web::http::http_request req(method);
    req.set_request_uri(utility::conversions::to_string_t(path));
    req.headers().add(U("Authorization"), U("Bearer ") + utility::conversions::to_string_t(token));
    req.set_body(body.dump(), "application/json");
    auto resp = client.request(req).get();
    return MemberAnswer{resp.status_code(), nlohmann::json::parse(resp.extract_utf8string(true).get(), nullptr, false)};
  } catch (const std::exception& e) {
    return Error(Code::kUnavailable, url + ": " + e.what());
  }
}

std::string AnswerMessage(const MemberAnswer& a) {
  return a.body.is_object() ? a.body.value("message", "") : "HTTP " + std::to_string(a.status);
}

// Asks the member at `url` (following the leader hint) to add us.
Status Join(const std::string& url, const std::string& token, uint64_t id, const std::string& raft_address,
            const std::string& api_url) {
  std::string target = url;
  const nlohmann::json body = {{"id", id}, {"raftAddress", raft_address}, {"apiUrl", api_url}};
  for (int attempt = 0; attempt < 60; ++attempt) {
    auto a = SendToMember(target, token, web::http::methods::POST, "/bosun/v1/members/join", body);
    if (!a) {
      log::Warn("server", "join attempt failed", {{"via", target}, {"error", a.error().message()}});
    } else if (a->status == 200) {
      return Ok();
    } else if (a->status != 503) {
      return Error(Code::kUnavailable, "joining through " + target + " failed: " + AnswerMessage(*a));
    } else if (a->body.is_object() && a->body.contains("details") && a->body["details"].contains("leader")) {
      target = a->body["details"]["leader"].get<std::string>();
      continue;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return Error(Code::kUnavailable, "could not join the cluster through " + url + " within a minute");
}

// Puts this member's API URL in the registry: itself when it leads, else
// through the leader (once some member has told it the leader's API URL).
Status Publish(state::ReplicatedService* svc, const std::string& token, uint64_t id, const std::string& raft_address,
               const std::string& api_url, const Json& settings) {
  if (svc->IsLeader()) return svc->PublishSelf();
  auto leader = svc->LeaderApiUrl();
  if (!leader) return Error(Code::kUnavailable, "the leader's API URL is not known yet");
  Json body = settings;
  body["raftAddress"] = raft_address;
  body["apiUrl"] = api_url;
  auto a = SendToMember(*leader, token, web::http::methods::PUT, "/bosun/v1/members/" + std::to_string(id), body);
  if (!a) return a.error();
  if (a->status != 200) return Error(Code::kUnavailable, *leader + ": " + AnswerMessage(*a));
  return Ok();
}

}  // namespace

// Publishes our API URL once a leader exists, so followers can point clients at us.
struct ControlPlane::Publisher {
  std::atomic<bool> stopping{false};
  std::thread thread;
  ~Publisher() {
    stopping = true;
    if (thread.joinable()) thread.join();
  }
};

namespace {
std::mutex store_failure_mu;
std::string store_failure;  // guarded by store_failure_mu
}  // namespace

void NoteStoreFailure(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(store_failure_mu);
    if (!store_failure.empty()) return;
    store_failure = why.empty() ? "(no reason given)" : why;
  }
  ::kill(::getpid(), SIGUSR1);
}

std::string StoreFailure() {
  std::lock_guard<std::mutex> lock(store_failure_mu);
  return store_failure;
}

Result<std::unique_ptr<ControlPlane>> ControlPlane::Start(const ControlPlaneOptions& opt) {
  std::unique_ptr<ControlPlane> cp(new ControlPlane());
  if (Status st = cp->StartParts(opt); !st) {
    cp->Stop();
    return st.error();
  }
  return cp;
}

ControlPlane::~ControlPlane() { Stop(); }

std::string ControlPlane::api_url() const { return api_ ? api_->url() : std::string(); }

Status ControlPlane::StartParts(const ControlPlaneOptions& opt) {
  if (opt.data.empty()) return Error(Code::kInvalid, "--data is required");
  std::error_code ec;
  fs::create_directories(opt.data, ec);
  if (ec) return Error(Code::kIo, "cannot create " + opt.data + ": " + ec.message());
  ::chmod(opt.data.c_str(), 0700);
  // Before anything in DATA is read or written: a second process started
  // on it by mistake (another --repo) would otherwise rewrite the running
  // server's mirror before the store's own lock stopped it.
  const std::string lock_path = opt.data + "/bosun.lock";
  data_lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (data_lock_fd_ < 0) return Error(Code::kIo, "cannot open " + lock_path + ": " + std::strerror(errno));
  if (::flock(data_lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(data_lock_fd_);
    data_lock_fd_ = -1;
    if (err == EWOULDBLOCK) {
      return Error(Code::kUnavailable, "another bosun process is using the data directory " + opt.data + " (" +
                                           lock_path + " is locked): stop it first, or give this one another --data");
    }
    return Error(Code::kIo, "cannot lock " + lock_path + ": " + std::strerror(err));
  }

  // Encryption at rest (docs/SECURITY.md): Secrets reach the store only as
  // ciphertext under this key, which never enters the store itself.
  const std::string key_file =
      opt.encryption_key_file.empty() ? opt.data + "/keys/secrets.key" : opt.encryption_key_file;
  // A member of several that would make a key of its own: each member would
  // then hold its own, and after the first failover the new leader could
  // not read the Secrets the old one stored. Said at once, not then.
  size_t peer_count = 0;
  if (!opt.peers.empty()) {
    auto peers = ParsePeers(opt.peers);
    if (!peers) return peers.error();
    peer_count = peers->size();
  }
  if (opt.encryption_key_file.empty() && !fs::exists(key_file, ec)) {
    const std::string why =
        " every member must have the same key, or after a failover the new leader cannot read the Secrets the "
        "old one stored (docs/SECURITY.md)";
    if (!opt.join.empty()) {
      return Error(Code::kInvalid,
                   "--encryption-key-file is needed to --join a cluster: give a copy of the "
                   "cluster's key file (a member's --encryption-key-file, or its DATA/keys/"
                   "secrets.key);" +
                       why);
    }
    if (peer_count > 1) {
      return Error(Code::kInvalid,
                   "--encryption-key-file is needed by a member of a cluster of several (--peers with more than "
                   "one member):" +
                       why +
                       ". Give every member the same FILE: a path that does not exist yet gets "
                       "a new key at the first member's start (copy that file to the other members' machines before "
                       "they start), or copy an existing member's DATA/keys/secrets.key");
    }
  }
  tokens_path_ = opt.data + "/tokens";
  admin_token_path_ = opt.admin_token_file.empty() ? opt.data + "/admin.token" : opt.admin_token_file;
  auto token = state::EnsureAdminToken(tokens_path_, admin_token_path_);
  if (!token) return token.error();
  admin_token_ = *token;
  if (auto st = auth_.Load(tokens_path_); !st) return st;

  auto data_key = crypto::LoadOrCreateKeyFile(key_file);
  if (!data_key) return data_key.error();
  codec_ = std::make_unique<state::EncryptingValueCodec>(std::move(*data_key));

  // The --repo flags are checked (and the mirror opened) before the member
  // starts, so a bad flag costs nothing.
  auto gitops = GitOps::Prepare(opt.gitops, opt.data);
  if (!gitops) return gitops.error();
  gitops_ = std::move(*gitops);
  auto controllers = LeaderControllers::Prepare(opt.controllers);
  if (!controllers) return controllers.error();
  controllers_ = std::move(*controllers);

  state::ReplicatedServiceOptions so;
  so.data_dir = opt.data;
  so.api_url = "http://" + opt.listen;
  so.raft.id = opt.id;
  so.raft.address = opt.raft_listen;
  so.raft.snapshot_threshold = opt.snapshot_threshold;
  so.raft.snapshot_trailing = opt.snapshot_trailing;
  so.raft.on_fatal = opt.on_store_failure;
  // Published with the API URL: what every member must share.
  const Json settings =
      MemberSettings(codec_->key_id(), gitops_ ? std::optional<Json>(gitops_->Source()) : std::nullopt);
  so.settings = settings.dump();
  if (!opt.join.empty()) {
    so.raft.join = true;
  } else if (opt.peers.empty()) {
    so.raft.bootstrap = {state::Member{opt.id, opt.raft_listen, true}};
  } else {
    auto peers = ParsePeers(opt.peers);
    if (!peers) return peers.error();
    bool self = false;
    for (const auto& m : *peers) self = self || m.id == opt.id;
    if (!self) return Error(Code::kInvalid, "--peers must include this member (--id " + std::to_string(opt.id) + ")");
    so.raft.bootstrap = *peers;
  }

  auto service = state::ReplicatedService::Start(so);
  if (!service) return service.error();
  service_ = std::move(*service);
  // A member whose key file differs from the one the store's Secrets were
  // encrypted with stops here rather than serve errors for every Secret.
  auto at_rest = codec_->CheckStore(service_->store(), key_file);
  if (!at_rest) return at_rest.error();
  log::Info("server", "encryption at rest",
            {{"key_file", key_file}, {"key_id", codec_->key_id()}, {"encrypted", std::to_string(at_rest->encrypted)}});
  if (at_rest->plaintext > 0) {
    log::Warn("server", "Secrets stored before encryption at rest was enabled stay plaintext until next written",
              {{"count", std::to_string(at_rest->plaintext)}});
  }
  state::ApiServerOptions ao;
  ao.codec = codec_.get();
  ao.listen = so.api_url;
  ao.bookmark_interval = std::chrono::seconds(opt.bookmark_seconds);
  ao.version = BOSUN_VERSION;
  auto api = state::ApiServer::Start(ao, service_.get(), &auth_);
  if (!api) return api.error();
  api_ = std::move(*api);
  AddMemberRoutes(api_.get(), service_.get());
  AddSealingRoutes(api_.get(), api_->url(), admin_token_);

  if (!opt.join.empty()) {
    if (auto st = Join(opt.join, admin_token_, opt.id, opt.raft_listen, api_->url()); !st) return st;
  }
  if (gitops_) {
    if (auto st = gitops_->Start(service_.get(), api_.get(), api_->url(), admin_token_); !st) return st;
  }
  decltype(reconciler::RevisionHealthOptions::revert) revert;
  std::function<void()> trigger_sync;
  if (gitops_) {
    GitOps* g = gitops_.get();
    revert = [g](const std::string& commit, const std::string& back_to, const std::string& reason) {
      return g->Revert(commit, back_to, reason);
    };
    trigger_sync = [g] { g->TriggerSync(); };
  }
  if (auto st = controllers_->Start(service_.get(), api_->url(), admin_token_, revert, trigger_sync); !st) return st;

  publisher_ = std::make_unique<Publisher>();
  Publisher* p = publisher_.get();
  state::ReplicatedService* svc = service_.get();
  std::string url = api_->url();
  uint64_t id = opt.id;
  std::string admin = admin_token_, raft_address = opt.raft_listen;
  p->thread = std::thread([p, svc, url, id, admin, raft_address, settings] {
    while (!p->stopping) {
      if (Publish(svc, admin, id, raft_address, url, settings)) {
        log::Info("server", "member registered", {{"member", std::to_string(id)}, {"api", url}});
        return;
      }
      for (int i = 0; i < 10 && !p->stopping; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  return Ok();
}

void ControlPlane::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (publisher_) publisher_->stopping = true;
  // The controllers are clients of this API: they stop first.
  if (controllers_) controllers_->Stop();
  if (gitops_) gitops_->Stop();
  if (api_) api_->Stop();
  if (service_) service_->Stop();
  publisher_.reset();
  if (data_lock_fd_ >= 0) {
    ::close(data_lock_fd_);  // releases the lock
    data_lock_fd_ = -1;
  }
}

}  // namespace bosun::cli
