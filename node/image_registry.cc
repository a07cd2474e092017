// The registry client: distribution API v2 over cpprestsdk's http_client.
// Anonymous first; a 401 names how to authenticate (WWW-Authenticate): Bearer
// (a token from the realm, with basic credentials when the auth file has
// them) or Basic. Redirects (blob storage on another host) are followed by
// hand, without the registry's Authorization header when the host changes.
#include <cpprest/filestream.h>
#include <cpprest/http_client.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "core/log.h"
#include "crypto/sshsig.h"
#include "node/image_internal.h"

namespace http = web::http;

namespace bosun::node::image_internal {
namespace {

constexpr int kMaxRedirects = 5;

// `Bearer realm="…",service="…",scope="…"` → scheme "bearer" and the params.
struct Challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};
Challenge ParseChallenge(const std::string& header) {
  Challenge c;
  size_t sp = header.find(' ');
  c.scheme = header.substr(0, sp);
  std::transform(c.scheme.begin(), c.scheme.end(), c.scheme.begin(), ::tolower);
  size_t i = sp == std::string::npos ? header.size() : sp + 1;
  while (i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ',')) i++;
    size_t eq = header.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = header.substr(i, eq - i);
    std::transform(key.begin(), key.end(), key.begin(), ::tolower);
    std::string value;
    i = eq + 1;
    if (i < header.size() && header[i] == '"') {
      i++;
      while (i < header.size() && header[i] != '"') {
        if (header[i] == '\\' && i + 1 < header.size()) i++;
        value += header[i++];
      }
      i++;
    } else {
      size_t end = header.find(',', i);
      value = header.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end == std::string::npos ? header.size() : end;
    }
    c.params[key] = value;
  }
  return c;
}

std::string Header(const http::http_response& r, const char* name) {
  auto it = r.headers().find(name);
  return it == r.headers().end() ? "" : it->second;
}

class CppRestRegistry : public RegistryClient {
 public:
  CppRestRegistry(std::string registry, std::string base, std::string username, std::string password)
      : registry_(std::move(registry)), base_(std::move(base)), username_(std::move(username)),
        password_(std::move(password)) {}

  Result<Fetched> GetManifest(const std::string& repository, const std::string& selector) override {
    std::string accept = std::string(kOciManifest) + ", " + kOciIndex + ", " + kDockerManifest + ", " + kDockerList;
    auto r = Get(repository, base_ + "/v2/" + repository + "/manifests/" + selector, accept, "", nullptr);
    if (!r) return r.error();
    Fetched f;
    f.body = std::move(r->body);
    f.media_type = r->content_type.substr(0, r->content_type.find(';'));
    f.digest_header = r->digest;
    return f;
  }

  Status GetBlob(const std::string& repository, const std::string& digest, const std::string& dest_path,
                 const std::function<void(int64_t, int64_t)>& progress) override {
    auto r = Get(repository, base_ + "/v2/" + repository + "/blobs/" + digest, "*/*", dest_path, &progress);
    if (!r) return r.error().Wrap("blob " + digest);
    return Ok();
  }

 private:
  struct Answer {
    int status = 0;
    std::string body;
    std::string content_type;
    std::string digest;
    std::string location;
    std::string challenge;
    int64_t length = -1;
  };

  // One request; the body goes to `file` when given (and the answer is 2xx).
  Result<Answer> Once(const std::string& url, const std::string& accept, const std::string& authorization,
                      const std::string& file, const std::function<void(int64_t, int64_t)>* progress) {
    try {
      web::uri uri(url);
      http::client::http_client_config cfg;
      cfg.set_timeout(std::chrono::seconds(60));
      http::client::http_client client(web::uri_builder().set_scheme(uri.scheme()).set_host(uri.host()).set_port(uri.port()).to_uri(), cfg);
      http::http_request req(http::methods::GET);
      req.set_request_uri(web::uri_builder().set_path(uri.path()).set_query(uri.query()).to_uri());
      if (!accept.empty()) req.headers().add("Accept", accept);
      if (!authorization.empty()) req.headers().add("Authorization", authorization);
      concurrency::streams::ostream out;
      bool to_file = !file.empty();
      int64_t total = -1;
      if (to_file) {
        out = concurrency::streams::fstream::open_ostream(file, std::ios::out | std::ios::trunc | std::ios::binary).get();
        req.set_response_stream(out);
        if (progress != nullptr && *progress) {
          auto last = std::make_shared<int64_t>(0);
          auto fn = *progress;
          req.set_progress_handler([fn, last](http::message_direction::direction d, utility::size64_t n) {
            if (d != http::message_direction::download) return;
            int64_t done = static_cast<int64_t>(n);
            if (done - *last >= (1 << 20)) {
              *last = done;
              fn(done, -1);
            }
          });
        }
      }
      http::http_response resp = client.request(req).get();
      Answer a;
      a.status = resp.status_code();
      a.content_type = Header(resp, "Content-Type");
      a.digest = Header(resp, "Docker-Content-Digest");
      a.location = Header(resp, "Location");
      a.challenge = Header(resp, "WWW-Authenticate");
      if (resp.headers().content_length() > 0) total = static_cast<int64_t>(resp.headers().content_length());
      a.length = total;
      if (to_file) {
        resp.content_ready().get();
        out.close().get();
        if (a.status / 100 != 2) std::remove(file.c_str());
      } else {
        a.body = resp.extract_utf8string(true).get();
        if (a.body.size() > (4u << 20)) return Error(Code::kTooLarge, url + ": the answer is over 4 MiB");
      }
      if (to_file && a.status / 100 == 2 && progress != nullptr && *progress) (*progress)(total, total);
      return a;
    } catch (const std::exception& e) {
      if (!file.empty()) std::remove(file.c_str());
      return Error(Code::kUnavailable, "registry " + registry_ + ": " + url + ": " + e.what());
    }
  }

