// crypto/hmac.h — HMAC-SHA256 (libsodium) and constant-time comparisons, for
// verifying the signatures Git hosts put on their webhooks.
//
// GitHub, Gitea and bosun's generic hook send `sha256=<hex HMAC-SHA256 of the
// body under the shared secret>`; GitLab sends the secret itself. Both are
// checked here in constant time, so the time an answer takes says nothing
// about how much of a forged signature was right. Keys of any length are
// accepted (RFC 2104: keys longer than a block are hashed first). The HMAC
// state and every computed MAC that is compared are wiped (sodium_memzero)
// before returning; the caller owns, and wipes, its copy of the key.
//
// Thread-safe: no shared state beyond libsodium's one-time initialisation.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace bosun::crypto {

inline constexpr size_t kHmacSha256Bytes = 32;
using HmacSha256Digest = std::array<unsigned char, kHmacSha256Bytes>;

// HMAC-SHA256 of `message` under `key` (RFC 2104, RFC 4231).
HmacSha256Digest HmacSha256(std::string_view key, std::string_view message);

// The same, as 64 lower-case hex digits.
std::string HmacSha256Hex(std::string_view key, std::string_view message);

// Lower-case hex of arbitrary bytes.
std::string HexEncode(std::string_view bytes);

// "sha256=<64 lower-case hex digits>": the value of GitHub's
// X-Hub-Signature-256 header for `message` under `key`.
std::string SignatureHeader(std::string_view key, std::string_view message);

// True when `header` is exactly "sha256=" followed by 64 hex digits (either
// case) that equal HMAC-SHA256(key, message). The MACs are compared in
// constant time; anything malformed (another prefix, wrong length, stray
// characters or whitespace) is false. An empty key is refused (false): a hook
// without a secret must never verify.
bool VerifySignatureHeader(std::string_view key, std::string_view message, std::string_view header);

// True when a and b are the same bytes. The time taken does not depend on
// where they differ, nor on their lengths beyond reading each once (both are
// hashed with BLAKE2b-256 and the digests compared with sodium_memcmp), so a
// guessed token reveals neither its common prefix nor the real length.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace bosun::crypto
