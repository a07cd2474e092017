// node/probes.cc — exec, httpGet and tcpSocket probes. The HTTP client is a
// plain non-blocking socket with one deadline for connect, send and reading
// the status line, so a probe never outlives its timeoutSeconds (a server
// that accepts and never answers is a failure, not a hang).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "node/probes.h"
#include "core/ascii.h"

namespace bosun::node {
namespace {

using Clock = std::chrono::steady_clock;

int64_t IntField(const Json& j, const char* key, int64_t fallback) {
  const Json& v = Object::Field(j, key);
  return v.is_number_integer() ? v.get<int64_t>() : fallback;
}

// "8080", 8080 or a named port of the container ("http").
Result<int> ResolvePort(const Json& port, const Json& container) {
  if (port.is_number_integer()) {
    int p = port.get<int>();
    if (p > 0 && p < 65536) return p;
    return Error(Code::kInvalid, "invalid port " + std::to_string(p));
  }
  if (port.is_string()) {
    std::string s = port.get<std::string>();
    if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos && s.size() < 6) {
      int p = std::stoi(s);
      if (p > 0 && p < 65536) return p;
    }
    const Json& ports = Object::Field(container, "ports");
    if (ports.is_array()) {
      for (const auto& cp : ports) {
        if (cp.is_object() && cp.value("name", "") == s && Object::Field(cp, "containerPort").is_number_integer()) {
          return cp["containerPort"].get<int>();
        }
      }
    }
    return Error(Code::kInvalid, "port \"" + s + "\" is not a number nor a named port of the container");
  }
  return Error(Code::kInvalid, "probe has no port");
}

std::string HostPort(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

struct Fd {
  int fd = -1;
  ~Fd() { if (fd >= 0) close(fd); }
};

// strerror as Go prints it ("connection refused", lower case).
std::string SysErr(int e) {
  std::string s = std::strerror(e);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

int MsLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Connects within the deadline. On failure, `why` is Go-like: "connect:
// connection refused" or "i/o timeout".
bool Dial(const std::string& host, int port, Clock::time_point deadline, Fd* out, std::string* why) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*a4);
  } else if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*a6);
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) {
      *why = "lookup " + host + ": no such host";
      return false;
    }
    std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
    len = res->ai_addrlen;
    freeaddrinfo(res);
    if (addr.ss_family == AF_INET) a4->sin_port = htons(static_cast<uint16_t>(port));
    else a6->sin6_port = htons(static_cast<uint16_t>(port));
  }
  out->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (out->fd < 0) {
    *why = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  if (connect(out->fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    if (errno != EINPROGRESS) {
      *why = "connect: " + SysErr(errno);
      return false;
    }
    pollfd p{out->fd, POLLOUT, 0};
    int n = poll(&p, 1, MsLeft(deadline));
    if (n <= 0) {
      *why = "i/o timeout";
      return false;
    }
    int err = 0;
    socklen_t elen = sizeof(err);
    getsockopt(out->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) {
      *why = "connect: " + SysErr(err);
      return false;
    }
  }
  return true;
}

ProbeOutcome Fail(std::string message, std::string summary = "") {
  if (summary.empty()) summary = message;
  return ProbeOutcome{false, std::move(message), std::move(summary)};
}

ProbeOutcome HttpProbe(const Json& h, const Json& container, const std::string& pod_ip, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string host = h.value("host", "");
  if (host.empty()) host = pod_ip;
  auto port = ResolvePort(Object::Field(h, "port"), container);
  if (!port) return Fail("HTTP probe: " + port.error().message());
  std::string scheme = h.value("scheme", "HTTP");
  if (scheme != "HTTP") return Fail("HTTP probe: scheme " + scheme + " is not supported (only HTTP)");
  std::string path = h.value("path", "/");
  if (path.empty() || path[0] != '/') path = "/" + path;
  const std::string url = "http://" + HostPort(host, *port) + path;

  std::string host_header = HostPort(host, *port);
  std::string extra;
  const Json& headers = Object::Field(h, "httpHeaders");
  bool user_agent = false, accept = false;
  if (headers.is_array()) {
    for (const auto& hd : headers) {
      std::string name = hd.value("name", ""), value = hd.value("value", "");
      if (name.empty() || name.find_first_of("\r\n:") != std::string::npos || value.find_first_of("\r\n") != std::string::npos) continue;
      std::string lname = AsciiLower(name);
      if (lname == "host") { host_header = value; continue; }
      if (lname == "user-agent") user_agent = true;
      if (lname == "accept") accept = true;
      extra += name + ": " + value + "\r\n";
    }
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host_header + "\r\n";
  if (!user_agent) req += "User-Agent: kube-probe/1.28\r\n";
  if (!accept) req += "Accept: */*\r\n";
  req += extra + "Connection: close\r\n\r\n";

  Fd fd;
  std::string why;
  if (!Dial(host, *port, deadline, &fd, &why)) {
    return Fail("Get \"" + url + "\": dial tcp " + HostPort(host, *port) + ": " + why);
  }
  const std::string timeout_msg =
      "Get \"" + url + "\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)";
  size_t sent = 0;
  while (sent < req.size()) {
    pollfd p{fd.fd, POLLOUT, 0};
    if (poll(&p, 1, MsLeft(deadline)) <= 0) return Fail(timeout_msg);
    ssize_t n = send(fd.fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Fail("Get \"" + url + "\": write: " + std::strerror(errno));
    }
    sent += static_cast<size_t>(n);
  }
  std::string resp;
  while (resp.find("\r\n") == std::string::npos && resp.size() < 8192) {
    pollfd p{fd.fd, POLLIN, 0};
    if (poll(&p, 1, MsLeft(deadline)) <= 0) return Fail(timeout_msg);
    char buf[2048];
    ssize_t n = recv(fd.fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Fail("Get \"" + url + "\": read: " + std::strerror(errno));
    }
    if (n == 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  // "HTTP/1.1 200 OK"
  int status = 0;
  if (resp.rfind("HTTP/", 0) == 0) {
    size_t sp = resp.find(' ');
    if (sp != std::string::npos && sp + 4 <= resp.size()) {
      std::string code = resp.substr(sp + 1, 3);
      if (code.find_first_not_of("0123456789") == std::string::npos) status = std::stoi(code);
    }
  }
  if (status == 0) return Fail("Get \"" + url + "\": malformed HTTP response");
  if (status >= 200 && status < 400) return ProbeOutcome{true, "", ""};
  return Fail("HTTP probe failed with statuscode: " + std::to_string(status));
}

ProbeOutcome TcpProbe(const Json& t, const Json& container, const std::string& pod_ip, std::chrono::seconds timeout) {
  std::string host = t.value("host", "");
  if (host.empty()) host = pod_ip;
  auto port = ResolvePort(Object::Field(t, "port"), container);
  if (!port) return Fail("TCP probe: " + port.error().message());
  Fd fd;
  std::string why;
  if (!Dial(host, *port, Clock::now() + timeout, &fd, &why)) return Fail("dial tcp " + HostPort(host, *port) + ": " + why);
  return ProbeOutcome{true, "", ""};
}

std::string Joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

ProbeOutcome ExecProbe(const Json& e, const ExecFn& exec, std::chrono::seconds timeout) {
  std::vector<std::string> argv;
  const Json& cmd = Object::Field(e, "command");
  if (cmd.is_array()) {
    for (const auto& a : cmd) if (a.is_string()) argv.push_back(a.get<std::string>());
  }
  if (argv.empty()) return Fail("exec probe has no command");
  if (!exec) return Fail("exec probe: no way to run commands in the container");
  auto r = exec(argv, std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  if (!r) {
    if (r.error().code() == Code::kTimeout) {
      return Fail("command \"" + Joined(argv) + "\" timed out after " + std::to_string(timeout.count()) + "s");
    }
    return Fail("command \"" + Joined(argv) + "\" could not run: " + r.error().message());
  }
  if (r->exit_code == 0) return ProbeOutcome{true, "", ""};
  std::string output = r->out + r->err;
  if (output.size() > 1024) output = output.substr(0, 1024) + "…";
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  const std::string exited = "command \"" + Joined(argv) + "\" exited with " + std::to_string(r->exit_code);
  return Fail(output.empty() ? exited : exited + ": " + output, exited);
}

}  // namespace

ProbeTiming ProbeTimingOf(const Json& probe) {
  ProbeTiming t;
  int64_t v = IntField(probe, "initialDelaySeconds", 0);
  t.initial_delay = std::chrono::seconds(v > 0 ? v : 0);
  v = IntField(probe, "periodSeconds", 10);
  t.period = std::chrono::seconds(v > 0 ? v : 10);
  v = IntField(probe, "timeoutSeconds", 1);
  t.timeout = std::chrono::seconds(v > 0 ? v : 1);
  v = IntField(probe, "successThreshold", 1);
  t.success_threshold = v > 0 ? static_cast<int>(v) : 1;
  v = IntField(probe, "failureThreshold", 3);
  t.failure_threshold = v > 0 ? static_cast<int>(v) : 3;
  return t;
}

ProbeOutcome RunProbe(const Json& probe, const Json& container, const std::string& pod_ip, const ExecFn& exec) {
  const auto timeout = ProbeTimingOf(probe).timeout;
  if (const Json& e = Object::Field(probe, "exec"); e.is_object()) return ExecProbe(e, exec, timeout);
  if (const Json& h = Object::Field(probe, "httpGet"); h.is_object()) return HttpProbe(h, container, pod_ip, timeout);
  if (const Json& t = Object::Field(probe, "tcpSocket"); t.is_object()) return TcpProbe(t, container, pod_ip, timeout);
  if (Object::Field(probe, "grpc").is_object()) return Fail("gRPC probes are not supported");
  return Fail("probe has none of exec, httpGet, tcpSocket");
}

}  // namespace bosun::node
