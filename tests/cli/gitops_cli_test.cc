// `bosun history|diff|sync|status` and `bosun server --repo` as a user runs
// them: the real binary against a real `bosun server` on loopback.
//
// Two kinds of tests: the verbs against records written through the API by
// the test itself (every field of a Revision, formatting, secrets never
// shown, exit codes), and the whole loop with a real Git repository made by
// the test that the server follows (status, history, sync, webhook, diff of a
// work tree against what the controller applied).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using bosun::test::Outcome;
using bosun::test::TempDir;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Runs bosun without the developer's BOSUN_SERVER / BOSUN_TOKEN_FILE.
Outcome Bosun(const std::string& args) {
  return bosun::test::RunCommand("env -u BOSUN_SERVER -u BOSUN_TOKEN_FILE " + std::string(BOSUN_BINARY) + " " + args);
}

// Only what bosun prints on stdout (for output parsed as JSON: warnings go to
// stderr).
Outcome BosunStdout(const std::string& args) {
  return bosun::test::RunCommand("{ env -u BOSUN_SERVER -u BOSUN_TOKEN_FILE " + std::string(BOSUN_BINARY) + " " + args +
                                 " 2>/dev/null; }");
}

// Runs a shell command in `dir`, failing the test when it fails.
std::string Sh(const std::string& dir, const std::string& cmd) {
  Outcome r = bosun::test::RunCommand("cd " + Quote(dir) + " && " + cmd);
  EXPECT_EQ(r.exit_code, 0) << cmd << ":\n" << r.out;
  return r.out;
}

