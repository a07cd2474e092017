// state/secret_codec.h — encryption at rest: the ValueCodec (state/api_server.h)
// that stores Secrets only as AEAD ciphertext.
//
// For the encrypted kinds (by default `v1 Secret`) Encode stores
//
//   "bosun:enc:xchacha20poly1305:v1:" KEYID ":" nonce ciphertext tag
//
// where the ciphertext is XChaCha20-Poly1305 (crypto/aead.h) of the whole
// object's compact JSON — metadata included, so labels and annotations on a
// Secret are not readable at rest either — with the store key as associated
// data: a value copied under another key (another name or namespace) does not
// decrypt. KEYID names the data key (crypto::DataKey::id), so a member started
// with another key file says so instead of reporting tampering. Every other
// kind is stored as compact JSON, exactly as JsonValueCodec does.
//
// The codec sits in the API server, before the value reaches the StateService,
// so the Raft log, Raft snapshots (RocksDB checkpoints) and the RocksDB files
// only ever hold the envelope; list, get, watch and the batch endpoint decode
// through it. Store keys (and so a Secret's namespace and name) stay readable.
//
// Decode reads both envelopes and plain JSON, so Secrets written before
// encryption was enabled still load (they are encrypted the next time they are
// written). It fails with kInvalid naming the store key and the key ids — never
// the value — for an envelope under another data key, a failed authentication
// (altered bytes, a value moved to another key), or an unknown scheme/version.
//
// Thread-safe: Encode and Decode may run concurrently (the key is immutable).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/kinds.h"
#include "core/result.h"
#include "crypto/aead.h"
#include "state/api_server.h"
#include "state/store.h"

namespace bosun::state {

// Every encrypted value starts with this.
inline constexpr std::string_view kEncryptedValuePrefix = "bosun:enc:";
// The scheme and version this build writes.
inline constexpr std::string_view kEncryptedValueScheme = "bosun:enc:xchacha20poly1305:v1:";

class EncryptingValueCodec final : public ValueCodec {
 public:
  // Encrypts the values of `kinds` (by group/version/kind) under `key`.
  explicit EncryptingValueCodec(crypto::DataKey key,
                                std::vector<GroupVersionKind> kinds = {GroupVersionKind{"", "v1", "Secret"}});

  Result<std::string> Encode(const KindInfo& kind, const std::string& key, const Json& object) const override;
  Result<Json> Decode(const KindInfo& kind, const std::string& key, std::string_view bytes) const override;

  bool Encrypts(const KindInfo& kind) const;
  const std::string& key_id() const { return key_.id(); }

  // What CheckStore found.
  struct StoreReport {
    size_t encrypted = 0;  // values under this codec's key
    size_t plaintext = 0;  // values of encrypted kinds still stored as JSON
  };
  // The start-up check: reads the latest value of every key of the encrypted
  // kinds and decrypts it. kInvalid when a value is under another data key
  // ("the store holds Secrets encrypted with data key X; this member's key file
  // PATH has key Y: every member must use the same --encryption-key-file") or
  // does not decrypt; `key_file` only words the message.
  Result<StoreReport> CheckStore(const Store& store, const std::string& key_file) const;

 private:
  crypto::DataKey key_;
  std::vector<GroupVersionKind> kinds_;
};

// The key id of an encrypted value, or "" when `bytes` is not one (plain JSON
// or an unknown scheme).
std::string EncryptedValueKeyId(std::string_view bytes);

}  // namespace bosun::state
