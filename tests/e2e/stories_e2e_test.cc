// The user stories of bosun, end to end (issue 8): each test starts the real
// `bosun up` on a fresh data folder following a real bare Git remote, changes
// the remote the way a team does (feature branch, `git merge --no-ff`,
// `git push`), and checks what a user sees — pods, the page through the
// hostPort, `bosun history -o json`, the remote's log — then stops bosun up
// with SIGINT and checks nothing of it is left.
//   DeployByMerging   a merged change rolls out within seconds, never below
//                     its availability bound; the new version serves
//   Audit             every merge's record (author, per-object changes,
//                     outcome) exactly as done, and the same after a restart
//   AutomatedRollback a merge whose image never becomes ready is reverted in
//                     Git by bosun, with the trailers; healthy again; linked
//   SelfHealing       a deleted pod replaced, a killed container restarted, a
//                     Deployment edited through the API put back as drift
#include <signal.h>

#include <atomic>
#include <set>
#include <thread>

#include "tests/e2e/up_e2e_fixture.h"

namespace bosun::e2e {
namespace {

using steady = std::chrono::steady_clock;

constexpr const char* kAda = "Ada Author <ada@example.com>";
constexpr const char* kBob = "Bob Builder <bob@example.com>";
constexpr const char* kMia = "Mia Merger <mia@example.com>";

constexpr const char* kNamespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";

// The repository's rules: images only from bosun.local/examples; autoRevert.
constexpr const char* kPolicy =
    "apiVersion: bosun.dev/v1\nkind: Policy\nmetadata:\n  name: baseline\nspec:\n  rules:\n"
    "    - name: registries\n      match:\n        kinds: [Deployment, Job, Pod]\n"
    "      allowedRegistries: [bosun.local/examples]\n";
constexpr const char* kSyncConfig =
    "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata:\n  name: default\nspec:\n  prune: true\n"
    "  selfHeal: true\n  autoRevert: true\n";

std::string Config(const std::string& version) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-content\n  namespace: shop\ndata:\n"
         "  VERSION: \"" + version + "\"\n"
         "  index.html: |\n    <p>version {{VERSION}}, served by {{POD_NAME}} ({{IMAGE}})</p>\n";
}

// A web Deployment of the example image: the page of the ConfigMap, the
// version from it; `host_port` > 0 for the edge (one replica, Recreate).
std::string Web(const std::string& name, const std::string& tag, int replicas, int host_port) {
  std::string strategy = host_port > 0 ? "  strategy:\n    type: Recreate\n"
                                       : "  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n"
                                         "      maxSurge: 1\n      maxUnavailable: 1\n";
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name +
         "\n  namespace: shop\nspec:\n  replicas: " + std::to_string(replicas) +
         "\n  progressDeadlineSeconds: 30\n" + strategy +
         "  selector:\n    matchLabels:\n      app: " + name + "\n  template:\n    metadata:\n      labels:\n"
         "        app: " + name + "\n    spec:\n      terminationGracePeriodSeconds: 2\n      containers:\n"
         "        - name: web\n          image: bosun.local/examples/web:" + tag +
         "\n          imagePullPolicy: IfNotPresent\n          ports:\n            - containerPort: 8080\n" +
         (host_port > 0 ? "              hostPort: " + std::to_string(host_port) + "\n" : std::string()) +
         "          env:\n            - name: APP_VERSION\n              valueFrom:\n                configMapKeyRef:\n"
         "                  name: web-content\n                  key: VERSION\n"
         "            - name: POD_NAME\n              valueFrom:\n                fieldRef:\n"
         "                  fieldPath: metadata.name\n"
         "          resources:\n            requests: {cpu: 10m, memory: 16Mi}\n            limits: {memory: 32Mi}\n"
         "          readinessProbe:\n            httpGet: {path: /healthz, port: 8080}\n            periodSeconds: 1\n"
         "          volumeMounts:\n            - {name: content, mountPath: /etc/web, readOnly: true}\n"
         "      volumes:\n        - name: content\n          configMap: {name: web-content}\n";
}

// A worker: busybox sleeping.
std::string Worker(const std::string& image, int replicas) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: worker\n  namespace: shop\nspec:\n  replicas: " +
         std::to_string(replicas) +
         "\n  selector:\n    matchLabels:\n      app: worker\n  template:\n    metadata:\n      labels:\n"
         "        app: worker\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n"
         "        - name: worker\n          image: " + image +
         "\n          command: [sh, -c, 'while true; do sleep 1; done']\n"
         "          resources:\n            requests: {cpu: 10m, memory: 8Mi}\n            limits: {memory: 16Mi}\n";
}