// A Git repository made by the test, with a fixed author.
class GitRepo {
 public:
  explicit GitRepo(std::string dir) : dir_(std::move(dir)) {
    fs::create_directories(dir_);
    Sh(dir_,
       "git init -q -b main . && git config user.name 'Ada Lovelace' && git config user.email ada@example.com "
       "&& git config commit.gpgsign false");
  }
  void Write(const std::string& rel, const std::string& text) {
    fs::path p = fs::path(dir_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  void Remove(const std::string& rel) { fs::remove(fs::path(dir_) / rel); }
  // Commits everything; returns the new commit id.
  std::string Commit(const std::string& message) {
    Sh(dir_, "git add -A && git commit -q --allow-empty -m " + Quote(message));
    return Head();
  }
  std::string Head() {
    std::string out = Sh(dir_, "git rev-parse HEAD");
    return out.substr(0, 40);
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// One `bosun server` member on loopback, started with extra flags.
class Server {
 public:
  // Ports 0: free ones. The admin token is DATA/admin.token unless `extra`
  // names an --admin-token-file (then pass it as `token_file`).
  Server(std::string data, const std::string& extra, int api_port = 0, int raft_port = 0, std::string token_file = "")
      : data_(std::move(data)), token_file_(std::move(token_file)) {
    if (token_file_.empty()) token_file_ = data_ + "/admin.token";
    api_ = "127.0.0.1:" + std::to_string(api_port > 0 ? api_port : bosun::test::FreePort());
    std::string raft = "127.0.0.1:" + std::to_string(raft_port > 0 ? raft_port : bosun::test::FreePort());
    log_ = data_ + ".log";
    std::string cmd = "exec " + std::string(BOSUN_BINARY) + " server --data " + Quote(data_) + " --listen " + api_ +
                      " --raft-listen " + raft + " " + extra + " >" + Quote(log_) + " 2>&1";
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Server() { Stop(); }

  // Waits until the API answers /readyz (a leader exists).
  bool WaitReady() {
    for (int i = 0; i < 300; ++i) {
      Outcome r = bosun::test::RunCommand("curl -s -o /dev/null -w '%{http_code}' " + url() + "/readyz");
      if (r.out == "200" && fs::exists(token_file())) {
        std::ifstream(token_file()) >> token_;
        return true;
      }
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st;
      for (int i = 0; i < 100 && waitpid(pid_, &st, WNOHANG) == 0; ++i) std::this_thread::sleep_for(100ms);
      if (waitpid(pid_, &st, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
      }
      pid_ = -1;
    }
  }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string url() const { return "http://" + api_; }
  std::string token_file() const { return token_file_; }
  bool running() const { return pid_ > 0; }
  // The exit status once the process ends within `wait`; -1 if it did not.
  int WaitExit(std::chrono::milliseconds wait) {
    if (pid_ <= 0) return -1;
    const auto until = std::chrono::steady_clock::now() + wait;
    int st = 0;
    while (waitpid(pid_, &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > until) return -1;
      std::this_thread::sleep_for(100ms);
    }
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }
  const std::string& token() const { return token_; }
  std::string flags() const { return " --server " + url() + " --token-file " + Quote(token_file()); }

  // An HTTP request to the API with the admin token; returns the status code
  // and the body.
  std::pair<int, json> Http(const std::string& method, const std::string& path, const json& body = nullptr,
                            const std::string& content_type = "application/json") const {
    std::string file = data_ + ".body";
    std::string cmd = "curl -s -w '\\n%{http_code}' -X " + method + " -H " + Quote("Authorization: Bearer " + token_) +
                      " " + url() + path;
    if (!body.is_null()) {
      std::ofstream(file) << body.dump();
      cmd += " -H " + Quote("Content-Type: " + content_type) + " --data-binary @" + Quote(file);
    }
    Outcome r = bosun::test::RunCommand(cmd);
    size_t nl = r.out.rfind('\n');
    int code = nl == std::string::npos ? 0 : std::atoi(r.out.c_str() + nl + 1);
    json j = json::parse(r.out.substr(0, nl == std::string::npos ? 0 : nl), nullptr, false);
    return {code, j};
  }

  // Creates a cluster-scoped bosun.dev object with its status (written
  // through /status too, as the API keeps status out of main-resource writes).
  void CreateWithStatus(const std::string& resource, const json& object) const {
    std::string base = "/apis/bosun.dev/v1/" + resource;
    auto created = Http("POST", base, object);
    ASSERT_EQ(created.first, 201) << created.second.dump();
    json with_status = created.second;
    with_status["status"] = object["status"];
    auto st = Http("PUT", base + "/" + object["metadata"]["name"].get<std::string>() + "/status", with_status);
    ASSERT_EQ(st.first, 200) << st.second.dump();
  }

 private:
  std::string data_, token_file_, api_, log_, token_;
  pid_t pid_ = -1;
};

// ---------------------------------------------------------------------------
// Flags and help: no server needed.

TEST(GitOpsCli, EveryVerbHasHelp) {
  for (const char* verb : {"history", "history show", "diff", "sync", "status"}) {
    Outcome r = Bosun(std::string(verb) + " --help");
    EXPECT_EQ(r.exit_code, 0) << verb << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr("--server")) << verb;
    EXPECT_THAT(r.out, HasSubstr("--token-file")) << verb;
  }
  Outcome server = Bosun("server --help");
  for (const char* flag : {"--repo", "--branch", "--ref", "--path", "--fetch-interval", "--repo-username",
                           "--repo-password-file", "--repo-ssh-key-file", "--repo-known-hosts-file",
                           "--webhook-secret-file", "--history-limit", "--history-max-bytes"}) {
    EXPECT_THAT(server.out, HasSubstr(flag));
  }
}

// `bosun diff` exits 2 when something would change: a command line it
// cannot parse must not read as "changes" in a CI job.
TEST(GitOpsCli, DiffUsageErrorsExitOneNotTwo) {
  for (const char* args : {"diff --no-such-flag", "diff -o yaml --path .", "diff --revision", "diff stray-argument",
                           "--log-level debug diff --no-such-flag"}) {
    Outcome r = Bosun(args);
    EXPECT_EQ(r.exit_code, 1) << args << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr("--help")) << args;  // CLI11's hint: it was the parser that refused
  }
  Outcome help = Bosun("diff --help");
  EXPECT_EQ(help.exit_code, 0) << help.out;
  EXPECT_THAT(help.out, HasSubstr("a usage error"));
  // The other verbs keep 2 for a usage error (bosun validate documents it).
  Outcome history = Bosun("history --no-such-flag");
  EXPECT_EQ(history.exit_code, 2) << history.out;
  Outcome validate = Bosun("validate --no-such-flag");
  EXPECT_EQ(validate.exit_code, 2) << validate.out;
}

TEST(GitOpsCli, ServerRefusesBadRepoFlagsClearly) {
  TempDir d;
  auto server = [&](const std::string& flags) {
    return Bosun("server --data " + d.Sub("data") + " --listen 127.0.0.1:1 --raft-listen 127.0.0.1:1 " + flags);
  };
  Outcome both = server("--repo " + d.path() + " --branch main --ref refs/tags/v1");
  EXPECT_EQ(both.exit_code, 2) << both.out;
  EXPECT_THAT(both.out, HasSubstr("give --branch or --ref, not both"));

  Outcome orphan = server("--branch main");
  EXPECT_EQ(orphan.exit_code, 2) << orphan.out;
  EXPECT_THAT(orphan.out, HasSubstr("--branch needs --repo"));

  Outcome missing = server("--repo " + d.path() + " --repo-password-file " + d.Sub("nope.txt"));
  EXPECT_EQ(missing.exit_code, 2) << missing.out;
  EXPECT_THAT(missing.out, HasSubstr("--repo-password-file " + d.Sub("nope.txt") + ": cannot read it: no such file"));

  fs::create_directories(d.Sub("folder"));
  Outcome folder = server("--repo " + d.path() + " --repo-ssh-key-file " + d.Sub("folder"));
  EXPECT_EQ(folder.exit_code, 2) << folder.out;
  EXPECT_THAT(folder.out, HasSubstr("--repo-ssh-key-file " + d.Sub("folder") + ": is a folder"));

  std::string empty = d.Write("empty.secret", "\n");
  Outcome no_secret = server("--repo " + d.path() + " --webhook-secret-file " + empty);
  EXPECT_EQ(no_secret.exit_code, 2) << no_secret.out;
  EXPECT_THAT(no_secret.out, HasSubstr("holds no secret"));

  Outcome password_url = server("--repo https://ada:hunter2-pw@git.example.com/shop.git");
  EXPECT_EQ(password_url.exit_code, 2) << password_url.out;
  EXPECT_THAT(password_url.out, HasSubstr("--repo-password-file"));
  EXPECT_THAT(password_url.out, Not(HasSubstr("hunter2-pw")));
  // A token as the URL's user is refused as well, and not repeated.
  Outcome token_url = server("--repo https://ghp_t0kenAsUser@git.example.com/shop.git");
  EXPECT_EQ(token_url.exit_code, 2) << token_url.out;
  EXPECT_THAT(token_url.out, HasSubstr("--repo-password-file"));
  EXPECT_THAT(token_url.out, Not(HasSubstr("ghp_t0kenAsUser")));
  Outcome outside = server("--repo " + d.path() + " --path ../deploy");
  EXPECT_EQ(outside.exit_code, 2) << outside.out;
  EXPECT_THAT(outside.out, HasSubstr("--path ../deploy: give a folder inside the repository")) << outside.out;
  Outcome no_password = server("--repo " + d.path() + " --repo-password-file " + empty);
  EXPECT_EQ(no_password.exit_code, 2) << no_password.out;
  EXPECT_THAT(no_password.out, HasSubstr("--repo-password-file " + empty + ": its first line is empty"))
      << no_password.out;
  // An SSH repository without the host keys to trust.
  Outcome unchecked = server("--repo ssh://git@git.example.com/shop.git");
  EXPECT_EQ(unchecked.exit_code, 2) << unchecked.out;
  EXPECT_THAT(unchecked.out, HasSubstr("needs --repo-known-hosts-file")) << unchecked.out;

  Outcome interval = server("--repo " + d.path() + " --fetch-interval 10ms");
  EXPECT_EQ(interval.exit_code, 2) << interval.out;
  EXPECT_THAT(interval.out, HasSubstr("--fetch-interval 10ms: must be at least 1s"));

  Outcome bytes = server("--repo " + d.path() + " --history-max-bytes lots");
  EXPECT_EQ(bytes.exit_code, 2) << bytes.out;
  EXPECT_THAT(bytes.out, HasSubstr("--history-max-bytes"));
}

// A port another process listens on: the server names the address and the
// kernel's reason, for the Raft port (libraft itself says only "I/O error")
// and for the API port, and exits without leaving anything running.
TEST(GitOpsCli, ServerWhosePortIsTakenSaysWhichAndWhy) {
  // Held (listening) for the whole test, so nothing else can take it.
  bosun::test::HeldPort held;
  const std::string taken = "127.0.0.1:" + std::to_string(held.port());
  const std::string free_port = "127.0.0.1:" + std::to_string(bosun::test::FreePort());
  TempDir d;

  Outcome raft = Bosun("server --data " + d.Sub("a") + " --listen " + free_port + " --raft-listen " + taken);
  EXPECT_NE(raft.exit_code, 0) << raft.out;
  EXPECT_THAT(raft.out, HasSubstr("cannot listen on " + taken + ": Address already in use")) << raft.out;
  EXPECT_THAT(raft.out, Not(HasSubstr("I/O error"))) << raft.out;

  Outcome api = Bosun("server --data " + d.Sub("b") + " --listen " + taken + " --raft-listen " + free_port);
  EXPECT_NE(api.exit_code, 0) << api.out;
  EXPECT_THAT(api.out, HasSubstr("the API cannot listen on " + taken + ": Address already in use")) << api.out;
}

TEST(GitOpsCli, ServerNeverPrintsACredentialFilesContent) {
  TempDir d;
  std::string pw = d.Write("pw.txt", "hunter2-pw\n");
  // A bad interval after a good password file: the error is about the interval only.
  Outcome r = Bosun("server --data " + d.Sub("data") + " --repo " + d.path() + " --repo-password-file " + pw +
                    " --fetch-interval soon");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--fetch-interval"));
  EXPECT_THAT(r.out, Not(HasSubstr("hunter2-pw")));
}

// ---------------------------------------------------------------------------
// Against a server that follows no repository.

class GitOpsVerbs : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(dir_.Sub("data"), "");
    ASSERT_TRUE(server_->WaitReady()) << server_->Log();
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- server log ----\n" << server_->Log() << "\n";
    server_->Stop();
  }
  Outcome Run(const std::string& args) { return Bosun(args + server_->flags()); }
  Outcome Out(const std::string& args) { return BosunStdout(args + server_->flags()); }
  // Runs `args` until its output matches `pattern` (for up to 20 s); *last
  // is the last output.
  bool RunUntilItMatches(const std::string& args, const std::string& pattern, Outcome* last) {
    return bosun::test::Eventually(
        [&] {
          *last = Run(args);
          return std::regex_search(last->out, std::regex(pattern));
        },
        20s, 200ms);
  }

  static json Revision(int seq, const std::string& commit, const std::string& phase, const std::string& reason) {
    char name[16];
    std::snprintf(name, sizeof name, "%08d", seq);
    return {
        {"apiVersion", "bosun.dev/v1"},
        {"kind", "Revision"},
        {"metadata",
         {{"name", name}, {"labels", {{"bosun.dev/commit", commit}, {"bosun.dev/sequence", std::to_string(seq)}}}}},
        {"spec",
         {{"sequence", seq},
          {"commit", commit},
          {"parents", json::array({std::string(40, '0')})},
          {"author", {{"name", "Ada Lovelace"}, {"email", "ada@example.com"}, {"time", "2026-01-01T10:00:00Z"}}},
          {"committer", {{"name", "Grace Hopper"}, {"email", "grace@example.com"}, {"time", "2026-01-01T10:05:00Z"}}},
          {"message", "Scale the web tier\n\nBlack Friday is coming."},
          {"signature", {{"signed", false}, {"status", "unverified"}, {"key", ""}}},
          {"trigger", "webhook"},
          {"source", {{"url", "https://git.example.com/shop.git"}, {"ref", "main"}, {"path", "deploy/"}}}}},
        {"status", {{"phase", phase}, {"reason", reason}}}};
  }

  // Four records: an apply, a refusal, an update with field diffs, a skip.
  void WriteHistory() {
    json r1 = Revision(1, "1111111" + std::string(33, 'a'), "Applied", "Applied");
    r1["spec"]["trigger"] = "startup";
    r1["status"]["message"] = "applied 2 objects";
    r1["status"]["changes"] = {{"created", 2}, {"updated", 0}, {"deleted", 0}, {"unchanged", 0}};
    r1["status"]["objects"] = json::array({{{"action", "created"},
                                            {"apiVersion", "apps/v1"},
                                            {"kind", "Deployment"},
                                            {"namespace", "shop"},
                                            {"name", "web"},
                                            {"path", "deploy/web/deploy.yaml"}},
                                           {{"action", "created"},
                                            {"apiVersion", "v1"},
                                            {"kind", "Secret"},
                                            {"namespace", "shop"},
                                            {"name", "creds"},
                                            {"path", "deploy/web/secret.yaml"}}});
    server_->CreateWithStatus("revisions", r1);

    json r2 = Revision(2, "2222222" + std::string(33, 'b'), "Refused", "InvalidManifests");
    r2["spec"]["author"] = {
        {"name", "Linus Torvalds"}, {"email", "torvalds@example.org"}, {"time", "2026-01-01T09:00:00Z"}};
    r2["status"]["message"] = "2 invalid manifests; nothing was applied";
    r2["status"]["droppedBy"] = {
        {"revision", "00000003"}, {"commit", "abcd333" + std::string(33, 'c')}, {"at", "2026-01-01T10:06:02Z"}};
    r2["status"]["errors"] = {"deploy/web/deploy.yaml:14:9: spec.template.spec.containers[0].image: required",
                              "deploy/web/svc.yaml:8:11: spec.ports[0].port: must be between 1 and 65535"};
    server_->CreateWithStatus("revisions", r2);

    json r3 = Revision(3, "abcd333" + std::string(33, 'c'), "Applied", "Applied");
    r3["spec"]["reverts"] = "2222222" + std::string(33, 'b');
    r3["spec"]["revertsTo"] = "1111111" + std::string(33, 'a');
    r3["spec"]["rewrites"] = "9999999" + std::string(33, 'f');
    r3["spec"]["liveBefore"] = "1111111" + std::string(33, 'a');
    r3["spec"]["commitsSinceLive"] = 2;
    r3["status"]["warnings"] = {"deploy/web/deploy.yaml:3:1: warning: spec.foo: unknown field"};
    r3["status"]["message"] = "applied 2 objects";
    r3["status"]["phases"] = {{{"name", "Fetched"}, {"startedAt", "2026-01-01T10:06:00Z"}, {"durationMs", 41}},
                              {{"name", "Validated"}, {"startedAt", "2026-01-01T10:06:01Z"}, {"durationMs", 7}},
                              {{"name", "Applied"}, {"startedAt", "2026-01-01T10:06:01Z"}, {"durationMs", 19}}};
    r3["status"]["changes"] = {{"created", 0}, {"updated", 2}, {"deleted", 1}, {"unchanged", 4}};
    r3["status"]["objects"] = json::array(
        {{{"action", "updated"},
          {"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"namespace", "shop"},
          {"name", "web"},
          {"path", "deploy/web/deploy.yaml"},
          {"diff",
           {{{"field", "spec.replicas"}, {"op", "changed"}, {"from", 3}, {"to", 5}},
            {{"field", "metadata.labels.tier"}, {"op", "added"}, {"to", "frontend"}},
            {{"field", "spec.paused"}, {"op", "removed"}, {"from", true}}}}},
         // A record that (wrongly) holds a Secret's values: they must not be shown anyway.
         {{"action", "updated"},
          {"apiVersion", "v1"},
          {"kind", "Secret"},
          {"namespace", "shop"},
          {"name", "creds"},
          {"path", "deploy/web/secret.yaml"},
          {"diff",
           {{{"field", "data.password"}, {"op", "changed"}, {"from", "b2xkLXNlY3JldA=="}, {"to", "bmV3LXNlY3JldA=="}},
            {{"field", "stringData.token"}, {"op", "added"}, {"to", "tok-very-secret"}}}}},
         {{"action", "deleted"},
          {"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"namespace", "shop"},
          {"name", "old"},
          {"path", "deploy/old.yaml"}}});
    r3["status"]["drift"] = {{{"apiVersion", "apps/v1"},
                              {"kind", "Deployment"},
                              {"namespace", "shop"},
                              {"name", "web"},
                              {"detectedAt", "2026-01-01T11:00:00Z"},
                              {"fields", {"spec.replicas"}},
                              {"healed", true},
                              {"healedAt", "2026-01-01T11:00:01Z"}},
                             {{"apiVersion", "v1"},
                              {"kind", "ConfigMap"},
                              {"namespace", "shop"},
                              {"name", "settings"},
                              {"detectedAt", "2026-01-01T12:00:00Z"},
                              {"deleted", true},
                              {"healed", false},
                              {"error", "namespace shop is terminating"}}};
    r3["status"]["driftDropped"] = 3;
    r3["status"]["suspensions"] = {
        {{"suspendedAt", "2026-01-01T13:00:00Z"}, {"reason", "incident 42"}, {"resumedAt", "2026-01-01T13:20:00Z"}}};
    // Fields the cluster owns; again a Secret's values (wrongly) held.
    r3["status"]["changes"]["ignoring"] = 2;
    r3["status"]["ignoredDifferences"] = {
        {{"apiVersion", "apps/v1"},
         {"kind", "Deployment"},
         {"namespace", "shop"},
         {"name", "api"},
         {"path", "deploy/api.yaml"},
         {"fields", {{{"field", "spec.replicas"}, {"op", "changed"}, {"from", 7}, {"to", 2}}}}},
        {{"apiVersion", "v1"},
         {"kind", "Secret"},
         {"namespace", "shop"},
         {"name", "creds"},
         {"path", "deploy/web/secret.yaml"},
         {"fields", {{{"field", "data.api-key"}, {"op", "changed"}, {"from", "old-secret"}, {"to", "new-secret"}}}}}};
    // What stays, and why; a record from before the reason was written was
    // kept by prune: false.
    r3["status"]["changes"]["kept"] = 2;
    r3["status"]["kept"] = {{{"apiVersion", "v1"},
                             {"kind", "ConfigMap"},
                             {"namespace", "shop"},
                             {"name", "data"},
                             {"path", "deploy/data.yaml"},
                             {"reason", "pruneDisabled"}},
                            {{"apiVersion", "v1"}, {"kind", "Service"}, {"namespace", "shop"}, {"name", "legacy"}}};
    r3["status"]["appliedAt"] = "2026-01-01T10:06:01Z";
    r3["status"]["revertedBy"] = "5555555" + std::string(33, 'e');
    r3["status"]["degraded"] = {{"reason", "ImagePullFailed"},
                                {"at", "2026-01-01T10:05:00Z"},
                                {"message", "image pull failed for pod shop/web-1 (container app)"},
                                {"revert",
                                 {{"needsHuman", true},
                                  {"automatic", false},
                                  {"error", "revision 00000004 is live since; autoRevert is off"}}}};
    server_->CreateWithStatus("revisions", r3);

    json r4 = Revision(4, "abcd444" + std::string(33, 'd'), "Skipped", "Superseded");
    server_->CreateWithStatus("revisions", r4);
  }

  TempDir dir_;
  std::unique_ptr<Server> server_;
};

TEST_F(GitOpsVerbs, HistoryListsNewestFirstWithChangesAndOutcome) {
  Outcome empty = Run("history");
  EXPECT_EQ(empty.exit_code, 0) << empty.out;
  EXPECT_THAT(empty.out, HasSubstr("No revisions yet"));

  WriteHistory();
  Outcome r = Run("history");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::vector<std::string> lines;
  std::stringstream ss(r.out);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 5u) << r.out;
  EXPECT_THAT(lines[0], ::testing::MatchesRegex("REVISION +COMMIT +AUTHOR +WHEN +TRIGGER +CHANGES +OUTCOME"));
  EXPECT_THAT(lines[1],
              ::testing::MatchesRegex("4 +abcd444 +Ada Lovelace +[0-9]+s ago +webhook +- +Skipped \\(Superseded\\)"));
  EXPECT_THAT(lines[2], ::testing::MatchesRegex("3 +abcd333 +Ada Lovelace +.* ago +webhook +\\+0 ~2 -1 +Applied"));
  // Its commit is no longer on the branch: revision 3 force-pushed it away.
  EXPECT_THAT(lines[3],
              ::testing::MatchesRegex("2 +2222222 +.* +Refused \\(InvalidManifests\\), force-pushed away \\(3\\)"));
  Outcome dropped = Run("history show 2");
  EXPECT_THAT(dropped.out, HasSubstr("Dropped:     no longer on the branch: a force-push to abcd333 (revision 3) "
                                     "left it out, at 2026-01-01T10:06:02Z"));
  // Nothing to revert there: said at once, with no request left behind.
  Outcome gone = Run("revert 2 --timeout 5s");
  EXPECT_EQ(gone.exit_code, 1) << gone.out;
  EXPECT_THAT(gone.out, HasSubstr("revision 2 (2222222) is no longer on the followed branch: a force-push to abcd333 "
                                  "left it out; nothing to revert"));
  EXPECT_FALSE(server_->Http("GET", "/apis/bosun.dev/v1/revisions/00000002")
                   .second["metadata"]
                   .value("annotations", json::object())
                   .contains("bosun.dev/revert-requested"));
  EXPECT_THAT(lines[4], ::testing::MatchesRegex("1 +1111111 +.* +startup +\\+2 ~0 -0 +Applied"));

  // The auditor's filters: who, how it ended, when bosun recorded it.
  auto rows = [](const Outcome& o) { return std::count(o.out.begin(), o.out.end(), '\n') - 1; };
  Outcome refused = Run("history --outcome refused");
  ASSERT_EQ(refused.exit_code, 0) << refused.out;
  EXPECT_EQ(rows(refused), 1) << refused.out;
  EXPECT_THAT(refused.out, HasSubstr("Refused (InvalidManifests)"));
  EXPECT_EQ(rows(Run("history --outcome InvalidManifests")), 1);
  EXPECT_EQ(rows(Run("history --author LINUS")), 1) << Run("history --author LINUS").out;
  EXPECT_THAT(Run("history --author torvalds@").out, HasSubstr("2222222"));
  EXPECT_EQ(rows(Run("history --author grace")), 4) << "the committer counts too";
  EXPECT_EQ(rows(Run("history --since 1h")), 4);
  EXPECT_EQ(rows(Run("history --since 2020-01-01 --until 2099-12-31T00:00:00Z --author ada")), 3);
  EXPECT_EQ(rows(Run("history --outcome skipped")), 1);
  // Revision 3 was Degraded (ImagePullFailed) before it went on: an incident
  // is found by either.
  EXPECT_EQ(rows(Run("history --outcome degraded")), 1) << Run("history --outcome degraded").out;
  EXPECT_THAT(Run("history --outcome ImagePullFailed").out, HasSubstr("abcd333"));
  Outcome bogus = Run("history --outcome bogus");
  EXPECT_EQ(bogus.exit_code, 0) << bogus.out;
  EXPECT_THAT(bogus.out, HasSubstr("the history has: Applied, Degraded, ImagePullFailed, InvalidManifests, Refused, "
                                   "Skipped, Superseded."));
  Outcome none = Run("history --until 2d");
  EXPECT_EQ(none.exit_code, 0) << none.out;
  EXPECT_THAT(none.out, HasSubstr("No revision in the history matches --until 2d."));
  // A date for --until takes in that whole day: today's records.
  const std::string today = bosun::FormatRfc3339(std::chrono::system_clock::now()).substr(0, 10);
  EXPECT_EQ(rows(Run("history --until " + today)), 4) << Run("history --until " + today).out;
  // A time with its offset is that instant: an hour ago written as local
  // time at +05:00 (read as UTC it would be four hours ahead: no rows).
  std::string hour_ago = bosun::FormatRfc3339(std::chrono::system_clock::now() + std::chrono::hours(4));
  hour_ago.back() = '+';
  hour_ago += "05:00";
  EXPECT_EQ(rows(Run("history --since " + hour_ago)), 4) << Run("history --since " + hour_ago).out;
  EXPECT_EQ(Run("history --until " + hour_ago).exit_code, 0);
  EXPECT_THAT(Run("history --until " + hour_ago).out, HasSubstr("No revision in the history matches"));
  EXPECT_EQ(Run("history --since 2026-11-20T14:00:00").exit_code, 2) << "a time without its zone is refused";
  Outcome bad = Run("history --since yesterday");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_THAT(bad.out, HasSubstr("bosun history: --since: \"yesterday\" is not a time: give an RFC 3339 time"));

  Outcome two = Run("history -n 2");
  EXPECT_EQ(std::count(two.out.begin(), two.out.end(), '\n'), 3) << two.out;

  Outcome wide = Run("history -o wide");
  EXPECT_THAT(wide.out, HasSubstr("SUBJECT"));
  EXPECT_THAT(wide.out, HasSubstr("Scale the web tier"));

  Outcome j = Out("history -o json");
  ASSERT_EQ(j.exit_code, 0) << j.out;
  json list = json::parse(j.out, nullptr, false);
  ASSERT_TRUE(list.is_object()) << j.out;
  ASSERT_EQ(list["items"].size(), 4u);
  EXPECT_EQ(list["items"][0]["spec"]["sequence"], 4);
  EXPECT_EQ(list["items"][3]["spec"]["sequence"], 1);
  EXPECT_THAT(j.out, Not(HasSubstr("bmV3LXNlY3JldA==")));
  EXPECT_THAT(j.out, Not(HasSubstr("tok-very-secret")));
  EXPECT_THAT(j.out, Not(HasSubstr("new-secret")));
  Outcome y = Run("history -o yaml -n 1");
  EXPECT_EQ(y.exit_code, 0) << y.out;
  EXPECT_THAT(y.out, HasSubstr("kind: List"));
}

TEST_F(GitOpsVerbs, HistoryShowPrintsTheWholeRecordButNoSecretValue) {
  WriteHistory();
  Outcome r = Run("history show 3");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* want :
       {"Revision 3 (00000003)",
        "abcd333cccc",
        "(parent 0000000)",
        "Ada Lovelace <ada@example.com>, 2026-01-01T10:00:00Z",
        "Grace Hopper <grace@example.com>",
        "Signature:   not signed",
        "Trigger:     webhook",
        "https://git.example.com/shop.git @ main, path deploy/",
        "Outcome:     Applied",
        "applied 2 objects",
        "    Scale the web tier\n    \n    Black Friday is coming.",
        "Fetched",
        "41 ms",
        "Validated",
        "7 ms",
        "Changes (+0 ~2 -1, 4 unchanged):",
        "~ Deployment shop/web (deploy/web/deploy.yaml)",
        "~ spec.replicas: 3 → 5",
        "+ metadata.labels.tier: \"frontend\"",
        "- spec.paused: true",
        "~ Secret shop/creds (deploy/web/secret.yaml)",
        "~ data.password (changed, value hidden)",
        "+ stringData.token (added, value hidden)",
        "- ConfigMap shop/old (deploy/old.yaml)",
        "Drift (2):",
        "ConfigMap shop/settings — deleted by hand, detected",
        "could not be put back: namespace shop is terminating",
        "(3 more not recorded)",
        "Deployment shop/web: spec.replicas — changed by hand, detected",
        "Suspended (1):\n  2026-01-01T13:00:00Z to 2026-01-01T13:20:00Z (20m0s): incident 42\n",
        "put back",
        "Kept (2, no longer in the repository):\n"
        "  = ConfigMap shop/data (was deploy/data.yaml): its bosun.dev/prune annotation is \"false\"\n"
        "  = Service shop/legacy: the SyncConfig sets prune: false\n",
        "Fields the cluster owns (2 objects, the live value kept):\n"
        "  = Deployment shop/api (deploy/api.yaml)\n"
        "      kept spec.replicas: live 7, repository 2\n"
        "  = Secret shop/creds (deploy/web/secret.yaml)\n"
        "      kept data.api-key: the live value differs from the repository's (value hidden)\n",
        "Live before: 1111111 (revision 1); this revision brings 2 commits (git log 1111111..abcd333)\n",
        "Reverts:     2222222bbbb",
        "and every commit before it back to 1111111aaaa",
        "Rewrites:    9999999ffff",
        "the branch was force-pushed: the commit live before is no longer on it",
        "Reverted by: 5555555eeee",
        "Degraded:    ImagePullFailed at 2026-01-01T10:05:00Z: image pull failed for pod shop/web-1 (container "
        "app); revert: none (needs a human): revision 00000004 is live since; autoRevert is off",
        "Warnings (1):\n  deploy/web/deploy.yaml:3:1: warning: spec.foo: unknown field\n"}) {
    EXPECT_THAT(r.out, HasSubstr(want));
  }
  for (const char* secret : {"b2xkLXNlY3JldA==", "bmV3LXNlY3JldA==", "tok-very-secret", "old-secret", "new-secret"}) {
    EXPECT_THAT(r.out, Not(HasSubstr(secret)));
  }

  // The same record by name and by commit prefix; JSON and YAML scrubbed too.
  // ("N ago" may tick between the runs.)
  auto timeless = [](const std::string& s) { return std::regex_replace(s, std::regex("[0-9a-z]+ ago"), "ago"); };
  EXPECT_EQ(timeless(Run("history show 00000003").out), timeless(r.out));
  EXPECT_EQ(timeless(Run("history show abcd333").out), timeless(r.out));
  Outcome j = Out("history show 3 -o json");
  ASSERT_EQ(j.exit_code, 0) << j.out;
  json rec = json::parse(j.out, nullptr, false);
  EXPECT_EQ(rec["metadata"]["name"], "00000003");
  const json& secret_diff = rec["status"]["objects"][1]["diff"][0];
  EXPECT_EQ(secret_diff["field"], "data.password");
  EXPECT_FALSE(secret_diff.contains("from"));
  EXPECT_FALSE(secret_diff.contains("to"));
  EXPECT_EQ(rec["status"]["objects"][0]["diff"][0]["to"], 5);
  EXPECT_EQ(rec["status"]["ignoredDifferences"][1]["fields"][0], json({{"field", "data.api-key"}, {"op", "changed"}}));
  EXPECT_EQ(rec["status"]["ignoredDifferences"][0]["fields"][0]["from"], 7);
  Outcome y = Run("history show 3 -o yaml");
  EXPECT_EQ(y.exit_code, 0) << y.out;
  EXPECT_THAT(y.out, HasSubstr("name: \"00000003\""));
  EXPECT_THAT(y.out, Not(HasSubstr("bmV3LXNlY3JldA==")));

  Outcome refused = Run("history show 2");
  ASSERT_EQ(refused.exit_code, 0) << refused.out;
  EXPECT_THAT(refused.out, HasSubstr("Outcome:     Refused (InvalidManifests)"));
  EXPECT_THAT(refused.out,
              HasSubstr("Errors (2):\n  deploy/web/deploy.yaml:14:9: spec.template.spec.containers[0].image: "
                        "required\n  deploy/web/svc.yaml:8:11: "));
}

// An auditor's question: which commits changed this object, and how?
TEST_F(GitOpsVerbs, HistoryOfOneObjectListsTheRevisionsThatTouchedIt) {
  WriteHistory();
  Outcome web = Run("history --object deployment/web --namespace shop");
  ASSERT_EQ(web.exit_code, 0) << web.out;
  // What the revision did to it comes last: a long one pads no column.
  EXPECT_THAT(web.out, ::testing::ContainsRegex("OUTCOME +THIS OBJECT\n"));
  EXPECT_THAT(web.out, HasSubstr("updated (spec.replicas, metadata.labels.tier, spec.paused); drift: spec.replicas, "
                                 "healed"));
  EXPECT_THAT(web.out, HasSubstr("created"));
  EXPECT_THAT(web.out, Not(HasSubstr("abcd444"))) << "the skipped revision did not touch it";
  EXPECT_THAT(web.out, Not(HasSubstr("2222222"))) << "nor did the refused one";

  Outcome old = Run("history --object cm/old --namespace shop -o json");
  ASSERT_EQ(old.exit_code, 0) << old.out;
  json list = json::parse(old.out);
  ASSERT_EQ(list["items"].size(), 1u) << old.out;
  EXPECT_EQ(list["items"][0]["metadata"]["name"], "00000003");

  // The revision its file left the repository in, when it stays.
  Outcome data = Run("history --object cm/data --namespace shop");
  EXPECT_THAT(data.out, HasSubstr("left the repository, kept (its bosun.dev/prune annotation is \"false\")"))
      << data.out;
  EXPECT_THAT(data.out, HasSubstr("abcd333")) << data.out;
  // A later applied record still lists it as kept, after a skipped one
  // (which lists nothing): not news.
  json still = Revision(5, "5555555" + std::string(33, '4'), "Healthy", "RolledOut");
  still["status"]["kept"] = {{{"apiVersion", "v1"},
                              {"kind", "ConfigMap"},
                              {"namespace", "shop"},
                              {"name", "data"},
                              {"path", "deploy/data.yaml"},
                              {"reason", "pruneDisabled"}}};
  server_->CreateWithStatus("revisions", still);
  data = Run("history --object cm/data --namespace shop");
  EXPECT_THAT(data.out, HasSubstr("abcd333")) << data.out;
  EXPECT_THAT(data.out, Not(HasSubstr("5555555"))) << data.out;
  // A filter does not move it: the only Healthy record is not where it left.
  Outcome healthy = Run("history --object cm/data --namespace shop --outcome healthy");
  EXPECT_THAT(healthy.out, Not(HasSubstr("left the repository"))) << healthy.out;

  Outcome elsewhere = Run("history --object deployment/web");
  EXPECT_EQ(elsewhere.exit_code, 0) << elsewhere.out;
  EXPECT_THAT(elsewhere.out, HasSubstr("No revision in the history changed deployment/web in namespace default"));
  EXPECT_EQ(Run("history --object web").exit_code, 2);
  EXPECT_EQ(Run("history --object frobnicator/web").exit_code, 2);
  EXPECT_EQ(Run("history --namespace shop").exit_code, 2);
  // kubectl's -n is not history's: said so.
  Outcome dash_n = Run("history --object deployment/web -n shop");
  EXPECT_EQ(dash_n.exit_code, 2) << dash_n.out;
  EXPECT_THAT(dash_n.out, HasSubstr("the namespace of --object is --namespace")) << dash_n.out;

  // A record cut to fit may have changed it without naming it: said, but
  // only for the records the other filters keep.
  json cut = Revision(6, "6666666" + std::string(33, '6'), "Applied", "Applied");
  cut["spec"]["author"] = {
      {"name", "Linus Torvalds"}, {"email", "torvalds@example.org"}, {"time", "2026-01-01T11:00:00Z"}};
  cut["status"]["truncated"] = true;
  server_->CreateWithStatus("revisions", cut);
  Outcome with_cut = Run("history --object deployment/web --namespace shop");
  EXPECT_THAT(with_cut.out, HasSubstr("1 record was cut to fit the record size may have changed deployment/web"));
  Outcome by_ada = Run("history --object deployment/web --namespace shop --author ada");
  EXPECT_THAT(by_ada.out, HasSubstr("updated (spec.replicas"));
  EXPECT_THAT(by_ada.out, Not(HasSubstr("cut to fit"))) << "the cut record is Linus's";
}

TEST_F(GitOpsVerbs, HistoryShowExplainsUnknownAndAmbiguousRevisions) {
  WriteHistory();
  Outcome none = Run("history show 99");
  EXPECT_EQ(none.exit_code, 1) << none.out;
  EXPECT_THAT(none.out, HasSubstr("bosun history show: no revision \"99\" in the history"));
  EXPECT_THAT(none.out, HasSubstr("`bosun history` lists them"));
  Outcome ambiguous = Run("history show abcd");
  EXPECT_EQ(ambiguous.exit_code, 1) << ambiguous.out;
  EXPECT_THAT(ambiguous.out, HasSubstr("\"abcd\" matches 2 commits (abcd333, abcd444): give more digits"));
  Outcome short_prefix = Run("history show ab");
  EXPECT_EQ(short_prefix.exit_code, 1) << short_prefix.out;
  EXPECT_THAT(short_prefix.out, HasSubstr("\"ab\" is too short for a commit id: give at least 4 hex digits"));
  Outcome full = Run("history show " + std::string("2222222") + std::string(33, 'b'));
  EXPECT_EQ(full.exit_code, 0) << full.out;
  EXPECT_THAT(full.out, HasSubstr("Revision 2 (00000002)"));
  Outcome usage = Bosun("history show");
  EXPECT_EQ(usage.exit_code, 2) << usage.out;
}

TEST_F(GitOpsVerbs, StatusAndSyncSayWhenNoRepositoryIsFollowed) {
  for (const char* verb : {"status", "sync", "sync --no-wait"}) {
    Outcome r = Run(verb);
    EXPECT_EQ(r.exit_code, 1) << verb << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr("this cluster follows no Git repository")) << verb;
    EXPECT_THAT(r.out, HasSubstr("--repo")) << verb;
  }
}

// `bosun apply` of a changed Job template: refused as Kubernetes refuses it,
// with the way out; --force deletes the Job and creates it again (a new uid),
// as kubectl apply --force does.
TEST_F(GitOpsVerbs, ApplyForceReplacesAnObjectWhoseImmutableFieldChanged) {
  TempDir m;
  auto job = [](const std::string& image) {
    return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  template:\n    spec:\n"
           "      restartPolicy: Never\n      containers:\n      - name: m\n        image: " +
           image + "\n";
  };
  m.Write("job.yaml", job("migrate:1"));
  ASSERT_EQ(Run("apply -f " + m.path()).exit_code, 0);
  const json before = server_->Http("GET", "/apis/batch/v1/namespaces/default/jobs/migrate", json()).second;
  m.Write("job.yaml", job("migrate:2"));
  Outcome r = Run("apply -f " + m.path());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("spec.template: field is immutable"));
  EXPECT_THAT(r.out, HasSubstr("(--force deletes and creates it again)"));
  r = Run("apply --force -f " + m.path());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("job.batch/migrate replaced"));
  const json after = server_->Http("GET", "/apis/batch/v1/namespaces/default/jobs/migrate", json()).second;
  EXPECT_NE(after["metadata"]["uid"], before["metadata"]["uid"]);
  EXPECT_EQ(after["spec"]["template"]["spec"]["containers"][0]["image"], "migrate:2");
  // An update of mutable fields stays an update with --force.
  r = Run("apply --force -f " + m.path());
  EXPECT_THAT(r.out, HasSubstr("job.batch/migrate unchanged"));
}

