// The API client (state/client.h) against the real API server
// (state/api_server.h) over a real store: the real-path test beside the fake
// in client_test.cc. Compiled only once the API server's header exists.
#if __has_include("state/api_server.h")

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/kinds.h"
#include "core/yaml.h"
#include "crypto/tokens.h"
#include "state/api_server.h"
#include "state/auth.h"
#include "state/client.h"
#include "state/service.h"
#include "state/store.h"
#include "tests/state/client_test_objects.h"

namespace bosun::state {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

using clienttest::ConfigMap;
using clienttest::Kind;

// A store in a temporary directory, a LocalService over it, a token, and an
// API server in front (which can be stopped and started again on its URL).
class RealCluster {
 public:
  RealCluster() {
    char tmpl[] = "/tmp/bosun-client-real-XXXXXX";
    dir_ = mkdtemp(tmpl);
    StoreOptions so;
    so.sync = false;
    auto store = Store::Open(dir_ + "/store", so);
    EXPECT_TRUE(store.ok()) << store.error().message();
    service_ = std::make_unique<LocalService>(std::move(store).value());
    token_ = crypto::NewToken();
    auth_.Add(crypto::HashToken(token_), User{"admin", {"system:masters"}});
    url_ = Start("http://127.0.0.1:0");
  }
  ~RealCluster() {
    servers_.clear();
    service_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Starts one more API server on the same service; returns its URL.
  std::string Start(const std::string& listen) {
    ApiServerOptions o;
    o.listen = listen;
    auto s = ApiServer::Start(o, service_.get(), &auth_);
    EXPECT_TRUE(s.ok()) << s.error().message();
    if (!s.ok()) return "";
    std::string url = (*s)->url();
    servers_.push_back(std::move(*s));
    return url;
  }
  void StopFirst() { servers_.front()->Stop(); }
  void RestartFirst() {
    servers_.front().reset();
    auto s = ApiServer::Start(ApiServerOptions{.listen = url_}, service_.get(), &auth_);
    ASSERT_TRUE(s.ok()) << s.error().message();
    servers_.front() = std::move(*s);
  }

  std::unique_ptr<Client> NewClient(const std::string& url, const std::string& token = "") {
    ClientOptions o;
    o.servers = {url};
    o.token = token.empty() ? token_ : token;
    o.timeout = 5s;
    o.watch_backoff_min = 20ms;
    o.watch_backoff_max = 200ms;
    auto c = Client::Create(o);
    EXPECT_TRUE(c.ok());
    return std::move(c).value();
  }

  const std::string& url() const { return url_; }
  Store& store() { return service_->store(); }
  const std::string& dir() const { return dir_; }
  // A token file for the CLI, as `bosun up` writes it.
  std::string TokenFile() {
    std::string path = dir_ + "/admin.token";
    std::ofstream(path) << token_ << "\n";
    return path;
  }

 private:
  std::string dir_;
  std::unique_ptr<LocalService> service_;
  TokenAuthenticator auth_;
  std::string token_;
  std::string url_;
  std::vector<std::unique_ptr<ApiServer>> servers_;
};


class Recorder {
 public:
  std::function<void(const WatchEvent&)> Callback() {
    return [this](const WatchEvent& e) {
      if (e.type == WatchEvent::Type::kBookmark) return;
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::string(WatchEventTypeName(e.type)) + " " + e.object.name() + " " +
                        e.object.json()["data"].value("k", ""));
      cv_.notify_all();
    };
  }
  std::vector<std::string> WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, 15s, [&] { return events_.size() >= n; });
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
};

