#include "state/secret_codec.h"

#include "core/log.h"
#include "crypto/tokens.h"

namespace bosun::state {
namespace {

// The envelope's fields after kEncryptedValuePrefix:
// "<scheme>:<version>:<keyid>:" then the sealed bytes.
struct Envelope {
  std::string_view scheme;
  std::string_view version;
  std::string_view key_id;
  std::string_view sealed;
};

// Splits an envelope; false when `bytes` has fewer than four ':'-ended fields
// after the prefix.
bool SplitEnvelope(std::string_view bytes, Envelope* out) {
  if (bytes.substr(0, kEncryptedValuePrefix.size()) != kEncryptedValuePrefix) return false;
  std::string_view rest = bytes.substr(kEncryptedValuePrefix.size());
  std::string_view* fields[] = {&out->scheme, &out->version, &out->key_id};
  for (std::string_view* f : fields) {
    size_t colon = rest.find(':');
    // Header fields are short; a colon far away means this is not a header.
    if (colon == std::string_view::npos || colon > 64) return false;
    *f = rest.substr(0, colon);
    rest = rest.substr(colon + 1);
  }
  out->sealed = rest;
  return true;
}

std::string DumpJson(const Json& object) {
  return object.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<Json> ParseJsonObject(const std::string& key, std::string_view bytes) {
  Json j = Json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Error(Code::kInternal, "stored value of " + key + " is not a JSON object");
  }
  return j;
}

// "/registry/core/secrets/": every key of the kind, all namespaces.
std::string KindPrefix(const KindInfo& kind) {
  return "/registry/" + (kind.gvk.group.empty() ? std::string("core") : kind.gvk.group) + "/" + kind.resource + "/";
}

}  // namespace

std::string EncryptedValueKeyId(std::string_view bytes) {
  Envelope e;
  if (!SplitEnvelope(bytes, &e)) return "";
  return std::string(e.key_id);
}

EncryptingValueCodec::EncryptingValueCodec(crypto::DataKey key, std::vector<GroupVersionKind> kinds)
    : key_(std::move(key)), kinds_(std::move(kinds)) {}

bool EncryptingValueCodec::Encrypts(const KindInfo& kind) const {
  for (const auto& k : kinds_) {
    if (k == kind.gvk) return true;
  }
  return false;
}

Result<std::string> EncryptingValueCodec::Encode(const KindInfo& kind, const std::string& key,
                                                 const Json& object) const {
  std::string json = DumpJson(object);
  if (!Encrypts(kind)) return json;
  std::string out(kEncryptedValueScheme);
  out += key_.id();
  out += ':';
  out += key_.Seal(json, key);
  crypto::Wipe(json);
  return out;
}

Result<Json> EncryptingValueCodec::Decode(const KindInfo&, const std::string& key, std::string_view bytes) const {
  if (bytes.substr(0, kEncryptedValuePrefix.size()) != kEncryptedValuePrefix) return ParseJsonObject(key, bytes);
  Envelope e;
  if (!SplitEnvelope(bytes, &e)) {
    return Error(Code::kInvalid, "stored value of " + key + " starts like an encrypted value but its header is malformed");
  }
  if (e.scheme != "xchacha20poly1305" || e.version != "v1") {
    return Error(Code::kInvalid, "stored value of " + key + " is encrypted with " + std::string(e.scheme) + " " +
                                     std::string(e.version) + ", which this bosun cannot read (it reads xchacha20poly1305 v1)");
  }
  if (e.key_id != key_.id()) {
    return Error(Code::kInvalid, "stored value of " + key + " is encrypted with data key " + std::string(e.key_id) +
                                     ", but this member's key is " + key_.id() +
                                     " (every member must use the same --encryption-key-file)");
  }
  auto plain = key_.Open(e.sealed, key);
  if (!plain) {
    return Error(Code::kInvalid, "stored value of " + key + " does not decrypt with data key " + key_.id() + ": " +
                                     plain.error().message());
  }
  auto j = ParseJsonObject(key, *plain);
  crypto::Wipe(*plain);
  return j;
}

Result<EncryptingValueCodec::StoreReport> EncryptingValueCodec::CheckStore(const Store& store,
                                                                            const std::string& key_file) const {
  StoreReport report;
  for (const KindInfo& kind : KindRegistry::Builtin().all()) {
    if (!Encrypts(kind)) continue;
    const std::string prefix = KindPrefix(kind);
    std::string cursor;
    int64_t revision = 0;
    while (true) {
      auto page = store.Range(prefix, revision, 500, cursor);
      if (!page) return page.error();
      revision = page->revision;
      for (const KeyValue& kv : page->kvs) {
        cursor = kv.key;
        Envelope e;
        if (!SplitEnvelope(kv.value, &e)) {
          ++report.plaintext;
          continue;
        }
        if (e.key_id != key_.id()) {
          return Error(Code::kInvalid,
                       "the store holds " + kind.gvk.kind + " values encrypted with data key " + std::string(e.key_id) +
                           " (first: " + kv.key + "), but the key file " + key_file + " holds key " + key_.id() +
                           ": every member of a cluster must use the same --encryption-key-file, and a key file must "
                           "not be replaced while the store holds values encrypted under it");
        }
        auto plain = Decode(kind, kv.key, kv.value);
        if (!plain) return Error(Code::kInvalid, plain.error().message());
        ++report.encrypted;
      }
      if (!page->more) break;
    }
  }
  return report;
}

}  // namespace bosun::state
