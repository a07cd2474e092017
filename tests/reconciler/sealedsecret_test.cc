// The SealedSecret controller and the sealing keys in the store, against a
// real API server (test::InProcessApi): Secrets made, updated and owned;
// values that do not open leave the previous Secret as it was, with a
// precise condition; keys created once, rotated and imported.
#include "reconciler/sealedsecret_controller.h"

#include <chrono>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypto/sshsig.h"
#include "reconciler/sealing_keys.h"
#include "tests/api_harness.h"
#include "tests/test_support.h"

namespace bosun::reconciler {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

const KindInfo& Kind(const char* k) { return *KindRegistry::Builtin().FindKind(k); }

class SealedSecretTest : public ::testing::Test {
 protected:
  void Start(SealedSecretOptions options = {}) {
    ManagerOptions mo;
    mo.sync_timeout = 10s;
    mgr_ = std::make_unique<ControllerManager>(&api_.client(), &Clock::System(), mo);
    ASSERT_TRUE(AddSealedSecretController(*mgr_, options));
    auto s = mgr_->Start();
    ASSERT_TRUE(s) << s.error().message();
  }
  void TearDown() override {
    if (mgr_) mgr_->Stop();
  }

  // The cluster's active public key, once the controller made one.
  crypto::SealingPublicKey ActiveKey() {
    Result<crypto::Keyring> ring = Error(Code::kNotFound, "");
    EXPECT_TRUE(test::Eventually([&] {
      ring = ReadSealingKeys(api_.client());
      return ring.ok();
    })) << "the controller must create the first sealing key";
    return ring.ok() ? ring->Active()->public_key() : crypto::SealingPublicKey{};
  }

  std::string SealFor(const crypto::SealingPublicKey& key, const std::string& ns, const std::string& name,
                      const std::string& value) {
    auto s = crypto::Seal(key, crypto::SealScope::Strict(ns, name), value);
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : "";
  }

  Object Sealed(const std::string& ns, const std::string& name, Json encrypted) {
    Object o(GroupVersionKind{"bosun.dev", "v1", "SealedSecret"}, ns, name);
    o.json()["spec"] = {{"encryptedData", std::move(encrypted)},
                        {"template", {{"type", "kubernetes.io/basic-auth"},
                                      {"metadata", {{"labels", {{"app", "db"}}}}}}}};
    return o;
  }

  // Creates or updates (retrying when the controller's status write raced).
  Object Apply(const Object& o) {
    for (int attempt = 0;; ++attempt) {
      auto cur = api_.client().Get(Kind("SealedSecret"), o.namespace_(), o.name());
      Object w = o;
      if (cur) w.set_resource_version(cur->resource_version());
      auto r = cur ? api_.client().Update(w) : api_.client().Create(w);
      if (!r && r.error().code() == Code::kConflict && attempt < 10) continue;
      EXPECT_TRUE(r) << (r ? "" : r.error().message());
      return r ? *r : o;
    }
  }

  std::string SecretValue(const std::string& ns, const std::string& name, const std::string& key) {
    auto s = api_.client().Get(Kind("Secret"), ns, name);
    if (!s) return "<no secret>";
    const Json& v = Object::Field(Object::Field(s->json(), "data"), key.c_str());
    if (!v.is_string()) return "<no key>";
    auto raw = crypto::DecodeBase64(v.get<std::string>());
    return raw ? *raw : "<not base64>";
  }

  // The Synced condition of a SealedSecret: {status, reason, message}.
  Json Synced(const std::string& ns, const std::string& name) {
    auto s = api_.client().Get(Kind("SealedSecret"), ns, name);
    if (!s) return nullptr;
    const Json& conds = Object::Field(s->status(), "conditions");
    if (!conds.is_array()) return nullptr;
    for (const auto& c : conds) {
      if (c.value("type", "") == "Synced") return c;
    }
    return nullptr;
  }
  bool SyncedIs(const std::string& ns, const std::string& name, const std::string& status, const std::string& reason) {
    Json c = Synced(ns, name);
    return c.is_object() && c.value("status", "") == status && c.value("reason", "") == reason;
  }

  std::string EventsText(const std::string& ns) {
    mgr_->events().Flush();
    auto events = api_.client().List(Kind("Event"), ns);
    std::string all;
    if (events) {
      for (const auto& e : events->items) all += e.json().dump() + "\n";
    }
    return all;
  }

