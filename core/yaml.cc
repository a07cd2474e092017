#include "core/yaml.h"

#include <yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace bosun {
namespace {

using nlohmann::json;

// Thrown from inside the event handler to abort parsing; caught in LoadYaml.
struct LoadError {
  SourcePos pos;
  std::string message;
};

std::string StripUnderscores(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (c != '_') out.push_back(c);
  return out;
}

bool AllDigits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    if (d >= base) return false;
  }
  return true;
}

// Parses a YAML 1.1 integer (decimal, 0x, 0o, 0b, leading-0 octal, '_'
// separators). Returns false if `s` is not one.
bool ParseInt(std::string_view raw, json* out) {
  if (raw.empty()) return false;
  // go-yaml strips every '_' before parsing, so "1_000" and even "1_" are 1000 and 1.
  std::string s = StripUnderscores(raw);
  if (s.empty()) return false;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  std::string_view body(s.data() + i, s.size() - i);
  int base = 10;
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
    base = 16;
    body.remove_prefix(2);
  } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'o' || body[1] == 'O')) {
    base = 8;
    body.remove_prefix(2);
  } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'b' || body[1] == 'B')) {
    base = 2;
    body.remove_prefix(2);
  } else if (body.size() > 1 && body[0] == '0') {
    base = 8;
    body.remove_prefix(1);
  }
  if (!AllDigits(body, base)) return false;
  errno = 0;
  std::string digits(body);
  unsigned long long v = std::strtoull(digits.c_str(), nullptr, base);
  if (errno == ERANGE) {
    // Too large for 64 bits: YAML 1.1 resolvers fall back to a float.
    *out = std::strtod(std::string(raw).c_str(), nullptr);
    return base == 10;
  }
  if (neg) {
    if (v > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max()) + 1ULL) {
      *out = -static_cast<double>(v);
    } else {
      *out = static_cast<int64_t>(0ULL - v);
    }
  } else if (v > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
    *out = static_cast<uint64_t>(v);
  } else {
    *out = static_cast<int64_t>(v);
  }
  return true;
}

json NormalizeFloat(double d) {
  // Go's encoding/json writes an integral float64 without a fraction, so
  // `replicas: 3.0` reaches Kubernetes as 3.
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= 9007199254740992.0) {
    return static_cast<int64_t>(d);
  }
  return d;
}

bool ParseFloat(std::string_view raw, json* out) {
  std::string s = StripUnderscores(raw);
  if (s.empty()) return false;
  std::string_view v(s);
  std::string_view unsigned_part = v;
  bool neg = false;
  if (v[0] == '+' || v[0] == '-') {
    neg = v[0] == '-';
    unsigned_part.remove_prefix(1);
  }
  if (unsigned_part == ".inf" || unsigned_part == ".Inf" || unsigned_part == ".INF") {
    // JSON has no infinity; Kubernetes would refuse it at decode time too.
    *out = neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return true;
  }
  if (v == ".nan" || v == ".NaN" || v == ".NAN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  size_t i = 0;
  const std::string_view u = unsigned_part;
  size_t int_digits = 0, frac_digits = 0;
  while (i < u.size() && u[i] >= '0' && u[i] <= '9') ++i, ++int_digits;
  bool dot = false;
  if (i < u.size() && u[i] == '.') {
    dot = true;
    ++i;
    while (i < u.size() && u[i] >= '0' && u[i] <= '9') ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (!dot && int_digits == 0) return false;
  if (i < u.size() && (u[i] == 'e' || u[i] == 'E')) {
    ++i;
    if (i < u.size() && (u[i] == '+' || u[i] == '-')) ++i;
    size_t ed = 0;
    while (i < u.size() && u[i] >= '0' && u[i] <= '9') ++i, ++ed;
    if (ed == 0) return false;
  }
  if (i != u.size()) return false;
  *out = NormalizeFloat(std::strtod(s.c_str(), nullptr));
  return true;
}

bool ParseBool(const std::string& s, bool* out) {
  static const std::unordered_set<std::string> kTrue = {"y", "Y", "yes", "Yes", "YES", "true",
                                                        "True", "TRUE", "on", "On", "ON"};
  static const std::unordered_set<std::string> kFalse = {"n", "N", "no", "No", "NO", "false",
                                                         "False", "FALSE", "off", "Off", "OFF"};
  // Most scalars are none of them: no hashing for those (a first sync
  // resolves ~200,000 scalars).
  if (s.empty() || s.size() > 5 || std::strchr("yYnNtTfFoO", s[0]) == nullptr) return false;
  if (kTrue.count(s)) {
    *out = true;
    return true;
  }
  if (kFalse.count(s)) {
    *out = false;
    return true;
  }
  return false;
}

bool IsNullWord(const std::string& s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

// Values and bytes (scalar text and keys) in a JSON value; what pasting it
// again through an alias costs.
void Measure(const json& j, size_t* nodes, size_t* bytes) {
  ++*nodes;
  if (j.is_string()) {
    *bytes += j.get_ref<const std::string&>().size();
  } else if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      *bytes += it.key().size();
      Measure(it.value(), nodes, bytes);
    }
  } else if (j.is_array()) {
    for (const auto& c : j) Measure(c, nodes, bytes);
  } else {
    *bytes += 8;
  }
}

constexpr const char* kTagPrefix = "tag:yaml.org,2002:";

SourcePos ToPos(const yaml_mark_t& m) { return SourcePos{static_cast<int>(m.line) + 1, static_cast<int>(m.column) + 1}; }

std::string Str(const yaml_char_t* p) { return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p)); }

