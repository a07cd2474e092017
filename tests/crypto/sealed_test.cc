// Sealed secrets (crypto/sealed.h): round trips, scope binding, wrong keys,
// tampering, rotation and the key file formats.
#include "crypto/sealed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <memory>
#include <string>

namespace bosun::crypto {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::shared_ptr<const SealingKeyPair> NewKey() {
  auto k = SealingKeyPair::Generate("2026-11-22T09:00:00Z");
  EXPECT_TRUE(k.ok());
  return std::make_shared<SealingKeyPair>(std::move(*k));
}

Keyring RingOf(std::initializer_list<std::shared_ptr<const SealingKeyPair>> keys) {
  Keyring r;
  for (const auto& k : keys) r.Add(k);
  return r;
}

TEST(SealedTest, RoundTripStrict) {
  auto key = NewKey();
  Keyring ring = RingOf({key});
  std::string value = std::string("s3cr3t-\0-binary\xff", 16);
  auto sealed = Seal(key->public_key(), SealScope::Strict("prod", "db"), value);
  ASSERT_TRUE(sealed.ok()) << sealed.error().message();
  EXPECT_THAT(*sealed, Not(HasSubstr("s3cr3t")));
  auto opened = Open(ring, "prod", "db", *sealed);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_EQ(opened->value, value);
  EXPECT_EQ(opened->scope, SealScope::Strict("prod", "db"));
  // Two seals of one value differ (ephemeral keys): nothing leaks equality.
  EXPECT_NE(*Seal(key->public_key(), SealScope::Strict("prod", "db"), value), *sealed);
}

TEST(SealedTest, EmptyValueRoundTrips) {
  auto key = NewKey();
  auto sealed = Seal(key->public_key(), SealScope::Cluster(), "");
  ASSERT_TRUE(sealed.ok());
  auto opened = Open(RingOf({key}), "any", "thing", *sealed);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_EQ(opened->value, "");
}

TEST(SealedTest, StrictScopeBindsNamespaceAndName) {
  auto key = NewKey();
  Keyring ring = RingOf({key});
  auto sealed = Seal(key->public_key(), SealScope::Strict("prod", "db"), "pw");
  ASSERT_TRUE(sealed.ok());
  auto other_ns = Open(ring, "dev", "db", *sealed);
  ASSERT_FALSE(other_ns.ok());
  EXPECT_EQ(other_ns.error().code(), Code::kForbidden);
  EXPECT_EQ(other_ns.error().message(), "sealed for namespace \"prod\" name \"db\", not for namespace \"dev\"");
  auto other_name = Open(ring, "prod", "cache", *sealed);
  ASSERT_FALSE(other_name.ok());
  EXPECT_EQ(other_name.error().message(), "sealed for namespace \"prod\" name \"db\", not for name \"cache\"");
  auto both = Open(ring, "dev", "cache", *sealed);
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().message(),
            "sealed for namespace \"prod\" name \"db\", not for namespace \"dev\" name \"cache\"");
  EXPECT_THAT(both.error().message(), Not(HasSubstr("pw")));
}

TEST(SealedTest, NamespaceScopeAllowsAnyNameInItsNamespace) {
  auto key = NewKey();
  Keyring ring = RingOf({key});
  auto sealed = Seal(key->public_key(), SealScope::Namespace("prod"), "pw");
  ASSERT_TRUE(sealed.ok());
  EXPECT_TRUE(Open(ring, "prod", "db", *sealed).ok());
  EXPECT_TRUE(Open(ring, "prod", "renamed", *sealed).ok());
  auto moved = Open(ring, "dev", "db", *sealed);
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.error().message(), "sealed for namespace \"prod\", not for namespace \"dev\"");
}

TEST(SealedTest, ClusterScopeOpensAnywhere) {
  auto key = NewKey();
  auto sealed = Seal(key->public_key(), SealScope::Cluster(), "pw");
  ASSERT_TRUE(sealed.ok());
  for (auto [ns, name] : {std::pair{"prod", "db"}, std::pair{"dev", "x"}, std::pair{"kube-system", "y"}}) {
    auto o = Open(RingOf({key}), ns, name, *sealed);
    ASSERT_TRUE(o.ok()) << o.error().message();
    EXPECT_EQ(o->value, "pw");
    EXPECT_EQ(o->scope.kind, SealScopeKind::kCluster);
  }
}

TEST(SealedTest, SealRefusesAScopeWithoutItsNamespaceOrName) {
  auto key = NewKey();
  EXPECT_FALSE(Seal(key->public_key(), SealScope::Strict("", "db"), "v").ok());
  EXPECT_FALSE(Seal(key->public_key(), SealScope::Strict("prod", ""), "v").ok());
  EXPECT_FALSE(Seal(key->public_key(), SealScope::Namespace(""), "v").ok());
}

