// tests/gitsync/mirror_remote_test.cc — Mirror over the network, against
// servers on 127.0.0.1: smart HTTP (`git http-backend` behind a small CGI
// server in Python), with and without basic auth; a remote that is down, one
// that never answers and one that stalls halfway through a pack; and ssh://
// against a real sshd run from a temporary folder with its own config; HTTPS
// with a certificate of the test's own.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include <git2.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>

#include "core/log.h"
#include "gitsync/mirror.h"
#include "tests/gitsync/http_server.h"
#include "tests/gitsync/mirror_fixture.h"
#include "tests/gitsync/ssh_server.h"

namespace bosun::gitsync {
namespace {

using test::Background;
using test::GitRepos;
using test::HttpServer;
using test::RunCommand;
using test::SshServer;
using test::TempDir;
using test::WaitForPort;
using Clock = std::chrono::steady_clock;

RemoteOptions Follow(const std::string& url, std::chrono::seconds timeout = std::chrono::seconds(20)) {
  RemoteOptions o;
  o.url = url;
  o.timeout = timeout;
  return o;
}

TEST(MirrorHttp, FollowsNewCommitsAndForcePushes) {
  GitRepos repos;
  std::string first = repos.CommitAndPush({{"web.yaml", "kind: ConfigMap\n"}}, "first");
  HttpServer server(repos.tmp(), repos.tmp().path());
  ASSERT_TRUE(server.up());
  auto m = Mirror::Open(repos.MirrorDir(), Follow(server.Url("remote.git")));
  ASSERT_TRUE(m.ok()) << m.error().message();
  std::vector<FetchProgress> progress;
  auto head = (*m)->Fetch([&](const FetchProgress& p) { progress.push_back(p); });
  ASSERT_TRUE(head.ok()) << head.error().message();
  EXPECT_EQ(*head, first);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().received_objects, progress.back().total_objects);
  EXPECT_GT(progress.back().received_bytes, 0u);

  std::string second = repos.CommitAndPush({{"web.yaml", "kind: ConfigMap\ndata: {}\n"}}, "second");
  EXPECT_EQ((*m)->Fetch().value_or(""), second);
  repos.Git("reset -q --hard " + first);
  std::string rewritten = repos.CommitAndPush({{"other.yaml", "kind: Service\n"}}, "rewritten");
  EXPECT_EQ((*m)->Fetch().value_or(""), rewritten);
  EXPECT_FALSE((*m)->IsAncestor(second, rewritten).value_or(true));
  EXPECT_EQ((*m)->ReadTree(rewritten, "").value_or({}).size(), 2u);
}

TEST(MirrorHttp, MissingRepositoryIsInvalid) {
  GitRepos repos;
  HttpServer server(repos.tmp(), repos.tmp().path());
  ASSERT_TRUE(server.up());
  auto m = Mirror::Open(repos.MirrorDir(), Follow(server.Url("nothing.git")));
  ASSERT_TRUE(m.ok());
  auto r = (*m)->Fetch();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalid) << r.error().message();
}

// A remote that redirects to another host (here another port): the
// credentials are not sent there, as git and curl do not send them, and the
// error says why. The host redirected to asked for them and never got them.
TEST(MirrorHttp, CredentialsAreNotSentToTheHostARedirectPointsAt) {
  GitRepos repos;
  repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "one");
  const std::string seen = repos.tmp().Sub("seen-auth");
  HttpServer other(repos.tmp(), repos.tmp().path(), "AUTH=deploy:s3cret-token SEEN_AUTH=" + seen);
  ASSERT_TRUE(other.up());
  HttpServer front(repos.tmp(), repos.tmp().path(), "REDIRECT=http://127.0.0.1:" + std::to_string(other.port()));
  ASSERT_TRUE(front.up());

  RemoteOptions o = Follow(front.Url("remote.git"));
  o.username = "deploy";
  o.password_file = repos.tmp().Write("right.pw", "s3cret-token\n");
  auto m = Mirror::Open(repos.MirrorDir(), o);
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto fetched = (*m)->Fetch();
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.error().code(), Code::kUnauthorized) << fetched.error().message();
  EXPECT_NE(fetched.error().message().find("redirected to http://127.0.0.1:" + std::to_string(other.port())),
            std::string::npos)
      << fetched.error().message();
  const std::string asked = RunCommand("cat " + seen).out;
  EXPECT_NE(asked.find("info/refs"), std::string::npos) << asked;  // it was reached, and asked for them
  EXPECT_EQ(asked.find("Basic"), std::string::npos) << asked;
}

