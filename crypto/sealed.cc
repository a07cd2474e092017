// Sealed secrets over libsodium sealed boxes (crypto/sealed.h).
#include "crypto/sealed.h"

#include <cstring>
#include <optional>
#include <utility>

#include <sodium.h>

#include "core/ascii.h"
#include "crypto/tokens.h"

namespace bosun::crypto {
namespace {

constexpr unsigned char kFormatVersion = 1;
constexpr size_t kHeaderBytes = 1 + kSealingKeyIdBytes;
constexpr const char* kKeyFileMagic = "bosun-sealing-key";
constexpr const char* kPublicFileMagic = "bosun-sealing-public-key";

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string ToBase64(const unsigned char* data, size_t n) {
  std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), data, n, sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// Decodes standard base64 (padding required, nothing else allowed) into
// `out`, which is resized. False when malformed.
bool DecodeBase64(std::string_view b64, std::string* out) {
  out->assign(b64.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out->data()), out->size(), b64.data(), b64.size(), nullptr,
                        &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != b64.data() + b64.size()) {
    Wipe(*out);
    return false;
  }
  out->resize(len);
  return true;
}

std::string Trim(std::string_view s) {
  return std::string(TrimAscii(s));
}

// "key: value" lines of a key file, with their line numbers; comments and
// blank lines skipped.
struct Line {
  int number;
  std::string key;
  std::string value;
};
std::vector<Line> KeyValueLines(std::string_view text) {
  std::vector<Line> out;
  int number = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    ++number;
    std::string line = Trim(raw);
    if (!line.empty() && line[0] != '#') {
      size_t colon = line.find(':');
      if (colon == std::string::npos) {
        out.push_back({number, line, ""});
      } else {
        out.push_back({number, Trim(std::string_view(line).substr(0, colon)), Trim(std::string_view(line).substr(colon + 1))});
      }
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return out;
}

void PutLength(std::string& out, size_t n) {
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
}

// Reads a length-prefixed string from `frame` at *pos.
bool GetString(std::string_view frame, size_t* pos, std::string* out) {
  if (frame.size() - *pos < 2) return false;
  size_t n = (static_cast<unsigned char>(frame[*pos]) << 8) | static_cast<unsigned char>(frame[*pos + 1]);
  *pos += 2;
  if (frame.size() - *pos < n) return false;
  out->assign(frame.substr(*pos, n));
  *pos += n;
  return true;
}

}  // namespace

const char* ScopeKindName(SealScopeKind kind) {
  switch (kind) {
    case SealScopeKind::kStrict: return "strict";
    case SealScopeKind::kNamespace: return "namespace";
    case SealScopeKind::kCluster: return "cluster";
  }
  return "strict";
}

Result<SealScopeKind> ParseScopeKind(std::string_view text) {
  if (text == "strict") return SealScopeKind::kStrict;
  if (text == "namespace" || text == "namespace-wide") return SealScopeKind::kNamespace;
  if (text == "cluster" || text == "cluster-wide") return SealScopeKind::kCluster;
  return Error(Code::kInvalid, "scope " + Quote(text) + ": must be strict, namespace or cluster");
}

SealScope SealScope::For(SealScopeKind kind, const std::string& ns, const std::string& name) {
  switch (kind) {
    case SealScopeKind::kStrict: return Strict(ns, name);
    case SealScopeKind::kNamespace: return Namespace(ns);
    case SealScopeKind::kCluster: return Cluster();
  }
  return Strict(ns, name);
}

std::string SealScope::Describe() const {
  switch (kind) {
    case SealScopeKind::kStrict: return "namespace " + Quote(ns) + " name " + Quote(name);
    case SealScopeKind::kNamespace: return "namespace " + Quote(ns);
    case SealScopeKind::kCluster: return "the whole cluster";
  }
  return "";
}

bool SealScope::Admits(std::string_view at_ns, std::string_view at_name) const {
  switch (kind) {
    case SealScopeKind::kStrict: return ns == at_ns && name == at_name;
    case SealScopeKind::kNamespace: return ns == at_ns;
    case SealScopeKind::kCluster: return true;
  }
  return false;
}

std::string SealingPublicKey::Id() const {
  (void)Init();
  unsigned char h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof h, bytes.data(), bytes.size(), nullptr, 0);
  char hex[kSealingKeyIdBytes * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, h, kSealingKeyIdBytes);
  return hex;
}

