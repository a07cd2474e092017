// The batch's two answers (docs/API.md "Batch"), against a real API server
// over a real RocksDB store (test::InProcessApi): the full answer (the
// default) and the short one (?answer=short, Client::Batch with
// BatchAnswer::kShort), from which the client rebuilds the objects as stored;
// and an update that writes its status in the same transaction (withStatus).
#include <atomic>
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/kinds.h"
#include "crypto/tokens.h"
#include "state/secret_redaction.h"
#include "state/client.h"
#include "tests/api_harness.h"
#include "tests/state/api_test_support.h"
#include "tests/state/client_test_objects.h"
#include "tests/test_support.h"

namespace bosun::state {
namespace {

using ::testing::StartsWith;

using clienttest::ConfigMap;
using clienttest::Kind;


BatchOp Op(BatchOp::Type type, Object o, bool with_status = false) {
  BatchOp op;
  op.type = type;
  op.object = std::move(o);
  op.with_status = with_status;
  return op;
}

BatchOp DeleteOp(const KindInfo& kind, const std::string& ns, const std::string& name) {
  BatchOp op;
  op.type = BatchOp::Type::kDelete;
  op.kind = &kind;
  op.ns = ns;
  op.name = name;
  return op;
}

class BatchAnswerTest : public ::testing::Test {
 protected:
  Client& client() { return api_.client(); }

  Object Get(const char* resource, const std::string& ns, const std::string& name) {
    auto o = client().Get(Kind(resource), ns, name);
    EXPECT_TRUE(o.ok()) << resource << " " << ns << "/" << name << ": " << (o.ok() ? "" : o.error().message());
    return o.ok() ? *o : Object();
  }

  // A Deployment with a status written through /status, as a controller would.
  Object DeploymentWithStatus(const std::string& name) {
    auto web = client().Create(Object(Json(apitest::Deployment(name))));
    EXPECT_TRUE(web.ok()) << web.error().message();
    Object with_status = *web;
    with_status.json()["status"] = {{"replicas", 1}, {"observedGeneration", 1}};
    auto st = client().UpdateStatus(with_status);
    EXPECT_TRUE(st.ok()) << st.error().message();
    return st.ok() ? *st : Object();
  }

  // The same five writes, on names ending in `suffix`: a create that takes
  // the default namespace, a cluster-scoped create, a generateName create,
  // an update of a Deployment that has a status, and a delete.
  std::vector<BatchOp> Writes(const std::string& suffix) {
    auto old = client().Create(ConfigMap("shop", "old" + suffix));
    EXPECT_TRUE(old.ok()) << old.error().message();
    Object web = DeploymentWithStatus("web" + suffix);
    web.json()["spec"]["replicas"] = 3;
    web.json().erase("status");  // the client's copy: what the server keeps is not in it
    Object unnamed = ConfigMap("shop", "");
    unnamed.json()["metadata"].erase("name");
    unnamed.json()["metadata"]["generateName"] = "gen" + suffix + "-";
    return {Op(BatchOp::Type::kCreate, ConfigMap("", "a" + suffix)),
            Op(BatchOp::Type::kCreate, Object(GroupVersionKind{"", "v1", "Namespace"}, "", "ns" + suffix)),
            Op(BatchOp::Type::kCreate, unnamed), Op(BatchOp::Type::kUpdate, web),
            DeleteOp(Kind("configmaps"), "shop", "old" + suffix)};
  }

