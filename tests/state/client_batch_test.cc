// Client::Batch against the real API server, and the client watch across
// revisions that change many objects (one batch): against the real server
// (whole, and with its stream cut mid-revision by a TCP proxy) and against a
// scripted FAKE stream that breaks at exact points.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

// cpprestsdk's U() macro would clash with gtest's templates.
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/http_listener.h>
#include <cpprest/producerconsumerstream.h>

#include "core/kinds.h"
#include "state/client.h"
#include "tests/state/api_test_support.h"
#include "tests/state/client_test_objects.h"

namespace bosun::state {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

using clienttest::ConfigMap;
using clienttest::Kind;


std::unique_ptr<Client> NewClient(const std::string& url, const std::string& token) {
  ClientOptions o;
  o.servers = {url};
  o.token = token;
  o.timeout = 10s;
  o.watch_backoff_min = 20ms;
  o.watch_backoff_max = 200ms;
  auto c = Client::Create(o);
  EXPECT_TRUE(c.ok());
  return std::move(c).value();
}

BatchOp CreateOp(Object o) {
  BatchOp op;
  op.type = BatchOp::Type::kCreate;
  op.object = std::move(o);
  return op;
}
BatchOp UpdateOp(Object o) {
  BatchOp op;
  op.type = BatchOp::Type::kUpdate;
  op.object = std::move(o);
  return op;
}
BatchOp DeleteOp(const KindInfo& kind, const std::string& ns, const std::string& name, const std::string& rv = "") {
  BatchOp op;
  op.type = BatchOp::Type::kDelete;
  op.kind = &kind;
  op.ns = ns;
  op.name = name;
  op.precondition_rv = rv;
  return op;
}

// Counts watch events per "TYPE ns/name@rv"; bookmarks aside.
class Recorder {
 public:
  std::function<void(const WatchEvent&)> Callback() {
    return [this](const WatchEvent& e) {
      if (e.type == WatchEvent::Type::kBookmark) return;
      std::lock_guard<std::mutex> lock(mu_);
      if (e.complete_through)
        completes_.push_back(e.object.namespace_() + "/" + e.object.name() + "@" + e.object.resource_version());
      events_.push_back(std::string(WatchEventTypeName(e.type)) + " " + e.object.namespace_() + "/" + e.object.name() +
                        "@" + e.object.resource_version());
      cv_.notify_all();
    };
  }
  std::vector<std::string> WaitFor(size_t n, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
    return events_;
  }
  std::vector<std::string> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // The events after which every change up to their revision was delivered.
  std::vector<std::string> completes() {
    std::lock_guard<std::mutex> lock(mu_);
    return completes_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
  std::vector<std::string> completes_;
};

// Every event exactly once: no name@rv twice.
void ExpectEachOnce(const std::vector<std::string>& events) {
  std::map<std::string, int> seen;
  for (const auto& e : events) {
    if (++seen[e] == 2) ADD_FAILURE() << "delivered twice: " << e;
  }
}

// ---- Client::Batch against the real server ----

TEST(ClientBatch, WritesAndAnswersInOrder) {
  apitest::Member m;
  m.CreateNamespaces({"shop"});
  auto c = NewClient(m.url(), m.token());
  auto old = c->Create(ConfigMap("shop", "old"));
  ASSERT_TRUE(old.ok()) << old.error().message();
  auto web = c->Create(Object(Json(apitest::Deployment("web"))));
  ASSERT_TRUE(web.ok()) << web.error().message();

  Object scaled = *web;
  scaled.json()["spec"]["replicas"] = 2;
  auto r = c->Batch({CreateOp(ConfigMap("shop", "a")), CreateOp(ConfigMap("", "in-default")), UpdateOp(scaled),
                     DeleteOp(Kind("cm"), "shop", "old", old->resource_version())});
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->items.size(), 4u);
  EXPECT_EQ(r->resource_version, std::to_string(m.store().revision()));
  for (const Object& o : r->items) EXPECT_EQ(o.resource_version(), r->resource_version);
  EXPECT_EQ(r->items[0].name(), "a");
  EXPECT_FALSE(r->items[0].uid().empty());
  EXPECT_EQ(r->items[1].namespace_(), "default");
  EXPECT_EQ(r->items[2].json()["metadata"]["generation"], 2);
  EXPECT_EQ(r->items[3].uid(), old->uid());
  EXPECT_EQ(c->Get(Kind("cm"), "shop", "old").error().code(), Code::kNotFound);
  auto a = c->Get(Kind("cm"), "shop", "a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->json(), r->items[0].json());
}

TEST(ClientBatch, ErrorsMapAsForSingleWritesAndNameTheOperation) {
  apitest::Member m;
  m.CreateNamespaces({"shop"});
  auto c = NewClient(m.url(), m.token());
  auto a = c->Create(ConfigMap("shop", "a"));
  ASSERT_TRUE(a.ok());

  auto exists = c->Batch({CreateOp(ConfigMap("shop", "b")), CreateOp(ConfigMap("shop", "a"))});
  ASSERT_FALSE(exists.ok());
  EXPECT_EQ(exists.error().code(), Code::kAlreadyExists);
  EXPECT_EQ(exists.error().message(), "operations[1]: configmaps \"a\" already exists");

  Object stale = *a;
  stale.set_resource_version("1");
  ASSERT_TRUE(c->Update(ConfigMap("shop", "a", "2")).ok());
  auto conflict = c->Batch({UpdateOp(stale)});
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code(), Code::kConflict);
  EXPECT_THAT(conflict.error().message(), StartsWith("operations[0]: Operation cannot be fulfilled"));