// The namespace lifecycle with the real server and CLI: content only in a
// namespace that exists; `bosun delete namespace` takes everything in it
// with it (the namespace controller), and nothing elsewhere.
// kubectl's columns for ReplicaSets, Jobs and ConfigMaps, not NAME and AGE
// only.
TEST_F(GitOpsVerbs, GetShowsReplicaSetJobAndConfigMapColumns) {
  TempDir d;
  d.Write("objects.yaml", R"(apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "1", b: "2"}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-rs}
spec:
  replicas: 2
  selector: {matchLabels: {app: rs}}
  template:
    metadata: {labels: {app: rs}}
    spec: {containers: [{name: web, image: "nginx:1.25"}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: "busybox:1.36"}]
)");
  ASSERT_EQ(Run("apply -f " + d.path()).exit_code, 0);
  EXPECT_THAT(Run("get cm settings").out, ::testing::ContainsRegex("NAME +DATA +AGE\nsettings +2 +"));
  // No node runs their pods: created, not ready.
  Outcome rs;
  EXPECT_TRUE(RunUntilItMatches("get rs web-rs -o wide", "web-rs +2 +2 +0 +[0-9a-z]+ +web +nginx:1.25", &rs)) << rs.out;
  EXPECT_THAT(rs.out, ::testing::ContainsRegex("NAME +DESIRED +CURRENT +READY +AGE +CONTAINERS +IMAGES"));
  Outcome job;
  EXPECT_TRUE(RunUntilItMatches("get jobs", "migrate +Running +0/1 +[0-9]+s +[0-9a-z]+\n", &job)) << job.out;
  EXPECT_THAT(job.out, ::testing::ContainsRegex("NAME +STATUS +COMPLETIONS +DURATION +AGE"));
}

TEST_F(GitOpsVerbs, DeletingANamespaceDeletesWhatIsInIt) {
  TempDir m;
  m.Write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: shop\ndata:\n  k: v\n");
  Outcome r = Run("apply -f " + m.path());
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("namespaces \"shop\" not found")) << r.out;

  m.Write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n");
  m.Write("other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  k: v\n");
  r = Run("apply -f " + m.path());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  // As kubectl does, the command returns once the namespace is gone.
  r = Run("delete namespace shop");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("namespace \"shop\" deleted"));
  EXPECT_THAT(Run("get namespace shop").out, HasSubstr("not found"));
  EXPECT_THAT(Run("get configmaps -n shop").out, ::testing::Not(HasSubstr("web")));
  EXPECT_THAT(Run("get configmap web").out, HasSubstr("web")) << "the one in default stays";
  r = Run("delete namespace default");
  EXPECT_NE(r.exit_code, 0);

  // Another writer's finalizer holds an emptied namespace: the wait ends at
  // --timeout with the reason, and the namespace goes once it is released.
  json held = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "held"}}}};
  ASSERT_EQ(server_->Http("POST", "/api/v1/namespaces", held).first, 201);
  held["spec"] = {{"finalizers", {"example.com/hold"}}};
  ASSERT_EQ(server_->Http("PUT", "/api/v1/namespaces/held/finalize", held).first, 200);
  r = Run("delete namespace held --timeout=2s");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("namespace \"held\" is still terminating after 2s"));
  EXPECT_THAT(Run("get namespace held").out, HasSubstr("Terminating"));
  held["spec"]["finalizers"] = json::array();
  auto released = server_->Http("PUT", "/api/v1/namespaces/held/finalize", held);
  EXPECT_EQ(released.first, 200) << released.second.dump();
  EXPECT_THAT(Run("get namespace held").out, HasSubstr("not found"));
}

// A revision left to a person stays in `bosun status` however many applied
// revisions came after it (a push of many commits, later fixes).
TEST_F(GitOpsVerbs, StatusNamesARevisionLeftToAPersonFarBack) {
  json degraded = Revision(1, "1111111" + std::string(33, 'a'), "Degraded", "ProgressDeadlineExceeded");
  degraded["status"]["message"] = "progress deadline exceeded for deployment shop/web";
  degraded["status"]["revert"] = {{"needsHuman", true}, {"automatic", false}, {"error", "a later revision is live"}};
  server_->CreateWithStatus("revisions", degraded);
  for (int seq = 2; seq <= 60; ++seq) {
    const std::string commit = "2222222" + std::string(31, 'b') + (seq < 10 ? "0" : "") + std::to_string(seq);
    server_->CreateWithStatus("revisions", Revision(seq, commit, seq % 2 == 0 ? "Healthy" : "Skipped",
                                                    seq % 2 == 0 ? "RolledOut" : "Superseded"));
  }
  json repo = {{"apiVersion", "bosun.dev/v1"},
               {"kind", "GitRepository"},
               {"metadata", {{"name", "default"}}},
               {"spec", {{"url", "https://git.example.com/shop.git"}, {"ref", "main"}, {"interval", "1m0s"}}},
               {"status",
                {{"head", "2222222" + std::string(31, 'b') + "60"},
                 {"liveRevision", "2222222" + std::string(31, 'b') + "60"},
                 {"liveRevisionName", "00000060"}}}};
  server_->CreateWithStatus("gitrepositories", repo);
  Outcome r = Run("status");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Earlier:       revision 1 (1111111), Degraded (ProgressDeadlineExceeded)")) << r.out;
}

TEST_F(GitOpsVerbs, StatusShowsTheRepositoryAndTheLiveRevision) {
  WriteHistory();
  json repo = {
      {"apiVersion", "bosun.dev/v1"},
      {"kind", "GitRepository"},
      {"metadata", {{"name", "default"}}},
      {"spec",
       {{"url", "https://git.example.com/shop.git"}, {"ref", "main"}, {"path", "deploy/"}, {"interval", "1m0s"}}},
      {"status",
       {{"head", "abcd444" + std::string(33, 'd')},
        {"liveRevision", "abcd333" + std::string(33, 'c')},
        {"liveRevisionName", "00000003"},
        {"lastFetchTime", "2026-01-01T10:06:00Z"},
        {"lastFetchError", "cannot fetch https://git.example.com/shop.git: connection refused"},
        {"lastSyncTime", "2026-01-01T10:06:01Z"},
        {"lastSyncError", ""},
        {"syncConfig", {{"interval", "10s"}}}}}};
  server_->CreateWithStatus("gitrepositories", repo);
  // Revision 1, the first commit, failed and could not be reverted: status
  // says why, not a command that cannot work. Revision 3's revert failed.
  auto set_status = [&](const std::string& name, const json& more) {
    auto got = server_->Http("GET", "/apis/bosun.dev/v1/revisions/" + name);
    ASSERT_EQ(got.first, 200);
    got.second["status"].update(more);
    ASSERT_EQ(server_->Http("PUT", "/apis/bosun.dev/v1/revisions/" + name + "/status", got.second).first, 200);
  };
  ASSERT_NO_FATAL_FAILURE(set_status(
      "00000001", {{"phase", "Degraded"},
                   {"reason", "ProgressDeadlineExceeded"},
                   {"message", "progress deadline exceeded for deployment shop/web: 0/1 new replicas available"},
                   {"revert",
                    {{"needsHuman", true},
                     {"automatic", true},
                     {"error", "this is the repository's first commit: there is no earlier state to return to"}}}}));
  ASSERT_NO_FATAL_FAILURE(
      set_status("00000003", {{"revert",
                               {{"needsHuman", true},
                                {"automatic", true},
                                {"error", "the revert conflicts with later changes in web/deploy.yaml"}}}}));
  Outcome r = Run("status");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* want :
       {"Repository:    https://git.example.com/shop.git", "Following:     main", "Path:          deploy/",
        // The interval in force: the repository's SyncConfig overrides the flag.
        "Poll interval: 10s (the repository's SyncConfig; the server's is 1m0s)", "Head:          abcd444dddd",
        "Live:          abcd333cccc", "revision 3, ", "Not live:      head abcd444 is not live",
        "Last fetch:    ", " ago (2026-01-01T10:06:00Z), failed: cannot fetch", "Last sync:     ",
        // A last fetch long past the interval: no controller fetches.
        "overdue: the repository is fetched every 10s; the leader's sync controller is not running or is stuck",
        "Revert:        automatic, failed (needs a human): the revert conflicts with later changes in web/deploy.yaml",
        "Earlier:       revision 1 (1111111), Degraded (ProgressDeadlineExceeded): progress deadline exceeded for "
        "deployment shop/web: 0/1 new replicas available — not reverted: this is the repository's first commit: "
        "there is no earlier state to return to"}) {
    EXPECT_THAT(r.out, HasSubstr(want));
  }
  EXPECT_THAT(r.out, Not(HasSubstr("bosun revert 1")));
  // A revert still retried (the remote down) says so, not nothing.
  ASSERT_NO_FATAL_FAILURE(
      set_status("00000003", {{"revert", nullptr},
                              {"revertPending",
                               {{"automatic", true},
                                {"since", "2026-01-01T10:07:00Z"},
                                {"error", "cannot push the revert of abcd333cccc: connection refused"}}}}));
  Outcome pending = Run("status");
  EXPECT_THAT(pending.out, HasSubstr("Revert:        automatic, not pushed yet (retrying since 2026-01-01T10:07:00Z): "
                                     "cannot push the revert of abcd333cccc: connection refused"));
  // A revert back to the last healthy revision says how far back; one whose
  // own revision was refused says the cluster is not rolled back.
  const std::string healthy = "abcd111" + std::string(33, 'a');
  ASSERT_NO_FATAL_FAILURE(
      set_status("00000003", {{"revertPending", nullptr},
                              {"revert",
                               {{"automatic", true},
                                {"commit", "abcd555" + std::string(33, 'e')},
                                {"reason", "Degraded"},
                                {"backTo", {{"commit", healthy}, {"commits", 3}, {"revision", "00000001"}}}}}}));
  EXPECT_THAT(Run("status").out,
              HasSubstr("Revert:        automatic, pushed abcd555, undoing 3 commits back to abcd111 (revision 1) "
                        "(Degraded)\n"));
  ASSERT_NO_FATAL_FAILURE(
      set_status("00000003", {{"revert",
                               {{"automatic", true},
                                {"commit", "abcd555" + std::string(33, 'e')},
                                {"needsHuman", true},
                                {"notApplied", {{"revision", "00000004"}, {"reason", "InvalidManifests"}}}}}}));
  EXPECT_THAT(Run("status").out,
              HasSubstr("Revert:        automatic, pushed abcd555, but revision 4 of it was not applied "
                        "(InvalidManifests): the cluster is NOT rolled back (needs a human)\n"));
  ASSERT_NO_FATAL_FAILURE(set_status("00000003", {{"revert", nullptr}}));
  // An unsigned commit (verify=none): "not signed", as history show says.
  ASSERT_NO_FATAL_FAILURE(set_status("00000003", {{"signature", {{"verified", "false"}, {"level", "none"}}}}));
  EXPECT_THAT(Run("status").out, HasSubstr("Live signed:   not signed, verify=none\n"));
  // Degraded with autoRevert off: no revert is coming, and status says so
  // with the command that makes one.
  ASSERT_NO_FATAL_FAILURE(set_status("00000003", {{"revertPending", nullptr},
                                                  {"phase", "Degraded"},
                                                  {"reason", "ImagePullFailed"},
                                                  {"message", "image pull failed for pod shop/web-1"}}));
  {
    auto got = server_->Http("GET", "/apis/bosun.dev/v1/gitrepositories/default");
    ASSERT_EQ(got.first, 200);
    got.second["status"]["syncConfig"]["autoRevert"] = false;
    got.second["status"]["fetchingSince"] = "2026-01-01T10:07:00Z";  // a remote that stalls
    ASSERT_EQ(server_->Http("PUT", "/apis/bosun.dev/v1/gitrepositories/default/status", got.second).first, 200);
  }
  const std::string degraded = Run("status").out;
  EXPECT_THAT(degraded, HasSubstr("Revert:        none: the repository's SyncConfig sets autoRevert: false "
                                  "(`bosun revert 3` undoes it)"));
  EXPECT_THAT(degraded,
              ::testing::ContainsRegex("Fetching: +since .* ago \\(2026-01-01T10:07:00Z\\): the repository is "
                                       "slow to answer\n"));
  // Its message (why it failed, or what it waits for) under the Live line.
  EXPECT_THAT(degraded, ::testing::ContainsRegex(
                            "revision 3, Degraded \\(ImagePullFailed\\)\n {15}image pull failed for pod shop/web-1\n"));
  // Much drift left (self-heal off): the first ten, how many more, and that
  // the record dropped older ones; not one line of every name.
  json drift = json::array();
  for (int i = 0; i < 12; ++i) {
    drift.push_back({{"kind", "ConfigMap"}, {"namespace", "shop"}, {"name", "c" + std::to_string(i)}});
  }
  ASSERT_NO_FATAL_FAILURE(set_status("00000003", {{"drift", drift}, {"driftDropped", 5}}));
  Outcome drifted = Run("status");
  EXPECT_THAT(drifted.out, HasSubstr("Drift:         12 objects changed by hand and left so (the record keeps the "
                                     "newest changes: 5 older ones were dropped, so there may be more) (self-heal is "
                                     "off): ConfigMap shop/c0, "));
  EXPECT_THAT(drifted.out, HasSubstr("ConfigMap shop/c9 and 2 more; `bosun sync` puts them back"));
  EXPECT_THAT(drifted.out, Not(HasSubstr("shop/c10")));
  Outcome j = Out("status -o json");
  ASSERT_EQ(j.exit_code, 0) << j.out;
  json doc = json::parse(j.out, nullptr, false);
  EXPECT_EQ(doc["repository"]["spec"]["url"], "https://git.example.com/shop.git");
  EXPECT_EQ(doc["liveRevision"]["spec"]["sequence"], 3);
  EXPECT_THAT(j.out, Not(HasSubstr("bmV3LXNlY3JldA==")));

  // A sync request is the annotation; with no controller to answer, waiting times out.
  Outcome ask = Run("sync --no-wait");
  ASSERT_EQ(ask.exit_code, 0) << ask.out;
  EXPECT_THAT(ask.out, HasSubstr("sync requested at "));
  auto got = server_->Http("GET", "/apis/bosun.dev/v1/gitrepositories/default");
  std::string requested = got.second["metadata"]["annotations"].value("bosun.dev/sync-requested-at", "");
  EXPECT_THAT(ask.out, HasSubstr(requested));
  EXPECT_THAT(requested, ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z"));
  EXPECT_FALSE(got.second["metadata"]["annotations"].contains("bosun.dev/sync-trigger"));
  // A Git hook's request says so (the history records "push"); a person's
  // next one removes it again.
  ASSERT_EQ(Run("sync --no-wait --trigger push").exit_code, 0);
  got = server_->Http("GET", "/apis/bosun.dev/v1/gitrepositories/default");
  EXPECT_EQ(got.second["metadata"]["annotations"].value("bosun.dev/sync-trigger", ""),
            "push@" + got.second["metadata"]["annotations"].value("bosun.dev/sync-requested-at", ""));
  ASSERT_EQ(Run("sync --no-wait").exit_code, 0);
  got = server_->Http("GET", "/apis/bosun.dev/v1/gitrepositories/default");
  EXPECT_FALSE(got.second["metadata"]["annotations"].contains("bosun.dev/sync-trigger")) << got.second.dump();
  EXPECT_EQ(Run("sync --no-wait --trigger poll").exit_code, 2);
  Outcome wait = Run("sync --timeout 1s");
  EXPECT_EQ(wait.exit_code, 1) << wait.out;
  EXPECT_THAT(wait.out, HasSubstr("no answer to the sync request within 1s"));
}

