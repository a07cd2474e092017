// tests/fuzz/sealed_fuzz.cc — libFuzzer target for the sealed-secret parsers
// (crypto/sealed.h).
//
// The first byte chooses what the rest is fed to:
//   0  Open (InspectSealed, the key lookup, the box) as a sealed value at
//      namespace "prod" name "db", with a fixed key pair;
//   1  SealingKeyPair::ParseKeyFile;
//   2  ParsePublicKey;
//   3  the frame inside a box: the rest is sealed as the frame with the fixed
//      public key (as an attacker holding the public key can), then opened —
//      this reaches the frame parser that authentication otherwise guards.
// Whatever the input, nothing may crash, hang or leak (ASan, UBSan, libFuzzer
// limits), and:
//   - Open fails only with kInvalid, kNotFound, kUnauthorized or kForbidden,
//     and an opened value seals again and opens to the same value and scope;
//   - a parsed key file writes back (ToKeyFile) to a file that parses to the
//     same key, and its errors never quote the private line;
//   - a parsed public key writes back to a file that parses to the same key.
// A broken invariant aborts with a message, so libFuzzer keeps the input.

#include <sodium.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "crypto/sealed.h"

namespace {

using namespace bosun;

[[noreturn]] void Broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "\n*** sealed parser invariant broken: %s\n%s\n", what, detail.substr(0, 2000).c_str());
  std::abort();
}

// A fixed key pair (private key = 32 bytes of 0x42), so crashes reproduce.
struct Fixed {
  crypto::Keyring ring;
  crypto::SealingPublicKey pub;
  Fixed() {
    if (sodium_init() < 0) Broken("sodium_init", "");
    unsigned char sk[32];
    std::memset(sk, 0x42, sizeof sk);
    crypto_scalarmult_base(pub.bytes.data(), sk);
    auto kp = crypto::SealingKeyPair::FromBytes(pub, std::string_view(reinterpret_cast<char*>(sk), sizeof sk), "");
    if (!kp.ok()) Broken("fixed key", kp.error().message());
    ring.Add(std::make_shared<crypto::SealingKeyPair>(std::move(*kp)));
  }
};

const Fixed& Keys() {
  static const Fixed* f = new Fixed();
  return *f;
}

void CheckOpen(std::string_view sealed) {
  auto r = crypto::Open(Keys().ring, "prod", "db", sealed);
  if (!r.ok()) {
    Code c = r.error().code();
    if (c != Code::kInvalid && c != Code::kNotFound && c != Code::kUnauthorized && c != Code::kForbidden) {
      Broken("Open failed with an undocumented code", r.error().message());
    }
    return;
  }
  if (!r->scope.Admits("prod", "db")) Broken("Open returned a scope that does not admit prod/db", r->scope.Describe());
  auto again = crypto::Seal(Keys().pub, r->scope, r->value);
  if (!again.ok()) Broken("an opened value does not seal again", again.error().message());
  auto back = crypto::Open(Keys().ring, "prod", "db", *again);
  if (!back.ok()) Broken("a re-sealed value does not open", back.error().message());
  if (back->value != r->value || !(back->scope == r->scope)) Broken("re-sealing changed the value or scope", "");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      CheckOpen(rest);
      break;
    case 1: {
      auto kp = crypto::SealingKeyPair::ParseKeyFile(rest, "fuzz.key");
      if (!kp.ok()) {
        const std::string& m = kp.error().message();
        if (m.rfind("fuzz.key", 0) != 0) Broken("key file error does not name the file", m);
        size_t at = rest.find("private:");
        if (at != std::string_view::npos) {
          size_t eol = rest.find('\n', at);
          std::string_view value = rest.substr(at + 8, eol == std::string_view::npos ? std::string_view::npos : eol - at - 8);
          while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
          while (!value.empty() && (value.back() == ' ' || value.back() == '\r' || value.back() == '\t')) value.remove_suffix(1);
          // Only key-like values (base64 of 32 bytes is 44 characters): a
          // short one may equal what the message holds anyway (a key id).
          bool key_like = value.size() >= 40;
          for (char ch : value) key_like = key_like && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '+' || ch == '/' || ch == '=');
          if (key_like && m.find(value) != std::string::npos) Broken("key file error quotes the private key", m);
        }
        break;
      }
      auto back = crypto::SealingKeyPair::ParseKeyFile(kp->ToKeyFile(), "again.key");
      if (!back.ok()) Broken("a written key file does not parse", back.error().message());
      if (back->id() != kp->id()) Broken("a written key file is another key", back->id());
      break;
    }
    case 2: {
      auto pub = crypto::ParsePublicKey(rest, "fuzz.pub");
      if (!pub.ok()) break;
      auto back = crypto::ParsePublicKey(crypto::PublicKeyFile(*pub), "again.pub");
      if (!back.ok() || !(*back == *pub)) Broken("a written public key file does not parse to the same key", "");
      break;
    }
    case 3: {
      // The wire format around an arbitrary frame.
      std::string wire(1 + crypto::kSealingKeyIdBytes + crypto_box_SEALBYTES + rest.size(), '\0');
      auto* w = reinterpret_cast<unsigned char*>(wire.data());
      w[0] = 1;
      unsigned char h[crypto_generichash_BYTES];
      crypto_generichash(h, sizeof h, Keys().pub.bytes.data(), Keys().pub.bytes.size(), nullptr, 0);
      std::memcpy(w + 1, h, crypto::kSealingKeyIdBytes);
      crypto_box_seal(w + 1 + crypto::kSealingKeyIdBytes, reinterpret_cast<const unsigned char*>(rest.data()),
                      rest.size(), Keys().pub.bytes.data());
      std::string b64(sodium_base64_ENCODED_LEN(wire.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
      sodium_bin2base64(b64.data(), b64.size(), w, wire.size(), sodium_base64_VARIANT_ORIGINAL);
      b64.resize(b64.size() - 1);
      CheckOpen(b64);
      break;
    }
  }
  return 0;
}