class Stories : public UpE2E {
 protected:
  // The system every story starts from: namespace shop, web (3 replicas) and
  // the edge on the hostPort, both on web:1.0 with VERSION 1.0; running and
  // its first revision Healthy.
  void StartSystem() {
    PushInitial({{"shop/namespace.yaml", kNamespace},
                 {"shop/web-content.yaml", Config("1.0")},
                 {"shop/web.yaml", Web("web", "1.0", 3, 0)},
                 {"shop/edge.yaml", Web("edge", "1.0", 1, host_port_)},
                 {"cluster/policy.yaml", kPolicy},
                 {"cluster/sync-config.yaml", kSyncConfig}});
    if (HasFatalFailure()) return;
    initial_ = Head("main");
    auto t0 = steady::now();
    Start();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(Eventually([&] { return PhaseOf(initial_) == "Healthy"; }, 120s, 250ms)) << Diagnose();
    ASSERT_TRUE(Eventually([&] { return ServesOnly("web", "1.0", 3); }, 30s, 250ms)) << Diagnose();
    ASSERT_TRUE(Eventually([&] { return HostPortPage().find("version 1.0,") != std::string::npos; }, 30s, 250ms))
        << Diagnose();
    std::printf("[ figures  ] bosun up to the first revision Healthy and serving: %.1f s\n",
                std::chrono::duration<double>(steady::now() - t0).count());
  }

  // `n` Ready pods of `app`, none other, each on web:`version` and serving it.
  bool ServesOnly(const std::string& app, const std::string& version, size_t n) {
    auto pods = Pods("shop", app);
    if (pods.size() != n) return false;
    for (const Object& p : pods) {
      if (!Ready(p) || Terminating(p) || ImageOf(p) != "bosun.local/examples/web:" + version) return false;
      std::string page = PodPage(p);
      if (page.find("version " + version + ", served by " + p.name()) == std::string::npos) return false;
    }
    return true;
  }

  // SIGINT, exit 0, nothing left.
  void StopClean() {
    EXPECT_EQ(Stop(SIGINT), 0) << Diagnose();
    ExpectNothingLeft();
  }

  std::string initial_;
};

