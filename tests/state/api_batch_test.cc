// POST /bosun/v1/batch against the real API server (docs/API.md "Batch"):
// several writes in one store transaction, all or nothing, each following
// its single verb's rules, errors naming the operation.
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/state/api_test_support.h"

namespace bosun::state::apitest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kBatch = "/bosun/v1/batch";
constexpr const char* kCms = "/api/v1/namespaces/default/configmaps";
constexpr const char* kDeploys = "/apis/apps/v1/namespaces/default/deployments";

std::string Cm(const std::string& name, const std::string& ns = "default") {
  return "/api/v1/namespaces/" + ns + "/configmaps/" + name;
}
std::string Dep(const std::string& name) {
  return std::string(kDeploys) + "/" + name;
}

Json Create(Json obj) {
  return {{"op", "create"}, {"object", std::move(obj)}};
}
Json Update(Json obj) {
  return {{"op", "update"}, {"object", std::move(obj)}};
}
Json DeleteCm(const std::string& name, const std::string& rv = "") {
  Json j = {{"op", "delete"}, {"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"namespace", "default"}, {"name", name}};
  if (!rv.empty()) j["resourceVersion"] = rv;
  return j;
}
Json Ops(std::vector<Json> ops) {
  return {{"operations", ops}};
}

std::vector<std::string> CauseFields(const Resp& r) {
  std::vector<std::string> fields;
  for (const auto& cause : r.json["details"]["causes"]) fields.push_back(cause["field"]);
  return fields;
}

// A batch creates content only in namespaces that exist or that it creates
// itself; the error names the first operation that needs a missing one, and
// nothing of the batch is written.
TEST(ApiBatch, ContentNeedsANamespaceThatExistsOrThatTheBatchCreates) {
  Member m;
  Client& c = m.client();
  const int64_t before = m.store().revision();
  Json in_shop = ConfigMap("web");
  in_shop["metadata"]["namespace"] = "shop";
  Json in_shop2 = ConfigMap("api");
  in_shop2["metadata"]["namespace"] = "shop";
  Resp r = c.Post(kBatch, Ops({Create(ConfigMap("a")), Create(in_shop), Create(in_shop2)}));
  EXPECT_EQ(r.code, 404) << r.text;
  EXPECT_EQ(r.json["message"], "operations[1]: namespaces \"shop\" not found");
  EXPECT_EQ(m.store().revision(), before) << "nothing of the batch is written";

  // The Namespace in the same batch, after its content: one transaction.
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}};
  r = c.Post(kBatch, Ops({Create(in_shop), Create(ns)}));
  ASSERT_EQ(r.code, 200) << r.text;
  EXPECT_EQ(c.Get(Cm("web", "shop")).code, 200);

  // Content in a namespace the same batch deletes is refused.
  Json del = {{"op", "delete"}, {"apiVersion", "v1"}, {"kind", "Namespace"}, {"name", "shop"}};
  r = c.Post(kBatch, Ops({Create(in_shop2), del}));
  EXPECT_EQ(r.code, 400) << r.text;
  EXPECT_THAT(r.json["message"].get<std::string>(),
              HasSubstr("operations[0]: cannot create content in namespace \"shop\": operations[1] deletes it"));
  EXPECT_EQ(c.Get(Cm("api", "shop")).code, 404);

  // A batch's delete of a Namespace marks it Terminating, as DELETE does;
  // then nothing more goes in.
  r = c.Post(kBatch, Ops({del}));
  ASSERT_EQ(r.code, 200) << r.text;
  EXPECT_EQ(r.json["items"][0]["status"]["phase"], "Terminating");
  EXPECT_EQ(c.Get("/api/v1/namespaces/shop").json["status"]["phase"], "Terminating");
  // Also when the same batch updates the Namespace.
  Json relabelled = c.Get("/api/v1/namespaces/shop").json;
  relabelled["metadata"]["labels"] = {{"team", "shop"}};
  r = c.Post(kBatch, Ops({Update(relabelled), Create(in_shop2)}));
  EXPECT_EQ(r.code, 403) << r.text;
  r = c.Post(kBatch, Ops({Create(in_shop2)}));
  EXPECT_EQ(r.code, 403) << r.text;
  EXPECT_THAT(r.json["message"].get<std::string>(),
              HasSubstr("operations[0]: configmaps \"api\" is forbidden: unable to create new content in namespace "
                        "shop because it is being terminated"));
}

