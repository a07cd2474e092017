// The API client: server choice and fail-over, Status errors, and the
// request/response verbs. Watches are in client_watch.cc.
#include "state/client.h"

#include <cerrno>
#include <set>
#include <thread>
#include <utility>

#include "core/duration.h"
#include "state/client_internal.h"

namespace bosun::state {

namespace http = web::http;
using client_internal::Answer;
using client_internal::HttpResult;
using client_internal::NeedName;
using client_internal::Place;
using client_internal::Stream;
using client_internal::Subject;

namespace client_internal {
namespace {

std::string NsSuffix(const Subject& s) {
  if (s.kind == nullptr || !s.kind->namespaced || s.ns.empty()) return "";
  return " in namespace \"" + s.ns + "\"";
}

std::string Described(const Subject& s) {
  return s.kind->QualifiedResource() + " \"" + s.name + "\"";
}

Code CodeFor(int status, const std::string& reason) {
  switch (status) {
    case 400:
    case 405:
    case 415:
    case 422:
      return Code::kInvalid;
    case 401:
      return Code::kUnauthorized;
    case 403:
      return Code::kForbidden;
    case 404:
      return Code::kNotFound;
    case 409:
      return reason == "AlreadyExists" ? Code::kAlreadyExists : Code::kConflict;
    case 410:
      return Code::kCompacted;
    case 413:
      return Code::kTooLarge;
    case 429:
    case 503:
      return Code::kUnavailable;
    case 504:
      return Code::kTimeout;
    default:
      return status >= 500 ? Code::kInternal : Code::kInvalid;
  }
}

}  // namespace

std::string PercentEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Error ErrorFromAnswer(int status, const std::string& body, const std::string& server, const std::string& method,
                      const Subject& subject) {
  Json st = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::string message, reason;
  Json details = Json::object();
  if (st.is_object()) {
    if (st.contains("message") && st["message"].is_string()) message = st["message"].get<std::string>();
    if (st.contains("reason") && st["reason"].is_string()) reason = st["reason"].get<std::string>();
    if (st.contains("details") && st["details"].is_object()) details = st["details"];
  }
  Code code = CodeFor(status, reason);
  bool named = subject.kind != nullptr && !subject.name.empty();
  // The server's details say which object the error is about; a 404 for a
  // create may be about the namespace, not the object.
  bool about_subject =
      !details.contains("name") || !details["name"].is_string() || details["name"].get<std::string>() == subject.name;
  std::string text;
  if (status == 404 && named && about_subject) {
    text = Described(subject) + " not found" + NsSuffix(subject);
  } else if (code == Code::kAlreadyExists && named && about_subject) {
    text = Described(subject) + " already exists" + NsSuffix(subject);
  } else if (status == 422 && details.contains("causes") && details["causes"].is_array() &&
             !details["causes"].empty()) {
    std::string causes;
    for (const Json& c : details["causes"]) {
      std::string field = c.contains("field") && c["field"].is_string() ? c["field"].get<std::string>() : "";
      std::string msg = c.contains("message") && c["message"].is_string() ? c["message"].get<std::string>() : "";
      if (!causes.empty()) causes += "; ";
      causes += field.empty() ? msg : field + ": " + msg;
    }
    std::string what = "the object";
    if (named) {
      const GroupVersionKind& g = subject.kind->gvk;
      what = g.kind + (g.group.empty() ? "" : "." + g.group) + " \"" + subject.name + "\"";
    }
    text = what + " is invalid: " + causes;
  } else if (status == 401) {
    text = "the bosun API at " + server + " did not accept the token (missing, wrong or revoked)";
  } else if (status == 503) {
    text = "the bosun API at " + server + " is unavailable" + (message.empty() ? "" : ": " + message);
  } else if (!message.empty()) {
    text = message;
  } else {
    text = "the bosun API at " + server + " answered " + method + " with HTTP " + std::to_string(status);
  }
  return Error(code, text);
}

}  // namespace client_internal

namespace {

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

bool Contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

Result<Object> AsObject(Result<Json> j, const std::string& what) {
  if (!j) return j.error();
  if (!j->is_object()) return Error(Code::kInternal, "the bosun API sent " + what + " that is not a JSON object");
  return Object(std::move(*j));
}

}  // namespace

namespace client_internal {

Result<Placed> Place(const Object& o) {
  const KindInfo* kind = KindRegistry::Builtin().Find(o.gvk());
  if (kind == nullptr) {
    return Error(Code::kInvalid,
                 "bosun does not know kind \"" + o.kind() + "\" of apiVersion \"" + o.api_version() + "\"");
  }
  Placed p;
  p.kind = kind;
  if (kind->namespaced) p.ns = o.namespace_().empty() ? "default" : o.namespace_();
  return p;
}

Status NeedName(const KindInfo& kind, const std::string& name, const char* verb) {
  if (!name.empty()) return Ok();
  return Error(Code::kInvalid, std::string("cannot ") + verb + " " + kind.QualifiedResource() + " without a name");
}

}  // namespace client_internal

namespace {

std::string ObjectPath(const KindInfo& kind, const std::string& ns, const std::string& name) {
  using client_internal::PercentEncode;
  return kind.Path(PercentEncode(ns), PercentEncode(name));
}

}  // namespace

// ---- transport ----

std::shared_ptr<http::client::http_client> Client::Impl::HttpClient(const std::string& server, bool stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& map = stream ? stream_clients_ : clients_;
  auto it = map.find(server);
  if (it != map.end()) return it->second;
  http::client::http_client_config config;
  config.set_timeout(stream ? options.watch_idle_timeout : options.timeout);
  auto c = std::make_shared<http::client::http_client>(web::uri(server), config);
  map.emplace(server, c);
  return c;
}

std::vector<std::string> Client::Impl::Order() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> order;
  if (!preferred_.empty()) order.push_back(preferred_);
  for (const auto& s : options.servers) {
    if (s != preferred_) order.push_back(s);
  }
  return order;
}