// Deploy by merging: a new version (ConfigMap) and image tag merged into main
// rolls out within seconds; the rollout never had fewer than replicas -
// maxUnavailable = 2 available web pods; the old pods are gone.
TEST_F(Stories, DeployByMerging) {
  StartSystem();
  if (HasFatalFailure()) return;

  // Sample the web pods' availability through the whole rollout.
  std::atomic<bool> sampling{true};
  std::atomic<int> min_available{1000}, samples{0};
  std::atomic<bool> mixed{false};  // old and new pods seen together: the rollout was watched under way
  std::thread sampler([&] {
    state::ClientOptions co;
    co.servers = {api_};
    co.token = Trim(Slurp(data_ + "/admin.token"));
    co.timeout = 5s;
    auto c = state::Client::Create(co);
    if (!c) return;
    while (sampling) {
      if (auto l = (*c)->List(K("Pod"), "shop")) {
        int available = 0;
        std::set<std::string> images;
        for (const Object& p : l->items) {
          if (p.json().value("/metadata/labels/app"_json_pointer, "") != "web") continue;
          images.insert(ImageOf(p));
          if (Ready(p) && !Terminating(p)) ++available;
        }
        if (images.size() > 1) mixed = true;
        if (available < min_available) min_available = available;
        ++samples;
      }
      std::this_thread::sleep_for(50ms);
    }
  });

  auto pushed = steady::now();
  std::string merge = MergeChange("web-1.1",
                                  {{"shop/web-content.yaml", Config("1.1")},
                                   {"shop/web.yaml", Web("web", "1.1", 3, 0)},
                                   {"shop/edge.yaml", Web("edge", "1.1", 1, host_port_)}},
                                  "web 1.1", kBob, kMia);
  bool applied = Eventually([&] { return RecordOf(merge).has_value(); }, 15s, 100ms);
  double to_record = std::chrono::duration<double>(steady::now() - pushed).count();
  bool rolled = applied && Eventually([&] { return ServesOnly("web", "1.1", 3); }, 90s, 250ms);
  double to_serving = std::chrono::duration<double>(steady::now() - pushed).count();
  sampling = false;
  sampler.join();
  ASSERT_TRUE(applied) << "no revision for the merge 15 s after the push" << Diagnose();
  ASSERT_TRUE(rolled) << Diagnose();
  std::printf("[ figures  ] push to revision: %.1f s; push to every web pod serving 1.1: %.1f s; "
              "%d samples, min available %d\n",
              to_record, to_serving, samples.load(), min_available.load());
  EXPECT_LT(to_record, 5.0) << "bosun polls every 1 s";
  EXPECT_GE(min_available.load(), 2) << "the rollout went below replicas - maxUnavailable";
  EXPECT_GT(samples.load(), 10);
  EXPECT_TRUE(mixed.load()) << "the sampler never saw the rollout under way";

  // Through the hostPort: the new version; the revision Healthy; only the new pods.
  EXPECT_TRUE(Eventually([&] {
    std::string page = HostPortPage();
    return page.find("version 1.1,") != std::string::npos &&
           page.find("bosun.local/examples/web:1.1") != std::string::npos;
  }, 30s, 250ms)) << HostPortPage() << Diagnose();
  EXPECT_TRUE(Eventually([&] { return PhaseOf(merge) == "Healthy"; }, 30s, 250ms)) << Diagnose();
  for (const char* app : {"web", "edge"}) {
    for (const Object& p : Pods("shop", app)) EXPECT_EQ(ImageOf(p), "bosun.local/examples/web:1.1") << p.name();
  }
  EXPECT_EQ(Pods("shop", "web").size(), 3u);
  StopClean();
}


// What the audit compares of one record: the commit and its author, and what
// bosun did with it.
struct Expected {
  std::string commit, author, phase, reason;
  int created = 0, updated = 0, deleted = 0;
  std::set<std::string> objects;  // "created Deployment shop/worker"
};

std::set<std::string> ObjectsOf(const Json& rec) {
  std::set<std::string> out;
  const Json* objects = rec.contains("status") && rec["status"].contains("objects") ? &rec["status"]["objects"] : nullptr;
  if (objects == nullptr || !objects->is_array()) return out;
  for (const Json& o : *objects) {
    out.insert(o.value("action", "") + " " + o.value("kind", "") + " " + o.value("namespace", "") + "/" +
               o.value("name", ""));
  }
  return out;
}
int Count(const Json& rec, const char* what) {
  return rec.value("/status/changes"_json_pointer, Json::object()).value(what, 0);
}
// The field change `field` of the object `name` in the record, or null.
Json FieldChange(const Json& rec, const std::string& name, const std::string& field) {
  for (const Json& o : rec.value("/status/objects"_json_pointer, Json::array())) {
    if (o.value("name", "") != name) continue;
    for (const Json& d : o.value("diff", Json::array())) {
      if (d.value("field", "") == field) return d;
    }
  }
  return nullptr;
}
// What must not change across a restart: the whole record but its metadata's
// bookkeeping (resourceVersion may move when status is rewritten).
Json Stable(const Json& rec) {
  Json out = {{"name", rec.value("/metadata/name"_json_pointer, "")}, {"spec", rec.value("spec", Json::object())}};
  Json st = rec.value("status", Json::object());
  for (const char* key : {"phase", "reason", "message", "changes", "objects", "errors", "policy", "revertedBy"}) {
    if (st.contains(key)) out[key] = st[key];
  }
  return out;
}