TEST(ApiBatch, WritesEveryKindInOneRevision) {
  Member m;
  Client& c = m.client();
  Resp old = c.Post(kCms, ConfigMap("old"));
  ASSERT_EQ(old.code, 201);
  Resp web = c.Post(kDeploys, Deployment("web"));
  ASSERT_EQ(web.code, 201);
  const int64_t before = m.store().revision();

  Json in_shop = ConfigMap("b");
  in_shop["metadata"]["namespace"] = "shop";
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}};
  Json scaled = web.json;
  scaled["spec"]["replicas"] = 3;
  Json unnamed = ConfigMap("");
  unnamed["metadata"].erase("name");
  unnamed["metadata"]["generateName"] = "gen-";
  Resp r = c.Post(kBatch, Ops({Create(ConfigMap("a")), Create(in_shop), Create(ns), Update(scaled), DeleteCm("old"),
                               Create(unnamed)}));
  ASSERT_EQ(r.code, 200) << r.text;
  EXPECT_EQ(r.json["kind"], "BatchResult");
  EXPECT_EQ(r.json["apiVersion"], "bosun.dev/v1");
  // One transaction: one new revision for all six.
  const std::string rv = std::to_string(before + 1);
  EXPECT_EQ(m.store().revision(), before + 1);
  EXPECT_EQ(r.json["resourceVersion"], rv);
  const Json& items = r.json["items"];
  ASSERT_EQ(items.size(), 6u);
  for (const Json& item : items) EXPECT_EQ(Rv(item), rv) << item.dump();

  // Creates got the server-set fields and are stored as answered.
  EXPECT_EQ(items[0]["metadata"]["namespace"], "default");  // an empty namespace means "default"
  EXPECT_EQ(items[0]["metadata"]["generation"], 1);
  EXPECT_FALSE(items[0]["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(items[0]["metadata"]["creationTimestamp"].get<std::string>().empty());
  EXPECT_EQ(c.Get(Cm("a")).json, items[0]);
  EXPECT_EQ(c.Get(Cm("b", "shop")).json, items[1]);
  EXPECT_EQ(c.Get("/api/v1/namespaces/shop").json, items[2]);
  EXPECT_FALSE(items[2]["metadata"].contains("namespace"));
  EXPECT_THAT(items[5]["metadata"]["name"].get<std::string>(), StartsWith("gen-"));
  EXPECT_EQ(items[5]["metadata"]["name"].get<std::string>().size(), 9u);

  // The update kept uid and creationTimestamp and counted the spec change.
  EXPECT_EQ(items[3]["spec"]["replicas"], 3);
  EXPECT_EQ(items[3]["metadata"]["generation"], 2);
  EXPECT_EQ(items[3]["metadata"]["uid"], web.json["metadata"]["uid"]);
  EXPECT_EQ(items[3]["metadata"]["creationTimestamp"], web.json["metadata"]["creationTimestamp"]);
  EXPECT_EQ(c.Get(Dep("web")).json, items[3]);

  // The delete answers the deleted object's last state at the batch's revision.
  EXPECT_EQ(items[4]["metadata"]["uid"], old.json["metadata"]["uid"]);
  EXPECT_EQ(c.Get(Cm("old")).code, 404);
}

TEST(ApiBatch, UpdateKeepsStatusAndCountsSpecChangesOnly) {
  Member m;
  Client& c = m.client();
  ASSERT_EQ(c.Post(kDeploys, Deployment("web")).code, 201);
  Json with_status = Deployment("web");
  with_status["status"] = {{"replicas", 1}};
  Resp st = c.Put(Dep("web") + "/status", with_status);
  ASSERT_EQ(st.code, 200) << st.text;

  // Labels only: generation stays; the stored status stays whatever the
  // batch says.
  Json relabelled = st.json;
  relabelled["metadata"]["labels"]["tier"] = "front";
  relabelled["status"] = {{"replicas", 42}};
  Resp r1 = c.Post(kBatch, Ops({Update(relabelled)}));
  ASSERT_EQ(r1.code, 200) << r1.text;
  EXPECT_EQ(r1.json["items"][0]["metadata"]["generation"], 1);
  EXPECT_EQ(r1.json["items"][0]["status"], Json({{"replicas", 1}}));
  EXPECT_EQ(r1.json["items"][0]["metadata"]["labels"]["tier"], "front");

  Json scaled = r1.json["items"][0];
  scaled["spec"]["replicas"] = 4;
  scaled["metadata"].erase("resourceVersion");
  Resp r2 = c.Post(kBatch, Ops({Update(scaled)}));
  ASSERT_EQ(r2.code, 200) << r2.text;
  EXPECT_EQ(r2.json["items"][0]["metadata"]["generation"], 2);
  EXPECT_EQ(c.Get(Dep("web")).json["status"], Json({{"replicas", 1}}));
}

TEST(ApiBatch, UnchangedUpdatesWriteNothing) {
  Member m;
  Client& c = m.client();
  Resp a = c.Post(kCms, ConfigMap("a"));
  ASSERT_EQ(a.code, 201);
  const int64_t before = m.store().revision();
  Resp r = c.Post(kBatch, Ops({Update(a.json)}));
  ASSERT_EQ(r.code, 200) << r.text;
  EXPECT_EQ(m.store().revision(), before);
  EXPECT_EQ(r.json["items"][0], a.json);
  EXPECT_EQ(r.json["resourceVersion"], std::to_string(before));

  // In a batch that writes, it keeps its own resourceVersion.
  Resp mixed = c.Post(kBatch, Ops({Update(a.json), Create(ConfigMap("b"))}));
  ASSERT_EQ(mixed.code, 200) << mixed.text;
  EXPECT_EQ(mixed.json["items"][0], a.json);
  EXPECT_EQ(Rv(mixed.json["items"][1]), std::to_string(before + 1));

  // No operations: nothing to do.
  Resp none = c.Post(kBatch, Ops({}));
  ASSERT_EQ(none.code, 200) << none.text;
  EXPECT_EQ(none.json["items"], Json::array());
}

// Every failed precondition is a 409 naming the operation, and nothing of
// the batch is written: not even the operations before it.
TEST(ApiBatch, PreconditionsFailWith409AndWriteNothing) {
  Member m;
  Client& c = m.client();
  Resp a = c.Post(kCms, ConfigMap("a"));
  ASSERT_EQ(a.code, 201);
  Json a2 = a.json;
  a2["data"]["key"] = "2";
  Resp moved = c.Put(Cm("a"), a2);
  ASSERT_EQ(moved.code, 200);
  const int64_t before = m.store().revision();

  struct Case {
    const char* what;
    Json op;
    std::string reason;
    std::string message;
  };
  Json stale = a.json;  // at a's first resourceVersion
  stale["data"]["key"] = "3";
  std::vector<Case> cases = {
      {"create of an existing name", Create(ConfigMap("a")), "AlreadyExists", "configmaps \"a\" already exists"},
      {"update of a stale resourceVersion", Update(stale), "Conflict", "the object has been modified"},
      {"update of a missing object", Update(ConfigMap("missing")), "Conflict", "configmaps \"missing\" not found"},
      {"delete of a missing object", DeleteCm("missing"), "Conflict", "configmaps \"missing\" not found"},
      {"delete of a stale resourceVersion", DeleteCm("a", Rv(a.json)), "Conflict",
       "Precondition failed: ResourceVersion in precondition: " + Rv(a.json)},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    Resp r = c.Post(kBatch, Ops({Create(ConfigMap("new1")), Create(Deployment("new2")), k.op}));
    EXPECT_EQ(r.code, 409) << r.text;
    EXPECT_EQ(r.json["kind"], "Status");
    EXPECT_EQ(r.json["reason"], k.reason);
    EXPECT_THAT(r.json["message"].get<std::string>(), StartsWith("operations[2]: "));
    EXPECT_THAT(r.json["message"].get<std::string>(), HasSubstr(k.message));
    EXPECT_EQ(c.Get(Cm("new1")).code, 404);
    EXPECT_EQ(c.Get(Dep("new2")).code, 404);
    EXPECT_EQ(m.store().revision(), before);
  }
  EXPECT_EQ(c.Get(Cm("a")).json, moved.json);
}

// A replace deletes the object and creates it again in the batch's one
// transaction: a new uid, generation 1, no status, and the immutable field an
// update may not change (a Deployment's selector) changed. It needs the object
// there and, when it names one, at the resourceVersion it names.
TEST(ApiBatch, AReplaceCreatesTheObjectAgainSoAnImmutableFieldCanChange) {
  Member m;
  Client& c = m.client();
  Resp web = c.Post(kDeploys, Deployment("web"));
  ASSERT_EQ(web.code, 201) << web.text;
  Json with_status = web.json;
  with_status["status"] = {{"replicas", 1}};
  ASSERT_EQ(c.Put(Dep("web") + "/status", with_status).code, 200);
  Resp scaled = c.Get(Dep("web"));
  Json moved = scaled.json;
  moved["spec"]["selector"]["matchLabels"]["app"] = "web2";
  moved["spec"]["template"]["metadata"]["labels"]["app"] = "web2";

  Resp refused = c.Post(kBatch, Ops({Update(moved)}));
  EXPECT_EQ(refused.code, 422) << refused.text;
  EXPECT_THAT(refused.text, HasSubstr("field is immutable"));

  Json stale = moved;
  stale["metadata"]["resourceVersion"] = Rv(web.json);  // before the status write
  Resp conflict = c.Post(kBatch, Ops({{{"op", "replace"}, {"object", stale}}}));
  EXPECT_EQ(conflict.code, 409) << conflict.text;
  EXPECT_THAT(conflict.text, HasSubstr("the object has been modified"));
  Json missing = moved;
  missing["metadata"]["name"] = "nobody";
  missing["metadata"].erase("resourceVersion");
  Resp absent = c.Post(kBatch, Ops({{{"op", "replace"}, {"object", missing}}}));
  EXPECT_EQ(absent.code, 409) << absent.text;
  EXPECT_THAT(absent.json["message"].get<std::string>(), HasSubstr("\"nobody\" not found"));
  EXPECT_EQ(c.Get(Dep("web")).json, scaled.json);  // nothing written

  const int64_t before = m.store().revision();
  Resp r = c.Post(kBatch, Ops({{{"op", "replace"}, {"object", moved}}, Create(ConfigMap("with-it"))}));
  ASSERT_EQ(r.code, 200) << r.text;
  EXPECT_EQ(m.store().revision(), before + 1);  // one transaction
  const Json& item = r.json["items"][0];
  EXPECT_NE(item["metadata"]["uid"], web.json["metadata"]["uid"]);
  EXPECT_EQ(item["metadata"]["generation"], 1);
  EXPECT_FALSE(item.contains("status"));
  Resp now = c.Get(Dep("web"));
  EXPECT_EQ(now.json["metadata"]["uid"], item["metadata"]["uid"]);
  EXPECT_EQ(now.json["spec"]["selector"]["matchLabels"]["app"], "web2");
  EXPECT_EQ(c.Get(Cm("with-it")).code, 200);

  // The short answer says the replace stored no status, whatever the object
  // sent had (a client rebuilds the stored object from it).
  Json again = now.json;
  again["spec"]["replicas"] = 3;
  again["status"] = {{"replicas", 9}};
  Resp short_answer = c.Post(std::string(kBatch) + "?answer=short", Ops({{{"op", "replace"}, {"object", again}}}));
  ASSERT_EQ(short_answer.code, 200) << short_answer.text;
  const Json& short_item = short_answer.json["items"][0];
  EXPECT_TRUE(short_item.contains("status") && short_item["status"].is_null()) << short_item.dump();
  EXPECT_NE(short_item["metadata"]["uid"], now.json["metadata"]["uid"]);
  EXPECT_FALSE(c.Get(Dep("web")).json.contains("status"));

  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "default"}}}};
  Resp whole = c.Post(kBatch, Ops({{{"op", "replace"}, {"object", ns}}}));
  EXPECT_EQ(whole.code, 400) << whole.text;
  EXPECT_THAT(whole.text, HasSubstr("a Namespace cannot be replaced"));
}

