// crypto/aead.h — authenticated encryption at rest: XChaCha20-Poly1305-IETF
// (libsodium's crypto_aead_xchacha20poly1305_ietf_*) under a data key kept in
// a key file outside the store.
//
// A DataKey is 32 random bytes held in a SecureBuffer (crypto/
// secure_memory.h: locked, guarded, wiped on destruction). Seal encrypts a
// message with a fresh random 24-byte nonce (XChaCha's nonce is large enough
// that random nonces never repeat in practice) and authenticates it together
// with "associated data" — bytes that are not stored in the ciphertext but must
// be presented again to Open (bosun passes the store key, so a ciphertext
// copied to another key does not decrypt). The sealed form is
//   nonce (24 bytes) || ciphertext || tag (16 bytes).
// Open fails, without saying more, when the key, the associated data, the
// nonce or any byte of the ciphertext differ from what Seal used.
//
// A key's id is 16 hex digits: the start of a keyed BLAKE2b hash of a fixed
// label under the key. It names the key in stored envelopes, logs and errors
// (so that a later rotation, or a member started with the wrong key file, can
// tell keys apart) and reveals nothing about the key.
//
// Key files (LoadOrCreateKeyFile): exactly 32 raw bytes, a regular file that
// neither group nor others may read or write (0600 or stricter). A missing file
// is created: its folder with mode 0700 when this creates it, the key written
// to a temporary file (mode 0600), synced and linked into place so that a crash
// never leaves half a key and two processes starting at once end up with the
// same key (the second one reads the first one's file).
//
// Thread-safety: a const DataKey may be used from any number of threads.
// Errors never contain key material or plaintext.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.h"
#include "crypto/secure_memory.h"

namespace bosun::crypto {

inline constexpr size_t kDataKeyBytes = 32;
inline constexpr size_t kAeadNonceBytes = 24;
inline constexpr size_t kAeadTagBytes = 16;
// Hex digits in a key id.
inline constexpr size_t kKeyIdChars = 16;

class DataKey {
 public:
  // A new random key.
  static Result<DataKey> Generate();
  // A key from its 32 raw bytes (the caller wipes its copy); kInvalid for
  // another length.
  static Result<DataKey> FromBytes(std::string_view raw);
  // A key from a buffer already holding its 32 bytes; kInvalid for another
  // size.
  static Result<DataKey> FromBuffer(SecureBuffer key);

  DataKey(DataKey&&) noexcept = default;
  DataKey& operator=(DataKey&&) noexcept = default;

  // 16 lower-case hex digits; equal for equal keys.
  const std::string& id() const { return id_; }

  // nonce || ciphertext || tag of `plaintext`, bound to `associated_data`.
  std::string Seal(std::string_view plaintext, std::string_view associated_data) const;

  // The plaintext of a Seal'ed message. kInvalid "too short" when `sealed`
  // cannot hold a nonce and a tag; kInvalid "authentication failed" when the
  // key, the associated data or any byte differ. The caller wipes the result
  // when done with it.
  Result<std::string> Open(std::string_view sealed, std::string_view associated_data) const;

 private:
  DataKey(SecureBuffer key, std::string id) : key_(std::move(key)), id_(std::move(id)) {}
  SecureBuffer key_;
  std::string id_;
};

// Reads the key file at `path`. kNotFound when it does not exist; kInvalid
// naming the file when it is not a regular file, is readable or writable by
// group or others ("chmod 600 PATH"), or does not hold exactly 32 bytes; kIo
// when it cannot be read.
Result<DataKey> LoadKeyFile(const std::string& path);

// LoadKeyFile, or when the file does not exist, a new random key written to
// it as described above. kIo when the folder or the file cannot be created.
Result<DataKey> LoadOrCreateKeyFile(const std::string& path);

}  // namespace bosun::crypto
