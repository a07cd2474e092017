// crypto/tokens.h — bearer tokens: made at random, stored only as hashes.
//
// A token is 32 random bytes from libsodium, written as "bosun_" + 43
// characters of URL-safe base64. Servers keep BLAKE2b-256 hashes of the
// tokens they accept (tokens have 256 bits of entropy, so a fast hash is
// enough; a slow password hash would only slow every request) and compare in
// constant time. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace bosun::crypto {

// Initialises libsodium once; every function here calls it. Fails only if the
// library cannot initialise (no entropy source).
Status Init();

// A new random token.
std::string NewToken();

// Hex BLAKE2b-256 of the token.
std::string HashToken(std::string_view token);

// True if HashToken(token) equals `hash`, compared in constant time.
bool TokenMatches(std::string_view token, std::string_view hash);

// Overwrites memory that held a secret (sodium_memzero).
void Wipe(std::string& secret);

}  // namespace bosun::crypto