TEST(ApiBatch, InvalidObjectsGet422WithLocatedCauses) {
  Member m;
  Client& c = m.client();
  ASSERT_EQ(c.Post(kDeploys, Deployment("web")).code, 201);
  const int64_t before = m.store().revision();

  // An invalid create.
  Resp r = c.Post(kBatch, Ops({Create(ConfigMap("a")), Create(ConfigMap("b")), Create(ConfigMap("c")),
                               Create(Deployment("web2", -1))}));
  ASSERT_EQ(r.code, 422) << r.text;
  EXPECT_EQ(r.json["reason"], "Invalid");
  EXPECT_THAT(CauseFields(r), ::testing::ElementsAre("operations[3].spec.replicas"));
  EXPECT_THAT(r.json["message"].get<std::string>(), StartsWith("operations[3]: Deployment.apps \"web2\" is invalid: "));
  EXPECT_EQ(r.json["details"]["name"], "web2");

  // An update that would make it invalid.
  Json bad = c.Get(Dep("web")).json;
  bad["spec"]["template"]["spec"]["containers"][0].erase("image");
  Resp u = c.Post(kBatch, Ops({Create(ConfigMap("a")), Update(bad)}));
  ASSERT_EQ(u.code, 422) << u.text;
  EXPECT_THAT(CauseFields(u), ::testing::Contains("operations[1].spec.template.spec.containers[0].image"));

  // Neither name nor generateName.
  Json nameless = ConfigMap("");
  nameless["metadata"].erase("name");
  Resp n = c.Post(kBatch, Ops({Create(nameless)}));
  EXPECT_EQ(n.code, 422) << n.text;
  EXPECT_THAT(CauseFields(n), ::testing::ElementsAre("operations[0].metadata.name"));

  EXPECT_EQ(c.Get(Cm("a")).code, 404);
  EXPECT_EQ(m.store().revision(), before);
}