TEST(SealedTest, UnknownKeyIsNamed) {
  auto a = NewKey();
  auto b = NewKey();
  auto sealed = Seal(a->public_key(), SealScope::Strict("ns", "n"), "pw");
  ASSERT_TRUE(sealed.ok());
  auto r = Open(RingOf({b}), "ns", "n", *sealed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_THAT(r.error().message(), HasSubstr("sealed with key " + a->id() + ", which this cluster does not have"));
  EXPECT_THAT(r.error().message(), HasSubstr(b->id()));
}

// The clear key id is only a hint: a value whose id names key B but whose box
// was made for key A does not open with B.
TEST(SealedTest, WrongKeyBehindTheRightIdDoesNotOpen) {
  auto a = NewKey();
  auto b = NewKey();
  auto sealed = Seal(a->public_key(), SealScope::Cluster(), "pw");
  ASSERT_TRUE(sealed.ok());
  std::string raw(sealed->size(), '\0');
  size_t len = 0;
  ASSERT_EQ(sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), sealed->data(), sealed->size(),
                              nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL),
            0);
  raw.resize(len);
  std::string b_id_hex = b->id();
  ASSERT_EQ(sodium_hex2bin(reinterpret_cast<unsigned char*>(raw.data()) + 1, kSealingKeyIdBytes, b_id_hex.data(),
                           b_id_hex.size(), nullptr, nullptr, nullptr),
            0);
  std::string forged(sodium_base64_ENCODED_LEN(raw.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(forged.data(), forged.size(), reinterpret_cast<unsigned char*>(raw.data()), raw.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  forged.resize(forged.size() - 1);
  auto r = Open(RingOf({a, b}), "x", "y", forged);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kUnauthorized);
  EXPECT_THAT(r.error().message(), HasSubstr("cannot be decrypted with key " + b->id()));
}

TEST(SealedTest, TamperedCiphertextIsRefused) {
  auto key = NewKey();
  Keyring ring = RingOf({key});
  auto sealed = Seal(key->public_key(), SealScope::Strict("prod", "db"), "a longer password value");
  ASSERT_TRUE(sealed.ok());
  // Flip a character in every position of the box (past the header).
  int refused = 0, tried = 0;
  for (size_t i = 16; i + 4 < sealed->size(); i += 7) {
    std::string t = *sealed;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    ++tried;
    auto r = Open(ring, "prod", "db", t);
    if (!r.ok()) ++refused;
  }
  EXPECT_EQ(refused, tried);
  // Truncated, not base64, empty, unknown version.
  EXPECT_EQ(Open(ring, "prod", "db", sealed->substr(0, 40)).error().code(), Code::kInvalid);
  EXPECT_EQ(Open(ring, "prod", "db", "not*base64").error().code(), Code::kInvalid);
  EXPECT_EQ(Open(ring, "prod", "db", "").error().code(), Code::kInvalid);
  std::string v2 = *sealed;
  v2[0] = 'A';
  v2[1] = 'g';  // 0x02
  auto r = Open(ring, "prod", "db", v2);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("version byte 2"));
}

TEST(SealedTest, RotationOldKeysStillOpenAndResealUsesTheNewest) {
  auto old_key = NewKey();
  auto sealed_old = Seal(old_key->public_key(), SealScope::Strict("prod", "db"), "pw");
  ASSERT_TRUE(sealed_old.ok());
  auto new_key = NewKey();
  Keyring ring = RingOf({old_key, new_key});
  EXPECT_EQ(ring.Active(), new_key.get());
  auto o = Open(ring, "prod", "db", *sealed_old);
  ASSERT_TRUE(o.ok()) << o.error().message();
  EXPECT_EQ(o->value, "pw");

  auto resealed = Reseal(ring, ring.Active()->public_key(), "prod", "db", *sealed_old);
  ASSERT_TRUE(resealed.ok()) << resealed.error().message();
  EXPECT_EQ(InspectSealed(*resealed)->key_id, new_key->id());
  // The scope is kept, and the new seal opens without the old key.
  auto o2 = Open(RingOf({new_key}), "prod", "db", *resealed);
  ASSERT_TRUE(o2.ok()) << o2.error().message();
  EXPECT_EQ(o2->value, "pw");
  EXPECT_FALSE(Open(RingOf({new_key}), "dev", "db", *resealed).ok());
  // Resealing refuses a value that does not belong where it is.
  EXPECT_EQ(Reseal(ring, new_key->public_key(), "dev", "db", *sealed_old).error().code(), Code::kForbidden);
}

