// libraft's TCP transport with TCP_NODELAY (state/raft_transport.h).
#include "state/raft_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace bosun::state::internal {

// Our request to the inner transport, standing in for libraft's.
struct NoDelayTransport::Connect {
  raft_uv_connect mine{};
  raft_uv_connect* theirs = nullptr;
  raft_uv_connect_cb cb = nullptr;
};

namespace {

void NoDelay(uv_stream_s* stream) {
  if (stream != nullptr && stream->type == UV_TCP) uv_tcp_nodelay(reinterpret_cast<uv_tcp_t*>(stream), 1);
}

// Why binding and listening on "host:port" fails, from the kernel: libraft
// only says RAFT_IOERR. Tried the way libuv does (SO_REUSEADDR), so a port
// left in TIME_WAIT is not blamed.
std::string ListenError(const std::string& address) {
  const std::string where = "cannot listen on " + address + ": ";
  const size_t colon = address.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  char* end = nullptr;
  const long port = colon == std::string::npos ? -1 : std::strtol(address.c_str() + colon + 1, &end, 10);
  // Not an IPv4 address and port (libraft parses the same way): nothing
  // to add to libraft's own answer.
  if (port < 0 || port > 65535 || end == nullptr || *end != '\0' || end == address.c_str() + colon + 1 ||
      inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    return "";
  }
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return where + std::strerror(errno);
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  std::string out;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1) != 0) {
    const int err = errno;
    out = where + std::strerror(err);
    if (err == EADDRINUSE) out += " (another process has this port: is another bosun server using it?)";
  } else {
    out = where + "it failed and then worked: try again";
  }
  ::close(fd);
  return out;
}

}  // namespace

int NoDelayTransport::Init(uv_loop_t* loop) {
  int rv = raft_uv_tcp_init(&inner_, loop);
  if (rv != 0) return rv;
  initialised_ = true;
  inner_.data = this;
  outer_.impl = this;
  outer_.init = &DoInit;
  outer_.listen = &DoListen;
  outer_.connect = &DoConnect;
  outer_.close = &DoClose;
  return 0;
}

void NoDelayTransport::Release() {
  if (!initialised_) return;
  initialised_ = false;
  raft_uv_tcp_close(&inner_);
}

void NoDelayTransport::CopyError() {
  std::memcpy(outer_.errmsg, inner_.errmsg, sizeof outer_.errmsg);
}

int NoDelayTransport::DoInit(raft_uv_transport* t, raft_id id, const char* address) {
  NoDelayTransport* self = Of(t);
  self->address_ = address != nullptr ? address : "";
  int rv = self->inner_.init(&self->inner_, id, address);
  if (rv != 0) self->CopyError();
  return rv;
}

int NoDelayTransport::DoListen(raft_uv_transport* t, raft_uv_accept_cb cb) {
  NoDelayTransport* self = Of(t);
  self->accept_cb_ = cb;
  int rv = self->inner_.listen(&self->inner_, &OnAccept);
  if (rv != 0) {
    self->CopyError();
    self->listen_error_ = ListenError(self->address_);
  }
  return rv;
}

void NoDelayTransport::OnAccept(raft_uv_transport* inner, raft_id id, const char* address, uv_stream_s* stream) {
  auto* self = static_cast<NoDelayTransport*>(inner->data);
  NoDelay(stream);
  self->accept_cb_(&self->outer_, id, address, stream);
}

int NoDelayTransport::DoConnect(raft_uv_transport* t, raft_uv_connect* req, raft_id id, const char* address,
                                raft_uv_connect_cb cb) {
  NoDelayTransport* self = Of(t);
  auto* c = new Connect;
  c->mine.data = c;
  c->theirs = req;
  c->cb = cb;
  int rv = self->inner_.connect(&self->inner_, &c->mine, id, address, &OnConnect);
  if (rv != 0) {
    self->CopyError();
    delete c;
  }
  return rv;
}

void NoDelayTransport::OnConnect(raft_uv_connect* req, uv_stream_s* stream, int status) {
  auto* c = static_cast<Connect*>(req->data);
  raft_uv_connect* theirs = c->theirs;
  raft_uv_connect_cb cb = c->cb;
  delete c;  // the inner transport is done with it once it calls back
  if (status == 0) NoDelay(stream);
  cb(theirs, stream, status);
}

void NoDelayTransport::DoClose(raft_uv_transport* t, raft_uv_transport_close_cb cb) {
  NoDelayTransport* self = Of(t);
  self->close_cb_ = cb;
  self->inner_.close(&self->inner_, &OnClosed);
}

void NoDelayTransport::OnClosed(raft_uv_transport* inner) {
  auto* self = static_cast<NoDelayTransport*>(inner->data);
  if (self->close_cb_ != nullptr) self->close_cb_(&self->outer_);
}

}  // namespace bosun::state::internal