std::string SealingPublicKey::Base64() const { return ToBase64(bytes.data(), bytes.size()); }

Result<SealingPublicKey> PublicKeyFromBase64(std::string_view b64) {
  (void)Init();
  std::string raw;
  if (!DecodeBase64(b64, &raw) || raw.size() != kSealingKeyBytes) {
    return Error(Code::kInvalid, "not a sealing public key (standard base64 of 32 bytes)");
  }
  SealingPublicKey key;
  std::memcpy(key.bytes.data(), raw.data(), kSealingKeyBytes);
  return key;
}

Result<SealingKeyPair> SealingKeyPair::Generate(std::string created) {
  if (auto st = Init(); !st) return st.error();
  SealingKeyPair kp;
  kp.private_ = static_cast<unsigned char*>(sodium_malloc(kSealingKeyBytes));
  if (kp.private_ == nullptr) return Error(Code::kInternal, "cannot allocate secure memory for a sealing key");
  crypto_box_keypair(kp.public_.bytes.data(), kp.private_);
  kp.id_ = kp.public_.Id();
  kp.created_ = std::move(created);
  return kp;
}

Result<SealingKeyPair> SealingKeyPair::FromBytes(const SealingPublicKey& public_key, std::string_view private_key,
                                                 std::string created) {
  if (auto st = Init(); !st) return st.error();
  if (private_key.size() != kSealingKeyBytes) {
    return Error(Code::kInvalid, "a sealing private key is 32 bytes, not " + std::to_string(private_key.size()));
  }
  SealingKeyPair kp;
  kp.private_ = static_cast<unsigned char*>(sodium_malloc(kSealingKeyBytes));
  if (kp.private_ == nullptr) return Error(Code::kInternal, "cannot allocate secure memory for a sealing key");
  std::memcpy(kp.private_, private_key.data(), kSealingKeyBytes);
  unsigned char derived[kSealingKeyBytes];
  crypto_scalarmult_base(derived, kp.private_);
  bool match = sodium_memcmp(derived, public_key.bytes.data(), kSealingKeyBytes) == 0;
  sodium_memzero(derived, sizeof derived);
  if (!match) return Error(Code::kInvalid, "the private key does not belong to the public key " + public_key.Id());
  kp.public_ = public_key;
  kp.id_ = public_key.Id();
  kp.created_ = std::move(created);
  return kp;
}

Result<SealingKeyPair> SealingKeyPair::FromBase64(const SealingPublicKey& public_key, std::string_view private_b64,
                                                  std::string created) {
  (void)Init();
  std::string raw;
  if (!DecodeBase64(private_b64, &raw)) return Error(Code::kInvalid, "the private key is not standard base64");
  auto kp = FromBytes(public_key, raw, std::move(created));
  Wipe(raw);
  return kp;
}

SealingKeyPair::~SealingKeyPair() {
  if (private_ != nullptr) sodium_free(private_);  // wipes first
}

SealingKeyPair::SealingKeyPair(SealingKeyPair&& o) noexcept
    : public_(o.public_), id_(std::move(o.id_)), created_(std::move(o.created_)), private_(std::exchange(o.private_, nullptr)) {}

SealingKeyPair& SealingKeyPair::operator=(SealingKeyPair&& o) noexcept {
  if (this != &o) {
    if (private_ != nullptr) sodium_free(private_);
    public_ = o.public_;
    id_ = std::move(o.id_);
    created_ = std::move(o.created_);
    private_ = std::exchange(o.private_, nullptr);
  }
  return *this;
}

