// Signed commits as a user runs them (docs/GITOPS.md "Signed commits"): the
// real `bosun server --verify-commits all --allowed-signers FILE` following a
// repository whose commits the real git CLI signed with an ssh-keygen key;
// `bosun history` and `bosun status` show who signed and what was refused.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace {

using bosun::test::Outcome;
using bosun::test::RunCommand;
using bosun::test::TempDir;
using ::testing::HasSubstr;

Outcome Bosun(const std::string& args) {
  return RunCommand("env -u BOSUN_SERVER -u BOSUN_TOKEN_FILE " + std::string(BOSUN_BINARY) + " " + args);
}

class SignedCommitsCli : public ::testing::Test {
 protected:
  SignedCommitsCli() : d_("bosun-signed") {
    Sh("ssh-keygen -q -t ed25519 -N '' -C dev -f " + d_.Sub("key"));
    std::ifstream in(d_.Sub("key.pub"));
    std::string type, b64;
    in >> type >> b64;
    d_.Write("allowed", "dev@example.com " + type + " " + b64 + "\n");
    Sh("git init -q -b main " + d_.Sub("repo"));
  }
  ~SignedCommitsCli() override {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  void Sh(const std::string& cmd) {
    Outcome r = RunCommand(cmd);
    ASSERT_EQ(r.exit_code, 0) << cmd << ": " << r.out;
  }
  // Commits a file, signed by the test key or not.
  void Commit(const std::string& file, const std::string& yaml, const std::string& message, bool sign) {
    d_.Write("repo/" + file, yaml);
    std::string git = "cd " + d_.Sub("repo") + " && GIT_CONFIG_GLOBAL=/dev/null git -c user.name=Dev -c " +
                      "user.email=dev@example.com -c gpg.format=ssh -c user.signingkey=" + d_.Sub("key") + " ";
    Sh(git + "add -A && " + git + "commit -q " + (sign ? "-S " : "--no-gpg-sign ") + "-m '" + message + "'");
  }
  void StartServer() {
    api_ = "127.0.0.1:" + std::to_string(bosun::test::FreePort());
    std::string raft = "127.0.0.1:" + std::to_string(bosun::test::FreePort());
    std::string cmd = "exec " + std::string(BOSUN_BINARY) + " server --data " + d_.Sub("data") + " --listen " + api_ +
                      " --raft-listen " + raft + " --repo " + d_.Sub("repo") + " --fetch-interval 1s" +
                      " --verify-commits all --allowed-signers " + d_.Sub("allowed") + " >" + d_.Sub("server.log") +
                      " 2>&1";
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  std::string Flags() { return " --server http://" + api_ + " --token-file " + d_.Sub("data/admin.token"); }
  bool HistoryHas(const std::string& text) {
    return bosun::test::Eventually([&] { return Bosun("history -o wide" + Flags()).out.find(text) != std::string::npos; },
                                   std::chrono::seconds(20), std::chrono::milliseconds(200));
  }

  TempDir d_;
  std::string api_;
  pid_t pid_ = -1;
};

TEST_F(SignedCommitsCli, BadServerFlagsAreRefusedAtStart) {
  d_.Write("ca", "ca@example.com cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEUX\n");
  Outcome r = Bosun("server --data " + d_.Sub("data") + " --listen 127.0.0.1:1 --raft-listen 127.0.0.1:1 --repo " +
                    d_.Sub("repo") + " --allowed-signers " + d_.Sub("ca"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr(d_.Sub("ca") + ":1: cert-authority is not supported"));
  Outcome bad = Bosun("server --data " + d_.Sub("data") + " --repo " + d_.Sub("repo") + " --verify-commits some");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.out, HasSubstr("--verify-commits"));
  Outcome norepo = Bosun("server --data " + d_.Sub("data") + " --verify-commits all");
  EXPECT_NE(norepo.exit_code, 0);
  EXPECT_THAT(norepo.out, HasSubstr("--verify-commits needs --repo"));
}

TEST_F(SignedCommitsCli, ServerAppliesSignedRevisionsAndRefusesAnUnsignedOneHiddenBelow) {
  Commit("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n", "add shop", true);
  StartServer();
  ASSERT_TRUE(HistoryHas("dev@example.com")) << Bosun("history -o wide" + Flags()).out;
  Commit("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: shop\n", "sneaky", false);
  Commit("b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: shop\n", "on top", true);
  ASSERT_TRUE(HistoryHas("Refused (Unverified)")) << Bosun("history -o wide" + Flags()).out;
  Outcome h = Bosun("history -o wide" + Flags());
  EXPECT_THAT(h.out, HasSubstr("unverified (head: dev@example.com)"));
  Outcome show = Bosun("history show 3" + Flags());
  EXPECT_THAT(show.out, HasSubstr("(\"sneaky\"): not signed")) << show.out;
  EXPECT_THAT(show.out, HasSubstr("NOT verified (verify=all"));
  Outcome st = Bosun("status" + Flags());
  EXPECT_THAT(st.out, HasSubstr("Signing key:   SHA256:")) << st.out;
  EXPECT_THAT(st.out, HasSubstr("Live signed:   verified, dev@example.com")) << st.out;
  Outcome cm = Bosun("get configmap a -n shop" + Flags());
  EXPECT_NE(cm.exit_code, 0) << cm.out;  // nothing of the refused revision was applied
}

}  // namespace