  auto missing = c->Batch({DeleteOp(Kind("cm"), "shop", "nope")});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kConflict);
  EXPECT_EQ(missing.error().message(), "operations[0]: configmaps \"nope\" not found");

  auto invalid = c->Batch({CreateOp(ConfigMap("shop", "c")), CreateOp(Object(Json(apitest::Deployment("web", -1))))});
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().code(), Code::kInvalid);
  EXPECT_THAT(invalid.error().message(),
              StartsWith("operations[1]: Deployment.apps \"web\" is invalid: spec.replicas"));
  EXPECT_EQ(c->Get(Kind("cm"), "shop", "b").error().code(), Code::kNotFound);  // nothing of the batches
  EXPECT_EQ(c->Get(Kind("cm"), "shop", "c").error().code(), Code::kNotFound);

  // Refused before anything is sent.
  Object gadget(GroupVersionKind{"example.com", "v1", "Gadget"}, "shop", "g");
  auto unknown = c->Batch({CreateOp(ConfigMap("shop", "d")), CreateOp(gadget)});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), Code::kInvalid);
  EXPECT_THAT(unknown.error().message(), StartsWith("operations[1]: bosun does not know kind \"Gadget\""));
  auto nameless = c->Batch({DeleteOp(Kind("cm"), "shop", "")});
  ASSERT_FALSE(nameless.ok());
  EXPECT_EQ(nameless.error().code(), Code::kInvalid);

  auto stranger = NewClient(m.url(), "not-a-token")->Batch({CreateOp(ConfigMap("shop", "e"))});
  ASSERT_FALSE(stranger.ok());
  EXPECT_EQ(stranger.error().code(), Code::kUnauthorized);

  auto nobody = NewClient("http://127.0.0.1:" + std::to_string(test::FreePort()), m.token())
                    ->Batch({CreateOp(ConfigMap("shop", "e"))});
  ASSERT_FALSE(nobody.ok());
  EXPECT_EQ(nobody.error().code(), Code::kUnavailable);
}