// Audit: a series of merges by different people — create an app, scale it,
// change a config, delete the app, one refused by policy (and its fix), one
// with an invalid manifest — and `bosun history -o json` lists each merge
// commit with its author, the changes per object and the outcome, exactly;
// after a restart of bosun up on the same folder, the same history.
TEST_F(Stories, Audit) {
  StartSystem();
  if (HasFatalFailure()) return;
  std::vector<Expected> want;
  want.push_back({initial_, "Ada Author <ada@example.com>", "Healthy", "", -1, 0, 0,
                  {"created Namespace /shop", "created ConfigMap shop/web-content", "created Deployment shop/web",
                   "created Deployment shop/edge"}});
  auto step = [&](const std::string& branch, const std::map<std::string, std::optional<std::string>>& files,
                  const std::string& merger, Expected e) {
    e.commit = MergeChange(branch, files, branch, kBob, merger);
    e.author = merger;
    ASSERT_TRUE(Eventually([&] { return PhaseOf(e.commit) == e.phase; }, 60s, 250ms))
        << branch << ": wanted " << e.phase << Diagnose();
    want.push_back(e);
  };
  step("add-worker", {{"shop/worker.yaml", Worker("bosun.local/examples/busybox:1.0", 1)}}, kMia,
       {"", "", "Healthy", "", 1, 0, 0, {"created Deployment shop/worker"}});
  if (HasFatalFailure()) return;
  step("scale-worker", {{"shop/worker.yaml", Worker("bosun.local/examples/busybox:1.0", 2)}}, kAda,
       {"", "", "Healthy", "", 0, 1, 0, {"updated Deployment shop/worker"}});
  if (HasFatalFailure()) return;
  EXPECT_TRUE(Eventually([&] { return Pods("shop", "worker").size() == 2; }, 30s, 250ms)) << Diagnose();
  step("web-content-1.1", {{"shop/web-content.yaml", Config("1.1")}}, kMia,
       {"", "", "Healthy", "", 0, 1, 0, {"updated ConfigMap shop/web-content"}});
  if (HasFatalFailure()) return;
  step("remove-worker", {{"shop/worker.yaml", std::nullopt}}, kBob,
       {"", "", "Healthy", "", 0, 0, 1, {"deleted Deployment shop/worker"}});
  if (HasFatalFailure()) return;
  EXPECT_TRUE(Eventually([&] { return !client_->Get(K("Deployment"), "shop", "worker").ok(); }, 20s, 250ms));
  step("worker-from-docker-hub", {{"shop/worker.yaml", Worker("docker.io/library/busybox:1", 1)}}, kMia,
       {"", "", "Refused", "PolicyViolation", 0, 0, 0, {}});
  if (HasFatalFailure()) return;
  step("drop-docker-hub-worker", {{"shop/worker.yaml", std::nullopt}}, kMia,
       {"", "", "Healthy", "", 0, 0, 0, {}});
  if (HasFatalFailure()) return;
  step("broken-manifest",
       {{"shop/broken.yaml",
         "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\n  namespace: shop\nspec:\n  replicas: -1\n"}},
       kAda, {"", "", "Refused", "InvalidManifests", 0, 0, 0, {}});
  if (HasFatalFailure()) return;
  // Nothing of the refused ones reached the cluster.
  EXPECT_FALSE(client_->Get(K("Deployment"), "shop", "worker").ok());
  EXPECT_FALSE(client_->Get(K("Deployment"), "shop", "broken").ok());

  auto check = [&](const Json& history) {
    ASSERT_EQ(history.size(), want.size()) << history.dump(2).substr(0, 4000) << Diagnose();
    for (size_t i = 0; i < want.size(); ++i) {
      const Json& r = history[i];
      const Expected& e = want[i];
      SCOPED_TRACE("record " + std::to_string(i) + " (" + r.value("/spec/message"_json_pointer, "") + ")");
      EXPECT_EQ(r.value("/spec/commit"_json_pointer, ""), e.commit);
      EXPECT_EQ(r.value("/spec/author/name"_json_pointer, "") + " <" + r.value("/spec/author/email"_json_pointer, "") +
                    ">",
                e.author);
      EXPECT_EQ(r.value("/status/phase"_json_pointer, ""), e.phase) << r["status"].dump(2);
      if (!e.reason.empty()) {
        EXPECT_EQ(r.value("/status/reason"_json_pointer, ""), e.reason) << r["status"].dump(2);
      }
      EXPECT_EQ(Count(r, "created"), e.created < 0 ? static_cast<int>(ObjectsOf(r).size()) : e.created)
          << r["status"].dump(2);
      EXPECT_EQ(Count(r, "updated"), e.updated) << r["status"].dump(2);
      EXPECT_EQ(Count(r, "deleted"), e.deleted) << r["status"].dump(2);
      if (i == 0) {
        // The first revision created the whole system (and the repository's
        // Policy and SyncConfig, if bosun keeps them as objects).
        std::set<std::string> got = ObjectsOf(r);
        for (const std::string& o : e.objects) EXPECT_EQ(got.count(o), 1u) << o << "\n" << r["status"].dump(2);
      } else {
        EXPECT_EQ(ObjectsOf(r), e.objects) << r["status"].dump(2);
      }
    }
    // The field changes, as done.
    Json replicas = FieldChange(history[2], "worker", "spec.replicas");
    EXPECT_EQ(replicas.value("from", Json()), Json(1)) << history[2]["status"].dump(2);
    EXPECT_EQ(replicas.value("to", Json()), Json(2)) << history[2]["status"].dump(2);
    Json version = FieldChange(history[3], "web-content", "data.VERSION");
    EXPECT_EQ(version.value("from", Json()), Json("1.0")) << history[3]["status"].dump(2);
    EXPECT_EQ(version.value("to", Json()), Json("1.1")) << history[3]["status"].dump(2);
    // Why the refused ones were refused: the rule, the file:line.
    std::string policy = history[5].value("/status/policy"_json_pointer, Json::object()).dump();
    EXPECT_NE(policy.find("\"rule\":\"registries\""), std::string::npos) << history[5]["status"].dump(2);
    EXPECT_NE(policy.find("shop/worker.yaml"), std::string::npos) << history[5]["status"].dump(2);
    std::string errors = history[7].value("/status/errors"_json_pointer, Json::array()).dump();
    EXPECT_NE(errors.find("shop/broken.yaml:"), std::string::npos) << history[7]["status"].dump(2);
  };
  Json before = History();
  check(before);
  if (HasFailure()) std::printf("%s\n", Diagnose().c_str());

  // Stop and start again on the same folder: the same history, nothing new.
  StopClean();
  Start();
  if (HasFatalFailure()) return;
  ASSERT_TRUE(Eventually([&] { return Pods("shop", "web").size() == 3 && Ready(Pods("shop", "web")[0]); }, 90s, 250ms))
      << Diagnose();
  ASSERT_TRUE(Eventually([&] { return PhaseOf(want[6].commit) == "Healthy"; }, 60s, 250ms)) << Diagnose();
  Json after = History();
  check(after);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(Stable(before[i]), Stable(after[i])) << "record " << i;
  StopClean();
}