std::string SealingKeyPair::PrivateKeyBase64() const {
  return private_ == nullptr ? std::string() : ToBase64(private_, kSealingKeyBytes);
}

std::string SealingKeyPair::ToKeyFile() const {
  std::string priv = PrivateKeyBase64();
  std::string out;
  out += "# A bosun sealing key pair. The private half opens every SealedSecret sealed\n";
  out += "# with this key: keep this file secret (mode 0600), never commit it.\n";
  out += std::string(kKeyFileMagic) + ": v1\n";
  out += "id: " + id_ + "\n";
  if (!created_.empty()) out += "created: " + created_ + "\n";
  out += "public: " + public_.Base64() + "\n";
  out += "private: " + priv + "\n";
  Wipe(priv);
  return out;
}

Result<SealingKeyPair> SealingKeyPair::ParseKeyFile(std::string_view text, const std::string& source) {
  std::vector<Line> lines = KeyValueLines(text);
  auto fail = [&](int line, const std::string& msg) {
    return Error(Code::kInvalid, source + ":" + std::to_string(line) + ": " + msg);
  };
  bool magic = false;
  std::string id, created, priv_b64;
  int id_line = 0, priv_line = 0, pub_line = 0;
  std::optional<SealingPublicKey> pub;
  for (const Line& l : lines) {
    if (l.key == kKeyFileMagic) {
      if (l.value != "v1") {
        for (auto& x : lines) Wipe(x.value);
        return fail(l.number, "unsupported key file version " + Quote(l.value) + " (this bosun reads v1)");
      }
      magic = true;
    } else if (l.key == "id") {
      id = l.value;
      id_line = l.number;
    } else if (l.key == "created") {
      created = l.value;
    } else if (l.key == "public") {
      auto p = PublicKeyFromBase64(l.value);
      if (!p) {
        for (auto& x : lines) Wipe(x.value);
        return fail(l.number, "public: " + p.error().message());
      }
      pub = *p;
      pub_line = l.number;
    } else if (l.key == "private") {
      priv_b64 = l.value;
      priv_line = l.number;
    }
  }
  for (auto& x : lines) Wipe(x.value);
  auto finish = [&]() -> Result<SealingKeyPair> {
    if (!magic) {
      return Error(Code::kInvalid, source + ": not a bosun sealing key file (no \"" + std::string(kKeyFileMagic) +
                                       ": v1\" line)");
    }
    if (!pub) return Error(Code::kInvalid, source + ": no \"public:\" line");
    if (priv_line == 0) {
      return Error(Code::kInvalid, source + ": no \"private:\" line (a public key file cannot decrypt; "
                                            "give the key pair exported from the cluster)");
    }
    if (!id.empty() && id != pub->Id()) {
      // The line is not echoed: whatever was pasted there stays out of logs.
      return fail(id_line, "id: not the id of the public key on line " + std::to_string(pub_line) + " (" +
                               pub->Id() + ")");
    }
    auto kp = FromBase64(*pub, priv_b64, created);
    if (!kp) return fail(priv_line, "private: " + kp.error().message());
    return kp;
  };
  auto out = finish();
  Wipe(priv_b64);
  return out;
}

Result<std::string> SealingKeyPair::OpenBox(std::string_view box) const {
  if (box.size() < crypto_box_SEALBYTES || private_ == nullptr) {
    return Error(Code::kUnauthorized, "cannot be decrypted with key " + id_);
  }
  std::string out(box.size() - crypto_box_SEALBYTES, '\0');
  if (crypto_box_seal_open(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(box.data()), box.size(), public_.bytes.data(),
                           private_) != 0) {
    Wipe(out);
    return Error(Code::kUnauthorized,
                 "cannot be decrypted with key " + id_ + " (the sealed value was altered, or sealed with another key)");
  }
  return out;
}

