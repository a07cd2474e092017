// The API server's verbs against a real server on loopback, a LocalService and
// a real RocksDB store, through cpprestsdk's HTTP client (docs/API.md).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/state/api_test_support.h"

namespace bosun::state::apitest {
namespace {

using ::testing::HasSubstr;

constexpr const char* kCms = "/api/v1/namespaces/default/configmaps";
constexpr const char* kDeploys = "/apis/apps/v1/namespaces/default/deployments";

std::string Cm(const std::string& name) {
  return std::string(kCms) + "/" + name;
}
std::string Dep(const std::string& name) {
  return std::string(kDeploys) + "/" + name;
}

TEST(ApiAuth, RefusesMissingAndWrongTokensButServesHealthOpenly) {
  Member m;
  Resp none = m.client().Do("GET", kCms, std::nullopt, "application/json", std::string());
  EXPECT_EQ(none.code, 401);
  EXPECT_EQ(none.json["kind"], "Status");
  EXPECT_EQ(none.json["reason"], "Unauthorized");
  EXPECT_EQ(none.json["code"], 401);
  EXPECT_EQ(m.client().Do("GET", kCms, std::nullopt, "application/json", std::string("bosun_wrong")).code, 401);
  Resp basic =
      m.client().Do("GET", kCms, std::nullopt, "application/json", std::string(), {{"Authorization", "Basic Zm9v"}});
  EXPECT_EQ(basic.code, 401);
  // Even unknown paths need a token first.
  EXPECT_EQ(m.client().Do("GET", "/nowhere", std::nullopt, "application/json", std::string()).code, 401);

  Resp health = m.client().Do("GET", "/healthz", std::nullopt, "application/json", std::string());
  EXPECT_EQ(health.code, 200);
  EXPECT_EQ(health.text, "ok\n");
  EXPECT_EQ(m.client().Do("GET", "/readyz", std::nullopt, "application/json", std::string()).code, 200);
  EXPECT_EQ(m.client().Get(kCms).code, 200);
}

// Kubernetes' rule: content goes only into a namespace that exists. "default"
// always does; cluster-scoped kinds have no namespace to check.
TEST(ApiObjects, ContentGoesOnlyIntoANamespaceThatExists) {
  Member m;
  Client& c = m.client();
  Resp missing = c.Post("/api/v1/namespaces/shop/configmaps", ConfigMap("web"));
  EXPECT_EQ(missing.code, 404) << missing.text;
  EXPECT_EQ(missing.json["reason"], "NotFound");
  EXPECT_EQ(missing.json["message"], "namespaces \"shop\" not found");
  EXPECT_EQ(missing.json["details"]["kind"], "namespaces");
  EXPECT_EQ(missing.json["details"]["name"], "shop");
  EXPECT_EQ(c.Get("/api/v1/namespaces/shop/configmaps/web").code, 404) << "nothing was written";
  // A generateName create is refused the same way (not retried as a taken name).
  Json generated = ConfigMap("");
  generated["metadata"].erase("name");
  generated["metadata"]["generateName"] = "web-";
  EXPECT_EQ(c.Post("/api/v1/namespaces/shop/configmaps", generated).code, 404);

  EXPECT_EQ(c.Post(kCms, ConfigMap("in-default")).code, 201) << "default needs no Namespace object";
  m.CreateNamespaces({"shop"});
  EXPECT_EQ(c.Post("/api/v1/namespaces/shop/configmaps", ConfigMap("web")).code, 201);
}

// Kubernetes' fieldValidation: by default (Warn) an unknown field is kept
// and named in a Warning header; Strict refuses the write with the field's
// path, Ignore says nothing.
TEST(ApiObjects, UnknownFieldsAreWarnedAboutOrRefusedAsFieldValidationSays) {
  Member m;
  Client& c = m.client();
  Json typo = ConfigMap("a");
  typo["dta"] = {{"k", "v"}};
  Resp warned = c.Post(kCms, typo);
  EXPECT_EQ(warned.code, 201) << warned.text;
  EXPECT_EQ(warned.warning, "299 - \"dta: unknown field \\\"dta\\\" (did you mean \\\"data\\\"?)\"");
  Resp quiet = c.Post(std::string(kCms) + "?fieldValidation=Ignore", ConfigMap("b"));
  EXPECT_EQ(quiet.code, 201);
  EXPECT_EQ(quiet.warning, "");

  typo["metadata"]["name"] = "c";
  Resp strict = c.Post(std::string(kCms) + "?fieldValidation=Strict", typo);
  EXPECT_EQ(strict.code, 422) << strict.text;
  EXPECT_EQ(strict.json["details"]["causes"][0]["field"], "dta");
  EXPECT_THAT(strict.json["message"].get<std::string>(), HasSubstr("unknown field \"dta\""));
  EXPECT_EQ(c.Get(std::string(kCms) + "/c").code, 404) << "nothing was written";

  // An update and a patch the same way.
  Resp cur = c.Get(std::string(kCms) + "/b");
  Json next = cur.json;
  next["dta"] = {{"k", "v"}};
  EXPECT_EQ(c.Put(std::string(kCms) + "/b?fieldValidation=Strict", next).code, 422);
  EXPECT_EQ(c.Patch(std::string(kCms) + "/b?fieldValidation=Strict", Json{{"dta", {{"k", "v"}}}}).code, 422);
  Resp patched = c.Patch(std::string(kCms) + "/b", Json{{"dta", {{"k", "v"}}}});
  EXPECT_EQ(patched.code, 200) << patched.text;
  EXPECT_THAT(patched.warning, HasSubstr("dta: unknown field"));
  // Once stored, it is not the next request's doing: neither warned about
  // again nor refused by Strict; a new one is.
  Resp relabelled =
      c.Patch(std::string(kCms) + "/b?fieldValidation=Strict", Json{{"metadata", {{"labels", {{"x", "y"}}}}}});
  EXPECT_EQ(relabelled.code, 200) << relabelled.text;
  EXPECT_EQ(relabelled.warning, "");
  EXPECT_EQ(c.Patch(std::string(kCms) + "/b?fieldValidation=Strict", Json{{"dtaa", {{"k", "v"}}}}).code, 422);

  Resp bad = c.Post(std::string(kCms) + "?fieldValidation=strict", ConfigMap("d"));
  EXPECT_EQ(bad.code, 400) << "Kubernetes' exact words";
  EXPECT_EQ(bad.json["message"], "invalid fieldValidation directive \"strict\": must be Strict, Warn or Ignore");
  EXPECT_EQ(c.Post(std::string(kCms) + "?fieldValidation=", ConfigMap("d")).code, 201) << "\"\": the default";
  EXPECT_EQ(c.Get(std::string(kCms) + "?fieldValidation=nonsense").code, 200) << "a read has no fields to check";

  // A batch has no Warning header: Strict refuses, anything else keeps.
  typo["metadata"]["name"] = "e";
  Json batch = {{"operations", {{{"op", "create"}, {"object", typo}}}}};
  Resp batch_strict = c.Post("/bosun/v1/batch?fieldValidation=Strict", batch);
  EXPECT_EQ(batch_strict.code, 422) << batch_strict.text;
  EXPECT_EQ(c.Post("/bosun/v1/batch", batch).code, 200);
}

// Kubernetes' namespace lifecycle: DELETE marks a Namespace Terminating; no
// new content goes in; only /finalize emptying spec.finalizers removes it
// (the namespace controller does that once it is empty). default and
// bosun-system may not be deleted.
TEST(ApiObjects, ADeletedNamespaceTerminatesUntilFinalized) {
  Member m;
  Client& c = m.client();
  m.CreateNamespaces({"shop"});
  ASSERT_EQ(c.Post("/api/v1/namespaces/shop/configmaps", ConfigMap("web")).code, 201);

  Resp del = c.Delete("/api/v1/namespaces/shop");
  ASSERT_EQ(del.code, 200) << del.text;
  const std::string since = del.json["metadata"].value("deletionTimestamp", "");
  EXPECT_FALSE(since.empty()) << del.text;
  EXPECT_EQ(del.json["status"]["phase"], "Terminating");
  EXPECT_EQ(del.json["spec"]["finalizers"], Json::array({"kubernetes"}));
  Resp ns = c.Get("/api/v1/namespaces/shop");
  ASSERT_EQ(ns.code, 200) << "a Terminating namespace is still there";
  EXPECT_EQ(ns.json["status"]["phase"], "Terminating");
  EXPECT_EQ(c.Get("/api/v1/namespaces/shop/configmaps/web").code, 200) << "its content stays until deleted";

  Resp create = c.Post("/api/v1/namespaces/shop/configmaps", ConfigMap("late"));
  EXPECT_EQ(create.code, 403) << create.text;
  EXPECT_EQ(create.json["reason"], "Forbidden");
  EXPECT_EQ(create.json["message"],
            "configmaps \"late\" is forbidden: unable to create new content in namespace shop because it is being "
            "terminated");

  // A second DELETE changes nothing; neither an update nor a patch can take
  // the deletion or the finalizers away.
  Resp again = c.Delete("/api/v1/namespaces/shop");
  ASSERT_EQ(again.code, 200);
  EXPECT_EQ(again.json["metadata"]["deletionTimestamp"], since);
  Json edited = ns.json;
  edited["metadata"].erase("deletionTimestamp");
  edited["metadata"]["labels"] = {{"team", "shop"}};
  edited["spec"] = Json::object();
  Resp put = c.Put("/api/v1/namespaces/shop", edited);
  ASSERT_EQ(put.code, 200) << put.text;
  EXPECT_EQ(put.json["metadata"]["deletionTimestamp"], since);
  EXPECT_EQ(put.json["spec"]["finalizers"], Json::array({"kubernetes"}));
  EXPECT_EQ(c.Get("/api/v1/namespaces/shop").code, 200);

  // /finalize: only PUT, only spec.finalizers; emptied, the Namespace goes.
  EXPECT_EQ(c.Get("/api/v1/namespaces/shop/finalize").code, 405);
  Json released = put.json;
  released["spec"]["finalizers"] = Json::array();
  Resp fin = c.Put("/api/v1/namespaces/shop/finalize", released);
  ASSERT_EQ(fin.code, 200) << fin.text;
  EXPECT_EQ(c.Get("/api/v1/namespaces/shop").code, 404);

  // Ones that may not go.
  // A spec that is not an object is refused as invalid, not a crash.
  m.CreateNamespaces({"odd"});
  Json odd = c.Delete("/api/v1/namespaces/odd").json;
  odd["spec"] = "not an object";
  Resp bad = c.Put("/api/v1/namespaces/odd", odd);
  EXPECT_EQ(bad.code, 422) << bad.text;
  EXPECT_EQ(c.Get("/api/v1/namespaces/odd").json["spec"]["finalizers"], Json::array({"kubernetes"}));

  m.CreateNamespaces({"default", "bosun-system", "kube-node-lease"});
  for (const char* name : {"default", "bosun-system", "kube-node-lease"}) {
    Resp r = c.Delete(std::string("/api/v1/namespaces/") + name);
    EXPECT_EQ(r.code, 403) << name << ": " << r.text;
    EXPECT_EQ(r.json["message"],
              std::string("namespaces \"") + name + "\" is forbidden: this namespace may not be deleted");
  }
  // A Namespace nobody deletes keeps what its creator gave it.
  m.CreateNamespaces({"plain"});
  Resp plain = c.Get("/api/v1/namespaces/plain");
  EXPECT_FALSE(plain.json["metadata"].contains("deletionTimestamp"));
  EXPECT_FALSE(plain.json.contains("spec")) << plain.text;
}

TEST(ApiAuth, NeverLogsTheToken) {
  LogCapture logs;
  Member m;
  EXPECT_EQ(m.client().Post(kCms, ConfigMap("a")).code, 201);
  EXPECT_EQ(m.client().Get(Cm("a")).code, 200);
  EXPECT_EQ(m.client().Get(Cm("missing")).code, 404);
  ASSERT_TRUE(logs.Contains("path=/api/v1/namespaces/default/configmaps/a"));
  for (const auto& line : logs.lines()) EXPECT_THAT(line, ::testing::Not(HasSubstr(m.token()))) << line;
}

TEST(ApiObjects, NamespacedKindEveryVerb) {
  Member m;
  Client& c = m.client();
  // create
  Resp created = c.Post(kCms, ConfigMap("app-config", {{"app", "web"}}));
  ASSERT_EQ(created.code, 201) << created.text;
  const Json& obj = created.json;
  EXPECT_EQ(obj["metadata"]["namespace"], "default");
  EXPECT_EQ(obj["metadata"]["generation"], 1);
  std::string uid = obj["metadata"]["uid"];
  EXPECT_THAT(uid, ::testing::MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  EXPECT_THAT(obj["metadata"]["creationTimestamp"].get<std::string>(),
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"));
  EXPECT_EQ(Rv(obj), std::to_string(m.store().revision()));
  // The stored value has no resourceVersion (it is the key's mod_revision).
  auto kv = m.store().Get("/registry/core/configmaps/default/app-config");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->value.find("resourceVersion"), std::string::npos) << kv->value;

  // get
  Resp got = c.Get(Cm("app-config"));
  ASSERT_EQ(got.code, 200);
  EXPECT_EQ(got.json, obj);
  EXPECT_THAT(got.content_type, HasSubstr("application/json"));
  EXPECT_EQ(c.Get(Cm("app-config") + "?resourceVersion=0").json, obj);

  // list, and list across namespaces
  Resp list = c.Get(kCms);
  ASSERT_EQ(list.code, 200);
  EXPECT_EQ(list.json["kind"], "ConfigMapList");
  EXPECT_EQ(list.json["apiVersion"], "v1");
  ASSERT_EQ(list.json["items"].size(), 1u);
  EXPECT_EQ(list.json["metadata"]["resourceVersion"], Rv(obj));
  EXPECT_FALSE(list.json["metadata"].contains("continue"));
  m.CreateNamespaces({"other"});
  ASSERT_EQ(c.Post("/api/v1/namespaces/other/configmaps", ConfigMap("x")).code, 201);
  EXPECT_EQ(c.Get("/api/v1/configmaps").json["items"].size(), 2u);
  EXPECT_EQ(c.Get(kCms).json["items"].size(), 1u);

  // update
  Json changed = got.json;
  changed["data"]["key"] = "v2";
  Resp updated = c.Put(Cm("app-config"), changed);
  ASSERT_EQ(updated.code, 200) << updated.text;
  EXPECT_EQ(updated.json["data"]["key"], "v2");
  EXPECT_EQ(updated.json["metadata"]["uid"], uid);
  EXPECT_GT(std::stoll(Rv(updated.json)), std::stoll(Rv(obj)));
  // An update that changes nothing writes nothing.
  Resp same = c.Put(Cm("app-config"), updated.json);
  EXPECT_EQ(same.code, 200);
  EXPECT_EQ(Rv(same.json), Rv(updated.json));

  // patch
  Resp patched = c.Patch(Cm("app-config"), {{"data", {{"other", "x"}}}});
  ASSERT_EQ(patched.code, 200) << patched.text;
  EXPECT_EQ(patched.json["data"], Json({{"key", "v2"}, {"other", "x"}}));

  // delete
  Resp deleted = c.Delete(Cm("app-config"));
  ASSERT_EQ(deleted.code, 200) << deleted.text;
  EXPECT_EQ(deleted.json["metadata"]["name"], "app-config");
  EXPECT_EQ(Rv(deleted.json), std::to_string(m.store().revision()));
  Resp gone = c.Get(Cm("app-config"));
  EXPECT_EQ(gone.code, 404);
  EXPECT_EQ(gone.json["reason"], "NotFound");
  EXPECT_EQ(gone.json["message"], "configmaps \"app-config\" not found");
  EXPECT_EQ(gone.json["details"]["name"], "app-config");
  EXPECT_EQ(c.Delete(Cm("app-config")).code, 404);
}

TEST(ApiObjects, ClusterScopedKindEveryVerb) {
  Member m;
  Client& c = m.client();
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team-a"}, {"namespace", "junk"}}}};
  Resp created = c.Post("/api/v1/namespaces", ns);
  ASSERT_EQ(created.code, 201) << created.text;
  EXPECT_FALSE(created.json["metadata"].contains("namespace"));
  EXPECT_TRUE(m.store().Get("/registry/core/namespaces/team-a").ok());
  EXPECT_EQ(c.Get("/api/v1/namespaces/team-a").code, 200);
  EXPECT_EQ(c.Get("/api/v1/namespaces").json["items"].size(), 1u);

  Json updated = created.json;
  updated["metadata"]["labels"] = {{"team", "a"}};
  Resp put = c.Put("/api/v1/namespaces/team-a", updated);
  ASSERT_EQ(put.code, 200) << put.text;
  EXPECT_EQ(put.json["metadata"]["labels"]["team"], "a");
  // Namespace has a status subresource: /api/v1/namespaces/{name}/status.
  Resp st = c.Put("/api/v1/namespaces/team-a/status", {{"status", {{"phase", "Active"}}}});
  ASSERT_EQ(st.code, 200) << st.text;
  EXPECT_EQ(st.json["status"]["phase"], "Active");
  Resp patched = c.Patch("/api/v1/namespaces/team-a", {{"metadata", {{"annotations", {{"a", "b"}}}}}});
  ASSERT_EQ(patched.code, 200) << patched.text;
  EXPECT_EQ(patched.json["status"]["phase"], "Active");

  Json rev = {{"apiVersion", "bosun.dev/v1"},
              {"kind", "Revision"},
              {"metadata", {{"name", "r-0001"}}},
              {"spec", {{"commit", "abc"}}}};
  ASSERT_EQ(c.Post("/apis/bosun.dev/v1/revisions", rev).code, 201);
  EXPECT_EQ(c.Get("/apis/bosun.dev/v1/revisions/r-0001").json["spec"]["commit"], "abc");

  EXPECT_EQ(c.Delete("/apis/bosun.dev/v1/revisions/r-0001").code, 200);
  EXPECT_EQ(c.Get("/apis/bosun.dev/v1/revisions/r-0001").code, 404);
  // A Namespace is Terminating first (ADeletedNamespaceTerminatesUntilFinalized).
  EXPECT_EQ(c.Delete("/api/v1/namespaces/team-a").json["status"]["phase"], "Terminating");
  // A cluster-scoped kind has no namespaced path.
  EXPECT_EQ(c.Get("/api/v1/namespaces/default/nodes").code, 404);
}

TEST(ApiObjects, PathsMethodsAndBodiesThatAreRefused) {
  Member m;
  Client& c = m.client();
  EXPECT_EQ(c.Get("/api/v1/namespaces/default/widgets").code, 404);
  EXPECT_EQ(c.Get("/apis/apps/v2/namespaces/default/deployments").code, 404);
  EXPECT_EQ(c.Get("/api/v1/pods/web").code, 404);   // a namespaced object needs its namespace
  EXPECT_EQ(c.Get(Cm("a") + "/status").code, 404);  // ConfigMaps have no status subresource
  EXPECT_EQ(c.Get("/other").code, 404);

  Resp post_obj = c.Post(Cm("a"), ConfigMap("a"));
  EXPECT_EQ(post_obj.code, 405);
  EXPECT_EQ(post_obj.json["reason"], "MethodNotAllowed");
  EXPECT_EQ(c.Delete(kCms).code, 405);
  EXPECT_EQ(c.Post("/api/v1/configmaps", ConfigMap("a")).code, 405);
  EXPECT_EQ(c.Do("POST", "/healthz", std::string("{}")).code, 405);

  Resp bad_json = c.Do("POST", kCms, std::string("{not json"));
  EXPECT_EQ(bad_json.code, 400);
  EXPECT_EQ(bad_json.json["reason"], "BadRequest");
  EXPECT_EQ(c.Do("POST", kCms, std::string("[1,2]")).code, 400);
  Json wrong_kind = ConfigMap("a");
  wrong_kind["kind"] = "Secret";
  EXPECT_EQ(c.Post(kCms, wrong_kind).code, 400);
  Json other_ns = ConfigMap("a");
  other_ns["metadata"]["namespace"] = "other";
  EXPECT_THAT(c.Post(kCms, other_ns).json["message"].get<std::string>(), HasSubstr("does not match the namespace"));
  ASSERT_EQ(c.Post(kCms, ConfigMap("a")).code, 201);
  EXPECT_EQ(c.Put(Cm("a"), ConfigMap("b")).code, 400);  // name differs from the URL's
  EXPECT_EQ(c.Put(Cm("absent"), ConfigMap("absent")).code, 404);

  Resp bad_sel = c.Get(std::string(kCms) + "?labelSelector=app%3D%3D%3D");
  EXPECT_EQ(bad_sel.code, 400);
  EXPECT_THAT(bad_sel.json["message"].get<std::string>(), HasSubstr("labelSelector"));
  EXPECT_EQ(c.Get(std::string(kCms) + "?limit=abc").code, 400);
  EXPECT_EQ(c.Get(std::string(kCms) + "?continue=garbage!").code, 400);

  std::string big = ConfigMap("big", {}, std::string(300 * 1024, 'x')).dump();
  Resp too_large = c.Do("POST", kCms, big);
  EXPECT_EQ(too_large.code, 413);
  EXPECT_EQ(too_large.json["reason"], "RequestEntityTooLarge");
  EXPECT_EQ(c.Get(Cm("big")).code, 404);
}

TEST(ApiObjects, OptimisticConcurrency) {
  Member m;
  Client& c = m.client();
  Resp first = c.Post(kCms, ConfigMap("a"));
  ASSERT_EQ(first.code, 201);
  Resp again = c.Post(kCms, ConfigMap("a"));
  EXPECT_EQ(again.code, 409);
  EXPECT_EQ(again.json["reason"], "AlreadyExists");
  EXPECT_EQ(again.json["message"], "configmaps \"a\" already exists");

  Json v1 = first.json;
  Json next = v1;
  next["data"]["key"] = "second";
  ASSERT_EQ(c.Put(Cm("a"), next).code, 200);
  Json stale = v1;  // still carries the first resourceVersion
  stale["data"]["key"] = "third";
  Resp conflict = c.Put(Cm("a"), stale);
  EXPECT_EQ(conflict.code, 409);
  EXPECT_EQ(conflict.json["reason"], "Conflict");
  EXPECT_EQ(conflict.json["message"],
            "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your "
            "changes to the latest version and try again");
  EXPECT_EQ(c.Get(Cm("a")).json["data"]["key"], "second");
  // Without a resourceVersion an update is unconditional.
  stale["metadata"].erase("resourceVersion");
  EXPECT_EQ(c.Put(Cm("a"), stale).code, 200);
  // A patch that names a stale resourceVersion is refused too.
  Resp stale_patch = c.Patch(Cm("a"), {{"metadata", {{"resourceVersion", Rv(v1)}}}, {"data", {{"k", "v"}}}});
  EXPECT_EQ(stale_patch.code, 409);

  // Delete preconditions.
  std::string rv = Rv(c.Get(Cm("a")).json);
  Resp pre = c.Delete(Cm("a"), Json{{"preconditions", {{"resourceVersion", Rv(v1)}}}});
  EXPECT_EQ(pre.code, 409);
  EXPECT_EQ(pre.json["reason"], "Conflict");
  Resp uid = c.Delete(Cm("a"), Json{{"preconditions", {{"uid", "not-the-uid"}}}});
  EXPECT_EQ(uid.code, 409);
  EXPECT_EQ(c.Delete(Cm("a"), Json{{"preconditions", {{"resourceVersion", rv}}}}).code, 200);
}

TEST(ApiObjects, LostRacesAreRetriedUnlessTheClientPinnedAVersion) {
  TempDir dir;
  RacingService service(OpenStore(dir.Sub("store")));
  Member m(Member::Defaults(), &service);
  Client& c = m.client();
  Resp created = c.Post(kCms, ConfigMap("a"));
  ASSERT_EQ(created.code, 201);

  // A patch is re-read and re-applied on top of the other writer's change.
  service.races = 2;
  Resp patched = c.Patch(Cm("a"), {{"data", {{"mine", "1"}}}});
  ASSERT_EQ(patched.code, 200) << patched.text;
  EXPECT_EQ(patched.json["data"], Json({{"key", "v"}, {"mine", "1"}, {"racer0", "x"}, {"racer1", "x"}}));
  EXPECT_EQ(c.Get(Cm("a")).json, patched.json);

  // An update naming its resourceVersion is the client's conflict.
  service.races = 1;
  Json pinned = patched.json;
  pinned["data"]["pinned"] = "1";
  EXPECT_EQ(c.Put(Cm("a"), pinned).code, 409);
  service.races = 1;
  Json loose = c.Get(Cm("a")).json;
  loose["metadata"].erase("resourceVersion");
  loose["data"]["loose"] = "1";
  EXPECT_EQ(c.Put(Cm("a"), loose).code, 200);

  // Bounded: a key that keeps changing gives up with 409.
  service.races = 100;
  EXPECT_EQ(c.Patch(Cm("a"), {{"data", {{"again", "1"}}}}).code, 409);
  EXPECT_EQ(service.races.load(), 95);
  service.races = 1;
  Resp deleted = c.Delete(Cm("a"));
  ASSERT_EQ(deleted.code, 200);
  EXPECT_TRUE(deleted.json["data"].contains("racer0"));  // the state it deleted
}

TEST(ApiObjects, InvalidObjectsGet422WithCauses) {
  Member m;
  Json d = Deployment("web");
  d["spec"]["template"]["spec"]["containers"][0].erase("image");
  d["spec"]["template"]["metadata"]["labels"]["app"] = "other";
  Resp r = m.client().Post(kDeploys, d);
  ASSERT_EQ(r.code, 422) << r.text;
  EXPECT_EQ(r.json["reason"], "Invalid");
  EXPECT_EQ(r.json["details"]["name"], "web");
  EXPECT_EQ(r.json["details"]["kind"], "Deployment");
  std::vector<std::string> fields;
  for (const auto& cause : r.json["details"]["causes"]) fields.push_back(cause["field"]);
  EXPECT_THAT(fields, ::testing::Contains("spec.template.spec.containers[0].image"));
  EXPECT_THAT(r.json["message"].get<std::string>(), HasSubstr("Deployment.apps \"web\" is invalid"));
  EXPECT_EQ(m.client().Get(Dep("web")).code, 404);

  // Update and patch are validated too.
  ASSERT_EQ(m.client().Post(kDeploys, Deployment("web")).code, 201);
  Resp bad_patch = m.client().Patch(Dep("web"), {{"spec", {{"replicas", -1}}}});
  EXPECT_EQ(bad_patch.code, 422) << bad_patch.text;
  Json nameless = ConfigMap("");
  nameless["metadata"].erase("name");
  EXPECT_EQ(m.client().Post(kCms, nameless).code, 422);
}

// The GitRepository is bosun's own record, but `bosun suspend` writes its
// spec.suspend: anything but a boolean would look like a pause and not be one.
TEST(ApiObjects, AGitRepositorySuspendIsTrueOrFalse) {
  Member m;
  Client& c = m.client();
  Json repo = {{"apiVersion", "bosun.dev/v1"},
               {"kind", "GitRepository"},
               {"metadata", {{"name", "default"}}},
               {"spec", {{"url", "file:///srv/app.git"}, {"suspend", "yes"}}}};
  Resp bad = c.Post("/apis/bosun.dev/v1/gitrepositories", repo);
  EXPECT_EQ(bad.code, 422) << bad.text;
  EXPECT_THAT(bad.text, HasSubstr("spec.suspend"));
  repo["spec"]["suspend"] = true;
  EXPECT_EQ(c.Post("/apis/bosun.dev/v1/gitrepositories", repo).code, 201);
}

// Kubernetes' immutable fields: a Deployment's selector (changing it would
// orphan its ReplicaSets and pods, still running), a Job's template, and the
// contents of a ConfigMap marked immutable. Other changes go through.
TEST(ApiObjects, ImmutableFieldsCannotBeChanged) {
  Member m;
  Client& c = m.client();
  ASSERT_EQ(c.Post(kDeploys, Deployment("web")).code, 201);
  Json moved = Deployment("web");
  moved["spec"]["selector"]["matchLabels"]["app"] = "web2";
  moved["spec"]["template"]["metadata"]["labels"]["app"] = "web2";
  Resp r = c.Put(Dep("web"), moved);
  ASSERT_EQ(r.code, 422) << r.text;
  ASSERT_EQ(r.json["details"]["causes"].size(), 1u) << r.text;
  EXPECT_EQ(r.json["details"]["causes"][0]["field"], "spec.selector");
  EXPECT_THAT(r.json["message"].get<std::string>(), HasSubstr("field is immutable"));
  EXPECT_EQ(c.Get(Dep("web")).json["spec"]["selector"]["matchLabels"]["app"], "web");
  EXPECT_EQ(c.Patch(Dep("web"), {{"spec", {{"replicas", 3}}}}).code, 200);

  Json frozen = ConfigMap("frozen");
  frozen["immutable"] = true;
  ASSERT_EQ(c.Post(kCms, frozen).code, 201);
  Resp changed = c.Patch(Cm("frozen"), {{"data", {{"key", "new"}}}});
  EXPECT_EQ(changed.code, 422) << changed.text;
  EXPECT_THAT(changed.text, HasSubstr("field is immutable when `immutable` is set"));
  EXPECT_EQ(c.Patch(Cm("frozen"), {{"immutable", false}}).code, 422);
  EXPECT_EQ(c.Patch(Cm("frozen"), {{"metadata", {{"labels", {{"x", "y"}}}}}}).code, 200);  // metadata may change
  EXPECT_EQ(c.Delete(Cm("frozen")).code, 200);                                             // and it may be deleted

  // A Job runs its template once: changing it would do nothing, so it is
  // refused, unless the Job is suspended (it has not run it yet).
  const std::string jobs = "/apis/batch/v1/namespaces/default/jobs";
  Json job = Json::parse(R"({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
    "spec": {"template": {"spec": {"restartPolicy": "Never",
                                   "containers": [{"name": "m", "image": "migrate:1"}]}}}})");
  const Json new_image = Json::parse(R"({"spec": {"template": {"spec": {"containers": [
    {"name": "m", "image": "migrate:2"}]}}}})");
  ASSERT_EQ(c.Post(jobs, job).code, 201);
  Resp retemplated = c.Patch(jobs + "/migrate", new_image);
  EXPECT_EQ(retemplated.code, 422) << retemplated.text;
  EXPECT_EQ(retemplated.json["details"]["causes"][0]["field"], "spec.template");
  EXPECT_THAT(retemplated.text, HasSubstr("a Job runs its pod template once"));
  EXPECT_EQ(c.Patch(jobs + "/migrate", {{"spec", {{"completionMode", "Indexed"}}}}).code, 422);
  EXPECT_EQ(c.Patch(jobs + "/migrate", {{"spec", {{"backoffLimit", 2}}}}).code, 200);
  job["metadata"]["name"] = "later";
  job["spec"]["suspend"] = true;
  ASSERT_EQ(c.Post(jobs, job).code, 201);
  EXPECT_EQ(c.Patch(jobs + "/later", new_image).code, 200) << "a suspended Job has not run its template";
}

