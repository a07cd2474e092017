// The sync controller inside a real `bosun server --repo` process, killed
// with SIGKILL in the middle of its first apply and started again: the
// revision ends applied exactly once, with one record.
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <gmock/gmock.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reconciler/history.h"
#include "tests/reconciler/sync_test_support.h"

namespace bosun::reconciler::synctest {
namespace {

using bosun::test::FreePort;

class ServerProcess {
 public:
  ServerProcess(std::string data, std::string repo) : data_(std::move(data)), repo_(std::move(repo)) {
    api_port_ = FreePort();
    raft_port_ = FreePort();
  }
  ~ServerProcess() { Kill(); }

  void Start() {
    std::string log = data_ + ".log";
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::string listen = "127.0.0.1:" + std::to_string(api_port_), raft = "127.0.0.1:" + std::to_string(raft_port_);
      std::string token = data_ + ".token";
      execl(BOSUN_BINARY, "bosun", "server", "--data", data_.c_str(), "--listen", listen.c_str(), "--raft-listen",
            raft.c_str(), "--admin-token-file", token.c_str(), "--repo", repo_.c_str(), "--fetch-interval", "1h",
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(api_port_); }
  std::string Token() const {
    std::string t;
    std::ifstream(data_ + ".token") >> t;
    return t;
  }
  std::string Log() const {
    std::ifstream in(data_ + ".log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string LogTail() const {
    std::string s = Log();
    return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
  }

 private:
  std::string data_, repo_;
  int api_port_ = 0, raft_port_ = 0;
  pid_t pid_ = -1;
};

bool ServerFollowsRepositories() {
  auto r = RunCommand(std::string(BOSUN_BINARY) + " server --help");
  return r.out.find("--repo") != std::string::npos;
}

std::unique_ptr<state::Client> ClientFor(const ServerProcess& s) {
  state::ClientOptions co;
  co.servers = {s.url()};
  co.token = s.Token();
  co.timeout = std::chrono::milliseconds(2000);
  auto c = state::Client::Create(co);
  return c.ok() ? std::move(*c) : nullptr;
}

TEST(SyncProcessTest, AServerKilledInTheMiddleOfAnApplyFinishesItOnceAfterARestart) {
  if (!ServerFollowsRepositories()) GTEST_SKIP() << "this bosun server has no --repo yet";
  TempDir tmp("bosun-sync-process");
  GitRepo repo(tmp.Sub("repo"));
  std::map<std::string, std::optional<std::string>> files;
  constexpr int kFiles = 200, kPerFile = 10;
  for (int f = 0; f < kFiles; ++f) {
    std::string text;
    for (int i = 0; i < kPerFile; ++i) {
      text += "---\n" + ConfigMapYaml("cm-" + std::to_string(f) + "-" + std::to_string(i), "default", "v");
    }
    files["cms/f" + std::to_string(f) + ".yaml"] = text;
  }
  std::string commit = repo.Commit(files, "two thousand objects");

  ServerProcess server(tmp.Sub("data"), repo.dir());
  server.Start();
  ASSERT_TRUE(Eventually([&] { return !server.Token().empty(); }, 20s));
  auto client = ClientFor(server);
  ASSERT_TRUE(client);
  // Kill the server as soon as the first record exists: between the record
  // and the batch when the timing falls that way, just after it otherwise.
  std::string phase_at_kill;
  ASSERT_TRUE(Eventually(
      [&] {
        auto l = client->List(Kind("revisions"), "");
        if (!l || l->items.empty()) return false;
        phase_at_kill = l->items[0].json().value("/status/phase"_json_pointer, "");
        server.Kill();
        return true;
      },
      60s, 2ms))
      << server.LogTail();
  std::printf("killed with the first record in phase %s\n", phase_at_kill.c_str());

  server.Start();
  client = ClientFor(server);
  ASSERT_TRUE(Eventually(
      [&] {
        auto r = client->Get(Kind("revisions"), "", "00000001");
        return r.ok() && r->json().value("/status/phase"_json_pointer, "") == "Applied";
      },
      60s))
      << server.LogTail();
  auto records = client->List(Kind("revisions"), "");
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->items.size(), 1u) << server.LogTail();
  EXPECT_EQ(records->items[0].label(kCommitLabel).value_or(""), commit);
  auto cms = client->List(Kind("configmaps"), "default", "bosun.dev/managed-by=bosun");
  ASSERT_TRUE(cms.ok());
  EXPECT_EQ(cms->items.size(), static_cast<size_t>(kFiles * kPerFile));
  if (phase_at_kill == "Validated") {
    // The record the first process wrote is the one the second finished
    // (applying it, or only completing it when the batch had committed).
    std::string log = server.Log();
    EXPECT_TRUE(log.find("resuming an interrupted apply") != std::string::npos ||
                log.find("finished an applied revision's record") != std::string::npos)
        << server.LogTail();
  }
  EXPECT_TRUE(Eventually([&] {
    auto r = client->Get(Kind("gitrepositories"), "", "default");
    return r.ok() && r->json().value("/status/liveRevision"_json_pointer, "") == commit;
  }));
}

}  // namespace
}  // namespace bosun::reconciler::synctest