std::string PublicKeyFile(const SealingPublicKey& key) {
  std::string out;
  out += "# A bosun sealing public key: seal secrets with it offline\n";
  out += "# (bosun seal --public-key FILE). It cannot decrypt anything.\n";
  out += std::string(kPublicFileMagic) + ": v1\n";
  out += "id: " + key.Id() + "\n";
  out += "public: " + key.Base64() + "\n";
  return out;
}

Result<SealingPublicKey> ParsePublicKey(std::string_view text, const std::string& source) {
  std::vector<Line> lines = KeyValueLines(text);
  std::optional<SealingPublicKey> pub;
  std::string id;
  int id_line = 0;
  for (const Line& l : lines) {
    if (l.key == "public") {
      auto p = PublicKeyFromBase64(l.value);
      if (!p) return Error(Code::kInvalid, source + ":" + std::to_string(l.number) + ": public: " + p.error().message());
      pub = *p;
    } else if (l.key == "id") {
      id = l.value;
      id_line = l.number;
    }
  }
  for (auto& x : lines) Wipe(x.value);
  if (!pub) {
    // A bare base64 line.
    std::string bare = Trim(text);
    while (!bare.empty() && bare.back() == '\n') bare.pop_back();
    auto p = PublicKeyFromBase64(Trim(bare));
    if (!p) {
      return Error(Code::kInvalid, source + ": no sealing public key here (expected the output of `bosun keys public`)");
    }
    pub = *p;
  }
  if (!id.empty() && id != pub->Id()) {
    return Error(Code::kInvalid, source + ":" + std::to_string(id_line) + ": id: not the id of the public key (" +
                                     pub->Id() + ")");
  }
  return *pub;
}

Result<std::string> Seal(const SealingPublicKey& key, const SealScope& scope, std::string_view value) {
  if (auto st = Init(); !st) return st.error();
  std::string ns = scope.kind == SealScopeKind::kCluster ? "" : scope.ns;
  std::string name = scope.kind == SealScopeKind::kStrict ? scope.name : "";
  if (ns.size() > 0xffff || name.size() > 0xffff) return Error(Code::kInvalid, "namespace or name too long to seal");
  if (scope.kind != SealScopeKind::kCluster && ns.empty()) {
    return Error(Code::kInvalid, "a " + std::string(ScopeKindName(scope.kind)) + " seal needs a namespace");
  }
  if (scope.kind == SealScopeKind::kStrict && name.empty()) return Error(Code::kInvalid, "a strict seal needs a name");
  std::string frame;
  frame.reserve(5 + ns.size() + name.size() + value.size());
  frame.push_back(static_cast<char>(scope.kind));
  PutLength(frame, ns.size());
  frame += ns;
  PutLength(frame, name.size());
  frame += name;
  frame.append(value);
  std::string wire(kHeaderBytes + crypto_box_SEALBYTES + frame.size(), '\0');
  auto* w = reinterpret_cast<unsigned char*>(wire.data());
  w[0] = kFormatVersion;
  unsigned char h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof h, key.bytes.data(), key.bytes.size(), nullptr, 0);
  std::memcpy(w + 1, h, kSealingKeyIdBytes);
  int rc = crypto_box_seal(w + kHeaderBytes, reinterpret_cast<const unsigned char*>(frame.data()), frame.size(),
                           key.bytes.data());
  Wipe(frame);
  if (rc != 0) return Error(Code::kInternal, "crypto_box_seal failed");
  return ToBase64(w, wire.size());
}