  test::TempDir dir_{"bosun-batch-answer"};
  test::InProcessApi api_{dir_.path()};
  void SetUp() override { api_.CreateNamespaces({"shop"}); }
};

// Also when the batch takes the ops' objects (Batch(std::move(ops)), which
// moves each into its item instead of copying it), and when it goes to the
// server in this process (ClientOptions::local_batch: no JSON either way).
TEST_F(BatchAnswerTest, BothAnswersGiveTheObjectsAsStored) {
  struct Case {
    BatchAnswer answer;
    bool take;
    bool local;
    const char* suffix;
  };
  std::atomic<int> taken{0};
  auto local = api_.NewLocalClient(&taken);
  for (const Case& k :
       {Case{BatchAnswer::kObjects, false, false, "-full"}, Case{BatchAnswer::kShort, false, false, "-short"},
        Case{BatchAnswer::kShort, true, false, "-taken"}, Case{BatchAnswer::kShort, false, true, "-local"},
        Case{BatchAnswer::kShort, true, true, "-local-taken"}, Case{BatchAnswer::kObjects, true, true, "-lf"}}) {
    const BatchAnswer answer = k.answer;
    const std::string suffix = k.suffix;
    SCOPED_TRACE(suffix);
    std::vector<BatchOp> ops = Writes(suffix);
    const int64_t before = api_.store().revision();
    const int taken_before = taken.load();
    Client& c = k.local ? *local : client();
    auto r = k.take ? c.Batch(std::move(ops), answer) : c.Batch(ops, answer);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(taken.load() - taken_before, k.local ? 1 : 0);
    ASSERT_EQ(r->items.size(), 5u);
    EXPECT_EQ(r->resource_version, std::to_string(before + 1));

    // Every written object is exactly what a Get reads: server-set fields,
    // the filled-in namespace, the generated name, the stored status.
    EXPECT_EQ(r->items[0], Get("configmaps", "default", "a" + suffix));
    EXPECT_EQ(r->items[1], Get("namespaces", "", "ns" + suffix));
    EXPECT_FALSE(r->items[1].json()["metadata"].contains("namespace"));
    EXPECT_THAT(r->items[2].name(), StartsWith("gen" + suffix + "-"));
    EXPECT_EQ(r->items[2], Get("configmaps", "shop", r->items[2].name()));
    Object web = Get("deployments", "default", "web" + suffix);
    EXPECT_EQ(r->items[3], web);
    EXPECT_EQ(web.status()["replicas"], 1);           // the update kept it
    EXPECT_EQ(web.json()["metadata"]["generation"], 2);  // and counted the spec change
    EXPECT_EQ(web.json()["spec"]["replicas"], 3);

    // A delete: the object's identity at the batch's revision; the full
    // answer also has its last state.
    const Object& gone = r->items[4];
    EXPECT_EQ(gone.name(), "old" + suffix);
    EXPECT_EQ(gone.namespace_(), "shop");
    EXPECT_FALSE(gone.uid().empty());
    EXPECT_EQ(gone.resource_version(), r->resource_version);
    // (In this process the answer is always the full one: it costs nothing.)
    EXPECT_EQ(gone.json().contains("data"), answer == BatchAnswer::kObjects || k.local);
    EXPECT_EQ(client().Get(Kind("configmaps"), "shop", "old" + suffix).error().code(), Code::kNotFound);
  }
}

TEST_F(BatchAnswerTest, TheShortAnswerCarriesOnlyWhatTheServerSet) {
  apitest::Client raw(api_.url(), api_.token());
  Object web = DeploymentWithStatus("web");
  web.json()["spec"]["replicas"] = 2;
  Json cm = ConfigMap("default", "big").json();
  cm["data"]["blob"] = std::string(4096, 'x');
  Json body = {{"operations",
                {{{"op", "create"}, {"object", cm}},
                 {{"op", "update"}, {"object", web.json()}},
                 {{"op", "delete"}, {"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"namespace", "default"},
                  {"name", "big"}}}}};
  // Three separate keys: create "big" first on its own, so the delete has one.
  apitest::Resp first = raw.Post("/bosun/v1/batch?answer=short", {{"operations", {body["operations"][0]}}});
  ASSERT_EQ(first.code, 200) << first.text;
  cm["metadata"]["name"] = "big2";
  body["operations"][0]["object"] = cm;

  apitest::Resp r = raw.Post("/bosun/v1/batch?answer=short", body);
  ASSERT_EQ(r.code, 200) << r.text;
  EXPECT_EQ(r.json["kind"], "BatchResult");
  const std::string rv = r.json["resourceVersion"];
  const std::set<std::string> meta_fields = {"name",       "namespace",      "uid", "creationTimestamp",
                                             "generation", "resourceVersion"};
  ASSERT_EQ(r.json["items"].size(), 3u);
  for (const Json& item : r.json["items"]) {
    for (const auto& [field, value] : item.items()) {
      EXPECT_TRUE(field == "apiVersion" || field == "kind" || field == "metadata" || field == "status") << field;
    }
    for (const auto& [field, value] : item["metadata"].items()) EXPECT_TRUE(meta_fields.count(field)) << field;
    EXPECT_EQ(item["metadata"]["resourceVersion"], rv);
    EXPECT_FALSE(item["metadata"]["uid"].get<std::string>().empty());
  }
  const Json& created = r.json["items"][0];
  EXPECT_EQ(created["kind"], "ConfigMap");
  EXPECT_EQ(created["metadata"]["name"], "big2");
  EXPECT_EQ(created["metadata"]["generation"], 1);
  EXPECT_FALSE(created.contains("status"));
  // The update's item has the status the server kept, not the spec it got.
  const Json& updated = r.json["items"][1];
  EXPECT_EQ(updated["status"]["replicas"], 1);
  EXPECT_EQ(updated["metadata"]["generation"], 2);
  EXPECT_LT(r.text.size(), 2048u) << "the 4 KiB object came back";

  // The default answer is the objects themselves.
  cm["metadata"]["name"] = "big3";
  apitest::Resp full = raw.Post("/bosun/v1/batch", {{"operations", {{{"op", "create"}, {"object", cm}}}}});
  ASSERT_EQ(full.code, 200) << full.text;
  EXPECT_EQ(full.json["items"][0]["data"]["blob"], std::string(4096, 'x'));
  apitest::Resp named = raw.Post("/bosun/v1/batch?answer=full", {{"operations", Json::array()}});
  EXPECT_EQ(named.code, 200) << named.text;

  apitest::Resp bad = raw.Post("/bosun/v1/batch?answer=tiny", {{"operations", Json::array()}});
  EXPECT_EQ(bad.code, 400) << bad.text;
  EXPECT_THAT(bad.json["message"].get<std::string>(), ::testing::HasSubstr("answer must be"));
}

TEST_F(BatchAnswerTest, WithStatusWritesTheStatusInTheSameTransaction) {
  Object web = DeploymentWithStatus("web");
  Object cm = *client().Create(ConfigMap("default", "c"));

  // Spec and status together, with another object: one revision.
  Object next = web;
  next.json()["spec"]["replicas"] = 4;
  next.json()["status"] = {{"replicas", 4}};
  cm.json()["data"]["k"] = "w";
  const int64_t before = api_.store().revision();
  auto r = client().Batch({Op(BatchOp::Type::kUpdate, next, true), Op(BatchOp::Type::kUpdate, cm)},
                          BatchAnswer::kShort);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(api_.store().revision(), before + 1);
  Object stored = Get("deployments", "default", "web");
  EXPECT_EQ(stored.status(), Json({{"replicas", 4}}));
  EXPECT_EQ(stored.json()["spec"]["replicas"], 4);
  EXPECT_EQ(stored.json()["metadata"]["generation"], 2);
  EXPECT_EQ(r->items[0], stored);

  // Only the status differs: still written (a plain update would be a noop).
  Object status_only = stored;
  status_only.json()["status"]["availableReplicas"] = 4;
  r = client().Batch({Op(BatchOp::Type::kUpdate, status_only, true)}, BatchAnswer::kShort);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(api_.store().revision(), before + 2);
  stored = Get("deployments", "default", "web");
  EXPECT_EQ(stored.status()["availableReplicas"], 4);
  EXPECT_EQ(stored.json()["metadata"]["generation"], 2);
  EXPECT_EQ(r->items[0], stored);

  // A status written as null is stored as none, and the answer says so.
  Object cleared = stored;
  cleared.json()["status"] = nullptr;
  r = client().Batch({Op(BatchOp::Type::kUpdate, cleared, true)}, BatchAnswer::kShort);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(api_.store().revision(), before + 3);
  stored = Get("deployments", "default", "web");
  EXPECT_FALSE(stored.json().contains("status")) << stored.json().dump();
  EXPECT_EQ(r->items[0], stored);
  stored.json()["status"] = {{"replicas", 4}, {"availableReplicas", 4}};
  r = client().Batch({Op(BatchOp::Type::kUpdate, stored, true)}, BatchAnswer::kShort);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(api_.store().revision(), before + 4);
  stored = Get("deployments", "default", "web");
  EXPECT_EQ(r->items[0], stored);

  // Nothing differs: nothing is written.
  r = client().Batch({Op(BatchOp::Type::kUpdate, stored, true)});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(api_.store().revision(), before + 4);

  // Without withStatus the stored status stays, as before.
  Object plain = stored;
  plain.json()["status"] = {{"replicas", 99}};
  plain.json()["spec"]["replicas"] = 5;
  r = client().Batch({Op(BatchOp::Type::kUpdate, plain)}, BatchAnswer::kShort);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(Get("deployments", "default", "web").status()["replicas"], 4);
  EXPECT_EQ(r->items[0], Get("deployments", "default", "web"));

  // A malformed flag is the request's error.
  apitest::Client raw(api_.url(), api_.token());
  apitest::Resp bad = raw.Post(
      "/bosun/v1/batch", {{"operations", {{{"op", "update"}, {"withStatus", "yes"}, {"object", stored.json()}}}}});
  EXPECT_EQ(bad.code, 400) << bad.text;
  EXPECT_THAT(bad.json["message"].get<std::string>(), StartsWith("operations[0]: withStatus"));
}

// A large batch for this process is made on every core: a bad operation the
// client finds is still the first one, and none of it reaches the server.
TEST_F(BatchAnswerTest, ALargeLocalBatchNamesItsFirstBadOperationAndKeepsItsOrder) {
  std::atomic<int> taken{0};
  auto local = api_.NewLocalClient(&taken);
  std::vector<BatchOp> ops;
  for (int i = 0; i < 2000; ++i) ops.push_back(Op(BatchOp::Type::kCreate, ConfigMap("shop", "n" + std::to_string(i))));
  auto nameless_update = Op(BatchOp::Type::kUpdate, ConfigMap("shop", ""));
  for (auto [low, high] : {std::pair{1500, 1900}, std::pair{30, 1900}}) {
    SCOPED_TRACE(low);
    std::vector<BatchOp> bad = ops;
    bad[high] = nameless_update;
    bad[low] = nameless_update;
    auto r = local->Batch(std::move(bad), BatchAnswer::kShort);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Code::kInvalid);
    EXPECT_THAT(r.error().message(), StartsWith("operations[" + std::to_string(low) + "]: cannot update"));
  }
  EXPECT_EQ(taken.load(), 0);
  auto r = local->Batch(std::move(ops), BatchAnswer::kShort);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(taken.load(), 1);
  ASSERT_EQ(r->items.size(), 2000u);
  for (int i : {0, 511, 512, 1999}) {
    EXPECT_EQ(r->items[i], Get("configmaps", "shop", "n" + std::to_string(i)));
  }
}

// A batch handed to the server in this process fails as it would over HTTP
// (the same codes and messages naming the operation), hides Secret values
// from a user who may not read them, and goes over HTTP when the server does
// not take it (a member that does not lead, a stopped server).
TEST_F(BatchAnswerTest, ALocalBatchFailsAsOverHttpAndFallsBackWhenNotTaken) {
  std::atomic<int> taken{0};
  auto local = api_.NewLocalClient(&taken);
  ASSERT_TRUE(client().Create(ConfigMap("default", "there")).ok());

  // An invalid object: 422, the operation named, nothing written.
  Object bad = ConfigMap("default", "bad");
  bad.json()["data"] = {{"k", 1}};
  const int64_t before = api_.store().revision();
  auto r = local->Batch({Op(BatchOp::Type::kCreate, ConfigMap("default", "fine")), Op(BatchOp::Type::kCreate, bad)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalid);
  EXPECT_THAT(r.error().message(), StartsWith("operations[1]: "));
  auto over_http = client().Batch({Op(BatchOp::Type::kCreate, ConfigMap("default", "fine")), Op(BatchOp::Type::kCreate, bad)});
  ASSERT_FALSE(over_http.ok());
  EXPECT_EQ(over_http.error().code(), r.error().code());
  EXPECT_EQ(over_http.error().message(), r.error().message());
  EXPECT_EQ(api_.store().revision(), before);

  // A taken name, and an update of an object that is not there: 409.
  r = local->Batch({Op(BatchOp::Type::kCreate, ConfigMap("default", "there"))});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kAlreadyExists) << r.error().message();
  r = local->Batch({Op(BatchOp::Type::kUpdate, ConfigMap("default", "nowhere"))});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kConflict) << r.error().message();
  EXPECT_EQ(taken.load(), 3);