void Client::Impl::Answered(const std::string& server) {
  std::lock_guard<std::mutex> lock(mu_);
  preferred_ = server;
}

http::http_request Client::Impl::NewRequest(const std::string& method, const std::string& target,
                                            const std::string* body, const std::string& content_type) const {
  http::http_request req(method);
  req.set_request_uri(web::uri(target));
  req.headers().add("Authorization", "Bearer " + options.token);
  req.headers().add("Accept", "application/json");
  if (body != nullptr) req.set_body(*body, content_type);
  return req;
}

Client::Impl::Attempt Client::Impl::SendOnce(const std::string& server, const http::http_request& request,
                                             const pplx::cancellation_token& token, bool stream) {
  Attempt a;
  try {
    auto client = HttpClient(server, stream);
    a.response = client->request(request, token).get();
    if (!stream) a.body = a.response.extract_utf8string(/*ignore_content_type=*/true).get();
  } catch (const pplx::task_canceled&) {
    a.failure = Failure::kCancelled;
  } catch (const http::http_exception& e) {
    int ev = e.error_code().value();
    std::string what = e.what();
    if (token.is_canceled() || ev == ECANCELED) {
      a.failure = Failure::kCancelled;
    } else if (Contains(what, "Error resolving") || Contains(what, "Failed to resolve")) {
      a.failure = Failure::kConnect;
      a.reason = "cannot resolve the host name";
    } else if (ev == EHOSTUNREACH || ev == ECONNREFUSED || ev == ENETUNREACH || ev == EADDRNOTAVAIL ||
               Contains(what, "Failed to connect")) {
      // cpprest reports a refused connection as "host unreachable".
      a.failure = Failure::kConnect;
      a.reason = "connection refused or host unreachable";
    } else if (ev == ETIMEDOUT) {
      a.failure = Failure::kTimeout;
      a.reason = "no answer within " + FormatDuration(stream ? options.watch_idle_timeout : options.timeout);
    } else {
      a.failure = Failure::kOther;
      a.reason = what;
    }
  } catch (const std::exception& e) {
    a.failure = token.is_canceled() ? Failure::kCancelled : Failure::kOther;
    a.reason = e.what();
  }
  if (a.failure == Failure::kCancelled) a.reason = "cancelled";
  return a;
}

