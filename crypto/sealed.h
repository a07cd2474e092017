// crypto/sealed.h — sealed secrets: values anyone may encrypt with the
// cluster's public key and only the cluster can decrypt, bound to where they
// may be used (docs/SECRETS.md).
//
// A sealing key pair is an X25519 key pair (libsodium crypto_box_keypair). Its
// id is the first 8 bytes of BLAKE2b-256 of the public key, as 16 lower-case
// hex digits, so an id can always be recomputed from the public half and is
// never trusted from a file. The private half lives in sodium_malloc'd memory
// (locked, guarded, wiped by sodium_free) for as long as the SealingKeyPair.
//
// A sealed value is standard base64 (with padding) of
//   0x01 (format version) | key id (8 bytes) | crypto_box_seal(frame)
// where frame = scope kind (1 byte: 0 strict, 1 namespace, 2 cluster)
//             | namespace length (2 bytes, big-endian) | namespace
//             | name length (2 bytes, big-endian) | name | the value.
// The sealed box authenticates the frame, so the scope inside it cannot be
// changed without the private key; Open compares it with where the value is
// being opened (the SealedSecret's namespace and name) and refuses a value
// copied elsewhere:
//  - strict: only in that namespace under that name;
//  - namespace: under any name in that namespace;
//  - cluster: anywhere.
// The key id in clear lets Open pick the private key among several: after a
// rotation, old keys keep opening what they sealed.
//
// Errors never contain a value or key material. Open's error codes say why:
//   kInvalid       not a sealed value (not base64, too short, unknown format);
//   kNotFound      sealed with a key (id named) that the keyring lacks;
//   kUnauthorized  the key is there but the box does not open (tampered, or
//                  sealed for another key that claims the same id);
//   kForbidden     it opened, but was sealed for another scope
//                  ("sealed for namespace \"prod\" name \"db\", not for
//                  namespace \"dev\"").
//
// Key files (ToKeyFile / ParseKeyFile) carry a whole pair for import and
// export (`bosun server --sealing-key-file`); public key files
// (PublicKeyFile / ParsePublicKey) carry only the public half for sealing
// offline (`bosun keys public > pub.key`, `bosun seal --public-key pub.key`).
//
// Thread-safety: SealingKeyPair and Keyring are immutable once built and may
// be read from any thread; Keyring::Add needs the caller's lock.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace bosun::crypto {

inline constexpr size_t kSealingKeyBytes = 32;  // X25519 public and private keys
inline constexpr size_t kSealingKeyIdBytes = 8;

enum class SealScopeKind { kStrict = 0, kNamespace = 1, kCluster = 2 };

// "strict", "namespace", "cluster".
const char* ScopeKindName(SealScopeKind kind);
// The reverse; kInvalid naming the three for anything else.
Result<SealScopeKind> ParseScopeKind(std::string_view text);

// Where a sealed value may be opened.
struct SealScope {
  SealScopeKind kind = SealScopeKind::kStrict;
  std::string ns;    // strict and namespace
  std::string name;  // strict only

  static SealScope Strict(std::string ns, std::string name) { return {SealScopeKind::kStrict, std::move(ns), std::move(name)}; }
  static SealScope Namespace(std::string ns) { return {SealScopeKind::kNamespace, std::move(ns), ""}; }
  static SealScope Cluster() { return {SealScopeKind::kCluster, "", ""}; }
  // Scope `kind` for an object at (ns, name).
  static SealScope For(SealScopeKind kind, const std::string& ns, const std::string& name);

  // `namespace "prod" name "db"`, `namespace "prod"`, `the whole cluster`.
  std::string Describe() const;
  // True when a value sealed for this scope may be opened at (ns, name).
  bool Admits(std::string_view ns, std::string_view name) const;
  bool operator==(const SealScope&) const = default;
};

struct SealingPublicKey {
  std::array<unsigned char, kSealingKeyBytes> bytes{};
  // 16 lower-case hex digits (see the header comment).
  std::string Id() const;
  std::string Base64() const;
  bool operator==(const SealingPublicKey&) const = default;
};

// A public key from standard base64 of its 32 bytes. kInvalid otherwise.
Result<SealingPublicKey> PublicKeyFromBase64(std::string_view b64);

