// The sealing key pairs in the state store (sealing_keys.h).
#include "reconciler/sealing_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

#include "core/kinds.h"
#include "core/log.h"
#include "crypto/sshsig.h"
#include "crypto/tokens.h"

namespace bosun::reconciler {
namespace {

constexpr const char* kComponent = "sealing-keys";
constexpr int kAttempts = 5;

const KindInfo& Kind(const char* kind) { return *KindRegistry::Builtin().Find(GroupVersionKind{"", "v1", kind}); }

std::string Where(const char* kind) {
  return std::string(kind) + " " + kSealingKeysNamespace + "/" + kSealingKeysName;
}

std::string StringField(const Json& data, const std::string& key) {
  const Json& v = Object::Field(data, key.c_str());
  return v.is_string() ? v.get<std::string>() : std::string();
}

// Adds `key` to the Secret's data (and makes it active when asked).
void PutKey(Object& secret, const crypto::SealingKeyPair& key, bool active) {
  Json& data = secret.json()["data"];
  if (!data.is_object()) data = Json::object();
  // A Secret's data holds base64 of the raw bytes: the private key's base64.
  std::string priv = key.PrivateKeyBase64();
  data[key.id() + ".private"] = priv;
  crypto::Wipe(priv);
  data[key.id() + ".public"] = key.public_key().Base64();
  data[key.id() + ".created"] = crypto::EncodeBase64(key.created());
  if (active) secret.set_annotation(kActiveSealingKeyAnnotation, key.id());
}

Json ConfigMapData(const std::vector<SealingKeyInfo>& keys) {
  Json data = Json::object();
  for (const auto& k : keys) {
    data[k.id + ".public"] = k.public_key;
    data[k.id + ".created"] = k.created;
    if (k.active) data["active"] = k.id;
  }
  return data;
}

Status EnsureConfigMap(state::Client& client, const crypto::Keyring& keys) {
  Json want = ConfigMapData(DescribeKeyring(keys));
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto got = client.Get(Kind("ConfigMap"), kSealingKeysNamespace, kSealingKeysName);
    if (!got && got.error().code() != Code::kNotFound) return got.error();
    if (got && Object::Field(got->json(), "data") == want) return Ok();
    Object cm = got ? *got : Object(GroupVersionKind{"", "v1", "ConfigMap"}, kSealingKeysNamespace, kSealingKeysName);
    cm.json()["data"] = want;
    auto w = got ? client.Update(cm) : client.Create(cm);
    if (w) return Ok();
    if (w.error().code() != Code::kConflict && w.error().code() != Code::kAlreadyExists) {
      return w.error().Wrap("cannot write " + Where("ConfigMap"));
    }
  }
  return Error(Code::kConflict, Where("ConfigMap") + " kept changing");
}

// Reads the Secret, applies `change` (which returns false when there is
// nothing to write) and updates it with its resourceVersion as precondition,
// retrying on conflict; creates it when absent (must-not-exist).
Result<crypto::Keyring> ChangeSecret(state::Client& client, const std::function<Result<bool>(Object&, bool)>& change) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto got = client.Get(Kind("Secret"), kSealingKeysNamespace, kSealingKeysName);
    if (!got && got.error().code() != Code::kNotFound) return got.error().Wrap("cannot read " + Where("Secret"));
    bool exists = got.ok();
    if (!exists) {
      if (Status s = EnsureSystemNamespace(client); !s) return s.error().Wrap("cannot create Namespace bosun-system");
    }
    Object secret = exists ? *got : Object(GroupVersionKind{"", "v1", "Secret"}, kSealingKeysNamespace, kSealingKeysName);
    if (!exists) secret.json()["type"] = kSealingKeysSecretType;
    auto changed = change(secret, exists);
    if (!changed) return changed.error();
    if (!*changed) {
      auto ring = KeyringFromSecret(secret);
      if (!ring) return ring.error();
      if (Status s = EnsureConfigMap(client, *ring); !s) return s.error();
      return ring;
    }
    auto w = exists ? client.Update(secret) : client.Create(secret);
    if (!w) {
      Code c = w.error().code();
      if (c == Code::kConflict || c == Code::kAlreadyExists) continue;  // someone else wrote first: read again
      return w.error().Wrap("cannot write " + Where("Secret"));
    }
    auto ring = KeyringFromSecret(*w);
    if (!ring) return ring.error();
    if (Status s = EnsureConfigMap(client, *ring); !s) return s.error();
    return ring;
  }
  return Error(Code::kConflict, Where("Secret") + " kept changing; try again");
}

}  // namespace