TEST(SealedTest, KeyIdIsDerivedFromThePublicKey) {
  auto key = NewKey();
  EXPECT_EQ(key->id().size(), 16u);
  EXPECT_EQ(key->id(), key->public_key().Id());
  auto sealed = Seal(key->public_key(), SealScope::Cluster(), "v");
  EXPECT_EQ(InspectSealed(*sealed)->key_id, key->id());
}

TEST(SealedTest, KeyFileRoundTrip) {
  auto key = NewKey();
  std::string file = key->ToKeyFile();
  EXPECT_THAT(file, HasSubstr("bosun-sealing-key: v1"));
  auto back = SealingKeyPair::ParseKeyFile(file, "demo.key");
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->id(), key->id());
  EXPECT_EQ(back->created(), key->created());
  auto sealed = Seal(key->public_key(), SealScope::Cluster(), "pw");
  Keyring ring;
  ring.Add(std::make_shared<SealingKeyPair>(std::move(*back)));
  EXPECT_EQ(Open(ring, "a", "b", *sealed)->value, "pw");
}

TEST(SealedTest, KeyFileErrorsNameTheLineAndNeverTheKey) {
  auto key = NewKey();
  auto other = NewKey();
  std::string priv = key->PrivateKeyBase64();
  std::string good = "bosun-sealing-key: v1\npublic: " + key->public_key().Base64() + "\nprivate: " + priv + "\n";
  EXPECT_TRUE(SealingKeyPair::ParseKeyFile(good, "k").ok());

  std::string mismatched = "bosun-sealing-key: v1\npublic: " + other->public_key().Base64() + "\nprivate: " + priv + "\n";
  auto r = SealingKeyPair::ParseKeyFile(mismatched, "k.key");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("k.key:3: private: the private key does not belong"));
  EXPECT_THAT(r.error().message(), Not(HasSubstr(priv)));

  auto bad_b64 = SealingKeyPair::ParseKeyFile("bosun-sealing-key: v1\npublic: " + key->public_key().Base64() +
                                                  "\nprivate: @@@\n",
                                              "k.key");
  EXPECT_THAT(bad_b64.error().message(), HasSubstr("k.key:3: private: the private key is not standard base64"));
  auto no_magic = SealingKeyPair::ParseKeyFile("public: " + key->public_key().Base64() + "\n", "k.key");
  EXPECT_THAT(no_magic.error().message(), HasSubstr("not a bosun sealing key file"));
  auto pub_only = SealingKeyPair::ParseKeyFile(PublicKeyFile(key->public_key()) + "bosun-sealing-key: v1\n", "p.key");
  EXPECT_THAT(pub_only.error().message(), HasSubstr("no \"private:\" line"));
  auto wrong_id = SealingKeyPair::ParseKeyFile("bosun-sealing-key: v1\nid: 0000000000000000\n" + good.substr(22), "k");
  EXPECT_THAT(wrong_id.error().message(), HasSubstr("k:2: id: not the id of the public key on line"));
}

TEST(SealedTest, PublicKeyFileFormats) {
  auto key = NewKey();
  auto from_pub = ParsePublicKey(PublicKeyFile(key->public_key()), "pub.key");
  ASSERT_TRUE(from_pub.ok()) << from_pub.error().message();
  EXPECT_EQ(*from_pub, key->public_key());
  auto from_pair = ParsePublicKey(key->ToKeyFile(), "pair.key");
  ASSERT_TRUE(from_pair.ok());
  EXPECT_EQ(*from_pair, key->public_key());
  auto bare = ParsePublicKey(key->public_key().Base64() + "\n", "bare");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(*bare, key->public_key());
  EXPECT_FALSE(ParsePublicKey("hello\n", "x").ok());
  EXPECT_FALSE(ParsePublicKey("public: AAAA\n", "x").ok());
}

TEST(SealedTest, ScopeKindNames) {
  EXPECT_EQ(*ParseScopeKind("strict"), SealScopeKind::kStrict);
  EXPECT_EQ(*ParseScopeKind("namespace"), SealScopeKind::kNamespace);
  EXPECT_EQ(*ParseScopeKind("cluster"), SealScopeKind::kCluster);
  EXPECT_THAT(ParseScopeKind("global").error().message(), HasSubstr("must be strict, namespace or cluster"));
  EXPECT_EQ(SealScope::Cluster().Describe(), "the whole cluster");
}

}  // namespace
}  // namespace bosun::crypto
