// Helpers for the API server's tests: a real ApiServer on loopback over a
// LocalService and a real Store in a temporary directory, a synchronous
// cpprestsdk client, and a raw-socket watch reader that sees each chunk as it
// arrives (so a test can tell "streamed" from "sent at the end").
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <cpprest/http_client.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "crypto/tokens.h"
#include "state/api_server.h"
#include "state/auth.h"
#include "state/service.h"
#include "state/store.h"
#include "tests/test_support.h"

namespace bosun::state::apitest {

using Json = nlohmann::json;
using namespace std::chrono_literals;

class TempDir : public bosun::test::TempDir {
 public:
  TempDir() : bosun::test::TempDir("bosun-api-test") {}
};

inline std::unique_ptr<Store> OpenStore(const std::string& dir) {
  StoreOptions o;
  o.sync = false;
  auto s = Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.error().message();
  return s.ok() ? std::move(*s) : nullptr;
}

struct Resp {
  int code = 0;
  std::string text;
  Json json;  // null unless the body is JSON
  std::string content_type;
  std::string warning;  // the Warning header, "" when none
};

// A synchronous HTTP client for one server.
class Client {
 public:
  Client(const std::string& url, std::string token) : client_(url), token_(std::move(token)) {}

  Resp Do(const std::string& method, const std::string& path, const std::optional<std::string>& body = std::nullopt,
          const std::string& content_type = "application/json", const std::optional<std::string>& token = {},
          const std::map<std::string, std::string>& headers = {}) {
    web::http::http_request req(method);
    req.set_request_uri(path);
    std::string t = token ? *token : token_;
    if (!t.empty()) req.headers().add("Authorization", "Bearer " + t);
    for (const auto& [k, v] : headers) req.headers().add(k, v);
    if (body) req.set_body(*body, content_type);
    Resp r;
    try {
      auto resp = client_.request(req).get();
      r.code = resp.status_code();
      auto bytes = resp.extract_vector().get();
      r.text.assign(bytes.begin(), bytes.end());
      r.content_type = resp.headers().content_type();
      if (auto w = resp.headers().find("Warning"); w != resp.headers().end()) r.warning = w->second;
      r.json = Json::parse(r.text, nullptr, false);
      if (r.json.is_discarded()) r.json = Json();
    } catch (const std::exception& e) {
      ADD_FAILURE() << method << " " << path << ": " << e.what();
    }
    return r;
  }
  Resp Get(const std::string& path) { return Do("GET", path); }
  Resp Post(const std::string& path, const Json& body) { return Do("POST", path, body.dump()); }
  Resp Put(const std::string& path, const Json& body) { return Do("PUT", path, body.dump()); }
  Resp Patch(const std::string& path, const Json& body, const std::string& type = "application/merge-patch+json") {
    return Do("PATCH", path, body.dump(), type);
  }
  Resp Delete(const std::string& path, const std::optional<Json>& body = std::nullopt) {
    return Do("DELETE", path, body ? std::optional<std::string>(body->dump()) : std::nullopt);
  }

 private:
  web::http::client::http_client client_;
  std::string token_;
};

// A watch read straight off a socket: chunked decoding by hand, one event
// per line, each available as soon as its chunk arrived.
class RawWatch {
 public:
  RawWatch(const std::string& url, const std::string& path_and_query, const std::string& token) {
    auto colon = url.rfind(':');
    int port = std::stoi(url.substr(colon + 1));
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ADD_FAILURE() << "connect failed";
      return;
    }
    std::string req = "GET " + path_and_query + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    req += "\r\n";
    (void)!::write(fd_, req.data(), req.size());
    // Status line and headers.
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (raw_.find("\r\n\r\n") == std::string::npos && Fill(deadline)) {
    }
    auto end = raw_.find("\r\n\r\n");
    if (end == std::string::npos) {
      ADD_FAILURE() << "no response headers";
      return;
    }
    headers_ = raw_.substr(0, end);
    raw_.erase(0, end + 4);
    status_ = std::stoi(headers_.substr(9, 3));
    chunked_ = headers_.find("chunked") != std::string::npos;
    if (auto cl = headers_.find("Content-Length: "); cl != std::string::npos) {
      length_ = std::stoul(headers_.substr(cl + 16));
    }
  }
  ~RawWatch() { Close(); }

  int status() const { return status_; }
  const std::string& headers() const { return headers_; }

