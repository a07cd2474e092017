#include "bench/bench_http.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace bosun::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Waits are cut into slices so a cancel is noticed within this time.
constexpr int kPollSliceMs = 100;

Error Errno(const std::string& what) {
  return Error(Code::kIo, what + ": " + std::strerror(errno));
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<Endpoint> ParseEndpoint(std::string_view text) {
  std::string_view s = text;
  if (s.substr(0, 7) == "http://") s.remove_prefix(7);
  if (auto slash = s.find('/'); slash != std::string_view::npos) s = s.substr(0, slash);
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Error(Code::kInvalid, "\"" + std::string(text) + "\" is not HOST:PORT or http://HOST:PORT");
  }
  Endpoint e;
  e.host = std::string(s.substr(0, colon));
  std::string port(s.substr(colon + 1));
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p <= 0 || p > 65535) {
    return Error(Code::kInvalid, "\"" + std::string(text) + "\": bad port");
  }
  e.port = static_cast<int>(p);
  return e;
}

HttpConnection::HttpConnection(Endpoint endpoint, std::string bearer, const std::atomic<bool>* cancel)
    : endpoint_(std::move(endpoint)), bearer_(std::move(bearer)), cancel_(cancel) {}

HttpConnection::~HttpConnection() {
  Close();
}

void HttpConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

Status HttpConnection::Connect() {
  Close();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(endpoint_.port));
  if (::inet_pton(AF_INET, endpoint_.host.c_str(), &addr.sin_addr) != 1) {
    return Error(Code::kInvalid, endpoint_.host + ": not an IPv4 address (the bench talks to loopback only)");
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  // Blocking connect: on loopback it completes or fails at once.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Error e = Errno("connect to " + endpoint_.Url());
    ::close(fd);
    return e;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fd_ = fd;
  return Ok();
}

Status HttpConnection::SendAll(std::string_view data, SteadyClock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (cancel_ && cancel_->load(std::memory_order_relaxed)) return Error(Code::kUnavailable, "cancelled");
      if (SteadyClock::now() >= deadline) return Error(Code::kTimeout, "sending to " + endpoint_.Url() + " timed out");
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, kPollSliceMs);
      continue;
    }
    return Errno("send to " + endpoint_.Url());
  }
  return Ok();
}

Status HttpConnection::Fill(SteadyClock::time_point deadline) {
  char chunk[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return Ok();
    }
    if (n == 0) return Error(Code::kIo, endpoint_.Url() + " closed the connection");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Errno("recv from " + endpoint_.Url());
    if (cancel_ && cancel_->load(std::memory_order_relaxed)) return Error(Code::kUnavailable, "cancelled");
    auto now = SteadyClock::now();
    if (now >= deadline) return Error(Code::kTimeout, "no response from " + endpoint_.Url() + " in time");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, kPollSliceMs)));
  }
}