// ---------------------------------------------------------------------------
// bosun diff against objects applied by `bosun apply`.

constexpr const char* kMarks =
    "  labels:\n    bosun.dev/managed-by: bosun\n"
    "  annotations:\n    bosun.dev/source-path: PATH\n"
    "    bosun.dev/applied-keys: '{\"labels\":[],\"annotations\":[]}'\n";

// The metadata lines a sync of `path` leaves on an object ("" for none).
std::string Marks(const std::string& path) {
  if (path.empty()) return "";
  std::string marks = kMarks;
  return marks.replace(marks.find("PATH"), 4, path);
}

std::string ConfigMap(const std::string& name, const std::string& color, const std::string& marks_path = "") {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n" + Marks(marks_path) +
         "data:\n  color: " + color + "\n";
}

std::string Secret(const std::string& password_b64, const std::string& marks_path = "") {
  return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n" + Marks(marks_path) +
         "type: Opaque\ndata:\n  password: " + password_b64 + "\n";
}

constexpr const char* kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
)";

class DiffTest : public GitOpsVerbs {
 protected:
  // The live state, as a sync of web/cm.yaml, web/secret.yaml and old.yaml
  // would have left it (marks included).
  void ApplyLive() {
    TempDir live;
    live.Write("cm.yaml", ConfigMap("web", "blue", "web/cm.yaml"));
    live.Write("secret.yaml", Secret("b2xkLXNlY3JldA==", "web/secret.yaml"));  // "old-secret"
    live.Write("old.yaml", ConfigMap("old", "red", "old.yaml"));
    Outcome r = Run("apply -f " + live.path());
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }
  // The manifests of what ApplyLive made, as a repository has them.
  static void WriteLive(TempDir& want) {
    want.Write("web/cm.yaml", ConfigMap("web", "blue"));
    want.Write("web/secret.yaml", Secret("b2xkLXNlY3JldA=="));
    want.Write("old.yaml", ConfigMap("old", "red"));
  }
};

TEST_F(DiffTest, NothingToChangeExitsZero) {
  ApplyLive();
  TempDir want;
  WriteLive(want);
  Outcome r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("No changes: the cluster matches " + want.path() + " on disk (3 objects)."));
}

// A long value changed at its end (an image digest bumped, one parameter of
// a long URL): both sides are shown from a little before the difference.
TEST_F(DiffTest, ALongValueIsShownWhereItChanges) {
  const std::string base = "jdbc:postgresql://db.shop.svc:5432/orders?" + std::string(150, 'p') + "&x=";
  TempDir live;
  live.Write("cm.yaml", ConfigMap("web", "\"" + base + "1\"", "web/cm.yaml"));
  ASSERT_EQ(Run("apply -f " + live.path()).exit_code, 0);
  TempDir want;
  want.Write("web/cm.yaml", ConfigMap("web", "\"" + base + "2\""));
  Outcome r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out,
              HasSubstr("~ data.color: …" + std::string(37, 'p') + "&x=1\" → …" + std::string(37, 'p') + "&x=2\"\n"))
      << r.out;
}

TEST_F(DiffTest, ChangesArePrintedObjectByObjectWithoutSecretValues) {
  ApplyLive();
  TempDir want;
  want.Write("web/cm.yaml", ConfigMap("web", "green"));
  want.Write("web/secret.yaml", Secret("bmV3LXNlY3JldA=="));  // "new-secret"
  want.Write("web/deploy.yaml", kDeployment);
  Outcome r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out,
              HasSubstr("~ Secret default/creds (web/secret.yaml)\n    ~ data.password (changed, value hidden)\n"));
  EXPECT_THAT(r.out, HasSubstr("~ ConfigMap default/web (web/cm.yaml)\n    ~ data.color: \"blue\" → \"green\"\n"));
  EXPECT_THAT(r.out, HasSubstr("+ Deployment default/web (web/deploy.yaml)\n"));
  EXPECT_THAT(r.out, HasSubstr("- ConfigMap default/old (old.yaml)\n"));
  EXPECT_THAT(r.out, HasSubstr("1 to create, 2 to update, 1 to delete, 0 unchanged"));
  // A folder outside a Git work tree stands for the whole repository: said.
  EXPECT_THAT(r.out, HasSubstr(" is not in a Git work tree: it is compared as the whole of what the server follows"));
  for (const char* secret : {"b2xkLXNlY3JldA==", "bmV3LXNlY3JldA==", "old-secret", "new-secret"}) {
    EXPECT_THAT(r.out, Not(HasSubstr(secret)));
  }
  // Dependency order: config before workloads; deletions last.
  EXPECT_LT(r.out.find("~ Secret"), r.out.find("+ Deployment"));
  EXPECT_LT(r.out.find("+ Deployment"), r.out.find("- ConfigMap"));

  Outcome j = Out("diff -o json --path " + want.path());
  EXPECT_EQ(j.exit_code, 2) << j.out;
  json doc = json::parse(j.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << j.out;
  EXPECT_EQ(doc["created"], 1);
  EXPECT_EQ(doc["updated"], 2);
  EXPECT_EQ(doc["deleted"], 1);
  ASSERT_EQ(doc["changes"].size(), 4u);
  for (const json& c : doc["changes"]) {
    if (c["kind"] == "Secret") {
      EXPECT_EQ(c["diff"][0]["field"], "data.password");
      EXPECT_FALSE(c["diff"][0].contains("from"));
      EXPECT_FALSE(c["diff"][0].contains("to"));
    }
  }
  EXPECT_THAT(j.out, Not(HasSubstr("bmV3LXNlY3JldA==")));
}

// A config file kept in a ConfigMap: the preview shows the lines that
// change, with their neighbours, not two whole blobs cut at 120 characters;
// a control character in a line is shown escaped, never sent to the terminal.
TEST_F(DiffTest, AMultiLineValueIsDiffedLineByLine) {
  auto nginx = [](const std::string& conf, const std::string& marks_path) {
    return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nginx\n" + Marks(marks_path) +
           "data:\n  nginx.conf: " + conf + "\n";
  };
  const std::string before =
      "\"server {\\n  server_name _;\\n  listen 80;\\n  root /srv;\\n  index index.html;\\n  gzip on;\\n"
      "  access_log off;\\n  error_log stderr;\\n}\\n\"";
  std::string after = before;
  after.replace(after.find("listen 80;"), 10, "listen 8080;");
  after.replace(after.find("error_log stderr;"), 17, "error_log stderr \\e[2J;");
  TempDir live;
  live.Write("nginx.yaml", nginx(before, "web/nginx.yaml"));
  // Only the final newline differs (a block changed from |- to |): no line
  // changed, so the one-line form shows the "\n".
  live.Write("motd.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: motd\n" + Marks("web/motd.yaml") +
                              "data:\n  motd: \"hello\\nworld\"\n");
  ASSERT_EQ(Run("apply -f " + live.path()).exit_code, 0);
  TempDir want;
  want.Write("web/nginx.yaml", nginx(after, ""));
  want.Write("web/motd.yaml",
             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: motd\ndata:\n  motd: \"hello\\nworld\\n\"\n");
  Outcome r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("~ ConfigMap default/nginx (web/nginx.yaml)\n"
                               "    ~ data[nginx.conf]: 2 lines removed, 2 lines added (of 9):\n"
                               "        @@ line 2\n"
                               "            server_name _;\n"
                               "        -   listen 80;\n"
                               "        +   listen 8080;\n"
                               "            root /srv;\n"
                               "        @@ line 7\n"
                               "            access_log off;\n"
                               "        -   error_log stderr;\n"
                               "        +   error_log stderr \\x1b[2J;\n"
                               "          }\n\n"))
      << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("\x1b")));
  EXPECT_THAT(r.out, HasSubstr("~ ConfigMap default/motd (web/motd.yaml)\n"
                               "    ~ data.motd: \"hello\\nworld\" → \"hello\\nworld\\n\"\n"))
      << r.out;
}

// With prune: false, the sync keeps what left the repository: the preview
// says so, and it is no change (exit 0), as the sync would change nothing.
TEST_F(DiffTest, WithPruneOffWhatLeftTheRepositoryIsKeptNotDeleted) {
  ApplyLive();
  TempDir want;
  want.Write("web/cm.yaml", ConfigMap("web", "blue"));
  want.Write("web/secret.yaml", Secret("b2xkLXNlY3JldA=="));
  want.Write("sync.yaml",
             "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\n"
             "spec: {prune: false}\n");
  Outcome r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 2) << r.out;  // the SyncConfig itself is new
  EXPECT_THAT(r.out, HasSubstr("+ SyncConfig default (sync.yaml)\n"));
  EXPECT_THAT(r.out, HasSubstr("= ConfigMap default/old (was old.yaml): kept, no longer in the repository "
                               "(the SyncConfig sets prune: false)\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("- ConfigMap default/old")));
  EXPECT_THAT(r.out, HasSubstr("1 to create, 0 to update, 0 to delete, 2 unchanged"));
  EXPECT_THAT(r.out, HasSubstr("1 managed object no longer in the repository is kept: SyncConfig default "
                               "(sync.yaml) sets prune: false."));

  Outcome j = Out("diff -o json --path " + want.path());
  json doc = json::parse(j.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << j.out;
  EXPECT_EQ(doc["deleted"], 0);
  EXPECT_EQ(doc["prune"], false);
  ASSERT_EQ(doc["kept"].size(), 1u);
  EXPECT_EQ(doc["kept"][0]["name"], "old");
  EXPECT_EQ(doc["kept"][0]["action"], "kept");
  EXPECT_EQ(doc["kept"][0]["reason"], "pruneOff");
}

// An object marked bosun.dev/prune: "false" that left the repository, and a
// field the cluster owns (bosun.dev/ignore-fields) whose live value differs
// from the repository's: the preview shows both, and neither is a change.
TEST_F(DiffTest, WhatThePruneAndIgnoreFieldsAnnotationsKeepIsShownAsNoChange) {
  auto with = [](std::string yaml, const std::string& annotation) {
    const std::string marks = "  annotations:\n";
    if (size_t at = yaml.find(marks); at != std::string::npos) {
      yaml.insert(at + marks.size(), "    " + annotation + "\n");
    } else {
      size_t body = yaml.find("\ntype:");  // a Secret's
      if (body == std::string::npos) body = yaml.find("\ndata:");
      yaml.insert(body + 1, marks + "    " + annotation + "\n");
    }
    return yaml;
  };
  const std::string owned = "bosun.dev/ignore-fields: data.color";
  TempDir live;
  live.Write("cm.yaml", with(ConfigMap("web", "blue", "web/cm.yaml"), owned));
  live.Write("secret.yaml", Secret("b2xkLXNlY3JldA==", "web/secret.yaml"));
  live.Write("old.yaml", with(ConfigMap("old", "red", "old.yaml"), "bosun.dev/prune: \"false\""));
  Outcome applied = Run("apply -f " + live.path());
  ASSERT_EQ(applied.exit_code, 0) << applied.out;
  TempDir want;
  want.Write("web/cm.yaml", with(ConfigMap("web", "green"), owned));
  want.Write("web/secret.yaml", Secret("b2xkLXNlY3JldA=="));
  Outcome r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("= ConfigMap default/web (web/cm.yaml): unchanged\n"
                               "    kept data.color: live \"blue\", repository \"green\"\n"));
  EXPECT_THAT(r.out, HasSubstr("= ConfigMap default/old (was old.yaml): kept, no longer in the repository (its "
                               "bosun.dev/prune annotation is \"false\")\n"));
  EXPECT_THAT(r.out, HasSubstr("1 object has fields the cluster owns (bosun.dev/ignore-fields, ignoreDifferences): "
                               "their live values are kept.\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("sets prune: false")));
  EXPECT_THAT(r.out, HasSubstr("No changes: the cluster matches"));

  Outcome j = Out("diff -o json --path " + want.path());
  json doc = json::parse(j.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << j.out;
  ASSERT_EQ(doc["kept"].size(), 1u) << j.out;
  EXPECT_EQ(doc["kept"][0]["reason"], "pruneDisabled");
  ASSERT_EQ(doc["changes"].size(), 1u) << j.out;
  EXPECT_EQ(doc["changes"][0]["action"], "unchanged");
  EXPECT_EQ(doc["changes"][0]["ignored"],
            json::parse(R"([{"field": "data.color", "op": "changed", "from": "blue", "to": "green"}])"));

  // A Secret's value the cluster owns (rotated by hand) is named, never
  // shown, in either form.
  want.Write("web/secret.yaml", with(Secret("bmV3LXNlY3JldA=="), "bosun.dev/ignore-fields: data.password"));
  TempDir live_secret;
  live_secret.Write("secret.yaml",
                    with(Secret("b2xkLXNlY3JldA==", "web/secret.yaml"), "bosun.dev/ignore-fields: data.password"));
  ASSERT_EQ(Run("apply -f " + live_secret.path()).exit_code, 0);
  Outcome s = Run("diff --path " + want.path());
  EXPECT_EQ(s.exit_code, 0) << s.out;
  EXPECT_THAT(s.out,
              HasSubstr("    kept data.password: the live value differs from the repository's (value hidden)\n"));
  Outcome sj = Out("diff -o json --path " + want.path());
  for (const std::string& out : {s.out, sj.out}) {
    for (const char* secret : {"b2xkLXNlY3JldA==", "bmV3LXNlY3JldA==", "old-secret", "new-secret"}) {
      EXPECT_THAT(out, Not(HasSubstr(secret)));
    }
  }
  EXPECT_THAT(sj.out, HasSubstr("\"field\": \"data.password\""));
}

TEST_F(DiffTest, InvalidManifestsArePrintedAllAndExitOne) {
  ApplyLive();
  TempDir want;
  want.Write("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n");
  want.Write("web/deploy.yaml",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: \"3\"\n  selector:\n"
             "    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n"
             "      containers:\n      - name: web\n");
  want.Write("a.yaml", ConfigMap("twice", "red"));
  want.Write("b.yaml", ConfigMap("twice", "blue"));
  want.Write("elsewhere.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: nowhere\n");
  Outcome r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  // Every error at once, the missing namespace too.
  EXPECT_THAT(r.out, HasSubstr("elsewhere.yaml:5:14: metadata.namespace: namespace \"nowhere\" does not exist"))
      << r.out;
  EXPECT_THAT(r.out, HasSubstr("web/cm.yaml:4:9: metadata.name: "));
  // The other file named as the first is, from the folder.
  EXPECT_THAT(r.out, HasSubstr("is also defined at a.yaml:")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("web/deploy.yaml:6:13: spec.replicas: "));
  EXPECT_THAT(r.out, HasSubstr("spec.template.spec.containers[0].image: required"));
  EXPECT_THAT(r.out, HasSubstr("errors in the manifests of " + want.path() + " on disk: bosun would refuse"));

  // -o json: the same on stdout, for CI.
  Outcome j = Out("diff -o json --path " + want.path());
  EXPECT_EQ(j.exit_code, 1) << j.out;
  json doc = json::parse(j.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << j.out;
  EXPECT_EQ(doc["valid"], false);
  EXPECT_THAT(doc["error"].get<std::string>(), HasSubstr("bosun would refuse this revision"));
  bool replicas = false;
  for (const json& d : doc["diagnostics"]) {
    if (d["file"] == "web/deploy.yaml" && d["field"] == "spec.replicas") {
      replicas = true;
      EXPECT_EQ(d["severity"], "error");
      EXPECT_EQ(d["line"], 6);
      EXPECT_EQ(d["column"], 13);
    }
  }
  EXPECT_TRUE(replicas) << j.out;
}

// A pull request with a misspelt field: the preview refuses it as the sync
// would, says how to relax that, and with --field-validation=warn compares.
TEST_F(DiffTest, AMisspeltFieldWouldBeRefusedUnlessTakenAsAWarning) {
  ApplyLive();
  TempDir want;
  want.Write("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndta:\n  k: v\n");
  Outcome r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("web/cm.yaml:6:3: dta: unknown field \"dta\" (did you mean \"data\"?)"));
  EXPECT_THAT(r.out, HasSubstr("1 unknown field: --field-validation=warn, or spec.fieldValidation: Warn in the "
                               "SyncConfig, takes them as warnings"));
  Outcome warn = Run("diff --field-validation=warn --path " + want.path());
  EXPECT_NE(warn.exit_code, 1) << warn.out;
  EXPECT_THAT(warn.out, HasSubstr("warning: dta: unknown field"));
}

// A pull request that changes a Deployment's selector: the sync would fail
// it (the API refuses the update), so the preview refuses it, at the field,
// with the way out; with force in the SyncConfig it shows the replace.
TEST_F(DiffTest, AChangedSelectorWouldFailUnlessForceReplacesTheDeployment) {
  ApplyLive();
  TempDir live;
  std::string deployed = kDeployment;
  deployed.replace(deployed.find("  name: web\n"), 12, "  name: web\n" + Marks("web/deploy.yaml"));
  live.Write("deploy.yaml", deployed);
  ASSERT_EQ(Run("apply -f " + live.path()).exit_code, 0);

  TempDir want;
  WriteLive(want);
  std::string moved = kDeployment;
  moved.replace(moved.find("matchLabels: {app: web}"), 23, "matchLabels: {app: web2}");
  moved.replace(moved.find("labels: {app: web}"), 18, "labels: {app: web2}");
  want.Write("web/deploy.yaml", moved);
  Outcome r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("web/deploy.yaml:8:5: spec.selector: field is immutable"));
  EXPECT_THAT(r.out, HasSubstr("1 object changes immutable fields (annotate it bosun.dev/force: \"true\", or set "
                               "spec.force: true in the SyncConfig, to delete and create it again): bosun would "
                               "refuse this revision"));

  want.Write("sync.yaml",
             "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata:\n  name: default\nspec:\n"
             "  force: true\n");
  r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("-/+ Deployment default/web (web/deploy.yaml)\n"
                               "    deleted and created again: spec.selector is immutable (force, from SyncConfig "
                               "default (sync.yaml))"));
  EXPECT_THAT(r.out, HasSubstr("1 to create, 0 to update, 1 to replace, 0 to delete"));
}

// A pull request that puts an object into a namespace that neither it nor
// the cluster has: the sync would refuse it, and the preview says so, where.
TEST_F(DiffTest, AnObjectInANamespaceThatDoesNotExistWouldBeRefused) {
  ApplyLive();
  TempDir want;
  WriteLive(want);
  want.Write("db/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\n  namespace: data\n");
  Outcome r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("db/cm.yaml:5:14: metadata.namespace: namespace \"data\" does not exist"));
  EXPECT_THAT(r.out, HasSubstr("1 object in namespace \"data\", which does not exist: bosun would refuse this "
                               "revision and change nothing"));

  // With the Namespace in the same change, it is a change like any other.
  want.Write("db/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: data\n");
  r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("+ ConfigMap data/db"));
  EXPECT_THAT(r.out, HasSubstr("+ Namespace data"));
}

