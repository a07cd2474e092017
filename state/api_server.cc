// The API server's front: listening, the request's life (Call), routing,
// authentication and the small endpoints. The verbs are in api_objects.cc,
// watches in api_watch.cc, forwarding in api_proxy.cc.
#include "state/api_server.h"

#include <algorithm>
#include <cctype>

#include "core/log.h"
#include "state/api_discovery.h"
#include "state/api_internal.h"
#include "state/secret_redaction.h"
#include "core/ascii.h"

namespace bosun::state {

namespace api_internal {
namespace {

constexpr const char* kComponent = "api";
// Marks a request a member forwarded to the one it believes leads; a member
// that does not lead answers such a request with 503 instead of forwarding it
// again, so two members with stale views cannot bounce a request forever.
constexpr const char* kForwardedHeader = "X-Bosun-Forwarded";

bool PrefixMatches(const std::string& prefix, const std::string& path) {
  if (prefix.empty() || prefix == "/") return true;
  std::string p = prefix.back() == '/' ? prefix.substr(0, prefix.size() - 1) : prefix;
  return path == p || (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '/');
}

}  // namespace

// ---- Call ----

Call::Call(std::shared_ptr<Core> core, std::shared_ptr<HttpExchange> ex, std::string path, QueryMap query)
    : core_(std::move(core)),
      ex_(std::move(ex)),
      path_(std::move(path)),
      segments_(SplitPath(path_)),
      query_(std::move(query)),
      start_(core_->clock().Monotonic()) {
  core_->Enter();
}

Call::~Call() {
  if (!replied_.load()) ReplyError(Internal("the request ended without an answer (a bug in bosun)"));
  core_->Leave();
}

std::string Call::Query(const std::string& key) const {
  auto it = query_.find(key);
  return it == query_.end() ? std::string() : it->second;
}

void LogRequest(const std::string& method, const std::string& path, int code, const std::string& user, int64_t ms,
                bool in_process) {
  log::Fields f = {{"method", method},
                   {"path", path},
                   {"code", std::to_string(code)},
                   {"user", user},
                   {"ms", std::to_string(ms)}};
  if (in_process) f.push_back({"in", "process"});
  if (code >= 500) {
    log::Warn(kComponent, "request failed", f);
  } else {
    log::Debug(kComponent, "request", f);
  }
}

void Call::Logged(int code) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(core_->clock().Monotonic() - start_).count();
  LogRequest(method(), path_, code, user_.name, ms, /*in_process=*/false);
}

void Call::AddWarning(const std::string& text) {
  std::lock_guard<std::mutex> lock(warnings_mu_);
  if (std::find(warnings_.begin(), warnings_.end(), text) == warnings_.end()) warnings_.push_back(text);
}

std::optional<ApiError> FieldValidationParam(const Call& call, FieldValidation* mode) {
  // As Kubernetes: the exact words, and "" is the default.
  const std::string v = call.Query("fieldValidation");
  if (v.empty()) return std::nullopt;
  for (FieldValidation m : {FieldValidation::kStrict, FieldValidation::kWarn, FieldValidation::kIgnore}) {
    if (v != FieldValidationName(m)) continue;
    *mode = m;
    return std::nullopt;
  }
  return BadRequest("invalid fieldValidation directive \"" + v + "\": must be Strict, Warn or Ignore");
}

void Call::ReplyText(int code, const std::string& content_type, std::string body,
                     const std::map<std::string, std::string>& headers) {
  if (replied_.exchange(true)) return;
  Logged(code);
  HttpHeaders out(headers.begin(), headers.end());
  {
    // RFC 7234 §5.5: `299 - "TEXT"`, several joined by commas.
    std::lock_guard<std::mutex> lock(warnings_mu_);
    std::string value;
    for (const std::string& w : warnings_) {
      if (!value.empty()) value += ", ";
      value += "299 - \"";
      for (char c : w) {
        if (c == '"' || c == '\\') value += '\\';
        value += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
      }
      value += '"';
    }
    if (!value.empty()) out.emplace_back("Warning", std::move(value));
  }
  ex_->Respond(code, content_type, std::move(body), std::move(out));
}

std::shared_ptr<HttpStream> Call::ReplyStream(int code, const std::string& content_type,
                                              const std::map<std::string, std::string>& headers) {
  if (replied_.exchange(true)) return nullptr;
  Logged(code);
  return ex_->StartStream(code, content_type, HttpHeaders(headers.begin(), headers.end()));
}

void Call::Reply(int code, const Json& body) {
  // Secret values go only to users who may read them (state/secret_redaction.h).
  if (auto redacted = RedactedCopy(body, SecretAccessOf(user_))) {
    return ReplyText(code, "application/json", Dump(*redacted));
  }
  ReplyText(code, "application/json", Dump(body));
}

void Call::ReplyError(const ApiError& e) {
  std::map<std::string, std::string> headers;
  // A 413 is sent before the body was consumed: do not reuse the connection.
  if (e.code == 413) headers["Connection"] = "close";
  ReplyText(e.code, "application/json", Dump(e.ToJson()), headers);
}

// ---- Core: life ----

Core::Core(const ApiServerOptions& options, StateService* service, TokenAuthenticator* auth)
    : options_(options),
      service_(service),
      auth_(auth),
      codec_(options.codec != nullptr ? options.codec : &JsonValueCodec::Instance()) {
  if (options_.clock == nullptr) options_.clock = &Clock::System();
}

Core::~Core() {
  if (timer_.joinable()) {
    {
      std::lock_guard l(watches_mu_);
      timer_stop_ = true;
    }
    timer_cv_.notify_all();
    timer_.join();
  }
}

Status Core::Listen() {
  std::string scheme, host;
  int port = 0;
  try {
    web::uri u(options_.listen);
    scheme = u.scheme();
    host = u.host();
    port = u.port();
    if (scheme != "http") return Error(Code::kInvalid, "listen URL " + options_.listen + ": only http:// is supported");
    if (host.empty()) return Error(Code::kInvalid, "listen URL " + options_.listen + " has no host");
  } catch (const std::exception& e) {
    return Error(Code::kInvalid, "bad listen URL " + options_.listen + ": " + e.what());
  }
  HttpServerOptions ho;
  ho.host = host.size() > 2 && host.front() == '[' && host.back() == ']' ? host.substr(1, host.size() - 2) : host;
  ho.port = port > 0 ? port : 0;
  std::weak_ptr<Core> weak = weak_from_this();
  ho.on_header = [weak](const std::shared_ptr<HttpExchange>& ex) -> size_t {
    if (auto self = weak.lock()) return self->OnHeader(ex);
    ex->Respond(503, "text/plain", "the server is shutting down\n");
    return 0;
  };
  ho.on_request = [weak](std::shared_ptr<HttpExchange> ex) {
    if (auto self = weak.lock()) return self->Handle(std::move(ex));
    ex->Respond(503, "text/plain", "the server is shutting down\n");
  };
  auto server = HttpServer::Start(std::move(ho));
  if (!server) {
    // HttpServer's error names the address and the cause already.
    return Error(server.error().code(), "the API " + server.error().message());
  }
  http_ = std::move(*server);
  url_ = scheme + "://" + host + ":" + std::to_string(http_->port());
  timer_ = std::thread([this] { TimerLoop(); });
  log::Info(kComponent, "listening", {{"url", url_}});
  return Ok();
}

void Core::Stop() {
  std::lock_guard stop(stop_mu_);
  if (stopped_.exchange(true)) return;
  // Watches first: their streams end cleanly and their clients re-watch.
  EndWatches();
  // No new connections; open ones are shut down, so answers given from now
  // on are dropped.
  if (http_) http_->Close();
  // Requests still waiting on the service answer 503 from their callbacks;
  // wait a little for those so the service is not called after Stop returns.
  {
    std::unique_lock l(inflight_mu_);
    if (!inflight_cv_.wait_for(l, std::chrono::seconds(5), [this] { return inflight_ == 0; })) {
      log::Warn(kComponent, "stopped with requests still in flight", {{"count", std::to_string(inflight_)}});
    }
  }
  if (http_) http_->Join();
  log::Info(kComponent, "stopped", {{"url", url_}});
}

void Core::Enter() {
  std::lock_guard l(inflight_mu_);
  ++inflight_;
}

void Core::Leave() {
  std::lock_guard l(inflight_mu_);
  if (--inflight_ == 0) inflight_cv_.notify_all();
}

void Core::AddRoute(ExtraRoute r) {
  std::lock_guard l(routes_mu_);
  routes_.push_back(std::move(r));
}

void Core::AddReadyCheck(std::function<std::optional<std::string>()> check) {
  std::lock_guard l(routes_mu_);
  ready_checks_.push_back(std::move(check));
}

void Core::Post(std::function<void()> fn) {
  if (!http_) return;
  http_->Post([fn = std::move(fn)] {
    try {
      fn();
    } catch (const std::exception& e) {
      log::Error(kComponent, "unexpected exception in a request handler", {{"error", e.what()}});
    }
  });
}

void Core::AfterBarrier(const CallPtr& call, ReadConsistency c, std::function<void()> fn) {
  AfterBarrier(c, [call](const ApiError& e) { call->ReplyError(e); }, std::move(fn));
}

void Core::AfterBarrier(ReadConsistency c, std::function<void(const ApiError&)> fail, std::function<void()> fn) {
  if (stopped()) return fail(Unavailable("the server is shutting down", std::nullopt));
  service_->ReadBarrier(c, [this, fail = std::move(fail), fn = std::move(fn)](Status s) mutable {
    if (!s) {
      ApiError e = FromError(s.error(), nullptr, "");
      if (s.error().code() == Code::kUnavailable) e = Unavailable(s.error().message(), service_->LeaderApiUrl());
      return fail(e);
    }
    Post([this, fail = std::move(fail), fn = std::move(fn)] {
      if (stopped()) return fail(Unavailable("the server is shutting down", std::nullopt));
      fn();
    });
  });
}

// ---- routing ----

namespace {

size_t BodyLimit(const ApiServerOptions& options, const std::string& path) {
  // A GitOps sync of a whole repository is one batch.
  return path == kBatchPath ? std::max(options.max_body_bytes, kMaxBatchBodyBytes) : options.max_body_bytes;
}

}  // namespace

size_t Core::OnHeader(const std::shared_ptr<HttpExchange>& ex) {
  std::string path = PercentDecode(ex->path(), false);
  const size_t limit = BodyLimit(options_, path);
  if (path == kBatchPath) {
    // So large a body is read only for a caller we know. The body is left
    // unread, so the connection is not reused (as for a 413).
    if (auto user = auth_->Authenticate(ex->Header("Authorization")); !user) {
      Call(shared_from_this(), ex, path, {})
          .ReplyText(401, "application/json", Dump(Unauthorized(user.error().message()).ToJson()),
                     {{"Connection", "close"}});
      return 0;
    }
  }
  // A body over the limit, declared or not, comes back as body_too_large()
  // (Handle answers 413) without being read.
  return limit;
}

void Core::Handle(std::shared_ptr<HttpExchange> ex) {
  std::string path = PercentDecode(ex->path(), false);
  QueryMap query = ParseQuery(ex->query());
  const bool too_large = ex->body_too_large();
  auto call = std::make_shared<Call>(shared_from_this(), std::move(ex), path, std::move(query));
  if (stopped()) return call->ReplyError(Unavailable("the server is shutting down", std::nullopt));
  if (too_large) return call->ReplyError(TooLarge(BodyLimit(options_, path)));
  Route(call);
}

bool Core::ServeExtension(const CallPtr& call, bool authenticated) {
  const ExtraRoute* best = nullptr;
  ExtraRoute chosen;
  {
    std::lock_guard l(routes_mu_);
    for (const auto& r : routes_) {
      if (PrefixMatches(r.prefix, call->path()) && (best == nullptr || r.prefix.size() > best->prefix.size())) {
        best = &r;
      }
    }
    if (best == nullptr) return false;
    chosen = *best;
  }
  if (!chosen.open && !authenticated) return false;  // authenticate first, then come back
  HttpRequest req;
  req.method = call->method();
  req.path = call->path();
  req.query = call->query();
  req.body = call->body();
  for (const auto& [k, v] : call->headers()) req.headers[AsciiLower(k)] = v;
  if (!chosen.open) req.user = call->user();
  Responder respond = [call](HttpResponse r) {
    call->ReplyText(r.status, r.content_type, std::move(r.body), r.headers);
  };
  try {
    chosen.handler(req, std::move(respond));
  } catch (const std::exception& e) {
    call->ReplyError(Internal(std::string("handler for ") + chosen.prefix + " failed: " + e.what()));
  }
  return true;
}

void Core::Route(const CallPtr& call) {
  const std::string& path = call->path();
  if (ServeExtension(call, false)) return;
  if (path == "/healthz" || path == "/readyz") {
    if (call->method() != "GET") return call->ReplyError(MethodNotAllowed(call->method(), path));
    if (path == "/readyz" && !service_->IsLeader() && !service_->LeaderApiUrl()) {
      return call->ReplyText(503, "text/plain", "no leader\n");
    }
    if (path == "/readyz") {
      std::lock_guard l(routes_mu_);
      for (const auto& check : ready_checks_) {
        if (auto why = check()) return call->ReplyText(503, "text/plain", *why + "\n");
      }
    }
    return call->ReplyText(200, "text/plain", "ok\n");
  }
  auto user = auth_->Authenticate(call->Header("Authorization"));
  if (!user) return call->ReplyError(Unauthorized(user.error().message()));
  call->set_user(std::move(*user));
  // The member list is built in; routes added under it (join, remove) are not.
  if (path == "/bosun/v1/members") {
    if (call->method() != "GET") return call->ReplyError(MethodNotAllowed(call->method(), path));
    return ServeMembers(call);
  }
  if (ServeExtension(call, true)) return;

  const auto& segs = call->segments();
  if (path == "/version") {
    if (call->method() != "GET") return call->ReplyError(MethodNotAllowed(call->method(), path));
    return call->Reply(200, {{"gitVersion", options_.version}, {"platform", "linux"}});
  }
  if (path == kBatchPath) {
    if (call->method() != "POST") return call->ReplyError(MethodNotAllowed(call->method(), path));
    // A write: only the leader applies it.
    if (ForwardUnlessLeader(call)) return;
    return Batch(call);
  }
  if (auto doc = DiscoveryDocument(segs)) {
    if (call->method() != "GET") return call->ReplyError(MethodNotAllowed(call->method(), path));
    return call->Reply(200, *doc);
  }
  if (!segs.empty() && (segs[0] == "api" || segs[0] == "apis")) return ServeApi(call);
  call->ReplyError(PathNotFound(path));
}

void Core::ServeMembers(const CallPtr& call) {
  Json items = Json::array();
  for (const auto& m : service_->Members()) {
    Json item = {{"id", m.id},
                 {"raftAddress", m.raft_address},
                 {"apiUrl", m.is_self && m.api_url.empty() ? url_ : m.api_url},
                 {"role", m.role},
                 {"isLeader", m.is_leader},
                 {"isSelf", m.is_self},
                 {"appliedIndex", m.applied_index}};
    // What it published of its settings (encryptionKeyId, gitops).
    AddMemberSettings(m.settings, &item);
    items.push_back(std::move(item));
  }
  call->Reply(200, {{"apiVersion", "bosun.dev/v1"}, {"kind", "MemberList"}, {"items", items}});
}

std::string Target::Prefix() const {
  std::string g = kind->gvk.group.empty() ? "core" : kind->gvk.group;
  std::string p = "/registry/" + g + "/" + kind->resource + "/";
  if (kind->namespaced && !ns.empty()) p += ns + "/";
  return p;
}

void Core::ServeApi(const CallPtr& call) {
  const auto& segs = call->segments();
  const std::string& path = call->path();
  // /api/v1/... or /apis/<group>/<version>/...
  size_t rest = segs[0] == "api" ? 2 : 3;
  if (segs.size() <= rest) return call->ReplyError(PathNotFound(path));
  std::string group = segs[0] == "api" ? "" : segs[1];
  std::string version = segs[0] == "api" ? segs[1] : segs[2];
  if (segs[0] == "api" && segs[1] != "v1") return call->ReplyError(PathNotFound(path));

  Target t;
  std::vector<std::string> tail(segs.begin() + static_cast<long>(rest), segs.end());
  std::string resource;
  size_t i = 0;
  // "namespaces/<ns>/<resource>/…", except "namespaces/<name>/status" and
  // "namespaces/<name>/finalize", the Namespace's own subresources.
  if (tail.size() >= 3 && tail[0] == "namespaces" && tail[2] != "status" && tail[2] != "finalize") {
    t.ns = tail[1];
    resource = tail[2];
    i = 3;
  } else {
    resource = tail[0];
    i = 1;
  }
  t.kind = KindRegistry::Builtin().FindByPath(group, version, resource);
  if (t.kind == nullptr) return call->ReplyError(PathNotFound(path));
  if (!t.kind->namespaced && !t.ns.empty()) return call->ReplyError(PathNotFound(path));
  size_t left = tail.size() - i;
  if (left >= 1) t.name = tail[i];
  if (left == 2 && t.kind->gvk.group.empty() && t.kind->gvk.kind == "Pod" &&
      (tail[i + 1] == "log" || tail[i + 1] == "exec")) {
    if (t.ns.empty()) return call->ReplyError(PathNotFound(path));
    return PodProxy(call, t, tail[i + 1]);
  }
  if (left == 2 && tail[i + 1] == "finalize" && IsNamespace(*t.kind)) {
    t.finalize = true;
  } else if (left == 2) {
    if (tail[i + 1] != "status" || !t.kind->has_status) return call->ReplyError(PathNotFound(path));
    t.status = true;
  }
  if (left > 2) return call->ReplyError(PathNotFound(path));
  if (!t.name.empty() && t.kind->namespaced && t.ns.empty()) return call->ReplyError(PathNotFound(path));
  if (call->method() == "POST" || call->method() == "PUT" || call->method() == "PATCH") {
    if (auto e = FieldValidationParam(*call, &t.field_validation)) return call->ReplyError(*e);
  }

  // Members that do not lead serve watches and resourceVersion=0 reads from
  // their own store (API.md "Several members"); everything else goes to the
  // leader.
  const bool get = call->method() == "GET";
  const bool watch = get && t.name.empty() && (call->Query("watch") == "true" || call->Query("watch") == "1");
  const bool local = watch || (get && call->Query("resourceVersion") == "0");
  if (!local && ForwardUnlessLeader(call)) return;
  if (watch) return Watch(call, t);
  Dispatch(call, t);
}

bool Core::ForwardUnlessLeader(const CallPtr& call) {
  if (service_->IsLeader()) return false;
  auto leader = service_->LeaderApiUrl();
  if (!leader) {
    call->ReplyError(
        Unavailable("no leader is known: an election is under way, or fewer than a majority of the members are up "
                    "(`bosun members` lists them)",
                    std::nullopt));
  } else if (!call->Header(kForwardedHeader).empty()) {
    call->ReplyError(Unavailable("this member does not lead (forwarded request); the leader is " + *leader, leader));
  } else {
    Forward(call, *leader);
  }
  return true;
}

void Core::Dispatch(const CallPtr& call, const Target& t) {
  const std::string& m = call->method();
  if (t.name.empty()) {
    if (m == "GET") return List(call, t);
    if (m == "POST" && (!t.kind->namespaced || !t.ns.empty())) return Create(call, t);
    return call->ReplyError(MethodNotAllowed(m, call->path()));
  }
  if (t.finalize && m != "PUT") return call->ReplyError(MethodNotAllowed(m, call->path()));
  if (m == "GET") return Get(call, t);
  if (m == "PUT") return Update(call, t);
  if (m == "PATCH") return Patch(call, t);
  if (m == "DELETE" && !t.status && !t.finalize) return Delete(call, t);
  call->ReplyError(MethodNotAllowed(m, call->path()));
}

}  // namespace api_internal

