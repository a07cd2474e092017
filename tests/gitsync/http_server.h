// tests/gitsync/http_server.h — a smart-HTTP Git server on 127.0.0.1 for the
// gitsync tests: `git http-backend` behind a small CGI gateway in Python
// (fetch and push), with optional basic auth, TLS and a stall switch; and
// the helpers to run a server process in the background.
#pragma once

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/test_support.h"

namespace bosun::gitsync::test {

using bosun::test::RunCommand;
using bosun::test::TempDir;

// A CGI gateway for `git http-backend`, over TLS when TLS_CERT and TLS_KEY
// name a certificate and its key. AUTH=user:password requires basic auth; while the file STALL_FLAG names exists, every
// pack stops after its first bytes and the connection stays open, silent. REDIRECT=BASE answers every request with a
// 301 to BASE + its path; SEEN_AUTH=FILE appends each request's path and Authorization header to FILE.
inline constexpr const char* kHttpServer = R"PY(
import base64, os, subprocess, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, root = int(sys.argv[1]), sys.argv[2]
auth = os.environ.get("AUTH")
stall_flag = os.environ.get("STALL_FLAG")
redirect = os.environ.get("REDIRECT")
seen_auth = os.environ.get("SEEN_AUTH")

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def handle_git(self):
        if seen_auth:
            with open(seen_auth, "a") as f:
                f.write(self.path + " auth=" + self.headers.get("Authorization", "") + "\n")
        if redirect:
            self.send_response(301)
            self.send_header("Location", redirect + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if auth and self.headers.get("Authorization") != "Basic " + base64.b64encode(auth.encode()).decode():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        elif self.headers.get("Content-Length"):
            body = self.rfile.read(int(self.headers["Content-Length"]))
        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)),
                   REMOTE_ADDR="127.0.0.1", GIT_HTTP_MAX_REQUEST_BUFFER="100M")
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.split(b"\r\n"):
            name, _, value = line.decode().partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if stall_flag and os.path.exists(stall_flag) and self.command == "POST":
            self.wfile.write(payload[:64])
            self.wfile.flush()
            time.sleep(120)
            return
        self.wfile.write(payload)

    do_GET = handle_git
    do_POST = handle_git

ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
if os.environ.get("TLS_CERT"):
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.environ["TLS_CERT"], os.environ["TLS_KEY"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
)PY";

// Waits until something listens on the port (the server starts in the
// background); false after ~10 s.
inline bool WaitForPort(int port) {
  for (int i = 0; i < 200; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = bosun::test::LoopbackAddress(port);
    bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (up) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// A process started in the background by a shell command line, killed (with
// its process group) when the test ends, passed or failed.
class Background {
 public:
  explicit Background(const std::string& command) {
    auto o = RunCommand("setsid sh -c '" + command + "' > /dev/null 2>&1 < /dev/null & echo $!");
    pid_ = std::atoi(o.out.c_str());
  }
  ~Background() {
    if (pid_ > 0) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
    }
  }
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
};

class HttpServer {
 public:
  // Serves the bare repositories in `root` on a free loopback port. `env`
  // (VAR=value …) goes before the command line: AUTH, STALL_FLAG, TLS_CERT,
  // TLS_KEY, REDIRECT, SEEN_AUTH. Pushes need `http.receivepack true` in the served repository.
  HttpServer(const TempDir& tmp, const std::string& root, const std::string& env = "")
      : port_(bosun::test::FreePort()) {
    std::string script = tmp.Write("http_server.py", kHttpServer);
    server_ = std::make_unique<Background>(env + " exec python3 " + script + " " + std::to_string(port_) + " " + root);
    up_ = WaitForPort(port_);
  }
  bool up() const { return up_; }
  int port() const { return port_; }
  std::string Url(const std::string& repo, const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_) + "/" + repo;
  }

 private:
  int port_;
  std::unique_ptr<Background> server_;
  bool up_ = false;
};

}  // namespace bosun::gitsync::test
