// The API server's HTTP/1.1 transport (state/http_server.h).
//
// A connection is always in one of four states, under its mutex:
//   kReading    a read of the next request is in flight (on the io thread)
//   kServing    the handler has the request; nothing is read or written
//               until it answers (from any thread)
//   kStreaming  a chunked answer is open; writes come from any thread
//   kClosed     shut down; whatever comes later is dropped
// At most one operation on the socket is in flight at a time, and every
// operation is started under the mutex, so the asio socket is never used by
// two threads at once. Answers are written with sendmsg(MSG_DONTWAIT) on the
// thread that answers; only when the kernel does not take it all does the
// connection wait for the socket to be writable (on its io thread) and send
// the rest from there.
#include "state/http_server.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/status.hpp>

#include "core/log.h"

namespace bosun::state {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using ErrorCode = boost::system::error_code;

namespace {

constexpr const char* kComponent = "http";
// A connection closed after an answer keeps reading what the client still
// sends (an unread body: clients such as cpprestsdk's send all of it before
// they read the answer), so that the kernel does not reset the connection
// before the client has read the answer: until the client is silent for
// kLingerTime, or has sent kLingerBytes.
constexpr std::chrono::seconds kLingerTime{2};
constexpr size_t kLingerBytes = size_t{256} << 20;
constexpr int kMaxIov = 64;
constexpr size_t kDrainBytes = 65536;

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The headers this transport writes itself.
bool OwnHeader(std::string_view name) {
  return IEquals(name, "content-length") || IEquals(name, "transfer-encoding") || IEquals(name, "connection") ||
         IEquals(name, "content-type");
}

std::string StatusLine(int version, int code) {
  beast::string_view reason = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(code)));
  std::string s = version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  s += std::to_string(code);
  s += ' ';
  s.append(reason.data(), reason.size());
  s += "\r\n";
  return s;
}

void AppendHeader(std::string* out, std::string_view name, std::string_view value) {
  out->append(name.data(), name.size());
  *out += ": ";
  // A header value never carries a line break into the answer.
  for (char c : value) *out += (c == '\r' || c == '\n') ? ' ' : c;
  *out += "\r\n";
}

bool WantsClose(const HttpHeaders& headers) {
  return std::any_of(headers.begin(), headers.end(),
                     [](const auto& h) { return IEquals(h.first, "connection") && IEquals(h.second, "close"); });
}

