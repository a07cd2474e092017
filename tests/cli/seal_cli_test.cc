// `bosun seal` and `bosun keys` as a user runs them: the real binary, and a
// real `bosun server --repo` following a real Git repository.
//
// Offline: a key pair made with `bosun keys generate`, Secrets sealed with
// --public-key, the output valid for `bosun validate`, no value printed.
// Online: a Secret sealed through the API, committed, synced by the server,
// unsealed by the leader's controller into a Secret with the value; the same
// sealed value moved to another namespace fails with the precise message in
// `bosun describe`; `bosun keys rotate` + `bosun seal --re-encrypt` re-seal
// under the new key, which the cluster opens; the value never shows in the
// server's log, the Events or the revision records.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Outcome Bosun(const std::string& args) {
  return bosun::test::RunCommand("env -u BOSUN_SERVER -u BOSUN_TOKEN_FILE " + std::string(BOSUN_BINARY) + " " + args);
}
// stdout only.
Outcome BosunOut(const std::string& args) {
  return bosun::test::RunCommand("{ env -u BOSUN_SERVER -u BOSUN_TOKEN_FILE " + std::string(BOSUN_BINARY) + " " +
                                 args + " 2>/dev/null; }");
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Sh(const std::string& cmd) {
  Outcome r = bosun::test::RunCommand(cmd);
  EXPECT_EQ(r.exit_code, 0) << cmd << ":\n" << r.out;
  return r.out;
}

// The key id a sealed value names (bytes 1..8 of its base64), as hex.
std::string KeyIdOf(const std::string& sealed) {
  std::string out = Sh("printf %s " + Quote(sealed) + " | base64 -d | head -c 9 | tail -c 8 | od -An -tx1 | tr -d ' \\n'");
  return out;
}

// The value of `key` under encryptedData in `bosun seal`'s YAML.
std::string SealedValue(const std::string& yaml, const std::string& key) {
  std::istringstream in(yaml);
  for (std::string line; std::getline(in, line);) {
    size_t at = line.find(key + ": ");
    if (at != std::string::npos && line.find_first_not_of(' ') == at) return line.substr(at + key.size() + 2);
  }
  return "";
}

const char* kSecretYaml =
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\n  labels:\n    app: db\n"
    "type: kubernetes.io/basic-auth\ndata:\n  username: YWRtaW4tdXNlcg==\nstringData:\n  password: pl41n-p4ssw0rd\n";

TEST(SealCli, OfflineSealWithAGeneratedKey) {
  TempDir d;
  std::string key = d.Sub("cluster.key");
  Outcome gen = BosunOut("keys generate " + key);
  ASSERT_EQ(gen.exit_code, 0) << gen.out;
  EXPECT_THAT(gen.out, HasSubstr("bosun-sealing-public-key: v1"));
  EXPECT_THAT(gen.out, Not(HasSubstr("private")));
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(Bosun("keys generate " + key).exit_code, 0) << "an existing key file is never overwritten";
  std::string pub = d.Write("pub.key", gen.out);

  std::string secret = d.Write("secret.yaml", kSecretYaml);
  Outcome sealed = BosunOut("seal --public-key " + pub + " -f " + secret);
  ASSERT_EQ(sealed.exit_code, 0) << Bosun("seal --public-key " + pub + " -f " + secret).out;
  EXPECT_THAT(sealed.out, HasSubstr("apiVersion: bosun.dev/v1\nkind: SealedSecret\n"));
  EXPECT_THAT(sealed.out, HasSubstr("bosun.dev/sealed-scope: strict"));
  EXPECT_THAT(sealed.out, HasSubstr("type: kubernetes.io/basic-auth"));
  EXPECT_THAT(sealed.out, HasSubstr("app: db"));
  EXPECT_THAT(sealed.out, Not(HasSubstr("pl41n-p4ssw0rd")));
  EXPECT_THAT(sealed.out, Not(HasSubstr("YWRtaW4tdXNlcg==")));
  std::string pw = SealedValue(sealed.out, "password");
  ASSERT_FALSE(pw.empty()) << sealed.out;
  EXPECT_EQ(KeyIdOf(pw), Sh("grep '^id:' " + pub + " | cut -d' ' -f2 | tr -d '\\n'"));
  EXPECT_FALSE(SealedValue(sealed.out, "username").empty());

  // The output is a valid manifest.
  fs::create_directories(d.Sub("repo"));
  d.Write("repo/db.yaml", sealed.out);
  Outcome valid = Bosun("validate " + d.Sub("repo"));
  EXPECT_EQ(valid.exit_code, 0) << valid.out;

  // stdin, another scope.
  Outcome ns = BosunOut("seal --public-key " + pub + " --scope namespace < " + secret);
  ASSERT_EQ(ns.exit_code, 0);
  EXPECT_THAT(ns.out, HasSubstr("bosun.dev/sealed-scope: namespace"));

  // Mistakes, said clearly.
  Outcome scope = Bosun("seal --public-key " + pub + " --scope global -f " + secret);
  EXPECT_EQ(scope.exit_code, 1);
  EXPECT_THAT(scope.out, HasSubstr("--scope: scope \"global\": must be strict, namespace or cluster"));
  std::string cm = d.Write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n");
  Outcome not_secret = Bosun("seal --public-key " + pub + " -f " + cm);
  EXPECT_EQ(not_secret.exit_code, 1);
  EXPECT_THAT(not_secret.out, HasSubstr(cm + ":1: a v1 Secret is needed, not v1 ConfigMap"));
  // Every error of the Secret at once, where it is (as `bosun validate`),
  // never its values; nothing sealed.
  std::string broken = d.Write("broken.yaml",
                               "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  user: YWRtaW4=\n"
                               "  num: 42\n  pass: n0t-b4se64!\n");
  Outcome invalid = Bosun("seal --public-key " + pub + " -f " + broken);
  EXPECT_EQ(invalid.exit_code, 1);
  EXPECT_THAT(invalid.out, HasSubstr(broken + ":7:8: data.num: "));
  EXPECT_THAT(invalid.out, HasSubstr(broken + ":8:9: data.pass: must be base64-encoded"));
  EXPECT_THAT(invalid.out, HasSubstr("2 errors in " + broken + ": nothing was sealed"));
  EXPECT_THAT(invalid.out, Not(HasSubstr("n0t-b4se64")));
  EXPECT_THAT(invalid.out, Not(HasSubstr("SealedSecret")));
  Outcome bad_key = Bosun("seal --public-key " + secret + " -f " + secret);
  EXPECT_EQ(bad_key.exit_code, 1);
  EXPECT_THAT(bad_key.out, HasSubstr("no sealing public key here"));
  Outcome no_server = Bosun("seal --server http://127.0.0.1:1 --token-file " + key + " -f " + secret);
  EXPECT_EQ(no_server.exit_code, 1);
  EXPECT_THAT(no_server.out, HasSubstr("offline: `bosun keys public > pub.key`"));
  EXPECT_THAT(no_server.out + not_secret.out + scope.out, Not(HasSubstr("pl41n-p4ssw0rd")));
}

// A `bosun server --repo` following a Git repository made by the test.
class SealServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = dir_.Sub("repo");
    fs::create_directories(repo_);
    Git("init -q -b main . && git config user.name Ada && git config user.email ada@example.com && "
        "git config commit.gpgsign false");
    Write("deploy/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
                            "apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}\n");
    Git("add -A && git commit -q -m base");
    data_ = dir_.Sub("data");
    token_file_ = data_ + "/admin.token";
    api_ = "127.0.0.1:" + std::to_string(bosun::test::FreePort());
    std::string raft = "127.0.0.1:" + std::to_string(bosun::test::FreePort());
    std::string cmd = "exec " + std::string(BOSUN_BINARY) + " server --data " + Quote(data_) + " --listen " + api_ +
                      " --raft-listen " + raft + " --repo " + Quote(repo_) +
                      " --branch main --path deploy --fetch-interval 1s >" + Quote(log_) + " 2>&1";
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_TRUE(bosun::test::Eventually(
        [&] {
          return fs::exists(token_file_) &&
                 bosun::test::RunCommand("curl -s -o /dev/null -w '%{http_code}' http://" + api_ + "/readyz").out == "200";
        },
        30s))
        << Log();
    token_ = Slurp(token_file_);
    while (!token_.empty() && (token_.back() == '\n' || token_.back() == ' ')) token_.pop_back();
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- server log ----\n" << Log() << "\n";
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st;
      for (int i = 0; i < 100 && waitpid(pid_, &st, WNOHANG) == 0; ++i) std::this_thread::sleep_for(100ms);
      if (waitpid(pid_, &st, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
      }
    }
  }

  void Git(const std::string& args) { Sh("cd " + Quote(repo_) + " && git " + args); }
  void Write(const std::string& rel, const std::string& text) {
    fs::path p = fs::path(repo_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  void Commit(const std::string& message) { Git("add -A && git commit -q -m " + Quote(message)); }
  std::string Log() const { return Slurp(log_); }
  std::string Flags() const { return " --server http://" + api_ + " --token-file " + Quote(token_file_); }
  json Get(const std::string& path) {
    Outcome r = bosun::test::RunCommand("curl -s -H " + Quote("Authorization: Bearer " + token_) + " http://" + api_ +
                                        path);
    return json::parse(r.out, nullptr, false);
  }
  // The Secret's value (base64) of `key`, or "".
  std::string SecretData(const std::string& ns, const std::string& name, const std::string& key) {
    json s = Get("/api/v1/namespaces/" + ns + "/secrets/" + name);
    if (!s.is_object() || !s.contains("data") || !s["data"].is_object()) return "";
    return s["data"].value(key, "");
  }
  json Synced(const std::string& ns, const std::string& name) {
    json s = Get("/apis/bosun.dev/v1/namespaces/" + ns + "/sealedsecrets/" + name);
    json none = json::object();
    if (!s.is_object() || !s.contains("status") || !s["status"].contains("conditions")) return none;
    for (const auto& c : s["status"]["conditions"]) {
      if (c.value("type", "") == "Synced") return c;
    }
    return none;
  }

  TempDir dir_{"bosun-seal-cli"};
  std::string repo_, data_, token_file_, api_, token_;
  std::string log_ = dir_.Sub("server.log");
  pid_t pid_ = -1;
};

TEST_F(SealServerTest, SealCommitSyncRotateReencrypt) {
  // The first key is there soon after the first start.
  ASSERT_TRUE(bosun::test::Eventually([&] { return Bosun("keys ls" + Flags()).exit_code == 0; }, 30s))
      << Bosun("keys ls" + Flags()).out;
  Outcome ls = Bosun("keys ls" + Flags());
  EXPECT_THAT(ls.out, HasSubstr("ACTIVE"));
  EXPECT_THAT(ls.out, HasSubstr("yes"));

  // Seal through the API, commit, sync.
  std::string secret = dir_.Write("secret.yaml", kSecretYaml);
  Outcome sealed = BosunOut("seal -f " + secret + Flags());
  ASSERT_EQ(sealed.exit_code, 0) << Bosun("seal -f " + secret + Flags()).out;
  Write("deploy/db.yaml", sealed.out);
  Commit("db credentials, sealed");
  ASSERT_TRUE(bosun::test::Eventually([&] { return SecretData("shop", "db", "password") == "cGw0MW4tcDRzc3cwcmQ="; }, 30s))
      << Get("/apis/bosun.dev/v1/namespaces/shop/sealedsecrets/db").dump();
  EXPECT_EQ(SecretData("shop", "db", "username"), "YWRtaW4tdXNlcg==");
  json s = Get("/api/v1/namespaces/shop/secrets/db");
  EXPECT_EQ(s.value("type", ""), "kubernetes.io/basic-auth");
  EXPECT_EQ(s["metadata"]["ownerReferences"][0].value("kind", ""), "SealedSecret");

  // The same sealed value committed under namespace dev does not open there.
  std::string moved = sealed.out;
  moved.replace(moved.find("namespace: shop"), 15, "namespace: dev");
  Write("deploy/dev-db.yaml", moved);
  Commit("copy the db secret to dev");
  ASSERT_TRUE(bosun::test::Eventually([&] { return Synced("dev", "db").value("reason", "") == "ScopeMismatch"; }, 30s))
      << Get("/apis/bosun.dev/v1/namespaces/dev/sealedsecrets/db").dump();
  Outcome describe = Bosun("describe sealedsecret db -n dev" + Flags());
  EXPECT_THAT(describe.out,
              HasSubstr("spec.encryptedData.password: sealed for namespace \"shop\" name \"db\", not for namespace \"dev\""))
      << describe.out;
  EXPECT_TRUE(Get("/api/v1/namespaces/dev/secrets/db").value("kind", "") != "Secret");

  // Rotation: a new key seals; --re-encrypt moves the old values to it.
  std::string old_id = KeyIdOf(SealedValue(sealed.out, "password"));
  Outcome rotate = Bosun("keys rotate" + Flags());
  ASSERT_EQ(rotate.exit_code, 0) << rotate.out;
  EXPECT_THAT(rotate.out, HasSubstr("seals from now on"));
  Outcome ls2 = Bosun("keys ls" + Flags());
  EXPECT_THAT(ls2.out, HasSubstr(old_id));
  Outcome pub = BosunOut("keys public" + Flags());
  ASSERT_EQ(pub.exit_code, 0);
  std::string new_id = Sh("printf %s " + Quote(pub.out) + " | grep '^id:' | cut -d' ' -f2 | tr -d '\\n'");
  ASSERT_NE(new_id, old_id);

  std::string sealed_file = dir_.Write("sealed.yaml", sealed.out);
  Outcome re = BosunOut("seal --re-encrypt -f " + sealed_file + Flags());
  ASSERT_EQ(re.exit_code, 0) << Bosun("seal --re-encrypt -f " + sealed_file + Flags()).out;
  EXPECT_EQ(KeyIdOf(SealedValue(re.out, "password")), new_id);
  EXPECT_EQ(KeyIdOf(SealedValue(re.out, "username")), new_id);
  EXPECT_THAT(re.out, Not(HasSubstr("pl41n-p4ssw0rd")));
  // A value that does not belong where it says is refused, naming the field.
  std::string moved_file = dir_.Write("moved.yaml", moved);
  Outcome re_moved = Bosun("seal --re-encrypt -f " + moved_file + Flags());
  EXPECT_EQ(re_moved.exit_code, 1);
  EXPECT_THAT(re_moved.out, HasSubstr("spec.encryptedData.password: sealed for namespace \"shop\" name \"db\""));

  Write("deploy/db.yaml", re.out);
  Write("deploy/dev-db.yaml", "");
  fs::remove(fs::path(repo_) / "deploy/dev-db.yaml");
  Commit("re-seal under the new key");
  std::string sealed_rv;
  ASSERT_TRUE(bosun::test::Eventually(
      [&] {
        json ss = Get("/apis/bosun.dev/v1/namespaces/shop/sealedsecrets/db");
        std::string v = ss.is_object() ? ss["spec"]["encryptedData"].value("password", "") : "";
        return v == SealedValue(re.out, "password") && Synced("shop", "db").value("status", "") == "True";
      },
      30s));
  EXPECT_EQ(SecretData("shop", "db", "password"), "cGw0MW4tcDRzc3cwcmQ=");

  // Only admins rotate.
  Outcome no_token = Bosun("keys rotate --server http://" + api_ + " --token-file " + secret);
  EXPECT_EQ(no_token.exit_code, 1);

  // The value shows nowhere a person or a log reader looks.
  json events = Get("/api/v1/events");
  json records = Get("/apis/bosun.dev/v1/revisions");
  for (const char* v : {"pl41n-p4ssw0rd", "cGw0MW4tcDRzc3cwcmQ="}) {
    EXPECT_THAT(Log(), Not(HasSubstr(v)));
    EXPECT_THAT(events.dump(), Not(HasSubstr(v)));
    EXPECT_THAT(records.dump(), Not(HasSubstr(v)));
    EXPECT_THAT(describe.out, Not(HasSubstr(v)));
  }
}

TEST_F(SealServerTest, ImportsAKeyFileAtStart) {
  // A second server on the same data folder would be a second member; this
  // one starts fresh with --sealing-key-file.
  TearDown();
  pid_ = -1;
  std::string key = dir_.Sub("demo.key");
  Outcome gen = BosunOut("keys generate " + key);
  ASSERT_EQ(gen.exit_code, 0);
  std::string id = Sh("printf %s " + Quote(gen.out) + " | grep '^id:' | cut -d' ' -f2 | tr -d '\\n'");
  std::string data = dir_.Sub("data2");
  std::string api = "127.0.0.1:" + std::to_string(bosun::test::FreePort());
  std::string raft = "127.0.0.1:" + std::to_string(bosun::test::FreePort());
  std::string log = dir_.Sub("server2.log");
  pid_ = fork();
  if (pid_ == 0) {
    std::string cmd = "exec " + std::string(BOSUN_BINARY) + " server --data " + Quote(data) + " --listen " + api +
                      " --raft-listen " + raft + " --sealing-key-file " + Quote(key) + " >" + Quote(log) + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string flags = " --server http://" + api + " --token-file " + Quote(data + "/admin.token");
  ASSERT_TRUE(bosun::test::Eventually([&] { return BosunOut("keys public" + flags).exit_code == 0; }, 30s))
      << Slurp(log);
  EXPECT_THAT(BosunOut("keys public" + flags).out, HasSubstr("id: " + id));
  Outcome ls = Bosun("keys ls" + flags);
  EXPECT_THAT(ls.out, HasSubstr(id));
  EXPECT_EQ(std::count(ls.out.begin(), ls.out.end(), '\n'), 2) << ls.out;  // header + the imported key only
  EXPECT_THAT(Slurp(log), Not(HasSubstr(Sh("grep '^private:' " + key + " | cut -d' ' -f2 | tr -d '\\n'"))));

  // A bad key file stops the server at once with the line.
  std::string bad = dir_.Write("bad.key", "bosun-sealing-key: v1\npublic: AAAA\n");
  Outcome refused = Bosun("server --data " + dir_.Sub("data3") + " --listen 127.0.0.1:1 --raft-listen 127.0.0.1:1 "
                          "--sealing-key-file " + bad);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.out, HasSubstr("--sealing-key-file: " + bad + ":2: public:"));
}

}  // namespace