// Automated rollback: a merged change whose new image never becomes ready
// (web:9.9 was never built: the pull fails) turns the revision Degraded;
// bosun pushes a revert commit with the Bosun-Reverts / Bosun-Reason
// trailers to the remote; the cluster runs 1.0 again, healthy; the history
// links the two. No human step.
TEST_F(Stories, AutomatedRollback) {
  StartSystem();
  if (HasFatalFailure()) return;
  auto pushed = steady::now();
  std::string bad = MergeChange("web-9.9", {{"shop/web.yaml", Web("web", "9.9", 3, 0)}}, "web 9.9", kBob, kMia);
  ASSERT_TRUE(Eventually([&] { return PhaseOf(bad) == "Degraded" || PhaseOf(bad) == "Reverted"; }, 90s, 250ms))
      << Diagnose();
  double to_degraded = std::chrono::duration<double>(steady::now() - pushed).count();

  std::string head;
  ASSERT_TRUE(Eventually([&] {
    head = Remote("rev-parse main");
    return !head.empty() && head != bad;
  }, 30s, 250ms)) << "no revert commit on the remote" << Diagnose();
  double to_revert = std::chrono::duration<double>(steady::now() - pushed).count();
  EXPECT_EQ(Remote("rev-parse " + head + "^"), bad) << "the revert is not made on top of the bad merge";
  EXPECT_EQ(Remote("log -1 --format=%s " + head), "Revert \"Merge branch web-9.9\"");
  std::string body = Remote("log -1 --format=%B " + head);
  EXPECT_NE(body.find("\nBosun-Reverts: " + bad), std::string::npos) << body;
  EXPECT_NE(body.find("\nBosun-Reason: "), std::string::npos) << body;
  EXPECT_EQ(Remote("rev-parse " + head + "^{tree}"), Remote("rev-parse " + initial_ + "^{tree}"))
      << "the revert does not bring back the tree before the merge";

  // The cluster back on 1.0, healthy; the records linked.
  ASSERT_TRUE(Eventually([&] { return PhaseOf(head) == "Healthy"; }, 90s, 250ms)) << Diagnose();
  EXPECT_TRUE(Eventually([&] { return ServesOnly("web", "1.0", 3); }, 60s, 250ms)) << Diagnose();
  double to_healthy = std::chrono::duration<double>(steady::now() - pushed).count();
  std::printf("[ figures  ] push of the bad merge to Degraded: %.1f s, to the revert on the remote: %.1f s, "
              "to healthy on 1.0: %.1f s\n",
              to_degraded, to_revert, to_healthy);
  Json history = History();
  const Json* bad_rec = nullptr;
  const Json* revert_rec = nullptr;
  for (const Json& r : history) {
    if (r.value("/spec/commit"_json_pointer, "") == bad) bad_rec = &r;
    if (r.value("/spec/commit"_json_pointer, "") == head) revert_rec = &r;
  }
  ASSERT_NE(bad_rec, nullptr) << Diagnose();
  ASSERT_NE(revert_rec, nullptr) << Diagnose();
  EXPECT_EQ(bad_rec->value("/status/phase"_json_pointer, ""), "Reverted") << (*bad_rec)["status"].dump(2);
  EXPECT_EQ(bad_rec->value("/status/revertedBy"_json_pointer, ""), head) << (*bad_rec)["status"].dump(2);
  EXPECT_TRUE(bad_rec->value("/status/revert/automatic"_json_pointer, false)) << (*bad_rec)["status"].dump(2);
  EXPECT_EQ(revert_rec->value("/spec/reverts"_json_pointer, ""), bad) << (*revert_rec)["spec"].dump(2);
  EXPECT_EQ(revert_rec->value("/spec/author/name"_json_pointer, ""), "bosun");
  StopClean();
}