// Builds JSON documents from libyaml's event stream, enforcing the limits.
// libyaml is the C library go-yaml (and so Kubernetes) was ported from: what
// it accepts as YAML syntax is what Kubernetes accepts. Its parser keeps its
// own stack on the heap, so deep nesting cannot overflow ours.
class Builder {
 public:
  Builder(const std::string& file, const LoadLimits& limits, std::vector<Document>* out)
      : file_(file), limits_(limits), out_(out) {}

  void OnEvent(const yaml_event_t& e) {
    switch (e.type) {
      case YAML_DOCUMENT_START_EVENT: DocumentStart(e); break;
      case YAML_DOCUMENT_END_EVENT: DocumentEnd(e); break;
      case YAML_ALIAS_EVENT: Alias(e); break;
      case YAML_SCALAR_EVENT: Scalar(e); break;
      case YAML_SEQUENCE_START_EVENT: Open(e, Str(e.data.sequence_start.anchor), /*is_map=*/false); break;
      case YAML_MAPPING_START_EVENT: Open(e, Str(e.data.mapping_start.anchor), /*is_map=*/true); break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: Close(); break;
      default: break;  // stream start/end
    }
  }

 private:
  struct Anchored {
    json value;
    size_t nodes;
    size_t bytes;
    int depth;  // nesting levels inside the anchored value
  };
  struct Frame {
    bool is_map;
    json value;
    FieldPath path;
    SourcePos pos;
    std::string anchor;
    int depth_below = 0;  // deepest nesting seen under this frame
    // Map state.
    bool have_key = false;
    bool key_is_merge = false;
    std::string key;
    std::unordered_map<std::string, SourcePos> explicit_keys;
    std::vector<json> merges;  // from `<<`, applied at the end (explicit keys win)
  };

  [[noreturn]] void Fail(const yaml_mark_t& mark, std::string msg) { throw LoadError{ToPos(mark), std::move(msg)}; }

  void DocumentStart(const yaml_event_t& e) {
    stack_.clear();
    anchors_.clear();
    root_ = json();
    have_root_ = false;
    positions_ = std::make_shared<SourceMap>();
    nodes_ = 0;
    alias_nodes_ = 0;
    alias_bytes_ = 0;
    anchored_nodes_ = 0;
    doc_start_index_ = e.start_mark.index;
    doc_start_ = SourcePos{};
  }

  void DocumentEnd(const yaml_event_t& e) {
    CheckSize(e.end_mark, 0);
    if (!have_root_ || root_.is_null()) return;  // an empty document
    Document d;
    d.file = file_;
    d.index = static_cast<int>(out_->size());
    d.start = doc_start_;
    d.value = std::move(root_);
    d.positions = std::move(positions_);
    out_->push_back(std::move(d));
  }

