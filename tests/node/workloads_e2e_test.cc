// Issue 6's workloads end to end on real nodes (root, real runc, CNI plugins,
// the test images): a `bosun server` (every controller runs inside it while
// it leads) and one or two `bosun node` processes per test; Deployments are
// created and changed through the API only, the scheduler binds their pods
// and the nodes run them as real containers. Covered: a RollingUpdate
// (maxSurge 1 / maxUnavailable 1) that keeps >= 3 of 4 pods ready and never
// more than 5 pods, ending with every pod answering "bosun web v2" and
// `bosun rollout status` exiting 0; Recreate, whose old and new pods never
// coexist; a rollout that cannot become ready reporting
// ProgressDeadlineExceeded (and `bosun rollout status` failing); a node that
// dies, whose pods are recreated on the other node while it turns
// Ready=Unknown with the unreachable taint. Pod states are sampled every
// ~100 ms through the API while a rollout runs. The fixture
// (node_cluster_fixture.h) removes everything a test made even when it
// fails; pod CIDRs 10.10-19.x.0/24 here.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>

#include "tests/node/node_cluster_fixture.h"

namespace bosun::node {
namespace {

using namespace cluster_test;

struct Cli {
  int exit_code = -1;
  std::string out, err;
};

// What the API shows of a Deployment's pods at one moment.
struct PodSample {
  int total = 0, ready = 0;
  std::map<std::string, int> by_image;        // image → pods
  std::map<std::string, int> ready_by_image;  // image → ready pods
  std::vector<Object> pods;
};

bool PodReady(const Json& st) {
  if (!st.is_object() || !st.contains("conditions")) return false;
  for (const auto& c : st["conditions"]) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

// j[key] as a string; "" when j is not an object or has no such string.
std::string Str(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Image(const Object& pod) {
  if (!pod.spec().is_object() || !pod.spec().contains("containers")) return "";
  const Json& cs = pod.spec()["containers"];
  return cs.is_array() && !cs.empty() ? Str(cs[0], "image") : "";
}

// Every state of an app's pods the API goes through, seen by a watch (one
// event per revision, in order), with the extremes of those states: fewest
// ready pods, most pods, and whether two images ever ran side by side.
class PodHistory {
 public:
  void Start(state::Client* client, const std::string& app) {
    auto w = client->Watch(K("Pod"), "default", state::Selectors("app=" + app), "", [this](const state::WatchEvent& e) {
      if (e.type == state::WatchEvent::Type::kBookmark) return;
      std::lock_guard<std::mutex> lock(mu_);
      if (e.type == state::WatchEvent::Type::kDeleted) {
        pods_.erase(e.object.name());
      } else {
        pods_[e.object.name()] = {Image(e.object), PodReady(e.object.status())};
      }
      int ready = 0;
      std::set<std::string> images;
      std::string state;
      for (const auto& [name, p] : pods_) {
        ready += p.second;
        images.insert(p.first);
        state += " " + name + "(" + p.first + (p.second ? ",ready)" : ")");
      }
      ++events_;
      if (!counting_) return;
      min_ready_ = std::min(min_ready_, ready);
      max_total_ = std::max(max_total_, static_cast<int>(pods_.size()));
      if (images.size() > 1 && mixed_.empty()) mixed_ = state;
    });
    ASSERT_TRUE(w.ok()) << w.error().message();
    watch_ = std::move(*w);
  }
  // Once the watch shows `n` pods, all ready (its initial events are in),
  // the extremes count from then on; false if it does not within 10 s.
  bool CountFrom(int n) {
    return WaitFor(
        [&] {
          std::lock_guard<std::mutex> lock(mu_);
          if (static_cast<int>(pods_.size()) != n) return false;
          for (const auto& [name, p] : pods_) {
            if (!p.second) return false;
          }
          counting_ = true;
          return true;
        },
        10s);
  }
  void Stop() {
    if (watch_) watch_->Stop();
  }
  int min_ready() { std::lock_guard<std::mutex> lock(mu_); return min_ready_; }
  int max_total() { std::lock_guard<std::mutex> lock(mu_); return max_total_; }
  int events() { std::lock_guard<std::mutex> lock(mu_); return events_; }
  std::string mixed() { std::lock_guard<std::mutex> lock(mu_); return mixed_; }

 private:
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, bool>> pods_;  // name → (image, ready)
  bool counting_ = false;
  int min_ready_ = 1 << 30, max_total_ = 0, events_ = 0;
  std::string mixed_;
  state::WatchPtr watch_;
};

class WorkloadsE2E : public NodeCluster {
 protected:
  WorkloadsE2E() : NodeCluster("wl", 10, 10, {"busybox.tar", "web.tar"}) {}

  void SetUp() override {
    NodeCluster::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    StartNode();
    ASSERT_TRUE(WaitFor([&] { return NodeReady(node_name_) == "True"; }, 30s)) << Log("node.log");
  }

  // The Node's Ready condition status ("True", "False", "Unknown"), "" if none.
  std::string NodeReady(const std::string& name) {
    auto n = client_->Get(K("Node"), "", name);
    if (!n.ok() || !n->status().contains("conditions")) return "";
    for (const auto& c : n->status()["conditions"]) {
      if (c.value("type", "") == "Ready") return c.value("status", "");
    }
    return "";
  }

  static Json WebContainer(const std::string& image, int ready_port = 8080) {
    return {{"name", "web"},
            {"image", image},
            {"imagePullPolicy", "Never"},
            {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "16Mi"}}}}},
            {"readinessProbe", {{"httpGet", {{"path", "/"}, {"port", ready_port}}}, {"periodSeconds", 1}}}};
  }

