#include "crypto/tokens.h"

#include <sodium.h>

namespace bosun::crypto {

Status Init() {
  static const int rc = sodium_init();
  if (rc < 0) return Error(Code::kInternal, "libsodium failed to initialise");
  return Ok();
}

std::string NewToken() {
  (void)Init();
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  std::string token = std::string("bosun_") + b64;
  sodium_memzero(b64, sizeof b64);
  return token;
}

std::string HashToken(std::string_view token) {
  (void)Init();
  unsigned char h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(token.data()), token.size(), nullptr, 0);
  char hex[crypto_generichash_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return std::string(hex);
}

bool TokenMatches(std::string_view token, std::string_view hash) {
  std::string mine = HashToken(token);
  if (mine.size() != hash.size()) return false;
  return sodium_memcmp(mine.data(), hash.data(), mine.size()) == 0;
}

void Wipe(std::string& secret) {
  if (!secret.empty()) sodium_memzero(secret.data(), secret.size());
  secret.clear();
}

}  // namespace bosun::crypto
