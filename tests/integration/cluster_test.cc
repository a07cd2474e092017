// Process-level tests of a 3-member `bosun server` cluster on loopback: real
// processes, real Raft over TCP, real RocksDB, killed with SIGKILL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <cpprest/http_client.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <atomic>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/kinds.h"
#include "state/auth.h"
#include "state/client.h"
#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

using bosun::test::FreePort;

struct HttpResult {
  int status = 0;  // 0: no answer
  json body;
};

HttpResult Http(const std::string& url, const std::string& method, const std::string& path, const std::string& token,
                const json& body = nullptr, std::chrono::seconds timeout = 5s) {
  try {
    web::http::client::http_client_config cfg;
    cfg.set_timeout(timeout);
    web::http::client::http_client c(url, cfg);
    web::http::http_request req(method);
    req.set_request_uri(path);
    if (!token.empty()) req.headers().add("Authorization", "Bearer " + token);
    if (!body.is_null()) req.set_body(body.dump(), "application/json");
    auto resp = c.request(req).get();
    HttpResult r;
    r.status = resp.status_code();
    r.body = json::parse(resp.extract_utf8string(true).get(), nullptr, false);
    return r;
  } catch (const std::exception&) {
    return HttpResult{};
  }
}

class Member {
 public:
  Member(int id, std::string dir, int api_port, int raft_port)
      : id_(id), dir_(std::move(dir)), api_port_(api_port), raft_port_(raft_port) {}
  ~Member() { Kill(); }