Result<crypto::Keyring> KeyringFromSecret(const Object& secret) {
  const Json& data = Object::Field(secret.json(), "data");
  std::map<std::string, bool> ids;
  if (data.is_object()) {
    for (auto it = data.begin(); it != data.end(); ++it) {
      const std::string& k = it.key();
      if (k.size() > 8 && k.compare(k.size() - 8, 8, ".private") == 0) ids[k.substr(0, k.size() - 8)] = true;
    }
  }
  std::string active = secret.annotation(kActiveSealingKeyAnnotation).value_or("");
  std::vector<std::shared_ptr<const crypto::SealingKeyPair>> keys;
  for (const auto& [id, unused] : ids) {
    std::string field = "data." + id;
    auto pub = crypto::PublicKeyFromBase64(StringField(data, id + ".public"));
    if (!pub) return Error(Code::kInvalid, Where("Secret") + ": " + field + ".public: " + pub.error().message());
    auto created = crypto::DecodeBase64(StringField(data, id + ".created"));
    auto kp = crypto::SealingKeyPair::FromBase64(*pub, StringField(data, id + ".private"),
                                                 created ? *created : std::string());
    if (!kp) return Error(Code::kInvalid, Where("Secret") + ": " + field + ".private: " + kp.error().message());
    if (kp->id() != id) {
      return Error(Code::kInvalid, Where("Secret") + ": " + field + ".public is the key " + kp->id() + ", not " + id);
    }
    keys.push_back(std::make_shared<crypto::SealingKeyPair>(std::move(*kp)));
  }
  std::stable_sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) {
    bool aa = a->id() == active, ba = b->id() == active;
    if (aa != ba) return ba;  // the active key last
    if (a->created() != b->created()) return a->created() < b->created();
    return a->id() < b->id();
  });
  crypto::Keyring ring;
  for (auto& k : keys) ring.Add(std::move(k));
  return ring;
}

Result<crypto::Keyring> ReadSealingKeys(state::Client& client) {
  auto secret = client.Get(Kind("Secret"), kSealingKeysNamespace, kSealingKeysName);
  if (!secret) {
    if (secret.error().code() == Code::kNotFound) {
      return Error(Code::kNotFound, "the cluster has no sealing key yet (" + Where("Secret") +
                                        " is created by the leader at start)");
    }
    return secret.error();
  }
  auto ring = KeyringFromSecret(*secret);
  if (ring && ring->size() == 0) return Error(Code::kNotFound, Where("Secret") + " holds no sealing key");
  return ring;
}

Result<crypto::Keyring> EnsureSealingKeys(state::Client& client, Clock& clock, const crypto::SealingKeyPair* import) {
  std::string created_id;
  auto ring = ChangeSecret(client, [&](Object& secret, bool) -> Result<bool> {
    auto current = KeyringFromSecret(secret);
    if (!current) return current.error();
    if (import != nullptr) {
      if (current->Find(import->id()) != nullptr) return false;
      // The imported pair is written as read; a copy through its key file
      // keeps this function free of a second way to copy a private key.
      std::string text = import->ToKeyFile();
      auto copy = crypto::SealingKeyPair::ParseKeyFile(text, "--sealing-key-file");
      crypto::Wipe(text);
      if (!copy) return copy.error();
      PutKey(secret, *copy, current->size() == 0);
      created_id = import->id();
      return true;
    }
    if (current->size() > 0) return false;
    auto kp = crypto::SealingKeyPair::Generate(FormatRfc3339Millis(clock.Now()));
    if (!kp) return kp.error();
    PutKey(secret, *kp, true);
    created_id = kp->id();
    return true;
  });
  if (!ring) return ring.error();
  if (!created_id.empty() && ring->Find(created_id) != nullptr) {
    log::Info(kComponent, import ? "imported a sealing key" : "created the first sealing key",
              {{"key", created_id}, {"secret", Where("Secret")}});
  }
  return ring;
}

