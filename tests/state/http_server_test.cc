// The API server's HTTP/1.1 transport (state/http_server.h), spoken to over
// real loopback sockets byte by byte: keep-alive, answers from other threads,
// answers larger than the socket buffer, chunked streams, body limits,
// Expect: 100-continue, clients that leave, and Close().
#include "state/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace bosun::state {
namespace {

using namespace std::chrono_literals;

// A blocking loopback client that reads with a deadline.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  void Close() {
    ::close(fd_);
    fd_ = -1;
  }

  bool Send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads until `pred(buffer)` holds, the peer closes, or the deadline.
  template <typename Pred>
  bool ReadUntil(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred(in_)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        eof_ = true;
        return pred(in_);
      }
      in_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  // One whole answer with a Content-Length; removes it from the buffer.
  std::string ReadResponse() {
    size_t total = 0;
    bool ok = ReadUntil([&](const std::string& b) {
      size_t end = b.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      size_t cl = b.find("Content-Length: ");
      if (cl == std::string::npos || cl > end) return false;
      total = end + 4 + std::stoul(b.substr(cl + 16, 20));
      return b.size() >= total;
    });
    if (!ok) return "";
    std::string r = in_.substr(0, total);
    in_.erase(0, total);
    return r;
  }

  bool WaitClosed(std::chrono::milliseconds timeout = 5000ms) {
    ReadUntil([&](const std::string&) { return eof_; }, timeout);
    return eof_;
  }

  std::string& buffer() { return in_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string in_;
};

