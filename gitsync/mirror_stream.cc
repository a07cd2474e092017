// gitsync/mirror_stream.cc — the socket stream bosun gives libgit2, and the
// watchdog that ends a transfer which stopped making progress.
//
// Why a stream of our own: libgit2 1.5 connects with a blocking connect()
// and reads with a blocking recv(), with no timeout option
// (GIT_OPT_SET_SERVER_TIMEOUT arrived in 1.7). Transfer-progress callbacks
// cannot help alone: they run only when data arrives, so a silent remote
// never calls them. libgit2 builds every network transport on the
// GIT_STREAM_STANDARD stream: HTTP and git:// directly, HTTPS by wrapping it
// in its TLS stream (mbedTLS in Debian's build), and SSH by handing the
// stream's socket to libssh2. Registering our own standard stream gives us
// the socket, so we can connect with a deadline and, when no byte moves for
// the timeout, shut the socket down: that ends any blocked read (ours, the
// TLS stream's or libssh2's), and libgit2 fails the fetch normally, freeing
// what it holds.
//
// The SSH transport of libgit2 1.5 reads the socket out of the stream as
// GIT_CONTAINER_OF(io, git_socket_stream, parent)->s (src/libgit2/transports/
// ssh.c), so our stream begins with the exact layout of git_socket_stream:
// parent, host, port, socket. The SSH test (mirror_remote_test.cc) fails if
// a libgit2 upgrade changes that.
#include <cstdlib>
#include <string>

#include <errno.h>
#include <fcntl.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gitsync/mirror_internal.h"

namespace bosun::gitsync {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

thread_local TransferWatch* g_current_watch = nullptr;

// Without a watch (a stream opened outside a Fetch) connects still give up
// after this long.
constexpr std::chrono::milliseconds kDefaultConnectTimeout{60000};

// Layout-compatible with libgit2 1.5's git_socket_stream (see above); our own
// fields come after.
struct WatchedStream {
  git_stream parent;
  char* host;
  char* port;
  int s;
  TransferWatch* watch;
};

WatchedStream* Self(git_stream* stream) {
  return reinterpret_cast<WatchedStream*>(stream);
}

int Fail(const std::string& message) {
  git_error_set_str(GIT_ERROR_NET, message.c_str());
  return -1;
}

std::string HostPort(const WatchedStream* s) {
  return std::string(s->host) + ":" + s->port;
}

// The watch ended the transfer: timed out or cancelled.
bool Expired(const WatchedStream* s) {
  return s->watch != nullptr && s->watch->stopped();
}

std::string TimedOutMessage(const WatchedStream* s) {
  if (s->watch->cancelled()) return "the transfer from " + HostPort(s) + " was cancelled";
  return "no data from " + HostPort(s) + " for " + std::to_string(s->watch->timeout().count() / 1000) + "s";
}

// One non-blocking connect, waited for in short slices so an expired watch
// ends it too.
int ConnectOne(WatchedStream* s, const addrinfo* ai, Clock::time_point deadline, std::string* reason) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
  if (fd < 0) {
    *reason = strerror(errno);
    return -1;
  }
  int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
  if (rc != 0 && errno != EINPROGRESS) {
    *reason = strerror(errno);
    close(fd);
    return -1;
  }
  while (rc != 0) {
    if (Expired(s) || Clock::now() >= deadline) {
      *reason = "timed out";
      close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int n = poll(&p, 1, 200);
    if (n < 0 && errno != EINTR) {
      *reason = strerror(errno);
      close(fd);
      return -1;
    }
    if (n > 0) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        *reason = strerror(err);
        close(fd);
        return -1;
      }
      rc = 0;
    }
  }
  // Blocking from here on: libgit2's own socket is, and libssh2 expects to
  // find the socket as libgit2 would leave it.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

int StreamConnect(git_stream* stream) {
  WatchedStream* s = Self(stream);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int rc = getaddrinfo(s->host, s->port, &hints, &list);
  if (rc != 0) return Fail("cannot resolve " + std::string(s->host) + ": " + gai_strerror(rc));
  auto timeout = s->watch != nullptr ? s->watch->timeout() : kDefaultConnectTimeout;
  Clock::time_point deadline = Clock::now() + timeout;
  std::string reason = "no address";
  for (addrinfo* ai = list; ai != nullptr && s->s < 0; ai = ai->ai_next) s->s = ConnectOne(s, ai, deadline, &reason);
  freeaddrinfo(list);
  if (s->s < 0) return Fail("cannot connect to " + HostPort(s) + ": " + reason);
  if (s->watch != nullptr) {
    s->watch->AddSocket(s->s);
    s->watch->Touch();
  }
  return 0;
}

