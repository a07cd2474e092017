// Forwarding to the leader (docs/API.md "Several members"): a member that
// does not lead sends writes and linearizable reads to the leader's API with
// cpprestsdk's http_client — same method, path, query, headers (the
// Authorization header included: the leader authenticates again) and body —
// and relays the answer. If the leader cannot be reached the caller gets 503
// with details.leader, and retries.
#include <algorithm>
#include <cctype>

#include "core/log.h"
#include "state/api_internal.h"
#include "core/ascii.h"

namespace bosun::state::api_internal {
namespace {

// Hop-by-hop headers and those the client sets itself. Expect too: this
// member already answered the caller's 100-continue, and cpprestsdk's client
// would take the leader's 100 for the final answer.
bool Skip(const std::string& name) {
  static const char* kSkip[] = {"host", "content-length",      "connection", "keep-alive", "transfer-encoding",
                                "upgrade", "te", "proxy-authorization", "trailer", "expect"};
  std::string n = AsciiLower(name);
  return std::any_of(std::begin(kSkip), std::end(kSkip), [&](const char* s) { return n == s; });
}

}  // namespace

std::shared_ptr<web::http::client::http_client> Core::ClientFor(const std::string& url) {
  std::lock_guard l(clients_mu_);
  auto it = clients_.find(url);
  if (it != clients_.end()) return it->second;
  web::http::client::http_client_config config;
  config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(options_.proxy_timeout));
  auto client = std::make_shared<web::http::client::http_client>(web::uri(url), config);
  clients_[url] = client;
  return client;
}

void Core::Forward(const CallPtr& call, const std::string& leader_url) {
  std::shared_ptr<web::http::client::http_client> client;
  try {
    client = ClientFor(leader_url);
  } catch (const std::exception& e) {
    return call->ReplyError(
        Unavailable("the leader's API URL " + leader_url + " is not usable: " + e.what(), leader_url));
  }
  web::http::http_request out(call->method());
  try {
    out.set_request_uri(web::uri(call->target()));
  } catch (const std::exception& e) {
    return call->ReplyError(BadRequest(std::string("cannot forward this request URI: ") + e.what()));
  }
  for (const auto& [name, value] : call->headers()) {
    if (!Skip(name)) out.headers().add(name, value);
  }
  out.headers().add("X-Bosun-Forwarded", url_);
  if (!call->body().empty() || call->method() == "POST" || call->method() == "PUT" || call->method() == "PATCH") {
    std::string ct = call->Header("Content-Type");
    out.set_body(call->body(), ct.empty() ? std::string("application/json") : ct);
  }
  log::Debug("api", "forwarding to the leader",
             {{"method", call->method()}, {"path", call->path()}, {"leader", leader_url}});
  client->request(out)
      .then([call](web::http::http_response resp) {
        return resp.extract_vector().then([call, resp](std::vector<unsigned char> body) {
          std::map<std::string, std::string> headers;
          std::string ct = "application/json";
          for (const auto& [name, value] : resp.headers()) {
            if (AsciiLower(name) == "content-type") {
              ct = value;
            } else if (!Skip(name)) {
              headers[name] = value;
            }
          }
          call->ReplyText(resp.status_code(), ct, std::string(body.begin(), body.end()), headers);
        });
      })
      .then([call, leader_url](pplx::task<void> t) {
        try {
          t.get();
        } catch (const std::exception& e) {
          log::Warn("api", "cannot reach the leader", {{"leader", leader_url}, {"error", e.what()}});
          call->ReplyError(Unavailable("cannot reach the leader at " + leader_url + ": " + e.what(), leader_url));
        }
      });
}

}  // namespace bosun::state::api_internal