// An answer's head: the status line, Content-Type, its framing (a
// Content-Length or Transfer-Encoding header; none for a body that ends with
// the connection), the handler's headers but the ones written here, and
// Connection.
std::string Head(int version, int code, std::string_view content_type, std::string_view framing_name,
                 std::string_view framing_value, const HttpHeaders& headers, bool close) {
  std::string head = StatusLine(version, code);
  if (!content_type.empty()) AppendHeader(&head, "Content-Type", content_type);
  if (!framing_name.empty()) AppendHeader(&head, framing_name, framing_value);
  for (const auto& [k, v] : headers) {
    if (!OwnHeader(k)) AppendHeader(&head, k, v);
  }
  if (close) {
    head += "Connection: close\r\n";
  } else if (version == 10) {
    head += "Connection: keep-alive\r\n";  // an HTTP/1.0 client assumes a close otherwise
  }
  head += "\r\n";
  return head;
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
  HttpServerOptions options;
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<std::optional<net::executor_work_guard<net::io_context::executor_type>>> guards;
  std::vector<std::thread> threads;
  std::vector<std::thread::id> thread_ids;  // set before Start returns
  std::optional<tcp::acceptor> acceptor;    // used on contexts[0]'s thread only
  int port = 0;
  std::atomic<size_t> next{0};

  std::mutex mu;
  bool closed = false;  // guarded by mu: no new connections
  bool joined = false;  // guarded by mu: Post refuses
  uint64_t next_id = 0;                                                   // guarded by mu
  std::unordered_map<uint64_t, std::weak_ptr<HttpConnection>> conns;  // guarded by mu
  std::mutex join_mu;                                                     // serialises Join

  net::io_context& NextContext() { return *contexts[next.fetch_add(1, std::memory_order_relaxed) % contexts.size()]; }
  bool OnIoThread() const {
    return std::find(thread_ids.begin(), thread_ids.end(), std::this_thread::get_id()) != thread_ids.end();
  }
  bool Post(std::function<void()> fn);
  void Accept();
  void Forget(uint64_t id) {
    std::lock_guard l(mu);
    conns.erase(id);
  }
};

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(std::shared_ptr<HttpServer::Impl> server, tcp::socket socket, uint64_t id)
      : server_(std::move(server)), id_(id), socket_(std::move(socket)), linger_(socket_.get_executor()) {}
  ~HttpConnection() { server_->Forget(id_); }

  void Start() {
    std::lock_guard l(mu_);
    StartReadLocked();
  }

  void Shutdown(const std::string& reason) {
    std::lock_guard l(mu_);
    FailLocked(reason);
  }

  // ---- for HttpExchange ----

  void Respond(HttpExchange& ex, int code, std::string_view content_type, std::string body,
               const HttpHeaders& headers) {
    std::lock_guard l(mu_);
    if (ex.responded_) return;
    ex.responded_ = true;
    if (state_ != State::kServing || current_ != &ex) return;  // the connection is gone
    if (code < 200 || code > 999) {
      // An interim (1xx) or impossible code is not an answer: the client
      // would wait for the real one forever.
      log::Error(kComponent, "a handler answered with a non-final status; sending 502 instead",
                 {{"code", std::to_string(code)}});
      body = "bad gateway: status " + std::to_string(code) + " was the only answer\n";
      code = 502;
      content_type = "text/plain";
    }
    const bool close = !ex.keep_alive_ || body_pending_ || WantsClose(headers);
    std::string head =
        Head(version_, code, content_type, "Content-Length", std::to_string(body.size()), headers, close);
    AnswerLocked(std::move(head), std::move(body), close);
  }

  std::shared_ptr<HttpStream> StartStream(HttpExchange& ex, int code, std::string_view content_type,
                                          const HttpHeaders& headers) {
    std::lock_guard l(mu_);
    if (ex.responded_) return nullptr;
    ex.responded_ = true;
    const uint64_t gen = ++stream_gen_;
    if (state_ != State::kServing || current_ != &ex) return std::make_shared<HttpStream>(shared_from_this(), gen);
    chunked_ = version_ >= 11;
    const bool close = !ex.keep_alive_ || body_pending_ || !chunked_ || WantsClose(headers);
    // An HTTP/1.0 stream is not chunked: its end is the connection's.
    std::string head = chunked_ ? Head(version_, code, content_type, "Transfer-Encoding", "chunked", headers, close)
                                : Head(version_, code, content_type, {}, {}, headers, close);
    state_ = State::kStreaming;
    stream_ended_ = false;
    close_after_ = close;
    QueueLocked(std::move(head));
    FlushLocked();
    return std::make_shared<HttpStream>(shared_from_this(), gen);
  }

  bool Responded(const HttpExchange& ex) {
    std::lock_guard l(mu_);
    return ex.responded_;
  }

  // The exchange ends without an answer: nothing can follow it on this
  // connection.
  void Abandon(HttpExchange& ex) {
    std::lock_guard l(mu_);
    if (!ex.responded_ && current_ == &ex && state_ == State::kServing) FailLocked("the request had no answer");
    if (current_ == &ex) current_ = nullptr;
  }

  // ---- for HttpStream (gen: which stream of this connection) ----

  bool StreamWrite(uint64_t gen, std::string_view data) {
    std::lock_guard l(mu_);
    if (!StreamOpenLocked(gen)) return false;
    if (data.empty()) return true;
    std::string chunk;
    if (chunked_) {
      char size[24];
      int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
      chunk.reserve(data.size() + static_cast<size_t>(n) + 2);
      chunk.append(size, static_cast<size_t>(n));
      chunk.append(data.data(), data.size());
      chunk += "\r\n";
    } else {
      chunk.assign(data.data(), data.size());
    }
    QueueLocked(std::move(chunk));
    FlushLocked();
    return state_ != State::kClosed;
  }

  size_t StreamBuffered(uint64_t gen) {
    std::lock_guard l(mu_);
    return StreamOpenLocked(gen) ? queued_ : 0;
  }

  void StreamEnd(uint64_t gen) {
    std::lock_guard l(mu_);
    if (!StreamOpenLocked(gen)) return;
    stream_ended_ = true;
    response_done_ = true;
    if (chunked_) QueueLocked("0\r\n\r\n");
    FireEndedLocked("complete");
    FlushLocked();
  }

  void StreamOnEnded(uint64_t gen, std::function<void(const std::string&)> fn) {
    std::unique_lock l(mu_);
    if (StreamOpenLocked(gen)) {
      on_ended_.push_back(std::move(fn));
      return;
    }
    l.unlock();
    server_->Post([fn = std::move(fn)] { fn("ended"); });
  }

 private:
  enum class State { kReading, kServing, kStreaming, kClosed };

  bool StreamOpenLocked(uint64_t gen) const {
    return gen == stream_gen_ && state_ == State::kStreaming && !stream_ended_;
  }

  // Queues a whole answer and sends what the socket takes now.
  void AnswerLocked(std::string head, std::string body, bool close) {
    QueueLocked(std::move(head));
    if (!head_request_) QueueLocked(std::move(body));
    close_after_ = close;
    response_done_ = true;
    FlushLocked();
  }

  void QueueLocked(std::string s) {
    if (s.empty()) return;
    queued_ += s.size();
    out_.push_back(std::move(s));
  }

  // Sends what the kernel takes now; waits for the socket for the rest.
  void FlushLocked() {
    if (waiting_ || state_ == State::kClosed) return;
    const int fd = socket_.native_handle();
    while (!out_.empty()) {
      iovec iov[kMaxIov];
      int n = 0;
      for (auto it = out_.begin(); it != out_.end() && n < kMaxIov; ++it, ++n) {
        size_t off = n == 0 ? offset_ : 0;
        iov[n].iov_base = const_cast<char*>(it->data()) + off;
        iov[n].iov_len = it->size() - off;
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(n);
      ssize_t w = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return WaitWritableLocked();
        return FailLocked(std::string("client gone: ") + std::strerror(errno));
      }
      size_t left = static_cast<size_t>(w);
      queued_ -= left;
      while (left > 0) {
        size_t rest = out_.front().size() - offset_;
        if (left < rest) {
          offset_ += left;
          break;
        }
        left -= rest;
        offset_ = 0;
        out_.pop_front();
      }
    }
    AfterDrainLocked();
  }

  void WaitWritableLocked() {
    waiting_ = true;
    socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](const ErrorCode& ec) {
      std::lock_guard l(self->mu_);
      self->waiting_ = false;
      if (ec) return self->FailLocked("client gone: " + ec.message());
      self->FlushLocked();
    });
  }

  // Everything queued is sent: when the answer is complete, the connection
  // serves its next request, or closes.
  void AfterDrainLocked() {
    if (!response_done_ || (state_ != State::kServing && state_ != State::kStreaming)) return;
    if (close_after_) return CloseGracefullyLocked();
    StartReadLocked();
  }

  void StartReadLocked() {
    state_ = State::kReading;
    current_ = nullptr;
    response_done_ = false;
    close_after_ = false;
    body_pending_ = false;
    head_request_ = false;
    stream_ended_ = false;
    on_ended_.clear();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
    // Set from the header (on_header). Not boost::none: Beast 1.74 compares
    // a Content-Length with it as `len > body_limit_`, which is true for none.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](const ErrorCode& ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(const ErrorCode& ec) {
    if (ec) {
      std::lock_guard l(mu_);
      // A request Beast could not parse gets a 400 (431: header too large)
      // saying why, then the connection closes; a client that left does not.
      const bool malformed = ec.category() == http::make_error_code(http::error::bad_target).category() &&
                             ec != http::error::end_of_stream && ec != http::error::partial_message;
      if (!malformed || state_ != State::kReading) return FailLocked("closed");
      log::Debug(kComponent, "malformed request", {{"error", ec.message()}});
      const int code = ec == http::error::header_limit ? 431 : 400;
      std::string body = "malformed HTTP request: " + ec.message() + "\n";
      std::string head = Head(11, code, "text/plain", "Content-Length", std::to_string(body.size()), {}, true);
      state_ = State::kServing;
      return AnswerLocked(std::move(head), std::move(body), true);
    }
    auto& req = parser_->get();
    HttpHeaders headers;
    bool expect_continue = false;
    for (const auto& f : req) {
      headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      if (f.name() == http::field::expect && IEquals(headers.back().second, "100-continue")) expect_continue = true;
    }
    auto ex = std::make_shared<HttpExchange>(shared_from_this(), std::string(req.method_string()),
                                             std::string(req.target()), std::move(headers), req.keep_alive());
    {
      std::lock_guard l(mu_);
      if (state_ == State::kClosed) return;
      state_ = State::kServing;
      current_ = ex.get();
      version_ = req.version() == 10 ? 10 : 11;
      head_request_ = req.method() == http::verb::head;
      body_pending_ = !parser_->is_done();
    }
    size_t limit = std::numeric_limits<size_t>::max();
    if (server_->options.on_header) {
      try {
        limit = server_->options.on_header(ex);
      } catch (const std::exception& e) {
        log::Error(kComponent, "unexpected exception in a request header handler", {{"error", e.what()}});
        ex->Respond(500, "text/plain", "internal error\n");
      }
    }
    // Answered (refused) already: the body stays unread and the answer
    // closes the connection. The parser may already serve the next request.
    bool read_body = false;
    {
      std::lock_guard l(mu_);
      if (ex->responded_ || state_ == State::kClosed) return;
      read_body = body_pending_;
    }
    if (!read_body) return Serve(std::move(ex));
    // Beast 1.74 checks a Content-Length against the body limit only when
    // the header ends, when the limit was still open (see StartReadLocked):
    // the declared length is checked here, before anything is reserved for it.
    if (auto declared = parser_->content_length(); declared && *declared > limit) {
      ex->too_large_ = true;  // body_pending_ stays: the answer closes the connection
      return Serve(std::move(ex));
    }
    if (expect_continue && version_ >= 11) {
      std::lock_guard l(mu_);
      QueueLocked("HTTP/1.1 100 Continue\r\n\r\n");
      FlushLocked();
      if (state_ == State::kClosed) return;
    }
    parser_->body_limit(static_cast<std::uint64_t>(limit));
    http::async_read(socket_, buffer_, *parser_, [self = shared_from_this(), ex](const ErrorCode& ec, size_t) mutable {
      self->OnBody(ec, std::move(ex));
    });
  }

  void OnBody(const ErrorCode& ec, std::shared_ptr<HttpExchange> ex) {
    if (ec == http::error::body_limit) {
      ex->too_large_ = true;  // body_pending_ stays: the answer closes the connection
      return Serve(std::move(ex));
    }
    if (ec) {
      std::lock_guard l(mu_);
      return FailLocked("client gone: " + ec.message());
    }
    ex->body_ = std::move(parser_->get().body());
    {
      std::lock_guard l(mu_);
      body_pending_ = false;
    }
    Serve(std::move(ex));
  }

  void Serve(std::shared_ptr<HttpExchange> ex) {
    try {
      server_->options.on_request(ex);
    } catch (const std::exception& e) {
      log::Error(kComponent, "unexpected exception in a request handler", {{"error", e.what()}});
      ex->Respond(500, "text/plain", "internal error\n");
    }
  }

  // Closes after an answer: no more sending, and what the client still
  // sends is read and dropped for a while (see kLingerTime).
  void CloseGracefullyLocked() {
    state_ = State::kClosed;
    FireEndedLocked("complete");
    ::shutdown(socket_.native_handle(), SHUT_WR);
    DrainLocked();
  }

  void DrainLocked() {
    linger_.expires_after(kLingerTime);  // cancels the previous wait
    linger_.async_wait([self = shared_from_this()](const ErrorCode& ec) {
      if (!ec) ::shutdown(self->socket_.native_handle(), SHUT_RDWR);
    });
    if (!drain_) drain_ = std::make_unique<char[]>(kDrainBytes);
    socket_.async_read_some(net::buffer(drain_.get(), kDrainBytes), [self = shared_from_this()](const ErrorCode& ec,
                                                                                                 size_t n) {
      std::lock_guard l(self->mu_);
      self->drained_ += n;
      if (ec || self->drained_ > kLingerBytes) {
        self->linger_.cancel();
        ::shutdown(self->socket_.native_handle(), SHUT_RDWR);
        return;
      }
      self->DrainLocked();
    });
  }

  void FailLocked(const std::string& reason) {
    if (state_ == State::kClosed) {
      ::shutdown(socket_.native_handle(), SHUT_RDWR);  // cuts a lingering close short
      return;
    }
    state_ = State::kClosed;
    out_.clear();
    offset_ = 0;
    queued_ = 0;
    ::shutdown(socket_.native_handle(), SHUT_RDWR);
    FireEndedLocked(reason);
  }

  void FireEndedLocked(const std::string& reason) {
    for (auto& fn : on_ended_) {
      server_->Post([fn = std::move(fn), reason] { fn(reason); });
    }
    on_ended_.clear();
  }

  const std::shared_ptr<HttpServer::Impl> server_;  // first: outlives the socket
  const uint64_t id_;
  tcp::socket socket_;
  net::steady_timer linger_;
  beast::flat_buffer buffer_;                                // the io thread's (reads)
  std::optional<http::request_parser<http::string_body>> parser_;  // the io thread's (reads)
  std::unique_ptr<char[]> drain_;  // made when lingering

  std::mutex mu_;
  State state_ = State::kReading;  // guarded by mu_, as is everything below
  HttpExchange* current_ = nullptr;
  int version_ = 11;
  bool head_request_ = false;
  bool body_pending_ = false;  // the request's body was not read: close after the answer
  bool response_done_ = false;
  bool close_after_ = false;
  bool chunked_ = true;
  bool stream_ended_ = false;
  uint64_t stream_gen_ = 0;
  std::vector<std::function<void(const std::string&)>> on_ended_;
  std::deque<std::string> out_;
  size_t offset_ = 0;  // into out_.front()
  size_t queued_ = 0;  // bytes in out_ not yet sent
  bool waiting_ = false;
  size_t drained_ = 0;
};