Result<Answer> Client::Impl::Exchange(const std::string& method, const std::string& target, const std::string* body,
                                      const std::string& content_type, bool is_write,
                                      const pplx::cancellation_token& token, bool stream) {
  const auto deadline = std::chrono::steady_clock::now() + options.unavailable_retry;
  for (;;) {
    bool answered_503 = false;
    auto a = ExchangeOnce(method, target, body, content_type, is_write, token, stream, &answered_503);
    if (a || !answered_503 || token.is_canceled()) return a;
    // A write a follower forwarded, or one the leader lost its leadership
    // under, may have been applied: asked again only when no leader was
    // known (nothing was forwarded), or for a merge patch, which setting
    // the same fields again leaves as it was (`bosun sync`'s request).
    if (is_write && !Contains(a.error().message(), "no leader is known") &&
        !(method == "PATCH" && content_type == "application/merge-patch+json")) {
      return a;
    }
    if (std::chrono::steady_clock::now() + std::chrono::milliseconds(250) > deadline) return a;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

Result<Answer> Client::Impl::ExchangeOnce(const std::string& method, const std::string& target, const std::string* body,
                                          const std::string& content_type, bool is_write,
                                          const pplx::cancellation_token& token, bool stream, bool* answered_503) {
  std::vector<std::string> order = Order();
  std::set<std::string> tried;
  std::vector<std::string> failures;  // "URL: why", for the final message
  std::optional<Error> unavailable;   // the last 503
  // Leader hints may name servers outside the list; a few hops at most, so
  // members with stale views cannot bounce a request around for long.
  const size_t max_attempts = options.servers.size() + 3;
  for (size_t i = 0; i < order.size() && tried.size() < max_attempts; ++i) {
    const std::string server = order[i];
    if (!tried.insert(server).second) continue;
    Attempt a = SendOnce(server, NewRequest(method, target, body, content_type), token, stream);
    switch (a.failure) {
      case Failure::kCancelled:
        return Error(Code::kUnavailable, "cancelled");
      case Failure::kConnect:
        failures.push_back(server + ": " + a.reason);
        continue;
      case Failure::kTimeout:
      case Failure::kOther:
        if (is_write) {
          return Error(a.failure == Failure::kTimeout ? Code::kTimeout : Code::kUnavailable,
                       "lost the answer of the bosun API at " + server + " (" + a.reason + "); the " + method +
                           " may or may not have been applied");
        }
        failures.push_back(server + ": " + a.reason);
        continue;
      case Failure::kNone:
        break;
    }
    int status = a.response.status_code();
    if (status == 503) {
      std::string text = a.body;
      if (stream) {
        try {
          text = a.response.extract_utf8string(true).get();
        } catch (const std::exception&) {
        }
      }
      unavailable = client_internal::ErrorFromAnswer(503, text, server, method, {});
      Json st = Json::parse(text, nullptr, /*allow_exceptions=*/false);
      const Json& leader = Object::Field(Object::Field(st, "details"), "leader");
      if (leader.is_string() && !leader.get<std::string>().empty()) {
        std::string l = TrimSlash(leader.get<std::string>());
        if (!tried.count(l) && web::uri::validate(l))
          order.insert(order.begin() + static_cast<std::ptrdiff_t>(i) + 1, l);
      }
      continue;
    }
    Answered(server);
    return Answer{a.response, server, std::move(a.body)};
  }
  if (unavailable) {
    *answered_503 = true;
    return *unavailable;
  }
  std::string list;
  for (const auto& f : failures) list += (list.empty() ? "" : "; ") + f;
  return Error(Code::kUnavailable, "cannot reach the bosun API at " + list);
}

Result<HttpResult> Client::Impl::Send(const std::string& method, const std::string& target, const std::string* body,
                                      const std::string& content_type, bool is_write,
                                      const pplx::cancellation_token& token) {
  auto a = Exchange(method, target, body, content_type, is_write, token, /*stream=*/false);
  if (!a) return a.error();
  return HttpResult{a->response.status_code(), std::move(a->body), a->server};
}

Result<Stream> Client::Impl::OpenStream(const std::string& target, const Subject& subject,
                                        const pplx::cancellation_token& token) {
  auto a = Exchange("GET", target, nullptr, "", /*is_write=*/false, token, /*stream=*/true);
  if (!a) return a.error();
  int status = a->response.status_code();
  if (status != 200) {
    std::string text;
    try {
      text = a->response.extract_utf8string(true).get();
    } catch (const std::exception&) {
    }
    return client_internal::ErrorFromAnswer(status, text, a->server, "GET", subject);
  }
  return Stream{a->response, a->server};
}

Result<Json> Client::Impl::Call(const std::string& method, const std::string& target, const Json* body,
                                const std::string& content_type, bool is_write, const Subject& subject,
                                const pplx::cancellation_token& token) {
  std::string text;
  if (body != nullptr) text = body->dump(-1, ' ', false, Json::error_handler_t::replace);
  auto r = Send(method, target, body != nullptr ? &text : nullptr, content_type, is_write, token);
  if (!r) return r.error();
  if (r->status < 200 || r->status > 299) {
    return client_internal::ErrorFromAnswer(r->status, r->body, r->server, method, subject);
  }
  if (r->body.empty()) return Json::object();
  Json j = Json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Error(Code::kInternal, "the bosun API at " + r->server + " answered " + method + " " + target +
                                      " with a body that is not JSON");
  }
  return j;
}

Result<ObjectList> Client::Impl::List(const KindInfo& kind, const std::string& ns, const Selectors& selectors,
                                      size_t limit, const std::string& cont, const pplx::cancellation_token& token) {
  using client_internal::PercentEncode;
  std::string target = kind.Path(PercentEncode(ns));
  std::string query;
  auto add = [&](const char* k, const std::string& v) {
    query += (query.empty() ? "?" : "&") + (k + ("=" + PercentEncode(v)));
  };
  if (!selectors.labels.empty()) add("labelSelector", selectors.labels);
  if (!selectors.fields.empty()) add("fieldSelector", selectors.fields);
  if (limit > 0) add("limit", std::to_string(limit));
  if (!cont.empty()) add("continue", cont);
  auto j = Call("GET", target + query, nullptr, "", false, Subject{&kind, ns, ""}, token);
  if (!j) return j.error();
  ObjectList out;
  const Json& meta = Object::Field(*j, "metadata");
  if (Object::Field(meta, "resourceVersion").is_string()) out.resource_version = meta["resourceVersion"];
  if (Object::Field(meta, "continue").is_string()) out.continue_token = meta["continue"];
  const Json& items = Object::Field(*j, "items");
  if (items.is_array()) {
    for (const Json& item : items) {
      if (!item.is_object()) continue;
      Object o(item);
      // Kubernetes leaves apiVersion and kind out of list items.
      if (o.api_version().empty()) o.json()["apiVersion"] = kind.gvk.ApiVersion();
      if (o.kind().empty()) o.json()["kind"] = kind.gvk.kind;
      out.items.push_back(std::move(o));
    }
  }
  return out;
}

Result<ObjectList> Client::Impl::ListAll(const KindInfo& kind, const std::string& ns, const Selectors& selectors,
                                         const pplx::cancellation_token& token) {
  constexpr size_t kPage = 500;
  auto first = List(kind, ns, selectors, kPage, "", token);
  if (!first) return first;
  ObjectList all = std::move(*first);
  std::string cont = all.continue_token;
  while (!cont.empty()) {
    auto page = List(kind, ns, selectors, kPage, cont, token);
    if (!page) return page;
    for (auto& o : page->items) all.items.push_back(std::move(o));
    cont = page->continue_token;
  }
  all.continue_token.clear();
  return all;
}

// ---- Client ----

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  if (options.servers.empty()) return Error(Code::kInvalid, "no bosun API server given");
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  impl->options.servers.clear();
  for (const std::string& raw : options.servers) {
    std::string s = TrimSlash(raw);
    bool ok = false;
    try {
      if (web::uri::validate(s)) {
        web::uri u(s);
        ok = (u.scheme() == "http" || u.scheme() == "https") && !u.host().empty() &&
             (u.path().empty() || u.path() == "/") && u.query().empty();
      }
    } catch (const std::exception&) {
    }
    if (!ok) return Error(Code::kInvalid, "not a bosun API URL: \"" + raw + "\" (expected http://HOST:PORT)");
    impl->options.servers.push_back(s);
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<Object> Client::Get(const KindInfo& kind, const std::string& ns, const std::string& name) {
  if (Status st = NeedName(kind, name, "get"); !st.ok()) return st.error();
  Subject s{&kind, kind.namespaced ? (ns.empty() ? "default" : ns) : "", name};
  return AsObject(impl_->Call("GET", ObjectPath(kind, s.ns, name), nullptr, "", false, s), "an object");
}

Result<ObjectList> Client::List(const KindInfo& kind, const std::string& ns, const Selectors& selectors,
                                size_t limit, const std::string& cont) {
  return impl_->List(kind, kind.namespaced ? ns : "", selectors, limit, cont);
}

Result<Object> Client::Create(const Object& object) {
  auto p = Place(object);
  if (!p) return p.error();
  Subject s{p->kind, p->ns, object.name()};
  return AsObject(impl_->Call("POST", ObjectPath(*p->kind, p->ns, ""), &object.json(), "application/json", true, s),
                  "an object");
}

Result<Object> Client::Update(const Object& object) {
  auto p = Place(object);
  if (!p) return p.error();
  if (object.name().empty()) return Error(Code::kInvalid, "cannot update an object without metadata.name");
  Subject s{p->kind, p->ns, object.name()};
  return AsObject(
      impl_->Call("PUT", ObjectPath(*p->kind, p->ns, object.name()), &object.json(), "application/json", true, s),
      "an object");
}

Result<Object> Client::FinalizeNamespace(const Object& ns) {
  const KindInfo& kind = *KindRegistry::Builtin().FindKind("Namespace");
  if (ns.name().empty()) return Error(Code::kInvalid, "cannot finalize a Namespace without a name");
  Subject s{&kind, "", ns.name()};
  return AsObject(
      impl_->Call("PUT", ObjectPath(kind, "", ns.name()) + "/finalize", &ns.json(), "application/json", true, s),
      "an object");
}

Result<Object> Client::UpdateStatus(const Object& object) {
  auto p = Place(object);
  if (!p) return p.error();
  if (object.name().empty()) return Error(Code::kInvalid, "cannot update the status of an object without a name");
  if (!p->kind->has_status) {
    return Error(Code::kInvalid, p->kind->QualifiedResource() + " have no status subresource");
  }
  Subject s{p->kind, p->ns, object.name()};
  return AsObject(impl_->Call("PUT", ObjectPath(*p->kind, p->ns, object.name()) + "/status", &object.json(),
                              "application/json", true, s),
                  "an object");
}

Result<Object> Client::Patch(const KindInfo& kind, const std::string& ns, const std::string& name,
                             const Json& merge_patch) {
  if (Status st = NeedName(kind, name, "patch"); !st.ok()) return st.error();
  Subject s{&kind, kind.namespaced ? (ns.empty() ? "default" : ns) : "", name};
  return AsObject(
      impl_->Call("PATCH", ObjectPath(kind, s.ns, name), &merge_patch, "application/merge-patch+json", true, s),
      "an object");
}

Result<Object> Client::Delete(const KindInfo& kind, const std::string& ns, const std::string& name,
                              const std::string& precondition_rv) {
  if (Status st = NeedName(kind, name, "delete"); !st.ok()) return st.error();
  Subject s{&kind, kind.namespaced ? (ns.empty() ? "default" : ns) : "", name};
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!precondition_rv.empty()) body["preconditions"] = {{"resourceVersion", precondition_rv}};
  return AsObject(impl_->Call("DELETE", ObjectPath(kind, s.ns, name), precondition_rv.empty() ? nullptr : &body,
                              "application/json", true, s),
                  "an object");
}

Result<Json> Client::Members() {
  return impl_->Call("GET", "/bosun/v1/members", nullptr, "", false, {});
}

Status Client::RemoveMember(uint64_t id) {
  auto r = impl_->Call("DELETE", "/bosun/v1/members/" + std::to_string(id), nullptr, "", true, {});
  if (!r) return r.error();
  return Ok();
}

Result<Json> Client::RawGet(const std::string& path) {
  if (path.empty() || path[0] != '/' || !web::uri::validate(path))
    return Error(Code::kInvalid, "not an absolute API path: \"" + path + "\"");
  return impl_->Call("GET", path, nullptr, "", false, {});
}

}  // namespace bosun::state
