// state/http_server.h — the API server's HTTP/1.1 transport, on Boost.Asio
// and Boost.Beast (header-only, part of Boost 1.74).
//
// Why not cpprestsdk's http_listener (which the API server used first, and
// which the node daemon still uses): under 100 concurrent writers it spent
// ~48 µs of CPU per request on its own, against ~10 µs for a Beast server
// answering the same request, and most of bosun's write path went to handing
// each request between its asio threads and its pplx task pool
// (docs/PERFORMANCE.md, "State"). This transport hands nothing around:
//  * each io thread has its own io_context and serves the connections given to
//    it; a request's handler runs on that thread, inline;
//  * an answer is written with a non-blocking send() on the thread that makes
//    it — Raft's loop, for a write — and only the rest of a large answer that
//    the kernel does not take at once waits for the socket on the io thread;
//  * the next request on a keep-alive connection is read after the answer is
//    out (no pipelining of answers: HTTP/1.1 clients do not pipeline).
//
// Thread-safety: HttpExchange and HttpStream may be used from any thread.
// Handlers run on the io threads. Lifetime: an exchange or stream keeps its
// connection alive; after Close() their answers and writes are dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace bosun::state {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class HttpConnection;  // http_server.cc
class HttpStream;

// One request on a connection, and its answer.
class HttpExchange {
 public:
  HttpExchange(std::shared_ptr<HttpConnection> conn, std::string method, std::string target, HttpHeaders headers,
               bool keep_alive);
  ~HttpExchange();  // closes the connection if no answer was given
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  const std::string& method() const { return method_; }
  // The request-target as sent: "/api/v1/pods?watch=1" (percent-encoded).
  const std::string& target() const { return target_; }
  // The target up to '?' and after it, still percent-encoded.
  std::string_view path() const;
  std::string_view query() const;
  // Case-insensitive; "" when absent.
  std::string Header(std::string_view name) const;
  const HttpHeaders& headers() const { return headers_; }
  std::string& body() { return body_; }
  // The body went over the limit the header handler set; body() is empty and
  // the connection is closed after the answer.
  bool body_too_large() const { return too_large_; }

  // Sends a whole answer (Content-Length). Only the first Respond or
  // StartStream counts; later ones are ignored. A "Connection: close" header
  // closes the connection after the answer.
  void Respond(int code, std::string_view content_type, std::string body, const HttpHeaders& headers = {});
  // Starts a chunked answer; nullptr if an answer was already given.
  std::shared_ptr<HttpStream> StartStream(int code, std::string_view content_type, const HttpHeaders& headers = {});
  bool responded() const;

 private:
  friend class HttpConnection;
  std::shared_ptr<HttpConnection> conn_;
  const std::string method_;
  const std::string target_;
  const HttpHeaders headers_;
  const bool keep_alive_;
  std::string body_;
  bool too_large_ = false;
  bool responded_ = false;  // guarded by the connection's mutex
};

// A chunked answer being written (a watch, a followed log).
class HttpStream {
 public:
  HttpStream(std::shared_ptr<HttpConnection> conn, uint64_t gen) : conn_(std::move(conn)), gen_(gen) {}
  ~HttpStream();  // End()
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;

  // Queues `data` as one chunk and sends what the socket takes now. False
  // once the stream has ended (by End, the client going away, or Close).
  bool Write(std::string_view data);
  // Bytes queued that the kernel has not taken yet (a slow reader's backlog).
  size_t buffered() const;
  // Ends the answer; the connection then serves its next request. Idempotent.
  void End();
  // Runs `fn` once when the stream has ended for any reason, with the reason
  // ("complete", "client gone: ...", "server stopping"). Never inline: it is
  // posted to the connection's io thread, so `fn` may take locks its caller
  // holds while writing. Dropped if the server has finished.
  void OnEnded(std::function<void(const std::string& reason)> fn);

 private:
  std::shared_ptr<HttpConnection> conn_;
  const uint64_t gen_;  // which of the connection's answers this stream is
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // a name or an address ("::1" without brackets)
  int port = 0;                    // 0: the kernel picks (see HttpServer::port)
  int threads = 0;                 // io threads; 0: one per core, at least 2
  size_t max_header_bytes = size_t{64} << 10;
  // Called on the io thread when a request's header has arrived, before its
  // body is read: returns the body limit. It may answer the exchange already
  // (a refusal); the body is then not read and the connection closes after
  // the answer. It must answer before it returns or not at all: an answer
  // from another thread while the body is being read would start a second
  // read of the socket.
  std::function<size_t(const std::shared_ptr<HttpExchange>&)> on_header;
  // Called on the io thread with the whole request (or body_too_large()).
  std::function<void(std::shared_ptr<HttpExchange>)> on_request;
};

class HttpServer {
 public:
  // Binds and starts the io threads. kIo when the address cannot be bound,
  // kInvalid for a host that does not resolve.
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options);
  ~HttpServer();  // Join()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  // Runs `fn` on an io thread, never inline. After Join() began, `fn` is
  // destroyed unrun and false is returned.
  bool Post(std::function<void()> fn);
  // Stops accepting and shuts every connection down: open streams end with
  // "server stopping"; answers given later are dropped. Idempotent.
  void Close();
  // Close(), then lets the io threads finish what was posted, and joins them.
  // Idempotent; must not be called from an io thread (that thread would be
  // detached instead of joined, and could outlive the server).
  void Join();

  struct Impl;

 private:
  explicit HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace bosun::state
