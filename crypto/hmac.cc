#include "crypto/hmac.h"

#include <sodium.h>

#include "crypto/tokens.h"

namespace bosun::crypto {
namespace {

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Computes into `out` and wipes the HMAC state, which holds the key padded
// into the inner and outer hash states.
void Compute(std::string_view key, std::string_view message, unsigned char out[kHmacSha256Bytes]) {
  (void)Init();
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, Bytes(key), key.size());
  crypto_auth_hmacsha256_update(&state, Bytes(message), message.size());
  crypto_auth_hmacsha256_final(&state, out);
  sodium_memzero(&state, sizeof state);
}

constexpr std::string_view kSignaturePrefix = "sha256=";

}  // namespace

HmacSha256Digest HmacSha256(std::string_view key, std::string_view message) {
  HmacSha256Digest out;
  Compute(key, message, out.data());
  return out;
}

std::string HexEncode(std::string_view bytes) {
  std::string hex(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), Bytes(bytes), bytes.size());
  hex.pop_back();  // the terminating NUL sodium_bin2hex writes
  return hex;
}

std::string HmacSha256Hex(std::string_view key, std::string_view message) {
  unsigned char mac[kHmacSha256Bytes];
  Compute(key, message, mac);
  std::string hex = HexEncode(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
  sodium_memzero(mac, sizeof mac);
  return hex;
}

std::string SignatureHeader(std::string_view key, std::string_view message) {
  return std::string(kSignaturePrefix) + HmacSha256Hex(key, message);
}

bool VerifySignatureHeader(std::string_view key, std::string_view message, std::string_view header) {
  if (key.empty()) return false;
  if (header.size() != kSignaturePrefix.size() + 2 * kHmacSha256Bytes) return false;
  if (header.substr(0, kSignaturePrefix.size()) != kSignaturePrefix) return false;
  std::string_view hex = header.substr(kSignaturePrefix.size());

  (void)Init();
  unsigned char received[kHmacSha256Bytes];
  size_t received_len = 0;
  const char* hex_end = nullptr;
  // sodium_hex2bin is constant-time in the digits it decodes; it stops at the
  // first non-hex character, which the length checks below catch.
  if (sodium_hex2bin(received, sizeof received, hex.data(), hex.size(), nullptr, &received_len, &hex_end) != 0 ||
      received_len != kHmacSha256Bytes || hex_end != hex.data() + hex.size()) {
    sodium_memzero(received, sizeof received);
    return false;
  }
  unsigned char mine[kHmacSha256Bytes];
  Compute(key, message, mine);
  bool equal = sodium_memcmp(mine, received, kHmacSha256Bytes) == 0;
  sodium_memzero(mine, sizeof mine);
  sodium_memzero(received, sizeof received);
  return equal;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  (void)Init();
  unsigned char ha[crypto_generichash_BYTES];
  unsigned char hb[crypto_generichash_BYTES];
  crypto_generichash(ha, sizeof ha, Bytes(a), a.size(), nullptr, 0);
  crypto_generichash(hb, sizeof hb, Bytes(b), b.size(), nullptr, 0);
  // Equal digests of 256 bits mean equal inputs; the length check is on
  // lengths already spent reading both, and is folded in without branching on
  // the digests.
  bool equal = (sodium_memcmp(ha, hb, sizeof ha) == 0) & (a.size() == b.size());
  sodium_memzero(ha, sizeof ha);
  sodium_memzero(hb, sizeof hb);
  return equal;
}

}  // namespace bosun::crypto