TEST(ApiObjects, GenerateName) {
  Member m;
  Json cm = ConfigMap("");
  cm["metadata"].erase("name");
  cm["metadata"]["generateName"] = "job-";
  Resp r = m.client().Post(kCms, cm);
  ASSERT_EQ(r.code, 201) << r.text;
  std::string name = r.json["metadata"]["name"];
  EXPECT_THAT(name, ::testing::MatchesRegex("job-[a-z0-9]{5}"));
  EXPECT_EQ(m.client().Get(Cm(name)).code, 200);
}

TEST(ApiObjects, GenerationCountsSpecChangesOnly) {
  Member m;
  Client& c = m.client();
  Resp d = c.Post(kDeploys, Deployment("web"));
  ASSERT_EQ(d.code, 201) << d.text;
  EXPECT_EQ(d.json["metadata"]["generation"], 1);
  Resp labels = c.Patch(Dep("web"), {{"metadata", {{"labels", {{"tier", "front"}}}}}});
  EXPECT_EQ(labels.json["metadata"]["generation"], 1);
  Resp scaled = c.Patch(Dep("web"), {{"spec", {{"replicas", 3}}}});
  EXPECT_EQ(scaled.json["metadata"]["generation"], 2);
  // The client cannot set generation.
  Json forged = scaled.json;
  forged["metadata"]["generation"] = 42;
  EXPECT_EQ(c.Put(Dep("web"), forged).json["metadata"]["generation"], 2);

  // Kinds without spec: anything but metadata and status counts.
  ASSERT_EQ(c.Post(kCms, ConfigMap("a")).code, 201);
  EXPECT_EQ(c.Patch(Cm("a"), {{"metadata", {{"labels", {{"x", "y"}}}}}}).json["metadata"]["generation"], 1);
  EXPECT_EQ(c.Patch(Cm("a"), {{"data", {{"key", "new"}}}}).json["metadata"]["generation"], 2);
}

