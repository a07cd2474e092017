// The node's logs and exec endpoint (node/node_server.h), on cpprestsdk's
// http_listener like the API server.
#include "node/node_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include <cpprest/http_listener.h>
#include <cpprest/producerconsumerstream.h>
#include <nlohmann/json.hpp>

#include "core/ascii.h"
#include "core/log.h"

namespace bosun::node {
namespace {

using web::http::http_request;
using web::http::http_response;
using web::http::methods;

constexpr const char* kComponent = "node-server";

// Repeated keys are kept (exec's command=…&command=…).
std::multimap<std::string, std::string> ParseQuery(std::string_view q) {
  std::multimap<std::string, std::string> out;
  for (auto& [name, value] : ParseFormEncoded(q)) out.emplace(std::move(name), std::move(value));
  return out;
}

std::string First(const std::multimap<std::string, std::string>& q, const std::string& key) {
  auto it = q.find(key);
  return it == q.end() ? "" : it->second;
}

bool Truthy(const std::string& v) { return v == "true" || v == "1"; }

void ReplyStatus(const http_request& req, int code, const std::string& reason, const std::string& message,
                 const Json& details = nullptr) {
  Json body = {{"kind", "Status"},    {"apiVersion", "v1"}, {"status", "Failure"},
               {"message", message}, {"reason", reason},  {"code", code}};
  if (details.is_object()) body["details"] = details;
  http_response resp(static_cast<web::http::status_code>(code));
  resp.set_body(body.dump(), "application/json");
  req.reply(resp).then([](pplx::task<void> t) {
    try {
      t.get();
    } catch (...) {
    }
  });
}

int HttpCode(Code c) {
  switch (c) {
    case Code::kNotFound: return 404;
    case Code::kUnauthorized: return 401;
    case Code::kForbidden: return 403;
    case Code::kInvalid: return 400;
    case Code::kTimeout: return 504;
    case Code::kUnavailable: return 503;
    default: return 500;
  }
}

// One log line as stored by the shim: "<RFC3339Nano> <stream> <text>".
std::string RenderLine(const std::string& line, bool timestamps) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string::npos) return line + "\n";
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos) return line + "\n";
  std::string text = line.substr(sp2 + 1);
  return timestamps ? line.substr(0, sp1) + " " + text + "\n" : text + "\n";
}

// The last `tail` complete lines of a file (all when tail < 0), and the
// offset just past them.
std::string ReadLog(const std::string& path, long tail, bool timestamps, std::streamoff* end_offset) {
  std::ifstream in(path, std::ios::binary);
  std::deque<std::string> lines;
  std::string line;
  std::streamoff consumed = 0;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // an unfinished last line: left for a follower
    consumed += static_cast<std::streamoff>(line.size() + 1);
    lines.push_back(std::move(line));
    if (tail >= 0 && static_cast<long>(lines.size()) > tail) lines.pop_front();
  }
  if (end_offset) *end_offset = consumed;
  std::string out;
  for (const auto& l : lines) out += RenderLine(l, timestamps);
  return out;
}

class NodeServerImpl final : public NodeServer {
 public:
  NodeServerImpl(NodeServerOptions options, Runtime* runtime, ContainerLookup lookup)
      : options_(std::move(options)), runtime_(runtime), lookup_(std::move(lookup)) {}

  ~NodeServerImpl() override { Stop(); }

  Status Listen() {
    std::string listen = options_.listen;
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return Error(Code::kInvalid, "--listen " + listen + ": expected host:port");
    std::string host = listen.substr(0, colon);
    int port = std::atoi(listen.c_str() + colon + 1);
    for (int attempt = 0; attempt < 20; ++attempt) {
      int p = port;
      if (p == 0) p = FreePort(host);
      try {
        auto l = std::make_unique<web::http::experimental::listener::http_listener>(
            web::uri("http://" + host + ":" + std::to_string(p)));
        l->support([this](http_request req) { Handle(std::move(req)); });
        l->open().wait();
        listener_ = std::move(l);
        port_ = p;
        return Ok();
      } catch (const std::exception& e) {
        if (port != 0) return Error(Code::kIo, "cannot listen on " + listen + ": " + e.what());
      }
    }
    return Error(Code::kIo, "cannot listen on " + listen + ": no free port");
  }

  int port() const override { return port_; }