  void Start(const std::string& peers, const std::string& token_file) {
    std::string log = dir_ + ".log";
    // Every member uses one encryption key, beside the shared token.
    std::string key_file = token_file.substr(0, token_file.rfind('/') + 1) + "secrets.key";
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::string id = std::to_string(id_), listen = "127.0.0.1:" + std::to_string(api_port_),
                  raft = "127.0.0.1:" + std::to_string(raft_port_);
      // Small snapshot settings so a wiped member must catch up from a snapshot.
      execl(BOSUN_BINARY, "bosun", "server", "--id", id.c_str(), "--data", dir_.c_str(), "--listen", listen.c_str(),
            "--raft-listen", raft.c_str(), "--peers", peers.c_str(), "--admin-token-file", token_file.c_str(),
            "--encryption-key-file", key_file.c_str(), "--snapshot-threshold", "64", "--snapshot-trailing", "16", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  void Kill(int sig = SIGKILL) {
    if (pid_ > 0) {
      kill(pid_, sig);
      int st;
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }
  bool running() const { return pid_ > 0; }
  // The process ended (reaped here): it failed to start, or crashed.
  bool Exited() {
    if (pid_ <= 0) return true;
    int st;
    if (waitpid(pid_, &st, WNOHANG) != pid_) return false;
    pid_ = -1;
    return true;
  }
  std::string Log() const {
    std::ifstream in(dir_ + ".log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(api_port_); }
  std::string raft() const { return "127.0.0.1:" + std::to_string(raft_port_); }
  int id() const { return id_; }
  const std::string& dir() const { return dir_; }

 private:
  int id_;
  std::string dir_;
  int api_port_, raft_port_;
  pid_t pid_ = -1;
};

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bosun-cluster-XXXXXX";
    root_ = mkdtemp(tmpl);
    token_file_ = root_ + "/admin.token";
    // A port chosen free can still be taken by another process before the
    // member binds it (the other ctest job runs servers too). A member that
    // fails to start for that reason alone is no finding about bosun: the
    // cluster starts again on other ports. Any other failure to start fails
    // the test with the member's log.
    for (int attempt = 1; attempt <= 3; ++attempt) {
      StartMembers();
      std::string failed = WaitStarted();
      if (failed.empty()) return;
      for (auto& m : members_) m->Kill();
      if (failed.find("Address already in use") == std::string::npos || attempt == 3) {
        FAIL() << "a member did not start:\n" << failed;
      }
      std::cerr << "a member's port was taken by another process; starting the cluster again on other ports:\n"
                << failed << "\n";
      members_.clear();
      peers_.clear();
      for (const auto& entry : fs::directory_iterator(root_)) fs::remove_all(entry.path());
    }
  }

  void StartMembers() {
    for (int i = 1; i <= 3; ++i) {
      members_.push_back(std::make_unique<Member>(i, root_ + "/m" + std::to_string(i), FreePort(), FreePort()));
    }
    for (auto& m : members_) {
      if (!peers_.empty()) peers_ += ",";
      peers_ += std::to_string(m->id()) + "=" + m->raft();
    }
    // The first member writes the shared admin token; start it first.
    members_[0]->Start(peers_, token_file_);
    for (int i = 0; i < 100 && !fs::exists(token_file_); ++i) std::this_thread::sleep_for(50ms);
    std::ifstream(token_file_) >> token_;
    for (size_t i = 1; i < members_.size(); ++i) members_[i]->Start(peers_, token_file_);
  }

  // Waits until every member's API answers; "" then, or the log of the
  // first member that exited or never answered.
  std::string WaitStarted() {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    std::vector<bool> up(members_.size(), false);
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      for (size_t i = 0; i < members_.size(); ++i) {
        if (up[i]) continue;
        if (members_[i]->Exited()) {
          return "member " + std::to_string(members_[i]->id()) + " exited:\n" + members_[i]->Log();
        }
        up[i] = Http(members_[i]->url(), "GET", "/healthz", "", nullptr, 2s).status == 200;
        all = all && up[i];
      }
      if (all) return "";
      std::this_thread::sleep_for(50ms);
    }
    for (size_t i = 0; i < members_.size(); ++i) {
      if (!up[i]) return "member " + std::to_string(members_[i]->id()) + " never answered:\n" + members_[i]->Log();
    }
    return "";
  }
  void TearDown() override {
    for (auto& m : members_) m->Kill();
    if (HasFailure()) {
      // Without the request lines: the writer's thousands of them would
      // leave no room for what the member itself said.
      for (auto& m : members_) {
        std::istringstream in(m->Log());
        std::string line, s;
        size_t requests = 0;
        while (std::getline(in, line)) {
          if (line.find(" api method=") != std::string::npos) {
            ++requests;
          } else {
            s += line + "\n";
          }
        }
        if (s.size() > 6000) s = "…" + s.substr(s.size() - 6000);
        std::cerr << "---- member " << m->id() << " log (tail; " << requests << " request lines left out) ----\n"
                  << s << "\n";
      }
    }
    fs::remove_all(root_);
  }

  // The index of the member that says it leads, waiting up to `wait`.
  int Leader(std::chrono::seconds wait = 15s) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
      for (size_t i = 0; i < members_.size(); ++i) {
        if (!members_[i]->running()) continue;
        auto r = Http(members_[i]->url(), "GET", "/bosun/v1/members", token_, nullptr, 2s);
        if (r.status != 200) continue;
        for (const auto& m : r.body["items"]) {
          if (m.value("isLeader", false) && m.value("isSelf", false)) return static_cast<int>(i);
        }
      }
      std::this_thread::sleep_for(200ms);
    }
    return -1;
  }

  json ConfigMap(const std::string& name) {
    return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}, {"data", {{"v", name}}}};
  }

  std::set<std::string> Names(const Member& m) {
    std::set<std::string> out;
    auto r = Http(m.url(), "GET", "/api/v1/namespaces/default/configmaps?resourceVersion=0", token_);
    for (const auto& item : r.body["items"]) out.insert(item["metadata"]["name"].get<std::string>());
    return out;
  }

  // A writer that creates ConfigMaps `prefix`0, 1, … until `stop`, sending
  // each to every live member in turn (followers proxy to the leader), and
  // records the acknowledged ones in `acked` (read it after joining).
  std::thread StartWriter(const std::string& prefix, std::set<std::string>* acked, std::atomic<bool>* stop) {
    return std::thread([this, prefix, acked, stop] {
      int n = 0;
      while (!*stop) {
        std::string name = prefix + std::to_string(n++);
        bool answered = false;
        for (auto& m : members_) {
          if (!m->running()) continue;
          auto r = Http(m->url(), "POST", "/api/v1/namespaces/default/configmaps", token_, ConfigMap(name), 3s);
          if (r.status == 201) acked->insert(name);
          // 409: an earlier attempt was applied after all.
          answered = r.status == 201 || r.status == 409;
          if (answered) break;
        }
        // No member took it (no leader yet): back off as a client would,
        // not spin on 503s the members must log and answer.
        if (!answered) std::this_thread::sleep_for(20ms);
      }
    });
  }

  std::string root_, token_file_, token_, peers_;
  std::vector<std::unique_ptr<Member>> members_;
};

