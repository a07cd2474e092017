// state/client_internal.h — the pieces of the API client shared by its files:
//   client.cc        transport (server choice, fail-over), errors, the verbs
//   client_watch.cc  watch streams, reconnects and re-list diffing
//   client_batch.cc  Client::Batch (POST /bosun/v1/batch)
// Private to the state component.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <cpprest/http_client.h>

#include "state/client.h"

namespace bosun::state {

namespace client_internal {

// What a request is about, for error messages.
struct Subject {
  const KindInfo* kind = nullptr;
  std::string ns;
  std::string name;
};

// An answer with its status and body, and the server that gave it.
struct HttpResult {
  int status = 0;
  std::string body;
  std::string server;
};

// A 2xx-4xx answer (503s are handled by the fail-over loop), with its body
// when it was read (every request but a stream).
struct Answer {
  web::http::http_response response;
  std::string server;
  std::string body;
};

// An open watch stream: the headers have arrived with 200; the body is read
// by the caller line by line.
struct Stream {
  web::http::http_response response;
  std::string server;
};

// The kind and namespace of an object about to be written.
struct Placed {
  const KindInfo* kind = nullptr;
  std::string ns;  // "default" when a namespaced object names none; "" for cluster-scoped kinds
};
// kInvalid when bosun does not know the object's apiVersion and kind.
Result<Placed> Place(const Object& o);
// kInvalid "cannot <verb> <resource> without a name" when `name` is empty.
Status NeedName(const KindInfo& kind, const std::string& name, const char* verb);

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string PercentEncode(const std::string& s);

// The error for a non-2xx answer (see client.h for the mapping).
Error ErrorFromAnswer(int status, const std::string& body, const std::string& server, const std::string& method,
                      const Subject& subject);

}  // namespace client_internal

struct Client::Impl {
  ClientOptions options;

  // One request, with fail-over (see client.h). `body` may be null. A
  // cancelled token fails the request with kUnavailable "cancelled".
  Result<client_internal::HttpResult> Send(const std::string& method, const std::string& target,
                                           const std::string* body, const std::string& content_type, bool is_write,
                                           const pplx::cancellation_token& token = pplx::cancellation_token::none());

  // Like Send for a GET whose body streams (a watch): returns once the headers
  // are in. Non-200 answers become errors (410 → kCompacted).
  Result<client_internal::Stream> OpenStream(const std::string& target, const client_internal::Subject& subject,
                                             const pplx::cancellation_token& token);

  // Send plus decoding: a 2xx answer's body as JSON, else the error.
  Result<Json> Call(const std::string& method, const std::string& target, const Json* body,
                    const std::string& content_type, bool is_write, const client_internal::Subject& subject,
                    const pplx::cancellation_token& token = pplx::cancellation_token::none());

  Result<ObjectList> List(const KindInfo& kind, const std::string& ns, const Selectors& selectors, size_t limit,
                          const std::string& cont,
                          const pplx::cancellation_token& token = pplx::cancellation_token::none());
  // Every page of a list, at the revision of the first page.
  Result<ObjectList> ListAll(const KindInfo& kind, const std::string& ns, const Selectors& selectors,
                             const pplx::cancellation_token& token);

 private:
  enum class Failure { kNone, kConnect, kTimeout, kCancelled, kOther };
  struct Attempt {
    Failure failure = Failure::kNone;
    std::string reason;  // for a person, when failure != kNone
    web::http::http_response response;
    std::string body;  // read unless streaming
  };
  Attempt SendOnce(const std::string& server, const web::http::http_request& request,
                   const pplx::cancellation_token& token, bool stream);
  std::shared_ptr<web::http::client::http_client> HttpClient(const std::string& server, bool stream);
  // Servers in the order to try: the last one that answered, then the rest.
  std::vector<std::string> Order();
  void Answered(const std::string& server);
  web::http::http_request NewRequest(const std::string& method, const std::string& target, const std::string* body,
                                     const std::string& content_type) const;
  // The fail-over loop shared by Send and OpenStream, retried while every
  // server answers 503 (ClientOptions::unavailable_retry).
  Result<client_internal::Answer> Exchange(const std::string& method, const std::string& target,
                                           const std::string* body, const std::string& content_type, bool is_write,
                                           const pplx::cancellation_token& token, bool stream);
  // One round of it: each server once, following leader hints. Sets
  // *answered_503 when the error is a server's 503.
  Result<client_internal::Answer> ExchangeOnce(const std::string& method, const std::string& target,
                                               const std::string* body, const std::string& content_type, bool is_write,
                                               const pplx::cancellation_token& token, bool stream, bool* answered_503);

  std::mutex mu_;
  std::string preferred_;                                                                  // guarded by mu_
  std::map<std::string, std::shared_ptr<web::http::client::http_client>> clients_;         // guarded by mu_
  std::map<std::string, std::shared_ptr<web::http::client::http_client>> stream_clients_;  // guarded by mu_
};

}  // namespace bosun::state
