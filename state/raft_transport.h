// state/raft_transport.h — libraft's TCP transport, with Nagle's algorithm
// turned off on every connection. Private to the state component.
//
// libraft 0.15's uv TCP transport never sets TCP_NODELAY. Raft's messages are
// small and wait on each other (an AppendEntries, then its result), so with
// Nagle a message written while the previous one is still unacknowledged sits
// in the kernel until the peer's delayed ACK, up to 40 ms on Linux: under 100
// writers, 3 members answered 10% of writes 35–55 ms late while the median
// was 11 ms (docs/PERFORMANCE.md, "State"). This transport hands every call
// to libraft's own (raft_uv_tcp_init) and sets TCP_NODELAY on each stream it
// accepts or connects before libraft sees it.
#pragma once

// libraft's headers declare C functions without extern "C" (DESIGN.md §3).
extern "C" {
#include <raft.h>
#include <raft/uv.h>
}
#include <uv.h>

#include <string>

namespace bosun::state::internal {

class NoDelayTransport {
 public:
  NoDelayTransport() = default;
  NoDelayTransport(const NoDelayTransport&) = delete;  // libraft holds pointers into it
  NoDelayTransport& operator=(const NoDelayTransport&) = delete;

  // raft_uv_tcp_init on `loop`: 0, or libraft's error code (errmsg() says why).
  int Init(uv_loop_t* loop);
  // What raft_uv_init takes.
  raft_uv_transport* get() { return &outer_; }
  const char* errmsg() const { return inner_.errmsg; }
  // Why listening on this member's address failed, for a person ("cannot
  // listen on 127.0.0.1:7001: Address already in use"); empty if it did not.
  // libraft 0.15 returns a bare RAFT_IOERR and leaves its message empty.
  const std::string& listen_error() const { return listen_error_; }
  // raft_uv_tcp_close: after raft_uv_close, as for libraft's own transport.
  void Release();

 private:
  struct Connect;
  static NoDelayTransport* Of(raft_uv_transport* t) { return static_cast<NoDelayTransport*>(t->impl); }
  static int DoInit(raft_uv_transport* t, raft_id id, const char* address);
  static int DoListen(raft_uv_transport* t, raft_uv_accept_cb cb);
  static int DoConnect(raft_uv_transport* t, raft_uv_connect* req, raft_id id, const char* address,
                       raft_uv_connect_cb cb);
  static void DoClose(raft_uv_transport* t, raft_uv_transport_close_cb cb);
  static void OnAccept(raft_uv_transport* inner, raft_id id, const char* address, uv_stream_s* stream);
  static void OnConnect(raft_uv_connect* req, uv_stream_s* stream, int status);
  static void OnClosed(raft_uv_transport* inner);
  void CopyError();

  raft_uv_transport outer_{};  // given to libraft; outer_.data belongs to it
  raft_uv_transport inner_{};  // libraft's TCP transport
  raft_uv_accept_cb accept_cb_ = nullptr;
  raft_uv_transport_close_cb close_cb_ = nullptr;
  bool initialised_ = false;
  std::string address_;  // this member's, as given to init
  std::string listen_error_;
};

}  // namespace bosun::state::internal
