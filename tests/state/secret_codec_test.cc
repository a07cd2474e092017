// Encryption at rest (state/secret_codec.h) and Secret redaction in API
// responses (state/secret_redaction.h): the codec alone, then through a real
// ApiServer over a real RocksDB store (test::InProcessApi).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "core/kinds.h"
#include "crypto/aead.h"
#include "crypto/tokens.h"
#include "state/secret_codec.h"
#include "state/secret_redaction.h"
#include "tests/api_harness.h"
#include "tests/test_support.h"

namespace bosun::state {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kPlain = "hunter2-correct-horse-battery";
// base64 of kPlain.
constexpr const char* kPlainB64 = "aHVudGVyMi1jb3JyZWN0LWhvcnNlLWJhdHRlcnk=";

const KindInfo& SecretKind() { return *KindRegistry::Builtin().FindKind("Secret"); }
const KindInfo& ConfigMapKind() { return *KindRegistry::Builtin().FindKind("ConfigMap"); }

Json SecretJson(const std::string& name = "db", const std::string& ns = "default") {
  return Json{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", "web"}}}}},
              {"type", "Opaque"},
              {"data", {{"password", kPlainB64}}},
              {"stringData", {{"token", kPlain}}}};
}

crypto::DataKey Key(char fill) {
  auto k = crypto::DataKey::FromBytes(std::string(crypto::kDataKeyBytes, fill));
  EXPECT_TRUE(k);
  return std::move(*k);
}

const std::string kKey = "/registry/core/secrets/default/db";

TEST(SecretCodec, EncryptsSecretsOnly) {
  EncryptingValueCodec codec(Key('a'));
  auto bytes = codec.Encode(SecretKind(), kKey, SecretJson());
  ASSERT_TRUE(bytes) << bytes.error().message();
  EXPECT_THAT(*bytes, StartsWith(std::string(kEncryptedValueScheme) + codec.key_id() + ":"));
  EXPECT_EQ(EncryptedValueKeyId(*bytes), codec.key_id());
  for (const char* leak : {kPlain, kPlainB64, "password", "hunter2", "app"}) {
    EXPECT_THAT(*bytes, Not(HasSubstr(leak))) << leak;
  }
  auto back = codec.Decode(SecretKind(), kKey, *bytes);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, SecretJson());

  Json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "c"}}}, {"data", {{"k", "v"}}}};
  auto plain = codec.Encode(ConfigMapKind(), "/registry/core/configmaps/default/c", cm);
  ASSERT_TRUE(plain);
  EXPECT_EQ(Json::parse(*plain), cm);
  EXPECT_EQ(EncryptedValueKeyId(*plain), "");
}

TEST(SecretCodec, KindsAreAParameter) {
  EncryptingValueCodec codec(Key('a'), {GroupVersionKind{"", "v1", "ConfigMap"}});
  EXPECT_TRUE(codec.Encrypts(ConfigMapKind()));
  EXPECT_FALSE(codec.Encrypts(SecretKind()));
  Json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "c"}}}, {"data", {{"k", kPlain}}}};
  auto bytes = codec.Encode(ConfigMapKind(), "/registry/core/configmaps/default/c", cm);
  ASSERT_TRUE(bytes);
  EXPECT_THAT(*bytes, StartsWith(kEncryptedValuePrefix));
  EXPECT_THAT(*bytes, Not(HasSubstr(kPlain)));
}

TEST(SecretCodec, ReadsPlainJsonWrittenBeforeEncryption) {
  EncryptingValueCodec codec(Key('a'));
  auto back = codec.Decode(SecretKind(), kKey, SecretJson().dump());
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, SecretJson());
}