  void CreateDeployment(const std::string& name, int replicas, const Json& strategy, const Json& container,
                        int progress_deadline = 600) {
    Object d(GroupVersionKind{"apps", "v1", "Deployment"}, "default", name);
    d.json()["spec"] = {
        {"replicas", replicas},
        {"progressDeadlineSeconds", progress_deadline},
        {"selector", {{"matchLabels", {{"app", name}}}}},
        {"strategy", strategy},
        {"template",
         {{"metadata", {{"labels", {{"app", name}}}}},
          {"spec", {{"terminationGracePeriodSeconds", 1}, {"containers", Json::array({container})}}}}}};
    auto created = client_->Create(d);
    ASSERT_TRUE(created.ok()) << created.error().message();
  }

  void SetContainer(const std::string& name, const Json& container) {
    auto r = client_->Patch(K("Deployment"), "default", name,
                            {{"spec", {{"template", {{"spec", {{"containers", Json::array({container})}}}}}}}});
    ASSERT_TRUE(r.ok()) << r.error().message();
  }

  PodSample Sample(const std::string& app) {
    PodSample s;
    auto list = client_->List(K("Pod"), "default");
    if (!list.ok()) return s;
    for (auto& p : list->items) {
      auto labels = p.labels();
      auto it = labels.find("app");
      if (it == labels.end() || it->second != app) continue;
      bool ready = PodReady(p.status());
      ++s.total;
      s.ready += ready;
      ++s.by_image[Image(p)];
      if (ready) ++s.ready_by_image[Image(p)];
      s.pods.push_back(std::move(p));
    }
    return s;
  }

  // Every one of `n` pods runs `image` and is Ready, and no other pod is left.
  bool AllReadyWith(const PodSample& s, const std::string& image, int n) {
    return s.total == n && s.ready == n && s.by_image.size() == 1 && s.by_image.count(image) == 1;
  }

  std::string Describe(const PodSample& s) {
    std::string out = std::to_string(s.total) + " pods, " + std::to_string(s.ready) + " ready:";
    for (const auto& p : s.pods) {
      out += "\n  " + p.name() + " " + Image(p) + " node=" + Str(p.spec(), "nodeName") +
             " phase=" + Str(p.status(), "phase") + " ready=" + (PodReady(p.status()) ? "true" : "false");
    }
    return out;
  }

  Json DeploymentStatus(const std::string& name) {
    auto d = client_->Get(K("Deployment"), "default", name);
    return d.ok() ? d->status() : Json::object();
  }