TEST(ClientReal, RequestsAndErrorsAgainstTheRealServer) {
  RealCluster cluster;
  auto c = cluster.NewClient(cluster.url());

  auto created = c->Create(ConfigMap("default", "settings"));
  ASSERT_TRUE(created.ok()) << created.error().message();
  EXPECT_FALSE(created->resource_version().empty());
  EXPECT_FALSE(created->uid().empty());

  auto dup = c->Create(ConfigMap("default", "settings"));
  EXPECT_EQ(dup.error().code(), Code::kAlreadyExists);
  EXPECT_EQ(dup.error().message(), "configmaps \"settings\" already exists in namespace \"default\"");

  auto missing = c->Get(Kind("deploy"), "shop", "web");
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_EQ(missing.error().message(), "deployments.apps \"web\" not found in namespace \"shop\"");

  Object stale = *created;
  stale.set_resource_version("1000");
  EXPECT_EQ(c->Update(stale).error().code(), Code::kConflict);

  Object updated = *created;
  updated.json()["data"]["k"] = "w";
  auto u = c->Update(updated);
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_EQ(u->json()["data"]["k"], "w");

  auto bad = c->Create(ConfigMap("default", "Bad_Name"));
  EXPECT_EQ(bad.error().code(), Code::kInvalid);
  EXPECT_THAT(bad.error().message(), HasSubstr("ConfigMap \"Bad_Name\" is invalid: metadata.name: "));

  auto patched = c->Patch(Kind("cm"), "default", "settings", {{"metadata", {{"labels", {{"tier", "web"}}}}}});
  ASSERT_TRUE(patched.ok()) << patched.error().message();
  EXPECT_EQ(patched->label("tier"), "web");
  auto listed = c->List(Kind("cm"), "default", "tier=web");
  ASSERT_TRUE(listed.ok()) << listed.error().message();
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(listed->items[0].kind(), "ConfigMap");

  EXPECT_EQ(c->Delete(Kind("cm"), "default", "settings", "1").error().code(), Code::kConflict);
  auto deleted = c->Delete(Kind("cm"), "default", "settings", patched->resource_version());
  ASSERT_TRUE(deleted.ok()) << deleted.error().message();

  auto members = c->Members();
  ASSERT_TRUE(members.ok()) << members.error().message();
  EXPECT_EQ((*members)["items"].size(), 1u);

  auto wrong = cluster.NewClient(cluster.url(), "bosun_not-a-real-token")->Get(Kind("cm"), "default", "x");
  EXPECT_EQ(wrong.error().code(), Code::kUnauthorized);
}

TEST(ClientReal, WatchSurvivesAServerRestartWithoutSkippingOrRepeating) {
  RealCluster cluster;
  std::string writer_url = cluster.Start("http://127.0.0.1:0");
  auto writer = cluster.NewClient(writer_url);
  ASSERT_TRUE(writer->Create(ConfigMap("default", "a", "1")).ok());
  ASSERT_TRUE(writer->Create(ConfigMap("default", "b", "1")).ok());

  auto watcher = cluster.NewClient(cluster.url());
  Recorder rec;
  auto w = watcher->Watch(Kind("cm"), "default", "", "", rec.Callback());
  ASSERT_TRUE(w.ok()) << w.error().message();
  rec.WaitFor(2);
  ASSERT_TRUE(writer->Patch(Kind("cm"), "default", "a", {{"data", {{"k", "2"}}}}).ok());
  rec.WaitFor(3);

  cluster.StopFirst();  // the watched server goes away; changes go on elsewhere
  ASSERT_TRUE(writer->Create(ConfigMap("default", "c", "1")).ok());
  ASSERT_TRUE(writer->Delete(Kind("cm"), "default", "b").ok());
  cluster.RestartFirst();
  ASSERT_TRUE(writer->Patch(Kind("cm"), "default", "c", {{"data", {{"k", "2"}}}}).ok());

  EXPECT_THAT(rec.WaitFor(6),
              ElementsAre("ADDED a 1", "ADDED b 1", "MODIFIED a 2", "ADDED c 1", "DELETED b 1", "MODIFIED c 2"));
  EXPECT_GE((*w)->reconnects(), 1);
  EXPECT_EQ((*w)->relists(), 0);
}

