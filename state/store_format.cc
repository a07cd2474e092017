// The byte encodings of the store's rows and of the primitives the Raft log
// codec shares. See store.cc for the layout these make up.
#include <cstdio>

#include "state/store_internal.h"

namespace bosun::state::internal {

void PutBE64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

void PutBE32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

uint64_t GetBE64(std::string_view b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(b[i]);
  return v;
}

uint32_t GetBE32(std::string_view b) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(b[i]);
  return v;
}

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (size_t i = 0; i < 10; ++i) {
    if (i >= in->size()) return false;
    uint64_t byte = static_cast<unsigned char>((*in)[i]);
    // The tenth byte may only carry the 64th bit.
    if (i == 9 && byte > 1) return false;
    result |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      in->remove_prefix(i + 1);
      *v = result;
      return true;
    }
  }
  return false;
}

void PutBytes(std::string* out, std::string_view bytes) {
  PutVarint(out, bytes.size());
  out->append(bytes);
}

bool GetBytes(std::string_view* in, std::string_view* bytes) {
  std::string_view rest = *in;
  uint64_t n = 0;
  if (!GetVarint(&rest, &n) || n > rest.size()) return false;
  *bytes = rest.substr(0, n);
  rest.remove_prefix(n);
  *in = rest;
  return true;
}

std::string Printable(std::string_view key) {
  std::string out;
  for (unsigned char c : key) {
    if (out.size() >= 200) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// User keys are escaped so that any byte string, NUL bytes included, keeps its
// order and can be followed by a terminator: 0x00 becomes 0x00 0xff, the key
// ends with 0x00 0x01. A key that is a prefix of another therefore sorts first,
// and "h/" + escape(prefix) is a prefix of exactly the rows of keys under prefix.
static void AppendEscaped(std::string* out, std::string_view key) {
  for (char c : key) {
    out->push_back(c);
    if (c == '\0') out->push_back('\xff');
  }
}

std::string HistoryPrefix(std::string_view prefix) {
  std::string out(kHistoryPrefix);
  AppendEscaped(&out, prefix);
  return out;
}

std::string HistoryKeyPart(std::string_view key) {
  std::string out = HistoryPrefix(key);
  out.push_back('\0');
  out.push_back('\x01');
  return out;
}

std::string HistoryRowKey(std::string_view key_part, int64_t revision) {
  std::string out(key_part);
  PutBE64(&out, ~static_cast<uint64_t>(revision));
  return out;
}

std::string PastKeyPart(std::string_view key_part) {
  std::string out(key_part);
  out.back() = '\x02';
  return out;
}

bool ParseHistoryRowKey(std::string_view row_key, std::string_view* key_part, int64_t* revision) {
  if (row_key.size() < kHistoryPrefix.size() + 2 + 8) return false;
  std::string_view part = row_key.substr(0, row_key.size() - 8);
  if (part.substr(0, kHistoryPrefix.size()) != kHistoryPrefix || part[part.size() - 2] != '\0' ||
      part[part.size() - 1] != '\x01') {
    return false;
  }
  uint64_t inverted = GetBE64(row_key.substr(row_key.size() - 8));
  *key_part = part;
  *revision = static_cast<int64_t>(~inverted);
  return *revision >= 0;
}

bool UnescapeKeyPart(std::string_view key_part, std::string* key) {
  if (key_part.size() < kHistoryPrefix.size() + 2) return false;
  std::string_view escaped = key_part.substr(kHistoryPrefix.size(), key_part.size() - kHistoryPrefix.size() - 2);
  key->clear();
  for (size_t i = 0; i < escaped.size(); ++i) {
    key->push_back(escaped[i]);
    if (escaped[i] == '\0') {
      if (i + 1 >= escaped.size() || escaped[i + 1] != '\xff') return false;
      ++i;
    }
  }
  return true;
}

std::string PrefixSuccessor(std::string_view s) {
  std::string out(s);
  while (!out.empty()) {
    if (static_cast<unsigned char>(out.back()) != 0xff) {
      out.back() = static_cast<char>(static_cast<unsigned char>(out.back()) + 1);
      return out;
    }
    out.pop_back();
  }
  return out;
}

// A history row's value: one kind byte (1 live, 2 tombstone); a live row then
// has varint create_revision, varint version and the value as the rest.
std::string EncodeHistoryRow(const HistoryRow& row) {
  std::string out;
  if (row.tombstone) {
    out.push_back('\x02');
    return out;
  }
  out = HistoryRowHeader(row.create_revision, row.version);
  out.append(row.value);
  return out;
}

std::string HistoryRowHeader(int64_t create_revision, int64_t version) {
  std::string out;
  out.push_back('\x01');
  PutVarint(&out, static_cast<uint64_t>(create_revision));
  PutVarint(&out, static_cast<uint64_t>(version));
  return out;
}

bool DecodeHistoryRow(std::string_view bytes, HistoryRow* row) {
  if (bytes.empty()) return false;
  char kind = bytes[0];
  bytes.remove_prefix(1);
  if (kind == '\x02') {
    *row = HistoryRow{};
    row->tombstone = true;
    return bytes.empty();
  }
  if (kind != '\x01') return false;
  uint64_t create = 0, version = 0;
  if (!GetVarint(&bytes, &create) || !GetVarint(&bytes, &version)) return false;
  row->tombstone = false;
  row->create_revision = static_cast<int64_t>(create);
  row->version = static_cast<int64_t>(version);
  row->value.assign(bytes);
  return true;
}

std::string LogRowKey(int64_t revision, uint32_t index) {
  std::string out(kLogPrefix);
  PutBE64(&out, static_cast<uint64_t>(revision));
  PutBE32(&out, index);
  return out;
}

bool ParseLogRowKey(std::string_view row_key, int64_t* revision) {
  if (row_key.size() != kLogPrefix.size() + 12 || row_key.substr(0, kLogPrefix.size()) != kLogPrefix) return false;
  *revision = static_cast<int64_t>(GetBE64(row_key.substr(kLogPrefix.size())));
  return *revision > 0;
}

// A revision log row's value: one type byte (1 put, 2 delete), varint
// prev_mod_revision, and the user key as the rest.
std::string EncodeLogRow(const LogRow& row) {
  std::string out;
  out.push_back(row.type == Event::Type::kPut ? '\x01' : '\x02');
  PutVarint(&out, static_cast<uint64_t>(row.prev_mod_revision));
  out.append(row.key);
  return out;
}

bool DecodeLogRow(std::string_view bytes, LogRow* row) {
  if (bytes.empty()) return false;
  char type = bytes[0];
  bytes.remove_prefix(1);
  if (type != '\x01' && type != '\x02') return false;
  uint64_t prev = 0;
  if (!GetVarint(&bytes, &prev)) return false;
  row->type = type == '\x01' ? Event::Type::kPut : Event::Type::kDelete;
  row->prev_mod_revision = static_cast<int64_t>(prev);
  row->key.assign(bytes);
  return true;
}

Error FromRocks(const rocksdb::Status& s, const std::string& what) {
  Code code = Code::kIo;
  if (s.IsNotFound()) {
    code = Code::kNotFound;
  } else if (s.IsInvalidArgument() || s.IsNotSupported()) {
    code = Code::kInvalid;
  } else if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut() || s.IsIncomplete()) {
    code = Code::kUnavailable;
  }
  std::string detail = s.ToString();
  if (s.IsIOError() && detail.find("lock") != std::string::npos) {
    code = Code::kUnavailable;
    detail += " (is another bosun process using this data directory?)";
  }
  return Error(code, what + ": rocksdb: " + detail);
}

}  // namespace bosun::state::internal
