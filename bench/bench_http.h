// bench/bench_http.h — a small HTTP/1.1 client over a raw socket, for load
// generators.
//
// One HttpConnection is one TCP connection kept alive across requests
// (TCP_NODELAY, no pipelining), so that a benchmark measures the server and not
// a client library: no thread pool, no TLS, no allocation beyond the request
// text and the response buffer. It understands what the servers we measure
// send back: Content-Length or chunked bodies, and `Connection: close`.
//
// Thread-safety: an HttpConnection is used by one thread at a time. Different
// connections are independent. The free functions are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace bosun::bench {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// host:port as given on the command line or in a URL ("http://127.0.0.1:2379").
struct Endpoint {
  std::string host;
  int port = 0;
  std::string Url() const { return "http://" + host + ":" + std::to_string(port); }
};

// Parses "http://HOST:PORT[/...]" or "HOST:PORT". Failure: kInvalid naming the text.
Result<Endpoint> ParseEndpoint(std::string_view text);

class HttpConnection {
 public:
  // `bearer`, when not empty, is sent as `Authorization: Bearer <bearer>` on
  // every request. `cancel`, when not null, is polled while waiting: once it is
  // true, a pending Request fails with kUnavailable ("cancelled").
  HttpConnection(Endpoint endpoint, std::string bearer = "", const std::atomic<bool>* cancel = nullptr);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends one request (body as application/json when not empty) and reads the
  // whole response. Connects first when not connected. A response of any
  // status is success; failure is a transport problem: kIo (cannot connect,
  // reset, malformed response — the connection is closed and the next call
  // reconnects), kTimeout (no complete response within `timeout`),
  // kUnavailable (cancelled).
  Result<HttpResponse> Request(std::string_view method, std::string_view path, std::string_view body = {},
                               std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Connects now (Request does it lazily). Failure: kIo.
  Status Connect();
  void Close();

 private:
  Status SendAll(std::string_view data, std::chrono::steady_clock::time_point deadline);
  // Reads more bytes into buffer_; failure on EOF, error, deadline or cancel.
  Status Fill(std::chrono::steady_clock::time_point deadline);
  Result<HttpResponse> ReadResponse(std::chrono::steady_clock::time_point deadline, bool* keep_alive);

  Endpoint endpoint_;
  std::string bearer_;
  const std::atomic<bool>* cancel_;
  int fd_ = -1;
  std::string request_;  // reused buffer
  std::string buffer_;   // bytes received and not yet consumed
};

// One-shot request on a fresh connection (readiness polls, set-up).
Result<HttpResponse> HttpOnce(const Endpoint& endpoint, std::string_view method, std::string_view path,
                              std::string_view body = {}, const std::string& bearer = "",
                              std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Standard base64 with padding (etcd's JSON gateway wants bytes fields so).
std::string Base64(std::string_view bytes);

// Loopback TCP ports free right now: bound to 127.0.0.1:0 together (so they
// differ), then released. Another program could take one before we use it;
// for a benchmark on a quiet machine that is good enough. Failure: kIo.
Result<std::vector<int>> FreePorts(size_t n);

}  // namespace bosun::bench