TEST(SecretCodec, ValueMovedToAnotherKeyDoesNotDecrypt) {
  EncryptingValueCodec codec(Key('a'));
  auto bytes = codec.Encode(SecretKind(), kKey, SecretJson());
  ASSERT_TRUE(bytes);
  auto moved = codec.Decode(SecretKind(), "/registry/core/secrets/other/db", *bytes);
  ASSERT_FALSE(moved);
  EXPECT_THAT(moved.error().message(), HasSubstr("/registry/core/secrets/other/db"));
  EXPECT_THAT(moved.error().message(), HasSubstr("authentication failed"));
  EXPECT_THAT(moved.error().message(), Not(HasSubstr(kPlain)));
}

TEST(SecretCodec, TamperedValueFailsWithoutShowingIt) {
  EncryptingValueCodec codec(Key('a'));
  auto bytes = codec.Encode(SecretKind(), kKey, SecretJson());
  ASSERT_TRUE(bytes);
  std::string bad = *bytes;
  bad[bad.size() - 20] ^= 0x40;
  auto r = codec.Decode(SecretKind(), kKey, bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalid);
  EXPECT_THAT(r.error().message(), HasSubstr("does not decrypt"));
  EXPECT_THAT(r.error().message(), Not(HasSubstr(kPlain)));
}

TEST(SecretCodec, OtherKeyIsNamed) {
  EncryptingValueCodec a(Key('a'));
  EncryptingValueCodec b(Key('b'));
  auto bytes = a.Encode(SecretKind(), kKey, SecretJson());
  ASSERT_TRUE(bytes);
  auto r = b.Decode(SecretKind(), kKey, *bytes);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("encrypted with data key " + a.key_id()));
  EXPECT_THAT(r.error().message(), HasSubstr("this member's key is " + b.key_id()));
  EXPECT_THAT(r.error().message(), HasSubstr("--encryption-key-file"));
}

TEST(SecretCodec, UnknownSchemeOrBrokenHeader) {
  EncryptingValueCodec codec(Key('a'));
  auto r = codec.Decode(SecretKind(), kKey, "bosun:enc:aes256gcm:v9:0011223344556677:xxxxxxxx");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("aes256gcm v9"));
  auto h = codec.Decode(SecretKind(), kKey, "bosun:enc:nonsense");
  ASSERT_FALSE(h);
  EXPECT_THAT(h.error().message(), HasSubstr("header is malformed"));
}

TEST(SecretCodec, CheckStoreFindsForeignKeys) {
  test::TempDir dir("bosun-codec");
  auto store = Store::Open(dir.path());
  ASSERT_TRUE(store) << store.error().message();
  EncryptingValueCodec a(Key('a'));
  EncryptingValueCodec b(Key('b'));
  Txn txn;
  for (const char* name : {"one", "two"}) {
    std::string key = "/registry/core/secrets/default/" + std::string(name);
    txn.ops.push_back({Op::Kind::kPut, key, *a.Encode(SecretKind(), key, SecretJson(name))});
  }
  const std::string legacy = "/registry/core/secrets/default/legacy";
  txn.ops.push_back({Op::Kind::kPut, legacy, SecretJson("legacy").dump()});
  ASSERT_TRUE((*store)->Apply(txn, 0));

  auto ok = a.CheckStore(**store, "keys/a.key");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->encrypted, 2u);
  EXPECT_EQ(ok->plaintext, 1u);

  auto bad = b.CheckStore(**store, "keys/b.key");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kInvalid);
  EXPECT_THAT(bad.error().message(), HasSubstr("encrypted with data key " + a.key_id()));
  EXPECT_THAT(bad.error().message(), HasSubstr("keys/b.key holds key " + b.key_id()));
  EXPECT_THAT(bad.error().message(), HasSubstr("same --encryption-key-file"));
}