// A batch this large is planned on every core (api_batch.cc PlanAll): every
// object is written as the single verbs would, and the error reported is
// that of the first failing operation, whichever thread planned it.
TEST(ClientBatch, ALargeBatchIsPlannedWholeAndNamesItsFirstError) {
  apitest::Member m;
  m.CreateNamespaces({"shop"});
  auto c = NewClient(m.url(), m.token());
  ASSERT_TRUE(c->Create(ConfigMap("shop", "taken-700")).ok());
  constexpr int kOps = 1200;
  std::vector<BatchOp> ops;
  for (int i = 0; i < kOps; ++i) ops.push_back(CreateOp(ConfigMap("shop", "big-" + std::to_string(i))));
  auto bad = [](int i) {
    Object d(Json(apitest::Deployment("bad-" + std::to_string(i), -1)));
    return CreateOp(d);
  };

  // Invalid objects in both halves: the first one is named.
  for (int first : {900, 100}) {
    std::vector<BatchOp> with_errors = ops;
    with_errors[900] = bad(900);
    with_errors[first] = bad(first);
    if (first != 900) with_errors[1100] = bad(1100);
    auto r = c->Batch(with_errors);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Code::kInvalid);
    EXPECT_THAT(r.error().message(), StartsWith("operations[" + std::to_string(first) + "]: Deployment.apps \"bad-" +
                                                std::to_string(first) + "\" is invalid"));
  }
  EXPECT_EQ(c->Get(Kind("cm"), "shop", "big-0").error().code(), Code::kNotFound);

  // A taken name is the transaction's precondition, found after planning.
  std::vector<BatchOp> with_taken = ops;
  with_taken[700] = CreateOp(ConfigMap("shop", "taken-700"));
  auto taken = c->Batch(with_taken);
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().message(), "operations[700]: configmaps \"taken-700\" already exists");

  const int64_t before = m.store().revision();
  auto r = c->Batch(ops);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(m.store().revision(), before + 1);
  ASSERT_EQ(r->items.size(), static_cast<size_t>(kOps));
  for (int i : {0, 599, 600, 601, kOps - 1}) {
    auto got = c->Get(Kind("cm"), "shop", "big-" + std::to_string(i));
    ASSERT_TRUE(got.ok()) << i;
    EXPECT_EQ(got->json(), r->items[i].json()) << i;
    EXPECT_EQ(got->json()["metadata"]["generation"], 1) << i;
    EXPECT_FALSE(got->uid().empty()) << i;
  }
}

// ---- watches across one batch: the real server ----

std::vector<BatchOp> Creates(const std::string& prefix, int n) {
  std::vector<BatchOp> ops;
  for (int i = 0; i < n; ++i) ops.push_back(CreateOp(ConfigMap("shop", prefix + std::to_string(i))));
  return ops;
}

TEST(ClientBatchWatch, SeesEachObjectOfABatchOnce) {
  apitest::Member m;
  m.CreateNamespaces({"shop"});
  auto c = NewClient(m.url(), m.token());
  ASSERT_TRUE(c->Create(ConfigMap("shop", "before")).ok());
  Recorder listed, from_rv;
  auto w1 = c->Watch(Kind("cm"), "shop", "", "", listed.Callback());
  ASSERT_TRUE(w1.ok()) << w1.error().message();
  auto w2 = c->Watch(Kind("cm"), "shop", "", std::to_string(m.store().revision()), from_rv.Callback());
  ASSERT_TRUE(w2.ok()) << w2.error().message();

  auto r = c->Batch(Creates("c", 500));
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto got1 = listed.WaitFor(501);
  auto got2 = from_rv.WaitFor(500);
  std::this_thread::sleep_for(300ms);  // nothing more comes
  EXPECT_EQ(listed.events().size(), 501u);
  EXPECT_EQ(from_rv.events().size(), 500u);
  ExpectEachOnce(got1);
  ExpectEachOnce(got2);
  for (const auto& e : got2) EXPECT_THAT(e, ::testing::EndsWith("@" + r->resource_version));
  EXPECT_EQ((*w2)->resource_version(), r->resource_version);
}

