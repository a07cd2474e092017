// The Raft log encoding of transactions and their results (state/store.h).
//
// Both start with a tag byte and a format version byte, so a Txn is never
// mistaken for a TxnResult and a future format can be told apart:
//
//   Txn:       'T' 0x01 varint(#preconditions) {kind:u8 bytes(key) zigzag(mod_revision)}
//                       varint(#ops) {kind:u8 bytes(key) [bytes(value) if put]}
//   TxnResult: 'R' 0x01 flags:u8 (1 succeeded, 2 has current) zigzag(revision)
//                       bytes(failed_key) [kv(current)] varint(#prev) {present:u8 [kv]}
//   kv:        bytes(key) bytes(value) zigzag(create) zigzag(mod) zigzag(version)
//   bytes:     varint(length) followed by that many bytes
//
// Decoding treats its input as hostile: every length is checked against the
// bytes that remain before anything is allocated, counts can only reserve
// what the remaining input could hold, unknown kinds and trailing bytes are
// refused, and the error says what was wrong at which offset.
#include <algorithm>

#include "state/store_internal.h"

namespace bosun::state {

namespace {

using internal::GetBytes;
using internal::GetVarint;
using internal::PutBytes;
using internal::PutVarint;
using internal::UnZigZag;
using internal::ZigZag;

constexpr char kTxnTag = 'T';
constexpr char kResultTag = 'R';
constexpr char kVersion = 1;

// Reads from a byte string, remembering the first problem and where it was.
class Reader {
 public:
  Reader(std::string_view bytes, const char* what) : all_(bytes), rest_(bytes), what_(what) {}

  bool U8(uint8_t* v, const char* field) {
    if (rest_.empty()) return Fail(field, "truncated");
    *v = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return true;
  }
  bool Varint(uint64_t* v, const char* field) {
    return GetVarint(&rest_, v) || Fail(field, "truncated or overlong varint");
  }
  bool Int(int64_t* v, const char* field) {
    uint64_t u = 0;
    if (!Varint(&u, field)) return false;
    *v = UnZigZag(u);
    return true;
  }
  bool Bytes(std::string* v, const char* field) {
    std::string_view b;
    if (!GetBytes(&rest_, &b)) return Fail(field, "length runs past the end of the input");
    v->assign(b);
    return true;
  }
  // A count of elements each at least `min_size` bytes long: one the remaining
  // input cannot hold is refused, so it never drives an allocation.
  bool Count(uint64_t* n, size_t min_size, const char* field) {
    if (!Varint(n, field)) return false;
    if (*n > rest_.size() / min_size) return Fail(field, "count larger than the input could hold");
    return true;
  }
  bool Kv(KeyValue* kv) {
    return Bytes(&kv->key, "key") && Bytes(&kv->value, "value") && Int(&kv->create_revision, "create_revision") &&
           Int(&kv->mod_revision, "mod_revision") && Int(&kv->version, "version");
  }
  bool Fail(const char* field, const std::string& why) {
    if (!error_) {
      error_ = std::string("cannot decode ") + what_ + " (" + std::to_string(all_.size()) + " bytes): " + field +
               " at offset " + std::to_string(all_.size() - rest_.size()) + ": " + why;
    }
    return false;
  }
  bool AtEnd() { return rest_.empty() || Fail("end", std::to_string(rest_.size()) + " unexpected trailing bytes"); }
  Error error() const { return Error(Code::kInvalid, error_.value_or(std::string("cannot decode ") + what_)); }