TEST(MirrorHttp, BasicAuthWithAPasswordFile) {
  GitRepos repos;
  std::string id = repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "one");
  HttpServer server(repos.tmp(), repos.tmp().path(), "AUTH=deploy:s3cret-token");
  ASSERT_TRUE(server.up());

  auto none = Mirror::Open(repos.MirrorDir("none"), Follow(server.Url("remote.git")));
  ASSERT_TRUE(none.ok());
  auto refused = (*none)->Fetch();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Code::kUnauthorized) << refused.error().message();
  EXPECT_NE(refused.error().message().find("--repo-password-file"), std::string::npos) << refused.error().message();

  RemoteOptions wrong = Follow(server.Url("remote.git"));
  wrong.username = "deploy";
  wrong.password_file = repos.tmp().Write("wrong.pw", "not-the-token\n");
  auto w = Mirror::Open(repos.MirrorDir("wrong"), wrong);
  ASSERT_TRUE(w.ok()) << w.error().message();
  auto start = Clock::now();
  auto denied = (*w)->Fetch();
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code(), Code::kUnauthorized) << denied.error().message();
  EXPECT_EQ(denied.error().message().find("not-the-token"), std::string::npos);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));  // refused once, not retried in a loop

  RemoteOptions right = wrong;
  right.password_file = repos.tmp().Write("right.pw", "s3cret-token\n");
  auto r = Mirror::Open(repos.MirrorDir("right"), right);
  ASSERT_TRUE(r.ok());
  auto head = (*r)->Fetch();
  ASSERT_TRUE(head.ok()) << head.error().message();
  EXPECT_EQ(*head, id);
  // The password goes nowhere else: not into the mirror's configuration.
  auto config = RunCommand("cat " + repos.MirrorDir("right") + "/config");
  EXPECT_EQ(config.out.find("s3cret"), std::string::npos) << config.out;

  // A rotated token is read at the next fetch, without reopening.
  repos.tmp().Write("right.pw", "rotated\n");
  EXPECT_EQ((*r)->Fetch().error().code(), Code::kUnauthorized);
}

// HTTPS: libgit2's TLS stream (mbedTLS in Debian's build) runs over bosun's
// socket stream. A certificate nobody vouches for is refused; once its CA is
// trusted, the same server works.
TEST(MirrorHttp, HttpsVerifiesTheCertificate) {
  if (RunCommand("command -v openssl").exit_code != 0) GTEST_SKIP() << "openssl is not installed";
  GitRepos repos;
  std::string id = repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "one");
  std::string cert = repos.tmp().Sub("cert.pem"), key = repos.tmp().Sub("key.pem");
  auto made = RunCommand(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext "
      "subjectAltName=DNS:127.0.0.1,IP:127.0.0.1 -keyout " +
      key + " -out " + cert);
  ASSERT_EQ(made.exit_code, 0) << made.out;
  HttpServer server(repos.tmp(), repos.tmp().path(), "TLS_CERT=" + cert + " TLS_KEY=" + key);
  ASSERT_TRUE(server.up());

  auto m = Mirror::Open(repos.MirrorDir(), Follow(server.Url("remote.git", "https")));
  ASSERT_TRUE(m.ok());
  auto untrusted = (*m)->Fetch();
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.error().code(), Code::kUnauthorized) << untrusted.error().message();
  EXPECT_NE(untrusted.error().message().find("certificate"), std::string::npos) << untrusted.error().message();

  ASSERT_EQ(git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, cert.c_str(), nullptr), 0);
  auto trusted = (*m)->Fetch();
  // Back to the system's CAs for whatever runs next in this process.
  git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, nullptr, "/etc/ssl/certs");
  ASSERT_TRUE(trusted.ok()) << trusted.error().message();
  EXPECT_EQ(*trusted, id);
}

