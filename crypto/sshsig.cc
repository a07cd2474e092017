// SSHSIG (OpenSSH PROTOCOL.sshsig): parse, verify and make armored SSH
// signatures with libsodium's ed25519, SHA-256 and SHA-512.
#include "crypto/sshsig.h"

#include <sodium.h>

#include <cstring>

#include "crypto/printable.h"
#include "crypto/tokens.h"

namespace bosun::crypto {
namespace {

constexpr std::string_view kMagic = "SSHSIG";
constexpr uint32_t kSigVersion = 1;
constexpr std::string_view kBegin = "-----BEGIN SSH SIGNATURE-----";
constexpr std::string_view kEnd = "-----END SSH SIGNATURE-----";
constexpr size_t kArmorLine = 70;

// Reads SSH wire data: uint32 big-endian and length-prefixed strings.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}
  bool U32(uint32_t* v) {
    if (data_.size() - pos_ < 4) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(data_.data() + pos_);
    *v = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
    pos_ += 4;
    return true;
  }
  bool String(std::string* s) {
    uint32_t n;
    if (!U32(&n)) return false;
    if (data_.size() - pos_ < n) return false;
    s->assign(data_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool Bytes(size_t n, std::string* s) {
    if (data_.size() - pos_ < n) return false;
    s->assign(data_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool AtEnd() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

void PutU32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>((v >> 24) & 0xff));
  out->push_back(static_cast<char>((v >> 16) & 0xff));
  out->push_back(static_cast<char>((v >> 8) & 0xff));
  out->push_back(static_cast<char>(v & 0xff));
}

void PutString(std::string* out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

std::string Base64(std::string_view bin, int variant) {
  std::string out(sodium_base64_encoded_len(bin.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bin.data()), bin.size(), variant);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// Standard base64 (padding optional), white space ignored.
bool FromBase64(std::string_view text, std::string* out) {
  out->assign(text.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out->data()), out->size(), text.data(), text.size(),
                        " \t\r\n", &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0) {
    // Unpadded input is accepted too.
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out->data()), out->size(), text.data(), text.size(),
                          " \t\r\n", &len, &end, sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0) {
      return false;
    }
  }
  if (end != text.data() + text.size()) return false;
  out->resize(len);
  return true;
}

// A public key from its wire blob.
Result<SshPublicKey> KeyFromBlob(std::string blob) {
  WireReader r(blob);
  SshPublicKey k;
  if (!r.String(&k.type) || k.type.empty()) return Error(Code::kInvalid, "the public key is truncated");
  for (char c : k.type) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      return Error(Code::kInvalid, "the public key's type is not printable");
    }
  }
  if (k.type == kSshEd25519) {
    if (!r.String(&k.key) || k.key.size() != kEd25519PublicKeyBytes || !r.AtEnd()) {
      return Error(Code::kInvalid, "the ssh-ed25519 public key is malformed (it must hold 32 bytes)");
    }
  }
  k.blob = std::move(blob);
  return k;
}

std::string Printable(std::string_view s) { return PrintableExcerpt(s, 40); }

// H(message) with the signature's algorithm.
std::string Digest(const std::string& algorithm, std::string_view message) {
  const auto* m = reinterpret_cast<const unsigned char*>(message.data());
  if (algorithm == "sha256") {
    std::string d(crypto_hash_sha256_BYTES, '\0');
    crypto_hash_sha256(reinterpret_cast<unsigned char*>(d.data()), m, message.size());
    return d;
  }
  std::string d(crypto_hash_sha512_BYTES, '\0');
  crypto_hash_sha512(reinterpret_cast<unsigned char*>(d.data()), m, message.size());
  return d;
}

// What the ed25519 signature covers.
std::string SignedData(std::string_view ns, const std::string& algorithm, std::string_view message) {
  std::string data(kMagic);
  PutString(&data, ns);
  PutString(&data, "");  // reserved
  PutString(&data, algorithm);
  PutString(&data, Digest(algorithm, message));
  return data;
}

}  // namespace