// The repository's Policies are the sync's: a preview of a change that
// breaks an enforced rule says the sync would refuse it (exit 1, each
// violation where it is); a warn rule is printed and the preview goes on.
TEST_F(DiffTest, AnEnforcedPolicyViolationWouldBeRefused) {
  ApplyLive();
  TempDir want;
  WriteLive(want);
  // One rule on ConfigMaps: `more` (its action), `check` (what it checks).
  auto policy = [](const std::string& more, const std::string& check) {
    return "apiVersion: bosun.dev/v1\nkind: Policy\nmetadata:\n  name: baseline\nspec:\n  rules:\n"
           "    - name: team\n" +
           more + "      match:\n        kinds: [ConfigMap]\n      " + check + ": [team]\n";
  };
  want.Write("cluster/policy.yaml", policy("      action: warn\n", "requiredLabels"));
  want.Write("web/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n");
  Outcome r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("web/extra.yaml:4:3: warning: metadata.labels.team: ConfigMap \"extra\" has no label "
                               "\"team\", required by policy baseline rule team"));
  EXPECT_THAT(r.out, HasSubstr("+ ConfigMap default/extra"));

  want.Write("cluster/policy.yaml", policy("", "requiredLabels"));
  r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("web/extra.yaml:4:3: metadata.labels.team: ConfigMap \"extra\" has no label"));
  EXPECT_THAT(r.out, HasSubstr("3 policy violations (baseline/team): bosun would refuse this revision and change "
                               "nothing"));
  Outcome j = Run("diff -o json --path " + want.path());
  EXPECT_EQ(j.exit_code, 1);
  EXPECT_THAT(j.out, HasSubstr("\"valid\": false"));

  // A Policy that is itself invalid refuses the revision too.
  want.Write("cluster/policy.yaml", policy("", "requiredLabelz"));
  r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("in the repository's Policies: bosun would refuse this revision"));

  // A manifest error and a violation: both, in one go, as the sync records.
  want.Write("cluster/policy.yaml", policy("", "requiredLabels"));
  want.Write("web/broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n");
  r = Run("diff --path " + want.path());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("web/broken.yaml:4:9: metadata.name: "));
  EXPECT_THAT(r.out, HasSubstr("web/extra.yaml:4:3: metadata.labels.team: ConfigMap \"extra\" has no label"));
  EXPECT_THAT(r.out, HasSubstr("1 error in the manifests of " + want.path() +
                               " on disk; and 4 policy violations "
                               "(baseline/team): bosun would refuse"));
}

TEST_F(DiffTest, ARevisionOfALocalRepository) {
  GitRepo repo(dir_.Sub("repo"));
  repo.Write("deploy/web/cm.yaml", ConfigMap("web", "blue"));
  repo.Write("deploy/web/secret.yaml", Secret("b2xkLXNlY3JldA=="));
  repo.Write("deploy/old.yaml", ConfigMap("old", "red"));
  repo.Write("README.md", "not a manifest\n");
  std::string first = repo.Commit("The live state");
  repo.Write("deploy/web/cm.yaml", ConfigMap("web", "green"));
  repo.Remove("deploy/old.yaml");
  std::string second = repo.Commit("Green, and no more old");
  // The work tree differs from both commits.
  repo.Write("deploy/web/deploy.yaml", kDeployment);

  // The live state as a sync of the first commit with --path deploy leaves
  // it: source paths are from the repository root.
  TempDir live;
  live.Write("cm.yaml", ConfigMap("web", "blue", "deploy/web/cm.yaml"));
  live.Write("secret.yaml", Secret("b2xkLXNlY3JldA==", "deploy/web/secret.yaml"));
  live.Write("old.yaml", ConfigMap("old", "red", "deploy/old.yaml"));
  ASSERT_EQ(Run("apply -f " + live.path()).exit_code, 0);

  Outcome same = Run("diff --repo " + repo.dir() + " --revision HEAD~1 --subpath deploy");
  EXPECT_EQ(same.exit_code, 0) << same.out;
  EXPECT_THAT(same.out, HasSubstr("No changes: the cluster matches revision " + first.substr(0, 7) +
                                  " (\"The live state\"), deploy (3 objects)."));

  Outcome next = Run("diff --repo " + repo.dir() + " --revision " + second.substr(0, 9) + " --subpath ./deploy/");
  EXPECT_EQ(next.exit_code, 2) << next.out;
  EXPECT_THAT(next.out,
              HasSubstr("~ ConfigMap default/web (deploy/web/cm.yaml)\n    ~ data.color: \"blue\" → \"green\""));
  EXPECT_THAT(next.out, HasSubstr("- ConfigMap default/old (deploy/old.yaml)"));
  EXPECT_THAT(next.out, Not(HasSubstr("Deployment")));  // only in the work tree

  // Without --revision: the work tree, uncommitted files included.
  Outcome tree = Run("diff --repo " + repo.dir() + "/deploy --subpath deploy");
  EXPECT_EQ(tree.exit_code, 2) << tree.out;
  EXPECT_THAT(tree.out, HasSubstr("+ Deployment default/web (deploy/web/deploy.yaml)"));

  // --path inside the work tree names files from the repository root too.
  Outcome path = Run("diff --path " + repo.dir() + "/deploy");
  EXPECT_EQ(path.exit_code, 2) << path.out;
  EXPECT_THAT(path.out, HasSubstr("+ Deployment default/web (deploy/web/deploy.yaml)"));
  EXPECT_THAT(path.out, HasSubstr("~ ConfigMap default/web (deploy/web/cm.yaml)"));
  EXPECT_THAT(path.out, Not(HasSubstr("bosun.dev/source-path")));

  Outcome bad_rev = Run("diff --repo " + repo.dir() + " --revision no-such-branch");
  EXPECT_EQ(bad_rev.exit_code, 1) << bad_rev.out;
  EXPECT_THAT(bad_rev.out, HasSubstr("revision \"no-such-branch\" names no commit"));
  Outcome bad_sub = Run("diff --repo " + repo.dir() + " --revision HEAD --subpath nowhere");
  EXPECT_EQ(bad_sub.exit_code, 1) << bad_sub.out;
  EXPECT_THAT(bad_sub.out, HasSubstr("\"nowhere\" is not in the tree of commit"));
  Outcome not_git = Run("diff --repo " + dir_.Sub("data") + " --revision HEAD");
  EXPECT_EQ(not_git.exit_code, 1) << not_git.out;
  EXPECT_THAT(not_git.out, HasSubstr("is not inside a Git repository"));
  Outcome both = Run("diff --path . --revision HEAD");
  EXPECT_EQ(both.exit_code, 1) << both.out;
  EXPECT_THAT(both.out, HasSubstr("not both"));
}

// A preview of one subfolder of what the server follows ("deploy/web" of
// "deploy") compares that folder only: the objects the rest of the
// repository makes are neither deleted nor kept, but counted. And a file
// git ignores (a local override) is left out: it can never be committed.
TEST_F(DiffTest, ASubfolderIsComparedAloneAndGitIgnoredFilesAreLeftOut) {
  GitRepo repo(dir_.Sub("repo"));
  repo.Write(".gitignore", "local-*.yaml\n");
  repo.Write("deploy/web/cm.yaml", ConfigMap("web", "blue"));
  repo.Write("deploy/old.yaml", ConfigMap("old", "red"));
  // Matched by .gitignore but added with -f: tracked, so in every commit.
  repo.Write("deploy/web/local-forced.yaml", ConfigMap("forced", "grey"));
  Sh(repo.dir(), "git add -f deploy/web/local-forced.yaml");
  repo.Commit("The live state");
  TempDir live;
  live.Write("cm.yaml", ConfigMap("web", "blue", "deploy/web/cm.yaml"));
  live.Write("old.yaml", ConfigMap("old", "red", "deploy/old.yaml"));
  live.Write("forced.yaml", ConfigMap("forced", "grey", "deploy/web/local-forced.yaml"));
  ASSERT_EQ(Run("apply -f " + live.path()).exit_code, 0);

  repo.Write("deploy/web/cm.yaml", ConfigMap("web", "green"));
  repo.Write("deploy/web/local-debug.yaml", ConfigMap("debug", "pink"));
  Outcome web = Run("diff --path " + repo.dir() + "/deploy/web");
  EXPECT_EQ(web.exit_code, 2) << web.out;
  EXPECT_THAT(web.out, HasSubstr("~ ConfigMap default/web (deploy/web/cm.yaml)"));
  EXPECT_THAT(web.out, Not(HasSubstr("ConfigMap default/old"))) << web.out;
  EXPECT_THAT(web.out, HasSubstr("1 managed object from files outside deploy/web is not compared"));
  EXPECT_THAT(web.out, HasSubstr("1 file git ignores left out (never in a commit): "));
  EXPECT_THAT(web.out, Not(HasSubstr("default/debug")));
  EXPECT_THAT(web.out, Not(HasSubstr("default/forced"))) << web.out;  // tracked: compared, and unchanged
  EXPECT_THAT(web.out, HasSubstr("0 to create, 1 to update, 0 to delete, 1 unchanged"));

  Outcome j = Out("diff -o json --path " + repo.dir() + "/deploy/web");
  json doc = json::parse(j.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << j.out;
  EXPECT_EQ(doc["scope"], "deploy/web");
  EXPECT_EQ(doc["outOfScope"], 1);
  EXPECT_EQ(doc["deleted"], 0);

  // The folder the server follows, whole: what left it is deleted as before.
  repo.Remove("deploy/old.yaml");
  Outcome all = Run("diff --path " + repo.dir() + "/deploy");
  EXPECT_EQ(all.exit_code, 2) << all.out;
  EXPECT_THAT(all.out, HasSubstr("- ConfigMap default/old (deploy/old.yaml)"));
  EXPECT_THAT(all.out, Not(HasSubstr("not compared")));
}

TEST_F(DiffTest, AServerThatCannotBeReachedIsAnError) {
  TempDir want;
  want.Write("cm.yaml", ConfigMap("web", "blue"));
  std::string token = want.Write("t", "bosun_test\n");
  Outcome r = Bosun("diff --path " + want.path() + " --server http://127.0.0.1:1 --token-file " + token);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("cannot reach the bosun API at http://127.0.0.1:1"));
}

// ---------------------------------------------------------------------------
// The whole loop: a server that follows a Git repository made by the test.

class FollowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = std::make_unique<GitRepo>(dir_.Sub("repo"));
    repo_->Write("deploy/web/cm.yaml", ConfigMap("web", "blue"));
    repo_->Write("README.md", "the shop\n");
    first_ = repo_->Commit("Add the web config");
    secret_file_ = dir_.Write("hook.secret", "s3cret-hook-key\n");
    server_ = std::make_unique<Server>(dir_.Sub("data"), "--repo " + Quote(repo_->dir()) +
                                                             " --branch main --path deploy --fetch-interval 1h "
                                                             "--webhook-secret-file " +
                                                             Quote(secret_file_));
    ASSERT_TRUE(server_->WaitReady()) << server_->Log();
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- server log ----\n" << server_->Log() << "\n";
    server_->Stop();
  }
  Outcome Run(const std::string& args) { return Bosun(args + server_->flags()); }
  Outcome Out(const std::string& args) { return BosunStdout(args + server_->flags()); }

  // Waits until `commit` is live (the controller's startup sync or a later one).
  bool WaitLive(const std::string& commit, std::chrono::seconds within = 30s) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = server_->Http("GET", "/apis/bosun.dev/v1/gitrepositories/default");
      if (r.first == 200 && r.second["status"].is_object() && r.second["status"].value("liveRevision", "") == commit)
        return true;
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }

  TempDir dir_;
  std::unique_ptr<GitRepo> repo_;
  std::string first_, secret_file_;
  std::unique_ptr<Server> server_;
};

TEST_F(FollowTest, StatusHistorySyncAndDiffOfAFollowedRepository) {
  // Ready (/readyz) means the repository is followed: `bosun sync` right
  // after start finds it.
  EXPECT_EQ(server_->Http("GET", "/apis/bosun.dev/v1/gitrepositories/default").first, 200);
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  // The test's hook.secret is mode 0644: said at start.
  EXPECT_THAT(server_->Log(), HasSubstr("--webhook-secret-file: the file is readable by other users of this machine"));

  Outcome status = Run("status");
  ASSERT_EQ(status.exit_code, 0) << status.out;
  EXPECT_THAT(status.out, HasSubstr("Repository:    " + repo_->dir()));
  EXPECT_THAT(status.out, HasSubstr("Following:     main"));
  // Applied, or already Healthy: the server's revision health controller
  // judges it at once (nothing to roll out).
  EXPECT_THAT(status.out, ::testing::ContainsRegex("Live:          " + first_ + "  revision 1, (Applied|Healthy)"));
  EXPECT_THAT(status.out, HasSubstr("Last fetch:    "));

  Outcome history = Run("history");
  ASSERT_EQ(history.exit_code, 0) << history.out;
  EXPECT_THAT(history.out, ::testing::MatchesRegex("REVISION.*\n1 +" + first_.substr(0, 7) +
                                                   " +Ada Lovelace +.* ago +startup +\\+1 ~0 -0 +(Applied|Healthy).*\n"));

  // The work tree matches what is live: nothing to change. The same file
  // paths as the controller wrote (from the repository root).
  Outcome same = Run("diff --repo " + repo_->dir());
  EXPECT_EQ(same.exit_code, 0) << same.out;

  // A pull request's check of a folder the server does not follow (deploy)
  // is no change: the sync never reads it. Of the whole work tree, only
  // deploy is compared.
  repo_->Write("docs/stray.yaml", ConfigMap("stray", "grey"));
  Outcome outside = Run("diff --path " + repo_->dir() + "/docs");
  EXPECT_EQ(outside.exit_code, 0) << outside.out;
  EXPECT_THAT(outside.out, HasSubstr("No changes: " + repo_->dir() +
                                     "/docs on disk is outside the folder the server follows (deploy/): the sync "
                                     "never reads it."));
  Outcome outside_json = Out("diff -o json --path " + repo_->dir() + "/docs");
  EXPECT_EQ(outside_json.exit_code, 0) << outside_json.out;
  EXPECT_EQ(json::parse(outside_json.out, nullptr, false).value("outsideFollowed", false), true) << outside_json.out;
  Outcome outside_sub = Run("diff --repo " + repo_->dir() + " --subpath docs");
  EXPECT_EQ(outside_sub.exit_code, 0) << outside_sub.out;
  EXPECT_THAT(outside_sub.out, HasSubstr("outside the folder the server follows"));
  Outcome whole = Run("diff --path " + repo_->dir());
  EXPECT_EQ(whole.exit_code, 0) << whole.out;
  EXPECT_THAT(whole.out, HasSubstr("the server follows deploy/: only that folder of the repository is compared"));
  EXPECT_THAT(whole.out, HasSubstr("No changes: the cluster matches deploy on disk (1 object)."));
  EXPECT_THAT(whole.out, Not(HasSubstr("stray")));
  std::filesystem::remove_all(repo_->dir() + "/docs");
  Outcome missing = Run("diff --path " + repo_->dir() + "/no-such-folder");
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  EXPECT_THAT(missing.out, HasSubstr("no-such-folder: no such file or directory"));
  EXPECT_THAT(missing.out, Not(HasSubstr("not in a Git work tree")));

  // A new commit, synced on request.
  repo_->Write("deploy/web/cm.yaml", ConfigMap("web", "green"));
  repo_->Write("deploy/web/secret.yaml", Secret("bmV3LXNlY3JldA=="));
  std::string second = repo_->Commit("Green, and a password");
  Outcome preview = Run("diff --repo " + repo_->dir() + " --revision HEAD");
  EXPECT_EQ(preview.exit_code, 2) << preview.out;
  EXPECT_THAT(preview.out, HasSubstr("+ Secret default/creds (deploy/web/secret.yaml)"));
  EXPECT_THAT(preview.out, HasSubstr("~ data.color: \"blue\" → \"green\""));
  Outcome sync = Run("sync --timeout 30s");
  ASSERT_EQ(sync.exit_code, 0) << sync.out;
  EXPECT_THAT(sync.out, ::testing::ContainsRegex("revision 2 \\(" + second.substr(0, 7) +
                                                 " \"Green, and a password\"\\): (Applied|Healthy)"));
  EXPECT_THAT(sync.out, HasSubstr("live: " + second.substr(0, 7)));
  Outcome again = Run("sync");
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_THAT(again.out, HasSubstr("already up to date: " + second.substr(0, 7) + " is live (revision 2)"));

  Outcome show = Run("history show " + second.substr(0, 8));
  ASSERT_EQ(show.exit_code, 0) << show.out;
  EXPECT_THAT(show.out, HasSubstr("Revision 2 (00000002)"));
  EXPECT_THAT(show.out, HasSubstr("Trigger:     manual"));
  EXPECT_THAT(show.out, HasSubstr("~ ConfigMap default/web (deploy/web/cm.yaml)"));
  EXPECT_THAT(show.out, HasSubstr("~ data.color: \"blue\" → \"green\""));
  EXPECT_THAT(show.out, HasSubstr("+ Secret default/creds (deploy/web/secret.yaml)"));
  EXPECT_THAT(show.out, Not(HasSubstr("bmV3LXNlY3JldA==")));

  // An uncommitted change to the Secret: the preview hides its value.
  repo_->Write("deploy/web/secret.yaml", Secret("b2xkLXNlY3JldA=="));
  Outcome local = Run("diff --repo " + repo_->dir());
  EXPECT_EQ(local.exit_code, 2) << local.out;
  EXPECT_THAT(
      local.out,
      HasSubstr("~ Secret default/creds (deploy/web/secret.yaml)\n    ~ data.password (changed, value hidden)"));
  EXPECT_THAT(local.out, Not(HasSubstr("bmV3LXNlY3JldA==")));
  EXPECT_THAT(local.out, Not(HasSubstr("b2xkLXNlY3JldA==")));

  // An invalid commit is refused: exit 1, the reason, nothing applied.
  repo_->Write("deploy/web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n");
  std::string bad = repo_->Commit("Break it");
  Outcome refused = Run("sync --timeout 30s");
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_THAT(refused.out, HasSubstr("revision 3 (" + bad.substr(0, 7) + " \"Break it\"): Refused"));
  EXPECT_THAT(refused.out, HasSubstr("bosun history show 3"));
  // The errors themselves, for a CI log that has nothing else; also when the
  // head was refused before (a CI step running `bosun sync` after a push the
  // webhook or the poll synced first).
  EXPECT_THAT(refused.out, HasSubstr("deploy/web/cm.yaml:4:9: metadata.name: ")) << refused.out;
  Outcome refused_again = Run("sync --timeout 30s");
  EXPECT_EQ(refused_again.exit_code, 1) << refused_again.out;
  EXPECT_THAT(refused_again.out, HasSubstr("deploy/web/cm.yaml:4:9: metadata.name: ")) << refused_again.out;
  EXPECT_THAT(refused_again.out, HasSubstr("bosun history show 3")) << refused_again.out;
  Outcome why = Run("history show 3");
  EXPECT_THAT(why.out, HasSubstr("deploy/web/cm.yaml:4:9: metadata.name: "));
  Outcome still = Run("status");
  EXPECT_THAT(still.out, HasSubstr("Live:          " + second));
}