// ---- HttpExchange ----

HttpExchange::HttpExchange(std::shared_ptr<HttpConnection> conn, std::string method, std::string target,
                           HttpHeaders headers, bool keep_alive)
    : conn_(std::move(conn)),
      method_(std::move(method)),
      target_(std::move(target)),
      headers_(std::move(headers)),
      keep_alive_(keep_alive) {}

HttpExchange::~HttpExchange() {
  conn_->Abandon(*this);
}

std::string_view HttpExchange::path() const {
  std::string_view t = target_;
  // absolute-form ("http://host/path"): the path starts after the authority
  if (size_t scheme = t.find("://"); scheme != std::string_view::npos && scheme < t.find('/')) {
    size_t slash = t.find('/', scheme + 3);
    t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
  }
  return t.substr(0, t.find_first_of("?#"));
}

std::string_view HttpExchange::query() const {
  std::string_view t = target_;
  size_t q = t.find('?');
  if (q == std::string_view::npos) return {};
  t = t.substr(q + 1);
  return t.substr(0, t.find('#'));
}

std::string HttpExchange::Header(std::string_view name) const {
  for (const auto& [k, v] : headers_) {
    if (IEquals(k, name)) return v;
  }
  return {};
}

void HttpExchange::Respond(int code, std::string_view content_type, std::string body, const HttpHeaders& headers) {
  conn_->Respond(*this, code, content_type, std::move(body), headers);
}