// The pid of the container process of pod `pod` (web-serve execs httpd with
// POD_NAME in its environment), found from the host; 0 when none.
pid_t ContainerPid(const std::string& pod) {
  Outcome o = RunCommand("for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = httpd ] && "
                         "tr '\\0' '\\n' < $p/environ 2>/dev/null | grep -qx 'POD_NAME=" + pod +
                         "' && echo ${p#/proc/}; done");
  return std::atoi(o.out.c_str());
}
int RestartCount(const Object& pod) {
  return pod.json().value("/status/containerStatuses/0/restartCount"_json_pointer, 0);
}

// Self-healing: a pod deleted by hand is replaced; a container whose process
// is killed is restarted; a managed Deployment edited through the API is put
// back and recorded as drift in the live revision.
TEST_F(Stories, SelfHealing) {
  StartSystem();
  if (HasFatalFailure()) return;

  // A pod deleted by hand.
  std::string victim = Pods("shop", "web").at(0).name();
  Outcome del = Bosun("delete pod " + victim + " -n shop");
  ASSERT_EQ(del.exit_code, 0) << del.out;
  auto t0 = steady::now();
  ASSERT_TRUE(Eventually([&] {
    auto pods = Pods("shop", "web");
    if (pods.size() != 3) return false;
    for (const Object& p : pods) {
      if (p.name() == victim || !Ready(p) || Terminating(p)) return false;
    }
    return true;
  }, 60s, 250ms)) << Diagnose();
  std::printf("[ figures  ] deleted pod replaced and Ready in %.1f s\n",
              std::chrono::duration<double>(steady::now() - t0).count());

  // A container's process killed from the host.
  Object pod = Pods("shop", "web").at(0);
  int restarts = RestartCount(pod);
  pid_t pid = ContainerPid(pod.name());
  ASSERT_GT(pid, 0) << "no httpd with POD_NAME=" << pod.name() << " on the host";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  t0 = steady::now();
  ASSERT_TRUE(Eventually([&] {
    auto p = client_->Get(K("Pod"), "shop", pod.name());
    return p.ok() && RestartCount(*p) > restarts && Ready(*p);
  }, 60s, 250ms)) << Diagnose();
  std::printf("[ figures  ] killed container restarted and Ready in %.1f s\n",
              std::chrono::duration<double>(steady::now() - t0).count());
  pid_t again = ContainerPid(pod.name());
  EXPECT_GT(again, 0);
  EXPECT_NE(again, pid);

  // A managed Deployment edited through the API: put back, recorded as drift.
  auto web = client_->Get(K("Deployment"), "shop", "web");
  ASSERT_TRUE(web.ok()) << web.error().message();
  Object edited = *web;
  edited.json()["spec"]["replicas"] = 1;
  auto updated = client_->Update(edited);
  ASSERT_TRUE(updated.ok()) << updated.error().message();
  t0 = steady::now();
  ASSERT_TRUE(Eventually([&] {
    auto d = client_->Get(K("Deployment"), "shop", "web");
    return d.ok() && d->json().value("/spec/replicas"_json_pointer, 0) == 3 &&
           d->json().value("/metadata/generation"_json_pointer, 0) > updated->json().value(
                                                                         "/metadata/generation"_json_pointer, 0);
  }, 30s, 100ms)) << Diagnose();
  std::printf("[ figures  ] Deployment edited through the API put back in %.1f s\n",
              std::chrono::duration<double>(steady::now() - t0).count());
  Json drift;
  ASSERT_TRUE(Eventually([&] {
    auto rec = RecordOf(initial_);
    if (!rec) return false;
    for (const Json& d : rec->json().value("/status/drift"_json_pointer, Json::array())) {
      if (d.value("kind", "") == "Deployment" && d.value("name", "") == "web" && d.value("healed", false)) {
        drift = d;
        return true;
      }
    }
    return false;
  }, 30s, 250ms)) << "no drift recorded" << Diagnose();
  EXPECT_NE(drift.value("fields", Json::array()).dump().find("spec.replicas"), std::string::npos) << drift.dump();
  EXPECT_EQ(drift.value("namespace", ""), "shop");
  EXPECT_TRUE(Eventually([&] { return ServesOnly("web", "1.0", 3); }, 60s, 250ms)) << Diagnose();
  // And the user sees it in `bosun history show`.
  Outcome show = Bosun("history show " + initial_.substr(0, 7));
  EXPECT_NE(show.out.find("Drift (1)"), std::string::npos) << show.out;
  StopClean();
}

