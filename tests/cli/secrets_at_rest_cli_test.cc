// Encryption at rest, as a user relies on it: a real `bosun server` process on
// loopback, Secrets written with `bosun apply`, then every file under the data
// dir (RocksDB SSTs and WAL, the Raft log segments and snapshots) and the
// server's log searched for the plaintext and its base64. `bosun get secret`
// redacts unless --reveal; a restart reads the Secret back; a member started
// with another key file refuses to start.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypto/sshsig.h"
#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using bosun::test::Outcome;
using bosun::test::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

// Distinctive values: each found only where it was put. The first is written
// through `data` (base64), the others through `stringData`.
constexpr const char* kFirst = "plaintext-FIRST-7b1e9c-launch-code";
constexpr const char* kSecond = "plaintext-SECOND-44af02-new-code";
constexpr const char* kSecondUpdate = "plaintext-THIRD-e0d5aa-rotated";

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Base64(const std::string& in) { return bosun::crypto::EncodeBase64(in); }

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Outcome Bosun(const std::string& args) {
  return bosun::test::RunCommand("env -u BOSUN_SERVER -u BOSUN_TOKEN_FILE " + std::string(BOSUN_BINARY) + " " + args);
}

// One `bosun server` process.
class Server {
 public:
  Server(std::string data, std::string extra) : data_(std::move(data)), extra_(std::move(extra)) {}
  ~Server() { Stop(); }