std::shared_ptr<HttpStream> HttpExchange::StartStream(int code, std::string_view content_type,
                                                      const HttpHeaders& headers) {
  return conn_->StartStream(*this, code, content_type, headers);
}

bool HttpExchange::responded() const {
  return conn_->Responded(*this);
}

// ---- HttpStream ----

HttpStream::~HttpStream() {
  End();
}

bool HttpStream::Write(std::string_view data) {
  return conn_->StreamWrite(gen_, data);
}

size_t HttpStream::buffered() const {
  return conn_->StreamBuffered(gen_);
}

void HttpStream::End() {
  conn_->StreamEnd(gen_);
}

void HttpStream::OnEnded(std::function<void(const std::string&)> fn) {
  conn_->StreamOnEnded(gen_, std::move(fn));
}

// ---- HttpServer ----

bool HttpServer::Impl::Post(std::function<void()> fn) {
  {
    std::lock_guard l(mu);
    if (!joined) {
      net::post(NextContext(), std::move(fn));
      return true;
    }
  }
  return false;  // fn is destroyed here, outside the lock
}

void HttpServer::Impl::Accept() {
  net::io_context& ctx = NextContext();
  acceptor->async_accept(ctx, [self = shared_from_this()](const ErrorCode& ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !self->acceptor->is_open()) return;
    if (!ec) {
      ErrorCode ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::shared_ptr<HttpConnection> conn;
      {
        std::lock_guard l(self->mu);
        if (!self->closed) {
          uint64_t id = ++self->next_id;
          conn = std::make_shared<HttpConnection>(self, std::move(socket), id);
          self->conns.emplace(id, conn);
        }
      }
      if (conn) conn->Start();
    } else {
      log::Warn(kComponent, "accept failed", {{"error", ec.message()}});
      if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space) {
        // Out of file descriptors: let some connections end before trying
        // again, without holding up this thread's other connections.
        auto timer = std::make_shared<net::steady_timer>(self->acceptor->get_executor(), std::chrono::milliseconds(50));
        timer->async_wait([self, timer](const ErrorCode&) {
          if (self->acceptor->is_open()) self->Accept();
        });
        return;
      }
    }
    self->Accept();
  });
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options) {
  if (!options.on_request) return Error(Code::kInvalid, "an HTTP server needs a request handler");
  auto impl = std::make_shared<Impl>();
  int threads = options.threads > 0 ? options.threads
                                    : static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  impl->options = std::move(options);
  for (int i = 0; i < threads; ++i) {
    impl->contexts.push_back(std::make_unique<net::io_context>(1));
    impl->guards.emplace_back(net::make_work_guard(*impl->contexts.back()));
  }
  const std::string& host = impl->options.host;
  ErrorCode ec;
  tcp::resolver resolver(*impl->contexts[0]);
  auto endpoints = resolver.resolve(host, std::to_string(impl->options.port), tcp::resolver::passive, ec);
  if (ec) return Error(Code::kInvalid, "cannot resolve listen host " + host + ": " + ec.message());
  std::string last_error = "no address";
  for (const auto& entry : endpoints) {
    tcp::acceptor acc(*impl->contexts[0]);
    tcp::endpoint ep = entry.endpoint();
    if (acc.open(ep.protocol(), ec)) {
      last_error = ec.message();
      continue;
    }
    acc.set_option(net::socket_base::reuse_address(true), ec);
    if (acc.bind(ep, ec) || acc.listen(net::socket_base::max_listen_connections, ec)) {
      last_error = ec.message();
      continue;
    }
    impl->port = acc.local_endpoint(ec).port();
    impl->acceptor.emplace(std::move(acc));
    break;
  }
  if (!impl->acceptor) {
    return Error(Code::kIo, "cannot listen on " + host + ":" + std::to_string(impl->options.port) + ": " + last_error);
  }
  impl->Accept();
  std::promise<void> ids_set;
  std::shared_future<void> ready = ids_set.get_future().share();
  impl->thread_ids.resize(impl->contexts.size());
  for (size_t i = 0; i < impl->contexts.size(); ++i) {
    impl->threads.emplace_back([ctx = impl->contexts[i].get(), ready] {
      ::pthread_setname_np(::pthread_self(), "bosun-http");
      ready.wait();
      // A handler that throws must not take the process down with it.
      for (;;) {
        try {
          ctx->run();
          return;
        } catch (const std::exception& e) {
          log::Error(kComponent, "unexpected exception on an io thread", {{"error", e.what()}});
        }
      }
    });
    impl->thread_ids[i] = impl->threads.back().get_id();
  }
  ids_set.set_value();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::~HttpServer() {
  Join();
}

int HttpServer::port() const {
  return impl_->port;
}

bool HttpServer::Post(std::function<void()> fn) {
  return impl_->Post(std::move(fn));
}

void HttpServer::Close() {
  std::vector<std::weak_ptr<HttpConnection>> conns;
  {
    std::lock_guard l(impl_->mu);
    if (impl_->closed) return;
    impl_->closed = true;
    for (const auto& [id, c] : impl_->conns) conns.push_back(c);
  }
  // The acceptor belongs to contexts[0]'s thread; close it there, and wait
  // for it unless this is an io thread, so the port is free when Close returns.
  auto impl = impl_;
  auto close_acceptor = [impl] {
    ErrorCode ignored;
    impl->acceptor->close(ignored);
  };
  if (impl_->OnIoThread()) {
    net::post(*impl_->contexts[0], close_acceptor);
  } else {
    std::promise<void> done;
    std::future<void> closed = done.get_future();
    net::post(*impl_->contexts[0], [&] {
      close_acceptor();
      done.set_value();
    });
    closed.wait();
  }
  for (const auto& w : conns) {
    if (auto c = w.lock()) c->Shutdown("server stopping");
  }
}

void HttpServer::Join() {
  std::lock_guard j(impl_->join_mu);
  Close();
  {
    std::lock_guard l(impl_->mu);
    if (impl_->joined) return;
    impl_->joined = true;
  }
  // Each io thread returns once nothing is left to do: the connections are
  // shut down, so their reads and waits complete at once.
  for (auto& g : impl_->guards) g.reset();
  for (auto& t : impl_->threads) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // a misuse (see Join's contract); do not join oneself
    } else {
      t.join();
    }
  }
}

}  // namespace bosun::state