  test::TempDir dir_{"bosun-sealed"};
  test::InProcessApi api_{dir_.Sub("db")};
  std::unique_ptr<ControllerManager> mgr_;
  const bool namespaces_ = (api_.CreateNamespaces({"shop", "dev"}), true);
};

TEST_F(SealedSecretTest, FirstStartCreatesOneKeyWithItsPublicHalfInAConfigMap) {
  Start();
  crypto::SealingPublicKey pub = ActiveKey();
  auto secret = api_.client().Get(Kind("Secret"), kSealingKeysNamespace, kSealingKeysName);
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret->json()["type"], kSealingKeysSecretType);
  EXPECT_EQ(secret->annotation(kActiveSealingKeyAnnotation).value_or(""), pub.Id());
  EXPECT_TRUE(test::Eventually([&] { return ListSealingKeys(api_.client()).ok(); }));
  auto listed = ListSealingKeys(api_.client());
  ASSERT_TRUE(listed) << listed.error().message();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, pub.Id());
  EXPECT_EQ((*listed)[0].public_key, pub.Base64());
  EXPECT_TRUE((*listed)[0].active);
  auto cm = api_.client().Get(Kind("ConfigMap"), kSealingKeysNamespace, kSealingKeysName);
  ASSERT_TRUE(cm);
  EXPECT_THAT(cm->json().dump(), Not(HasSubstr("private")));
  EXPECT_TRUE(api_.client().Get(Kind("Namespace"), "", kSealingKeysNamespace).ok());
}

// Members racing at first start (a leadership change) end with one key.
TEST_F(SealedSecretTest, ConcurrentFirstStartsMakeOneKey) {
  std::vector<std::thread> threads;
  std::vector<std::string> active(6);
  for (size_t i = 0; i < active.size(); ++i) {
    threads.emplace_back([&, i] {
      auto client = api_.NewClient();
      auto ring = EnsureSealingKeys(*client, Clock::System());
      if (ring) active[i] = ring->Active()->id();
    });
  }
  for (auto& t : threads) t.join();
  auto ring = ReadSealingKeys(api_.client());
  ASSERT_TRUE(ring) << ring.error().message();
  EXPECT_EQ(ring->size(), 1u);
  for (const auto& id : active) EXPECT_EQ(id, ring->Active()->id());
}

TEST_F(SealedSecretTest, UnsealsIntoAnOwnedSecretAndFollowsChanges) {
  Start();
  auto pub = ActiveKey();
  Object sealed = Apply(Sealed("shop", "db", {{"password", SealFor(pub, "shop", "db", "hunter2")},
                                              {"username", SealFor(pub, "shop", "db", "admin")}}));
  ASSERT_TRUE(test::Eventually([&] { return SecretValue("shop", "db", "password") == "hunter2"; }));
  EXPECT_EQ(SecretValue("shop", "db", "username"), "admin");
  auto secret = api_.client().Get(Kind("Secret"), "shop", "db");
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret->json()["type"], "kubernetes.io/basic-auth");
  EXPECT_EQ(secret->label("app").value_or(""), "db");
  auto ref = secret->controller_ref();
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->kind, "SealedSecret");
  EXPECT_EQ(ref->uid, sealed.uid());
  ASSERT_TRUE(test::Eventually([&] { return SyncedIs("shop", "db", "True", "Unsealed"); }));
  EXPECT_EQ(Synced("shop", "db")["message"], "Secret shop/db holds 2 keys");

  // A changed SealedSecret changes the Secret.
  Apply(Sealed("shop", "db", {{"password", SealFor(pub, "shop", "db", "correct-horse")}}));
  ASSERT_TRUE(test::Eventually([&] { return SecretValue("shop", "db", "password") == "correct-horse"; }));
  EXPECT_EQ(SecretValue("shop", "db", "username"), "<no key>");

  // A Secret changed by hand is put back.
  auto cur = api_.client().Get(Kind("Secret"), "shop", "db");
  ASSERT_TRUE(cur);
  cur->json()["data"]["password"] = crypto::EncodeBase64("tampered");
  ASSERT_TRUE(api_.client().Update(*cur));
  EXPECT_TRUE(test::Eventually([&] { return SecretValue("shop", "db", "password") == "correct-horse"; }));

  std::string events = EventsText("shop");
  EXPECT_THAT(events, HasSubstr("Unsealed"));
  for (const char* v : {"hunter2", "correct-horse", "admin\""}) EXPECT_THAT(events, Not(HasSubstr(v)));

  // Deleting the SealedSecret: its Secret is its dependent (the garbage
  // collector, not this controller, removes it).
  EXPECT_TRUE(cur->controller_ref()->block_owner_deletion);
}