// A private Git server behind an internal CA: its certificate is signed by a
// CA of the test's own. Without --repo-ca-file the fetch says what is wrong
// and what to do; with the CA's file, the same server works (and the
// system's CAs are still read beside it). A file without a certificate is
// refused at Open, naming the flag.
TEST(MirrorHttp, ACaFileTrustsAPrivateServer) {
  if (RunCommand("command -v openssl").exit_code != 0) GTEST_SKIP() << "openssl is not installed";
  GitRepos repos;
  std::string id = repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "one");
  const std::string ca = repos.tmp().Sub("ca.pem"), ca_key = repos.tmp().Sub("ca.key");
  const std::string cert = repos.tmp().Sub("server.pem"), key = repos.tmp().Sub("server.key");
  const std::string csr = repos.tmp().Sub("server.csr"), ext = repos.tmp().Sub("ext.cnf");
  repos.tmp().Write("ext.cnf", "subjectAltName=DNS:127.0.0.1,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  for (const std::string& cmd :
       {"openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-internal-ca -keyout " + ca_key + " -out " +
            ca,
        "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout " + key + " -out " + csr,
        "openssl x509 -req -in " + csr + " -CA " + ca + " -CAkey " + ca_key + " -CAcreateserial -days 1 -extfile " +
            ext + " -out " + cert}) {
    auto made = RunCommand(cmd + " 2>&1");
    ASSERT_EQ(made.exit_code, 0) << cmd << ": " << made.out;
  }
  HttpServer server(repos.tmp(), repos.tmp().path(), "TLS_CERT=" + cert + " TLS_KEY=" + key);
  ASSERT_TRUE(server.up());
  const std::string url = server.Url("remote.git", "https");
  // Whatever this test sets, the next one in this process gets the system's CAs.
  struct Restore {
    ~Restore() { git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, nullptr, "/etc/ssl/certs"); }
  } restore;

  auto plain = Mirror::Open(repos.MirrorDir("plain"), Follow(url));
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  auto untrusted = (*plain)->Fetch();
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.error().code(), Code::kUnauthorized);
  EXPECT_NE(untrusted.error().message().find("the server's TLS certificate is not signed by a CA this machine trusts "
                                             "(give the CA that signed it with --repo-ca-file"),
            std::string::npos)
      << untrusted.error().message();

  repos.tmp().Write("not-a-ca.pem", "hello\n");
  RemoteOptions bad = Follow(url);
  bad.ca_file = repos.tmp().Sub("not-a-ca.pem");
  auto refused = Mirror::Open(repos.MirrorDir("bad"), bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Code::kInvalid);
  EXPECT_NE(refused.error().message().find("--repo-ca-file " + bad.ca_file + ": no CA certificate could be read"),
            std::string::npos)
      << refused.error().message();

  RemoteOptions o = Follow(url);
  o.ca_file = ca;
  auto m = Mirror::Open(repos.MirrorDir("trusted"), o);
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto trusted = (*m)->Fetch();
  ASSERT_TRUE(trusted.ok()) << trusted.error().message();
  EXPECT_EQ(*trusted, id);
}

// A "Git server" whose ref list never ends (a broken proxy, a hostile
// server): the fetch gives up after kMaxRefListBytes, with a message that
// says so, instead of growing the process's memory without bound (bytes
// keep coming, so the no-progress watchdog never fires).
TEST(MirrorNetwork, AnEndlessRefListIsCutOff) {
  GitRepos repos;
  const int port = bosun::test::FreePort();
  const std::string script = repos.tmp().Write("flood.py", R"PY(
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/x-git-upload-pack-advertisement")
        self.end_headers()
        def pkt(s):
            return ("%04x" % (len(s) + 4)).encode() + s
        try:
            self.wfile.write(pkt(b"# service=git-upload-pack\n") + b"0000")
            self.wfile.write(pkt(b"0" * 40 + b" refs/heads/main\0multi_ack side-band-64k ofs-delta\n"))
            line = pkt(b"1" * 40 + b" refs/tags/" + b"t" * 200 + b"\n")
            chunk = line * 4096
            while True:
                self.wfile.write(chunk)
        except Exception:
            pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
)PY");
  test::Background server("exec python3 " + script + " " + std::to_string(port));
  ASSERT_TRUE(test::WaitForPort(port));
  auto m = Mirror::Open(repos.MirrorDir(), Follow("http://127.0.0.1:" + std::to_string(port) + "/repo.git"));
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto r = (*m)->Fetch();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_NE(r.error().message().find("sent more than 128 MiB listing its refs; gave up"), std::string::npos)
      << r.error().message();
}

TEST(MirrorNetwork, UnreachableRemoteFailsFast) {
  GitRepos repos;
  bosun::test::RefusingPort refusing;  // bound, nothing listens there
  const int port = refusing.port();
  auto m = Mirror::Open(repos.MirrorDir(), Follow("http://127.0.0.1:" + std::to_string(port) + "/repo.git"));
  ASSERT_TRUE(m.ok());
  auto start = Clock::now();
  auto r = (*m)->Fetch();
  ASSERT_FALSE(r.ok());
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_TRUE(r.error().message().starts_with("cannot fetch http://127.0.0.1:" + std::to_string(port) +
                                              "/repo.git (branch main): "))
      << r.error().message();
  EXPECT_NE(r.error().message().find("refused"), std::string::npos) << r.error().message();
}

