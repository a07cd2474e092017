// The pod worker against fakes of the runtime, network, images and volumes,
// a real API server for the status it writes, and simulated time for the
// back-off and probe timings.
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/node/pod_worker_test_support.h"

namespace bosun::node::testing {
namespace {

Json AppSpec(const std::string& policy = "Always") {
  return Json{{"nodeName", "n1"},
              {"restartPolicy", policy},
              {"containers", Json::array({{{"name", "app"},
                                           {"image", "bosun.test/busybox:1"},
                                           {"command", {"sleep", "1000"}},
                                           {"ports", Json::array({{{"containerPort", 80}, {"hostPort", 18080}}})}}})}};
}

std::string Phase(const Json& status) { return status.value("phase", ""); }

TEST(PodWorker, StartsThePodAndReportsRunningAndReady) {
  FakeClock clock;
  Fixture fx(&clock);
  Object pod = fx.api.CreatePod(AppSpec());
  PodWorker w(fx.env, pod);
  w.Sync();
  Json st = fx.api.PodStatus();
  EXPECT_EQ(Phase(st), "Running") << st.dump(2);
  EXPECT_EQ(st.value("podIP", ""), "10.244.0.2");
  EXPECT_EQ(st["podIPs"][0]["ip"], "10.244.0.2");
  EXPECT_EQ(st.value("hostIP", ""), "127.0.0.1");
  EXPECT_FALSE(st.value("startTime", "").empty());
  EXPECT_EQ(CondStatus(st, "Ready"), "True");
  EXPECT_EQ(CondStatus(st, "ContainersReady"), "True");
  EXPECT_EQ(CondStatus(st, "Initialized"), "True");
  EXPECT_EQ(CondStatus(st, "PodScheduled"), "True");
  const Json& cs = ContainerStatusOf(st, "app");
  ASSERT_TRUE(cs.is_object()) << st.dump(2);
  EXPECT_TRUE(cs["ready"].get<bool>());
  EXPECT_TRUE(cs["started"].get<bool>());
  EXPECT_EQ(cs["restartCount"], 0);
  EXPECT_EQ(cs["containerID"], "bosun://" + pod.uid() + "_app_0");
  EXPECT_EQ(cs["imageID"], "sha256:1111");
  EXPECT_TRUE(cs["state"].contains("running"));
  auto cfg = fx.runtime.ConfigOf(pod.uid() + "_app_0");
  ASSERT_TRUE(cfg.has_value());
  EXPECT_EQ(cfg->argv, (std::vector<std::string>{"sleep", "1000"}));
  ASSERT_EQ(fx.network.PortsOf(pod.uid()).size(), 1u);
  EXPECT_EQ(fx.network.PortsOf(pod.uid())[0].host_port, 18080);
  // Nothing changed: a second pass writes nothing and starts nothing.
  std::string rv = fx.api.client().Get(*KindRegistry::Builtin().FindKind("Pod"), "default", "web")->resource_version();
  w.Sync();
  EXPECT_EQ(fx.api.client().Get(*KindRegistry::Builtin().FindKind("Pod"), "default", "web")->resource_version(), rv);
  EXPECT_EQ(fx.runtime.Starts("app"), 1);
}

// The watch hands the worker a new version of the pod whenever it changes
// (each status write of the worker comes back as one) while a pass runs on
// another thread; the pass must keep to the version it began with. This is
// the crash CI saw: the pass held a reference into the replaced object.
TEST(PodWorker, AnUpdateDuringAPassDoesNotChangeThatPass) {
  FakeClock clock;
  Fixture fx(&clock);
  Json spec = AppSpec();
  Json env = Json::array();
  for (int i = 0; i < 50; ++i) env.push_back({{"name", "V" + std::to_string(i)}, {"value", "first"}});
  spec["containers"][0]["env"] = env;
  Object pod = fx.api.CreatePod(spec);
  PodWorker w(fx.env, pod);
  bool updated = false;
  fx.images.on_ensure = [&] {
    if (updated) return;
    updated = true;
    Object next = pod;
    Json& c = next.json()["spec"]["containers"][0];
    c["env"] = Json::array({{{"name", "V0"}, {"value", "second"}}});
    c["name"] = "renamed";
    w.Update(next);
  };
  w.Sync();
  ASSERT_TRUE(updated);
  auto cfg = fx.runtime.ConfigOf(pod.uid() + "_app_0");
  ASSERT_TRUE(cfg.has_value());
  int first = 0;
  for (const auto& e : cfg->env) {
    EXPECT_EQ(e.find("second"), std::string::npos) << e;
    if (e.size() > 6 && e.substr(e.size() - 6) == "=first") ++first;
  }
  EXPECT_EQ(first, 50);
}

TEST(PodWorker, RestartBackOffDoublesTo5MinutesAndResetsAfter10MinutesOfRunning) {
  FakeClock clock;
  Fixture fx(&clock);
  Object pod = fx.api.CreatePod(AppSpec("Always"));
  PodWorker w(fx.env, pod);
  w.Sync();
  int starts = 1;
  for (int delay : {10, 20, 40, 80, 160, 300, 300}) {
    fx.runtime.Exit("app", 1);
    auto wait = w.Sync();
    EXPECT_EQ(fx.runtime.Starts("app"), starts) << "restarted without back-off";
    EXPECT_LE(wait, std::chrono::seconds(delay) + 1ms);
    Json cs = ContainerStatusOf(fx.api.PodStatus(), "app");
    EXPECT_EQ(cs["state"]["waiting"]["reason"], "CrashLoopBackOff") << cs.dump();
    EXPECT_EQ(cs["lastState"]["terminated"]["exitCode"], 1);
    EXPECT_EQ(Phase(fx.api.PodStatus()), "Running") << "a restarting pod stays Running";
    clock.Advance(std::chrono::seconds(delay) - 1s);
    w.Sync();
    EXPECT_EQ(fx.runtime.Starts("app"), starts) << "restarted before " << delay << "s";
    clock.Advance(1s);
    w.Sync();
    ++starts;
    EXPECT_EQ(fx.runtime.Starts("app"), starts) << "not restarted after " << delay << "s";
    EXPECT_EQ(ContainerStatusOf(fx.api.PodStatus(), "app")["restartCount"], starts - 1);
  }
  // Ten minutes of clean running: the next back-off starts again at 10 s.
  clock.Advance(std::chrono::minutes(10));
  w.Sync();
  fx.runtime.Exit("app", 1);
  w.Sync();
  clock.Advance(10s);
  w.Sync();
  EXPECT_EQ(fx.runtime.Starts("app"), starts + 1);
}

TEST(PodWorker, OnFailureAndNeverFollowKubernetes) {
  FakeClock clock;
  Fixture fx(&clock);
  {
    Object pod = fx.api.CreatePod(AppSpec("OnFailure"), "ok");
    PodWorker w(fx.env, pod);
    w.Sync();
    fx.runtime.Exit("app", 0);
    w.Sync();
    clock.Advance(std::chrono::hours(1));
    w.Sync();
    Json st = fx.api.PodStatus("ok");
    EXPECT_EQ(Phase(st), "Succeeded") << st.dump(2);
    EXPECT_EQ(ContainerStatusOf(st, "app")["state"]["terminated"]["reason"], "Completed");
    EXPECT_EQ(fx.runtime.Starts("app"), 1);
    w.Delete(Object());
    w.Sync();
  }
  {
    Object pod = fx.api.CreatePod(AppSpec("OnFailure"), "retry");
    int before = fx.runtime.Starts("app");
    PodWorker w(fx.env, pod);
    w.Sync();
    fx.runtime.Exit("app", 2);
    w.Sync();
    clock.Advance(10s);
    w.Sync();
    EXPECT_EQ(fx.runtime.Starts("app"), before + 2) << "OnFailure restarts a failed container";
    w.Delete(Object());
    w.Sync();
  }
  {
    Object pod = fx.api.CreatePod(AppSpec("Never"), "once");
    int before = fx.runtime.Starts("app");
    PodWorker w(fx.env, pod);
    w.Sync();
    fx.runtime.Exit("app", 3);
    w.Sync();
    clock.Advance(std::chrono::hours(1));
    w.Sync();
    Json st = fx.api.PodStatus("once");
    EXPECT_EQ(Phase(st), "Failed");
    EXPECT_EQ(ContainerStatusOf(st, "app")["state"]["terminated"]["exitCode"], 3);
    EXPECT_EQ(ContainerStatusOf(st, "app")["state"]["terminated"]["reason"], "Error");
    EXPECT_EQ(CondStatus(st, "Ready"), "False");
    EXPECT_EQ(fx.runtime.Starts("app"), before + 1);
  }
}

TEST(PodWorker, InitContainersRunInOrderBeforeTheContainers) {
  FakeClock clock;
  Fixture fx(&clock);
  Json spec = AppSpec();
  spec["initContainers"] = Json::array({{{"name", "i1"}, {"image", "bosun.test/busybox:1"}, {"args", {"-c", "true"}}},
                                        {{"name", "i2"}, {"image", "bosun.test/busybox:1"}, {"args", {"-c", "true"}}}});
  Object pod = fx.api.CreatePod(spec);
  PodWorker w(fx.env, pod);
  w.Sync();
  EXPECT_EQ(fx.runtime.StartOrder(), (std::vector<std::string>{"i1"}));
  Json st = fx.api.PodStatus();
  EXPECT_EQ(Phase(st), "Pending");
  EXPECT_EQ(CondStatus(st, "Initialized"), "False");
  EXPECT_EQ(ContainerStatusOf(st, "app")["state"]["waiting"]["reason"], "PodInitializing");
  EXPECT_TRUE(ContainerStatusOf(st, "i1", true)["state"].contains("running"));
  fx.runtime.Exit("i1", 0);
  w.Sync();
  EXPECT_EQ(fx.runtime.StartOrder(), (std::vector<std::string>{"i1", "i2"}));
  fx.runtime.Exit("i2", 0);
  w.Sync();
  EXPECT_EQ(fx.runtime.StartOrder(), (std::vector<std::string>{"i1", "i2", "app"}));
  st = fx.api.PodStatus();
  EXPECT_EQ(Phase(st), "Running");
  EXPECT_EQ(CondStatus(st, "Initialized"), "True");
  EXPECT_EQ(ContainerStatusOf(st, "i2", true)["state"]["terminated"]["reason"], "Completed");

  // A failing init container with restartPolicy Never fails the pod.
  Json never = spec;
  never["restartPolicy"] = "Never";
  Object pod2 = fx.api.CreatePod(never, "broken");
  PodWorker w2(fx.env, pod2);
  w2.Sync();
  fx.runtime.Exit("i1", 1);
  w2.Sync();
  EXPECT_EQ(Phase(fx.api.PodStatus("broken")), "Failed");
}

TEST(PodWorker, LivenessFailureRestartsTheContainer) {
  FakeClock clock;
  Fixture fx(&clock);
  Json spec = AppSpec();
  spec["terminationGracePeriodSeconds"] = 5;
  spec["containers"][0]["livenessProbe"] = {{"exec", {{"command", {"check-live"}}}}, {"periodSeconds", 10}};
  Object pod = fx.api.CreatePod(spec);
  fx.runtime.SetExecExit("check-live", 1);
  PodWorker w(fx.env, pod);
  w.Sync();  // failure 1
  clock.Advance(10s);
  w.Sync();  // failure 2
  EXPECT_EQ(ContainerStatusOf(fx.api.PodStatus(), "app")["restartCount"], 0);
  clock.Advance(10s);
  w.Sync();  // failure 3: killed with the pod's grace period
  EXPECT_EQ(fx.runtime.last_grace(), 5s);
  fx.runtime.SetExecExit("check-live", 0);
  clock.Advance(10s);
  w.Sync();
  Json cs = ContainerStatusOf(fx.api.PodStatus(), "app");
  EXPECT_EQ(cs["restartCount"], 1) << cs.dump();
  EXPECT_TRUE(cs["state"].contains("running"));
  EXPECT_EQ(cs["lastState"]["terminated"]["exitCode"], 143);
  EXPECT_EQ(fx.runtime.Starts("app"), 2);
}

TEST(PodWorker, ReadinessFlipsTheReadyCondition) {
  FakeClock clock;
  Fixture fx(&clock);
  state::EventRecorder events(&fx.api.client(), &clock, "node/n1");
  fx.env.events = &events;
  Json spec = AppSpec();
  spec["containers"][0]["readinessProbe"] = {{"exec", {{"command", {"check-ready"}}}}, {"periodSeconds", 5}};
  Object pod = fx.api.CreatePod(spec);
  fx.runtime.SetExecExit("check-ready", 1);
  PodWorker w(fx.env, pod);
  w.Sync();
  Json st = fx.api.PodStatus();
  EXPECT_EQ(Phase(st), "Running");
  EXPECT_EQ(CondStatus(st, "Ready"), "False");
  EXPECT_FALSE(ContainerStatusOf(st, "app")["ready"].get<bool>());
  // Why, as a person (and revision health) reads it: in the Ready
  // condition, and as the kubelet's Unhealthy Event.
  std::string ready_message;
  for (const Json& c : st["conditions"]) {
    if (c.value("type", "") == "Ready") ready_message = c.value("message", "");
  }
  EXPECT_EQ(ready_message,
            "containers with unready status: [app]; app: Readiness probe failed: command "
            "\"check-ready\" exited with 1");
  events.Flush();
  auto list = fx.api.client().List(*KindRegistry::Builtin().FindKind("Event"), "default");
  ASSERT_TRUE(list.ok());
  bool unhealthy = false;
  for (const Object& e : list->items) {
    unhealthy = unhealthy || (e.json().value("reason", "") == "Unhealthy" &&
                              e.json().value("message", "").rfind("Readiness probe failed: ", 0) == 0);
  }
  EXPECT_TRUE(unhealthy);
  fx.runtime.SetExecExit("check-ready", 0);
  clock.Advance(5s);
  w.Sync();
  EXPECT_EQ(CondStatus(fx.api.PodStatus(), "Ready"), "True");
  EXPECT_TRUE(ContainerStatusOf(fx.api.PodStatus(), "app")["ready"].get<bool>());
  fx.runtime.SetExecExit("check-ready", 1);
  for (int i = 0; i < 2; ++i) {
    clock.Advance(5s);
    w.Sync();
    EXPECT_EQ(CondStatus(fx.api.PodStatus(), "Ready"), "True") << "ready until failureThreshold (3) failures";
  }
  clock.Advance(5s);
  w.Sync();
  EXPECT_EQ(CondStatus(fx.api.PodStatus(), "Ready"), "False");
  EXPECT_EQ(fx.runtime.Starts("app"), 1) << "readiness never restarts";
}

TEST(PodWorker, StartupProbeGatesLivenessAndReadiness) {
  FakeClock clock;
  Fixture fx(&clock);
  Json spec = AppSpec();
  spec["containers"][0]["resources"] = {{"limits", {{"cpu", "500m"}, {"memory", "64Mi"}}}};
  spec["containers"][0]["startupProbe"] = {{"exec", {{"command", {"check-started"}}}},
                                           {"periodSeconds", 5},
                                           {"failureThreshold", 30}};
  spec["containers"][0]["livenessProbe"] = {{"exec", {{"command", {"check-live"}}}}, {"periodSeconds", 10}};
  Object pod = fx.api.CreatePod(spec);
  fx.runtime.SetExecExit("check-started", 1);
  fx.runtime.SetExecExit("check-live", 1);  // would kill the container if it ran before startup passed
  PodWorker w(fx.env, pod);
  for (int i = 0; i < 6; ++i) {
    w.Sync();
    clock.Advance(5s);
  }
  Json st = fx.api.PodStatus();
  EXPECT_FALSE(ContainerStatusOf(st, "app")["started"].get<bool>());
  EXPECT_FALSE(ContainerStatusOf(st, "app")["ready"].get<bool>());
  EXPECT_EQ(CondStatus(st, "Ready"), "False");
  EXPECT_EQ(st.value("qosClass", ""), "Guaranteed");
  int startup_runs = 0;
  for (const auto& c : fx.runtime.Calls()) {
    EXPECT_EQ(c.find("check-live"), std::string::npos) << "liveness ran before the startup probe passed";
    EXPECT_NE(c.rfind("stop ", 0), 0u) << c;
    startup_runs += c.find("check-started") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(startup_runs, 6) << "the startup probe runs every periodSeconds";
  fx.runtime.SetExecExit("check-started", 0);
  fx.runtime.SetExecExit("check-live", 0);
  w.Sync();
  st = fx.api.PodStatus();
  EXPECT_TRUE(ContainerStatusOf(st, "app")["started"].get<bool>());
  EXPECT_TRUE(ContainerStatusOf(st, "app")["ready"].get<bool>());
  EXPECT_EQ(CondStatus(st, "Ready"), "True");
  EXPECT_EQ(fx.runtime.Starts("app"), 1);
}

TEST(PodWorker, ImagePullFailureBacksOff) {
  FakeClock clock;
  Fixture fx(&clock);
  Json spec = AppSpec();
  spec["containers"][0]["image"] = "bosun.test/missing:1";
  Object pod = fx.api.CreatePod(spec);
  PodWorker w(fx.env, pod);
  w.Sync();
  Json cs = ContainerStatusOf(fx.api.PodStatus(), "app");
  EXPECT_EQ(cs["state"]["waiting"]["reason"], "ErrImagePull");
  EXPECT_NE(cs["state"]["waiting"]["message"].get<std::string>().find("manifest unknown"), std::string::npos);
  EXPECT_EQ(Phase(fx.api.PodStatus()), "Pending");
  w.Sync();
  EXPECT_EQ(ContainerStatusOf(fx.api.PodStatus(), "app")["state"]["waiting"]["reason"], "ImagePullBackOff");
  EXPECT_EQ(fx.images.pulls(), 1);
  clock.Advance(10s);
  w.Sync();
  EXPECT_EQ(fx.images.pulls(), 2);
}

// The node says what happened to a pod as a kubelet does, in Events about
// it (`bosun describe pod` shows them): a failed pull, a container started,
// a crash and its back-off. Repeats are counted, not added.
TEST(PodWorker, TheNodeRecordsEventsAboutThePod) {
  FakeClock clock;
  Fixture fx(&clock);
  state::EventRecorder events(&fx.api.client(), &clock, "node/n1");
  fx.env.events = &events;
  Json spec = AppSpec();
  spec["containers"][0]["image"] = "bosun.test/missing:1";
  Object missing = fx.api.CreatePod(spec, "missing");
  Object crashing = fx.api.CreatePod(AppSpec(), "crashing");
  {
    PodWorker w(fx.env, missing);
    w.Sync();
    clock.Advance(10s);
    w.Sync();  // the second pull fails the same way
  }
  PodWorker w(fx.env, crashing);
  w.Sync();
  fx.runtime.Exit("app", 3);
  w.Sync();
  events.Flush();
  auto list = fx.api.client().List(*KindRegistry::Builtin().FindKind("Event"), "default");
  ASSERT_TRUE(list.ok());
  std::map<std::string, std::pair<std::string, int64_t>> got;  // "pod reason" -> message, count
  for (const Object& e : list->items) {
    const Json& j = e.json();
    got[j["involvedObject"].value("name", "") + " " + j.value("reason", "")] = {j.value("message", ""),
                                                                                j.value("count", int64_t{0})};
    EXPECT_EQ(j["source"].value("component", ""), "node/n1");
  }
  ASSERT_TRUE(got.count("missing Failed")) << ::testing::PrintToString(got);
  EXPECT_EQ(got["missing Failed"].first,
            "Failed to pull image \"bosun.test/missing:1\": pulling bosun.test/missing:1: manifest unknown");
  EXPECT_EQ(got["missing Failed"].second, 2);
  EXPECT_EQ(got["crashing Started"].first, "Started container app");
  EXPECT_EQ(got["crashing BackOff"].first, "Back-off restarting failed container app (exit code 3)");
  EXPECT_EQ(got.count("missing Started"), 0u);
}

TEST(PodWorker, DeletionStopsAndCleansEverything) {
  FakeClock clock;
  Fixture fx(&clock);
  Json spec = AppSpec();
  spec["containers"].push_back({{"name", "side"}, {"image", "bosun.test/busybox:1"}});
  Object pod = fx.api.CreatePod(spec);
  PodWorker w(fx.env, pod);
  w.Sync();
  EXPECT_EQ(fx.runtime.ContainerCount(), 2u);
  EXPECT_EQ(fx.volumes.count(), 1u);
  w.Delete(pod);
  w.Sync();
  EXPECT_TRUE(w.done());
  EXPECT_EQ(fx.runtime.last_grace(), 30s) << "terminationGracePeriodSeconds defaults to 30";
  EXPECT_EQ(fx.runtime.ContainerCount(), 0u);
  EXPECT_EQ(fx.runtime.SandboxCount(), 0u);
  EXPECT_EQ(fx.network.attached(), 0u);
  EXPECT_EQ(fx.volumes.count(), 0u);
}

TEST(PodWorker, AdoptsRunningContainersWithoutRestartingThem) {
  FakeClock clock;
  Fixture fx(&clock);
  Object pod = fx.api.CreatePod(AppSpec("Never"));
  // A previous daemon ran attempt 2 of "app" (two restarts).
  Sandbox sb = *fx.runtime.RunPodSandbox(SandboxConfig{pod.uid(), "default", "web", "web", {}});
  ContainerConfig cc;
  cc.name = "app";
  cc.attempt = 2;
  (void)fx.runtime.StartContainer(sb, cc);
  PodWorker w(fx.env, pod, *fx.runtime.ListContainers());
  w.Sync();
  EXPECT_EQ(fx.runtime.Starts("app"), 1) << "the adopted container was started again";
  Json cs = ContainerStatusOf(fx.api.PodStatus(), "app");
  EXPECT_EQ(cs["restartCount"], 2);
  EXPECT_TRUE(cs["state"].contains("running"));
  // It exits while we look away: reported, not restarted (Never).
  fx.runtime.Exit("app", 7);
  PodWorker w2(fx.env, *fx.api.client().Get(*KindRegistry::Builtin().FindKind("Pod"), "default", "web"),
               *fx.runtime.ListContainers());
  w.Stop();
  w2.Sync();
  Json st = fx.api.PodStatus();
  EXPECT_EQ(Phase(st), "Failed");
  EXPECT_EQ(ContainerStatusOf(st, "app")["state"]["terminated"]["exitCode"], 7);
  EXPECT_EQ(fx.runtime.Starts("app"), 1);
}

// A pod that had ended (a Job's, run to completion) before the node was
// stopped, which removed its containers, is not run again when the node
// starts: the kubelet never restarts a terminal pod, and a migration must
// run once, not once per restart.
TEST(PodWorker, APodThatEndedBeforeIsNotRunAgain) {
  FakeClock clock;
  Fixture fx(&clock);
  for (const char* phase : {"Succeeded", "Failed"}) {
    Object pod = fx.api.CreatePod(AppSpec("Never"), std::string("done-") + (phase[0] == 'S' ? "ok" : "bad"));
    pod.json()["status"] = {{"phase", phase},
                            {"containerStatuses",
                             {{{"name", "app"},
                               {"ready", false},
                               {"restartCount", 0},
                               {"state", {{"terminated", {{"exitCode", phase[0] == 'S' ? 0 : 1}}}}}}}}};
    auto written = fx.api.client().UpdateStatus(pod);
    ASSERT_TRUE(written.ok()) << written.error().message();
    int before = fx.runtime.Starts("app");
    PodWorker w(fx.env, *written, *fx.runtime.ListContainers());
    w.Sync();
    clock.Advance(std::chrono::minutes(1));
    w.Sync();
    EXPECT_EQ(fx.runtime.Starts("app"), before) << phase << ": the pod ran again";
    EXPECT_EQ(Phase(fx.api.PodStatus(pod.name())), phase);
    w.Delete(Object());
    w.Sync();
  }
  // A pod the worker runs itself still runs (its status is not ended yet).
  Object fresh = fx.api.CreatePod(AppSpec("Never"), "fresh");
  int before = fx.runtime.Starts("app");
  PodWorker w(fx.env, fresh);
  w.Sync();
  EXPECT_EQ(fx.runtime.Starts("app"), before + 1);
}

// A pod that ran on this node before its containers were removed (bosun up
// stopped, the machine rebooted) keeps counting: its containers start again
// as restarts, as a kubelet counts them, not at 0.
TEST(PodWorker, APodRunAgainAfterTheNodeStoppedCountsItAsARestart) {
  FakeClock clock;
  Fixture fx(&clock);
  Object pod = fx.api.CreatePod(AppSpec("Always"));
  pod.json()["status"] = {{"phase", "Running"},
                          {"containerStatuses",
                           {{{"name", "app"},
                             {"containerID", "bosun://" + pod.uid() + "_app_2"},
                             {"ready", true},
                             {"restartCount", 2},
                             {"state", {{"running", {{"startedAt", "2026-11-25T01:00:00Z"}}}}}}}}};
  auto written = fx.api.client().UpdateStatus(pod);
  ASSERT_TRUE(written.ok()) << written.error().message();
  PodWorker w(fx.env, *written, *fx.runtime.ListContainers());
  w.Sync();
  EXPECT_EQ(fx.runtime.Starts("app"), 1);
  EXPECT_EQ(ContainerStatusOf(fx.api.PodStatus(), "app")["restartCount"], 3);

  // One that never ran (no containerID) starts at 0.
  Object fresh = fx.api.CreatePod(AppSpec("Always"), "fresh");
  fresh.json()["status"] = {
      {"phase", "Pending"},
      {"containerStatuses",
       {{{"name", "app"}, {"restartCount", 0}, {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}}}}};
  auto pending = fx.api.client().UpdateStatus(fresh);
  ASSERT_TRUE(pending.ok());
  PodWorker w2(fx.env, *pending);
  w2.Sync();
  EXPECT_EQ(ContainerStatusOf(fx.api.PodStatus("fresh"), "app")["restartCount"], 0);
}

// A container whose monitor (shim) died runs on unwatched: no logs, no exit
// seen, exec cannot reach it, and the pod looked ContainerCreating forever.
// The worker stops it and starts it again under a new one, and says so.
TEST(PodWorker, AContainerWhoseMonitorDiedIsRestarted) {
  FakeClock clock;
  Fixture fx(&clock);
  state::EventRecorder events(&fx.api.client(), &clock, "node/n1");
  fx.env.events = &events;
  Object pod = fx.api.CreatePod(AppSpec("Always"));
  PodWorker w(fx.env, pod);
  w.Sync();
  ASSERT_EQ(fx.runtime.Starts("app"), 1);
  fx.runtime.LoseMonitor("app");
  w.Sync();
  clock.Advance(10s);
  w.Sync();
  EXPECT_EQ(fx.runtime.Starts("app"), 2);
  Json cs = ContainerStatusOf(fx.api.PodStatus(), "app");
  EXPECT_EQ(cs["restartCount"], 1);
  EXPECT_TRUE(cs["state"].contains("running")) << cs.dump();
  events.Flush();
  auto list = fx.api.client().List(*KindRegistry::Builtin().FindKind("Event"), "default");
  ASSERT_TRUE(list.ok());
  bool said = false;
  for (const Object& e : list->items) said = said || e.json().value("reason", "") == "MonitorLost";
  EXPECT_TRUE(said);
}

}  // namespace
}  // namespace bosun::node::testing