// `bosun revert` as the on-call engineer runs it, against a bare remote the
// server pushes to: it waits for the revert's sync and says whether the
// cluster is rolled back; asked again, it says the revision is reverted
// already; a revert the sync refuses is a failure, not a promise.
TEST(RevertCli, WaitsForTheRevertsSyncAndSaysWhatItDid) {
  TempDir dir;
  const std::string bare = dir.Sub("origin.git");
  fs::create_directories(bare);
  Sh(bare, "git init -q --bare -b main .");
  GitRepo work(dir.Sub("work"));
  Sh(work.dir(), "git remote add origin " + Quote(bare));
  auto push = [&](const std::string& message) {
    std::string c = work.Commit(message);
    Sh(work.dir(), "git push -q origin main 2>&1");
    return c;
  };
  work.Write("deploy/cm.yaml", ConfigMap("web", "blue"));
  const std::string c1 = push("Blue");
  Server server(dir.Sub("data"), "--repo " + Quote(bare) + " --branch main --path deploy --fetch-interval 1h");
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto run = [&](const std::string& args) { return Bosun(args + server.flags()); };
  auto color = [&] {
    auto cm = server.Http("GET", "/api/v1/namespaces/default/configmaps/web");
    return cm.first == 200 ? cm.second["data"].value("color", "") : "";
  };
  ASSERT_EQ(run("sync --timeout 30s").exit_code, 0);
  work.Write("deploy/cm.yaml", ConfigMap("web", "green"));
  const std::string c2 = push("Green");
  Outcome synced = run("sync --timeout 30s");
  ASSERT_EQ(synced.exit_code, 0) << synced.out;
  ASSERT_EQ(color(), "green");

  Outcome r = run("revert 2 --reason 'green hurts' --timeout 60s");
  EXPECT_EQ(r.exit_code, 0) << r.out << server.Log();
  EXPECT_THAT(r.out, HasSubstr("reverted " + c2.substr(0, 7) + " with "));
  EXPECT_THAT(r.out,
              ::testing::ContainsRegex("revision 3 \\([0-9a-f]{7} \"Revert \\\"Green\\\"\"\\): (Applied|Healthy)"));
  EXPECT_EQ(color(), "blue");

  // Asked again: said at once, and the record of the revert made stays.
  Outcome again = run("revert 2 --timeout 60s");
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_THAT(again.out, HasSubstr("revision 2 (" + c2.substr(0, 7) + ") was reverted already: by hand, pushed "));
  EXPECT_THAT(again.out, HasSubstr("(green hurts)"));

  // A broken commit, refused, then mended: revision 5 brought both, which
  // together change nothing, so reverting it is nothing to do (reverting the
  // mend alone would bring the breakage back).
  Sh(work.dir(), "git pull -q --rebase origin main 2>&1");
  work.Write("deploy/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n");
  push("Break");
  EXPECT_EQ(run("sync --timeout 30s").exit_code, 1);
  work.Remove("deploy/bad.yaml");
  push("Mend");
  ASSERT_EQ(run("sync --timeout 30s").exit_code, 0);
  Outcome nothing = run("revert 5 --timeout 60s");
  EXPECT_EQ(nothing.exit_code, 0) << nothing.out;
  EXPECT_THAT(nothing.out, HasSubstr("nothing to revert: the branch head"));

  // A revert the sync refuses: ConfigMap "a" removed, then added again in
  // another file; reverting the removal defines it twice. The cluster is not
  // rolled back, and the reverted revision's history says so.
  work.Write("deploy/a.yaml", ConfigMap("a", "one"));
  push("Add a");
  ASSERT_EQ(run("sync --timeout 30s").exit_code, 0);  // 6
  work.Remove("deploy/a.yaml");
  push("Remove a");
  ASSERT_EQ(run("sync --timeout 30s").exit_code, 0);  // 7
  work.Write("deploy/b.yaml", ConfigMap("a", "two"));
  push("Add a elsewhere");
  ASSERT_EQ(run("sync --timeout 30s").exit_code, 0);  // 8
  Outcome refused = run("revert 7 --timeout 60s");
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_THAT(refused.out, HasSubstr(": Refused (InvalidManifests)"));
  EXPECT_THAT(refused.out, HasSubstr("the cluster is NOT rolled back: `bosun history show 9` says why"));
  const std::string not_applied =
      "but revision 9 of it was not applied (InvalidManifests): the cluster is NOT rolled "
      "back (needs a human)";
  EXPECT_TRUE(bosun::test::Eventually([&] { return run("history show 7").out.find(not_applied) != std::string::npos; }))
      << run("history show 7").out;
  server.Stop();
}

// `history show` lists the changed objects by kind, then namespace and
// name, not in the order their files were read.
TEST_F(FollowTest, HistoryShowListsObjectsByName) {
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  repo_->Write("deploy/web/a.yaml", ConfigMap("zulu", "blue"));
  repo_->Write("deploy/web/z.yaml", ConfigMap("alpha", "blue"));
  repo_->Commit("Two more");
  ASSERT_EQ(Run("sync").exit_code, 0);
  Outcome shown = Run("history show 2");
  ASSERT_EQ(shown.exit_code, 0) << shown.out;
  const size_t alpha = shown.out.find("+ ConfigMap default/alpha");
  const size_t zulu = shown.out.find("+ ConfigMap default/zulu");
  ASSERT_NE(alpha, std::string::npos) << shown.out;
  ASSERT_NE(zulu, std::string::npos) << shown.out;
  EXPECT_LT(alpha, zulu) << shown.out;
}

// Text from the repository cannot drive the terminal: a commit message with
// escape sequences (clear the screen, red) and a carriage return, and a
// file name with an escape, are printed escaped by `history`, `history show`
// and `status`.
TEST_F(FollowTest, ControlCharactersFromTheRepositoryArePrintedEscaped) {
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  repo_->Write("deploy/web/odd\x1b[2Jname.yaml", ConfigMap("odd", "blue"));
  repo_->Commit("evil \x1b[2J\x1b[31mRED\x1b[0m subject\n\nbody line\rOVERWRITE");
  ASSERT_EQ(Run("sync").exit_code, 0);
  for (const char* verb : {"history show 2", "history -o wide", "status"}) {
    Outcome out = Run(verb);
    ASSERT_EQ(out.exit_code, 0) << verb << ": " << out.out;
    EXPECT_EQ(out.out.find('\x1b'), std::string::npos) << verb << ": " << out.out;
    EXPECT_EQ(out.out.find('\r'), std::string::npos) << verb << ": " << out.out;
  }
  Outcome shown = Run("history show 2");
  EXPECT_THAT(shown.out, HasSubstr("evil \\x1b[2J\\x1b[31mRED\\x1b[0m subject"));
  EXPECT_THAT(shown.out, HasSubstr("body line\\rOVERWRITE"));
  EXPECT_THAT(shown.out, HasSubstr("(deploy/web/odd\\x1b[2Jname.yaml)"));
}

// The server's user's ~/.gitconfig does not change where bosun fetches from
// (a url.<base>.insteadOf there would send it elsewhere).
TEST(GitOpsCli, TheUsersGitConfigDoesNotRedirectTheFetch) {
  TempDir dir;
  GitRepo repo(dir.Sub("repo"));
  repo.Write("deploy/cm.yaml", ConfigMap("web", "blue"));
  const std::string first = repo.Commit("Blue");
  fs::create_directories(dir.Sub("home"));
  dir.Write("home/.gitconfig", "[url \"" + dir.Sub("nowhere") + "\"]\n\tinsteadOf = " + repo.dir() + "\n");
  const char* home = std::getenv("HOME");
  const std::string saved = home != nullptr ? home : "";
  setenv("HOME", dir.Sub("home").c_str(), 1);
  Server server(dir.Sub("data"), "--repo " + Quote(repo.dir()) + " --path deploy --fetch-interval 1h");
  if (home != nullptr) {
    setenv("HOME", saved.c_str(), 1);
  } else {
    unsetenv("HOME");
  }
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  bool live = false;
  for (int i = 0; i < 150 && !live; ++i) {
    auto r = server.Http("GET", "/apis/bosun.dev/v1/gitrepositories/default");
    live = r.first == 200 && r.second["status"].is_object() && r.second["status"].value("liveRevision", "") == first;
    if (!live) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(live) << server.Log();
}

// A second `bosun server` started by mistake on a running one's data
// directory (following another repository) stops before it touches
// anything there: the running one's mirror still follows its own remote.
TEST(GitOpsCli, ASecondServerOnTheSameDataDirectoryTouchesNothing) {
  TempDir dir;
  GitRepo repo(dir.Sub("repo"));
  repo.Write("deploy/cm.yaml", ConfigMap("web", "blue"));
  repo.Commit("Blue");
  GitRepo other(dir.Sub("other"));
  other.Write("deploy/cm.yaml", ConfigMap("other", "red"));
  other.Commit("Red");
  Server server(dir.Sub("data"), "--repo " + Quote(repo.dir()) + " --path deploy --fetch-interval 1h");
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  const std::string config_before = bosun::test::RunCommand("cat " + dir.Sub("data/git/config")).out;
  ASSERT_NE(config_before.find(repo.dir()), std::string::npos) << config_before;

  // (A timeout: a second server that did start would run for ever.)
  Outcome second =
      bosun::test::RunCommand("timeout 20 " + std::string(BOSUN_BINARY) + " server --data " + Quote(dir.Sub("data")) +
                              " --listen 127.0.0.1:" + std::to_string(bosun::test::FreePort()) +
                              " --raft-listen 127.0.0.1:" + std::to_string(bosun::test::FreePort()) + " --repo " +
                              Quote(other.dir()) + " 2>&1");
  EXPECT_NE(second.exit_code, 0);
  EXPECT_THAT(second.out, HasSubstr("another bosun process is using the data directory " + dir.Sub("data")));
  EXPECT_EQ(bosun::test::RunCommand("cat " + dir.Sub("data/git/config")).out, config_before);
  // The running one still syncs its own repository.
  repo.Write("deploy/cm.yaml", ConfigMap("web", "green"));
  repo.Commit("Green");
  Outcome synced = Bosun("sync --timeout 30s" + server.flags());
  EXPECT_EQ(synced.exit_code, 0) << synced.out;
  auto cm = server.Http("GET", "/api/v1/namespaces/default/configmaps/web");
  EXPECT_EQ(cm.first, 200);
  EXPECT_EQ(cm.second["data"].value("color", ""), "green");
  EXPECT_EQ(server.Http("GET", "/api/v1/namespaces/default/configmaps/other").first, 404);
}

// A full disk under the data directory: the Raft log (or the store) cannot
// be written, and libraft does not recover from it, so the member stops
// itself. The process stops too, with an error that says so
// (it used to run on, /healthz "ok", every client told "an election is
// under way"), so a supervisor restarts it once there is space.
TEST(GitOpsCli, AServerWhoseStoreFailsStopsWithAnError) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  TempDir dir;
  const std::string mnt = dir.Sub("small");
  fs::create_directories(mnt);
  // Root without the right to mount (a container without CAP_SYS_ADMIN): skipped.
  if (bosun::test::RunCommand("mount -t tmpfs -o size=128m bosun-test-full " + Quote(mnt)).exit_code != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { bosun::test::RunCommand("umount -l " + Quote(path)); }
  } unmount{mnt};
  GitRepo repo(dir.Sub("repo"));
  repo.Write("deploy/cm.yaml", ConfigMap("web", "blue"));
  repo.Commit("Blue");
  // The data on the small disk, the server's log (DATA.log) beside the link.
  fs::create_directories(mnt + "/data");
  fs::create_directory_symlink(mnt + "/data", dir.Sub("data"));
  {
    Server server(dir.Sub("data"), "--repo " + Quote(repo.dir()) + " --path deploy --fetch-interval 1h");
    ASSERT_TRUE(server.WaitReady()) << server.Log();
    const std::string flags = server.flags();
    ASSERT_EQ(Bosun("sync --timeout 30s" + flags).exit_code, 0) << server.Log();
    bosun::test::RunCommand("dd if=/dev/zero of=" + Quote(mnt + "/filler") + " bs=1M 2>/dev/null");
    // Writes the store must apply (a fetch would fail first, its mirror
    // being on the same disk).
    const std::string big(256 * 1024, 'x');
    int status = -1;
    for (int i = 0; i < 300 && (status = server.WaitExit(10ms)) == -1; ++i) {
      server.Http("POST", "/api/v1/namespaces/default/configmaps",
                  {{"apiVersion", "v1"},
                   {"kind", "ConfigMap"},
                   {"metadata", {{"name", "c" + std::to_string(i)}}},
                   {"data", {{"big", big}}}});
    }
    if (status == -1) status = server.WaitExit(60s);
    EXPECT_EQ(status, 1) << server.Log();
    EXPECT_THAT(server.Log(), HasSubstr("bosun server: stopping: this member's state store failed and applies nothing "
                                        "more: "));
    EXPECT_THAT(server.Log(), ::testing::ContainsRegex("No space left on device|not enough space on disk"));
    if (status == -1) server.Kill();
  }
  // Space again: a start finds the data as it was.
  fs::remove(mnt + "/filler");
  Server again(dir.Sub("data"), "--repo " + Quote(repo.dir()) + " --path deploy --fetch-interval 1h");
  ASSERT_TRUE(again.WaitReady()) << again.Log();
  EXPECT_EQ(Bosun("sync --timeout 30s" + again.flags()).exit_code, 0) << again.Log();
  EXPECT_EQ(again.Http("GET", "/api/v1/namespaces/default/configmaps/web").first, 200) << again.Log();
  again.Stop();
}