TEST(ClientReal, WatchRelistsAfterCompactionAndDeliversTheDifference) {
  RealCluster cluster;
  std::string writer_url = cluster.Start("http://127.0.0.1:0");
  auto writer = cluster.NewClient(writer_url);
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(writer->Create(ConfigMap("default", n, "1")).ok());

  auto watcher = cluster.NewClient(cluster.url());
  Recorder rec;
  auto w = watcher->Watch(Kind("cm"), "default", "", "", rec.Callback());
  ASSERT_TRUE(w.ok()) << w.error().message();
  rec.WaitFor(3);

  cluster.StopFirst();
  ASSERT_TRUE(writer->Patch(Kind("cm"), "default", "a", {{"data", {{"k", "2"}}}}).ok());
  ASSERT_TRUE(writer->Delete(Kind("cm"), "default", "b").ok());
  ASSERT_TRUE(writer->Create(ConfigMap("default", "d", "1")).ok());
  ASSERT_TRUE(cluster.store().Compact(cluster.store().revision()).ok());
  cluster.RestartFirst();

  auto got = rec.WaitFor(6);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_THAT(std::vector<std::string>(got.begin() + 3, got.end()),
              ::testing::UnorderedElementsAre("MODIFIED a 2", "DELETED b 1", "ADDED d 1"));
  EXPECT_EQ((*w)->relists(), 1);

  ASSERT_TRUE(writer->Patch(Kind("cm"), "default", "d", {{"data", {{"k", "2"}}}}).ok());
  EXPECT_EQ(rec.WaitFor(7).back(), "MODIFIED d 2");
}

// ---- the CLI verbs against the real server ----

struct Outcome {
  int exit_code;
  std::string out;
};

class BosunCli {
 public:
  explicit BosunCli(RealCluster& cluster)
      : flags_(" --server " + cluster.url() + " --token-file " + cluster.TokenFile()) {}

  Outcome Run(const std::string& args) {
    std::string cmd = std::string(BOSUN_BINARY) + " " + args + flags_ + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = pclose(p);
    return {WEXITSTATUS(status), out};
  }

  // Starts `bosun ARGS` in the background with its output on a pipe.
  pid_t Spawn(const std::string& args, int* out_fd) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      close(fds[0]);
      std::string cmd = "exec " + std::string(BOSUN_BINARY) + " " + args + flags_;
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    *out_fd = fds[0];
    return pid;
  }

 private:
  std::string flags_;
};

// Reads from `fd` until `text` has appeared in all that was read (or 15 s).
bool ReadUntil(int fd, const std::string& text, std::string* seen) {
  auto end = std::chrono::steady_clock::now() + 15s;
  while (seen->find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() > end) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return seen->find(text) != std::string::npos;
    seen->append(buf, static_cast<size_t>(n));
  }
  return true;
}

class ClientCliReal : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(BOSUN_BINARY)) GTEST_SKIP() << "the bosun binary is not built: " << BOSUN_BINARY;
  }
};

