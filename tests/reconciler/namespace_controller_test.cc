// The namespace controller against a real API server (test::InProcessApi):
// deleting a Namespace removes everything in it, then the Namespace itself,
// and nothing in any other namespace.
#include "reconciler/namespace_controller.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/api_harness.h"
#include "tests/test_support.h"

namespace bosun::reconciler {
namespace {

using namespace std::chrono_literals;

const KindInfo& Kind(const char* k) { return *KindRegistry::Builtin().FindKind(k); }

class NamespaceControllerTest : public ::testing::Test {
 protected:
  void SetUp() override { api_.CreateNamespaces({"shop", "other"}); }
  void Start() {
    ManagerOptions mo;
    mo.sync_timeout = 10s;
    mgr_ = std::make_unique<ControllerManager>(&api_.client(), &Clock::System(), mo);
    NamespaceControllerOptions o;
    o.recheck = 100ms;
    ASSERT_TRUE(AddNamespaceController(*mgr_, o));
    auto s = mgr_->Start();
    ASSERT_TRUE(s) << s.error().message();
  }
  void TearDown() override {
    if (mgr_) mgr_->Stop();
  }

  void Create(const char* kind, const std::string& ns, const std::string& name) {
    Object o(Kind(kind).gvk, ns, name);
    if (std::string(kind) == "ConfigMap") o.json()["data"] = {{"k", "v"}};
    if (std::string(kind) == "Pod" || std::string(kind) == "Deployment") {
      Json pod_spec = {{"containers", Json::array({{{"name", "main"}, {"image", "busybox"}}})}};
      if (std::string(kind) == "Pod") {
        o.json()["spec"] = pod_spec;
      } else {
        o.json()["spec"] = {{"replicas", 1},
                            {"selector", {{"matchLabels", {{"app", name}}}}},
                            {"template", {{"metadata", {{"labels", {{"app", name}}}}}, {"spec", pod_spec}}}};
      }
    }
    auto r = api_.client().Create(o);
    ASSERT_TRUE(r) << o.Describe() << ": " << r.error().message();
  }
  // DELETE of Namespace `name`: it is Terminating.
  Object DeleteNamespace(const std::string& name) {
    auto del = api_.client().Delete(Kind("Namespace"), "", name);
    EXPECT_TRUE(del) << del.error().message();
    return del ? *del : Object();
  }
  // Sets `ns`'s finalizers through /finalize (none left: the Namespace goes).
  void Finalize(Object ns, Json finalizers) {
    ns.json()["spec"]["finalizers"] = std::move(finalizers);
    auto r = api_.client().FinalizeNamespace(ns);
    EXPECT_TRUE(r) << r.error().message();
  }
  bool Exists(const char* kind, const std::string& ns, const std::string& name) {
    return api_.client().Get(Kind(kind), ns, name).ok();
  }

  test::TempDir dir_{"bosun-nsctl"};
  test::InProcessApi api_{dir_.Sub("db")};
  std::unique_ptr<ControllerManager> mgr_;
};

TEST_F(NamespaceControllerTest, DeletingANamespaceDeletesWhatIsInItThenTheNamespace) {
  Create("ConfigMap", "shop", "web-config");
  Create("Secret", "shop", "db");
  Create("Deployment", "shop", "web");
  Create("Pod", "shop", "web-1");
  Create("ConfigMap", "other", "web-config");
  Create("ConfigMap", "default", "kept");
  Start();

  EXPECT_TRUE(DeleteNamespace("shop").deletion_timestamp());

  ASSERT_TRUE(test::Eventually([&] { return !Exists("Namespace", "", "shop"); }, 10s))
      << "the namespace must go once it is empty";
  for (const char* kind : {"ConfigMap", "Secret", "Deployment", "Pod"}) {
    EXPECT_EQ(api_.client().List(Kind(kind), "shop")->items.size(), 0u) << kind;
  }
  EXPECT_TRUE(Exists("ConfigMap", "other", "web-config")) << "other namespaces are untouched";
  EXPECT_TRUE(Exists("ConfigMap", "default", "kept"));
  EXPECT_TRUE(Exists("Namespace", "", "other"));
  EXPECT_TRUE(Exists("Namespace", "", "default")) << "made at the start, as Kubernetes has it";

  // The name is free again: a new namespace of it starts empty.
  api_.CreateNamespaces({"shop"});
  Create("ConfigMap", "shop", "fresh");
  EXPECT_TRUE(Exists("ConfigMap", "shop", "fresh"));
}

// The controller releases only its own finalizer ("kubernetes"): another
// writer's holds the emptied Namespace until that writer lets go.
TEST_F(NamespaceControllerTest, AnotherWritersFinalizerHoldsTheEmptiedNamespace) {
  Create("ConfigMap", "shop", "a");
  Finalize(DeleteNamespace("shop"), Json::array({"kubernetes", "example.com/backup"}));
  Start();
  ASSERT_TRUE(test::Eventually([&] { return !Exists("ConfigMap", "shop", "a"); }, 10s));
  ASSERT_TRUE(test::Eventually(
      [&] {
        auto ns = api_.client().Get(Kind("Namespace"), "", "shop");
        return ns && ns->spec()["finalizers"] == Json::array({"example.com/backup"});
      },
      10s));
  auto ns = api_.client().Get(Kind("Namespace"), "", "shop");
  ASSERT_TRUE(ns);
  Finalize(*ns, Json::array());
  EXPECT_FALSE(Exists("Namespace", "", "shop"));
}

// A namespace left Terminating by a leader that stopped (no controller ran)
// is finished by the next one that starts: the state is the Namespace.
TEST_F(NamespaceControllerTest, ANamespaceLeftTerminatingIsFinishedByTheNextController) {
  Create("ConfigMap", "shop", "a");
  DeleteNamespace("shop");
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(Exists("Namespace", "", "shop")) << "nothing finishes it without the controller";
  EXPECT_TRUE(Exists("ConfigMap", "shop", "a"));
  Start();
  ASSERT_TRUE(test::Eventually([&] { return !Exists("Namespace", "", "shop"); }, 10s));
  EXPECT_FALSE(Exists("ConfigMap", "shop", "a"));
}

// A store an older bosun wrote may hold objects in a namespace it never
// made (it did not check). At the start the controller makes that
// Namespace, so the controllers that create pods or ReplicaSets next to
// those objects are not refused.
TEST_F(NamespaceControllerTest, ObjectsInANamespaceWithoutItsObjectGetTheirNamespaceAtTheStart) {
  Create("Deployment", "shop", "web");
  // The Namespace goes, its content stays: as an older bosun could leave it.
  Finalize(DeleteNamespace("shop"), Json::array());
  ASSERT_FALSE(Exists("Namespace", "", "shop"));
  ASSERT_TRUE(Exists("Deployment", "shop", "web"));
  Start();
  ASSERT_TRUE(test::Eventually([&] { return Exists("Namespace", "", "shop"); }, 10s));
  EXPECT_TRUE(Exists("Deployment", "shop", "web"));
  Create("Pod", "shop", "web-1");  // what a ReplicaSet controller would do
}

}  // namespace
}  // namespace bosun::reconciler