// A TCP proxy in front of a server that cuts the first watch stream through
// it after `cut_after` bytes of the answer: the connection dies wherever
// that falls, as a network would do it.
class CuttingProxy {
 public:
  CuttingProxy(const std::string& upstream_url, size_t cut_after)
      : upstream_port_(std::stoi(upstream_url.substr(upstream_url.rfind(':') + 1))), cut_after_(cut_after) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(0);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen";
    }
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~CuttingProxy() {
    stop_ = true;
    accept_thread_.join();
    for (auto& t : pumps_) t.join();
    ::close(listen_fd_);
  }
  const std::string& url() const { return url_; }
  bool cut() const { return cut_; }
  // The request lines of the watches that passed, in order.
  std::vector<std::string> watches() {
    std::lock_guard<std::mutex> lock(mu_);
    return watches_;
  }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
  }

  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd >= 0) pumps_.emplace_back([this, fd] { Pump(fd); });
    }
  }

  void Pump(int client) {
    int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(upstream_port_);
    if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(client);
      ::close(server);
      return;
    }
    bool cutting = false;  // this connection carries the watch to cut
    size_t answered = 0;   // bytes of its answer passed so far
    char buf[16384];
    while (!stop_) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(p, 2, 50) <= 0) continue;
      if (p[0].revents != 0) {
        ssize_t n = ::read(client, buf, sizeof buf);
        if (n <= 0) break;
        std::string text(buf, static_cast<size_t>(n));
        size_t at = text.find("GET ");
        if (at != std::string::npos && text.find("watch=true", at) != std::string::npos) {
          std::lock_guard<std::mutex> lock(mu_);
          watches_.push_back(text.substr(at, text.find('\r', at) - at));
          if (!cut_ && !cutting) cutting = true;
        }
        if (::write(server, buf, static_cast<size_t>(n)) != n) break;
      }
      if (p[1].revents != 0) {
        ssize_t n = ::read(server, buf, sizeof buf);
        if (n <= 0) break;
        size_t give = static_cast<size_t>(n);
        if (cutting && answered + give >= cut_after_) give = cut_after_ - answered;
        if (::write(client, buf, give) != static_cast<ssize_t>(give)) break;
        answered += give;
        if (cutting && answered >= cut_after_) {
          cut_ = true;
          break;
        }
      }
    }
    ::close(client);
    ::close(server);
  }

  const int upstream_port_;
  const size_t cut_after_;
  int listen_fd_ = -1;
  std::string url_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_{false};
  std::thread accept_thread_;
  std::vector<std::thread> pumps_;  // touched by the accept thread only, until it is joined
  std::mutex mu_;
  std::vector<std::string> watches_;  // guarded by mu_
};

TEST(ClientBatchWatch, AStreamCutMidRevisionResumesBeforeItAndLosesNothing) {
  apitest::Member m;
  m.CreateNamespaces({"shop"});
  auto direct = NewClient(m.url(), m.token());
  ASSERT_TRUE(direct->Create(ConfigMap("shop", "before")).ok());
  // About 260 bytes an event: the cut falls in the middle of the batch.
  CuttingProxy proxy(m.url(), 40000);
  auto via_proxy = NewClient(proxy.url(), m.token());
  Recorder rec;
  auto w = via_proxy->Watch(Kind("cm"), "shop", "", "", rec.Callback());
  ASSERT_TRUE(w.ok()) << w.error().message();
  ASSERT_EQ(rec.WaitFor(1).size(), 1u);

  auto r = direct->Batch(Creates("c", 500));
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto got = rec.WaitFor(501);
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(proxy.cut());
  EXPECT_EQ(rec.events().size(), 501u);
  ExpectEachOnce(got);
  EXPECT_GE((*w)->reconnects(), 1);
  EXPECT_EQ((*w)->relists(), 0);
  // The second watch asked again for the revision the cut fell into.
  auto watches = proxy.watches();
  ASSERT_GE(watches.size(), 2u);
  const int64_t batch_rv = std::stoll(r->resource_version);
  EXPECT_THAT(watches[0], HasSubstr("resourceVersion=" + std::to_string(batch_rv - 1)));
  EXPECT_THAT(watches[1], HasSubstr("resourceVersion=" + std::to_string(batch_rv - 1)));

  // And on from there: the next change after the batch.
  ASSERT_TRUE(direct->Create(ConfigMap("shop", "after")).ok());
  EXPECT_EQ(rec.WaitFor(502).back(), "ADDED shop/after@" + std::to_string(batch_rv + 1));
}

// ---- watches across one batch: a scripted FAKE stream ----

// ============================================================================
//  ScriptedWatch is a FAKE: a watch endpoint on cpprestsdk's listener that
//  plays one script per connection — some lines, then (optionally) a
//  connection that dies after half a line — and records the resourceVersion
//  each connection asked for. It breaks a multi-object revision at exact
//  points, including after a DELETED, which the real server (above, through
//  the cutting proxy) does only where the bytes happen to fall.
// ============================================================================
class ScriptedWatch {
 public:
  struct Connection {
    std::vector<Json> lines;
    bool cut = false;  // die after half a line; else stay open
  };