TEST(ApiBatch, MalformedRequestsGet400NamingTheOperation) {
  Member m;
  Client& c = m.client();
  auto expect_400 = [&](const std::string& body, const std::string& message) {
    SCOPED_TRACE(body);
    Resp r = c.Do("POST", kBatch, body);
    EXPECT_EQ(r.code, 400) << r.text;
    EXPECT_EQ(r.json["reason"], "BadRequest");
    EXPECT_THAT(r.json["message"].get<std::string>(), HasSubstr(message));
  };
  expect_400("{not json", "not valid JSON");
  expect_400("[]", "{\"operations\":[…]}");
  expect_400(R"({"operations":{}})", "{\"operations\":[…]}");
  Json cm = ConfigMap("a");
  expect_400(Ops({Create(cm), {{"op", "patch"}, {"object", cm}}}).dump(), "operations[1]: op must be");
  expect_400(Ops({{{"op", "create"}}}).dump(), "operations[0]: a create needs an \"object\"");
  Json unknown = cm;
  unknown["kind"] = "Gadget";
  expect_400(Ops({Create(unknown)}).dump(), "operations[0]: bosun does not know kind \"Gadget\"");
  expect_400(Ops({{{"op", "delete"}, {"apiVersion", "v1"}, {"kind", "ConfigMap"}}}).dump(),
             "operations[0]: a delete needs a name");
  expect_400(Ops({DeleteCm("a", "x1")}).dump(), "operations[0]: resourceVersion must be");
  // One object, written twice.
  expect_400(Ops({Create(cm), Create(ConfigMap("b")), DeleteCm("a")}).dump(),
             "operations[2]: configmaps \"a\" is also written by operations[0]");
  // Its namespace must be the object's.
  Json elsewhere = cm;
  elsewhere["metadata"]["namespace"] = "Not_A_Namespace";
  EXPECT_EQ(c.Post(kBatch, Ops({Create(elsewhere)})).code, 422);
  EXPECT_EQ(c.Get(Cm("a")).code, 404);
}