TEST_F(ClientCliReal, ApplyGetDeleteMembers) {
  RealCluster cluster;
  BosunCli bosun(cluster);
  const std::string repo = std::string(BOSUN_SOURCE_DIR) + "/examples-repo";

  Outcome applied = bosun.Run("apply -f " + repo);
  ASSERT_EQ(applied.exit_code, 0) << applied.out;
  EXPECT_THAT(applied.out, HasSubstr("namespace/web created\n"));
  EXPECT_THAT(applied.out, HasSubstr("deployment.apps/web created\n"));
  EXPECT_THAT(applied.out, HasSubstr("configmap/web-content created\n"));
  // Namespaces before what lives in them.
  EXPECT_LT(applied.out.find("namespace/web"), applied.out.find("deployment.apps/web"));

  Outcome again = bosun.Run("apply -f " + repo);
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_THAT(again.out, HasSubstr("deployment.apps/web unchanged"));
  EXPECT_THAT(again.out, ::testing::Not(HasSubstr("created")));

  Outcome table = bosun.Run("get deploy -n web");
  ASSERT_EQ(table.exit_code, 0) << table.out;
  EXPECT_THAT(table.out, ::testing::MatchesRegex("NAME +READY +UP-TO-DATE +AVAILABLE +AGE\n"
                                                 "web +0/3 +0 +0 +[0-9]+s\n"
                                                 "web-edge +0/1 +[01] +0 +[0-9]+s\n"));
  Outcome all = bosun.Run("get cm -A -o wide");
  ASSERT_EQ(all.exit_code, 0) << all.out;
  EXPECT_THAT(all.out, HasSubstr("NAMESPACE"));
  // Labels only when asked for, as kubectl; and no header for scripts.
  EXPECT_THAT(all.out, ::testing::Not(HasSubstr("LABELS")));
  Outcome labelled = bosun.Run("get cm -A --show-labels --no-headers");
  ASSERT_EQ(labelled.exit_code, 0) << labelled.out;
  EXPECT_THAT(labelled.out, HasSubstr("app.kubernetes.io/name=web"));
  EXPECT_THAT(labelled.out, ::testing::Not(HasSubstr("NAMESPACE")));

  // -o yaml reads back as the object the server holds.
  Outcome yaml = bosun.Run("get configmap web-content -n web -o yaml");
  ASSERT_EQ(yaml.exit_code, 0) << yaml.out;
  auto docs = LoadYaml(yaml.out, "out.yaml");
  ASSERT_TRUE(docs.ok()) << docs.error().message() << "\n" << yaml.out;
  auto live = cluster.NewClient(cluster.url())->Get(Kind("cm"), "web", "web-content");
  ASSERT_TRUE(live.ok());
  EXPECT_EQ((*docs)[0].value, live->json());
  EXPECT_THAT(yaml.out, HasSubstr("  index.html: |\n    <!doctype html>\n"));

  Outcome names = bosun.Run("get svc -n web -o name");
  EXPECT_EQ(names.out, "service/web\n");

  Outcome missing = bosun.Run("get deploy nope -n web");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.out, "bosun get: deployments.apps \"nope\" not found in namespace \"web\"\n");

  Outcome members = bosun.Run("members");
  ASSERT_EQ(members.exit_code, 0) << members.out;
  EXPECT_THAT(members.out, ::testing::StartsWith("ID   ADDRESS   API"));
  EXPECT_THAT(members.out, HasSubstr("leader"));

  Outcome del = bosun.Run("delete deploy web -n web");
  ASSERT_EQ(del.exit_code, 0) << del.out;
  EXPECT_EQ(del.out, "deployment.apps \"web\" deleted\n");
  Outcome del_again = bosun.Run("delete deploy web -n web");
  EXPECT_EQ(del_again.exit_code, 1);
  // No namespace controller runs here to empty the Namespaces and remove
  // them: not waiting for that.
  Outcome del_files = bosun.Run("delete -f " + repo + " --ignore-not-found --wait=false");
  ASSERT_EQ(del_files.exit_code, 0) << del_files.out;
  EXPECT_THAT(del_files.out, HasSubstr("namespace \"web\" deleted"));
  EXPECT_LT(del_files.out.find("service"), del_files.out.find("namespace \"web\""));  // dependents first
}

TEST_F(ClientCliReal, ApplyWritesNothingWhenAManifestIsInvalid) {
  RealCluster cluster;
  BosunCli bosun(cluster);
  std::string dir = cluster.dir() + "/manifests";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/a.yaml") << "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n";
  std::ofstream(dir + "/b.yaml") << "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n";
  Outcome r = bosun.Run("apply -f " + dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr(dir + "/b.yaml:4:9: metadata.name: "));
  EXPECT_THAT(r.out, HasSubstr("nothing was applied"));
  EXPECT_EQ(cluster.NewClient(cluster.url())->Get(Kind("cm"), "default", "good").error().code(), Code::kNotFound);
}

