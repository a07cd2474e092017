// The node's logs and exec endpoint, with a fake runtime (the real runtime's
// exec is tested in runtime_*_test.cc and end to end with the daemon).
#include "node/node_server.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <cpprest/http_client.h>
#undef U  // cpprestsdk's U() macro clashes with GoogleTest's templates

namespace bosun::node {
namespace {

namespace fs = std::filesystem;

class FakeRuntime : public Runtime {
 public:
  Result<Sandbox> RunPodSandbox(const SandboxConfig&) override { return Error(Code::kInternal, "unused"); }
  Status RemovePodSandbox(const std::string&) override { return Ok(); }
  Result<std::vector<Sandbox>> ListPodSandboxes() override { return std::vector<Sandbox>{}; }
  Result<ContainerStatus> StartContainer(const Sandbox&, const ContainerConfig&) override {
    return Error(Code::kInternal, "unused");
  }
  Status StopContainer(const std::string&, std::chrono::milliseconds) override { return Ok(); }
  Status RemoveContainer(const std::string&) override { return Ok(); }
  Result<ContainerStatus> Inspect(const std::string&) override { return Error(Code::kNotFound, "unused"); }
  Result<std::vector<ContainerStatus>> ListContainers() override { return std::vector<ContainerStatus>{}; }
  Result<ExecResult> Exec(const std::string& id, const std::vector<std::string>& argv,
                          std::chrono::milliseconds) override {
    std::lock_guard l(mu);
    last_id = id;
    last_argv = argv;
    return ExecResult{3, "out:" + argv.back(), "err"};
  }
  std::mutex mu;
  std::string last_id;
  std::vector<std::string> last_argv;
};

class NodeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("bosun-node-server-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    log_ = (dir_ / "1.log").string();
    prev_ = (dir_ / "0.log").string();
    Append(prev_, "2026-11-22T10:00:00.000000000Z stdout before the restart\n");
    Append(log_,
           "2026-11-22T10:00:01.000000000Z stdout one\n"
           "2026-11-22T10:00:02.000000000Z stderr two\n"
           "2026-11-22T10:00:03.000000000Z stdout three\n");
    NodeServerOptions o;
    o.authorize = [](const std::string& token, const std::string& ns, const std::string& pod) -> Status {
      if (token != "good") return Error(Code::kForbidden, "token may not read pod " + ns + "/" + pod);
      return Ok();
    };
    auto s = NodeServer::Start(o, &runtime_, [this](const std::string& ns, const std::string& pod,
                                                   const std::string& c) -> Result<ContainerRef> {
      if (ns != "shop" || pod != "web" || (c != "" && c != "app")) {
        return Error(Code::kNotFound, "container \"" + c + "\" not found in pod " + ns + "/" + pod);
      }
      ContainerRef r;
      r.name = "app";
      r.id = "uid_app_1";
      r.running = running_.load();
      r.log_path = log_;
      r.previous_log_path = prev_;
      return r;
    });
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_ = std::move(*s);
  }
  void TearDown() override {
    if (server_) server_->Stop();
    fs::remove_all(dir_);
  }
  static void Append(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::app) << text;
  }
  web::http::http_response Request(const std::string& method, const std::string& target,
                                   const std::string& token = "good") {
    web::http::client::http_client client("http://127.0.0.1:" + std::to_string(server_->port()));
    web::http::http_request req(method);
    req.set_request_uri(target);
    if (!token.empty()) req.headers().add("Authorization", "Bearer " + token);
    return client.request(req).get();
  }
  static std::string Body(web::http::http_response r) { return r.extract_utf8string(true).get(); }

  fs::path dir_;
  std::string log_, prev_;
  FakeRuntime runtime_;
  std::atomic<bool> running_{true};
  std::unique_ptr<NodeServer> server_;
};

