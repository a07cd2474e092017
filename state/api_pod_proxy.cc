// pods/NAME/log and pods/NAME/exec (docs/API.md "Logs and exec"): the API
// server finds the node the pod is bound to — the Node's InternalIP address
// and status.daemonEndpoints.kubeletEndpoint.Port — and forwards the request
// there, streaming the answer back (so `bosun logs -f` follows). The caller's
// Authorization header goes along; the node checks it with the API again.
// Any member serves these from its own store: the pod's binding and the
// node's address change rarely, and a stale read only names a node that
// answers 404.
#include <algorithm>

#include <cpprest/http_client.h>

#include "core/log.h"
#include "state/api_internal.h"

namespace bosun::state::api_internal {
namespace {

constexpr const char* kComponent = "api";
constexpr size_t kMaxBuffered = 16u << 20;

// The node's endpoint, or why there is none.
struct NodeTarget {
  std::string url;
  std::optional<ApiError> error;
};

std::string NodeAddress(const Json& node) {
  const Json& addrs = Object::Field(Object::Field(node, "status"), "addresses");
  if (!addrs.is_array()) return "";
  std::string fallback;
  for (const Json& a : addrs) {
    if (!a.is_object() || !a.contains("address") || !a["address"].is_string()) continue;
    std::string type = a.value("type", "");
    if (type == "InternalIP") return a["address"].get<std::string>();
    if (type == "ExternalIP" && fallback.empty()) fallback = a["address"].get<std::string>();
  }
  return fallback;
}

// Copies the node's answer body to the caller as it arrives, 4 KiB at a
// time (as cpprestsdk's own server reads a body stream). The caller going
// away cancels the node's request.
class BodyPump : public std::enable_shared_from_this<BodyPump> {
 public:
  BodyPump(std::shared_ptr<web::http::client::http_client> client, concurrency::streams::istream in,
           std::shared_ptr<HttpStream> out, pplx::cancellation_token_source cancel)
      : client_(std::move(client)), in_(std::move(in)), out_(std::move(out)), cancel_(std::move(cancel)) {}

  void Next() {
    auto self = shared_from_this();
    in_.streambuf().getn(buf_, sizeof buf_).then([self](pplx::task<size_t> t) {
      size_t n = 0;
      try {
        n = t.get();
      } catch (const std::exception&) {
        n = 0;  // the node's stream broke: end the caller's
      }
      if (n == 0) return self->out_->End();
      // A caller that does not read: end its stream rather than hold the
      // node's output for it without bound (as a watch does).
      if (self->out_->buffered() > kMaxBuffered) {
        log::Warn(kComponent, "log or exec client too slow; ending its stream");
        self->out_->End();
        return self->cancel_.cancel();
      }
      if (!self->out_->Write(std::string_view(reinterpret_cast<const char*>(self->buf_), n))) {
        return self->cancel_.cancel();
      }
      self->Next();
    });
  }

 private:
  std::shared_ptr<web::http::client::http_client> client_;  // alive while the body is read
  concurrency::streams::istream in_;
  std::shared_ptr<HttpStream> out_;
  pplx::cancellation_token_source cancel_;
  uint8_t buf_[4096];
};

}  // namespace

void Core::PodProxy(const CallPtr& call, const Target& t, const std::string& subresource) {
  const std::string& m = call->method();
  if (subresource == "log" && m != "GET") return call->ReplyError(MethodNotAllowed(m, call->path()));
  if (subresource == "exec" && m != "POST" && m != "GET") return call->ReplyError(MethodNotAllowed(m, call->path()));
  AfterBarrier(call, ReadConsistency::kSerializable, [this, call, t, subresource] {
    auto kv = service_->store().Get(t.Key());
    if (!kv) return call->ReplyError(FromError(kv.error(), t.kind, t.name));
    auto pod = DecodeKv(*t.kind, *kv);
    if (!pod) return call->ReplyError(Internal("cannot read the stored pod"));
    std::string node_name = Object::Field(Object::Field(*pod, "spec"), "nodeName").is_string()
                                ? (*pod)["spec"]["nodeName"].get<std::string>()
                                : "";
    if (node_name.empty()) {
      return call->ReplyError(BadRequest("pod \"" + t.name + "\" in namespace \"" + t.ns +
                                         "\" is not bound to a node yet: no " + subresource + " to show"));
    }
    const KindInfo* node_kind = KindRegistry::Builtin().Find(GroupVersionKind{"", "v1", "Node"});
    if (node_kind == nullptr) return call->ReplyError(Internal("the Node kind is not registered"));
    auto node_kv = service_->store().Get(StoreKey(*node_kind, "", node_name));
    if (!node_kv) {
      return call->ReplyError(
          Unavailable("pod \"" + t.name + "\" is bound to node \"" + node_name + "\", which is not registered",
                      std::nullopt));
    }
    auto node = DecodeKv(*node_kind, *node_kv);
    if (!node) return call->ReplyError(Internal("cannot read the stored node"));
    std::string address = NodeAddress(*node);
    const Json& port_j =
        Object::Field(Object::Field(Object::Field(Object::Field(*node, "status"), "daemonEndpoints"), "kubeletEndpoint"),
                      "Port");
    int port = port_j.is_number_integer() ? port_j.get<int>() : 0;
    if (address.empty() || port <= 0) {
      return call->ReplyError(Unavailable("node \"" + node_name +
                                              "\" has not reported its address and daemon port (status.addresses, "
                                              "status.daemonEndpoints.kubeletEndpoint.Port)",
                                          std::nullopt));
    }
    std::string base = "http://" + (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" +
                       std::to_string(port);
    // Follows and execs run long: one client per request with a long
    // time-out (cpprestsdk's applies to each read).
    web::http::client::http_client_config config;
    config.set_timeout(std::chrono::hours(24));
    std::shared_ptr<web::http::client::http_client> client;
    web::http::http_request out(subresource == "exec" ? web::http::method(web::http::methods::POST)
                                                      : web::http::method(web::http::methods::GET));
    try {
      client = std::make_shared<web::http::client::http_client>(web::uri(base), config);
      out.set_request_uri(web::uri(call->target()));
    } catch (const std::exception& e) {
      return call->ReplyError(Internal("cannot address node \"" + node_name + "\" at " + base + ": " + e.what()));
    }
    std::string auth = call->Header("Authorization");
    if (!auth.empty()) out.headers().add("Authorization", auth);
    log::Debug(kComponent, "forwarding to the node",
               {{"path", call->path()}, {"node", node_name}, {"url", base}});
    pplx::cancellation_token_source cancel;
    client->request(out, cancel.get_token())
        .then([call, client, cancel](web::http::http_response resp) {
          std::string ct = "text/plain; charset=utf-8";
          if (auto h = resp.headers().find("Content-Type"); h != resp.headers().end()) ct = h->second;
          auto stream = call->ReplyStream(resp.status_code(), ct, {{"Cache-Control", "no-cache"}});
          if (!stream) return cancel.cancel();
          stream->OnEnded([cancel](const std::string&) mutable { cancel.cancel(); });
          std::make_shared<BodyPump>(client, resp.body(), std::move(stream), cancel)->Next();
        })
        .then([call, node_name, base](pplx::task<void> done) {
          try {
            done.get();
          } catch (const std::exception& e) {
            if (call->replied()) return;
            log::Warn(kComponent, "cannot reach the node", {{"node", node_name}, {"url", base}, {"error", e.what()}});
            call->ReplyError(Unavailable("cannot reach node \"" + node_name + "\" at " + base + ": " + e.what(),
                                         std::nullopt));
          }
        });
  });
}

}  // namespace bosun::state::api_internal