// ---- ApiServer ----

ApiServer::ApiServer(std::shared_ptr<api_internal::Core> core) : core_(std::move(core)) {}

ApiServer::~ApiServer() {
  Stop();
}

Result<std::unique_ptr<ApiServer>> ApiServer::Start(const ApiServerOptions& options, StateService* service,
                                                    TokenAuthenticator* auth) {
  if (service == nullptr) return Error(Code::kInvalid, "ApiServer needs a state service");
  if (auth == nullptr) return Error(Code::kInvalid, "ApiServer needs a token authenticator");
  auto core = std::make_shared<api_internal::Core>(options, service, auth);
  if (Status s = core->Listen(); !s) return s.error();
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(core)));
}

std::string ApiServer::url() const {
  return core_->url();
}

void ApiServer::Stop() {
  core_->Stop();
}

void ApiServer::AddRoute(std::string path_prefix, bool open, Handler handler) {
  core_->AddRoute(api_internal::ExtraRoute{std::move(path_prefix), open, std::move(handler)});
}

void ApiServer::AddReadyCheck(std::function<std::optional<std::string>()> check) {
  core_->AddReadyCheck(std::move(check));
}

bool ApiServer::Batch(const std::string& authorization, Json* body, LocalAnswer done) {
  return core_->LocalBatch(authorization, body, std::move(done));
}

}  // namespace bosun::state