  // Enforces the document size limit from how far into the text we are.
  void CheckSize(const yaml_mark_t& mark, size_t extra) {
    size_t used = mark.index - doc_start_index_ + extra;
    if (used > limits_.max_document_bytes) {
      Fail(mark, "document is larger than " + std::to_string(limits_.max_document_bytes) + " bytes");
    }
  }

  void Count(const yaml_mark_t& mark, size_t n) {
    nodes_ += n;
    if (nodes_ > limits_.max_nodes) {
      Fail(mark, "document has more than " + std::to_string(limits_.max_nodes) + " values");
    }
  }

  bool InKeyPosition() const { return !stack_.empty() && stack_.back().is_map && !stack_.back().have_key; }

  void Alias(const yaml_event_t& e) {
    CheckSize(e.start_mark, 0);
    if (InKeyPosition()) Fail(e.start_mark, "mapping key must be a string, found an alias");
    std::string name = Str(e.data.alias.anchor);
    auto it = anchors_.find(name);
    if (it == anchors_.end()) Fail(e.start_mark, "alias *" + name + " refers to an unknown anchor");
    alias_nodes_ += it->second.nodes;
    alias_bytes_ += it->second.bytes;
    if (alias_nodes_ > limits_.max_alias_nodes) {
      Fail(e.start_mark, "alias expansion exceeds " + std::to_string(limits_.max_alias_nodes) +
                             " values (nested aliases that multiply, as in a \"billion laughs\" document, are refused)");
    }
    if (alias_bytes_ > limits_.max_document_bytes) {
      Fail(e.start_mark, "alias expansion exceeds " + std::to_string(limits_.max_document_bytes) +
                             " bytes (the document would be larger than its size limit once aliases are pasted in)");
    }
    // An alias pastes its value here: its depth counts from here.
    CheckDepth(e.start_mark, static_cast<int>(stack_.size()) + it->second.depth);
    Count(e.start_mark, it->second.nodes);
    Emit(it->second.value, ToPos(e.start_mark), "", it->second.depth);
  }

  void Scalar(const yaml_event_t& e) {
    const auto& sc = e.data.scalar;
    CheckSize(e.start_mark, sc.length);
    std::string value(reinterpret_cast<const char*>(sc.value), sc.length);
    bool plain = sc.style == YAML_PLAIN_SCALAR_STYLE;
    std::string tag = Str(sc.tag);
    if (InKeyPosition()) {
      SetKey(e.start_mark, tag, plain, value);
      return;
    }
    Count(e.start_mark, 1);
    json v = Resolve(e.start_mark, tag, plain, value);
    if (v.is_number_float() && !std::isfinite(v.get<double>())) {
      Fail(e.start_mark, "value " + value + " is not a finite number, which JSON (and so Kubernetes) cannot hold");
    }
    Emit(std::move(v), ToPos(e.start_mark), Str(sc.anchor), 0);
  }

  void SetKey(const yaml_mark_t& mark, const std::string& tag, bool plain, const std::string& value) {
    Frame& f = stack_.back();
    if (tag.empty() && plain) {
      if (value == "<<") {
        f.key_is_merge = true;
        f.have_key = true;
        return;
      }
      json resolved = ResolvePlainScalar(value);
      if (!resolved.is_string()) {
        std::string shown = value.empty() ? "(empty)" : value;
        Fail(mark, "mapping key " + shown + " must be a string, found " + std::string(resolved.type_name()) +
                       " (quote it: \"" + value + "\")");
      }
    } else if (!tag.empty() && tag != "!" && tag != std::string(kTagPrefix) + "str") {
      Fail(mark, "mapping key must be a string, found a value tagged " + tag);
    }
    auto [it, inserted] = f.explicit_keys.emplace(value, ToPos(mark));
    if (!inserted) {
      // Not fatal at once: every duplicate of the file is reported, each with
      // its field path; the file is refused at its end (LoadYaml).
      if (duplicates_.size() < kMaxDuplicatesReported) {
        duplicates_.push_back(LoadError{
            ToPos(mark), f.path.Child(value).str() + ": duplicate key \"" + value + "\" (first defined at line " +
                             std::to_string(it->second.line) + ", column " + std::to_string(it->second.column) + ")"});
      } else {
        ++duplicates_left_out_;
      }
    }
    f.key = value;
    f.key_is_merge = false;
    f.have_key = true;
  }