std::string SshPublicKey::Fingerprint() const {
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>(blob.data()), blob.size());
  return "SHA256:" +
         Base64(std::string_view(reinterpret_cast<const char*>(d), sizeof d), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

std::string SshPublicKey::ToString() const {
  return type + " " + Base64(blob, sodium_base64_VARIANT_ORIGINAL);
}

Result<SshPublicKey> Ed25519PublicKey(std::string_view raw) {
  if (raw.size() != kEd25519PublicKeyBytes) {
    return Error(Code::kInvalid, "an ed25519 public key has 32 bytes, not " + std::to_string(raw.size()));
  }
  std::string blob;
  PutString(&blob, kSshEd25519);
  PutString(&blob, raw);
  return KeyFromBlob(std::move(blob));
}

Result<SshPublicKey> ParseSshPublicKey(std::string_view line) {
  auto skip = [&] {
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  };
  auto word = [&] {
    skip();
    size_t n = 0;
    while (n < line.size() && line[n] != ' ' && line[n] != '\t' && line[n] != '\r' && line[n] != '\n') ++n;
    std::string_view w = line.substr(0, n);
    line.remove_prefix(n);
    return w;
  };
  std::string_view type = word();
  std::string_view b64 = word();
  const std::string shown = Printable(type);
  if (type.empty() || b64.empty()) {
    return Error(Code::kInvalid, "not a public key: want \"KEY-TYPE BASE64 [COMMENT]\" (e.g. ssh-ed25519 AAAA...)");
  }
  std::string blob;
  if (!FromBase64(b64, &blob)) return Error(Code::kInvalid, "the " + shown + " key is not valid base64");
  auto key = KeyFromBlob(std::move(blob));
  if (!key) return key.error();
  if (key->type != type) {
    return Error(Code::kInvalid,
                 "the key is written as " + shown + " but its data holds a " + Printable(key->type) + " key");
  }
  return key;
}

Result<SshSignature> ParseSshSignature(std::string_view armored) {
  if (armored.size() > kMaxArmoredSignatureBytes) {
    return Error(Code::kTooLarge, "the signature has " + std::to_string(armored.size()) + " bytes, more than the " +
                                      std::to_string(kMaxArmoredSignatureBytes) + " an SSH signature may have");
  }
  size_t begin = armored.find(kBegin);
  if (begin == std::string_view::npos) {
    if (armored.find("-----BEGIN PGP SIGNATURE-----") != std::string_view::npos) {
      return Error(Code::kInvalid, "a PGP (GnuPG) signature, not an SSH one: bosun verifies SSH signatures only");
    }
    if (armored.empty()) return Error(Code::kInvalid, "no signature");
    return Error(Code::kInvalid, "not an SSH signature: no \"-----BEGIN SSH SIGNATURE-----\" line");
  }
  size_t body = begin + kBegin.size();
  size_t end = armored.find(kEnd, body);
  if (end == std::string_view::npos) {
    return Error(Code::kInvalid, "the SSH signature is cut short: no \"-----END SSH SIGNATURE-----\" line");
  }
  std::string blob;
  if (!FromBase64(armored.substr(body, end - body), &blob)) {
    return Error(Code::kInvalid, "the SSH signature's body is not valid base64");
  }
  WireReader r(blob);
  std::string magic;
  if (!r.Bytes(kMagic.size(), &magic) || magic != kMagic) {
    return Error(Code::kInvalid, "not an SSHSIG blob (it does not start with \"SSHSIG\")");
  }
  uint32_t version = 0;
  if (!r.U32(&version)) return Error(Code::kInvalid, "the SSH signature is truncated (no version)");
  if (version != kSigVersion) {
    return Error(Code::kInvalid, "unsupported SSHSIG version " + std::to_string(version) + " (1 is supported)");
  }
  SshSignature sig;
  std::string key_blob, reserved, sig_blob;
  if (!r.String(&key_blob)) return Error(Code::kInvalid, "the SSH signature is truncated (in the public key)");
  if (!r.String(&sig.ns)) return Error(Code::kInvalid, "the SSH signature is truncated (in the namespace)");
  if (!r.String(&reserved)) return Error(Code::kInvalid, "the SSH signature is truncated (in the reserved field)");
  if (!r.String(&sig.hash_algorithm)) {
    return Error(Code::kInvalid, "the SSH signature is truncated (in the hash algorithm)");
  }
  if (!r.String(&sig_blob)) return Error(Code::kInvalid, "the SSH signature is truncated (in the signature)");
  if (!r.AtEnd()) return Error(Code::kInvalid, "the SSH signature has trailing data after the signature");
  if (sig.hash_algorithm != "sha256" && sig.hash_algorithm != "sha512") {
    return Error(Code::kInvalid,
                 "unsupported hash algorithm \"" + Printable(sig.hash_algorithm) + "\" (sha256 or sha512 are)");
  }
  auto key = KeyFromBlob(std::move(key_blob));
  if (!key) return key.error().Wrap("the SSH signature's public key");
  sig.key = std::move(*key);
  WireReader s(sig_blob);
  if (!s.String(&sig.signature_type) || !s.String(&sig.signature)) {
    return Error(Code::kInvalid, "the SSH signature's signature field is truncated");
  }
  // RSA signature blobs end here; others may carry more (security keys'
  // flags and counter), which only matters for types bosun does not verify.
  if (sig.key.type == kSshEd25519 && !s.AtEnd()) {
    return Error(Code::kInvalid, "the ssh-ed25519 signature has trailing data");
  }
  return sig;
}

Status VerifySshSignature(const SshSignature& sig, std::string_view message, std::string_view ns) {
  if (Status s = Init(); !s) return s;
  if (sig.ns != ns) {
    return Error(Code::kInvalid,
                 "signed for namespace \"" + Printable(sig.ns) + "\", not \"" + std::string(ns) + "\"");
  }
  if (sig.key.type != kSshEd25519) {
    return Error(Code::kInvalid, "unsupported key type " + Printable(sig.key.type) + " (" + sig.key.Fingerprint() +
                                     "): bosun verifies ssh-ed25519 signatures only");
  }
  if (sig.signature_type != kSshEd25519) {
    return Error(Code::kInvalid, "the signature is of type " + Printable(sig.signature_type) + ", not ssh-ed25519");
  }
  if (sig.signature.size() != crypto_sign_BYTES) {
    return Error(Code::kInvalid, "an ssh-ed25519 signature has 64 bytes, not " + std::to_string(sig.signature.size()));
  }
  std::string data = SignedData(ns, sig.hash_algorithm, message);
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig.signature.data()),
                                  reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                                  reinterpret_cast<const unsigned char*>(sig.key.key.data())) != 0) {
    return Error(Code::kUnauthorized, "the signature does not match the signed content (it was changed after "
                                      "signing, or the signature is forged)");
  }
  return Ok();
}

