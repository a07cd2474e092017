// tests/api_harness.h — the bosun API in the test's own process for tests of
// its clients (the reconciler, the node): a RocksDB store, a LocalService, an
// ApiServer on loopback with an admin token, and a client of it. Links
// bosun_state and bosun_crypto.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <string>

#include <cpprest/http_listener.h>
#include <gtest/gtest.h>

#include "core/kinds.h"
#include "core/object.h"
#include "crypto/tokens.h"
#include "state/api_server.h"
#include "state/auth.h"
#include "state/client.h"
#include "state/service.h"
#include "state/store.h"
#include "tests/test_support.h"

namespace bosun::test {

// cpprestsdk deletes its process-wide HTTP server when the last listener
// closes, while an io thread finishing the last connection may still call
// into it (microsoft/cpprestsdk#1366, "data race on s_server_api when close
// listener"): a rare SIGSEGV when a test's listener stops. The API server no
// longer uses cpprestsdk's listener (state/http_server.h), but the node
// daemon's server and the client tests' fakes do, beside in-process APIs.
// One listener that lives as long as the process keeps that server alive;
// each test runs in a process of its own (gtest_discover_tests).
//
// It is closed at exit, before cpprestsdk's thread pool is torn down: left
// open, the server (a static of libcpprest, destroyed after the pool's
// io_context) deregistered its socket from the freed reactor and corrupted
// the heap ("corrupted size vs. prev_size" after "[ PASSED ]", ~1 run of the
// whole state test binary in 8; found with valgrind). Exit handlers run in
// the reverse order of their registration, and the pool registered its own
// when the listener first used it, so this one runs first.
inline void KeepCpprestServerAlive() {
  static web::http::experimental::listener::http_listener* keep = [] {
    auto* l = new web::http::experimental::listener::http_listener(
        web::uri(U("http://127.0.0.1:") + std::to_string(FreePort()) + U("/bosun-test-keepalive")));
    l->support([](const web::http::http_request& r) { r.reply(web::http::status_codes::NotFound); });
    try {
      l->open().wait();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "the keep-alive listener did not open: " << e.what();
    }
    std::atexit([] {
      try {
        keep->close().wait();
      } catch (...) {
      }
      delete keep;
    });
    return l;
  }();
  (void)keep;
}

class InProcessApi {
 public:
  // `max_body_bytes` 0 keeps the server's default; `codec` nullptr stores
  // plain JSON (an EncryptingValueCodec encrypts Secrets at rest).
  explicit InProcessApi(const std::string& dir, size_t max_body_bytes = 0, const state::ValueCodec* codec = nullptr) {
    KeepCpprestServerAlive();
    state::StoreOptions so;
    so.sync = false;
    auto store = state::Store::Open(dir, so);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message());
    service_ = std::make_unique<state::LocalService>(std::move(store).value());
    token_ = crypto::NewToken();
    auth_.Add(crypto::HashToken(token_), state::User{"admin", {"system:masters"}});
    state::ApiServerOptions o;
    o.bookmark_interval = std::chrono::seconds(1);
    if (max_body_bytes != 0) o.max_body_bytes = max_body_bytes;
    o.codec = codec;
    auto s = state::ApiServer::Start(o, service_.get(), &auth_);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
    server_ = std::move(*s);
    client_ = NewClient();
  }
  ~InProcessApi() {
    client_.reset();
    server_.reset();
    service_.reset();
  }
  InProcessApi(const InProcessApi&) = delete;
  InProcessApi& operator=(const InProcessApi&) = delete;

  state::Client& client() { return *client_; }
  std::unique_ptr<state::Client> NewClient() {
    state::ClientOptions co;
    co.servers = {server_->url()};
    co.token = token_;
    return std::move(*state::Client::Create(co));
  }
  // A client whose batches go to the server in this process
  // (ClientOptions::local_batch bound to ApiServer::Batch, as bosun server
  // binds its sync's), with `token`; *taken counts the batches it took.
  std::unique_ptr<state::Client> NewLocalClient(std::atomic<int>* taken, const std::string& token = "") {
    state::ClientOptions co;
    co.servers = {server_->url()};
    co.token = token.empty() ? token_ : token;
    state::ApiServer* server = server_.get();
    co.local_batch = [server, taken, authorization = "Bearer " + co.token](
                         Json* body, std::function<void(int, Json)> done) {
      const bool took = server->Batch(authorization, body, std::move(done));
      if (took) ++*taken;
      return took;
    };
    return std::move(*state::Client::Create(co));
  }
  // Creates a Namespace for each name: the API refuses content in a
  // namespace that does not exist, as Kubernetes does.
  void CreateNamespaces(std::initializer_list<const char*> names) {
    const KindInfo& kind = *KindRegistry::Builtin().FindKind("Namespace");
    for (const char* name : names) {
      auto r = client_->Create(Object(kind.gvk, "", name));
      EXPECT_TRUE(r) << "creating Namespace " << name << ": " << r.error().message();
    }
  }
  state::ApiServer& server() { return *server_; }
  std::string url() const { return server_->url(); }
  const std::string& token() const { return token_; }
  // The raw store (what is at rest) and the tokens (to add other users).
  state::Store& store() { return service_->store(); }
  state::TokenAuthenticator& auth() { return auth_; }

 private:
  std::unique_ptr<state::LocalService> service_;
  state::TokenAuthenticator auth_;
  std::string token_;
  std::unique_ptr<state::ApiServer> server_;
  std::unique_ptr<state::Client> client_;
};

}  // namespace bosun::test