TEST(SecretRedaction, HidesValuesKeepsKeys) {
  Json s = SecretJson();
  ASSERT_TRUE(RedactSecret(s));
  EXPECT_EQ(s["data"]["password"], RedactedValue(std::string(kPlain).size()));
  EXPECT_EQ(s["stringData"]["token"], "<redacted 29 bytes>");
  EXPECT_EQ(s["metadata"], SecretJson()["metadata"]);
  EXPECT_EQ(RedactedValue(1), "<redacted 1 byte>");
  // kubectl's copy of what it applied holds the data: hidden too.
  Json applied = SecretJson();
  applied["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
      "{\"stringData\":{\"token\":\"" + std::string(kPlain) + "\"}}";
  ASSERT_TRUE(RedactSecret(applied));
  EXPECT_THAT(applied.dump(), Not(HasSubstr(kPlain)));
  EXPECT_THAT(applied["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].get<std::string>(),
              ::testing::StartsWith("<redacted "));
  EXPECT_EQ(applied["metadata"]["labels"], SecretJson()["metadata"]["labels"]);
  Json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"data", {{"k", "v"}}}};
  EXPECT_FALSE(RedactSecret(cm));
  EXPECT_FALSE(RedactedCopy(cm));
  Json list = {{"kind", "BatchResult"}, {"items", {cm, SecretJson()}}};
  auto copy = RedactedCopy(list);
  ASSERT_TRUE(copy);
  EXPECT_EQ((*copy)["items"][0], cm);
  EXPECT_THAT((*copy)["items"][1].dump(), Not(HasSubstr(kPlain)));
}

// ---- through the API server ----

class SecretApiTest : public ::testing::Test {
 protected:
  SecretApiTest() : codec_(Key('k')), api_(dir_.Sub("store"), 0, &codec_) {}

  // A client whose token belongs to `user` in `groups`.
  std::unique_ptr<Client> ClientAs(const std::string& user, std::vector<std::string> groups) {
    std::string token = crypto::NewToken();
    api_.auth().Add(crypto::HashToken(token), User{user, std::move(groups)});
    ClientOptions co;
    co.servers = {api_.url()};
    co.token = token;
    return std::move(*Client::Create(co));
  }

  test::TempDir dir_{"bosun-secret-api"};
  EncryptingValueCodec codec_;
  test::InProcessApi api_;
};

TEST_F(SecretApiTest, StoredEncryptedServedPlainToAdmin) {
  auto created = api_.client().Create(Object(SecretJson()));
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_EQ(created->json()["data"]["password"], kPlainB64);

  auto raw = api_.store().Get(kKey);
  ASSERT_TRUE(raw) << raw.error().message();
  EXPECT_EQ(EncryptedValueKeyId(raw->value), codec_.key_id());
  EXPECT_THAT(raw->value, Not(HasSubstr(kPlain)));
  EXPECT_THAT(raw->value, Not(HasSubstr(kPlainB64)));

  auto got = api_.client().Get(SecretKind(), "default", "db");
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->json()["stringData"]["token"], kPlain);

  // An update, and a batch, store ciphertext too; a patch that changes
  // nothing stays a no-op although every encryption differs.
  Json upd = got->json();
  upd["data"]["password"] = "bmV3LXZhbHVlLTQy";  // new-value-42
  ASSERT_TRUE(api_.client().Update(Object(upd)));
  auto after = api_.client().Get(SecretKind(), "default", "db");
  ASSERT_TRUE(after);
  auto again = api_.client().Patch(SecretKind(), "default", "db", Json{{"type", "Opaque"}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->resource_version(), after->resource_version());

  BatchOp op;
  op.object = Object(SecretJson("batch"));
  auto batch = api_.client().Batch({op});
  ASSERT_TRUE(batch) << batch.error().message();
  auto braw = api_.store().Get("/registry/core/secrets/default/batch");
  ASSERT_TRUE(braw);
  EXPECT_THAT(braw->value, StartsWith(kEncryptedValueScheme));
  EXPECT_THAT(braw->value, Not(HasSubstr(kPlainB64)));

  auto list = api_.client().List(SecretKind(), "");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->items[0].json()["stringData"]["token"], kPlain);
}