TEST_F(ClusterTest, SurvivesKillingTheLeaderWithoutLosingAcknowledgedWrites) {
  int leader = Leader();
  ASSERT_GE(leader, 0) << "no leader elected";
  std::set<std::string> acked;
  std::atomic<bool> stop{false};
  std::thread writer = StartWriter("cm-", &acked, &stop);
  std::this_thread::sleep_for(2s);
  auto killed_at = std::chrono::steady_clock::now();
  members_[static_cast<size_t>(leader)]->Kill(SIGKILL);
  int next = Leader(20s);
  auto elected = std::chrono::steady_clock::now() - killed_at;
  std::this_thread::sleep_for(2s);
  stop = true;
  writer.join();
  ASSERT_GE(next, 0) << "no new leader after the old one was killed";
  EXPECT_NE(next, leader);
  std::cerr << "new leader elected " << std::chrono::duration_cast<std::chrono::milliseconds>(elected).count()
            << " ms after SIGKILL of the old one; " << acked.size() << " writes acknowledged\n";
  EXPECT_LT(elected, 10s) << "a new leader took "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(elected).count() << " ms";
  ASSERT_GT(acked.size(), 10u);
  // Every acknowledged write is on every surviving member (after a linearizable
  // read through the leader, the followers catch up within a moment).
  for (auto& m : members_) {
    if (!m->running()) continue;
    std::set<std::string> have;
    for (int i = 0; i < 50; ++i) {
      have = Names(*m);
      if (std::includes(have.begin(), have.end(), acked.begin(), acked.end())) break;
      std::this_thread::sleep_for(100ms);
    }
    for (const auto& name : acked) EXPECT_TRUE(have.count(name)) << name << " missing on member " << m->id();
  }
}

TEST_F(ClusterTest, AMinorityRefusesWrites) {
  ASSERT_GE(Leader(), 0);
  members_[1]->Kill();
  members_[2]->Kill();
  auto r = Http(members_[0]->url(), "POST", "/api/v1/namespaces/default/configmaps", token_, ConfigMap("lonely"), 8s);
  EXPECT_NE(r.status, 201) << r.body.dump();
  members_[1]->Start(peers_, token_file_);
  ASSERT_GE(Leader(20s), 0);
  // With a majority back, the write is either refused or applied once — never twice.
  auto names = Names(*members_[0]);
  EXPECT_LE(names.count("lonely"), 1u);
}

TEST_F(ClusterTest, AWipedMemberCatchesUp) {
  int leader = Leader();
  ASSERT_GE(leader, 0);
  size_t victim = static_cast<size_t>((leader + 1) % 3);
  for (int i = 0; i < 200; ++i) {
    auto r = Http(members_[static_cast<size_t>(leader)]->url(), "POST", "/api/v1/namespaces/default/configmaps",
                  token_, ConfigMap("w-" + std::to_string(i)));
    ASSERT_EQ(r.status, 201) << r.body.dump();
  }
  members_[victim]->Kill();
  fs::remove_all(members_[victim]->dir());
  members_[victim]->Start(peers_, token_file_);
  std::set<std::string> have;
  for (int i = 0; i < 100; ++i) {
    have = Names(*members_[victim]);
    if (have.size() >= 200) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(have.size(), 200u);
  // The leader compacted its log long ago (threshold 64), so the wiped member
  // can only have caught up from a snapshot.
  std::ifstream in(members_[victim]->dir() + ".log");
  std::stringstream log;
  log << in.rdbuf();
  EXPECT_THAT(log.str(), ::testing::HasSubstr("snapshot restored"));
}

}  // namespace