  // GET with auth and redirects; an error for anything but 2xx.
  Result<Answer> Get(const std::string& repository, std::string url, const std::string& accept,
                     const std::string& file, const std::function<void(int64_t, int64_t)>* progress) {
    std::string host = web::uri(base_).authority().to_string();
    bool retried_auth = false;
    for (int hop = 0; hop <= kMaxRedirects; hop++) {
      bool same_host = web::uri(url).authority().to_string() == host;
      auto a = Once(url, accept, same_host ? authorization_ : "", file, progress);
      if (!a) return a.error();
      if (a->status / 100 == 2) return a;
      if (a->status / 100 == 3 && !a->location.empty()) {
        if (a->location.find("://") != std::string::npos) {
          url = a->location;
        } else {
          web::uri loc(a->location);
          url = web::uri_builder(web::uri(url)).set_path(loc.path()).set_query(loc.query()).to_string();
        }
        continue;
      }
      if (a->status == 401 && same_host && !retried_auth && !a->challenge.empty()) {
        retried_auth = true;
        if (auto s = Authenticate(repository, a->challenge); !s) return s.error();
        hop--;
        continue;
      }
      std::string what = "registry " + registry_ + " answered " + std::to_string(a->status) + " for " + url;
      if (a->status == 404) return Error(Code::kNotFound, what + " (no such image, tag or blob)");
      if (a->status == 401) return Error(Code::kUnauthorized, what + " (credentials refused or missing)");
      if (a->status == 403) return Error(Code::kForbidden, what);
      if (a->status == 429 || a->status / 100 == 5) return Error(Code::kUnavailable, what);
      return Error(Code::kIo, what);
    }
    return Error(Code::kIo, "registry " + registry_ + ": more than " + std::to_string(kMaxRedirects) + " redirects");
  }

  Status Authenticate(const std::string& repository, const std::string& header) {
    Challenge c = ParseChallenge(header);
    std::string basic = username_.empty() ? "" : "Basic " + crypto::EncodeBase64(username_ + ":" + password_);
    if (c.scheme == "basic") {
      if (basic.empty()) {
        return Error(Code::kUnauthorized,
                     "registry " + registry_ + " asks for a user name and password; none are in the auth file");
      }
      authorization_ = basic;
      return Ok();
    }
    if (c.scheme != "bearer" || c.params["realm"].empty()) {
      return Error(Code::kUnauthorized, "registry " + registry_ + " asks for an unsupported authentication: " + c.scheme);
    }
    web::uri_builder b{web::uri(c.params["realm"])};
    if (!c.params["service"].empty()) b.append_query("service", c.params["service"]);
    std::string scope = c.params["scope"].empty() ? "repository:" + repository + ":pull" : c.params["scope"];
    b.append_query("scope", scope);
    auto a = Once(b.to_string(), "application/json", basic, "", nullptr);
    if (!a) return a.error().Wrap("token");
    if (a->status != 200) {
      return Error(Code::kUnauthorized, "registry " + registry_ + ": the token service " + c.params["realm"] +
                                            " answered " + std::to_string(a->status));
    }
    Json doc = Json::parse(a->body, nullptr, false);
    std::string token;
    for (const char* key : {"token", "access_token"}) {
      if (doc.is_object() && doc.contains(key) && doc[key].is_string()) {
        token = doc[key].get<std::string>();
        break;
      }
    }
    if (token.empty()) {
      return Error(Code::kUnauthorized, "registry " + registry_ + ": the token service " + c.params["realm"] +
                                            " answered without a token");
    }
    authorization_ = "Bearer " + token;  // never logged
    return Ok();
  }

  std::string registry_;
  std::string base_;
  std::string username_;
  std::string password_;
  std::string authorization_;
};

}  // namespace

Result<std::unique_ptr<RegistryClient>> RegistryClient::Create(const std::string& registry,
                                                               const RegistryOptions& options) {
  bool insecure = std::find(options.insecure_registries.begin(), options.insecure_registries.end(), registry) !=
                  options.insecure_registries.end();
  std::string host = RegistryHost(registry);
  std::string username, password;
  if (!options.auth_file.empty()) {
    auto text = ReadFile(options.auth_file, 1 << 20);
    if (!text) return text.error().Wrap("registry auth file");
    Json doc = Json::parse(*text, nullptr, false);
    if (!doc.is_object()) return Error(Code::kInvalid, "registry auth file " + options.auth_file + " is not a JSON object");
    for (const std::string& key : {registry, host}) {
      const Json& e = Object::Field(doc, key.c_str());
      if (e.is_object() && Object::Field(e, "username").is_string()) {
        username = Object::Field(e, "username").get<std::string>();
        password = Object::Field(e, "password").is_string() ? Object::Field(e, "password").get<std::string>() : "";
        break;
      }
    }
  }
  std::string base = (insecure ? "http://" : "https://") + host;
  return std::unique_ptr<RegistryClient>(new CppRestRegistry(registry, base, username, password));
}

}  // namespace bosun::node::image_internal