TEST_F(SecretApiTest, OtherUsersGetRedactedValuesNodesDoNot) {
  ASSERT_TRUE(api_.client().Create(Object(SecretJson())));
  auto viewer = ClientAs("ci", {"bosun:viewers"});
  auto node = ClientAs("node-1", {"system:nodes"});

  auto got = viewer->Get(SecretKind(), "default", "db");
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->json()["data"]["password"], "<redacted 29 bytes>");
  EXPECT_THAT(got->json().dump(), Not(HasSubstr(kPlain)));
  EXPECT_THAT(got->json().dump(), Not(HasSubstr(kPlainB64)));
  EXPECT_EQ(got->name(), "db");

  auto list = viewer->List(SecretKind(), "default");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_THAT(list->items[0].json().dump(), Not(HasSubstr(kPlainB64)));

  auto by_node = node->Get(SecretKind(), "default", "db");
  ASSERT_TRUE(by_node);
  EXPECT_EQ(by_node->json()["data"]["password"], kPlainB64);

  // Watch: the initial ADDED and a later MODIFIED are redacted.
  std::mutex mu;
  std::vector<std::string> seen;
  auto watch = viewer->Watch(SecretKind(), "default", {}, "", [&](const WatchEvent& ev) {
    if (ev.type == WatchEvent::Type::kBookmark) return;
    std::lock_guard l(mu);
    seen.push_back(ev.object.json().dump());
  });
  ASSERT_TRUE(watch) << watch.error().message();
  ASSERT_TRUE(api_.client().Patch(SecretKind(), "default", "db", Json{{"stringData", {{"token", std::string(kPlain) + "2"}}}}));
  ASSERT_TRUE(test::Eventually([&] {
    std::lock_guard l(mu);
    return seen.size() >= 2;
  }));
  std::lock_guard l(mu);
  for (const auto& s : seen) {
    EXPECT_THAT(s, Not(HasSubstr("hunter2"))) << s;
    EXPECT_THAT(s, HasSubstr("<redacted"));
  }
}

// Nodes read the Secrets pods mount, not the cluster's own keys in
// bosun-system (the sealing keys, the signing key), as Kubernetes'
// NodeRestriction keeps kubelets from the control plane's Secrets.
TEST_F(SecretApiTest, NodesDoNotSeeTheClustersOwnKeys) {
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "bosun-system"}}}};
  ASSERT_TRUE(api_.client().Create(Object(ns)));
  ASSERT_TRUE(api_.client().Create(Object(SecretJson("signing-key", "bosun-system"))));
  ASSERT_TRUE(api_.client().Create(Object(SecretJson("db", "default"))));
  auto node = ClientAs("node-1", {"system:nodes"});

  auto key = node->Get(SecretKind(), "bosun-system", "signing-key");
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_EQ(key->json()["data"]["password"], "<redacted 29 bytes>");
  EXPECT_THAT(key->json().dump(), Not(HasSubstr(kPlainB64)));
  auto all = node->List(SecretKind(), "");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->items.size(), 2u);
  for (const Object& o : all->items) {
    if (o.namespace_() == "bosun-system") {
      EXPECT_THAT(o.json().dump(), Not(HasSubstr(kPlainB64)));
    } else {
      EXPECT_EQ(o.json()["data"]["password"], kPlainB64);
    }
  }
  auto admin = api_.client().Get(SecretKind(), "bosun-system", "signing-key");
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->json()["data"]["password"], kPlainB64);
}

TEST_F(SecretApiTest, RefusedSecretNeverEchoesAValue) {
  Json bad = SecretJson("bad");
  bad["stringData"]["pin"] = 987654321;   // not a string
  bad["data"]["raw"] = "not base64 !!";  // not base64
  auto r = api_.client().Create(Object(bad));
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("stringData.pin"));
  EXPECT_THAT(r.error().message(), Not(HasSubstr("987654321")));
  EXPECT_THAT(r.error().message(), Not(HasSubstr("not base64")));
}

}  // namespace
}  // namespace bosun::state