// Records the history limit removed are said to be gone, not taken for
// revisions that never were: `history` ends with it, `history show` of one
// says so.
TEST_F(FollowTest, HistorySaysWhatTheHistoryLimitRemoved) {
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  repo_->Write(
      "deploy/sync.yaml",
      "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\nspec: {revisionHistoryLimit: 2}\n");
  repo_->Commit("Keep two records");
  ASSERT_EQ(Run("sync").exit_code, 0);
  for (const char* color : {"green", "red", "white"}) {
    repo_->Write("deploy/web/cm.yaml", ConfigMap("web", color));
    repo_->Commit(std::string("Make it ") + color);
    ASSERT_EQ(Run("sync").exit_code, 0) << Run("status").out;
  }
  Outcome shown;
  for (int i = 0; i < 100; ++i) {
    shown = Run("history show 1");
    if (shown.exit_code != 0) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(shown.exit_code, 1) << shown.out;
  EXPECT_THAT(shown.out, ::testing::ContainsRegex("revision 1 is no longer in the history: Revisions 1–[0-9]+ were "
                                                  "removed by the history limit; the oldest kept is revision [0-9]+"))
      << shown.out;
  Outcome history = Run("history");
  EXPECT_EQ(history.exit_code, 0) << history.out;
  EXPECT_THAT(history.out, ::testing::ContainsRegex("\nRevisions 1–[0-9]+ were removed by the history limit; the "
                                                    "oldest kept is revision [0-9]+[.]\n"))
      << history.out;
  Outcome json = Out("history -o json");
  EXPECT_THAT(json.out, HasSubstr("\"removedByHistoryLimit\": \"Revisions 1–")) << json.out;
}

// Self-heal off: a change by hand stays until `bosun sync`, which puts it
// back and says so.
TEST_F(FollowTest, WithSelfHealOffBosunSyncPutsBackAChangeByHand) {
  repo_->Write("deploy/sync.yaml",
               "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\nspec: {selfHeal: false}\n");
  std::string second = repo_->Commit("Self-heal off");
  EXPECT_EQ(Run("sync --timeout 0").exit_code, 2) << "a usage error";
  ASSERT_EQ(Run("sync --timeout 30s").exit_code, 0);
  ASSERT_TRUE(WaitLive(second));
  auto cm = server_->Http("GET", "/api/v1/namespaces/default/configmaps/web");
  ASSERT_EQ(cm.first, 200);
  json changed = cm.second;
  changed["data"]["color"] = "pink";
  ASSERT_EQ(server_->Http("PUT", "/api/v1/namespaces/default/configmaps/web", changed).first, 200);
  // The drift is seen, and left; `bosun status` tells the on-call engineer.
  const std::string drift_line =
      "Drift:         1 object changed by hand and left so (self-heal is off): ConfigMap default/web; "
      "`bosun sync` puts them back";
  EXPECT_TRUE(
      bosun::test::Eventually([&] { return Run("status").out.find(drift_line) != std::string::npos; }, 10s, 100ms))
      << Run("status").out;
  EXPECT_EQ(server_->Http("GET", "/api/v1/namespaces/default/configmaps/web").second["data"]["color"], "pink");

  Outcome sync = Run("sync --timeout 30s");
  ASSERT_EQ(sync.exit_code, 0) << sync.out;
  EXPECT_THAT(sync.out, HasSubstr("put back 1 object changed by hand (self-heal is off): ConfigMap default/web"));
  EXPECT_THAT(sync.out, HasSubstr("already up to date: " + second.substr(0, 7)));
  EXPECT_EQ(server_->Http("GET", "/api/v1/namespaces/default/configmaps/web").second["data"]["color"], "blue");
  EXPECT_THAT(Run("status").out, Not(HasSubstr("Drift:")));
}

// A field the repository's SyncConfig gives to the cluster (ignoreDifferences)
// keeps the value set by hand through `bosun sync`; `bosun status` and
// `bosun diff` say so. An object marked bosun.dev/prune: "false" stays when
// its file leaves, and `bosun history show` says why.
TEST_F(FollowTest, WhatTheClusterOwnsAndWhatIsKeptStayAsTheyAre) {
  // The startup sync first, so the records are numbered 1 to 4 (under load
  // it could otherwise find the second commit already and skip the first).
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  repo_->Write("deploy/sync.yaml",
               "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\n"
               "spec:\n  ignoreDifferences:\n  - {kind: ConfigMap, name: web, fields: [data.color]}\n");
  repo_->Write("deploy/data.yaml",
               "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: data\n  annotations:\n"
               "    bosun.dev/prune: \"false\"\ndata: {k: v}\n");
  std::string second = repo_->Commit("The cluster owns the color; data stays");
  ASSERT_EQ(Run("sync --timeout 30s").exit_code, 0);
  ASSERT_TRUE(WaitLive(second)) << Run("status").out;
  auto cm = server_->Http("GET", "/api/v1/namespaces/default/configmaps/web");
  ASSERT_EQ(cm.first, 200);
  json changed = cm.second;
  changed["data"]["color"] = "pink";
  ASSERT_EQ(server_->Http("PUT", "/api/v1/namespaces/default/configmaps/web", changed).first, 200);
  Outcome sync = Run("sync --timeout 30s");
  ASSERT_EQ(sync.exit_code, 0) << sync.out;
  EXPECT_EQ(server_->Http("GET", "/api/v1/namespaces/default/configmaps/web").second["data"]["color"], "pink");
  EXPECT_THAT(Run("status").out, HasSubstr("ignoring ConfigMap web: data.color"));
  EXPECT_THAT(Run("status").out, Not(HasSubstr("Drift:")));
  Outcome diff = Run("diff --repo " + repo_->dir());
  EXPECT_EQ(diff.exit_code, 0) << diff.out;
  EXPECT_THAT(diff.out, HasSubstr("= ConfigMap default/web (deploy/web/cm.yaml): unchanged\n"
                                  "    kept data.color: live \"pink\", repository \"blue\"\n"));

  repo_->Remove("deploy/data.yaml");
  std::string third = repo_->Commit("data leaves the repository");
  ASSERT_EQ(Run("sync --timeout 30s").exit_code, 0);
  ASSERT_TRUE(WaitLive(third)) << Run("status").out;
  EXPECT_EQ(server_->Http("GET", "/api/v1/namespaces/default/configmaps/data").first, 200);
  Outcome show = Run("history show 3");
  EXPECT_THAT(show.out, HasSubstr("Kept (1, no longer in the repository):\n"
                                  "  = ConfigMap default/data (was deploy/data.yaml): its bosun.dev/prune annotation "
                                  "is \"false\"\n"))
      << show.out;

  // A commit asks for another color: the cluster keeps its own, and the
  // record says what the commit asked for that was not taken.
  repo_->Write("deploy/web/cm.yaml", ConfigMap("web", "green"));
  std::string fourth = repo_->Commit("Green, please");
  ASSERT_EQ(Run("sync --timeout 30s").exit_code, 0);
  ASSERT_TRUE(WaitLive(fourth)) << Run("status").out;
  EXPECT_EQ(server_->Http("GET", "/api/v1/namespaces/default/configmaps/web").second["data"]["color"], "pink");
  Outcome owned = Run("history show 4");
  EXPECT_THAT(owned.out, HasSubstr("Fields the cluster owns (1 object, the live value kept):\n"
                                   "  = ConfigMap default/web (deploy/web/cm.yaml)\n"
                                   "      kept data.color: live \"pink\", repository \"green\"\n"))
      << owned.out;
  Outcome web = Run("history --object cm/web");
  EXPECT_THAT(web.out, HasSubstr("kept data.color (the cluster owns)")) << web.out;
  // The kept ConfigMap: created in 2, left in 3; 4 still lists it as kept,
  // which is not news.
  Outcome data = Run("history --object cm/data");
  EXPECT_THAT(data.out, HasSubstr(third.substr(0, 7))) << data.out;
  EXPECT_THAT(data.out, HasSubstr("left the repository, kept")) << data.out;
  EXPECT_THAT(data.out, Not(HasSubstr(fourth.substr(0, 7)))) << data.out;
  json rec = json::parse(Run("history show 4 -o json").out, nullptr, false);
  ASSERT_TRUE(rec.is_object());
  EXPECT_EQ(rec["status"]["changes"]["ignoring"], 1);
  EXPECT_EQ(rec["status"]["ignoredDifferences"][0]["fields"][0],
            json({{"field", "data.color"}, {"op", "changed"}, {"from", "pink"}, {"to", "green"}}));
}

// A rollout that has not ended when an unrelated commit goes live is not
// hidden behind that commit's "nothing to roll out": `bosun status` names
// it. (No node runs here: the Deployment's pods never start.)
TEST_F(FollowTest, StatusNamesAnEarlierRolloutStillGoing) {
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  repo_->Write("deploy/web/deploy.yaml", kDeployment);
  std::string second = repo_->Commit("Deploy web");
  ASSERT_EQ(Run("sync --timeout 30s").exit_code, 0);
  ASSERT_TRUE(WaitLive(second)) << Run("status").out;
  repo_->Write("deploy/web/cm.yaml", ConfigMap("web", "green"));
  std::string third = repo_->Commit("Green");
  ASSERT_EQ(Run("sync --timeout 30s").exit_code, 0);
  ASSERT_TRUE(WaitLive(third)) << Run("status").out;
  EXPECT_TRUE(bosun::test::Eventually(
      [&] {
        return std::regex_search(Run("status").out,
                                 std::regex("Earlier: +revision 2 \\(" + second.substr(0, 7) +
                                            "\\), Progressing \\(RollingOut\\): waiting for deployment default/web"));
      },
      15s, 200ms))
      << Run("status").out;
  // And for scripts: -o json lists the records.
  json doc = json::parse(Run("status -o json").out, nullptr, false);
  ASSERT_TRUE(doc.is_object());
  ASSERT_EQ(doc["earlierRevisions"].size(), 1u) << doc["earlierRevisions"].dump();
  EXPECT_EQ(doc["earlierRevisions"][0]["spec"]["commit"], second);
  EXPECT_EQ(doc["earlierRevisions"][0]["status"]["phase"], "Progressing");
}

// The on-call engineer's pause: `bosun suspend` stops applying (a new
// commit waits, `bosun sync` says why it will not), `bosun status` says so
// and why; `bosun resume` applies what waited.
TEST_F(FollowTest, SuspendStopsApplyingUntilResume) {
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  Outcome s = Run("suspend --reason 'incident 42'");
  ASSERT_EQ(s.exit_code, 0) << s.out;
  EXPECT_THAT(s.out, HasSubstr("sync suspended"));
  EXPECT_THAT(Run("suspend").out, HasSubstr("already suspended since"));

  repo_->Write("deploy/web/cm.yaml", ConfigMap("web", "green"));
  std::string second = repo_->Commit("Green");
  Outcome sync = Run("sync --timeout 30s");
  EXPECT_EQ(sync.exit_code, 1) << sync.out;
  EXPECT_THAT(sync.out, HasSubstr("syncing is suspended (since "));
  EXPECT_THAT(sync.out, HasSubstr(": incident 42); `bosun resume` first"));
  Outcome status = Run("status");
  EXPECT_THAT(status.out, HasSubstr("Suspended:     since "));
  EXPECT_THAT(status.out, HasSubstr(": incident 42\n"));
  EXPECT_THAT(status.out, HasSubstr("`bosun resume` to go on"));
  EXPECT_EQ(server_->Http("GET", "/api/v1/namespaces/default/configmaps/web").second["data"]["color"], "blue");

  Outcome resume = Run("resume");
  ASSERT_EQ(resume.exit_code, 0) << resume.out;
  EXPECT_THAT(resume.out, HasSubstr("sync resumed: the followed ref is fetched and applied now"));
  ASSERT_TRUE(WaitLive(second)) << Run("status").out;
  EXPECT_EQ(server_->Http("GET", "/api/v1/namespaces/default/configmaps/web").second["data"]["color"], "green");
  EXPECT_THAT(Run("status").out, Not(HasSubstr("Suspended:")));
  EXPECT_THAT(Run("resume").out, HasSubstr("not suspended"));
  // The history says the resume applied it, not a poll.
  EXPECT_THAT(Run("history show 2").out, HasSubstr("Trigger:     resume"));
  // Resuming is not a sync request (which would also put back drift with
  // self-heal off).
  const json repo = server_->Http("GET", "/apis/bosun.dev/v1/gitrepositories/default").second;
  EXPECT_FALSE(repo["metadata"].contains("annotations") &&
               repo["metadata"]["annotations"].contains("bosun.dev/sync-requested-at"))
      << repo.dump();
}

// A broken commit is refused whole; `bosun describe revision N` says why,
// with every error located, as `bosun history show` does.
TEST_F(FollowTest, DescribeARefusedRevisionListsItsErrors) {
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  repo_->Write("deploy/web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n");
  repo_->Commit("A bad name");
  Run("sync --timeout 30s");
  Outcome d = Run("describe revision 2");
  EXPECT_EQ(d.exit_code, 0) << d.out;
  EXPECT_THAT(d.out, HasSubstr("Refused (InvalidManifests)")) << d.out;
  EXPECT_THAT(d.out, HasSubstr("Errors:\n  deploy/web/cm.yaml:4:9: metadata.name: ")) << d.out;
  // The sync's Event about it, as `bosun describe` shows a controller's.
  EXPECT_TRUE(bosun::test::Eventually(
      [&] {
        const std::string out = Run("describe revision 2").out;
        return std::regex_search(out, std::regex("Warning +InvalidManifests +[0-9a-z]+ ago +sync +revision " +
                                                 repo_->Head().substr(0, 7) + " refused: 1 invalid manifest"));
      },
      10s, 100ms))
      << Run("describe revision 2").out;
  // `bosun get events` lists them as kubectl does.
  const std::string events = Run("get events").out;
  EXPECT_TRUE(std::regex_search(events, std::regex("LAST SEEN +TYPE +REASON +OBJECT +MESSAGE\n"))) << events;
  EXPECT_TRUE(std::regex_search(events, std::regex("Normal +Applied +revision/00000001 +revision [0-9a-f]{7} "
                                                   "\\(\"Add the web config\"\\) applied: 1 created")))
      << events;
  EXPECT_TRUE(std::regex_search(events, std::regex("Warning +InvalidManifests +revision/00000002 +revision ")))
      << events;
}

// A preview of a folder inside the followed one reads files by the rules
// the sync uses: the followed folder's .bosunignore applies (its test
// fixtures stay out), and so does the subfolder's own (helm's values file
// stays out), and the objects of the other folders are not compared.
TEST_F(FollowTest, APreviewOfASubfolderReadsItAsTheSyncDoes) {
  repo_->Write("deploy/.bosunignore", "web/tests/\n");
  repo_->Write("deploy/web/tests/fixture.yaml", "kind: NotAnObject\n");
  repo_->Write("deploy/db/cm.yaml", ConfigMap("db", "red"));
  repo_->Write("deploy/web/extra.yaml", ConfigMap("extra", "red"));
  repo_->Write("deploy/sync.yaml",
               "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\nspec: {prune: false}\n");
  std::string second = repo_->Commit("db, and web's test fixtures");
  ASSERT_EQ(Run("sync --timeout 30s").exit_code, 0);
  ASSERT_TRUE(WaitLive(second)) << Run("status").out;

  repo_->Write("deploy/web/cm.yaml", ConfigMap("web", "green"));
  repo_->Write("deploy/web/.bosunignore", "values.yaml\n");
  repo_->Write("deploy/web/values.yaml", "replicaCount: 2\n");
  repo_->Remove("deploy/web/extra.yaml");
  for (const std::string& args :
       {"diff --path " + repo_->dir() + "/deploy/web", "diff --repo " + repo_->dir() + " --subpath deploy/web"}) {
    Outcome r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("~ ConfigMap default/web (deploy/web/cm.yaml)")) << args;
    EXPECT_THAT(r.out, Not(HasSubstr("fixture"))) << args;
    EXPECT_THAT(r.out, Not(HasSubstr("values"))) << args;
    EXPECT_THAT(r.out, Not(HasSubstr("ConfigMap default/db"))) << args;
    EXPECT_THAT(r.out, HasSubstr("2 managed objects from files outside deploy/web are not compared")) << args;
    // The followed folder's SyncConfig rules the preview, though it is not
    // in the folder previewed.
    EXPECT_THAT(r.out, HasSubstr("= ConfigMap default/extra (was deploy/web/extra.yaml): kept, no longer in the "
                                 "repository (the SyncConfig sets prune: false)"))
        << args;
  }
  // A commit's subfolder, the same way.
  repo_->Commit("green");
  Outcome rev = Run("diff --repo " + repo_->dir() + " --revision HEAD --subpath deploy/web");
  EXPECT_EQ(rev.exit_code, 2) << rev.out;
  EXPECT_THAT(rev.out, HasSubstr("~ ConfigMap default/web (deploy/web/cm.yaml)"));
  EXPECT_THAT(rev.out, Not(HasSubstr("fixture")));
  EXPECT_THAT(rev.out, Not(HasSubstr("values")));
  EXPECT_THAT(rev.out, HasSubstr("= ConfigMap default/extra (was deploy/web/extra.yaml): kept")) << rev.out;

  // A Policy the other folder breaks refuses the revision the sync would
  // apply: the preview of deploy/web says so too (paths are relative to the
  // followed folder).
  repo_->Write("deploy/policy.yaml",
               "apiVersion: bosun.dev/v1\nkind: Policy\nmetadata: {name: teams}\nspec:\n  rules:\n"
               "    - name: db-folder\n      paths:\n        db/: [data]\n");
  Outcome broken = Run("diff --repo " + repo_->dir() + " --subpath deploy/web");
  EXPECT_EQ(broken.exit_code, 1) << broken.out;
  EXPECT_THAT(broken.out, HasSubstr("deploy/db/cm.yaml:")) << broken.out;
  EXPECT_THAT(broken.out, HasSubstr("bosun would refuse this revision and change nothing")) << broken.out;
}