TEST_F(SealedSecretTest, UndecryptableValueKeepsThePreviousSecretAndSaysWhy) {
  Start();
  auto pub = ActiveKey();
  Apply(Sealed("shop", "db", {{"password", SealFor(pub, "shop", "db", "hunter2")}}));
  ASSERT_TRUE(test::Eventually([&] { return SecretValue("shop", "db", "password") == "hunter2"; }));
  auto before = api_.client().Get(Kind("Secret"), "shop", "db");
  ASSERT_TRUE(before);

  // A tampered value next to a good one: nothing is written.
  std::string tampered = SealFor(pub, "shop", "db", "new-password");
  tampered[30] = tampered[30] == 'A' ? 'B' : 'A';
  Apply(Sealed("shop", "db", {{"password", tampered}, {"username", SealFor(pub, "shop", "db", "admin")}}));
  ASSERT_TRUE(test::Eventually([&] { return SyncedIs("shop", "db", "False", "DecryptFailed"); }))
      << Synced("shop", "db").dump();
  std::string message = Synced("shop", "db")["message"];
  EXPECT_THAT(message, HasSubstr("spec.encryptedData.password: cannot be decrypted with key " + pub.Id()));
  EXPECT_THAT(message, HasSubstr("the Secret is left as it was"));
  EXPECT_THAT(message, Not(HasSubstr("username")));
  std::this_thread::sleep_for(200ms);  // give a wrong write the chance to land
  auto after = api_.client().Get(Kind("Secret"), "shop", "db");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->resource_version(), before->resource_version());
  EXPECT_EQ(SecretValue("shop", "db", "password"), "hunter2");
  std::string events = EventsText("shop");
  EXPECT_THAT(events, HasSubstr("DecryptFailed"));
  EXPECT_THAT(events, Not(HasSubstr("new-password")));

  // Fixed: the Secret follows again.
  Apply(Sealed("shop", "db", {{"password", SealFor(pub, "shop", "db", "new-password")}}));
  EXPECT_TRUE(test::Eventually([&] { return SecretValue("shop", "db", "password") == "new-password"; }));
  EXPECT_TRUE(test::Eventually([&] { return SyncedIs("shop", "db", "True", "Unsealed"); }));
}

TEST_F(SealedSecretTest, MovedToAnotherNamespaceFailsWithAClearError) {
  Start();
  auto pub = ActiveKey();
  // Sealed for prod/db, committed under dev.
  Apply(Sealed("dev", "db", {{"password", SealFor(pub, "prod", "db", "prod-password")}}));
  ASSERT_TRUE(test::Eventually([&] { return SyncedIs("dev", "db", "False", "ScopeMismatch"); }))
      << Synced("dev", "db").dump();
  EXPECT_EQ(Synced("dev", "db")["message"],
            "spec.encryptedData.password: sealed for namespace \"prod\" name \"db\", not for namespace \"dev\" "
            "(the Secret is left as it was)");
  EXPECT_FALSE(api_.client().Get(Kind("Secret"), "dev", "db").ok());
  EXPECT_THAT(EventsText("dev"), Not(HasSubstr("prod-password")));
}

