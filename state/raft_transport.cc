// libraft's TCP transport with TCP_NODELAY (state/raft_transport.h).
#include "state/raft_transport.h"

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
  int rv = self->inner_.init(&self->inner_, id, address);
  if (rv != 0) self->CopyError();
  return rv;
}

int NoDelayTransport::DoListen(raft_uv_transport* t, raft_uv_accept_cb cb) {
  NoDelayTransport* self = Of(t);
  self->accept_cb_ = cb;
  int rv = self->inner_.listen(&self->inner_, &OnAccept);
  if (rv != 0) self->CopyError();
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