  json Resolve(const yaml_mark_t& mark, const std::string& tag, bool plain, const std::string& value) {
    if (tag.empty()) return plain ? ResolvePlainScalar(value) : json(value);
    if (tag == "!") return value;  // non-specific: a string
    if (tag.rfind(kTagPrefix, 0) == 0) {
      std::string t = tag.substr(std::char_traits<char>::length(kTagPrefix));
      json j;
      if (t == "str" || t == "binary" || t == "timestamp") return value;
      if (t == "int" && ParseInt(value, &j)) return j;
      if (t == "float" && (ParseFloat(value, &j) || ParseInt(value, &j))) return j;
      bool b;
      if (t == "bool" && ParseBool(value, &b)) return b;
      if (t == "null" && IsNullWord(value)) return nullptr;
      Fail(mark, "value \"" + value + "\" cannot be read as !!" + t);
    }
    // A local tag such as !Ref: Kubernetes ignores it; keep the text.
    return value;
  }

  void CheckDepth(const yaml_mark_t& mark, int depth) {
    int max = std::min(limits_.max_depth, kMaxDepthCeiling);
    if (depth > max) {
      Fail(mark, "nesting is deeper than " + std::to_string(max) + " levels");
    }
  }

  void Open(const yaml_event_t& e, std::string anchor, bool is_map) {
    CheckSize(e.start_mark, 0);
    if (InKeyPosition()) {
      Fail(e.start_mark, std::string("mapping key must be a string, found a ") + (is_map ? "map" : "list"));
    }
    CheckDepth(e.start_mark, static_cast<int>(stack_.size()) + 1);
    Count(e.start_mark, 1);
    Frame f;
    f.is_map = is_map;
    f.value = is_map ? json::object() : json::array();
    f.path = ChildPath();
    f.pos = ToPos(e.start_mark);
    f.anchor = std::move(anchor);
    positions_->Record(f.path, f.pos);
    stack_.push_back(std::move(f));
  }