TEST(ApiObjects, StatusSubresource) {
  Member m;
  Client& c = m.client();
  ASSERT_EQ(c.Post(kDeploys, Deployment("web")).code, 201);
  // /status changes status only: the spec in the body is ignored, and the
  // generation stays.
  Json body = Deployment("web", 7);
  body["status"] = {{"replicas", 1}, {"readyReplicas", 1}};
  Resp st = c.Put(Dep("web") + "/status", body);
  ASSERT_EQ(st.code, 200) << st.text;
  EXPECT_EQ(st.json["status"]["readyReplicas"], 1);
  EXPECT_EQ(st.json["spec"]["replicas"], 1);
  EXPECT_EQ(st.json["metadata"]["generation"], 1);
  EXPECT_EQ(c.Get(Dep("web") + "/status").json["status"]["readyReplicas"], 1);

  // The main resource keeps the stored status whatever the body says.
  Json main = st.json;
  main["status"] = {{"replicas", 99}};
  main["spec"]["replicas"] = 2;
  Resp put = c.Put(Dep("web"), main);
  ASSERT_EQ(put.code, 200) << put.text;
  EXPECT_EQ(put.json["status"], Json({{"replicas", 1}, {"readyReplicas", 1}}));
  EXPECT_EQ(put.json["spec"]["replicas"], 2);
  EXPECT_EQ(put.json["metadata"]["generation"], 2);
  Resp patch_main = c.Patch(Dep("web"), {{"status", {{"replicas", 5}}}});
  EXPECT_EQ(patch_main.json["status"]["replicas"], 1);

  // Patching /status merges into status only.
  Resp ps = c.Patch(Dep("web") + "/status", {{"status", {{"readyReplicas", 2}}}, {"spec", {{"replicas", 9}}}});
  ASSERT_EQ(ps.code, 200) << ps.text;
  EXPECT_EQ(ps.json["status"], Json({{"replicas", 1}, {"readyReplicas", 2}}));
  EXPECT_EQ(ps.json["spec"]["replicas"], 2);
  // A stale resourceVersion on /status is a conflict as well.
  Json stale = st.json;
  stale["status"]["replicas"] = 0;
  EXPECT_EQ(c.Put(Dep("web") + "/status", stale).code, 409);
  EXPECT_EQ(c.Delete(Dep("web") + "/status").code, 405);
}