// Accepts connections and never answers: the remote is up but stuck.
class SilentServer {
 public:
  SilentServer() : port_(bosun::test::FreePort()) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
  }
  ~SilentServer() { close(fd_); }
  int port() const { return port_; }
  // True once a client has connected (it waits, unaccepted, in the backlog).
  bool Connected() const {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
  }

 private:
  int port_;
  int fd_;
};

TEST(MirrorNetwork, SilentRemoteTimesOut) {
  GitRepos repos;
  SilentServer silent;  // the kernel completes the handshake; nobody reads
  auto m = Mirror::Open(repos.MirrorDir(), Follow("http://127.0.0.1:" + std::to_string(silent.port()) + "/repo.git",
                                                  std::chrono::seconds(2)));
  ASSERT_TRUE(m.ok());
  auto start = Clock::now();
  auto r = (*m)->Fetch();
  auto took = Clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_NE(r.error().message().find("no progress for 2s"), std::string::npos) << r.error().message();
  EXPECT_GE(took, std::chrono::milliseconds(1900));
  EXPECT_LT(took, std::chrono::seconds(10));
}

// libssh2 reads the socket itself; the watchdog's shutdown must end its wait
// for the server's greeting too.
TEST(MirrorNetwork, SilentSshServerTimesOut) {
  GitRepos repos;
  SilentServer silent;
  RemoteOptions o =
      Follow("ssh://git@127.0.0.1:" + std::to_string(silent.port()) + "/repo.git", std::chrono::seconds(2));
  o.ssh_accept_any_host_key = true;  // it never gets as far as a host key
  auto m = Mirror::Open(repos.MirrorDir(), o);
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto start = Clock::now();
  auto r = (*m)->Fetch();
  ASSERT_FALSE(r.ok());
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_NE(r.error().message().find("no progress for 2s"), std::string::npos) << r.error().message();
}

TEST(MirrorNetwork, StallInTheMiddleOfAPackTimesOutAndKeepsTheHead) {
  GitRepos repos;
  std::string id = repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "one");
  std::string flag = repos.tmp().Sub("stall");
  HttpServer server(repos.tmp(), repos.tmp().path(), "STALL_FLAG=" + flag);
  ASSERT_TRUE(server.up());
  auto m = Mirror::Open(repos.MirrorDir(), Follow(server.Url("remote.git"), std::chrono::seconds(2)));
  ASSERT_TRUE(m.ok());
  ASSERT_EQ((*m)->Fetch().value_or(""), id);

  for (int i = 0; i < 50; i++) {
    repos.tmp().Write("work/bulk/f" + std::to_string(i) + ".yaml", std::string(2000, 'a' + i % 26) + "\n");
  }
  std::string more = repos.CommitAndPush({}, "more");
  repos.tmp().Write("stall", "");
  auto start = Clock::now();
  auto r = (*m)->Fetch();
  ASSERT_FALSE(r.ok());
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_NE(r.error().message().find("no progress for 2s"), std::string::npos) << r.error().message();
  EXPECT_EQ((*m)->Head().value_or(""), id);

  // The remote recovers: so does the mirror, with nothing to repair.
  std::filesystem::remove(flag);
  EXPECT_EQ((*m)->Fetch().value_or(""), more);
}

// Cancellation: a fetch with a 60 s time-out that a stopping controller
// cancels ends at once, whatever the remote does.
//
// Fetches with a cancel flag that another thread sets once `when` returns, and
// checks the fetch failed as cancelled (kUnavailable, "cancelled") within 5 s.
Result<std::string> FetchCancelledWhen(Mirror& m, const std::function<void()>& when) {
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    when();
    cancel.store(true);
  });
  auto start = Clock::now();
  auto r = m.Fetch({}, &cancel);
  auto took = Clock::now() - start;
  canceller.join();
  EXPECT_FALSE(r.ok());
  if (r.ok()) return Error(Code::kInternal, "the fetch was not cancelled");
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_NE(r.error().message().find("cancelled"), std::string::npos) << r.error().message();
  EXPECT_LT(took, std::chrono::seconds(5));
  return r;
}