// A migration Job changed in Git: a Job runs its template once, so the
// change fails the revision with the way out (nothing else of it applied);
// with the annotation bosun.dev/force the Job is deleted and created again,
// and the new one runs the new template; the old one's pod is collected.
TEST_F(Stories, AChangedJobRunsAgainWhenForced) {
  auto job = [](const std::string& version, bool force) {
    return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  namespace: shop\n" +
           std::string(force ? "  annotations:\n    bosun.dev/force: \"true\"\n" : "") +
           "spec:\n  backoffLimit: 0\n  template:\n    metadata:\n      labels:\n        app: migrate\n    spec:\n"
           "      restartPolicy: Never\n      terminationGracePeriodSeconds: 1\n      containers:\n"
           "        - name: migrate\n          image: bosun.local/examples/busybox:1.0\n"
           "          command: [sh, -c, 'echo migrating to " +
           version + "']\n          resources:\n            limits: {memory: 16Mi}\n";
  };
  auto command = [](const Object& p) {
    return p.json().value("/spec/containers/0/command"_json_pointer, Json()).dump();
  };
  auto succeeded = [](const Object& p) { return p.json().value("/status/phase"_json_pointer, "") == "Succeeded"; };
  PushInitial({{"shop/namespace.yaml", kNamespace}, {"shop/migrate.yaml", job("v1", false)}});
  if (HasFatalFailure()) return;
  const std::string first = Head("main");
  Start();
  if (HasFatalFailure()) return;
  ASSERT_TRUE(Eventually([&] { return PhaseOf(first) == "Healthy"; }, 120s, 250ms)) << Diagnose();
  auto v1 = client_->Get(K("Job"), "shop", "migrate");
  ASSERT_TRUE(v1.ok()) << Diagnose();

  std::string changed =
      MergeChange("migrate-v2", {{"shop/migrate.yaml", job("v2", false)}}, "migrate to v2", kBob, kMia);
  ASSERT_TRUE(Eventually([&] { return PhaseOf(changed) == "Failed"; }, 60s, 250ms)) << Diagnose();
  auto failed = RecordOf(changed);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->json().value("/status/reason"_json_pointer, ""), "ImmutableFieldChanged");
  EXPECT_NE(failed->json().value("/status/message"_json_pointer, "").find("bosun.dev/force"), std::string::npos);
  EXPECT_EQ(client_->Get(K("Job"), "shop", "migrate")->uid(), v1->uid());

  std::string forced =
      MergeChange("migrate-v2-forced", {{"shop/migrate.yaml", job("v2", true)}}, "migrate to v2, forced", kBob, kMia);
  ASSERT_TRUE(Eventually([&] { return PhaseOf(forced) == "Healthy"; }, 60s, 250ms)) << Diagnose();
  auto v2 = client_->Get(K("Job"), "shop", "migrate");
  ASSERT_TRUE(v2.ok());
  EXPECT_NE(v2->uid(), v1->uid());
  ASSERT_TRUE(Eventually(
      [&] {
        auto pods = Pods("shop", "migrate");
        return pods.size() == 1 && command(pods[0]).find("v2") != std::string::npos && succeeded(pods[0]);
      },
      60s, 250ms))
      << "the new Job's pod alone, done" << Diagnose();
  Outcome show = Bosun("history show " + forced.substr(0, 7));
  EXPECT_NE(show.out.find("-/+ Job shop/migrate"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("deleted and created again: spec.template is immutable"), std::string::npos) << show.out;
  StopClean();
}

}  // namespace
}  // namespace bosun::e2e