namespace {
namespace watch_failover {

using bosun::state::Client;
using bosun::state::ClientOptions;
using bosun::state::WatchEvent;

// A watch through the client library, opened on the leader, keeps delivering
// when that leader is killed: it moves to a surviving member and resumes from
// its last resourceVersion, so every acknowledged create arrives, and none
// twice.
TEST_F(ClusterTest, AWatchDeliversEveryWriteOnceThroughTheLossOfItsMember) {
  int leader = Leader();
  ASSERT_GE(leader, 0);
  ClientOptions o;
  o.servers.push_back(members_[static_cast<size_t>(leader)]->url());
  for (size_t i = 0; i < members_.size(); ++i) {
    if (static_cast<int>(i) != leader) o.servers.push_back(members_[i]->url());
  }
  o.token = token_;
  o.timeout = 3s;
  o.watch_idle_timeout = 5s;
  o.watch_backoff_min = 100ms;
  o.watch_backoff_max = 1s;
  auto client = Client::Create(o);
  ASSERT_TRUE(client.ok()) << client.error().message();
  std::mutex mu;
  std::map<std::string, int> added;
  const bosun::KindInfo* cm = bosun::KindRegistry::Builtin().FindKind("ConfigMap");
  auto watch = (*client)->Watch(*cm, "default", "", "", [&](const WatchEvent& e) {
    if (e.type != WatchEvent::Type::kAdded) return;
    std::lock_guard<std::mutex> lock(mu);
    ++added[e.object.name()];
  });
  ASSERT_TRUE(watch.ok()) << watch.error().message();

  std::set<std::string> acked;
  std::atomic<bool> stop{false};
  std::thread writer = StartWriter("w-", &acked, &stop);
  std::this_thread::sleep_for(2s);
  members_[static_cast<size_t>(leader)]->Kill(SIGKILL);
  int next = Leader(20s);
  std::this_thread::sleep_for(2s);
  stop = true;
  writer.join();  // before any ASSERT: a joinable thread destroyed on return would terminate
  ASSERT_GE(next, 0) << "no new leader";
  ASSERT_GT(acked.size(), 10u);

  auto deadline = std::chrono::steady_clock::now() + 20s;
  size_t missing = acked.size();
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu);
      missing = 0;
      for (const auto& name : acked) missing += added.count(name) == 0 ? 1 : 0;
    }
    if (missing == 0) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(missing, 0u) << "acknowledged creates the watch never delivered";
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& [name, count] : added) EXPECT_EQ(count, 1) << name << " delivered " << count << " times";
  EXPECT_GE((*watch)->reconnects(), 1) << "the watch never had to move";
}

}  // namespace watch_failover
}  // namespace