TEST_F(ClientCliReal, GetWatchStreamsALinePerChangeUntilInterrupted) {
  RealCluster cluster;
  BosunCli bosun(cluster);
  auto c = cluster.NewClient(cluster.url());
  ASSERT_TRUE(c->Create(ConfigMap("default", "first")).ok());
  int fd = -1;
  pid_t pid = bosun.Spawn("get cm -w", &fd);
  std::string seen;
  ASSERT_TRUE(ReadUntil(fd, "first", &seen)) << seen;
  EXPECT_THAT(seen, ::testing::ContainsRegex("^EVENT +NAME +DATA +AGE\nADDED +first +[0-9]+ +"));
  ASSERT_TRUE(c->Create(ConfigMap("default", "second")).ok());
  ASSERT_TRUE(ReadUntil(fd, "second", &seen)) << seen;
  ASSERT_TRUE(c->Delete(Kind("cm"), "default", "first").ok());
  ASSERT_TRUE(ReadUntil(fd, "DELETED", &seen)) << seen;
  EXPECT_THAT(seen, HasSubstr("ADDED   second"));
  EXPECT_THAT(seen, HasSubstr("DELETED   first"));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  close(fd);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// `get events -w` starts with the events as `get events` lists them:
// oldest first by when they last happened, not in the server's name order.
TEST_F(ClientCliReal, GetEventsWatchListsTheFirstEventsOldestFirst) {
  RealCluster cluster;
  BosunCli bosun(cluster);
  auto c = cluster.NewClient(cluster.url());
  auto event = [](const std::string& name, const std::string& reason, const std::string& last) {
    Object e(GroupVersionKind{"", "v1", "Event"}, "default", name);
    e.json()["involvedObject"] = {
        {"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"namespace", "default"}, {"name", "web"}};
    e.json()["reason"] = reason;
    e.json()["message"] = reason + " happened";
    e.json()["type"] = "Normal";
    e.json()["source"] = {{"component", "test"}};
    e.json()["count"] = 1;
    e.json()["firstTimestamp"] = last;
    e.json()["lastTimestamp"] = last;
    return e;
  };
  ASSERT_TRUE(c->Create(event("a", "Third", "2026-11-01T10:03:00Z")).ok());
  ASSERT_TRUE(c->Create(event("b", "First", "2026-11-01T10:01:00Z")).ok());
  ASSERT_TRUE(c->Create(event("c", "Second", "2026-11-01T10:02:00Z")).ok());
  const std::string listed = bosun.Run("get events").out;
  EXPECT_LT(listed.find("First"), listed.find("Second")) << listed;
  EXPECT_LT(listed.find("Second"), listed.find("Third")) << listed;
  int fd = -1;
  pid_t pid = bosun.Spawn("get events -w", &fd);
  std::string seen;
  const bool all = ReadUntil(fd, "Third happened", &seen) && ReadUntil(fd, "First happened", &seen) &&
                   ReadUntil(fd, "Second happened", &seen);
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  close(fd);
  ASSERT_TRUE(all) << seen;
  EXPECT_LT(seen.find("First"), seen.find("Second")) << seen;
  EXPECT_LT(seen.find("Second"), seen.find("Third")) << seen;
}

// `bosun describe pod` says why a pod is stuck, as its node reports it: the
// pod's reason and message (a volume that cannot be set up) and each
// container's waiting message.
TEST_F(ClientCliReal, DescribePodSaysWhyItIsStuck) {
  RealCluster cluster;
  BosunCli bosun(cluster);
  auto c = cluster.NewClient(cluster.url());
  Object pod(GroupVersionKind{"", "v1", "Pod"}, "default", "worker-1");
  pod.json()["spec"] = {{"containers", Json::array({{{"name", "worker"}, {"image", "busybox:1"}}})}};
  pod.json()["metadata"]["ownerReferences"] = Json::array({{{"apiVersion", "apps/v1"},
                                                            {"kind", "ReplicaSet"},
                                                            {"name", "worker-7c8"},
                                                            {"uid", "u-1"},
                                                            {"controller", true}}});
  auto created = c->Create(pod);
  ASSERT_TRUE(created.ok()) << created.error().message();
  created->json()["status"] = {
      {"phase", "Pending"},
      {"reason", "FailedMount"},
      {"message", "volumes: secret \"worker-credentials\" not found"},
      {"containerStatuses", Json::array({{{"name", "worker"},
                                          {"image", "busybox:1"},
                                          {"ready", false},
                                          {"restartCount", 0},
                                          {"state",
                                           {{"waiting",
                                             {{"reason", "ContainerCreating"},
                                              {"message", "volumes: secret \"worker-credentials\" not found"}}}}}}})}};
  ASSERT_TRUE(c->UpdateStatus(*created).ok());
  Outcome d = bosun.Run("describe pod worker-1");
  ASSERT_EQ(d.exit_code, 0) << d.out;
  EXPECT_THAT(d.out, HasSubstr("Reason:        FailedMount\n"));
  EXPECT_THAT(d.out, HasSubstr("Message:       volumes: secret \"worker-credentials\" not found\n"));
  EXPECT_THAT(d.out, HasSubstr("Waiting (ContainerCreating): volumes: secret \"worker-credentials\" not found"));
  EXPECT_THAT(d.out, HasSubstr("Controlled By: ReplicaSet/worker-7c8\n"));
}

}  // namespace
}  // namespace bosun::state

#endif  // __has_include("state/api_server.h")