TEST(ApiObjects, MergePatchAndJsonPatch) {
  Member m;
  Client& c = m.client();
  ASSERT_EQ(c.Post(kCms, ConfigMap("a", {{"app", "web"}, {"tier", "db"}})).code, 201);
  // RFC 7386: null removes.
  Resp merge = c.Patch(Cm("a"), {{"metadata", {{"labels", {{"tier", nullptr}}}}}, {"data", {{"new", "1"}}}});
  ASSERT_EQ(merge.code, 200) << merge.text;
  EXPECT_EQ(merge.json["metadata"]["labels"], Json({{"app", "web"}}));
  EXPECT_EQ(merge.json["data"], Json({{"key", "v"}, {"new", "1"}}));
  Resp strategic = c.Patch(Cm("a"), {{"data", {{"s", "2"}}}}, "application/strategic-merge-patch+json");
  EXPECT_EQ(strategic.json["data"]["s"], "2");

  // RFC 6902.
  Json ops = Json::array({{{"op", "replace"}, {"path", "/data/key"}, {"value", "replaced"}},
                          {{"op", "remove"}, {"path", "/data/new"}},
                          {{"op", "add"}, {"path", "/metadata/labels/added"}, {"value", "yes"}}});
  Resp json_patch = c.Patch(Cm("a"), ops, "application/json-patch+json");
  ASSERT_EQ(json_patch.code, 200) << json_patch.text;
  EXPECT_EQ(json_patch.json["data"], Json({{"key", "replaced"}, {"s", "2"}}));
  EXPECT_EQ(json_patch.json["metadata"]["labels"]["added"], "yes");

  Json failing = Json::array({{{"op", "test"}, {"path", "/data/key"}, {"value", "other"}}});
  EXPECT_EQ(c.Patch(Cm("a"), failing, "application/json-patch+json").code, 422);
  EXPECT_EQ(c.Patch(Cm("a"), {{"op", "add"}}, "application/json-patch+json").code, 400);
  EXPECT_EQ(c.Patch(Cm("a"), {{"data", {}}}, "text/plain").code, 415);
  EXPECT_EQ(c.Patch(Cm("missing"), {{"data", {}}}).code, 404);
  // Renaming through a patch is refused.
  EXPECT_EQ(c.Patch(Cm("a"), {{"metadata", {{"name", "b"}}}}).code, 400);
}