  // A token the server does not know: 401, as over HTTP.
  std::atomic<int> stranger_taken{0};
  auto stranger = api_.NewLocalClient(&stranger_taken, "not-a-token");
  r = stranger->Batch({Op(BatchOp::Type::kCreate, ConfigMap("default", "x"))});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kUnauthorized) << r.error().message();
  EXPECT_EQ(api_.store().revision(), before);

  // A user who may not read Secrets gets their values hidden in the answer.
  const std::string viewer_token = "viewer-token-0123456789abcdef";
  api_.auth().Add(crypto::HashToken(viewer_token), User{"viewer", {}});
  std::atomic<int> viewer_taken{0};
  auto viewer = api_.NewLocalClient(&viewer_taken, viewer_token);
  Object secret(Json{{"apiVersion", "v1"},
                     {"kind", "Secret"},
                     {"metadata", {{"name", "s"}, {"namespace", "default"}}},
                     {"data", {{"password", "aHVudGVyMg=="}}}});
  r = viewer->Batch({Op(BatchOp::Type::kCreate, secret)});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(viewer_taken.load(), 1);
  EXPECT_EQ(r->items[0].json()["data"]["password"], RedactedValue(7));
  EXPECT_EQ(Get("secrets", "default", "s").json()["data"]["password"], "aHVudGVyMg==");