namespace {
namespace membership {

using bosun::test::Outcome;

// `bosun members …` against the cluster, as a user types it.
Outcome Bosun(const std::string& args, const std::string& server, const std::string& token_file) {
  return bosun::test::RunCommand(std::string(BOSUN_BINARY) + " " + args + " --server " + server + " --token-file " +
                                 token_file);
}

std::set<uint64_t> MemberIds(const HttpResult& list) {
  std::set<uint64_t> ids;
  if (list.status != 200) return ids;
  for (const auto& m : list.body["items"]) ids.insert(m["id"].get<uint64_t>());
  return ids;
}

// Waits until `m` knows every member's API URL (members publish theirs once a
// leader exists), so it can point a membership change at the leader.
bool KnowsEveryApiUrl(const Member& m, const std::string& token) {
  for (int i = 0; i < 100; ++i) {
    auto r = Http(m.url(), "GET", "/bosun/v1/members", token, nullptr, 2s);
    bool all = r.status == 200 && r.body["items"].size() == 3;
    if (all) {
      for (const auto& item : r.body["items"]) all = all && !item.value("apiUrl", "").empty();
    }
    if (all) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

// A follower is removed through the other follower (which sends it on to the
// leader); the two that stay keep a majority and take writes.
TEST_F(ClusterTest, RemovingAFollowerLeavesTwoMembersThatKeepWriting) {
  int leader = Leader();
  ASSERT_GE(leader, 0);
  size_t victim = static_cast<size_t>((leader + 1) % 3), other = static_cast<size_t>((leader + 2) % 3);
  ASSERT_TRUE(KnowsEveryApiUrl(*members_[other], token_));
  Outcome r = Bosun("members remove " + std::to_string(members_[victim]->id()), members_[other]->url(), token_file_);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, ::testing::HasSubstr("member " + std::to_string(members_[victim]->id()) + " removed"));
  members_[victim]->Kill();

  const auto& l = *members_[static_cast<size_t>(leader)];
  EXPECT_EQ(MemberIds(Http(l.url(), "GET", "/bosun/v1/members", token_)),
            (std::set<uint64_t>{static_cast<uint64_t>(l.id()), static_cast<uint64_t>(members_[other]->id())}));
  auto w = Http(l.url(), "POST", "/api/v1/namespaces/default/configmaps", token_, ConfigMap("after-remove"));
  EXPECT_EQ(w.status, 201) << w.body.dump();
  // Removing it again: it is no longer a member.
  Outcome again = Bosun("members remove " + std::to_string(members_[victim]->id()), l.url(), token_file_);
  EXPECT_EQ(again.exit_code, 1) << again.out;
  EXPECT_THAT(again.out, ::testing::HasSubstr("is not in the cluster"));
}

// The leader removes itself: it steps down, the two others elect a leader
// among themselves, and writes go on.
TEST_F(ClusterTest, RemovingTheLeaderHandsOverToANewLeader) {
  int leader = Leader();
  ASSERT_GE(leader, 0);
  auto& old = *members_[static_cast<size_t>(leader)];
  Outcome r = Bosun("members remove " + std::to_string(old.id()), old.url(), token_file_);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  old.Kill();
  int next = Leader(20s);
  ASSERT_GE(next, 0) << "no leader after the old one removed itself";
  ASSERT_NE(next, leader);
  const auto& l = *members_[static_cast<size_t>(next)];
  EXPECT_EQ(MemberIds(Http(l.url(), "GET", "/bosun/v1/members", token_)).count(static_cast<uint64_t>(old.id())), 0u);
  auto w = Http(l.url(), "POST", "/api/v1/namespaces/default/configmaps", token_, ConfigMap("new-leader"));
  EXPECT_EQ(w.status, 201) << w.body.dump();
}

// Only admins change membership, and a bad id says why.
TEST_F(ClusterTest, MembershipChangesNeedAnAdminToken) {
  ASSERT_GE(Leader(), 0);
  // Member 1 also accepts a node's token (restarted to read its tokens file).
  auto& m1 = *members_[0];
  m1.Kill();
  std::string node_token_file = root_ + "/node.token";
  auto node_token = bosun::state::EnsureToken(m1.dir() + "/tokens", node_token_file, "system:node:n1", "system:nodes");
  ASSERT_TRUE(node_token.ok()) << node_token.error().message();
  m1.Start(peers_, token_file_);
  ASSERT_GE(Leader(20s), 0);
  ASSERT_TRUE(KnowsEveryApiUrl(m1, token_));

  Outcome denied = Bosun("members remove 2", m1.url(), node_token_file);
  EXPECT_EQ(denied.exit_code, 1) << denied.out;
  EXPECT_THAT(denied.out, ::testing::HasSubstr("needs an admin token"));
  auto join = Http(m1.url(), "POST", "/bosun/v1/members/join", *node_token,
                   json{{"id", 9}, {"raftAddress", "127.0.0.1:1"}, {"apiUrl", "http://127.0.0.1:1"}});
  EXPECT_EQ(join.status, 403) << join.body.dump();

  Outcome unknown = Bosun("members remove 9", m1.url(), token_file_);
  EXPECT_EQ(unknown.exit_code, 1) << unknown.out;
  EXPECT_THAT(unknown.out, ::testing::HasSubstr("member 9 is not in the cluster"));
  Outcome bad = Bosun("members remove two", m1.url(), token_file_);
  EXPECT_EQ(bad.exit_code, 1) << bad.out;
  EXPECT_THAT(bad.out, ::testing::HasSubstr("\"two\" is not a member id"));
  // Nothing changed.
  EXPECT_EQ(MemberIds(Http(m1.url(), "GET", "/bosun/v1/members", token_)), (std::set<uint64_t>{1, 2, 3}));
}

}  // namespace membership
}  // namespace
