// The API server's front: listening, the request's life (Call), routing,
// authentication and the small endpoints. The verbs are in api_objects.cc,
// watches in api_watch.cc, forwarding in api_proxy.cc.
#include "state/api_server.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "state/api_discovery.h"
#include "state/api_internal.h"
#include "state/secret_redaction.h"

namespace bosun::state {

using web::http::http_request;
using web::http::http_response;
using web::http::experimental::listener::http_listener;

namespace api_internal {
namespace {

constexpr const char* kComponent = "api";
// Marks a request a member forwarded to the one it believes leads; a member
// that does not lead answers such a request with 503 instead of forwarding it
// again, so two members with stale views cannot bounce a request forever.
constexpr const char* kForwardedHeader = "X-Bosun-Forwarded";

// Binds host:0, reads the port the kernel chose, closes the socket.
Result<int> PickFreePort(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), "0", &hints, &res);
  if (rc != 0) return Error(Code::kInvalid, "cannot resolve listen host " + host + ": " + ::gai_strerror(rc));
  Result<int> out = Error(Code::kIo, "cannot bind " + host + ":0");
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      int port = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                            : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
      ::close(fd);
      out = port;
      break;
    }
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Addresses this process's ApiServers listen on. cpprestsdk keeps one
// listener per host:port for the whole process, and a second listener
// registered on the same address makes it drop the first one's, so a second
// server on a taken address is refused here instead.
std::mutex g_bound_mu;
std::set<std::string> g_bound;  // guarded by g_bound_mu

bool PrefixMatches(const std::string& prefix, const std::string& path) {
  if (prefix.empty() || prefix == "/") return true;
  std::string p = prefix.back() == '/' ? prefix.substr(0, prefix.size() - 1) : prefix;
  return path == p || (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '/');
}

}  // namespace

// ---- Call ----

Call::Call(std::shared_ptr<Core> core, http_request req, std::string path, QueryMap query)
    : core_(std::move(core)),
      req_(std::move(req)),
      method_(req_.method()),
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

std::string Call::Header(const std::string& name) const {
  std::string v;
  req_.headers().match(name, v);
  return v;
}

void Call::Logged(int code) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(core_->clock().Monotonic() - start_).count();
  log::Fields f = {{"method", method_},
                   {"path", path_},
                   {"code", std::to_string(code)},
                   {"user", user_.name},
                   {"ms", std::to_string(ms)}};
  if (code >= 500) {
    log::Warn(kComponent, "request failed", f);
  } else {
    log::Debug(kComponent, "request", f);
  }
}

pplx::task<void> Call::ReplyResponse(http_response response, int code_for_log) {
  if (replied_.exchange(true)) return pplx::task_from_result();
  Logged(code_for_log);
  try {
    return req_.reply(response);
  } catch (const std::exception& e) {
    // The listener already answered (it does so when it closes a
    // connection during Stop); nothing more to send.
    log::Debug(kComponent, "reply dropped", {{"path", path_}, {"error", e.what()}});
    return pplx::task_from_result();
  }
}

void Call::ReplyText(int code, const std::string& content_type, std::string body,
                     const std::map<std::string, std::string>& headers) {
  http_response resp(static_cast<web::http::status_code>(code));
  for (const auto& [k, v] : headers) resp.headers().add(k, v);
  resp.set_body(std::move(body), content_type);
  ReplyResponse(std::move(resp), code);
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
  const bool pick = port <= 0;
  std::weak_ptr<Core> weak = weak_from_this();
  std::string last_error;
  for (int attempt = 0; attempt < (pick ? 5 : 1); ++attempt) {
    if (pick) {
      auto p = PickFreePort(host);
      if (!p) return p.error();
      port = *p;
    }
    std::string url = scheme + "://" + host + ":" + std::to_string(port);
    {
      std::lock_guard l(g_bound_mu);
      if (!g_bound.insert(url).second) {
        last_error = "another ApiServer in this process listens there";
        continue;
      }
    }
    try {
      auto l = std::make_unique<http_listener>(web::uri(url));
      l->support([weak](http_request req) {
        if (auto self = weak.lock()) {
          self->Handle(std::move(req));
        } else {
          req.reply(web::http::status_codes::ServiceUnavailable);
        }
      });
      l->open().wait();
      listener_ = std::move(l);
      url_ = url;
      break;
    } catch (const std::exception& e) {
      last_error = e.what();
      std::lock_guard l(g_bound_mu);
      g_bound.erase(url);
    }
  }
  if (!listener_) return Error(Code::kIo, "cannot listen on " + options_.listen + ": " + last_error);
  timer_ = std::thread([this] { TimerLoop(); });
  log::Info(kComponent, "listening", {{"url", url_}});
  return Ok();
}