TEST(MirrorCancel, ACancelledFetchFromASilentRemoteEndsAtOnce) {
  GitRepos repos;
  SilentServer silent;
  auto m = Mirror::Open(repos.MirrorDir(), Follow("http://127.0.0.1:" + std::to_string(silent.port()) + "/repo.git",
                                                  std::chrono::seconds(60)));
  ASSERT_TRUE(m.ok());
  // Cancel once the fetch is connected and waiting for an answer.
  auto r = FetchCancelledWhen(
      **m, [&] { bosun::test::Eventually([&] { return silent.Connected(); }, std::chrono::seconds(10)); });
  EXPECT_NE(r.error().message().find("): cancelled"), std::string::npos) << r.error().message();
  EXPECT_EQ((*m)->Head().error().code(), Code::kNotFound);  // the mirror is free again, and unchanged
}

TEST(MirrorCancel, ACancelledFetchStalledInAPackKeepsTheHead) {
  GitRepos repos;
  std::string id = repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "one");
  std::string flag = repos.tmp().Sub("stall");
  HttpServer server(repos.tmp(), repos.tmp().path(), "STALL_FLAG=" + flag);
  ASSERT_TRUE(server.up());
  auto m = Mirror::Open(repos.MirrorDir(), Follow(server.Url("remote.git"), std::chrono::seconds(60)));
  ASSERT_TRUE(m.ok());
  ASSERT_EQ((*m)->Fetch().value_or(""), id);

  std::string more = repos.CommitAndPush({{"b.yaml", "b: 1\n"}}, "more");
  repos.tmp().Write("stall", "");
  // The fetch is stalled by then (or not started).
  auto r = FetchCancelledWhen(**m, [] { std::this_thread::sleep_for(std::chrono::milliseconds(500)); });
  EXPECT_EQ((*m)->Head().value_or(""), id);

  // Nothing to repair: the next fetch (the remote recovered) gets the commit.
  std::filesystem::remove(flag);
  EXPECT_EQ((*m)->Fetch().value_or(""), more);
}

TEST(MirrorCancel, ACancelledCopyFromALocalRemoteChangesNothing) {
  GitRepos repos;
  std::map<std::string, std::optional<std::string>> files;
  for (int i = 0; i < 300; i++) files["f" + std::to_string(i) + ".yaml"] = "n: " + std::to_string(i) + "\n";
  std::string id = repos.CommitAndPush(files, "many");
  auto m = Mirror::Open(repos.MirrorDir(), Follow(repos.remote()));
  ASSERT_TRUE(m.ok());
  // Cancelled from the first progress report: the copy stops there.
  std::atomic<bool> cancel{false};
  auto r = (*m)->Fetch([&](const FetchProgress&) { cancel.store(true); }, &cancel);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("cancelled"), std::string::npos) << r.error().message();
  EXPECT_EQ((*m)->Head().error().code(), Code::kNotFound);
  // Already cancelled: no network, no change.
  auto again = (*m)->Fetch({}, &cancel);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message().find("cancelled"), std::string::npos) << again.error().message();
  EXPECT_EQ((*m)->Fetch().value_or(""), id);
}

// ---------------------------------------------------------------------------
// ssh:// against a real sshd (tests/gitsync/ssh_server.h).