// A batch of thousands of operations is parsed on every core; the error is
// still the first bad operation's, as reading them in order finds it.
TEST(ApiBatch, ALargeBatchNamesItsFirstBadOperation) {
  Member m;
  Client& c = m.client();
  auto batch = [](const std::map<size_t, Json>& replace) {
    std::vector<Json> ops;
    for (size_t i = 0; i < 3000; ++i) {
      auto it = replace.find(i);
      ops.push_back(it != replace.end() ? it->second : Create(ConfigMap("cm" + std::to_string(i))));
    }
    return Ops(std::move(ops)).dump();
  };
  const Json replace_op = {{"op", "patch"}, {"object", ConfigMap("x")}};
  const Json no_object = {{"op", "create"}};
  auto expect_400 = [&](const std::string& body, const std::string& message) {
    Resp r = c.Do("POST", kBatch, body);
    EXPECT_EQ(r.code, 400) << r.text;
    EXPECT_THAT(r.json["message"].get<std::string>(), StartsWith(message)) << r.text;
  };
  expect_400(batch({{2900, no_object}, {2100, replace_op}}), "operations[2100]: op must be");
  expect_400(batch({{2900, no_object}, {1700, replace_op}, {40, no_object}}),
             "operations[40]: a create needs an \"object\"");
  // A duplicate before the first operation that does not parse is the error.
  expect_400(batch({{2900, no_object}, {1600, Create(ConfigMap("cm5"))}}),
             "operations[1600]: configmaps \"cm5\" is also written by operations[5]");
  expect_400(batch({{1600, no_object}, {2900, Create(ConfigMap("cm5"))}}),
             "operations[1600]: a create needs an \"object\"");
  EXPECT_EQ(c.Get(Cm("cm0")).code, 404);
  // And whole, it applies.
  EXPECT_EQ(c.Do("POST", kBatch, batch({})).code, 200);
  EXPECT_EQ(c.Get(Cm("cm2999")).code, 200);
}