  // `bosun ARGS… --server URL --token-file F` (the flags after the
  // subcommand: `rollout status`).
  Cli Bosun(std::vector<std::string> args) {
    std::vector<std::string> argv = {BOSUN_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    for (std::string a : {"--server", api_url_.c_str(), "--token-file"}) argv.push_back(a);
    argv.push_back(server_data_ + "/admin.token");
    process::Options o;
    o.argv = argv;
    o.timeout = 60s;
    auto r = process::Run(o);
    if (!r) return Cli{-1, "", r.error().message()};
    return Cli{r->exit_code, r->out, r->err};
  }

  std::string Logs() { return "--- server.log (tail)\n" + Tail(Log("server.log")) + "\n--- node.log (tail)\n" + Tail(Log("node.log")); }
  static std::string Tail(const std::string& s) { return s.size() > 6000 ? s.substr(s.size() - 6000) : s; }
};

TEST_F(WorkloadsE2E, RollingUpdateKeepsThreeOfFourReadyAndServesTheNewVersion) {
  Json rolling = {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 1}}}};
  CreateDeployment("web", 4, rolling, WebContainer("bosun.test/web:1"));
  PodSample s;
  ASSERT_TRUE(WaitFor(
      [&] {
        s = Sample("web");
        return AllReadyWith(s, "bosun.test/web:1", 4);
      },
      60s))
      << Describe(s) << "\n" << Logs();
  for (const auto& p : s.pods) EXPECT_EQ(Str(p.spec(), "nodeName"), node_name_) << "bound by the scheduler";

  PodHistory history;
  history.Start(client_.get(), "web");
  ASSERT_TRUE(history.CountFrom(4));
  SetContainer("web", WebContainer("bosun.test/web:2"));
  int min_ready = 4, max_total = 4, samples = 0;
  std::string worst;
  auto end = std::chrono::steady_clock::now() + 60s;
  bool done = false;
  while (std::chrono::steady_clock::now() < end) {
    s = Sample("web");
    ++samples;
    if (s.ready < min_ready || s.total > max_total) worst = Describe(s);
    min_ready = std::min(min_ready, s.ready);
    max_total = std::max(max_total, s.total);
    if (AllReadyWith(s, "bosun.test/web:2", 4)) {
      done = true;
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(done) << "rollout did not finish in 60 s:\n" << Describe(s) << "\n" << Logs();
  EXPECT_GE(min_ready, 3) << "ready pods dropped below replicas - maxUnavailable; worst sample:\n" << worst;
  EXPECT_LE(max_total, 5) << "more pods than replicas + maxSurge; worst sample:\n" << worst;
  std::printf("rolling update: %d samples, at least %d ready, at most %d pods\n", samples, min_ready, max_total);
  // The rollout can finish in half a second: the sampler must have seen it
  // under way at least once; the watch below sees every state.
  EXPECT_GE(samples, 2);
  // Every state in between, through the watch.
  history.Stop();
  EXPECT_GE(history.events(), 8) << "the watch missed the rollout (4 pods created and 4 deleted at least)";
  std::printf("rolling update: %d watch events, at least %d ready, at most %d pods\n", history.events(),
              history.min_ready(), history.max_total());
  EXPECT_GE(history.min_ready(), 3) << "ready pods dropped below replicas - maxUnavailable (watch)";
  EXPECT_LE(history.max_total(), 5) << "more pods than replicas + maxSurge (watch)";

  for (const auto& p : s.pods) {
    std::string ip = Str(p.status(), "podIP");
    std::string answer;
    EXPECT_TRUE(WaitFor(
        [&] {
          answer = HttpGet(ip, 8080);
          return answer.find("bosun web v2") != std::string::npos;
        },
        10s))
        << p.name() << " at " << ip << " answered: " << answer;
  }

  Cli status = Bosun({"rollout", "status", "web", "--timeout", "30s"});
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
  EXPECT_NE(status.out.find("successfully rolled out"), std::string::npos) << status.out << status.err;

  // kubectl's KIND/NAME: a Deployment stands for one of its pods, and says
  // which; get and describe take it too.
  process::Options eo;
  eo.argv = {BOSUN_BINARY, "exec", "--server", api_url_, "--token-file", server_data_ + "/admin.token",
             "deploy/web", "--",   "hostname"};
  auto ran = process::Run(eo);
  ASSERT_TRUE(ran) << ran.error().message();
  Cli exec{ran->exit_code, ran->out, ran->err};
  EXPECT_EQ(exec.exit_code, 0) << exec.out << exec.err;
  EXPECT_NE(exec.err.find("Found 4 pods, using pod/web-"), std::string::npos) << exec.err;
  EXPECT_EQ(exec.out.rfind("web-", 0), 0u) << exec.out;
  Cli get = Bosun({"get", "deploy/web", "-o", "name"});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, "deployment.apps/web\n");
  Cli describe = Bosun({"describe", "deploy/web"});
  EXPECT_EQ(describe.exit_code, 0) << describe.err;
  EXPECT_NE(describe.out.find("Name:"), std::string::npos) << describe.out;
  // Several kinds at once: a table each, names as kubectl prints them there.
  Cli several = Bosun({"get", "deploy,rs"});
  EXPECT_EQ(several.exit_code, 0) << several.err;
  EXPECT_NE(several.out.find("deployment.apps/web "), std::string::npos) << several.out;
  EXPECT_NE(several.out.find("\n\nNAME"), std::string::npos) << several.out;
  EXPECT_NE(several.out.find("replicaset.apps/web-"), std::string::npos) << several.out;
  Cli all = Bosun({"get", "all"});
  EXPECT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.out.find("pod/web-"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("deployment.apps/web "), std::string::npos) << all.out;
  // A NAME that only one of the kinds has: that one is shown, the other said.
  Cli named = Bosun({"get", "deploy,svc", "web"});
  EXPECT_NE(named.exit_code, 0);
  EXPECT_NE(named.out.find("deployment.apps/web "), std::string::npos) << named.out;
  EXPECT_NE(named.err.find("not found"), std::string::npos) << named.err;
  Cli both = Bosun({"get", "deploy/web", "web"});
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.err.find("give KIND NAME or KIND/NAME, not both"), std::string::npos) << both.err;
}