class SealingKeyPair {
 public:
  // A new random pair. `created` is an RFC 3339 time kept with it (the caller
  // owns the clock). kInternal when libsodium or sodium_malloc fails.
  static Result<SealingKeyPair> Generate(std::string created);
  // A pair from its halves (raw 32 bytes each). kInvalid when the private
  // key does not belong to the public one (the message names neither).
  static Result<SealingKeyPair> FromBytes(const SealingPublicKey& public_key, std::string_view private_key,
                                          std::string created);
  // The same with the private half as base64 (what the key Secret stores).
  static Result<SealingKeyPair> FromBase64(const SealingPublicKey& public_key, std::string_view private_b64,
                                           std::string created);

  ~SealingKeyPair();
  SealingKeyPair(SealingKeyPair&&) noexcept;
  SealingKeyPair& operator=(SealingKeyPair&&) noexcept;
  SealingKeyPair(const SealingKeyPair&) = delete;
  SealingKeyPair& operator=(const SealingKeyPair&) = delete;

  const SealingPublicKey& public_key() const { return public_; }
  const std::string& id() const { return id_; }
  const std::string& created() const { return created_; }

  // Standard base64 of the private key, for storing it in the (encrypted at
  // rest) key Secret. The caller wipes the string (crypto::Wipe).
  std::string PrivateKeyBase64() const;

  // The key file: text holding both halves. The caller writes it with mode
  // 0600 and wipes the string.
  std::string ToKeyFile() const;
  // Parses a key file; `source` (a path) prefixes errors with the line:
  // "demo.key:4: private: not base64". Checks that the halves belong together
  // and that an `id:` line, if any, is the public key's.
  static Result<SealingKeyPair> ParseKeyFile(std::string_view text, const std::string& source);

  // Opens the sealed box `box` (crypto_box_seal_open). kUnauthorized when it
  // does not open.
  Result<std::string> OpenBox(std::string_view box) const;

 private:
  SealingKeyPair() = default;
  SealingPublicKey public_;
  std::string id_;
  std::string created_;
  unsigned char* private_ = nullptr;  // sodium_malloc'd, kSealingKeyBytes
};

// The public key file: comment lines, `bosun-sealing-public-key: v1`,
// `id: ...`, `public: <base64>`.
std::string PublicKeyFile(const SealingPublicKey& key);
// The public key in a public key file, in a key file (only its public line
// is read), or as a bare base64 line. kInvalid naming `source` otherwise.
Result<SealingPublicKey> ParsePublicKey(std::string_view text, const std::string& source);

// Seals `value` for `scope` under `key` (the wire format above).
Result<std::string> Seal(const SealingPublicKey& key, const SealScope& scope, std::string_view value);

// What the clear part of a sealed value says, without decrypting it.
struct SealedHeader {
  int version = 0;
  std::string key_id;
  size_t box_bytes = 0;
};
Result<SealedHeader> InspectSealed(std::string_view sealed);

// Several key pairs; the last one added is the active one (it seals).
class Keyring {
 public:
  void Add(std::shared_ptr<const SealingKeyPair> key);
  const SealingKeyPair* Find(std::string_view id) const;
  // nullptr when empty.
  const SealingKeyPair* Active() const { return keys_.empty() ? nullptr : keys_.back().get(); }
  size_t size() const { return keys_.size(); }
  const std::vector<std::shared_ptr<const SealingKeyPair>>& keys() const { return keys_; }

 private:
  std::vector<std::shared_ptr<const SealingKeyPair>> keys_;
};

// An opened value and the scope it was sealed for. The destructor wipes the
// value.
struct Unsealed {
  SealScope scope;
  std::string value;
  Unsealed() = default;
  Unsealed(Unsealed&&) = default;
  Unsealed& operator=(Unsealed&&) = default;
  ~Unsealed();
};

// Opens `sealed` for use at (ns, name), with the error codes listed above.
Result<Unsealed> Open(const Keyring& keys, std::string_view ns, std::string_view name, std::string_view sealed);

// Opens `sealed` at (ns, name) and seals the value again, for the same scope,
// under `to` (`bosun seal --re-encrypt`). The value is wiped before return.
Result<std::string> Reseal(const Keyring& keys, const SealingPublicKey& to, std::string_view ns, std::string_view name,
                           std::string_view sealed);

}  // namespace bosun::crypto