  void Start() {
    api_ = "127.0.0.1:" + std::to_string(bosun::test::FreePort());
    std::string raft = "127.0.0.1:" + std::to_string(bosun::test::FreePort());
    std::string cmd = "exec " + std::string(BOSUN_BINARY) + " server --data " + Quote(data_) + " --listen " + api_ +
                      " --raft-listen " + raft + " " + extra_ + " >>" + Quote(log()) + " 2>&1";
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  // True once /readyz answers; false when the process exited first.
  bool WaitReady() {
    for (int i = 0; i < 300; ++i) {
      Outcome r = bosun::test::RunCommand("curl -s -o /dev/null -w '%{http_code}' http://" + api_ + "/readyz");
      if (r.out == "200") return true;
      if (Exited()) return false;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  // Waits for the process to exit by itself; its exit code, or -1.
  int WaitExit() {
    for (int i = 0; i < 300 && pid_ > 0; ++i) {
      if (Exited()) return exit_code_;
      std::this_thread::sleep_for(100ms);
    }
    return -1;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100 && !Exited(); ++i) std::this_thread::sleep_for(100ms);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }
  std::string Flags() const { return "--server http://" + api_ + " --token-file " + Quote(data_ + "/admin.token"); }
  std::string log() const { return data_ + ".log"; }

 private:
  bool Exited() {
    int st = 0;
    if (pid_ > 0 && waitpid(pid_, &st, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      pid_ = -1;
    }
    return pid_ <= 0;
  }
  std::string data_;
  std::string extra_;
  std::string api_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

std::string SecretYaml(const std::string& data_value, const std::string& string_value) {
  return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: default\ntype: Opaque\n"
         "data:\n  password: " +
         Base64(data_value) + "\nstringData:\n  token: " + string_value + "\n";
}

std::string ConfigMapYaml(int i) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: filler-" + std::to_string(i) +
         "\n  namespace: default\ndata:\n  count: \"" + std::to_string(i) + "\"\n";
}

// Every file under `root` that holds `needle` (as raw bytes).
std::vector<std::string> FilesHolding(const fs::path& root, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    if (Slurp(e.path()).find(needle) != std::string::npos) out.push_back(e.path().string());
  }
  return out;
}

TEST(SecretsAtRest, NoPlaintextInStoreFilesRaftLogSnapshotsOrLogs) {
  TempDir dir("bosun-at-rest");
  const std::string data = dir.Sub("data");
  // Snapshots after a few entries, so the Raft snapshots are searched too.
  Server server(data, "--snapshot-threshold 4 --snapshot-trailing 2");
  server.Start();
  ASSERT_TRUE(server.WaitReady()) << Slurp(server.log());

  // The key file was made at first start, private.
  const fs::path key = fs::path(data) / "keys" / "secrets.key";
  ASSERT_TRUE(fs::exists(key));
  EXPECT_EQ(fs::file_size(key), 32u);
  struct stat st{};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(key.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  std::ofstream(dir.Sub("secret.yaml")) << SecretYaml(kFirst, kSecond);
  Outcome applied = Bosun("apply -f " + Quote(dir.Sub("secret.yaml")) + " " + server.Flags());
  ASSERT_EQ(applied.exit_code, 0) << applied.out;
  EXPECT_THAT(applied.out, Not(HasSubstr(kSecond)));
  // An update: both the old and the new values must stay out of the files.
  std::ofstream(dir.Sub("secret.yaml")) << SecretYaml(kFirst, kSecondUpdate);
  applied = Bosun("apply -f " + Quote(dir.Sub("secret.yaml")) + " " + server.Flags());
  ASSERT_EQ(applied.exit_code, 0) << applied.out;
  // More writes than the snapshot threshold.
  for (int i = 0; i < 12; ++i) {
    std::ofstream(dir.Sub("cm.yaml")) << ConfigMapYaml(i);
    Outcome r = Bosun("apply -f " + Quote(dir.Sub("cm.yaml")) + " " + server.Flags());
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }

  // bosun get: no values without --reveal, in every format.
  for (const char* output : {"", "-o yaml", "-o json", "-o wide"}) {
    Outcome got = Bosun("get secret db " + std::string(output) + " " + server.Flags());
    ASSERT_EQ(got.exit_code, 0) << output << ": " << got.out;
    for (const std::string& leak : {std::string(kFirst), Base64(kFirst), std::string(kSecondUpdate)}) {
      EXPECT_THAT(got.out, Not(HasSubstr(leak))) << output;
    }
    if (std::string(output).find("yaml") != std::string::npos) {
      EXPECT_THAT(got.out, HasSubstr("<redacted " + std::to_string(std::string(kFirst).size()) + " bytes>"));
    }
  }
  Outcome table = Bosun("get secrets " + server.Flags());
  EXPECT_THAT(table.out, HasSubstr("Opaque"));
  Outcome described = Bosun("describe secret db " + server.Flags());
  EXPECT_EQ(described.exit_code, 0) << described.out;
  EXPECT_THAT(described.out, Not(HasSubstr(kSecondUpdate)));
  EXPECT_THAT(described.out, Not(HasSubstr(Base64(kFirst))));
  // The size of the value itself, not of its base64 (with its padding).
  EXPECT_THAT(described.out, HasSubstr("(" + std::to_string(std::string(kFirst).size()) + " bytes)")) << described.out;
  Outcome revealed = Bosun("get secret db -o json --reveal " + server.Flags());
  ASSERT_EQ(revealed.exit_code, 0) << revealed.out;
  EXPECT_THAT(revealed.out, HasSubstr(Base64(kFirst)));
  EXPECT_THAT(revealed.out, HasSubstr(kSecondUpdate));

  server.Stop();
  // Snapshots were taken (the search below covers them).
  bool snapshot = false;
  for (const auto& e : fs::recursive_directory_iterator(data)) {
    snapshot = snapshot || e.path().filename().string().rfind("snapshot", 0) == 0;
  }
  EXPECT_TRUE(snapshot) << "no Raft snapshot was written under " << data;

  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(data)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_GT(files, 5u);
  for (const std::string& needle :
       {std::string(kFirst), Base64(kFirst), std::string(kSecond), Base64(kSecond), std::string(kSecondUpdate),
        Base64(kSecondUpdate)}) {
    EXPECT_THAT(FilesHolding(data, needle), ::testing::IsEmpty()) << needle;
    EXPECT_THAT(Slurp(server.log()), Not(HasSubstr(needle)));
  }
  // The Secret's name is not secret: the store does hold its key (a sanity
  // check that the search reads the store's files at all).
  EXPECT_THAT(FilesHolding(data, "/registry/core/secrets/default/db"), Not(::testing::IsEmpty()));

  // A restart reads the Secret back with the same key file.
  server.Start();
  ASSERT_TRUE(server.WaitReady()) << Slurp(server.log());
  revealed = Bosun("get secret db -o json --reveal " + server.Flags());
  ASSERT_EQ(revealed.exit_code, 0) << revealed.out;
  EXPECT_THAT(revealed.out, HasSubstr(kSecondUpdate));
  EXPECT_THAT(revealed.out, HasSubstr(Base64(kFirst)));
  server.Stop();

  // Another key file: the member refuses to start, saying why.
  Server wrong(data, "--encryption-key-file " + Quote(dir.Sub("other.key")));
  wrong.Start();
  EXPECT_NE(wrong.WaitExit(), 0);
  std::string log = Slurp(wrong.log());
  EXPECT_THAT(log, HasSubstr("encrypted with data key"));
  EXPECT_THAT(log, HasSubstr("other.key"));
  EXPECT_THAT(log, Not(HasSubstr(kSecondUpdate)));
}

TEST(SecretsAtRest, KeyFileReadableByOthersIsRefused) {
  TempDir dir("bosun-at-rest");
  std::ofstream(dir.Sub("open.key"), std::ios::binary) << std::string(32, 'k');
  ASSERT_EQ(::chmod(dir.Sub("open.key").c_str(), 0644), 0);
  Server server(dir.Sub("data"), "--encryption-key-file " + Quote(dir.Sub("open.key")));
  server.Start();
  EXPECT_NE(server.WaitExit(), 0);
  std::string log = Slurp(server.log());
  EXPECT_THAT(log, HasSubstr(dir.Sub("open.key")));
  EXPECT_THAT(log, HasSubstr("chmod 600"));
}

}  // namespace