TEST(ApiObjects, ListWithSelectorAndPages) {
  Member m;
  Client& c = m.client();
  for (int i = 0; i < 7; ++i) {
    std::string app = i % 2 == 0 ? "web" : "db";
    ASSERT_EQ(c.Post(kCms, ConfigMap("cm-" + std::to_string(i), {{"app", app}})).code, 201);
  }
  Resp web = c.Get(std::string(kCms) + "?labelSelector=app%3Dweb");
  ASSERT_EQ(web.code, 200);
  EXPECT_EQ(web.json["items"].size(), 4u);
  Resp set = c.Get(std::string(kCms) + "?labelSelector=app+in+(web,db),app!=db");
  EXPECT_EQ(set.json["items"].size(), 4u) << set.text;

  // Pages of 3 read one snapshot: a write between pages does not show.
  std::vector<std::string> names;
  std::string path = std::string(kCms) + "?limit=3";
  Resp page = c.Get(path);
  ASSERT_EQ(page.code, 200);
  std::string rv = page.json["metadata"]["resourceVersion"];
  std::string first_token = page.json["metadata"]["continue"];
  ASSERT_EQ(c.Post(kCms, ConfigMap("cm-late")).code, 201);
  int pages = 0;
  while (true) {
    ++pages;
    ASSERT_LE(page.json["items"].size(), 3u);
    EXPECT_EQ(page.json["metadata"]["resourceVersion"], rv);
    for (const auto& item : page.json["items"]) names.push_back(item["metadata"]["name"]);
    if (!page.json["metadata"].contains("continue")) break;
    page = c.Get(path + "&continue=" + page.json["metadata"]["continue"].get<std::string>());
    ASSERT_EQ(page.code, 200) << page.text;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"cm-0", "cm-1", "cm-2", "cm-3", "cm-4", "cm-5", "cm-6"}));

  // limit counts selected items.
  Resp two_web = c.Get(std::string(kCms) + "?labelSelector=app%3Dweb&limit=2");
  ASSERT_EQ(two_web.json["items"].size(), 2u);
  EXPECT_EQ(two_web.json["items"][1]["metadata"]["name"], "cm-2");
  Resp rest = c.Get(std::string(kCms) + "?labelSelector=app%3Dweb&limit=2&continue=" +
                    two_web.json["metadata"]["continue"].get<std::string>());
  ASSERT_EQ(rest.json["items"].size(), 2u);
  EXPECT_EQ(rest.json["items"][0]["metadata"]["name"], "cm-4");

  // A continue token whose snapshot was compacted away: 410.
  ASSERT_TRUE(m.store().Compact(m.store().revision()).ok());
  Resp old = c.Get(path + "&continue=" + first_token);
  EXPECT_EQ(old.code, 410);
  EXPECT_EQ(old.json["reason"], "Expired");
}