  void Close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    if (f.is_map && !f.merges.empty()) {
      // Later merge sources do not override earlier ones; explicit keys win.
      for (const json& src : f.merges) {
        for (auto it = src.begin(); it != src.end(); ++it) {
          if (!f.value.contains(it.key())) f.value[it.key()] = it.value();
        }
      }
    }
    Emit(std::move(f.value), f.pos, f.anchor, f.depth_below + 1, /*record=*/false);
  }

  FieldPath ChildPath() const {
    if (stack_.empty()) return FieldPath();
    const Frame& p = stack_.back();
    if (p.is_map) return p.key_is_merge ? p.path : p.path.Child(p.key);
    return p.path.Index(p.value.size());
  }

  // Places a finished value in its parent (or as the root). `depth` is the
  // nesting inside the value itself: 0 for a scalar.
  void Emit(json v, SourcePos pos, const std::string& anchor, int depth, bool record = true) {
    if (!anchor.empty()) {
      // The anchor keeps a copy: it costs as much as the value itself, so
      // nested anchors cannot multiply memory past the limits.
      Anchored a{v, 0, 0, depth};
      Measure(a.value, &a.nodes, &a.bytes);
      anchored_nodes_ += a.nodes;
      if (nodes_ + anchored_nodes_ > limits_.max_nodes) {
        throw LoadError{pos, "anchored values hold more than " + std::to_string(limits_.max_nodes) + " values"};
      }
      anchors_[anchor] = std::move(a);
    }
    if (stack_.empty()) {
      if (record) positions_->Record(FieldPath(), pos);
      root_ = std::move(v);
      have_root_ = true;
      doc_start_ = pos;
      return;
    }
    Frame& p = stack_.back();
    p.depth_below = std::max(p.depth_below, depth);
    if (record) positions_->Record(ChildPath(), pos);
    if (p.is_map) {
      if (p.key_is_merge) {
        if (v.is_object()) {
          p.merges.push_back(std::move(v));
        } else if (v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_object(); })) {
          for (auto& e : v) p.merges.push_back(std::move(e));
        } else {
          throw LoadError{pos, "merge key << takes a map or a list of maps"};
        }
      } else {
        p.value[p.key] = std::move(v);
      }
      p.have_key = false;
      p.key_is_merge = false;
    } else {
      p.value.push_back(std::move(v));
    }
  }

  static constexpr size_t kMaxDuplicatesReported = 20;

 public:
  // Duplicate keys seen (at most kMaxDuplicatesReported) and how many more.
  const std::vector<LoadError>& duplicates() const { return duplicates_; }
  size_t duplicates_left_out() const { return duplicates_left_out_; }

 private:
  const std::string& file_;
  const LoadLimits& limits_;
  std::vector<Document>* out_;
  std::vector<LoadError> duplicates_;
  size_t duplicates_left_out_ = 0;

  std::vector<Frame> stack_;
  std::unordered_map<std::string, Anchored> anchors_;
  json root_;
  bool have_root_ = false;
  std::shared_ptr<SourceMap> positions_;
  size_t nodes_ = 0;
  size_t alias_nodes_ = 0;
  size_t alias_bytes_ = 0;
  size_t anchored_nodes_ = 0;
  size_t doc_start_index_ = 0;
  SourcePos doc_start_;
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads "\uXXXX" at s[i] (s[i] == '\\'); -1 if it is not one.
long Utf16EscapeAt(std::string_view s, size_t i) {
  if (i + 6 > s.size() || s[i] != '\\' || s[i + 1] != 'u') return -1;
  long v = 0;
  for (size_t k = i + 2; k < i + 6; ++k) {
    int h = HexValue(s[k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

// Replaces each valid surrogate pair escape with "\UXXXXXXXX". Returns false
// when there was none. A backslash that is itself escaped ("\\\\u...") is
// left alone.
// YAML allows a byte order mark at the start of every document of a stream,
// and files joined from others (`cat a.yaml b.yaml`) have them; libyaml only
// takes one at the start of the stream. Removes a BOM at the start of a line
// after a document marker line ("---" or "..."): libyaml does not count one
// in columns either.
bool DropDocumentBoms(std::string_view in, std::string* out) {
  static constexpr std::string_view kBom = "\xEF\xBB\xBF";
  bool changed = false;
  std::string result;
  size_t from = 0;
  for (size_t at = in.find(kBom, 1); at != std::string_view::npos; at = in.find(kBom, at + kBom.size())) {
    if (in[at - 1] != '\n') continue;
    size_t line_start = at - 1 == 0 ? 0 : in.rfind('\n', at - 2);
    line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
    std::string_view line = in.substr(line_start, at - 1 - line_start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line != "---" && line != "...") continue;
    result.append(in.substr(from, at - from));
    from = at + kBom.size();
    changed = true;
  }
  if (!changed) return false;
  result.append(in.substr(from));
  *out = std::move(result);
  return true;
}

bool RewriteSurrogateEscapes(std::string_view in, std::string* out) {
  bool changed = false;
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\\' && i + 1 < in.size() && in[i + 1] == '\\') {
      out->append(in.substr(i, 2));
      ++i;
      continue;
    }
    long hi = Utf16EscapeAt(in, i);
    if (hi >= 0xD800 && hi <= 0xDBFF) {
      long lo = Utf16EscapeAt(in, i + 6);
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        long cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
        char buf[16];
        std::snprintf(buf, sizeof buf, "\\U%08lX", cp);
        out->append(buf);
        i += 11;
        changed = true;
        continue;
      }
    }
    out->push_back(in[i]);
  }
  return changed;
}

// The line and column of a byte offset, for errors libyaml reports by offset.
yaml_mark_t MarkAt(std::string_view text, size_t offset) {
  yaml_mark_t m{};
  m.index = offset;
  size_t line_start = 0;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++m.line;
      line_start = i + 1;
    }
  }
  m.column = offset - line_start;
  return m;
}

std::string Where(const std::string& file, SourcePos pos) {
  if (!pos.known()) return file;
  return file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
}

}  // namespace

json ResolvePlainScalar(const std::string& s) {
  if (IsNullWord(s)) return nullptr;
  bool b;
  if (ParseBool(s, &b)) return b;
  char c = s[0];
  if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.') {
    json j;
    if (ParseInt(s, &j)) return j;
    if (ParseFloat(s, &j)) return j;
  }
  return s;
}