  // Not taken (here: a stopped server; on a member that does not lead the
  // same): the ops, objects taken or not, go over HTTP as they are.
  ClientOptions co;
  co.servers = {api_.url()};
  co.token = api_.token();
  int declined = 0;
  co.local_batch = [&declined](Json*, std::function<void(int, Json)>) {
    ++declined;
    return false;
  };
  auto declining = std::move(*Client::Create(co));
  std::vector<BatchOp> ops = {Op(BatchOp::Type::kCreate, ConfigMap("", "via-http")),
                              DeleteOp(Kind("configmaps"), "default", "there")};
  r = declining->Batch(std::move(ops), BatchAnswer::kShort);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(declined, 1);
  EXPECT_EQ(r->items[0], Get("configmaps", "default", "via-http"));
  EXPECT_EQ(client().Get(Kind("configmaps"), "default", "there").error().code(), Code::kNotFound);

  api_.server().Stop();
  Json body = {{"operations", Json::array({{{"op", "create"}, {"object", ConfigMap("default", "late").json()}}})}};
  bool called = false;
  EXPECT_FALSE(api_.server().Batch("Bearer " + api_.token(), &body,
                                   [&called](int, Json) { called = true; }));
  EXPECT_FALSE(called);
  EXPECT_EQ(body["operations"].size(), 1u) << "a batch not taken is left to the caller";
}

}  // namespace
}  // namespace bosun::state