void Core::Stop() {
  std::lock_guard stop(stop_mu_);
  if (stopped_.exchange(true)) return;
  // Watches first: an open stream keeps its connection busy, and the
  // listener's close waits for every connection to finish.
  EndWatches();
  if (listener_) {
    try {
      listener_->close().wait();
    } catch (const std::exception& e) {
      log::Warn(kComponent, "closing the listener failed", {{"error", e.what()}});
    }
    std::lock_guard l(g_bound_mu);
    g_bound.erase(url_);
  }
  // Requests still waiting on the service answer 503 from their callbacks;
  // wait a little for those so the service is not called after Stop returns.
  std::unique_lock l(inflight_mu_);
  if (!inflight_cv_.wait_for(l, std::chrono::seconds(5), [this] { return inflight_ == 0; })) {
    log::Warn(kComponent, "stopped with requests still in flight", {{"count", std::to_string(inflight_)}});
  }
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

void Core::Post(std::function<void()> fn) {
  pplx::create_task([fn = std::move(fn)] {
    try {
      fn();
    } catch (const std::exception& e) {
      log::Error(kComponent, "unexpected exception in a request handler", {{"error", e.what()}});
    }
  });
}

void Core::AfterBarrier(const CallPtr& call, ReadConsistency c, std::function<void()> fn) {
  if (stopped()) return call->ReplyError(Unavailable("the server is shutting down", std::nullopt));
  service_->ReadBarrier(c, [this, call, fn = std::move(fn)](Status s) mutable {
    if (!s) {
      ApiError e = FromError(s.error(), nullptr, "");
      if (s.error().code() == Code::kUnavailable) e = Unavailable(s.error().message(), service_->LeaderApiUrl());
      return call->ReplyError(e);
    }
    Post([call, fn = std::move(fn)] {
      if (call->core().stopped()) return call->ReplyError(Unavailable("the server is shutting down", std::nullopt));
      fn();
    });
  });
}

// ---- routing ----

void Core::Handle(http_request req) {
  std::string path, raw_query;
  try {
    path = PercentDecode(req.request_uri().path(), false);
    raw_query = req.request_uri().query();
  } catch (const std::exception&) {
    req.reply(web::http::status_codes::BadRequest);
    return;
  }
  auto call = std::make_shared<Call>(shared_from_this(), req, path, ParseQuery(raw_query));
  if (stopped()) return call->ReplyError(Unavailable("the server is shutting down", std::nullopt));
  size_t limit = options_.max_body_bytes;
  if (path == kBatchPath) {
    limit = std::max(limit, kMaxBatchBodyBytes);
    // So large a body is read only for a caller we know. The body is left
    // unread, so the connection is not reused (as for a 413).
    if (auto user = auth_->Authenticate(call->Header("Authorization")); !user) {
      return call->ReplyText(401, "application/json", Dump(Unauthorized(user.error().message()).ToJson()),
                             {{"Connection", "close"}});
    }
  }
  std::string length = call->Header("Content-Length");
  if (auto n = ParseInt(length); n && static_cast<uint64_t>(*n) > limit) return call->ReplyError(TooLarge(limit));
  // What extract_vector() does, minus one of its two task continuations: each
  // continuation is a hand-off to another pool thread (a futex wake and a
  // context switch per request); the body is complete when data_available
  // is set, so it is taken on the thread that continues.
  auto impl = req._get_impl();
  pplx::create_task(impl->_get_data_available()).then([call, limit, impl](pplx::task<utility::size64_t> t) {
    std::vector<unsigned char> body;
    try {
      t.get();
      body = impl->_extract_vector();
    } catch (const std::exception& e) {
      return call->ReplyError(BadRequest(std::string("cannot read the request body: ") + e.what()));
    }
    if (body.size() > limit) return call->ReplyError(TooLarge(limit));
    call->set_body(std::string(body.begin(), body.end()));
    call->core().Route(call);
  });
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
  for (const auto& [k, v] : call->raw().headers()) req.headers[Lower(k)] = v;
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
    items.push_back({{"id", m.id},
                     {"raftAddress", m.raft_address},
                     {"apiUrl", m.is_self && m.api_url.empty() ? url_ : m.api_url},
                     {"role", m.role},
                     {"isLeader", m.is_leader},
                     {"isSelf", m.is_self},
                     {"appliedIndex", m.applied_index}});
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
  // "namespaces/<ns>/<resource>/…", except "namespaces/<name>/status", the
  // Namespace's own subresource.
  if (tail.size() >= 3 && tail[0] == "namespaces" && tail[2] != "status") {
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
  if (left == 2) {
    if (tail[i + 1] != "status" || !t.kind->has_status) return call->ReplyError(PathNotFound(path));
    t.status = true;
  }
  if (left > 2) return call->ReplyError(PathNotFound(path));
  if (!t.name.empty() && t.kind->namespaced && t.ns.empty()) return call->ReplyError(PathNotFound(path));

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
    call->ReplyError(Unavailable("no leader is known; try again shortly", std::nullopt));
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
  if (m == "GET") return Get(call, t);
  if (m == "PUT") return Update(call, t);
  if (m == "PATCH") return Patch(call, t);
  if (m == "DELETE" && !t.status) return Delete(call, t);
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

}  // namespace bosun::state