  explicit ScriptedWatch(std::vector<Connection> script)
      : script_(std::move(script)), url_("http://127.0.0.1:" + std::to_string(test::FreePort())) {
    listener_ = std::make_unique<web::http::experimental::listener::http_listener>(url_);
    listener_->support([this](web::http::http_request req) { Handle(req); });
    listener_->open().wait();
  }
  ~ScriptedWatch() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
      for (auto& b : open_) b->close(std::ios_base::out).wait();
    }
    listener_->close().wait();
  }
  const std::string& url() const { return url_; }
  std::vector<std::string> asked() {
    std::lock_guard<std::mutex> lock(mu_);
    return asked_;
  }

 private:
  using Buffer = concurrency::streams::producer_consumer_buffer<uint8_t>;

  static void Write(Buffer& b, const std::string& text) {
    b.putn_nocopy(reinterpret_cast<const uint8_t*>(text.data()), text.size()).wait();
    b.sync().wait();
  }

  void Handle(web::http::http_request req) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_ || asked_.size() >= script_.size()) {
      req.reply(503, R"({"kind":"Status","code":503,"reason":"ServiceUnavailable"})", "application/json");
      return;
    }
    auto query = web::http::uri::split_query(req.relative_uri().query());
    const Connection& conn = script_[asked_.size()];
    asked_.push_back(query.count("resourceVersion") ? query["resourceVersion"] : "");
    auto buf = std::make_shared<Buffer>();
    web::http::http_response resp(200);
    resp.headers().set_content_type("application/json");
    resp.set_body(concurrency::streams::istream(*buf));
    req.reply(resp);
    for (const Json& line : conn.lines) Write(*buf, line.dump() + "\n");
    if (conn.cut) {
      Write(*buf, R"({"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"half)");
      buf->close(std::ios_base::out, std::make_exception_ptr(std::runtime_error("cut"))).wait();
    }
    open_.push_back(buf);  // kept until the end, cut or not
  }

  const std::vector<Connection> script_;
  const std::string url_;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
  std::mutex mu_;
  bool closing_ = false;                       // guarded by mu_
  std::vector<std::string> asked_;             // guarded by mu_
  std::vector<std::shared_ptr<Buffer>> open_;  // guarded by mu_
};

Json Line(const char* type, const std::string& name, int rv, bool continues) {
  Json j = {{"type", type},
            {"object",
             {{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", {{"name", name}, {"namespace", "shop"}, {"resourceVersion", std::to_string(rv)}}}}}};
  if (continues) j["revisionContinues"] = true;
  return j;
}

TEST(ClientBatchWatch, ResumesFromTheRevisionBeforeWhenTheStreamBreaksInsideOne) {
  // Revision 5 is one batch: a, z (deleted), b, d.
  ScriptedWatch api({
      {{Line("ADDED", "a", 5, true), Line("DELETED", "z", 5, true)}, /*cut=*/true},
      {{Line("ADDED", "a", 5, true), Line("DELETED", "z", 5, true), Line("ADDED", "b", 5, true),
        Line("MODIFIED", "d", 5, false)},
       /*cut=*/true},
      {{Line("ADDED", "e", 6, false)}, /*cut=*/false},
  });
  auto c = NewClient(api.url(), "t");
  Recorder rec;
  auto w = c->Watch(Kind("cm"), "shop", "", "4", rec.Callback());
  ASSERT_TRUE(w.ok()) << w.error().message();
  EXPECT_THAT(rec.WaitFor(5, 10s), ElementsAre("ADDED shop/a@5", "DELETED shop/z@5", "ADDED shop/b@5",
                                               "MODIFIED shop/d@5", "ADDED shop/e@6"));
  // Cut inside revision 5: again from 4. Cut after its last event: from 5.
  EXPECT_THAT(api.asked(), ElementsAre("4", "4", "5"));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(rec.events().size(), 5u);
  EXPECT_EQ((*w)->resource_version(), "6");
  // Only the last event of each revision completes it (SharedInformer::SeenThrough).
  EXPECT_THAT(rec.completes(), ElementsAre("shop/d@5", "shop/e@6"));
}

}  // namespace
}  // namespace bosun::state