std::string Body(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

std::string Get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

std::string Post(const std::string& path, const std::string& body, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra +
         "\r\n" + body;
}

struct Server {
  explicit Server(std::function<void(std::shared_ptr<HttpExchange>)> on_request,
                  std::function<size_t(const std::shared_ptr<HttpExchange>&)> on_header = nullptr) {
    HttpServerOptions o;
    o.threads = 2;
    o.on_request = std::move(on_request);
    o.on_header = on_header ? std::move(on_header) : [](const std::shared_ptr<HttpExchange>&) -> size_t {
      return 1 << 20;
    };
    auto s = HttpServer::Start(std::move(o));
    EXPECT_TRUE(s.ok()) << s.error().message();
    if (s) server = std::move(*s);
  }
  ~Server() {
    if (server) server->Join();
  }
  int port() const { return server->port(); }
  std::unique_ptr<HttpServer> server;
};

TEST(HttpServer, KeepAliveServesRequestsInOrderWithTheirPathQueryHeadersAndBody) {
  Server s([](std::shared_ptr<HttpExchange> ex) {
    ex->Respond(200, "text/plain",
                ex->method() + " " + std::string(ex->path()) + " ? " + std::string(ex->query()) + " x=" +
                    ex->Header("x-thing") + " body=" + ex->body());
  });
  RawClient c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(Get("/a/b%20c?watch=1&x=y")));
  std::string r1 = c.ReadResponse();
  EXPECT_EQ(r1.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r1;
  EXPECT_NE(r1.find("Content-Type: text/plain\r\n"), std::string::npos) << r1;
  EXPECT_EQ(Body(r1), "GET /a/b%20c ? watch=1&x=y x= body=");
  // The same connection, a header in another case, a body.
  ASSERT_TRUE(c.Send(Post("/p", "hello", "X-Thing: 7\r\n")));
  EXPECT_EQ(Body(c.ReadResponse()), "POST /p ?  x=7 body=hello");
}

TEST(HttpServer, AnAnswerFromAnotherThreadAndOneLargerThanTheSocketBufferArriveWhole) {
  std::mutex mu;
  std::vector<std::shared_ptr<HttpExchange>> waiting;
  std::condition_variable cv;
  Server s([&](std::shared_ptr<HttpExchange> ex) {
    std::lock_guard l(mu);
    waiting.push_back(std::move(ex));
    cv.notify_all();
  });
  RawClient c(s.port());
  ASSERT_TRUE(c.Send(Get("/big")));
  std::shared_ptr<HttpExchange> ex;
  {
    std::unique_lock l(mu);
    ASSERT_TRUE(cv.wait_for(l, 5s, [&] { return !waiting.empty(); }));
    ex = waiting.back();
  }
  // 24 MiB: far more than loopback's socket buffer, so most of it is sent
  // from the io thread after the socket becomes writable again.
  std::string big(24u << 20, 'b');
  big.back() = 'z';
  std::thread([ex, big] { ex->Respond(200, "application/octet-stream", big); }).join();
  std::string r = c.ReadResponse();
  ASSERT_EQ(Body(r).size(), big.size());
  EXPECT_EQ(Body(r).back(), 'z');
  // The connection then serves the next request.
  ASSERT_TRUE(c.Send(Get("/next")));
  {
    std::unique_lock l(mu);
    ASSERT_TRUE(cv.wait_for(l, 5s, [&] { return waiting.size() == 2; }));
    waiting.back()->Respond(204, "", "");
  }
  ASSERT_TRUE(c.ReadUntil([](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; }));
  EXPECT_EQ(c.buffer().rfind("HTTP/1.1 204 No Content\r\n", 0), 0u) << c.buffer();
}

TEST(HttpServer, AStreamIsChunkedEndsCleanlyAndTheConnectionGoesOn) {
  std::promise<std::shared_ptr<HttpStream>> started;
  std::atomic<int> n{0};
  Server s([&](std::shared_ptr<HttpExchange> ex) {
    if (n++ == 0) {
      started.set_value(ex->StartStream(200, "application/json", {{"Cache-Control", "no-cache"}}));
    } else {
      ex->Respond(200, "text/plain", "after");
    }
  });
  RawClient c(s.port());
  ASSERT_TRUE(c.Send(Get("/watch")));
  auto stream = started.get_future().get();
  ASSERT_NE(stream, nullptr);
  std::promise<std::string> ended;
  stream->OnEnded([&](const std::string& reason) { ended.set_value(reason); });
  std::thread([stream] {
    EXPECT_TRUE(stream->Write("{\"a\":1}\n"));
    EXPECT_TRUE(stream->Write("{\"b\":2}\n"));
    stream->End();
    EXPECT_FALSE(stream->Write("late"));
  }).join();
  ASSERT_TRUE(c.ReadUntil([](const std::string& b) { return b.find("0\r\n\r\n") != std::string::npos; }));
  const std::string& b = c.buffer();
  EXPECT_NE(b.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << b;
  EXPECT_NE(b.find("Cache-Control: no-cache\r\n"), std::string::npos) << b;
  EXPECT_NE(b.find("8\r\n{\"a\":1}\n\r\n8\r\n{\"b\":2}\n\r\n0\r\n\r\n"), std::string::npos) << b;
  EXPECT_EQ(b.find("late"), std::string::npos);
  auto f = ended.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get(), "complete");
  c.buffer().clear();
  ASSERT_TRUE(c.Send(Get("/again")));
  EXPECT_EQ(Body(c.ReadResponse()), "after");
}

TEST(HttpServer, AClientThatLeavesEndsItsStream) {
  std::promise<std::shared_ptr<HttpStream>> started;
  Server s([&](std::shared_ptr<HttpExchange> ex) { started.set_value(ex->StartStream(200, "text/plain")); });
  auto c = std::make_unique<RawClient>(s.port());
  ASSERT_TRUE(c->Send(Get("/follow")));
  auto stream = started.get_future().get();
  ASSERT_TRUE(c->ReadUntil([](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; }));
  std::promise<std::string> ended;
  stream->OnEnded([&](const std::string& reason) { ended.set_value(reason); });
  c.reset();  // the client goes away
  // Writes fail within a few tries (the first may still be taken by the kernel).
  bool failed = false;
  for (int i = 0; i < 200 && !failed; ++i) {
    failed = !stream->Write(std::string(4096, 'x'));
    if (!failed) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(failed);
  auto f = ended.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get().rfind("client gone", 0), 0u);
}

TEST(HttpServer, BodyLimitsRefusalsAndExpectContinue) {
  std::atomic<int> served{0};
  Server s(
      [&](std::shared_ptr<HttpExchange> ex) {
        ++served;
        if (ex->body_too_large()) return ex->Respond(413, "text/plain", "too large");
        ex->Respond(200, "text/plain", std::to_string(ex->body().size()));
      },
      [](const std::shared_ptr<HttpExchange>& ex) -> size_t {
        if (ex->path() == "/refuse") ex->Respond(401, "text/plain", "who are you");
        return 16;
      });
  {
    // Refused from the header: the body is not read, the connection closes
    // after the answer, which the client gets whole even though it sent a body.
    RawClient c(s.port());
    ASSERT_TRUE(c.Send(Post("/refuse", std::string(100000, 'x'))));
    std::string r = c.ReadResponse();
    EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
    EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos) << r;
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    // A chunked body over the limit: the handler is told, the connection closes.
    RawClient c(s.port());
    ASSERT_TRUE(c.Send("POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" +
                       std::string(32, 'y') + "\r\n0\r\n\r\n"));
    std::string r = c.ReadResponse();
    EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r;
    EXPECT_TRUE(c.WaitClosed());
  }
  for (std::string length : {"1000000000000000000", "2000000000, 2000000000", "17"}) {
    // A declared length over the limit (however it is written) is refused
    // before anything is read or reserved for it: no crash, no gigabytes.
    RawClient c(s.port());
    ASSERT_TRUE(c.Send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: " + length + "\r\n\r\nx"));
    std::string r = c.ReadResponse();
    EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << length << ": " << r;
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    // Expect: 100-continue gets its interim answer before the body is sent.
    RawClient c(s.port());
    ASSERT_TRUE(c.Send("POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    ASSERT_TRUE(c.ReadUntil([](const std::string& b) { return b.find("100 Continue\r\n\r\n") != std::string::npos; }));
    c.buffer().clear();
    ASSERT_TRUE(c.Send("12345"));
    EXPECT_EQ(Body(c.ReadResponse()), "5");
  }
  EXPECT_EQ(served.load(), 5);
}

TEST(HttpServer, HttpOneZeroKeepAliveIsSaidAndAnInterimStatusIsNeverTheAnswer) {
  Server s([](std::shared_ptr<HttpExchange> ex) {
    if (ex->path() == "/interim") return ex->Respond(100, "text/plain", "");
    ex->Respond(200, "text/plain", "ok");
  });
  RawClient c(s.port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  std::string r = c.ReadResponse();
  EXPECT_EQ(r.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Connection: keep-alive\r\n"), std::string::npos) << r;
  ASSERT_TRUE(c.Send(Get("/interim")));
  r = c.ReadResponse();
  EXPECT_EQ(r.rfind("HTTP/1.1 502", 0), 0u) << r;
}

TEST(HttpServer, AMalformedRequestGets400OrAHugeHeader431AndTheConnectionCloses) {
  std::atomic<int> served{0};
  Server s([&](std::shared_ptr<HttpExchange> ex) {
    ++served;
    ex->Respond(200, "text/plain", "ok");
  });
  {
    RawClient c(s.port());
    ASSERT_TRUE(c.Send("GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: nope\r\n\r\n"));
    std::string r = c.ReadResponse();
    EXPECT_EQ(r.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << r;
    EXPECT_NE(Body(r).find("malformed HTTP request"), std::string::npos) << r;
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    RawClient c(s.port());
    ASSERT_TRUE(c.Send("GET /x HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(100000, 'h') + "\r\n\r\n"));
    std::string r = c.ReadResponse();
    EXPECT_EQ(r.rfind("HTTP/1.1 431", 0), 0u) << r.substr(0, 200);
  }
  EXPECT_EQ(served.load(), 0);
}

TEST(HttpServer, AnExchangeDroppedWithoutAnAnswerClosesItsConnection) {
  Server s([](std::shared_ptr<HttpExchange>) {});
  RawClient c(s.port());
  ASSERT_TRUE(c.Send(Get("/nothing")));
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_TRUE(c.buffer().empty());
}

TEST(HttpServer, CloseEndsStreamsDropsLateAnswersAndFreesThePort) {
  std::promise<std::shared_ptr<HttpStream>> started;
  std::promise<std::shared_ptr<HttpExchange>> held;
  std::atomic<int> n{0};
  Server s([&](std::shared_ptr<HttpExchange> ex) {
    if (n++ == 0) {
      started.set_value(ex->StartStream(200, "text/plain"));
    } else {
      held.set_value(std::move(ex));  // answered after Close
    }
  });
  const int port = s.port();
  RawClient watcher(port), waiter(port);
  ASSERT_TRUE(watcher.Send(Get("/watch")));
  auto stream = started.get_future().get();
  ASSERT_TRUE(waiter.Send(Get("/slow")));
  auto ex = held.get_future().get();
  std::promise<std::string> ended;
  stream->OnEnded([&](const std::string& reason) { ended.set_value(reason); });

  s.server->Close();
  auto f = ended.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get(), "server stopping");
  EXPECT_FALSE(stream->Write("more"));
  ex->Respond(200, "text/plain", "too late");
  EXPECT_TRUE(watcher.WaitClosed());
  EXPECT_TRUE(waiter.WaitClosed());
  EXPECT_EQ(waiter.buffer().find("too late"), std::string::npos);
  // The port is free at once.
  HttpServerOptions o;
  o.port = port;
  o.on_request = [](std::shared_ptr<HttpExchange> e) { e->Respond(200, "text/plain", "second"); };
  auto again = HttpServer::Start(std::move(o));
  ASSERT_TRUE(again.ok()) << again.error().message();
  RawClient c(port);
  ASSERT_TRUE(c.Send(Get("/")));
  EXPECT_EQ(Body(c.ReadResponse()), "second");
  (*again)->Join();
  s.server->Join();
  // After Join nothing runs: Post refuses.
  EXPECT_FALSE(s.server->Post([] {}));
}

TEST(HttpServer, ASecondServerOnATakenPortFails) {
  Server s([](std::shared_ptr<HttpExchange> ex) { ex->Respond(200, "", ""); });
  HttpServerOptions o;
  o.port = s.port();
  o.on_request = [](std::shared_ptr<HttpExchange>) {};
  auto second = HttpServer::Start(std::move(o));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), Code::kIo);
}

}  // namespace
}  // namespace bosun::state