TEST(ApiBatch, AuthenticationMethodAndBodyLimit) {
  Member m;  // ordinary body limit: 256 KiB (Member::Defaults)
  Client& c = m.client();
  const std::string body = Ops({Create(ConfigMap("a"))}).dump();
  Resp none = c.Do("POST", kBatch, body, "application/json", std::string());
  EXPECT_EQ(none.code, 401) << none.text;
  EXPECT_EQ(none.json["reason"], "Unauthorized");
  EXPECT_EQ(c.Do("POST", kBatch, body, "application/json", std::string("wrong")).code, 401);
  EXPECT_EQ(c.Get(Cm("a")).code, 404);
  EXPECT_EQ(c.Get(kBatch).code, 405);

  // Far over the ordinary limit, under the batch's.
  std::vector<Json> ops;
  for (int i = 0; i < 600; ++i) ops.push_back(Create(ConfigMap("big" + std::to_string(i), {}, std::string(1024, 'x'))));
  std::string big = Ops(ops).dump();
  ASSERT_GT(big.size(), 512u * 1024);
  Resp ok = c.Do("POST", kBatch, big);
  EXPECT_EQ(ok.code, 200) << ok.text.substr(0, 300);
  EXPECT_EQ(c.Do("POST", kCms, big).code, 413);  // other paths keep theirs

  // Over the batch's limit.
  std::string huge = R"({"operations":[],"padding":")" + std::string(64u << 20, 'x') + "\"}";
  Resp too_large = c.Do("POST", kBatch, huge);
  EXPECT_EQ(too_large.code, 413);
  EXPECT_EQ(too_large.json["reason"], "RequestEntityTooLarge");
}