 private:
  std::string_view all_;
  std::string_view rest_;
  const char* what_;
  std::optional<std::string> error_;
};

bool Header(Reader* r, char tag) {
  uint8_t t = 0, version = 0;
  if (!r->U8(&t, "tag")) return false;
  if (t != static_cast<uint8_t>(tag)) return r->Fail("tag", "wrong tag byte " + std::to_string(t));
  if (!r->U8(&version, "version")) return false;
  if (version != kVersion) {
    return r->Fail("version", "format version " + std::to_string(version) + " is not known to this bosun (it reads " +
                                  std::to_string(kVersion) + ")");
  }
  return true;
}

void PutKv(std::string* out, const KeyValue& kv) {
  PutBytes(out, kv.key);
  PutBytes(out, kv.value);
  PutVarint(out, ZigZag(kv.create_revision));
  PutVarint(out, ZigZag(kv.mod_revision));
  PutVarint(out, ZigZag(kv.version));
}

}  // namespace

std::string EncodeTxn(const Txn& txn) {
  // Sized up front (a varint is at most 10 bytes): a first GitOps sync is
  // one ~13 MB transaction, and growing it by doubling copied it over.
  size_t size = 2 + 10;
  for (const Precondition& p : txn.preconditions) size += 1 + 10 + p.key.size() + 10;
  size += 10;
  for (const Op& op : txn.ops) size += 1 + 10 + op.key.size() + 10 + op.value.size();
  std::string out;
  out.reserve(size);
  out.push_back(kTxnTag);
  out.push_back(kVersion);
  PutVarint(&out, txn.preconditions.size());
  for (const Precondition& p : txn.preconditions) {
    out.push_back(static_cast<char>(p.kind));
    PutBytes(&out, p.key);
    PutVarint(&out, ZigZag(p.mod_revision));
  }
  PutVarint(&out, txn.ops.size());
  for (const Op& op : txn.ops) {
    out.push_back(static_cast<char>(op.kind));
    PutBytes(&out, op.key);
    if (op.kind == Op::Kind::kPut) PutBytes(&out, op.value);
  }
  return out;
}

Result<Txn> DecodeTxn(std::string_view bytes) {
  Reader r(bytes, "transaction");
  Txn txn;
  uint64_t n = 0;
  if (!Header(&r, kTxnTag) || !r.Count(&n, 3, "precondition count")) return r.error();
  // Elements are appended as they decode, so memory grows with the input
  // actually read, not with a count the input claims.
  for (uint64_t i = 0; i < n; ++i) {
    Precondition& p = txn.preconditions.emplace_back();
    uint8_t kind = 0;
    if (!r.U8(&kind, "precondition kind")) return r.error();
    if (kind > static_cast<uint8_t>(Precondition::Kind::kMustNotExist)) {
      r.Fail("precondition kind", "unknown kind " + std::to_string(kind));
      return r.error();
    }
    p.kind = static_cast<Precondition::Kind>(kind);
    if (!r.Bytes(&p.key, "precondition key") || !r.Int(&p.mod_revision, "precondition mod_revision")) {
      return r.error();
    }
  }
  if (!r.Count(&n, 2, "op count")) return r.error();
  for (uint64_t i = 0; i < n; ++i) {
    Op& op = txn.ops.emplace_back();
    uint8_t kind = 0;
    if (!r.U8(&kind, "op kind")) return r.error();
    if (kind > static_cast<uint8_t>(Op::Kind::kDelete)) {
      r.Fail("op kind", "unknown kind " + std::to_string(kind));
      return r.error();
    }
    op.kind = static_cast<Op::Kind>(kind);
    if (!r.Bytes(&op.key, "op key")) return r.error();
    if (op.kind == Op::Kind::kPut && !r.Bytes(&op.value, "op value")) return r.error();
  }
  if (!r.AtEnd()) return r.error();
  return txn;
}

std::string EncodeTxnResult(const TxnResult& res) {
  std::string out;
  out.push_back(kResultTag);
  out.push_back(kVersion);
  out.push_back(static_cast<char>((res.succeeded ? 1 : 0) | (res.current ? 2 : 0)));
  PutVarint(&out, ZigZag(res.revision));
  PutBytes(&out, res.failed_key);
  if (res.current) PutKv(&out, *res.current);
  PutVarint(&out, res.prev.size());
  for (const std::optional<KeyValue>& p : res.prev) {
    out.push_back(p ? 1 : 0);
    if (p) PutKv(&out, *p);
  }
  return out;
}

Result<TxnResult> DecodeTxnResult(std::string_view bytes) {
  Reader r(bytes, "transaction result");
  TxnResult res;
  uint8_t flags = 0;
  if (!Header(&r, kResultTag) || !r.U8(&flags, "flags")) return r.error();
  if (flags > 3) {
    r.Fail("flags", "unknown flag bits " + std::to_string(flags));
    return r.error();
  }
  res.succeeded = flags & 1;
  if (!r.Int(&res.revision, "revision") || !r.Bytes(&res.failed_key, "failed_key")) return r.error();
  if (flags & 2) {
    res.current.emplace();
    if (!r.Kv(&*res.current)) return r.error();
  }
  uint64_t n = 0;
  if (!r.Count(&n, 1, "prev count")) return r.error();
  for (uint64_t i = 0; i < n; ++i) {
    std::optional<KeyValue>& p = res.prev.emplace_back();
    uint8_t present = 0;
    if (!r.U8(&present, "prev present")) return r.error();
    if (present > 1) {
      r.Fail("prev present", "expected 0 or 1, got " + std::to_string(present));
      return r.error();
    }
    if (present) {
      p.emplace();
      if (!r.Kv(&*p)) return r.error();
    }
  }
  if (!r.AtEnd()) return r.error();
  return res;
}

}  // namespace bosun::state