ssize_t StreamRead(git_stream* stream, void* data, size_t len) {
  WatchedStream* s = Self(stream);
  ssize_t n;
  do {
    n = recv(s->s, data, len, 0);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    if (s->watch != nullptr) {
      s->watch->Touch();
      if (!s->watch->Received(static_cast<size_t>(n))) {
        return Fail(HostPort(s) + " sent more than " + std::to_string(s->watch->byte_limit() >> 20) +
                    " MiB listing its refs; gave up (a broken proxy, or not a Git server?)");
      }
    }
    return n;
  }
  // A socket the watchdog shut down reads as closed: say why.
  if (Expired(s)) return Fail(TimedOutMessage(s));
  if (n < 0) return Fail("cannot read from " + HostPort(s) + ": " + strerror(errno));
  return 0;
}

ssize_t StreamWrite(git_stream* stream, const char* data, size_t len, int flags) {
  (void)flags;
  WatchedStream* s = Self(stream);
  size_t done = 0;
  while (done < len) {
    ssize_t n = send(s->s, data + done, len - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && Expired(s)) return Fail(TimedOutMessage(s));
    if (n < 0) return Fail("cannot write to " + HostPort(s) + ": " + strerror(errno));
    done += static_cast<size_t>(n);
    if (s->watch != nullptr) s->watch->Touch();
  }
  return static_cast<ssize_t>(len);
}

int StreamClose(git_stream* stream) {
  WatchedStream* s = Self(stream);
  if (s->s >= 0) {
    // Deregister before closing, so the watchdog never shuts down a number
    // the kernel has handed to someone else.
    if (s->watch != nullptr) s->watch->RemoveSocket(s->s);
    close(s->s);
    s->s = -1;
  }
  return 0;
}

void StreamFree(git_stream* stream) {
  WatchedStream* s = Self(stream);
  StreamClose(stream);
  free(s->host);
  free(s->port);
  free(s);
}

int StreamInit(git_stream** out, const char* host, const char* port) {
  auto* s = static_cast<WatchedStream*>(calloc(1, sizeof(WatchedStream)));
  if (s == nullptr) return Fail("out of memory");
  s->parent.version = GIT_STREAM_VERSION;
  s->parent.connect = StreamConnect;
  s->parent.read = StreamRead;
  s->parent.write = StreamWrite;
  s->parent.close = StreamClose;
  s->parent.free = StreamFree;
  s->host = strdup(host);
  s->port = strdup(port);
  s->s = -1;
  s->watch = TransferWatch::Current();
  *out = &s->parent;
  return 0;
}

}  // namespace

void RegisterWatchedStream() {
  git_stream_registration registration{};
  registration.version = GIT_STREAM_VERSION;
  registration.init = StreamInit;
  git_stream_register(GIT_STREAM_STANDARD, &registration);
}

TransferWatch::TransferWatch(std::chrono::milliseconds timeout, const std::atomic<bool>* cancel)
    : timeout_(timeout), cancel_(cancel), last_progress_ns_(NowNs()), thread_([this] { Run(); }) {}

TransferWatch::~TransferWatch() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

TransferWatch::Scope::Scope(TransferWatch* watch) : previous_(g_current_watch) {
  g_current_watch = watch;
}
TransferWatch::Scope::~Scope() {
  g_current_watch = previous_;
}
TransferWatch* TransferWatch::Current() {
  return g_current_watch;
}

void TransferWatch::Touch() {
  last_progress_ns_.store(NowNs());
}

bool TransferWatch::Received(size_t bytes) {
  const uint64_t limit = byte_limit_.load();
  const uint64_t total = received_.fetch_add(bytes) + bytes;
  if (limit == 0 || total <= limit) return true;
  over_limit_ = true;
  return false;
}

void TransferWatch::SetByteLimit(uint64_t limit) {
  received_ = 0;
  byte_limit_ = limit;
}

void TransferWatch::AddSocket(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  sockets_.insert(fd);
  if (expired_ || cancelled_) shutdown(fd, SHUT_RDWR);
}

void TransferWatch::RemoveSocket(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  sockets_.erase(fd);
}

void TransferWatch::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    auto last = Clock::time_point(std::chrono::nanoseconds(last_progress_ns_.load()));
    auto deadline = last + timeout_;
    const bool cancelled = cancel_ != nullptr && cancel_->load();
    if (cancelled || Clock::now() >= deadline) {
      (cancelled ? cancelled_ : expired_) = true;
      for (int fd : sockets_) shutdown(fd, SHUT_RDWR);
      cv_.wait(lock, [this] { return stop_; });
      return;
    }
    // With a cancel flag, wake often enough to notice it.
    if (cancel_ != nullptr) deadline = std::min(deadline, Clock::now() + kCancelPoll);
    cv_.wait_until(lock, deadline);
  }
}

}  // namespace bosun::gitsync