  void Stop() override {
    {
      std::lock_guard l(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    if (listener_) {
      try {
        listener_->close().wait();
      } catch (...) {
      }
    }
    std::unique_lock l(mu_);
    // Exec threads may run up to their time-out; wait for them all.
    cv_.wait(l, [&] { return followers_ == 0; });
  }

 private:
  static int FreePort(const std::string& host);

  // Ends a counted background thread.
  struct Done {
    NodeServerImpl* self;
    ~Done() {
      std::lock_guard l(self->mu_);
      --self->followers_;
      self->cv_.notify_all();
    }
  };

  void Handle(http_request req) {
    std::string path = PercentDecode(req.relative_uri().path());  // a path: '+' is a plus
    auto query = ParseQuery(req.relative_uri().query());
    // /api/v1/namespaces/NS/pods/NAME/(log|exec)
    std::vector<std::string> segs;
    size_t start = 1;
    while (start <= path.size()) {
      size_t end = path.find('/', start);
      if (end == std::string::npos) end = path.size();
      if (end > start) segs.push_back(path.substr(start, end - start));
      start = end + 1;
    }
    if (segs.size() == 1 && (segs[0] == "healthz" || segs[0] == "readyz")) {
      return (void)req.reply(200, "ok");
    }
    if (segs.size() != 7 || segs[0] != "api" || segs[1] != "v1" || segs[2] != "namespaces" || segs[4] != "pods" ||
        (segs[6] != "log" && segs[6] != "exec")) {
      return ReplyStatus(req, 404, "NotFound", "the node serves only pods/NAME/log and pods/NAME/exec, not " + path);
    }
    const std::string ns = segs[3], pod = segs[5], verb = segs[6];
    std::string token;
    if (auto h = req.headers().find("Authorization"); h != req.headers().end()) {
      const std::string& v = h->second;
      if (v.rfind("Bearer ", 0) == 0) token = v.substr(7);
    }
    if (token.empty()) return ReplyStatus(req, 401, "Unauthorized", "a bearer token is required");
    if (options_.authorize) {
      if (Status s = options_.authorize(token, ns, pod); !s) {
        return ReplyStatus(req, HttpCode(s.error().code()), s.error().code() == Code::kNotFound ? "NotFound" : "Forbidden",
                           s.error().message());
      }
    }
    std::string container = First(query, "container");
    auto ref = lookup_(ns, pod, container);
    // details name the container, so a client does not take the 404 for the
    // pod's own.
    if (!ref) {
      return ReplyStatus(req, HttpCode(ref.error().code()), "NotFound", ref.error().message(),
                         Json{{"name", container}, {"kind", "containers"}});
    }
    if (verb == "log") {
      if (req.method() != methods::GET) return ReplyStatus(req, 405, "MethodNotAllowed", "log takes GET");
      return Log(std::move(req), query, ns, pod, container, *ref);
    }
    if (req.method() != methods::POST) return ReplyStatus(req, 405, "MethodNotAllowed", "exec takes POST");
    Exec(std::move(req), query, *ref);
  }

  void Exec(http_request req, const std::multimap<std::string, std::string>& query, const ContainerRef& ref) {
    std::vector<std::string> argv;
    for (auto [it, end] = query.equal_range("command"); it != end; ++it) argv.push_back(it->second);
    if (argv.empty()) return ReplyStatus(req, 400, "BadRequest", "exec needs a command (command=…, repeated per argument)");
    if (!ref.running) return ReplyStatus(req, 409, "Conflict", "the container is not running");
    long timeout_s = 300;
    if (std::string t = First(query, "timeoutSeconds"); !t.empty()) timeout_s = std::max(1L, std::atol(t.c_str()));
    // runc exec blocks: run it off the listener's thread (counted, so Stop
    // waits for it).
    {
      std::lock_guard l(mu_);
      ++followers_;
    }
    std::thread([this, req = std::move(req), argv, id = ref.id, timeout_s]() mutable {
      auto r = runtime_->Exec(id, argv, std::chrono::seconds(timeout_s));
      Done done{this};
      if (!r) return ReplyStatus(req, HttpCode(r.error().code()), "InternalError", r.error().message());
      Json body = {{"exitCode", r->exit_code}, {"stdout", r->out}, {"stderr", r->err}};
      http_response resp(200);
      resp.set_body(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
      req.reply(resp).then([](pplx::task<void> t) {
        try {
          t.get();
        } catch (...) {
        }
      });
    }).detach();
  }

  void Log(http_request req, const std::multimap<std::string, std::string>& query, const std::string& ns,
           const std::string& pod, const std::string& container, const ContainerRef& ref) {
    const bool previous = Truthy(First(query, "previous"));
    const bool follow = Truthy(First(query, "follow")) && !previous;
    const bool timestamps = Truthy(First(query, "timestamps"));
    long tail = -1;
    if (std::string t = First(query, "tailLines"); !t.empty()) tail = std::atol(t.c_str());
    std::string path = previous ? ref.previous_log_path : ref.log_path;
    if (previous && path.empty()) {
      return ReplyStatus(req, 400, "BadRequest",
                         "previous terminated container \"" + (ref.name.empty() ? container : ref.name) +
                             "\" in pod \"" + pod + "\" not found (it has not restarted)");
    }
    std::streamoff offset = 0;
    std::string text = ReadLog(path, tail, timestamps, &offset);
    if (!follow) {
      http_response resp(200);
      resp.set_body(text, "text/plain; charset=utf-8");
      req.reply(resp).then([](pplx::task<void> t) {
        try {
          t.get();
        } catch (...) {
        }
      });
      return;
    }
    // Follow: the buffer is the response body; a thread appends new lines
    // until the container has exited and its log is drained, the client goes
    // away, or the server stops.
    auto buf = std::make_shared<concurrency::streams::producer_consumer_buffer<uint8_t>>();
    auto gone = std::make_shared<std::atomic<bool>>(false);
    // putn_nocopy: the bytes must live until the write completes (waited for).
    // sync() lets the listener send what is there as a chunk now.
    if (!text.empty()) {
      buf->putn_nocopy(reinterpret_cast<const uint8_t*>(text.data()), text.size()).wait();
      buf->sync().wait();
    }
    http_response resp(200);
    resp.headers().add("Cache-Control", "no-cache");
    resp.set_body(concurrency::streams::istream(*buf), "text/plain; charset=utf-8");
    req.reply(resp).then([gone](pplx::task<void> t) {
      try {
        t.get();
      } catch (...) {
      }
      gone->store(true);
    });
    {
      std::lock_guard l(mu_);
      ++followers_;
    }
    std::thread([this, buf, gone, path, offset, timestamps, ns, pod, container, id = ref.id]() mutable {
      std::string partial;
      int quiet_after_exit = 0;
      while (!gone->load()) {
        {
          std::unique_lock l(mu_);
          if (cv_.wait_for(l, std::chrono::milliseconds(100), [&] { return stopped_; })) break;
        }
        std::ifstream in(path, std::ios::binary);
        in.seekg(offset);
        std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        offset += static_cast<std::streamoff>(chunk.size());
        partial += chunk;
        std::string out;
        size_t nl;
        while ((nl = partial.find('\n')) != std::string::npos) {
          out += RenderLine(partial.substr(0, nl), timestamps);
          partial.erase(0, nl + 1);
        }
        if (!out.empty()) {
          buf->putn_nocopy(reinterpret_cast<const uint8_t*>(out.data()), out.size()).wait();
          buf->sync().wait();
          quiet_after_exit = 0;
          continue;
        }
        // Nothing new: stop once this run of the container has ended.
        auto cur = lookup_(ns, pod, container);
        if (!cur || cur->id != id || !cur->running) {
          if (++quiet_after_exit >= 3) break;
        }
      }
      buf->close(std::ios_base::out).wait();
      std::lock_guard l(mu_);
      --followers_;
      cv_.notify_all();
    }).detach();
  }

  NodeServerOptions options_;
  Runtime* runtime_;
  ContainerLookup lookup_;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  int followers_ = 0;
};

int NodeServerImpl::FreePort(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (::inet_pton(AF_INET, host == "0.0.0.0" || host.empty() ? "0.0.0.0" : host.c_str(), &addr.sin_addr) != 1) {
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  int port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace

Result<std::unique_ptr<NodeServer>> NodeServer::Start(const NodeServerOptions& options, Runtime* runtime,
                                                      ContainerLookup lookup) {
  if (runtime == nullptr || !lookup) return Error(Code::kInternal, "NodeServer needs a runtime and a lookup");
  auto server = std::make_unique<NodeServerImpl>(options, runtime, std::move(lookup));
  if (Status s = server->Listen(); !s) return s.error();
  log::Info(kComponent, "serving logs and exec", {{"port", std::to_string(server->port())}});
  return std::unique_ptr<NodeServer>(std::move(server));
}

}  // namespace bosun::node