Result<SealedHeader> InspectSealed(std::string_view sealed) {
  (void)Init();
  std::string raw;
  if (sealed.empty()) return Error(Code::kInvalid, "empty: not a sealed value (make one with `bosun seal`)");
  if (!DecodeBase64(sealed, &raw)) return Error(Code::kInvalid, "not a sealed value: not standard base64");
  if (raw.size() < kHeaderBytes + crypto_box_SEALBYTES) {
    return Error(Code::kInvalid, "not a sealed value: " + std::to_string(raw.size()) + " bytes, shorter than any (" +
                                     std::to_string(kHeaderBytes + crypto_box_SEALBYTES) + ")");
  }
  auto* r = reinterpret_cast<const unsigned char*>(raw.data());
  if (r[0] != kFormatVersion) {
    return Error(Code::kInvalid,
                 "not a sealed value of a format this bosun reads (version byte " + std::to_string(r[0]) + ", want 1)");
  }
  SealedHeader h;
  h.version = r[0];
  char hex[kSealingKeyIdBytes * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, r + 1, kSealingKeyIdBytes);
  h.key_id = hex;
  h.box_bytes = raw.size() - kHeaderBytes;
  return h;
}

void Keyring::Add(std::shared_ptr<const SealingKeyPair> key) {
  if (key) keys_.push_back(std::move(key));
}

const SealingKeyPair* Keyring::Find(std::string_view id) const {
  for (const auto& k : keys_) {
    if (k->id() == id) return k.get();
  }
  return nullptr;
}

Unsealed::~Unsealed() { Wipe(value); }

Result<Unsealed> Open(const Keyring& keys, std::string_view ns, std::string_view name, std::string_view sealed) {
  auto header = InspectSealed(sealed);
  if (!header) return header.error();
  const SealingKeyPair* key = keys.Find(header->key_id);
  if (key == nullptr) {
    std::string have;
    for (const auto& k : keys.keys()) have += (have.empty() ? "" : ", ") + k->id();
    return Error(Code::kNotFound, "sealed with key " + header->key_id + ", which this cluster does not have (it has " +
                                      (have.empty() ? std::string("no sealing key") : have) + ")");
  }
  std::string raw;
  (void)DecodeBase64(sealed, &raw);  // checked by InspectSealed
  auto frame = key->OpenBox(std::string_view(raw).substr(kHeaderBytes));
  Wipe(raw);
  if (!frame) return frame.error();
  std::string_view f = *frame;
  Unsealed out;
  size_t pos = 1;
  bool ok = !f.empty() && static_cast<unsigned char>(f[0]) <= 2 && GetString(f, &pos, &out.scope.ns) &&
            GetString(f, &pos, &out.scope.name);
  if (!ok) {
    Wipe(*frame);
    return Error(Code::kInvalid, "opened with key " + key->id() + " but the frame inside is malformed");
  }
  out.scope.kind = static_cast<SealScopeKind>(static_cast<unsigned char>(f[0]));
  // Seal writes exactly the fields its kind uses; anything else was not made
  // by Seal.
  const SealScope& sc = out.scope;
  bool fits = sc.kind == SealScopeKind::kStrict      ? !sc.ns.empty() && !sc.name.empty()
              : sc.kind == SealScopeKind::kNamespace ? !sc.ns.empty() && sc.name.empty()
                                                     : sc.ns.empty() && sc.name.empty();
  if (!fits) {
    Wipe(*frame);
    return Error(Code::kInvalid, "opened with key " + key->id() + " but the frame inside is malformed");
  }
  if (!out.scope.Admits(ns, name)) {
    Wipe(*frame);
    std::string here;
    if (out.scope.ns != ns) {
      here = "namespace " + Quote(ns);
      if (out.scope.kind == SealScopeKind::kStrict && out.scope.name != name) here += " name " + Quote(name);
    } else {
      here = "name " + Quote(name);
    }
    return Error(Code::kForbidden, "sealed for " + out.scope.Describe() + ", not for " + here);
  }
  out.value.assign(f.substr(pos));
  Wipe(*frame);
  return out;
}

Result<std::string> Reseal(const Keyring& keys, const SealingPublicKey& to, std::string_view ns, std::string_view name,
                           std::string_view sealed) {
  auto opened = Open(keys, ns, name, sealed);
  if (!opened) return opened.error();
  return Seal(to, opened->scope, opened->value);
}

}  // namespace bosun::crypto