TEST(ApiBatch, LostRacesAreRetriedUnlessTheOperationPinnedAVersion) {
  TempDir dir;
  RacingService service(OpenStore(dir.Sub("store")));
  Member m(Member::Defaults(), &service);
  Client& c = m.client();
  Resp a = c.Post(kCms, ConfigMap("a"));
  ASSERT_EQ(a.code, 201);
  service.race_key = "/registry/core/configmaps/default/a";

  // Not pinned: the batch is computed again on the new state.
  Json loose = a.json;
  loose["metadata"].erase("resourceVersion");
  loose["data"]["mine"] = "1";
  service.races = 2;
  Resp r = c.Post(kBatch, Ops({Create(ConfigMap("b")), Update(loose)}));
  ASSERT_EQ(r.code, 200) << r.text;
  EXPECT_EQ(service.races.load(), 0);
  EXPECT_EQ(c.Get(Cm("a")).json, r.json["items"][1]);
  EXPECT_EQ(c.Get(Cm("b")).json, r.json["items"][0]);

  // Pinned: the race is the client's conflict.
  Json pinned = r.json["items"][1];
  pinned["data"]["pinned"] = "1";
  service.races = 1;
  Resp p = c.Post(kBatch, Ops({Create(ConfigMap("c")), Update(pinned)}));
  EXPECT_EQ(p.code, 409) << p.text;
  EXPECT_THAT(p.json["message"].get<std::string>(), StartsWith("operations[1]: "));
  EXPECT_EQ(c.Get(Cm("c")).code, 404);

  // Bounded: a key that keeps changing gives up with 409.
  service.races = 100;
  Resp again = c.Post(kBatch, Ops({DeleteCm("a")}));
  EXPECT_EQ(again.code, 409) << again.text;
  EXPECT_EQ(service.races.load(), 95);
}

// A member that does not lead, as in api_proxy_test.cc: writes fail, and it
// names the leader.
class FollowerService final : public StateService {
 public:
  explicit FollowerService(std::unique_ptr<Store> store) : local_(std::move(store)) {}
  void Write(Txn, std::function<void(Result<TxnResult>)> done) override {
    done(Error(Code::kUnavailable, "not the leader"));
  }
  void ReadBarrier(ReadConsistency c, std::function<void(Status)> done) override {
    if (c == ReadConsistency::kLinearizable) return done(Error(Code::kUnavailable, "not the leader"));
    done(Ok());
  }
  Store& store() override { return local_.store(); }
  bool IsLeader() const override { return false; }
  std::optional<std::string> LeaderApiUrl() const override { return leader; }
  std::vector<MemberInfo> Members() const override { return {}; }
  std::optional<std::string> leader;  // set before the server starts

 private:
  LocalService local_;
};

TEST(ApiBatch, AFollowerForwardsTheBatchToTheLeader) {
  TempDir dir;
  Member leader;
  FollowerService follower_service(OpenStore(dir.Sub("follower")));
  follower_service.leader = leader.url();
  Member follower(Member::Defaults(), &follower_service);
  follower.auth().Add(crypto::HashToken(leader.token()), User{"tester", {}});
  Client via_follower(follower.url(), leader.token());

  std::vector<Json> ops;
  for (int i = 0; i < 400; ++i) ops.push_back(Create(ConfigMap("f" + std::to_string(i), {}, std::string(1024, 'y'))));
  Resp r = via_follower.Post(kBatch, Ops(ops));  // over the ordinary limit on both members
  ASSERT_EQ(r.code, 200) << r.text.substr(0, 300);
  EXPECT_EQ(r.json["items"].size(), 400u);
  EXPECT_TRUE(leader.store().Get("/registry/core/configmaps/default/f399").ok());
  EXPECT_FALSE(follower.store().Get("/registry/core/configmaps/default/f0").ok());
  // Errors come back as the leader words them.
  Resp again = via_follower.Post(kBatch, Ops({ops[7]}));
  EXPECT_EQ(again.code, 409);
  EXPECT_THAT(again.json["message"].get<std::string>(), StartsWith("operations[0]: configmaps \"f7\" already exists"));
}