Result<SealingKeyInfo> RotateSealingKey(state::Client& client, Clock& clock) {
  std::string new_id;
  auto ring = ChangeSecret(client, [&](Object& secret, bool) -> Result<bool> {
    auto kp = crypto::SealingKeyPair::Generate(FormatRfc3339Millis(clock.Now()));
    if (!kp) return kp.error();
    PutKey(secret, *kp, true);
    new_id = kp->id();
    return true;
  });
  if (!ring) return ring.error();
  for (const auto& k : DescribeKeyring(*ring)) {
    if (k.id == new_id) {
      log::Info(kComponent, "rotated: a new sealing key seals from now on", {{"key", new_id}});
      return k;
    }
  }
  return Error(Code::kInternal, "the new sealing key is not in " + Where("Secret"));
}

Result<std::vector<SealingKeyInfo>> ListSealingKeys(state::Client& client) {
  auto cm = client.Get(Kind("ConfigMap"), kSealingKeysNamespace, kSealingKeysName);
  if (!cm) {
    if (cm.error().code() == Code::kNotFound) {
      return Error(Code::kNotFound, "the cluster has no sealing key yet (" + Where("ConfigMap") + " is missing)");
    }
    return cm.error();
  }
  const Json& data = Object::Field(cm->json(), "data");
  std::string active = StringField(data, "active");
  std::vector<SealingKeyInfo> out;
  if (data.is_object()) {
    for (auto it = data.begin(); it != data.end(); ++it) {
      const std::string& k = it.key();
      if (k.size() <= 7 || k.compare(k.size() - 7, 7, ".public") != 0) continue;
      SealingKeyInfo info;
      info.id = k.substr(0, k.size() - 7);
      info.public_key = StringField(data, k);
      info.created = StringField(data, info.id + ".created");
      info.active = info.id == active;
      out.push_back(std::move(info));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.active != b.active) return b.active;
    return a.created < b.created;
  });
  if (out.empty()) return Error(Code::kNotFound, Where("ConfigMap") + " lists no sealing key");
  return out;
}

Result<std::shared_ptr<const crypto::SealingKeyPair>> ReadSealingKeyFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(Code::kIo, "cannot read " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
    log::Warn(kComponent, "the sealing key file may be read by others than its owner (chmod 600 it)", {{"file", path}});
  }
  std::string text;
  // Read straight into one buffer (no copies left behind to wipe).
  text.resize(1u << 16);
  size_t len = 0;
  while (len < text.size()) {
    ssize_t n = ::read(fd, text.data() + len, text.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<size_t>(n);
  }
  text.resize(len);
  ::close(fd);
  auto kp = crypto::SealingKeyPair::ParseKeyFile(text, path);
  crypto::Wipe(text);
  if (!kp) return kp.error();
  return std::shared_ptr<const crypto::SealingKeyPair>(std::make_shared<crypto::SealingKeyPair>(std::move(*kp)));
}

Status WriteSealingKeyFile(const std::string& path, const crypto::SealingKeyPair& key) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error(Code::kIo, "cannot write " + tmp + ": " + std::strerror(errno));
  std::string text = key.ToKeyFile();
  size_t off = 0;
  bool ok = true;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    off += static_cast<size_t>(n);
  }
  crypto::Wipe(text);
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Error(Code::kIo, "cannot write " + path + ": " + std::strerror(errno));
  }
  return Ok();
}

std::vector<SealingKeyInfo> DescribeKeyring(const crypto::Keyring& keys) {
  std::vector<SealingKeyInfo> out;
  for (const auto& k : keys.keys()) {
    out.push_back({k->id(), k->created(), k->public_key().Base64(), k.get() == keys.Active()});
  }
  return out;
}

}  // namespace bosun::reconciler
