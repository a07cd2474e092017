// reconciler/sealing_keys.h — the cluster's sealing key pairs (crypto/sealed.h)
// in the state store, as sealed secrets need them (docs/SECRETS.md).
//
// Every key pair lives in one v1 Secret, bosun-system/sealing-keys (type
// bosun.dev/sealing-keys), so the private halves are encrypted at rest with
// every other Secret and readable only by identities that may read Secret
// values. For key pair ID its data holds "ID.private" and "ID.public" (base64
// of the 32 raw bytes) and "ID.created" (base64 of an RFC 3339 time); the
// annotation bosun.dev/active-sealing-key names the key that seals (the
// newest). The public halves are copied into the ConfigMap
// bosun-system/sealing-keys for people and tools: "active: ID",
// "ID.public: base64", "ID.created: time" — no private key, ever.
//
// Creation is race-free: the first key is an atomic Create of the Secret (a
// member that loses the race reads the winner's); rotation and import are
// Updates with the Secret's resourceVersion as precondition, retried on
// conflict. The ConfigMap is rewritten whenever it does not match the Secret.
//
// Private keys never appear in logs, errors or the ConfigMap; the copies made
// here are wiped after use (the JSON strings handed to the API client are
// not: they live only for the request).
//
// Thread-safe: functions hold no state; the client is the caller's.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/object.h"
#include "core/result.h"
#include "crypto/sealed.h"
#include "reconciler/system_namespace.h"
#include "state/client.h"

namespace bosun::reconciler {

inline constexpr const char* kSealingKeysNamespace = kBosunSystemNamespace;
inline constexpr const char* kSealingKeysName = "sealing-keys";
inline constexpr const char* kSealingKeysSecretType = "bosun.dev/sealing-keys";
inline constexpr const char* kActiveSealingKeyAnnotation = "bosun.dev/active-sealing-key";

struct SealingKeyInfo {
  std::string id;
  std::string created;
  std::string public_key;  // base64
  bool active = false;
};

// The key pairs a Secret holds, oldest first and the active one last (so
// crypto::Keyring::Active() seals). kInvalid naming the Secret and the data
// key (never a value) when one is malformed.
Result<crypto::Keyring> KeyringFromSecret(const Object& secret);

// The key pairs in the store; kNotFound when there are none yet.
Result<crypto::Keyring> ReadSealingKeys(state::Client& client);

// What `bosun server` runs on the leader at start: makes sure there is a
// key. With `import` (from --sealing-key-file) that key is added unless the
// store already has it (it is active only when it is the first); without,
// a new random key is created when there is none. Creates the bosun-system
// Namespace when missing and makes the ConfigMap match. Returns the keyring.
Result<crypto::Keyring> EnsureSealingKeys(state::Client& client, Clock& clock,
                                          const crypto::SealingKeyPair* import = nullptr);

// Adds a new random key and makes it active (`bosun keys rotate`). Old keys
// stay, so what they sealed still opens. Returns the new key.
Result<SealingKeyInfo> RotateSealingKey(state::Client& client, Clock& clock);

// The public halves, from the ConfigMap (oldest first). kNotFound when the
// cluster has no key yet.
Result<std::vector<SealingKeyInfo>> ListSealingKeys(state::Client& client);

// Reads a key file (crypto/sealed.h) for --sealing-key-file; the file's
// text is wiped after parsing. kIo when it cannot be read, kInvalid
// "path:line: ..." when malformed. A file that others may read is used, with
// a warning in the log.
Result<std::shared_ptr<const crypto::SealingKeyPair>> ReadSealingKeyFile(const std::string& path);

// Writes `key` as a key file at `path` with mode 0600 (through a temporary
// file renamed into place). kIo on failure.
Status WriteSealingKeyFile(const std::string& path, const crypto::SealingKeyPair& key);

// The same list, from a keyring (for the API route that answers it).
std::vector<SealingKeyInfo> DescribeKeyring(const crypto::Keyring& keys);

}  // namespace bosun::reconciler