TEST_F(WorkloadsE2E, RecreateNeverRunsOldAndNewPodsTogether) {
  CreateDeployment("rec", 3, {{"type", "Recreate"}}, WebContainer("bosun.test/web:1"));
  PodSample s;
  ASSERT_TRUE(WaitFor(
      [&] {
        s = Sample("rec");
        return AllReadyWith(s, "bosun.test/web:1", 3);
      },
      60s))
      << Describe(s) << "\n" << Logs();

  PodHistory history;
  history.Start(client_.get(), "rec");
  ASSERT_TRUE(history.CountFrom(3));
  SetContainer("rec", WebContainer("bosun.test/web:2"));
  std::string mixed;
  bool done = false;
  int samples = 0, empty_samples = 0;
  auto end = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < end) {
    s = Sample("rec");
    if (s.by_image.size() > 1 && mixed.empty()) mixed = Describe(s);
    ++samples;
    empty_samples += s.total == 0;
    if (AllReadyWith(s, "bosun.test/web:2", 3)) {
      done = true;
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(done) << "rollout did not finish in 60 s:\n" << Describe(s) << "\n" << Logs();
  EXPECT_TRUE(mixed.empty()) << "old and new pods at once:\n" << mixed;
  std::printf("recreate: %d samples, %d with no pod at all\n", samples, empty_samples);
  history.Stop();
  EXPECT_EQ(history.mixed(), "") << "old and new pods at once (watch)";
  EXPECT_EQ(history.min_ready(), 0) << "the old pods were not all gone before the new ones came";
  for (const auto& p : s.pods) {
    std::string ip = Str(p.status(), "podIP"), answer;
    EXPECT_TRUE(WaitFor(
        [&] {
          answer = HttpGet(ip, 8080);
          return answer.find("bosun web v2") != std::string::npos;
        },
        10s))
        << p.name() << " at " << ip << " answered: " << answer;
  }
}

TEST_F(WorkloadsE2E, RolloutThatNeverGetsReadyExceedsItsProgressDeadline) {
  CreateDeployment("stuck", 2, {{"type", "RollingUpdate"}}, WebContainer("bosun.test/web:1"), 8);
  PodSample s;
  ASSERT_TRUE(WaitFor(
      [&] {
        s = Sample("stuck");
        return AllReadyWith(s, "bosun.test/web:1", 2);
      },
      60s))
      << Describe(s) << "\n" << Logs();

  // web:2 with a readiness probe on a port nothing listens on: never ready.
  SetContainer("stuck", WebContainer("bosun.test/web:2", 9999));
  auto progressing = [&]() -> Json {
    Json st = DeploymentStatus("stuck");
    if (st.contains("conditions")) {
      for (const auto& c : st["conditions"]) {
        if (c.value("type", "") == "Progressing") return c;
      }
    }
    return Json::object();
  };
  int min_ready = 2;
  bool exceeded = WaitFor(
      [&] {
        min_ready = std::min(min_ready, Sample("stuck").ready);
        Json c = progressing();
        return c.value("status", "") == "False" && c.value("reason", "") == "ProgressDeadlineExceeded";
      },
      30s);
  ASSERT_TRUE(exceeded) << DeploymentStatus("stuck").dump(2) << "\n" << Describe(Sample("stuck")) << "\n" << Logs();
  // The default 25% of 2 replicas: maxUnavailable 0, so both old pods stay ready.
  s = Sample("stuck");
  EXPECT_EQ(min_ready, 2) << Describe(s);
  EXPECT_EQ(s.ready_by_image["bosun.test/web:1"], 2) << Describe(s);
  EXPECT_EQ(s.ready_by_image["bosun.test/web:2"], 0) << Describe(s);

  Cli status = Bosun({"rollout", "status", "stuck", "--timeout", "20s"});
  EXPECT_EQ(status.exit_code, 1) << status.out << status.err;
  EXPECT_NE(status.err.find("exceeded its progress deadline"), std::string::npos) << status.out << status.err;
}

// Two nodes and short node timeouts. `bosun node` renews its Lease every
// 5 s, so the grace period must be longer than that: with 4 s the live node
// turns Unknown between renewals (seen in this test).
class WorkloadsE2ENodeFailure : public WorkloadsE2E {
 protected:
  std::vector<std::string> ExtraServerArgs() override {
    return {"--node-monitor-grace-period", "7s", "--pod-eviction-timeout", "4s"};
  }
};

TEST_F(WorkloadsE2ENodeFailure, PodsOfADeadNodeComeBackOnTheOtherNode) {
  StartNode(1);
  const std::string a = NodeName(0), b = NodeName(1);
  ASSERT_TRUE(WaitFor([&] { return NodeReady(b) == "True"; }, 30s)) << Log(NodeLog(1));

  CreateDeployment("spread", 2, {{"type", "RollingUpdate"}}, WebContainer("bosun.test/web:1"));
  PodSample s;
  ASSERT_TRUE(WaitFor(
      [&] {
        s = Sample("spread");
        return AllReadyWith(s, "bosun.test/web:1", 2);
      },
      60s))
      << Describe(s) << "\n" << Logs() << "\n--- " << NodeLog(1) << "\n" << Tail(Log(NodeLog(1)));
  std::set<std::string> on_b;
  for (const auto& p : s.pods) {
    if (Str(p.spec(), "nodeName") == b) on_b.insert(p.name());
  }
  ASSERT_FALSE(on_b.empty()) << "the scheduler put no pod on " << b << " (LeastAllocated should spread):\n"
                             << Describe(s);

  auto crashed = std::chrono::steady_clock::now();
  CrashNode(1);
  std::string a_state;  // Node A's Ready status when it was not True
  bool back = WaitFor(
      [&] {
        if (std::string r = NodeReady(a); r != "True" && a_state.empty()) a_state = r.empty() ? "(none)" : r;
        s = Sample("spread");
        if (!AllReadyWith(s, "bosun.test/web:1", 2)) return false;
        for (const auto& p : s.pods) {
          if (Str(p.spec(), "nodeName") != a || on_b.count(p.name())) return false;
        }
        return true;
      },
      40s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - crashed);
  ASSERT_TRUE(back) << "the pods of " << b << " were not recreated on " << a << ":\n"
                    << Describe(s) << "\n" << Logs();
  std::printf("node failure: pods Ready on %s %lld ms after %s died\n", a.c_str(), static_cast<long long>(took.count()),
              b.c_str());
  EXPECT_LT(took, 25s);
  for (const auto& p : s.pods) {
    std::string ip = Str(p.status(), "podIP"), answer;
    EXPECT_EQ(ip.rfind(NodePrefix(0), 0), 0u) << p.name() << " has IP " << ip << ", not in " << a << "'s CIDR";
    EXPECT_TRUE(WaitFor(
        [&] {
          answer = HttpGet(ip, 8080);
          return answer.find("bosun web v1") != std::string::npos;
        },
        10s))
        << p.name() << " at " << ip << " answered: " << answer;
  }

  EXPECT_EQ(NodeReady(b), "Unknown");
  EXPECT_EQ(a_state, "") << a << " (alive) was not Ready meanwhile";
  EXPECT_EQ(NodeReady(a), "True");
  auto node_b = client_->Get(K("Node"), "", b);
  ASSERT_TRUE(node_b.ok());
  std::set<std::string> effects;
  if (node_b->spec().contains("taints")) {
    for (const auto& t : node_b->spec()["taints"]) {
      if (t.value("key", "") == "node.kubernetes.io/unreachable") effects.insert(t.value("effect", ""));
    }
  }
  EXPECT_TRUE(effects.count("NoSchedule") && effects.count("NoExecute")) << node_b->json().dump(2);
}

}  // namespace
}  // namespace bosun::node