Result<HttpResponse> HttpConnection::ReadResponse(SteadyClock::time_point deadline, bool* keep_alive) {
  size_t header_end;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (buffer_.size() > (1u << 20)) return Error(Code::kIo, endpoint_.Url() + ": response header over 1 MiB");
    if (Status s = Fill(deadline); !s) return s.error();
  }
  std::string_view head(buffer_.data(), header_end);
  HttpResponse r;
  // "HTTP/1.1 200 OK"
  if (head.substr(0, 5) != "HTTP/" || head.size() < 12) {
    return Error(Code::kIo, endpoint_.Url() + ": malformed status line: " + std::string(head.substr(0, 80)));
  }
  r.status = std::atoi(std::string(head.substr(9, 3)).c_str());
  bool http10 = head.substr(0, 8) == "HTTP/1.0";
  *keep_alive = !http10;
  long long content_length = -1;
  bool chunked = false;
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos < head.size()) {
    size_t next = head.find("\r\n", pos + 2);
    std::string_view line = head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
    pos = next;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = Trim(line.substr(0, colon)), value = Trim(line.substr(colon + 1));
    if (IEquals(name, "content-length")) {
      content_length = std::atoll(std::string(value).c_str());
    } else if (IEquals(name, "transfer-encoding")) {
      chunked = value.find("chunked") != std::string_view::npos;
    } else if (IEquals(name, "connection")) {
      if (IEquals(value, "close")) *keep_alive = false;
      if (IEquals(value, "keep-alive")) *keep_alive = true;
    }
  }
  buffer_.erase(0, header_end + 4);

  if (chunked) {
    for (;;) {
      size_t eol;
      while ((eol = buffer_.find("\r\n")) == std::string::npos) {
        if (Status s = Fill(deadline); !s) return s.error();
      }
      size_t size = std::strtoull(buffer_.substr(0, eol).c_str(), nullptr, 16);
      while (buffer_.size() < eol + 2 + size + 2) {
        if (Status s = Fill(deadline); !s) return s.error();
      }
      r.body.append(buffer_, eol + 2, size);
      buffer_.erase(0, eol + 2 + size + 2);
      if (size == 0) break;  // no trailers from the servers we talk to
    }
  } else if (content_length >= 0) {
    while (buffer_.size() < static_cast<size_t>(content_length)) {
      if (Status s = Fill(deadline); !s) return s.error();
    }
    r.body = buffer_.substr(0, static_cast<size_t>(content_length));
    buffer_.erase(0, static_cast<size_t>(content_length));
  } else if (r.status != 204 && r.status != 304 && r.status >= 200) {
    // Body until the server closes.
    *keep_alive = false;
    for (;;) {
      Status s = Fill(deadline);
      if (!s) {
        if (s.error().code() != Code::kIo) return s.error();
        break;
      }
    }
    r.body = std::move(buffer_);
    buffer_.clear();
  }
  return r;
}

Result<HttpResponse> HttpConnection::Request(std::string_view method, std::string_view path, std::string_view body,
                                             std::chrono::milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  request_.clear();
  request_.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ");
  request_.append(endpoint_.host).append(":").append(std::to_string(endpoint_.port)).append("\r\n");
  if (!bearer_.empty()) request_.append("Authorization: Bearer ").append(bearer_).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    request_.append("Content-Type: application/json\r\nContent-Length: ").append(std::to_string(body.size()));
    request_.append("\r\n");
  }
  request_.append("\r\n").append(body);

  // A kept-alive connection the server closed while idle fails on first use;
  // retry that once on a fresh connection (nothing was processed).
  for (int attempt = 0;; ++attempt) {
    bool fresh = fd_ < 0;
    if (fresh) {
      if (Status s = Connect(); !s) return s.error();
    }
    Status sent = SendAll(request_, deadline);
    bool keep_alive = false;
    Result<HttpResponse> r = sent ? ReadResponse(deadline, &keep_alive) : Result<HttpResponse>(sent.error());
    if (r) {
      if (!keep_alive) Close();
      return r;
    }
    Close();
    if (fresh || attempt > 0 || r.error().code() != Code::kIo) return r;
  }
}

Result<HttpResponse> HttpOnce(const Endpoint& endpoint, std::string_view method, std::string_view path,
                              std::string_view body, const std::string& bearer, std::chrono::milliseconds timeout) {
  HttpConnection c(endpoint, bearer);
  return c.Request(method, path, body, timeout);
}

std::string Base64(std::string_view bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 |
                 static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::vector<int>> FreePorts(size_t n) {
  std::vector<int> fds, ports;
  Status status = Ok();
  for (size_t i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      status = Errno("socket");
      break;
    }
    fds.push_back(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      status = Errno("bind 127.0.0.1:0");
      break;
    }
    ports.push_back(ntohs(addr.sin_port));
  }
  for (int fd : fds) ::close(fd);
  if (!status) return status.error();
  return ports;
}

}  // namespace bosun::bench
