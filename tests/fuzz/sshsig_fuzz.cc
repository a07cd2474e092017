// tests/fuzz/sshsig_fuzz.cc — libFuzzer target for the SSH signature parsers
// (crypto/sshsig.h): armored SSHSIG signatures (what a commit's gpgsig header
// holds, written by whoever pushes), public key lines and allowed-signers
// files.
//
// The first byte picks the parser ('s' signature, 'k' public key, 'a'
// allowed signers; anything else: all three on the rest). Whatever the input:
//   - no crash, hang or leak (ASan, UBSan and libFuzzer watch);
//   - an error is kInvalid (or kTooLarge for an oversized signature) with a
//     non-empty message of printable text (messages reach logs and records);
//   - a parsed signature's key has a "SHA256:" fingerprint, and verifying it
//     over the rest of the input either succeeds or fails cleanly; a parsed
//     ssh-ed25519 key has 32 bytes and survives ToString → ParseSshPublicKey;
//   - a parsed allowed-signers file has only ssh-ed25519 entries, each with a
//     "file:line" location.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crypto/sshsig.h"

namespace {

using namespace bosun;

[[noreturn]] void Broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "\n*** sshsig invariant broken: %s\n%s\n", what, detail.substr(0, 2000).c_str());
  std::abort();
}

void CheckError(const Error& e, bool may_be_too_large) {
  if (e.code() != Code::kInvalid && !(may_be_too_large && e.code() == Code::kTooLarge)) {
    Broken("unexpected error code", e.message());
  }
  if (e.message().empty()) Broken("empty error message", "");
  for (char c : e.message()) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\n') Broken("control character in an error message", e.message());
  }
}

void CheckKey(const crypto::SshPublicKey& k) {
  if (k.Fingerprint().rfind("SHA256:", 0) != 0) Broken("fingerprint", k.Fingerprint());
  if (k.type == crypto::kSshEd25519) {
    if (k.key.size() != crypto::kEd25519PublicKeyBytes) Broken("ed25519 key size", std::to_string(k.key.size()));
    auto again = crypto::ParseSshPublicKey(k.ToString());
    if (!again || !(*again == k)) Broken("public key round trip", k.ToString());
  }
}

void FuzzSignature(std::string_view in) {
  auto sig = crypto::ParseSshSignature(in);
  if (!sig) return CheckError(sig.error(), true);
  CheckKey(sig->key);
  if (sig->hash_algorithm != "sha256" && sig->hash_algorithm != "sha512") Broken("hash algorithm", "");
  Status v = crypto::VerifySshSignature(*sig, in.substr(in.size() / 2), "git");
  if (!v && v.error().code() != Code::kInvalid && v.error().code() != Code::kUnauthorized) {
    Broken("verify error code", v.error().message());
  }
}

void FuzzKey(std::string_view in) {
  auto k = crypto::ParseSshPublicKey(in);
  if (!k) return CheckError(k.error(), false);
  CheckKey(*k);
}

void FuzzAllowedSigners(std::string_view in) {
  auto s = crypto::ParseAllowedSigners(in, "fuzz");
  if (!s) return CheckError(s.error(), false);
  for (const auto& e : s->entries) {
    if (e.key.type != crypto::kSshEd25519) Broken("non-ed25519 entry", e.key.type);
    if (e.where.rfind("fuzz:", 0) != 0) Broken("entry location", e.where);
    if (e.principals.empty()) Broken("empty principals", e.where);
    CheckKey(e.key);
    (void)s->Find(e.key, "git", 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0]) {
    case 's':
      FuzzSignature(in);
      break;
    case 'k':
      FuzzKey(in);
      break;
    case 'a':
      FuzzAllowedSigners(in);
      break;
    default:
      FuzzSignature(in);
      FuzzKey(in);
      FuzzAllowedSigners(in);
  }
  return 0;
}
