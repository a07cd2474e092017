// tests/node/probes_test.cc — RunProbe against real sockets on 127.0.0.1
// (an in-process HTTP server), closed ports, a fake ExecFn and a real one
// running `sh -c` through core/process.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "core/process.h"
#include "node/probes.h"

namespace bosun::node {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A tiny HTTP server: answers every request with `status`, or never answers
// (`silent`), and remembers the last request it read.
class TestHttpServer {
 public:
  explicit TestHttpServer(int status, bool silent = false) : status_(status), silent_(silent) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(listen(fd_, 16), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TestHttpServer() {
    stop_ = true;
    thread_.join();
    for (int c : held_) close(c);
    close(fd_);
  }
  int port() const { return port_; }
  std::string last_request() {
    std::lock_guard<std::mutex> l(mu_);
    return last_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      if (silent_) {
        held_.push_back(c);  // accepted, never answered
        continue;
      }
      std::string req;
      char buf[1024];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        last_ = req;
      }
      std::string resp = "HTTP/1.1 " + std::to_string(status_) + " X\r\nContent-Length: 2\r\nLocation: /elsewhere\r\n\r\nok";
      (void)send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      close(c);
    }
  }

  int status_;
  bool silent_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<int> held_;
  std::mutex mu_;
  std::string last_;
};

// A port on 127.0.0.1 that nothing listens on.
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

const ExecFn kNoExec;

TEST(ProbesTest, TimingDefaultsAreKubernetes) {
  ProbeTiming t = ProbeTimingOf(Json::object());
  EXPECT_EQ(t.initial_delay.count(), 0);
  EXPECT_EQ(t.period.count(), 10);
  EXPECT_EQ(t.timeout.count(), 1);
  EXPECT_EQ(t.success_threshold, 1);
  EXPECT_EQ(t.failure_threshold, 3);
  t = ProbeTimingOf(Json{{"initialDelaySeconds", 5}, {"periodSeconds", 2}, {"timeoutSeconds", 3},
                         {"successThreshold", 2}, {"failureThreshold", 7}});
  EXPECT_EQ(t.initial_delay.count(), 5);
  EXPECT_EQ(t.period.count(), 2);
  EXPECT_EQ(t.timeout.count(), 3);
  EXPECT_EQ(t.success_threshold, 2);
  EXPECT_EQ(t.failure_threshold, 7);
}

