// tests/state/client_fake_api.h — a FAKE bosun API server for the client's
// tests (client_test.cc).
//
// ============================================================================
//  FakeApi is a FAKE. It is a small in-memory imitation of docs/API.md on
//  cpprestsdk's http_listener, written for the client's tests only: it lets a
//  test drop a watch stream mid-way (cleanly, or abruptly after half a line),
//  hold back live events, compact history, answer 410 both ways the API does
//  (an ERROR event, an HTTP 410), answer 503 with a leader hint, and record
//  which resourceVersion each watch asked for — the situations the client must
//  survive and the real server produces only by accident. The same client
//  against the real ApiServer is tested in client_real_test.cc.
// ============================================================================
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

// cpprestsdk's U() macro would clash with gtest's templates.
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/http_listener.h>
#include <cpprest/producerconsumerstream.h>

#include "core/kinds.h"
#include "core/object.h"
#include "core/selector.h"
#include "tests/test_support.h"

namespace bosun::state::fake {

namespace http = web::http;

inline constexpr const char* kToken = "test-token";

using bosun::test::FreePort;

inline const KindInfo& Kind(const char* resource) {
  return *KindRegistry::Builtin().FindResource(resource);
}

inline Json StatusJson(int code, const std::string& reason, const std::string& message, Json details = Json::object()) {
  return {{"kind", "Status"},   {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Failure"},
          {"message", message}, {"reason", reason},   {"details", details},         {"code", code}};
}

// The FAKE API server (see the top of the file).
class FakeApi {
 public:
  FakeApi() : port_(FreePort()), url_("http://127.0.0.1:" + std::to_string(port_)) {
    listener_ = std::make_unique<http::experimental::listener::http_listener>(url_);
    listener_->support([this](http::http_request req) { Handle(req); });
    listener_->open().wait();
  }
  ~FakeApi() {
    {
      // Watches that reconnect from now on get 503, so no new stream can
      // hold up the listener's close.
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    DropWatches(/*abrupt=*/false);
    // cpprestsdk's listener crashed (a write started on a socket its close
    // had just taken away, ~1 run in 700 under load) when it closed while a
    // response was still being written: give the answers being sent up to
    // two seconds to finish (a client may never read the rest of one).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(replies_mu_);
        std::erase_if(replies_, Observed);
        if (replies_.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    listener_->close().wait();
    std::lock_guard<std::mutex> lock(replies_mu_);
    std::erase_if(replies_, Observed);
  }

  const std::string& url() const { return url_; }

  // Writes as another client would: create or replace, at a new revision.
  Json Put(const KindInfo& kind, Json obj) {
    std::lock_guard<std::mutex> lock(mu_);
    return PutLocked(kind, std::move(obj));
  }
  Json Put(const KindInfo& kind, const std::string& ns, const std::string& name, const Json& data) {
    Json obj = {
        {"apiVersion", kind.gvk.ApiVersion()}, {"kind", kind.gvk.kind}, {"metadata", {{"name", name}}}, {"data", data}};
    if (kind.namespaced) obj["metadata"]["namespace"] = ns;
    return Put(kind, obj);
  }
  void Remove(const KindInfo& kind, const std::string& ns, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    RemoveLocked(StoreKey(kind, ns, name));
  }
  // Forgets every change so far: watches from an older revision get 410.
  void Compact() {
    std::lock_guard<std::mutex> lock(mu_);
    compacted_ = rev_;
  }
  // Ends every open watch stream: cleanly (the last chunk), or abruptly (the
  // connection dies mid-response, after half an event line).
  void DropWatches(bool abrupt) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : watchers_) {
      if (abrupt) {
        Write(*w, R"({"type":"MODIFIED","object":{"kind":"ConfigMap","metadata":{"name":"half)");
        w->buf.close(std::ios_base::out, std::make_exception_ptr(std::runtime_error("dropped"))).wait();
      } else {
        w->buf.close(std::ios_base::out).wait();
      }
    }
    watchers_.clear();
  }
  // Open streams stop receiving live events (history still records them).
  void HoldOpenStreams() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : watchers_) w->held = true;
  }
  void SendBookmarks() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : watchers_) {
      Json b = {{"type", "BOOKMARK"},
                {"object",
                 {{"apiVersion", w->kind->gvk.ApiVersion()},
                  {"kind", w->kind->gvk.kind},
                  {"metadata", {{"resourceVersion", std::to_string(rev_)}}}}}};
      Write(*w, b.dump() + "\n");
    }
  }
  void SetExpiredAsHttp410(bool v) {
    std::lock_guard<std::mutex> lock(mu_);
    expired_as_http_ = v;
  }
  // Every request gets 503, naming `leader` if given.
  void SetUnavailable(bool on, const std::string& leader = "") {
    std::lock_guard<std::mutex> lock(mu_);
    unavailable_ = on;
    leader_ = leader;
  }
  std::vector<std::string> watch_rvs() {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_rvs_;
  }
  size_t open_streams() {
    std::lock_guard<std::mutex> lock(mu_);
    return watchers_.size();
  }
  int requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  bool Has(const KindInfo& kind, const std::string& ns, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return objects_.count(StoreKey(kind, ns, name)) != 0;
  }

 private:
  struct Watcher {
    const KindInfo* kind;
    std::string prefix;
    Selector selector;
    concurrency::streams::producer_consumer_buffer<uint8_t> buf;
    bool held = false;
  };
  struct Change {
    int64_t rev;
    std::string type;
    std::string key;
    Json object;
  };

  static void Write(Watcher& w, const std::string& text) {
    w.buf.putn_nocopy(reinterpret_cast<const uint8_t*>(text.data()), text.size()).wait();
    w.buf.sync().wait();
  }

  Json PutLocked(const KindInfo& kind, Json obj) {
    std::string ns = kind.namespaced ? obj["metadata"].value("namespace", "default") : "";
    if (kind.namespaced) obj["metadata"]["namespace"] = ns;
    std::string key = StoreKey(kind, ns, obj["metadata"]["name"].get<std::string>());
    bool existed = objects_.count(key) != 0;
    if (!existed) {
      obj["metadata"]["uid"] = "uid-" + std::to_string(rev_ + 1);
      obj["metadata"]["creationTimestamp"] = "2026-11-21T20:49:01Z";
    }
    obj["metadata"]["resourceVersion"] = std::to_string(++rev_);
    objects_[key] = obj;
    Publish({rev_, existed ? "MODIFIED" : "ADDED", key, obj});
    return obj;
  }

  Json RemoveLocked(const std::string& key) {
    Json obj = objects_.at(key);
    objects_.erase(key);
    obj["metadata"]["resourceVersion"] = std::to_string(++rev_);
    Publish({rev_, "DELETED", key, obj});
    return obj;
  }

  void Publish(Change c) {
    history_.push_back(c);
    for (auto& w : watchers_) {
      if (!w->held && Matches(*w, c)) Write(*w, Line(c));
    }
  }

  static bool Matches(const Watcher& w, const Change& c) {
    return c.key.rfind(w.prefix, 0) == 0 && w.selector.Matches(Object(c.object).labels());
  }
  static std::string Line(const Change& c) { return Json{{"type", c.type}, {"object", c.object}}.dump() + "\n"; }

  void Reply(http::http_request& req, int code, const Json& body) {
    Sent(req.reply(static_cast<http::status_code>(code), body.dump(), "application/json"));
  }
  // Remembers an answer being sent, for the destructor to wait on.
  void Sent(pplx::task<void> reply) {
    std::lock_guard<std::mutex> lock(replies_mu_);
    std::erase_if(replies_, Observed);
    replies_.push_back(std::move(reply));
  }
  // True when the answer has been sent (or failed: the client went away);
  // its outcome is then observed, as pplx requires.
  static bool Observed(pplx::task<void>& t) {
    if (!t.is_done()) return false;
    try {
      t.get();
    } catch (const std::exception&) {
    }
    return true;
  }

  void Handle(http::http_request req) {
    std::unique_lock<std::mutex> lock(mu_);
    ++requests_;
    if (req.headers().has("Authorization") ? req.headers()["Authorization"] != std::string("Bearer ") + kToken : true) {
      return Reply(req, 401, StatusJson(401, "Unauthorized", "Unauthorized"));
    }
    if (unavailable_ || closing_) {
      Json details = Json::object();
      if (!leader_.empty()) details["leader"] = leader_;
      return Reply(req, 503, StatusJson(503, "ServiceUnavailable", "no leader", details));
    }
    std::string path = http::uri::decode(req.relative_uri().path());
    std::map<std::string, std::string> query;
    for (const auto& [k, v] : http::uri::split_query(req.relative_uri().query())) {
      query[http::uri::decode(k)] = http::uri::decode(v);
    }
    auto segs = http::uri::split_path(path);
    if (path == "/bosun/v1/members") {
      Json member = {{"id", 1},
                     {"raftAddress", "127.0.0.1:7001"},
                     {"apiUrl", url_},
                     {"role", "leader"},
                     {"isLeader", true},
                     {"isSelf", true},
                     {"appliedIndex", rev_}};
      return Reply(req, 200, {{"kind", "MemberList"}, {"items", Json::array({member})}});
    }
    if (path == "/version") return Reply(req, 200, {{"gitVersion", "fake"}});
    // /api/v1/... or /apis/<group>/v1/...
    size_t i = 0;
    std::string group;
    if (segs.size() >= 2 && segs[0] == "api") {
      i = 2;
    } else if (segs.size() >= 3 && segs[0] == "apis") {
      group = segs[1];
      i = 3;
    } else {
      return Reply(req, 404, StatusJson(404, "NotFound", "no such path " + path));
    }
    std::vector<std::string> rest(segs.begin() + static_cast<long>(i), segs.end());
    std::string ns;
    if (rest.size() >= 3 && rest[0] == "namespaces") {
      ns = rest[1];
      rest.erase(rest.begin(), rest.begin() + 2);
    }
    if (rest.empty()) return Reply(req, 404, StatusJson(404, "NotFound", "no such path " + path));
    const KindInfo* kind = KindRegistry::Builtin().FindByPath(group, "v1", rest[0]);
    if (kind == nullptr) return Reply(req, 404, StatusJson(404, "NotFound", "no such resource " + rest[0]));
    std::string name = rest.size() >= 2 ? rest[1] : "";
    bool status = rest.size() >= 3 && rest[2] == "status";
    std::string prefix = "/registry/" + (group.empty() ? std::string("core") : group) + "/" + kind->resource + "/";
    if (kind->namespaced && !ns.empty()) prefix += ns + "/";
    Json details = {{"name", name}, {"kind", kind->resource}};
    auto not_found = [&] {
      Reply(req, 404, StatusJson(404, "NotFound", kind->QualifiedResource() + " \"" + name + "\" not found", details));
    };
    std::string key = StoreKey(*kind, ns, name);
    const std::string method = req.method();

    if (method == "GET" && name.empty()) {
      Result<Selector> sel = Selector::Parse(query.count("labelSelector") ? query["labelSelector"] : "");
      if (!sel) return Reply(req, 400, StatusJson(400, "BadRequest", sel.error().message()));
      if (query["watch"] == "true") return Watch(req, kind, prefix, *sel, query["resourceVersion"]);
      size_t limit = query.count("limit") ? std::stoul(query["limit"]) : 0;
      std::string after = query.count("continue") ? query["continue"] : "";
      Json items = Json::array();
      std::string last;
      bool more = false;
      for (auto it = objects_.lower_bound(prefix); it != objects_.end() && it->first.rfind(prefix, 0) == 0; ++it) {
        if (!after.empty() && it->first <= after) continue;
        if (!sel->Matches(Object(it->second).labels())) continue;
        if (limit && items.size() == limit) {
          more = true;
          break;
        }
        Json item = it->second;
        item.erase("apiVersion");  // as Kubernetes, items without apiVersion and kind
        item.erase("kind");
        items.push_back(item);
        last = it->first;
      }
      Json meta = {{"resourceVersion", std::to_string(rev_)}};
      if (more) meta["continue"] = last;
      return Reply(req, 200, {{"kind", kind->gvk.kind + "List"}, {"metadata", meta}, {"items", items}});
    }
    if (method == "GET") {
      if (!objects_.count(key)) return not_found();
      return Reply(req, 200, objects_[key]);
    }
    Json body = Json::parse(req.extract_utf8string(true).get(), nullptr, false);
    if (method == "POST") {
      name = body["metadata"].value("name", "");
      details["name"] = name;
      key = StoreKey(*kind, ns, name);
      if (objects_.count(key)) {
        return Reply(
            req, 409,
            StatusJson(409, "AlreadyExists", kind->QualifiedResource() + " \"" + name + "\" already exists", details));
      }
      if (Object(body).annotation("fake/invalid")) {
        Json d = details;
        d["causes"] = {{{"field", "metadata.name"}, {"message", "must be lower case"}},
                       {{"field", "data[x y]"}, {"message", "a valid config key must consist of alphanumerics"}}};
        return Reply(req, 422, StatusJson(422, "Invalid", "ConfigMap \"" + name + "\" is invalid: ...", d));
      }
      body["metadata"]["namespace"] = ns;
      return Reply(req, 201, PutLocked(*kind, body));
    }
    if (!objects_.count(key)) return not_found();
    const Json& cur = objects_[key];
    auto stale = [&](const std::string& rv) {
      return !rv.empty() && rv != cur["metadata"]["resourceVersion"].get<std::string>();
    };
    auto conflict = [&] {
      Reply(req, 409,
            StatusJson(409, "Conflict",
                       "Operation cannot be fulfilled on " + kind->QualifiedResource() + " \"" + name +
                           "\": the object has been modified; please apply your changes to the latest version and "
                           "try again",
                       details));
    };
    if (method == "PUT") {
      if (stale(body["metadata"].value("resourceVersion", ""))) return conflict();
      Json next = status ? cur : body;
      if (status) {
        next["status"] = body["status"];
      } else if (cur.contains("status")) {
        next["status"] = cur["status"];
      }
      return Reply(req, 200, PutLocked(*kind, next));
    }
    if (method == "PATCH") {
      if (req.headers().content_type() != "application/merge-patch+json") {
        return Reply(req, 415, StatusJson(415, "UnsupportedMediaType", "bad patch type"));
      }
      Json next = cur;
      next.merge_patch(body);
      return Reply(req, 200, PutLocked(*kind, next));
    }
    if (method == "DELETE") {
      if (body.is_object() && body.contains("preconditions") &&
          stale(body["preconditions"].value("resourceVersion", ""))) {
        return conflict();
      }
      return Reply(req, 200, RemoveLocked(key));
    }
    Reply(req, 405, StatusJson(405, "MethodNotAllowed", "no"));
  }

  void Watch(http::http_request& req, const KindInfo* kind, const std::string& prefix, const Selector& sel,
             const std::string& rv) {
    watch_rvs_.push_back(rv);
    int64_t from = rv.empty() ? 0 : std::stoll(rv);
    if (from > 0 && from < compacted_) {
      Json st = StatusJson(410, "Expired", "too old resource version: " + rv);
      if (expired_as_http_) return Reply(req, 410, st);
      Sent(req.reply(200, Json{{"type", "ERROR"}, {"object", st}}.dump() + "\n", "application/json"));
      return;
    }
    auto w = std::make_shared<Watcher>();
    w->kind = kind;
    w->prefix = prefix;
    w->selector = sel;
    http::http_response resp(200);
    resp.headers().set_content_type("application/json");
    resp.set_body(concurrency::streams::istream(w->buf));
    Sent(req.reply(resp));
    if (from == 0) {
      for (auto it = objects_.lower_bound(prefix); it != objects_.end() && it->first.rfind(prefix, 0) == 0; ++it) {
        Change c{0, "ADDED", it->first, it->second};
        if (Matches(*w, c)) Write(*w, Line(c));
      }
    } else {
      for (const Change& c : history_) {
        if (c.rev > from && Matches(*w, c)) Write(*w, Line(c));
      }
    }
    watchers_.push_back(w);
  }

  const int port_;
  const std::string url_;
  std::unique_ptr<http::experimental::listener::http_listener> listener_;

  std::mutex replies_mu_;
  std::vector<pplx::task<void>> replies_;  // answers being sent; guarded by replies_mu_
  std::mutex mu_;
  int64_t rev_ = 0;
  int64_t compacted_ = 0;
  std::map<std::string, Json> objects_;
  std::vector<Change> history_;
  std::vector<std::shared_ptr<Watcher>> watchers_;
  std::vector<std::string> watch_rvs_;
  bool expired_as_http_ = false;
  bool unavailable_ = false;
  bool closing_ = false;
  std::string leader_;
  int requests_ = 0;
};

}  // namespace bosun::state::fake