TEST_F(NodeServerTest, LogsAllTailTimestampsAndPrevious) {
  auto r = Request("GET", "/api/v1/namespaces/shop/pods/web/log?container=app");
  EXPECT_EQ(r.status_code(), 200);
  EXPECT_EQ(Body(r), "one\ntwo\nthree\n");
  EXPECT_EQ(Body(Request("GET", "/api/v1/namespaces/shop/pods/web/log?tailLines=1")), "three\n");
  EXPECT_EQ(Body(Request("GET", "/api/v1/namespaces/shop/pods/web/log?tailLines=1&timestamps=true")),
            "2026-11-22T10:00:03.000000000Z three\n");
  EXPECT_EQ(Body(Request("GET", "/api/v1/namespaces/shop/pods/web/log?previous=true")), "before the restart\n");
  // No run before this one: the error names the container, also when the
  // request named none (a pod of one container).
  prev_.clear();
  auto none = Request("GET", "/api/v1/namespaces/shop/pods/web/log?previous=true");
  EXPECT_EQ(none.status_code(), 400);
  EXPECT_NE(Body(none).find("previous terminated container \\\"app\\\" in pod \\\"web\\\" not found"),
            std::string::npos);
}

TEST_F(NodeServerTest, FollowStreamsNewLinesUntilTheContainerStops) {
  web::http::client::http_client client("http://127.0.0.1:" + std::to_string(server_->port()));
  web::http::http_request req("GET");
  req.set_request_uri("/api/v1/namespaces/shop/pods/web/log?follow=true");
  req.headers().add("Authorization", "Bearer good");
  auto resp = client.request(req).get();
  ASSERT_EQ(resp.status_code(), 200);
  auto buf = resp.body().streambuf();
  std::string got;
  auto read_until = [&](const std::string& want) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got.find(want) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      auto c = buf.bumpc().get();
      if (c == std::char_traits<char>::eof()) break;
      got.push_back(static_cast<char>(c));
    }
    return got.find(want) != std::string::npos;
  };
  ASSERT_TRUE(read_until("three\n")) << got;
  Append(log_, "2026-11-22T10:00:04.000000000Z stdout four\n");
  ASSERT_TRUE(read_until("four\n")) << got;
  // The container exits: the stream ends once the log is drained.
  Append(log_, "2026-11-22T10:00:05.000000000Z stdout last words\n");
  running_ = false;
  std::string rest;
  while (true) {
    auto c = buf.bumpc().get();
    if (c == std::char_traits<char>::eof()) break;
    rest.push_back(static_cast<char>(c));
  }
  EXPECT_EQ(got + rest, "one\ntwo\nthree\nfour\nlast words\n");
}

TEST_F(NodeServerTest, ExecRunsTheCommandInTheContainer) {
  auto r = Request("POST", "/api/v1/namespaces/shop/pods/web/exec?container=app&command=cat&command=%2Fetc%2Fhostname");
  ASSERT_EQ(r.status_code(), 200);
  auto j = Json::parse(Body(r));
  EXPECT_EQ(j["exitCode"], 3);
  EXPECT_EQ(j["stdout"], "out:/etc/hostname");
  EXPECT_EQ(j["stderr"], "err");
  std::lock_guard l(runtime_.mu);
  EXPECT_EQ(runtime_.last_id, "uid_app_1");
  EXPECT_EQ(runtime_.last_argv, (std::vector<std::string>{"cat", "/etc/hostname"}));
}

TEST_F(NodeServerTest, RefusesWithoutAValidTokenAndNamesWhatIsMissing) {
  EXPECT_EQ(Request("GET", "/api/v1/namespaces/shop/pods/web/log", "").status_code(), 401);
  auto forbidden = Request("GET", "/api/v1/namespaces/shop/pods/web/log", "bad");
  EXPECT_EQ(forbidden.status_code(), 403);
  EXPECT_NE(Body(forbidden).find("may not read pod shop/web"), std::string::npos);
  auto missing = Request("GET", "/api/v1/namespaces/shop/pods/web/log?container=db");
  EXPECT_EQ(missing.status_code(), 404);
  EXPECT_NE(Body(missing).find("container \\\"db\\\" not found"), std::string::npos);
  EXPECT_EQ(Request("POST", "/api/v1/namespaces/shop/pods/web/exec").status_code(), 400);  // no command
  running_ = false;
  EXPECT_EQ(Request("POST", "/api/v1/namespaces/shop/pods/web/exec?command=true").status_code(), 409);
}

}  // namespace
}  // namespace bosun::node