TEST(ProbesTest, HttpGet200SucceedsAndSendsPathAndHeaders) {
  TestHttpServer server(200);
  Json probe = {{"httpGet", {{"path", "/healthz"}, {"port", server.port()},
                             {"httpHeaders", Json::array({{{"name", "X-Probe"}, {"value", "yes"}}})}}}};
  ProbeOutcome o = RunProbe(probe, Json::object(), "127.0.0.1", kNoExec);
  EXPECT_TRUE(o.success) << o.message;
  std::string req = server.last_request();
  EXPECT_EQ(req.rfind("GET /healthz HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("X-Probe: yes\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("User-Agent: kube-probe/"), std::string::npos) << req;
}

TEST(ProbesTest, HttpGet500FailsWithStatusCode) {
  TestHttpServer server(500);
  ProbeOutcome o = RunProbe({{"httpGet", {{"port", server.port()}}}}, Json::object(), "127.0.0.1", kNoExec);
  EXPECT_FALSE(o.success);
  EXPECT_EQ(o.message, "HTTP probe failed with statuscode: 500");
}

TEST(ProbesTest, HttpGetRedirectCountsAsSuccess) {
  TestHttpServer server(302);
  ProbeOutcome o = RunProbe({{"httpGet", {{"port", server.port()}}}}, Json::object(), "127.0.0.1", kNoExec);
  EXPECT_TRUE(o.success) << o.message;
}

TEST(ProbesTest, HttpGetNamedPortAndExplicitHost) {
  TestHttpServer server(204);
  Json container = {{"ports", Json::array({{{"name", "web"}, {"containerPort", server.port()}}})}};
  // The pod IP is unreachable on purpose: host must win.
  ProbeOutcome o = RunProbe({{"httpGet", {{"port", "web"}, {"host", "127.0.0.1"}}}}, container, "192.0.2.254", kNoExec);
  EXPECT_TRUE(o.success) << o.message;
  o = RunProbe({{"httpGet", {{"port", "nope"}}}}, container, "127.0.0.1", kNoExec);
  EXPECT_FALSE(o.success);
  EXPECT_NE(o.message.find("\"nope\""), std::string::npos) << o.message;
}

TEST(ProbesTest, HttpGetServerThatNeverAnswersTimesOutOnTime) {
  TestHttpServer server(200, /*silent=*/true);
  auto start = steady_clock::now();
  ProbeOutcome o = RunProbe({{"httpGet", {{"port", server.port()}, {"path", "/slow"}}}, {"timeoutSeconds", 1}},
                            Json::object(), "127.0.0.1", kNoExec);
  auto took = steady_clock::now() - start;
  EXPECT_FALSE(o.success);
  EXPECT_NE(o.message.find("context deadline exceeded"), std::string::npos) << o.message;
  EXPECT_NE(o.message.find("http://127.0.0.1:" + std::to_string(server.port()) + "/slow"), std::string::npos) << o.message;
  EXPECT_GE(took, milliseconds(900));
  EXPECT_LT(took, milliseconds(1800));
}

TEST(ProbesTest, HttpGetConnectionRefused) {
  int port = ClosedPort();
  ProbeOutcome o = RunProbe({{"httpGet", {{"port", port}}}}, Json::object(), "127.0.0.1", kNoExec);
  EXPECT_FALSE(o.success);
  EXPECT_NE(o.message.find("dial tcp 127.0.0.1:" + std::to_string(port) + ": connect: connection refused"),
            std::string::npos) << o.message;
}

TEST(ProbesTest, TcpSocketOpenAndClosedPort) {
  TestHttpServer server(200);
  ProbeOutcome o = RunProbe({{"tcpSocket", {{"port", server.port()}}}}, Json::object(), "127.0.0.1", kNoExec);
  EXPECT_TRUE(o.success) << o.message;
  int port = ClosedPort();
  o = RunProbe({{"tcpSocket", {{"port", std::to_string(port)}}}}, Json::object(), "127.0.0.1", kNoExec);
  EXPECT_FALSE(o.success);
  EXPECT_EQ(o.message, "dial tcp 127.0.0.1:" + std::to_string(port) + ": connect: connection refused");
}

TEST(ProbesTest, ExecThroughFakeExecFn) {
  std::vector<std::string> seen;
  milliseconds seen_timeout{0};
  int exit_code = 0;
  ExecFn fake = [&](const std::vector<std::string>& argv, milliseconds timeout) -> Result<ExecResult> {
    seen = argv;
    seen_timeout = timeout;
    ExecResult r;
    r.exit_code = exit_code;
    r.out = exit_code ? "cat: can't open '/tmp/healthy': No such file or directory\n" : "";
    return r;
  };
  Json probe = {{"exec", {{"command", {"cat", "/tmp/healthy"}}}}, {"timeoutSeconds", 2}};
  ProbeOutcome o = RunProbe(probe, Json::object(), "", fake);
  EXPECT_TRUE(o.success) << o.message;
  EXPECT_EQ(seen, (std::vector<std::string>{"cat", "/tmp/healthy"}));
  EXPECT_EQ(seen_timeout, milliseconds(2000));
  exit_code = 1;
  o = RunProbe(probe, Json::object(), "", fake);
  EXPECT_FALSE(o.success);
  EXPECT_EQ(o.message, "command \"cat /tmp/healthy\" exited with 1: cat: can't open '/tmp/healthy': No such file or directory");
  // What the pod's status quotes leaves the command's output out.
  EXPECT_EQ(o.summary, "command \"cat /tmp/healthy\" exited with 1");

  ExecFn timing_out = [](const std::vector<std::string>&, milliseconds) -> Result<ExecResult> {
    return Error(Code::kTimeout, "timed out");
  };
  o = RunProbe(probe, Json::object(), "", timing_out);
  EXPECT_FALSE(o.success);
  EXPECT_NE(o.message.find("timed out after 2s"), std::string::npos) << o.message;
}

// The real path: commands run by core/process (`sh -c`), as the runtime's
// exec does inside a container.
ExecFn ShellExec() {
  return [](const std::vector<std::string>& argv, milliseconds timeout) -> Result<ExecResult> {
    process::Options o;
    o.argv = argv;
    o.timeout = timeout;
    auto r = process::Run(o);
    if (!r) return r.error();
    ExecResult e;
    e.exit_code = r->exit_code;
    e.out = r->out;
    e.err = r->err;
    return e;
  };
}

TEST(ProbesTest, ExecThroughRealProcesses) {
  ProbeOutcome o = RunProbe({{"exec", {{"command", {"sh", "-c", "test -d /"}}}}}, Json::object(), "", ShellExec());
  EXPECT_TRUE(o.success) << o.message;
  o = RunProbe({{"exec", {{"command", {"sh", "-c", "echo unhealthy >&2; exit 3"}}}}}, Json::object(), "", ShellExec());
  EXPECT_FALSE(o.success);
  EXPECT_EQ(o.message, "command \"sh -c echo unhealthy >&2; exit 3\" exited with 3: unhealthy");
  auto start = steady_clock::now();
  o = RunProbe({{"exec", {{"command", {"sleep", "5"}}}}, {"timeoutSeconds", 1}}, Json::object(), "", ShellExec());
  EXPECT_FALSE(o.success);
  EXPECT_NE(o.message.find("timed out after 1s"), std::string::npos) << o.message;
  EXPECT_LT(steady_clock::now() - start, milliseconds(3000));
}

TEST(ProbesTest, ProbeWithoutHandlerFails) {
  ProbeOutcome o = RunProbe({{"periodSeconds", 3}}, Json::object(), "127.0.0.1", kNoExec);
  EXPECT_FALSE(o.success);
  EXPECT_FALSE(o.message.empty());
}

}  // namespace
}  // namespace bosun::node