TEST(ApiServerMisc, MembersVersionRoutesAndStop) {
  Member m;
  Resp members = m.client().Get("/bosun/v1/members");
  ASSERT_EQ(members.code, 200);
  ASSERT_EQ(members.json["items"].size(), 1u);
  EXPECT_EQ(members.json["items"][0]["isLeader"], true);
  EXPECT_EQ(members.json["items"][0]["apiUrl"], m.url());
  EXPECT_TRUE(m.client().Get("/version").json.contains("gitVersion"));

  m.server().AddRoute("/hooks", /*open=*/true, [](const HttpRequest& req, Responder respond) {
    HttpResponse r;
    r.status = 202;
    r.content_type = "text/plain";
    r.body = req.method + " " + req.path + " " + req.body + " " + req.headers.at("x-signature");
    respond(r);
  });
  m.server().AddRoute("/private", /*open=*/false, [](const HttpRequest& req, Responder respond) {
    respond(HttpResponse{200, "text/plain", {}, req.user ? req.user->name : "nobody"});
  });
  Resp hook = m.client().Do("POST", "/hooks/github", std::string("payload"), "text/plain", std::string(),
                            {{"X-Signature", "sig"}});
  EXPECT_EQ(hook.code, 202);
  EXPECT_EQ(hook.text, "POST /hooks/github payload sig");
  EXPECT_EQ(m.client().Do("GET", "/private", std::nullopt, "application/json", std::string()).code, 401);
  EXPECT_EQ(m.client().Get("/private/x").text, "tester");
  EXPECT_EQ(m.client().Get("/privateer").code, 404);

  m.server().Stop();
  m.server().Stop();  // idempotent
}

TEST(ApiServerMisc, StartRefusesBadArguments) {
  TokenAuthenticator auth;
  ApiServerOptions o;
  EXPECT_FALSE(ApiServer::Start(o, nullptr, &auth).ok());
  TempDir dir;
  LocalService service(OpenStore(dir.Sub("s")));
  o.listen = "ftp://127.0.0.1:0";
  EXPECT_EQ(ApiServer::Start(o, &service, &auth).error().code(), Code::kInvalid);
  // Two servers on one fixed port: the second cannot bind.
  o.listen = "http://127.0.0.1:0";
  auto first = ApiServer::Start(o, &service, &auth);
  ASSERT_TRUE(first.ok());
  o.listen = (*first)->url();
  auto second = ApiServer::Start(o, &service, &auth);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), Code::kIo);
  EXPECT_EQ(Client((*first)->url(), "").Get("/healthz").code, 200);  // the first still serves
}

}  // namespace
}  // namespace bosun::state::apitest