// Watches see one batch as many events at one resourceVersion; every event
// but the revision's last says more follow, and no BOOKMARK falls between.
TEST(ApiBatchWatch, ABatchIsOneRevisionOfEventsWithNoBookmarkInside) {
  ApiServerOptions o = Member::Defaults();
  o.bookmark_interval = std::chrono::seconds(0);  // a BOOKMARK at every timer tick
  o.max_body_bytes = 3u << 20;
  Member m(o);
  Client& c = m.client();
  auto w = m.Watch(std::string(kCms) + "?watch=true&resourceVersion=" + std::to_string(m.store().revision()));
  ASSERT_EQ(w->status(), 200);

  constexpr int kBatches = 4, kPerBatch = 500;
  std::set<std::string> revisions;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<Json> ops;
    for (int i = 0; i < kPerBatch; ++i)
      ops.push_back(Create(ConfigMap("b" + std::to_string(b) + "-" + std::to_string(i))));
    Resp r = c.Post(kBatch, Ops(ops));
    ASSERT_EQ(r.code, 200) << r.text.substr(0, 300);
    revisions.insert(r.json["resourceVersion"].get<std::string>());
  }

  int64_t bookmarked = 0;  // no event may come at or below a bookmark's revision
  std::map<std::string, int> per_revision;
  std::string last_rv;
  bool last_continued = false;
  int events = 0, bookmarks = 0;
  while (events < kBatches * kPerBatch) {
    auto e = w->Next(5000ms);
    ASSERT_TRUE(e.has_value()) << "after " << events << " events";
    const std::string rv = (*e)["object"]["metadata"]["resourceVersion"];
    if ((*e)["type"] == "BOOKMARK") {
      ++bookmarks;
      EXPECT_FALSE(last_continued) << "a BOOKMARK inside revision " << last_rv;
      bookmarked = std::stoll(rv);
      continue;
    }
    ++events;
    EXPECT_EQ((*e)["type"], "ADDED");
    EXPECT_GT(std::stoll(rv), bookmarked) << "an event of a revision already bookmarked";
    if (last_continued) {
      EXPECT_EQ(rv, last_rv) << "a revision's events were cut short";
    }
    ++per_revision[rv];
    last_rv = rv;
    last_continued = e->value("revisionContinues", false);
    // Only the last of its batch ends the revision.
    EXPECT_EQ(last_continued, per_revision[rv] < kPerBatch) << rv << " #" << per_revision[rv];
  }
  EXPECT_EQ(per_revision.size(), revisions.size());
  for (const auto& [rv, n] : per_revision) {
    EXPECT_TRUE(revisions.count(rv)) << rv;
    EXPECT_EQ(n, kPerBatch) << rv;
  }
  EXPECT_FALSE(w->NextEvent(300ms).has_value());
  std::cout << "[          ] " << bookmarks << " bookmarks among the events\n";
}

// A watch with a selector marks among the events it sends: the last one it
// sends of a revision ends it.
TEST(ApiBatchWatch, SelectedEventsMarkTheirOwnLast) {
  Member m;
  auto w = m.Watch(std::string(kCms) +
                   "?watch=true&labelSelector=pick%3Dyes&resourceVersion=" + std::to_string(m.store().revision()));
  ASSERT_EQ(w->status(), 200);
  Resp r = m.client().Post(kBatch,
                           Ops({Create(ConfigMap("p1", {{"pick", "yes"}})), Create(ConfigMap("p2", {{"pick", "yes"}})),
                                Create(ConfigMap("n1", {{"pick", "no"}}))}));
  ASSERT_EQ(r.code, 200) << r.text;
  auto e1 = w->NextEvent(), e2 = w->NextEvent();
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ((*e1)["object"]["metadata"]["name"], "p1");
  EXPECT_EQ((*e1)["revisionContinues"], true);
  EXPECT_EQ((*e2)["object"]["metadata"]["name"], "p2");
  EXPECT_FALSE(e2->contains("revisionContinues"));
  EXPECT_FALSE(w->NextEvent(300ms).has_value());
}

}  // namespace
}  // namespace bosun::state::apitest