TEST_F(SealedSecretTest, RotationKeepsOldSealsOpenAndTheNewKeySeals) {
  Start();
  auto old_pub = ActiveKey();
  Apply(Sealed("shop", "old", {{"v", SealFor(old_pub, "shop", "old", "sealed-before")}}));
  ASSERT_TRUE(test::Eventually([&] { return SecretValue("shop", "old", "v") == "sealed-before"; }));

  auto rotated = RotateSealingKey(api_.client(), Clock::System());
  ASSERT_TRUE(rotated) << rotated.error().message();
  EXPECT_NE(rotated->id, old_pub.Id());
  EXPECT_TRUE(rotated->active);
  auto listed = ListSealingKeys(api_.client());
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(listed->back().id, rotated->id);
  EXPECT_TRUE(listed->back().active);
  EXPECT_FALSE(listed->front().active);

  auto new_pub = crypto::PublicKeyFromBase64(rotated->public_key);
  ASSERT_TRUE(new_pub);
  Apply(Sealed("shop", "new", {{"v", SealFor(*new_pub, "shop", "new", "sealed-after")}}));
  EXPECT_TRUE(test::Eventually([&] { return SecretValue("shop", "new", "v") == "sealed-after"; }));
  // The old one is reconciled again after the key change and still opens.
  Apply(Sealed("shop", "old", {{"v", SealFor(old_pub, "shop", "old", "sealed-before-2")}}));
  EXPECT_TRUE(test::Eventually([&] { return SecretValue("shop", "old", "v") == "sealed-before-2"; }));
}

TEST_F(SealedSecretTest, AValueOfAnUnknownKeyOpensOnceTheKeyIsImported) {
  auto foreign = crypto::SealingKeyPair::Generate("2026-01-01T00:00:00Z");
  ASSERT_TRUE(foreign);
  auto foreign_key = std::make_shared<crypto::SealingKeyPair>(std::move(*foreign));
  Start();
  ActiveKey();
  Apply(Sealed("shop", "db", {{"password", SealFor(foreign_key->public_key(), "shop", "db", "from-elsewhere")}}));
  ASSERT_TRUE(test::Eventually([&] { return SyncedIs("shop", "db", "False", "UnknownKey"); }));
  EXPECT_THAT(Synced("shop", "db")["message"].get<std::string>(),
              HasSubstr("sealed with key " + foreign_key->id() + ", which this cluster does not have"));
  // And what to do about it.
  EXPECT_THAT(Synced("shop", "db")["message"].get<std::string>(),
              HasSubstr("import the key pair it was sealed with: bosun server --sealing-key-file FILE"));

  // What `bosun server --sealing-key-file` does at start; twice is once.
  ASSERT_TRUE(EnsureSealingKeys(api_.client(), Clock::System(), foreign_key.get()));
  auto ring = EnsureSealingKeys(api_.client(), Clock::System(), foreign_key.get());
  ASSERT_TRUE(ring);
  EXPECT_EQ(ring->size(), 2u);
  EXPECT_NE(ring->Active()->id(), foreign_key->id()) << "an imported key does not take over sealing";
  EXPECT_TRUE(test::Eventually([&] { return SecretValue("shop", "db", "password") == "from-elsewhere"; }));
}

TEST_F(SealedSecretTest, ImportedKeyIsTheFirstKeyOfANewCluster) {
  auto demo = crypto::SealingKeyPair::Generate("2026-01-01T00:00:00Z");
  ASSERT_TRUE(demo);
  std::string path = dir_.Sub("demo.key");
  ASSERT_TRUE(WriteSealingKeyFile(path, *demo));
  auto read = ReadSealingKeyFile(path);
  ASSERT_TRUE(read) << read.error().message();
  SealedSecretOptions o;
  o.import_key = *read;
  Start(o);
  EXPECT_EQ(ActiveKey().Id(), demo->id());
  EXPECT_EQ(ReadSealingKeys(api_.client())->size(), 1u) << "no random key besides the imported one";
}

TEST_F(SealedSecretTest, ASecretItDoesNotOwnIsLeftAlone) {
  Object mine(GroupVersionKind{"", "v1", "Secret"}, "shop", "db");
  mine.json()["data"] = {{"password", crypto::EncodeBase64("hand-made")}};
  ASSERT_TRUE(api_.client().Create(mine));
  Start();
  auto pub = ActiveKey();
  Apply(Sealed("shop", "db", {{"password", SealFor(pub, "shop", "db", "sealed")}}));
  ASSERT_TRUE(test::Eventually([&] { return SyncedIs("shop", "db", "False", "SecretNotOwned"); }));
  EXPECT_THAT(Synced("shop", "db")["message"].get<std::string>(),
              HasSubstr("Secret shop/db exists and is not managed by this SealedSecret"));
  EXPECT_EQ(SecretValue("shop", "db", "password"), "hand-made");
}

}  // namespace
}  // namespace bosun::reconciler