// A record the limit holds (a Deployment still rolling out: no node runs
// it) leaves removed records on both sides of it: the note names each run,
// and `history show` of one in between says it was removed.
TEST_F(FollowTest, TheHistoryLimitNoteNamesEveryRunItRemoved) {
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  repo_->Write("deploy/sync.yaml",
               "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\n"
               "spec: {revisionHistoryLimit: 2, autoRevert: false}\n");
  repo_->Commit("Keep two records");
  ASSERT_EQ(Run("sync").exit_code, 0);
  repo_->Write("deploy/web/deploy.yaml", kDeployment);
  repo_->Commit("Run web");
  ASSERT_EQ(Run("sync").exit_code, 0);  // revision 3: Progressing for as long as the test runs
  for (const char* color : {"green", "red", "white", "black"}) {
    repo_->Write("deploy/web/cm.yaml", ConfigMap("web", color));
    repo_->Commit(std::string("Make it ") + color);
    ASSERT_EQ(Run("sync").exit_code, 0) << Run("status").out;
  }
  const std::string note =
      "Revisions 1–2 and 4–5 were removed by the history limit (the records between were held: still rolling out, "
      "or left to a person); the oldest kept is revision 3";
  Outcome history;
  for (int i = 0; i < 100; ++i) {
    history = Run("history");
    if (history.out.find(note) != std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_THAT(history.out, HasSubstr(note)) << history.out;
  Outcome shown = Run("history show 4");
  EXPECT_EQ(shown.exit_code, 1) << shown.out;
  EXPECT_THAT(shown.out, HasSubstr("revision 4 is no longer in the history: " + note)) << shown.out;
}

// A mistyped --subpath is an error whether it is inside the followed folder
// or outside it, in the work tree or at a commit; an existing folder outside
// the followed one is "nothing the sync reads".
TEST_F(FollowTest, AMistypedSubpathIsAnError) {
  repo_->Write("docs/cm.yaml", ConfigMap("doc", "red"));
  repo_->Commit("docs");
  for (const std::string& args : {"diff --repo " + repo_->dir() + " --revision HEAD --subpath deploy/nosuch",
                                  "diff --repo " + repo_->dir() + " --subpath deploy/nosuch",
                                  "diff --repo " + repo_->dir() + " --revision HEAD --subpath nosuch",
                                  "diff --repo " + repo_->dir() + " --subpath nosuch"}) {
    Outcome r = Run(args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.out;
    EXPECT_THAT(r.out,
                ::testing::ContainsRegex("nosuch.*(is not in the tree|work tree has no)|work tree has no.*nosuch"))
        << args << "\n"
        << r.out;
  }
  Outcome docs = Run("diff --repo " + repo_->dir() + " --revision HEAD --subpath docs");
  EXPECT_EQ(docs.exit_code, 0) << docs.out;
  EXPECT_THAT(docs.out, HasSubstr("outside the folder the server follows")) << docs.out;
}

// A merged branch's commits get no record of their own: the merge's record
// lists them with their authors (Brings:), `history show` of one finds it, and
// `history --author` matches their author.
TEST_F(FollowTest, AMergedBranchsCommitsAreFoundInTheMergesRecord) {
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  Sh(repo_->dir(), "git checkout -q -b feature");
  repo_->Write("deploy/web/cm.yaml", ConfigMap("web", "teal"));
  Sh(repo_->dir(),
     "git add -A && GIT_AUTHOR_NAME='Bob Branch' GIT_AUTHOR_EMAIL=bob@example.com git commit -q -m 'web: teal'");
  const std::string bob = Sh(repo_->dir(), "git rev-parse HEAD").substr(0, 40);
  Sh(repo_->dir(), "git checkout -q main && git merge -q --no-ff feature -m 'Merge feature'");
  ASSERT_EQ(Run("sync --timeout 30s").exit_code, 0);
  Outcome shown = Run("history show " + bob.substr(0, 10));
  EXPECT_EQ(shown.exit_code, 0) << shown.out;
  EXPECT_THAT(shown.out, HasSubstr("Commit " + bob.substr(0, 10) + " has no record of its own: revision 2 brought it"))
      << shown.out;
  EXPECT_THAT(shown.out, HasSubstr(bob.substr(0, 7) + " Bob Branch: web: teal")) << shown.out;
  Outcome by_bob = Run("history --author bob");
  EXPECT_EQ(by_bob.exit_code, 0) << by_bob.out;
  EXPECT_THAT(by_bob.out, ::testing::ContainsRegex("\n2 +[0-9a-f]{7} ")) << by_bob.out;
}

// A commit acted on twice (the branch reset back to it: a force-push) has two
// records: `history show SHA` shows the newest and names the other.
TEST_F(FollowTest, HistoryShowOfACommitWithTwoRecordsNamesTheOther) {
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  repo_->Write("deploy/web/cm.yaml", ConfigMap("web", "green"));
  repo_->Commit("Make it green");
  ASSERT_EQ(Run("sync --timeout 30s").exit_code, 0);
  Sh(repo_->dir(), "git reset -q --hard " + first_);
  ASSERT_EQ(Run("sync --timeout 30s").exit_code, 0);
  ASSERT_TRUE(WaitLive(first_));
  Outcome shown = Run("history show " + first_.substr(0, 8));
  EXPECT_EQ(shown.exit_code, 0) << shown.out;
  EXPECT_THAT(shown.out, HasSubstr("Revision 3 (00000003)")) << shown.out;
  EXPECT_THAT(shown.out, ::testing::ContainsRegex("Also: +this commit's other records: revision 1 \\(")) << shown.out;
}

// An object bosun made from a file outside the followed folder (the server
// followed another folder before): the sync prunes it, so a preview of the
// followed folder shows it deleted; one of a subfolder leaves it out.
TEST_F(FollowTest, APreviewOfTheFollowedFolderShowsWhatTheSyncPrunesFromOtherFolders) {
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  TempDir stray;
  stray.Write("cm.yaml", ConfigMap("stray", "red", "other/cm.yaml"));
  ASSERT_EQ(Run("apply -f " + stray.path()).exit_code, 0);
  const std::string head = repo_->Commit("nothing in deploy/");
  for (const std::string& args :
       {"diff --path " + repo_->dir() + "/deploy", "diff --repo " + repo_->dir() + " --revision HEAD",
        "diff --repo " + repo_->dir() + " --revision HEAD --subpath deploy"}) {
    Outcome r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("- ConfigMap default/stray (other/cm.yaml)")) << args;
    EXPECT_THAT(r.out, Not(HasSubstr("not compared"))) << args;
  }
  Outcome web = Run("diff --repo " + repo_->dir() + " --revision HEAD --subpath deploy/web");
  EXPECT_EQ(web.exit_code, 0) << web.out;
  EXPECT_THAT(web.out, HasSubstr("1 managed object from files outside deploy/web is not compared"));
  // The preview was right: the sync deletes it.
  ASSERT_EQ(Run("sync --timeout 30s").exit_code, 0);
  ASSERT_TRUE(WaitLive(head));
  EXPECT_THAT(Run("get configmap stray").out, HasSubstr("not found"));
}

// The followed folder emptied: the sync refuses a revision that would delete
// every object (NoManifests), and the preview says so instead of listing
// deletions that will never happen; with allowEmpty it shows them.
TEST_F(FollowTest, APreviewOfAnEmptiedFolderSaysTheSyncWouldRefuseIt) {
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  repo_->Remove("deploy/web/cm.yaml");
  repo_->Write("deploy/README.md", "moved to the platform repository\n");  // the folder stays
  repo_->Commit("move everything out");
  for (const std::string& args :
       {"diff --path " + repo_->dir() + "/deploy", "diff --repo " + repo_->dir() + " --revision HEAD"}) {
    Outcome r = Run(args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.out;
    EXPECT_THAT(r.out, HasSubstr("no manifests under deploy (SyncConfigs and Policies aside): applying this revision "
                                 "would delete the one object of the live one"))
        << args;
    EXPECT_THAT(r.out, HasSubstr("bosun would refuse this revision and change nothing")) << args;
    EXPECT_THAT(r.out, Not(HasSubstr("- ConfigMap"))) << args;
  }
  Outcome sync = Run("sync --timeout 30s");
  EXPECT_EQ(sync.exit_code, 1) << sync.out;
  EXPECT_THAT(sync.out, HasSubstr("NoManifests")) << sync.out;

  repo_->Write("deploy/sync.yaml",
               "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\nspec: {allowEmpty: true}\n");
  repo_->Commit("meant");
  Outcome meant = Run("diff --repo " + repo_->dir() + " --revision HEAD");
  EXPECT_EQ(meant.exit_code, 2) << meant.out;
  EXPECT_THAT(meant.out, HasSubstr("- ConfigMap default/web (deploy/web/cm.yaml)"));
}

// POSTs a generic push webhook for `body` signed with `secret` (a wrong
// secret forges it); returns curl's output: the answer, a newline, the code.
Outcome PostWebhook(const std::string& url, const std::string& body_file, const std::string& secret) {
  std::string sig =
      bosun::test::RunCommand("openssl dgst -sha256 -hmac " + Quote(secret) + " -r " + Quote(body_file)).out;
  sig = sig.substr(0, 64);
  return bosun::test::RunCommand("curl -s -w '\\n%{http_code}' -X POST -H 'Content-Type: application/json' -H " +
                                 Quote("X-Bosun-Signature-256: sha256=" + sig) + " --data-binary @" + Quote(body_file) +
                                 " " + url + "/hooks/generic");
}

TEST_F(FollowTest, AWebhookPushTriggersASync) {
  ASSERT_TRUE(WaitLive(first_)) << Run("status").out;
  repo_->Write("deploy/web/cm.yaml", ConfigMap("web", "green"));
  std::string second = repo_->Commit("Green");

  std::string body = R"({"ref":"refs/heads/main","after":")" + second + R"("})";
  std::string body_file = dir_.Write("hook.json", body);
  Outcome forged = PostWebhook(server_->url(), body_file, "not-the-secret");
  EXPECT_THAT(forged.out, ::testing::EndsWith("\n401")) << forged.out;
  EXPECT_THAT(forged.out, Not(HasSubstr("s3cret")));
  Outcome ok = PostWebhook(server_->url(), body_file, "s3cret-hook-key");
  EXPECT_THAT(ok.out, ::testing::MatchesRegex("(.|\n)*\n20[02]")) << ok.out;
  ASSERT_TRUE(WaitLive(second)) << Run("status").out << server_->Log();
  Outcome history = Run("history -n 1");
  EXPECT_THAT(history.out, HasSubstr(second.substr(0, 7)));
  EXPECT_THAT(history.out, HasSubstr("webhook"));
}

// Three members on loopback, each with its own data folder, one admin token
// and one encryption key, following `repo` with the GitOps flags each is
// started with.
class ThreeMembers {
 public:
  explicit ThreeMembers(TempDir& dir) : dir_(dir), token_file_(dir.Sub("admin.token")) {
    for (int i = 0; i < 3; ++i) {
      api_[i] = bosun::test::FreePort();
      raft_[i] = bosun::test::FreePort();
      peers_ += (i ? "," : "") + std::to_string(i + 1) + "=127.0.0.1:" + std::to_string(raft_[i]);
    }
    members.resize(3);
  }
  // (Re)starts member i (0-based) with these GitOps flags.
  void Start(int i, const std::string& gitops) {
    members[i].reset();
    std::string flags = "--id " + std::to_string(i + 1) + " --peers " + peers_ + " --admin-token-file " +
                        Quote(token_file_) + " --encryption-key-file " + Quote(dir_.Sub("secrets.key")) + " " + gitops;
    members[i] = std::make_unique<Server>(dir_.Sub("m" + std::to_string(i + 1)), flags, api_[i], raft_[i], token_file_);
    // The first member writes the shared admin token.
    for (int t = 0; t < 100 && !fs::exists(token_file_); ++t) std::this_thread::sleep_for(50ms);
  }
  std::string Logs() const {
    std::string all;
    for (size_t i = 0; i < members.size(); ++i)
      if (members[i]) all += "---- member " + std::to_string(i + 1) + " ----\n" + members[i]->Log();
    return all;
  }
  // The index of the member that leads, or -1.
  int Leader() const {
    for (int attempt = 0; attempt < 100; ++attempt) {
      for (size_t i = 0; i < members.size(); ++i) {
        if (!members[i] || !members[i]->running()) continue;
        auto r = members[i]->Http("GET", "/bosun/v1/members");
        if (r.first != 200) continue;
        for (const auto& m : r.second["items"]) {
          if (m.value("isLeader", false) && m.value("isSelf", false)) return static_cast<int>(i);
        }
      }
      std::this_thread::sleep_for(100ms);
    }
    return -1;
  }
  static bool WaitLive(const Server& via, const std::string& commit) {
    for (int attempt = 0; attempt < 150; ++attempt) {
      auto r = via.Http("GET", "/apis/bosun.dev/v1/gitrepositories/default");
      if (r.first == 200 && r.second["status"].is_object() && r.second["status"].value("liveRevision", "") == commit)
        return true;
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }
  std::vector<std::unique_ptr<Server>> members;

 private:
  TempDir& dir_;
  std::string token_file_;
  int api_[3], raft_[3];
  std::string peers_;
};

// Three members following one repository: only the leader syncs; a webhook
// that reaches a follower is handed to the leader through the API; when the
// leader dies, the new one's controller carries on.
TEST(FollowCluster, OnlyTheLeaderSyncsAndFollowersForwardWebhooks) {
  TempDir dir;
  GitRepo repo(dir.Sub("repo"));
  repo.Write("deploy/cm.yaml", ConfigMap("web", "blue"));
  std::string first = repo.Commit("Blue");
  std::string secret = dir.Write("hook.secret", "s3cret-hook-key\n");
  ThreeMembers cluster(dir);
  auto& members = cluster.members;
  for (int i = 0; i < 3; ++i) {
    cluster.Start(
        i, "--repo " + Quote(repo.dir()) + " --path deploy --fetch-interval 1h --webhook-secret-file " + Quote(secret));
  }
  auto dump_logs = [&] { return cluster.Logs(); };
  for (auto& m : members) ASSERT_TRUE(m->WaitReady()) << dump_logs();
  auto leader = [&] { return cluster.Leader(); };
  auto wait_live = [&](const Server& via, const std::string& commit) { return ThreeMembers::WaitLive(via, commit); };
  int lead = leader();
  ASSERT_GE(lead, 0) << dump_logs();
  int follower = (lead + 1) % 3;
  ASSERT_TRUE(wait_live(*members[follower], first)) << dump_logs();
  for (int i = 0; i < 3; ++i) {
    bool started = members[i]->Log().find("leading: sync controller started") != std::string::npos;
    EXPECT_EQ(started, i == lead) << "member " << i + 1 << ":\n" << members[i]->Log();
  }

  // A push webhook to a follower: it asks the leader, which syncs.
  repo.Write("deploy/cm.yaml", ConfigMap("web", "green"));
  std::string second = repo.Commit("Green");
  std::string body_file = dir.Write("hook.json", R"({"ref":"refs/heads/main"})");
  Outcome hook = PostWebhook(members[follower]->url(), body_file, "s3cret-hook-key");
  EXPECT_THAT(hook.out, ::testing::EndsWith("\n202")) << hook.out;
  ASSERT_TRUE(wait_live(*members[follower], second)) << dump_logs();
  EXPECT_THAT(members[follower]->Log(), HasSubstr("sync requested from the leader"));
  // The history says a webhook asked, not a person.
  auto rec = members[follower]->Http("GET", "/apis/bosun.dev/v1/revisions/00000002");
  EXPECT_EQ(rec.second["spec"].value("trigger", ""), "webhook") << rec.second.dump();

  // The leader dies; the next one runs the controller, and `bosun sync`
  // through any member works.
  members[lead]->Kill();
  repo.Write("deploy/cm.yaml", ConfigMap("web", "red"));
  std::string third = repo.Commit("Red");
  int next = leader();
  ASSERT_GE(next, 0) << dump_logs();
  ASSERT_NE(next, lead);
  int other = 3 - lead - next;
  // Until the third member hears from the new leader it answers 503.
  ASSERT_TRUE(members[other]->WaitReady()) << dump_logs();
  Outcome sync = Bosun("sync --timeout 60s" + members[other]->flags());
  EXPECT_EQ(sync.exit_code, 0) << sync.out << dump_logs();
  // The new leader's first pass may have applied it already; either way it is live now.
  EXPECT_THAT(sync.out, ::testing::AnyOf(::testing::ContainsRegex("revision 3 \\(" + third.substr(0, 7) +
                                                                  " \"Red\"\\): (Applied|Healthy)"),
                                         HasSubstr("already up to date: " + third.substr(0, 7) +
                                                   " is live (revision 3)")));
  EXPECT_TRUE(wait_live(*members[other], third));
  // The new leader's first pass is a leader change (or the request), not a
  // server start.
  auto third_rec = members[other]->Http("GET", "/apis/bosun.dev/v1/revisions/00000003");
  EXPECT_THAT(third_rec.second["spec"].value("trigger", ""), ::testing::AnyOf("leader-change", "manual"))
      << third_rec.second.dump();
  // `bosun members` asks each member: the killed one is unreachable (not a
  // follower), the others give their applied index.
  Outcome listed = Bosun("members" + members[other]->flags());
  ASSERT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_THAT(listed.out, ::testing::ContainsRegex("\n" + std::to_string(lead + 1) + " .*unreachable +no +-\n"))
      << listed.out;
  EXPECT_THAT(listed.out, ::testing::ContainsRegex("\n" + std::to_string(next + 1) + " .*leader +yes +[0-9]+\n"))
      << listed.out;
  EXPECT_THAT(members[next]->Log(), HasSubstr("leading: sync controller started"));
  // The workload controllers follow leadership too: the old and the new
  // leader ran them, the member that never led did not.
  EXPECT_THAT(members[lead]->Log(), HasSubstr("leading: workload controllers started"));
  EXPECT_THAT(members[next]->Log(), HasSubstr("leading: workload controllers started"));
  EXPECT_THAT(members[other]->Log(), Not(HasSubstr("leading: workload controllers started")));
  Outcome history = Bosun("history" + members[other]->flags());
  EXPECT_THAT(history.out,
              ::testing::MatchesRegex("(.|\n)*\n3 +" + third.substr(0, 7) + " +.* \\+0 ~1 -0 +(Applied|Healthy)(.|\n)*"));
}

// Members started with different GitOps flags (a typo on one machine): only
// the leader syncs, with its own flags, so each election would switch what
// the cluster runs. While they differ the leader applies nothing; `bosun
// members`, `bosun status` and `bosun sync` say which member has what; once
// that member is started again with the same flags the held commit goes live.
TEST(FollowCluster, MembersThatFollowDifferentSourcesApplyNothingUntilTheyAgree) {
  TempDir dir;
  GitRepo repo(dir.Sub("repo"));
  repo.Write("deploy/cm.yaml", ConfigMap("web", "blue"));
  repo.Write("deploy/other/cm.yaml", ConfigMap("other", "blue"));
  std::string first = repo.Commit("Blue");
  ThreeMembers cluster(dir);
  const std::string same = "--repo " + Quote(repo.dir()) + " --path deploy --fetch-interval 1h";
  for (int i = 0; i < 3; ++i) cluster.Start(i, same);
  for (auto& m : cluster.members) ASSERT_TRUE(m->WaitReady()) << cluster.Logs();
  const int lead = cluster.Leader();
  ASSERT_GE(lead, 0) << cluster.Logs();
  const Server& via = *cluster.members[lead];
  ASSERT_TRUE(ThreeMembers::WaitLive(via, first)) << cluster.Logs();
  EXPECT_THAT(Bosun("members" + via.flags()).out, Not(HasSubstr("Warning")));

  // A follower started again with another --path.
  const int odd = (lead + 1) % 3;
  const std::string odd_name = "member " + std::to_string(odd + 1);
  cluster.Start(odd, "--repo " + Quote(repo.dir()) + " --path deploy/other/ --fetch-interval 1h");
  ASSERT_TRUE(cluster.members[odd]->WaitReady()) << cluster.Logs();
  Outcome listed;
  for (int i = 0; i < 100; ++i) {
    listed = Bosun("members" + via.flags());
    if (listed.out.find("Warning: the members follow different sources") != std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_THAT(listed.out, HasSubstr(odd_name + ": " + repo.dir() + " (ref main, path deploy/other/)")) << listed.out;
  EXPECT_THAT(listed.out, HasSubstr("(ref main, path deploy/)")) << listed.out;

  repo.Write("deploy/cm.yaml", ConfigMap("web", "green"));
  std::string second = repo.Commit("Green");
  Outcome sync = Bosun("sync --timeout 30s" + via.flags());
  EXPECT_EQ(sync.exit_code, 1) << sync.out << cluster.Logs();
  EXPECT_THAT(sync.out, HasSubstr("sync failed: not syncing: the members follow different sources")) << sync.out;
  Outcome status = Bosun("status" + via.flags());
  EXPECT_THAT(status.out, HasSubstr("Members:")) << status.out;
  EXPECT_THAT(status.out, ::testing::ContainsRegex("Synced by: +the leader, member " + std::to_string(lead + 1)))
      << status.out;
  EXPECT_THAT(status.out, ::testing::ContainsRegex("Path: +deploy\n")) << status.out;
  EXPECT_THAT(status.out, ::testing::ContainsRegex("Live: +" + first)) << status.out;
  // Nothing of the second commit, nor of the other folder, was written.
  EXPECT_EQ(via.Http("GET", "/apis/bosun.dev/v1/revisions/00000002").first, 404);
  EXPECT_EQ(via.Http("GET", "/api/v1/namespaces/default/configmaps/web").second["data"].value("color", ""), "blue");

  // The same flags again, written another way (--ref refs/heads/main is
  // --branch main's default, deploy/ is deploy): the held commit goes live
  // without being asked.
  cluster.Start(odd, "--repo " + Quote(repo.dir()) + " --ref refs/heads/main --path deploy/ --fetch-interval 1h");
  ASSERT_TRUE(ThreeMembers::WaitLive(via, second)) << cluster.Logs();
  status = Bosun("status" + via.flags());
  EXPECT_THAT(status.out, Not(HasSubstr("Members:"))) << status.out;
  EXPECT_THAT(status.out, Not(HasSubstr("not syncing"))) << status.out;
}

// A push webhook that reaches a member which knows no leader (here the
// only one of three started) is answered 503, so the Git host shows the
// delivery failed, rather than 202 and dropped.
TEST(FollowCluster, AWebhookToAMemberThatKnowsNoLeaderIsRefused) {
  TempDir dir;
  GitRepo repo(dir.Sub("repo"));
  repo.Write("deploy/cm.yaml", ConfigMap("web", "blue"));
  repo.Commit("Blue");
  std::string secret = dir.Write("hook.secret", "s3cret-hook-key\n");
  ThreeMembers cluster(dir);
  cluster.Start(
      0, "--repo " + Quote(repo.dir()) + " --path deploy --fetch-interval 1h --webhook-secret-file " + Quote(secret));
  const Server& alone = *cluster.members[0];
  Outcome up;
  for (int i = 0; i < 100; ++i) {
    up = bosun::test::RunCommand("curl -s " + alone.url() + "/healthz");
    if (up.out == "ok\n") break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(up.out, "ok\n") << cluster.Logs();
  std::string body_file = dir.Write("hook.json", R"({"ref":"refs/heads/main"})");
  Outcome hook = PostWebhook(alone.url(), body_file, "s3cret-hook-key");
  EXPECT_THAT(hook.out, ::testing::EndsWith("\n503")) << hook.out;
  EXPECT_THAT(hook.out, HasSubstr("no leader is known")) << hook.out;
  EXPECT_THAT(hook.out, HasSubstr("\"triggered\":false")) << hook.out;
}

// A member of several that would make an encryption key of its own is
// refused at its start, not at the first failover.
TEST(FollowCluster, AMemberOfSeveralWithoutAKeyFileIsRefusedAtStart) {
  TempDir dir;
  const int raft1 = bosun::test::FreePort(), raft2 = bosun::test::FreePort();
  // (timeout: were it to start, it would serve until stopped)
  Outcome out = bosun::test::RunCommand(
      "timeout 20 " + std::string(BOSUN_BINARY) + " server --data " + Quote(dir.Sub("m1")) +
      " --id 1 --listen 127.0.0.1:" + std::to_string(bosun::test::FreePort()) +
      " --raft-listen 127.0.0.1:" + std::to_string(raft1) + " --peers 1=127.0.0.1:" + std::to_string(raft1) +
      ",2=127.0.0.1:" + std::to_string(raft2) + " 2>&1");
  EXPECT_NE(out.exit_code, 0);
  EXPECT_THAT(out.out, HasSubstr("--encryption-key-file is needed by a member of a cluster of several")) << out.out;
  EXPECT_FALSE(fs::exists(dir.Sub("m1/keys/secrets.key")));
  // A cluster of one named in --peers (even with a trailing comma) makes its
  // own key as ever: it starts (and is stopped by the time-out).
  Outcome one = bosun::test::RunCommand(
      "timeout 3 " + std::string(BOSUN_BINARY) + " server --data " + Quote(dir.Sub("one")) +
      " --id 1 --listen 127.0.0.1:" + std::to_string(bosun::test::FreePort()) +
      " --raft-listen 127.0.0.1:" + std::to_string(raft1) + " --peers 1=127.0.0.1:" + std::to_string(raft1) + ", 2>&1");
  EXPECT_EQ(one.exit_code, 124) << one.out;
  EXPECT_THAT(one.out, Not(HasSubstr("--encryption-key-file is needed"))) << one.out;
  EXPECT_TRUE(fs::exists(dir.Sub("one/keys/secrets.key")));
}

}  // namespace