TEST(MirrorSsh, KeyAuthAndKnownHosts) {
  GitRepos repos;
  SshServer sshd(repos.tmp());
  if (!sshd.up()) GTEST_SKIP() << "no sshd (openssh-server) to test ssh:// against";
  std::string id = repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "one");

  RemoteOptions o = Follow(sshd.Url(repos.remote()));
  o.ssh_key_file = repos.tmp().Sub("client_key");
  o.ssh_known_hosts_file = repos.tmp().Write("known_hosts", "# comment\n" + sshd.KnownHostsLine());
  auto m = Mirror::Open(repos.MirrorDir(), o);
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto head = (*m)->Fetch();
  ASSERT_TRUE(head.ok()) << head.error().message();
  EXPECT_EQ(*head, id);
  std::string next = repos.CommitAndPush({{"b.yaml", "b: 1\n"}}, "two");
  EXPECT_EQ((*m)->Fetch().value_or(""), next);

  // Hashed names, as `ssh-keygen -H` and `ssh-keyscan -H` write them.
  RemoteOptions hashed = o;
  hashed.ssh_known_hosts_file = repos.tmp().Write("known_hosts_hashed", sshd.KnownHostsLine());
  ASSERT_EQ(RunCommand("ssh-keygen -H -f " + hashed.ssh_known_hosts_file).exit_code, 0);
  ASSERT_EQ(RunCommand("grep -c '^|1|' " + hashed.ssh_known_hosts_file).out, "1\n");
  auto h = Mirror::Open(repos.MirrorDir("hashed"), hashed);
  EXPECT_EQ((*h)->Fetch().value_or(""), next);

  // A new key of `type` (with `passphrase`), authorized on the server.
  auto authorized_key = [&](const std::string& name, const std::string& type, const std::string& passphrase) {
    EXPECT_EQ(RunCommand("ssh-keygen -q -t " + type + " -N '" + passphrase + "' -f " + repos.tmp().Sub(name) +
                         " && cat " + repos.tmp().Sub(name + ".pub") + " >> " + repos.tmp().Sub("authorized_keys"))
                  .exit_code,
              0);
    return repos.tmp().Sub(name);
  };
  // A key protected by a passphrase, given in a file of its own.
  RemoteOptions locked = o;
  locked.ssh_key_file = authorized_key("locked_key", "ed25519", "open sesame");
  locked.ssh_passphrase_file = repos.tmp().Write("passphrase", "open sesame\n");
  auto l = Mirror::Open(repos.MirrorDir("locked"), locked);
  auto unlocked = (*l)->Fetch();
  EXPECT_TRUE(unlocked.ok()) << unlocked.error().message();

  // An RSA key, authorized: this libssh2 signs with SHA-1, which the
  // server (OpenSSH 9) refuses; the error says so rather than only "refused".
  RemoteOptions rsa = o;
  rsa.ssh_key_file = authorized_key("rsa_key", "rsa", "");
  auto ra = Mirror::Open(repos.MirrorDir("rsa"), rsa);
  ASSERT_TRUE(ra.ok()) << ra.error().message();
  auto rsa_fetch = (*ra)->Fetch();
  if (!rsa_fetch.ok()) {  // an older server may still take it
    EXPECT_NE(rsa_fetch.error().message().find("an RSA key"), std::string::npos) << rsa_fetch.error().message();
  }
  // A key file gone since the start: its path and why, not libssh2's words.
  RemoteOptions gone = o;
  gone.ssh_key_file = repos.tmp().Write("gone_key", "");
  auto g = Mirror::Open(repos.MirrorDir("gone"), gone);
  ASSERT_TRUE(g.ok()) << g.error().message();
  std::filesystem::remove(gone.ssh_key_file);
  auto gone_fetch = (*g)->Fetch();
  ASSERT_FALSE(gone_fetch.ok());
  EXPECT_NE(gone_fetch.error().message().find("cannot read --repo-ssh-key-file " + gone.ssh_key_file +
                                              ": No such file or directory"),
            std::string::npos)
      << gone_fetch.error().message();

  // The server offers a key that known_hosts does not list for it.
  RemoteOptions mitm = o;
  mitm.ssh_known_hosts_file = repos.tmp().Write("known_hosts_other", sshd.KnownHostsLine("other_key.pub"));
  auto x = Mirror::Open(repos.MirrorDir("mitm"), mitm);
  auto refused = (*x)->Fetch();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Code::kUnauthorized);
  EXPECT_NE(refused.error().message().find("SHA256:"), std::string::npos) << refused.error().message();

  // A key the server does not accept.
  RemoteOptions stranger = o;
  stranger.ssh_key_file = repos.tmp().Sub("other_key");
  auto s = Mirror::Open(repos.MirrorDir("stranger"), stranger);
  auto denied = (*s)->Fetch();
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code(), Code::kUnauthorized) << denied.error().message();

  // No known_hosts, and told to accept any host key: accepted, with one
  // warning in the log.
  std::vector<std::string> warnings;
  std::mutex mu;
  log::SetSink([&](const log::Record& r) {
    std::lock_guard<std::mutex> lock(mu);
    if (r.level == log::Level::kWarn) warnings.emplace_back(r.message);
  });
  RemoteOptions trusting = o;
  trusting.ssh_known_hosts_file.clear();
  trusting.ssh_accept_any_host_key = true;
  auto t = Mirror::Open(repos.MirrorDir("trusting"), trusting);
  EXPECT_EQ((*t)->Fetch().value_or(""), next);
  EXPECT_EQ((*t)->Fetch().value_or(""), next);
  log::SetSink(nullptr);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("without checking"), std::string::npos);
}

}  // namespace
}  // namespace bosun::gitsync