Result<std::vector<Document>> LoadYaml(std::string_view text, const std::string& file, const LoadLimits& limits) {
  if (text.size() > limits.max_file_bytes) {
    return Error(Code::kTooLarge, file + ": file is larger than " + std::to_string(limits.max_file_bytes) + " bytes");
  }
  std::vector<Document> docs;
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return Error(Code::kInternal, file + ": cannot initialise the YAML parser");
  // libyaml refuses JSON's UTF-16 surrogate-pair escapes ("\ud83d\ude80"),
  // which JSON encoders write for characters outside the BMP; rewrite them
  // as YAML's 8-digit escape first.
  std::string rewritten;
  std::string_view input = text;
  if (text.find("\\u") != std::string_view::npos && RewriteSurrogateEscapes(text, &rewritten)) input = rewritten;
  std::string without_boms;
  if (text.find("\xEF\xBB\xBF", 1) != std::string_view::npos && DropDocumentBoms(input, &without_boms)) {
    input = without_boms;
  }
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  Builder builder(file, limits, &docs);
  std::optional<Error> err;
  try {
    while (true) {
      yaml_event_t event;
      if (!yaml_parser_parse(&parser, &event)) {
        std::string what = parser.problem != nullptr ? parser.problem : "syntax error";
        if (parser.error == YAML_READER_ERROR) {
          // Encoding errors come with a byte offset, not a line and column.
          parser.problem_mark = MarkAt(input, parser.problem_offset);
          parser.context = nullptr;
        }
        size_t at = parser.problem_mark.index;
        if (at < text.size() && text[at] == '\t' && what.find("cannot start any token") != std::string::npos) {
          what = "a tab cannot be used for indentation in YAML; use spaces";
        } else if (parser.context != nullptr && parser.context_mark.index != parser.problem_mark.index) {
          // libyaml's context says which construct was open and where it began,
          // which is often where the mistake is (an unclosed quote).
          SourcePos c = ToPos(parser.context_mark);
          what += " (" + std::string(parser.context) + " that began at line " + std::to_string(c.line) +
                  ", column " + std::to_string(c.column) + ")";
        }
        err = Error(Code::kInvalid, Where(file, ToPos(parser.problem_mark)) + ": invalid YAML: " + what);
        break;
      }
      bool done = event.type == YAML_STREAM_END_EVENT;
      try {
        builder.OnEvent(event);
      } catch (...) {
        yaml_event_delete(&event);
        throw;
      }
      yaml_event_delete(&event);
      if (done) break;
    }
  } catch (const LoadError& e) {
    err = Error(Code::kInvalid, Where(file, e.pos) + ": " + e.message);
  } catch (const std::exception& e) {
    err = Error(Code::kInvalid, file + ": invalid YAML: " + e.what());
  }
  yaml_parser_delete(&parser);
  if (builder.duplicates().empty()) {
    if (err) return *err;
    return docs;
  }
  // Every duplicate key seen, one line each (manifests.cc AddLoadError makes
  // each its own diagnostic), then the error that stopped the parse if any.
  std::string msg;
  for (const LoadError& d : builder.duplicates()) {
    if (!msg.empty()) msg += '\n';
    msg += Where(file, d.pos) + ": " + d.message;
  }
  if (builder.duplicates_left_out() > 0) {
    msg += '\n' + file + ": and " + std::to_string(builder.duplicates_left_out()) + " more duplicate keys";
  }
  if (err) msg += '\n' + err->message();
  return Error(Code::kInvalid, msg);
}

Result<std::vector<Document>> LoadYamlFile(const std::string& path, const LoadLimits& limits) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Error(Code::kIo, path + ": cannot open: " + std::strerror(errno));
  f.seekg(0, std::ios::end);
  std::streamoff size = f.tellg();
  if (size < 0) return Error(Code::kIo, path + ": cannot read");
  if (static_cast<size_t>(size) > limits.max_file_bytes) {
    return Error(Code::kTooLarge, path + ": file is larger than " + std::to_string(limits.max_file_bytes) + " bytes");
  }
  f.seekg(0);
  std::string text(static_cast<size_t>(size), '\0');
  f.read(text.data(), size);
  if (!f) return Error(Code::kIo, path + ": read failed");
  return LoadYaml(text, path, limits);
}

}  // namespace bosun
