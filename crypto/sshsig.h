// crypto/sshsig.h — SSH signatures as Git makes them with gpg.format=ssh
// (OpenSSH's PROTOCOL.sshsig), checked and made with libsodium's ed25519.
//
// A signed commit carries, in its gpgsig header, an armored SSHSIG blob:
//
//   -----BEGIN SSH SIGNATURE-----
//   base64 of: "SSHSIG" uint32(1) string(public key) string(namespace)
//              string(reserved) string(hash algorithm) string(signature)
//   -----END SSH SIGNATURE-----
//
// The signature is ed25519 over "SSHSIG" || string(namespace) ||
// string(reserved) || string(hash algorithm) || string(H(payload)), with H
// sha256 or sha512 (ssh-keygen uses sha512) and `string` an SSH wire string
// (uint32 big-endian length, then the bytes). Git signs in the namespace
// "git". Only ssh-ed25519 keys are verified; a signature by another key type
// parses (its key and fingerprint are known) and verifies as "unsupported key
// type". Every error message says what is wrong for a person and never holds
// key material beyond public keys and fingerprints.
//
// Allowed signers (ssh-keygen(1) ALLOWED SIGNERS, git's
// gpg.ssh.allowedSignersFile): one key per line,
//   principals [options] key-type base64-key [comment]
// options: namespaces="git,…", valid-after=/valid-before=YYYYMMDD[HHMM[SS]][Z]
// (without Z the server's local time, as ssh-keygen reads it);
// cert-authority is not supported (an error naming file:line). "#" comments
// and blank lines are skipped. A line with a key type other than ssh-ed25519
// is skipped with a warning (the file may be shared with other tools).
//
// Secret keys are libsodium ed25519 secret keys (64 bytes: seed || public
// key); the caller owns and wipes them (crypto/tokens.h Wipe).
//
// Thread-safe: pure functions over their arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace bosun::crypto {

inline constexpr const char* kSshEd25519 = "ssh-ed25519";
inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SecretKeyBytes = 64;
// Armored signatures larger than this are refused before decoding.
inline constexpr size_t kMaxArmoredSignatureBytes = 64 * 1024;

struct SshPublicKey {
  std::string type;  // "ssh-ed25519", "ssh-rsa", …
  std::string blob;  // the SSH wire encoding (what fingerprints hash)
  std::string key;   // ed25519: the raw 32-byte key; empty for other types

  // "SHA256:" + unpadded base64 of SHA-256(blob), as `ssh-keygen -l` prints.
  std::string Fingerprint() const;
  // "ssh-ed25519 AAAA…" (authorized_keys / allowed-signers form).
  std::string ToString() const;
  bool operator==(const SshPublicKey& o) const { return blob == o.blob; }
};

// An ed25519 public key (32 raw bytes) as an SshPublicKey. kInvalid for
// another length.
Result<SshPublicKey> Ed25519PublicKey(std::string_view raw);

// Parses "key-type base64 [comment]" (a .pub file's line). kInvalid when the
// base64 is bad or the blob's type is not the one written before it.
Result<SshPublicKey> ParseSshPublicKey(std::string_view line);

struct SshSignature {
  SshPublicKey key;
  std::string ns;              // namespace
  std::string hash_algorithm;  // "sha256" or "sha512"
  std::string signature_type;  // "ssh-ed25519", …
  std::string signature;       // raw signature bytes
};

// Parses an armored SSH signature. kInvalid, saying what is wrong, for
// anything that is not one: no BEGIN/END armor (a PGP signature says so),
// bad base64, wrong magic, an SSHSIG version other than 1, a hash algorithm
// other than sha256/sha512, truncated or trailing data. kTooLarge past
// kMaxArmoredSignatureBytes.
Result<SshSignature> ParseSshSignature(std::string_view armored);

// Checks `sig` over `message` in namespace `ns`. kInvalid "signed for
// namespace X, not git", kInvalid "unsupported key type ssh-rsa: …",
// kUnauthorized "the signature does not match …" for a wrong signature or a
// changed message.
Status VerifySshSignature(const SshSignature& sig, std::string_view message, std::string_view ns = "git");

// Parse + verify; the signer's key on success.
Result<SshPublicKey> VerifyArmoredSshSignature(std::string_view armored, std::string_view message,
                                               std::string_view ns = "git");

// Signs `message` in namespace `ns` with an ed25519 secret key (64 bytes),
// as `ssh-keygen -Y sign -n ns` would (hash sha512): the armored signature,
// lines of 70 base64 characters, ending with a newline. kInvalid for a key
// of another size.
Result<std::string> SignSsh(std::string_view secret_key, std::string_view message, std::string_view ns = "git");

// A fresh ed25519 key pair; the destructor wipes the secret.
struct Ed25519KeyPair {
  std::string public_key;  // 32 bytes
  std::string secret_key;  // 64 bytes
  Ed25519KeyPair() = default;
  Ed25519KeyPair(const Ed25519KeyPair&) = delete;
  Ed25519KeyPair& operator=(const Ed25519KeyPair&) = delete;
  Ed25519KeyPair(Ed25519KeyPair&&) = default;
  Ed25519KeyPair& operator=(Ed25519KeyPair&&) = default;
  ~Ed25519KeyPair();
};
Ed25519KeyPair GenerateEd25519KeyPair();
// The public key of a 64-byte secret key; kInvalid for another size or a
// secret whose public half does not match its seed.
Result<std::string> Ed25519PublicOf(std::string_view secret_key);

struct AllowedSigner {
  std::string principals;               // as written ("alice@example.com,bob@…")
  SshPublicKey key;
  std::vector<std::string> namespaces;  // empty: any namespace
  std::optional<int64_t> valid_after;   // seconds since the epoch
  std::optional<int64_t> valid_before;
  std::string where;  // "file:line"
};

struct AllowedSigners {
  std::vector<AllowedSigner> entries;
  std::vector<std::string> warnings;  // "file:line: …" for skipped lines

  // The first entry that lists `key`, allows namespace `ns` and is valid at
  // `when` (seconds since the epoch). nullptr when none; `why_not` (when
  // given) then says why a listed key did not count ("listed at f:3 but
  // only valid after 2026-01-01"), or is empty when the key is not listed.
  const AllowedSigner* Find(const SshPublicKey& key, std::string_view ns, int64_t when,
                            std::string* why_not = nullptr) const;
};

// Parses allowed-signers text; `file` names it in messages. kInvalid
// "file:line: …" for a malformed line, an unknown option, cert-authority.
Result<AllowedSigners> ParseAllowedSigners(std::string_view text, const std::string& file);
// Reads and parses a file; kIo when it cannot be read.
Result<AllowedSigners> LoadAllowedSigners(const std::string& path);

// Standard base64 (RFC 4648, padded), e.g. for keys kept in a Secret's data.
std::string EncodeBase64(std::string_view bytes);
// Padded or not; white space ignored. kInvalid for anything else.
Result<std::string> DecodeBase64(std::string_view text);

}  // namespace bosun::crypto
