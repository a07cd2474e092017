// The whole loop as an auditor sees it: a real `bosun server --repo`
// follows a real Git repository whose Policy refuses a revision, and
// `bosun sync` / `bosun history show` say which policy and rule refused it,
// with every violation at file:line — the same lines `bosun validate`
// prints for the work tree.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/policies/policy_test_support.h"
#include "tests/test_support.h"

namespace {

using ::testing::HasSubstr;
using bosun::policies::test::Deployment;
using bosun::test::Outcome;
using bosun::test::RunCommand;
using bosun::test::TempDir;
using namespace std::chrono_literals;

// One `bosun server` process following `repo`, stopped (and waited for) at
// the end of the test whatever happens.
class Server {
 public:
  Server(const std::string& data, const std::string& repo) : data_(data) {
    api_ = "127.0.0.1:" + std::to_string(bosun::test::FreePort());
    std::string raft = "127.0.0.1:" + std::to_string(bosun::test::FreePort());
    std::string cmd = "exec " + std::string(BOSUN_BINARY) + " server --data " + data_ + " --listen " + api_ +
                      " --raft-listen " + raft + " --repo " + repo + " --branch main --fetch-interval 1h >" + data_ +
                      ".log 2>&1";
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Server() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int st;
    for (int i = 0; i < 100 && waitpid(pid_, &st, WNOHANG) == 0; ++i) std::this_thread::sleep_for(100ms);
    if (waitpid(pid_, &st, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
    }
  }
  bool WaitReady() {
    return bosun::test::Eventually(
        [&] {
          Outcome r = RunCommand("curl -s -o /dev/null -w '%{http_code}' http://" + api_ + "/readyz");
          return r.out == "200" && std::filesystem::exists(data_ + "/admin.token");
        },
        30s, 100ms);
  }
  std::string Log() const {
    std::ifstream in(data_ + ".log");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  Outcome Bosun(const std::string& args) const {
    return RunCommand("env -u BOSUN_SERVER -u BOSUN_TOKEN_FILE " + std::string(BOSUN_BINARY) + " " + args +
                      " --server http://" + api_ + " --token-file " + data_ + "/admin.token");
  }

 private:
  std::string data_, api_;
  pid_t pid_ = -1;
};

std::string Git(const std::string& dir, const std::string& args) {
  Outcome r = RunCommand("cd " + dir + " && GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -c user.name=Ada " +
                         "-c user.email=ada@example.com -c commit.gpgsign=false " + args);
  EXPECT_EQ(r.exit_code, 0) << args << ": " << r.out;
  return r.out;
}

TEST(HistoryPolicyCli, ARefusalNamesThePolicyAndRuleLikeValidate) {
  TempDir d("bosun-polhist");
  std::string repo = d.Sub("repo");
  d.Write("repo/policies/baseline.yaml",
          "apiVersion: bosun.dev/v1\nkind: Policy\nmetadata:\n  name: baseline\nspec:\n  rules:\n"
          "    - {name: registries, allowedRegistries: [registry.local]}\n"
          "    - {name: digests, action: warn, requireDigest: true}\n");
  d.Write("repo/web/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n");
  d.Write("repo/web/deployment.yaml", Deployment("web", "web", "nginx:1.25"));
  Git(repo, "init -q -b main .");
  Git(repo, "add -A");
  Git(repo, "commit -q -m 'web from docker hub'");

  Outcome validate = RunCommand(std::string(BOSUN_BINARY) + " validate " + repo);
  EXPECT_EQ(validate.exit_code, 1) << validate.out;

  Server server(d.Sub("data"), repo);
  ASSERT_TRUE(server.WaitReady());
  Outcome sync = server.Bosun("sync --timeout 30s");
  EXPECT_EQ(sync.exit_code, 1) << sync.out;  // the revision was refused
  // The record may be written just after `sync` answers (its exit status
  // is 1 both for the refusal and for a request it could not make): wait
  // for it, and say what `sync` said when it does not come.
  Outcome show;
  EXPECT_TRUE(bosun::test::Eventually(
      [&] {
        show = server.Bosun("history show 1");
        return show.exit_code == 0;
      },
      30s, 200ms))
      << "sync said: " << sync.out << "\nserver log:\n"
      << server.Log();
  ASSERT_EQ(show.exit_code, 0) << show.out;
  EXPECT_THAT(show.out, HasSubstr("Refused"));
  EXPECT_THAT(show.out, HasSubstr("PolicyViolation"));
  EXPECT_THAT(show.out, HasSubstr("Policy:      refused by baseline/registries (1); warned by baseline/digests (1)"));
  // Every line validate printed for the work tree is in the record.
  std::string enforced = "web/deployment.yaml:16:18: spec.template.spec.containers[0].image: registry \"docker.io\" "
                         "is not allowed by policy baseline rule registries (allowed: registry.local)";
  EXPECT_THAT(validate.out, HasSubstr(repo + "/" + enforced));
  EXPECT_THAT(show.out, HasSubstr("  " + enforced + "\n"));
  EXPECT_THAT(show.out, HasSubstr("web/deployment.yaml:16:18: warning: spec.template.spec.containers[0].image: image "
                                  "\"nginx:1.25\" is not pinned by digest"));
  // Nothing was applied.
  Outcome get = server.Bosun("get deployment web -n web");
  EXPECT_NE(get.exit_code, 0) << get.out;
  EXPECT_THAT(get.out, HasSubstr("not found"));
}

}  // namespace
