// The cluster's ed25519 signing key in the state store (signing_key.h).
#include "reconciler/signing_key.h"

#include "core/kinds.h"
#include "core/log.h"
#include "crypto/tokens.h"

namespace bosun::reconciler {
namespace {

constexpr const char* kSecretField = "ed25519";

const KindInfo& Kind(const char* group, const char* kind) {
  return *KindRegistry::Builtin().Find(GroupVersionKind{group, "v1", kind});
}

std::string Where() {
  return std::string("Secret ") + kSystemNamespace + "/" + kSigningKeyName;
}

// The secret key held by a Secret; the caller wipes it.
Result<std::string> SecretKeyOf(const Object& secret) {
  const Json& data = Object::Field(secret.json(), "data");
  const Json& field = Object::Field(data, kSecretField);
  if (!field.is_string()) return Error(Code::kInvalid, Where() + " holds no data." + kSecretField);
  auto raw = crypto::DecodeBase64(field.get<std::string>());
  if (!raw) return Error(Code::kInvalid, Where() + ": data." + kSecretField + " is not valid base64");
  auto pub = crypto::Ed25519PublicOf(*raw);
  if (!pub) {
    crypto::Wipe(*raw);
    return Error(Code::kInvalid, Where() + ": data." + kSecretField + " is not an ed25519 secret key");
  }
  return std::move(*raw);
}

Result<crypto::SshPublicKey> PublicOf(const Object& secret) {
  auto sk = SecretKeyOf(secret);
  if (!sk) return sk.error();
  auto pub = crypto::Ed25519PublicOf(*sk);
  crypto::Wipe(*sk);
  if (!pub) return pub.error();
  return crypto::Ed25519PublicKey(*pub);
}

Json ConfigMapData(const crypto::SshPublicKey& key) {
  return {{"publicKey", key.ToString() + " bosun-cluster"},
          {"fingerprint", key.Fingerprint()},
          {"allowedSigners", std::string(kClusterPrincipal) + " namespaces=\"git\" " + key.ToString() + "\n"}};
}

Status EnsureConfigMap(state::Client& client, const crypto::SshPublicKey& key) {
  const KindInfo& cm_kind = Kind("", "ConfigMap");
  Json want = ConfigMapData(key);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto got = client.Get(cm_kind, kSystemNamespace, kSigningKeyName);
    if (!got && got.error().code() != Code::kNotFound) return got.error();
    if (got && Object::Field(got->json(), "data") == want) return Ok();
    Object cm = got ? *got : Object(GroupVersionKind{"", "v1", "ConfigMap"}, kSystemNamespace, kSigningKeyName);
    cm.json()["data"] = want;
    auto w = got ? client.Update(cm) : client.Create(cm);
    if (w) return Ok();
    if (w.error().code() != Code::kConflict && w.error().code() != Code::kAlreadyExists) return w.error();
  }
  return Error(Code::kConflict, "ConfigMap bosun-system/signing-key kept changing");
}

}  // namespace

Result<crypto::SshPublicKey> ReadClusterSigningKey(state::Client& client) {
  auto secret = client.Get(Kind("", "Secret"), kSystemNamespace, kSigningKeyName);
  if (!secret) return secret.error();
  return PublicOf(*secret);
}

Result<crypto::SshPublicKey> EnsureClusterSigningKey(state::Client& client) {
  auto key = ReadClusterSigningKey(client);
  if (!key && key.error().code() == Code::kNotFound) {
    if (Status s = EnsureSystemNamespace(client); !s) return s.error().Wrap("cannot create Namespace bosun-system");
    crypto::Ed25519KeyPair kp = crypto::GenerateEd25519KeyPair();
    Object secret(GroupVersionKind{"", "v1", "Secret"}, kSystemNamespace, kSigningKeyName);
    secret.json()["type"] = kSigningKeySecretType;
    std::string b64 = crypto::EncodeBase64(kp.secret_key);
    secret.json()["data"] = {{kSecretField, b64}};
    crypto::Wipe(b64);
    auto made = client.Create(secret);
    // The JSON copy of the key is gone with `secret`; nlohmann's strings are
    // not wiped, which is why the value is only ever held briefly here.
    if (made) {
      log::Info("signing-key", "created the cluster signing key",
                {{"secret", Where()}, {"fingerprint", crypto::Ed25519PublicKey(kp.public_key)->Fingerprint()}});
    } else if (made.error().code() != Code::kAlreadyExists) {
      return made.error().Wrap("cannot create " + Where());
    }
    // Created by us or by a member that raced us: read what the store holds.
    key = ReadClusterSigningKey(client);
  }
  if (!key) return key.error();
  if (Status s = EnsureConfigMap(client, *key); !s) {
    return s.error().Wrap("cannot write ConfigMap bosun-system/signing-key");
  }
  return key;
}

gitsync::Signer ClusterCommitSigner(state::Client* client) {
  return [client](const std::string& content) -> Result<std::string> {
    auto secret = client->Get(Kind("", "Secret"), kSystemNamespace, kSigningKeyName);
    if (!secret) return secret.error().Wrap("cannot read the cluster signing key (" + Where() + ")");
    auto sk = SecretKeyOf(*secret);
    if (!sk) return sk.error();
    auto sig = crypto::SignSsh(*sk, content, "git");
    crypto::Wipe(*sk);
    return sig;
  };
}

}  // namespace bosun::reconciler