  // The next event, or nullopt if none arrives within `timeout` (or the
  // stream ended).
  std::optional<Json> Next(std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      Decode();
      auto nl = body_.find('\n');
      if (nl != std::string::npos) {
        std::string line = body_.substr(0, nl);
        body_.erase(0, nl + 1);
        Json j = Json::parse(line, nullptr, false);
        if (j.is_discarded()) ADD_FAILURE() << "not JSON: " << line;
        return j;
      }
      if (ended_ || !Fill(deadline)) return std::nullopt;
    }
  }

  // The next event that is not a BOOKMARK.
  std::optional<Json> NextEvent(std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto e = Next(left);
      if (!e || (*e)["type"] != "BOOKMARK") return e;
    }
  }

  // True when the stream ends (last chunk or connection closed) in time.
  bool WaitEnd(std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      Decode();
      if (ended_) return true;
      if (!Fill(deadline)) return ended_;
    }
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  // Reads more bytes; false on timeout. EOF marks the stream ended.
  bool Fill(std::chrono::steady_clock::time_point deadline) {
    if (fd_ < 0) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[8192];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) {
      ended_ = true;
      return false;
    }
    raw_.append(buf, static_cast<size_t>(n));
    return true;
  }

  void Decode() {
    if (!chunked_) {
      body_ += raw_;
      consumed_ += raw_.size();
      raw_.clear();
      if (length_ && consumed_ >= *length_) ended_ = true;
      return;
    }
    while (true) {
      auto crlf = raw_.find("\r\n");
      if (crlf == std::string::npos) return;
      size_t size = std::stoul(raw_.substr(0, crlf), nullptr, 16);
      if (size == 0) {
        ended_ = true;
        return;
      }
      if (raw_.size() < crlf + 2 + size + 2) return;
      body_ += raw_.substr(crlf + 2, size);
      raw_.erase(0, crlf + 2 + size + 2);
    }
  }

  int fd_ = -1;
  int status_ = 0;
  bool chunked_ = false;
  bool ended_ = false;
  std::optional<size_t> length_;  // Content-Length, when not chunked
  size_t consumed_ = 0;
  std::string headers_;
  std::string raw_;   // undecoded bytes
  std::string body_;  // decoded body not yet returned
};

using bosun::test::LogCapture;

// A LocalService whose next `races` writes each lose a race: just before
// each, another writer changes `race_key` (or, when empty, the first key the
// write touches), so the write's precondition is stale.
class RacingService final : public StateService {
 public:
  explicit RacingService(std::unique_ptr<Store> store) : local_(std::move(store)) {}
  void Write(Txn txn, std::function<void(Result<TxnResult>)> done) override {
    if (races > 0 && (!race_key.empty() || !txn.ops.empty())) {
      int n = --races;
      const std::string& key = race_key.empty() ? txn.ops[0].key : race_key;
      if (auto kv = local_.store().Get(key); kv.ok()) {
        Json j = Json::parse(kv->value);
        j["data"]["racer" + std::to_string(n)] = "x";
        Txn other;
        other.ops.push_back({Op::Kind::kPut, kv->key, j.dump()});
        EXPECT_TRUE(local_.store().Apply(other, 0).ok());
      }
    }
    local_.Write(std::move(txn), std::move(done));
  }
  void ReadBarrier(ReadConsistency c, std::function<void(Status)> done) override { local_.ReadBarrier(c, done); }
  Store& store() override { return local_.store(); }
  bool IsLeader() const override { return true; }
  std::optional<std::string> LeaderApiUrl() const override { return std::nullopt; }
  std::vector<MemberInfo> Members() const override { return local_.Members(); }

  std::atomic<int> races{0};
  std::string race_key;

 private:
  LocalService local_;
};

// One member: a store, a LocalService, a token and a running ApiServer.
class Member {
 public:
  explicit Member(ApiServerOptions options = Defaults(), StateService* service = nullptr) {
    if (service == nullptr) {
      local_ = std::make_unique<LocalService>(OpenStore(dir_.Sub("store")));
      service = local_.get();
    }
    service_ = service;
    token_ = crypto::NewToken();
    auth_.Add(crypto::HashToken(token_), User{"tester", {"system:masters"}});
    auto s = ApiServer::Start(options, service_, &auth_);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
    if (s.ok()) server_ = std::move(*s);
    client_ = std::make_unique<Client>(url(), token_);
  }

  static ApiServerOptions Defaults() {
    ApiServerOptions o;
    o.bookmark_interval = std::chrono::seconds(1);
    o.max_body_bytes = 256 * 1024;
    return o;
  }

  std::string url() const { return server_ ? server_->url() : ""; }
  Client& client() { return *client_; }
  // Creates a Namespace for each name: the API refuses content in a
  // namespace that does not exist, as Kubernetes does.
  void CreateNamespaces(std::initializer_list<const char*> names) {
    for (const char* name : names) {
      Resp r = client_->Post("/api/v1/namespaces", {{"metadata", {{"name", name}}}});
      EXPECT_EQ(r.code, 201) << "creating Namespace " << name << ": " << r.text;
    }
  }
  const std::string& token() const { return token_; }
  ApiServer& server() { return *server_; }
  Store& store() { return service_->store(); }
  TokenAuthenticator& auth() { return auth_; }
  std::unique_ptr<RawWatch> Watch(const std::string& path_and_query) {
    return std::make_unique<RawWatch>(url(), path_and_query, token_);
  }

 private:
  TempDir dir_;
  std::unique_ptr<LocalService> local_;
  StateService* service_ = nullptr;
  TokenAuthenticator auth_;
  std::string token_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<Client> client_;
};

inline Json ConfigMap(const std::string& name, const std::map<std::string, std::string>& labels = {},
                      const std::string& value = "v") {
  Json j = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}, {"data", {{"key", value}}}};
  if (!labels.empty()) j["metadata"]["labels"] = labels;
  return j;
}

inline Json Deployment(const std::string& name, int replicas = 1) {
  return Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":")" +
                     name + R"(","labels":{"app":"web"}},
    "spec":{"replicas":)" +
                     std::to_string(replicas) + R"(,"selector":{"matchLabels":{"app":"web"}},
      "template":{"metadata":{"labels":{"app":"web"}},
        "spec":{"containers":[{"name":"web","image":"nginx:1.25"}]}}}})");
}

inline std::string Rv(const Json& obj) {
  return obj["metadata"]["resourceVersion"].get<std::string>();
}

}  // namespace bosun::state::apitest