Result<SshPublicKey> VerifyArmoredSshSignature(std::string_view armored, std::string_view message,
                                               std::string_view ns) {
  auto sig = ParseSshSignature(armored);
  if (!sig) return sig.error();
  if (Status s = VerifySshSignature(*sig, message, ns); !s) return s.error();
  return sig->key;
}

Result<std::string> SignSsh(std::string_view secret_key, std::string_view message, std::string_view ns) {
  if (Status s = Init(); !s) return s.error();
  auto pub = Ed25519PublicOf(secret_key);
  if (!pub) return pub.error();
  auto key = Ed25519PublicKey(*pub);
  if (!key) return key.error();
  const std::string algorithm = "sha512";
  std::string data = SignedData(ns, algorithm, message);
  std::string raw(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(raw.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                       reinterpret_cast<const unsigned char*>(secret_key.data()));
  std::string sig_blob;
  PutString(&sig_blob, kSshEd25519);
  PutString(&sig_blob, raw);
  std::string blob(kMagic);
  PutU32(&blob, kSigVersion);
  PutString(&blob, key->blob);
  PutString(&blob, ns);
  PutString(&blob, "");
  PutString(&blob, algorithm);
  PutString(&blob, sig_blob);
  std::string b64 = Base64(blob, sodium_base64_VARIANT_ORIGINAL);
  std::string out(kBegin);
  out += "\n";
  for (size_t i = 0; i < b64.size(); i += kArmorLine) out += b64.substr(i, kArmorLine) + "\n";
  out += kEnd;
  out += "\n";
  return out;
}

std::string EncodeBase64(std::string_view bytes) {
  return Base64(bytes, sodium_base64_VARIANT_ORIGINAL);
}

Result<std::string> DecodeBase64(std::string_view text) {
  std::string out;
  if (!FromBase64(text, &out)) return Error(Code::kInvalid, "not valid base64");
  return out;
}

Ed25519KeyPair::~Ed25519KeyPair() {
  Wipe(secret_key);
}

Ed25519KeyPair GenerateEd25519KeyPair() {
  (void)Init();
  Ed25519KeyPair kp;
  kp.public_key.assign(crypto_sign_PUBLICKEYBYTES, '\0');
  kp.secret_key.assign(crypto_sign_SECRETKEYBYTES, '\0');
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(kp.public_key.data()),
                      reinterpret_cast<unsigned char*>(kp.secret_key.data()));
  return kp;
}

Result<std::string> Ed25519PublicOf(std::string_view secret_key) {
  if (Status s = Init(); !s) return s.error();
  if (secret_key.size() != crypto_sign_SECRETKEYBYTES) {
    return Error(Code::kInvalid,
                 "an ed25519 secret key has 64 bytes, not " + std::to_string(secret_key.size()));
  }
  // Derive the public key from the seed again: a secret whose stored public
  // half was altered would otherwise sign with a key nobody can check.
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(secret_key.data()));
  sodium_memzero(sk, sizeof sk);
  if (sodium_memcmp(pk, secret_key.data() + crypto_sign_SEEDBYTES, sizeof pk) != 0) {
    return Error(Code::kInvalid, "the ed25519 secret key is inconsistent (its public half does not match its seed)");
  }
  return std::string(reinterpret_cast<const char*>(pk), sizeof pk);
}

}  // namespace bosun::crypto
