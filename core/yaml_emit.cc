#include "core/yaml_emit.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

#include "core/yaml.h"

namespace bosun {
namespace {

using Json = nlohmann::json;

// Decodes one UTF-8 sequence at s[i]. Returns its length (1-4) and sets *cp,
// or returns 0 for an invalid sequence (overlong, surrogate, truncated).
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* cp) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    v = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    v = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    v = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

// Characters libyaml lets stand for themselves inside a scalar, other than the
// line break: its IS_PRINTABLE without NEL, and without the BOM and the
// Unicode line and paragraph separators, which some readers take as breaks.
bool IsPlainPrintable(uint32_t cp) {
  if (cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF) return false;
  return (cp >= 0x20 && cp <= 0x7E) || (cp >= 0xA0 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
         (cp >= 0x10000 && cp <= 0x10FFFF);
}

// True when every character is printable (tabs and line feeds allowed when
// the caller says so) and the text is valid UTF-8.
bool AllPrintable(std::string_view s, bool allow_tab_and_newline) {
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) return false;
    bool ok = IsPlainPrintable(cp) || (allow_tab_and_newline && (cp == '\t' || cp == '\n'));
    if (!ok) return false;
    i += n;
  }
  return true;
}

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// YAML 1.1 timestamps (2001-12-14, 2001-12-14t21:59:43.10-05:00, ...). bosun's
// loader keeps them as strings, but other YAML readers (go-yaml among them)
// turn them into times, so kubectl quotes them and so do we.
bool LooksLikeTimestamp(std::string_view s) {
  return s.size() >= 8 && IsDigit(s[0]) && IsDigit(s[1]) && IsDigit(s[2]) && IsDigit(s[3]) && s[4] == '-' &&
         IsDigit(s[5]);
}

// True when `s` can be written as a plain scalar in block context and read
// back as the same string.
bool CanBePlain(const std::string& s) {
  if (s.empty() || s == "<<") return false;
  if (!ResolvePlainScalar(s).is_string()) return false;
  if (LooksLikeTimestamp(s)) return false;
  // Sexagesimal numbers ("1:20") were integers in YAML 1.1; quote anything
  // like them so no reader takes them for numbers.
  if (IsDigit(s[0]) && s.find(':') != std::string::npos) return false;
  char first = s[0];
  static constexpr std::string_view kIndicators = ",[]{}#&*!|>'\"%@`";
  if (kIndicators.find(first) != std::string_view::npos) return false;
  if ((first == '-' || first == '?' || first == ':') && (s.size() == 1 || s[1] == ' ')) return false;
  if (s.rfind("---", 0) == 0 || s.rfind("...", 0) == 0) return false;
  if (s.front() == ' ' || s.back() == ' ') return false;
  if (s.back() == ':') return false;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return false;
  return AllPrintable(s, /*allow_tab_and_newline=*/false);
}

void AppendHex(std::string& out, const char* prefix, uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%s%0*X", prefix, digits, static_cast<unsigned>(v));
  out += buf;
}

std::string DoubleQuoted(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      // Not UTF-8: YAML cannot hold raw bytes, so the byte becomes U+00NN.
      AppendHex(out, "\\x", static_cast<unsigned char>(s[i]), 2);
      ++i;
      continue;
    }
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case 0:
        out += "\\0";
        break;
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\v':
        out += "\\v";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      case 0x1B:
        out += "\\e";
        break;
      case 0x85:
        out += "\\N";
        break;
      case 0x2028:
        out += "\\L";
        break;
      case 0x2029:
        out += "\\P";
        break;
      default:
        if (IsPlainPrintable(cp)) {
          out.append(s.substr(i, n));
        } else if (cp <= 0xFF) {
          AppendHex(out, "\\x", cp, 2);
        } else if (cp <= 0xFFFF) {
          AppendHex(out, "\\u", cp, 4);
        } else {
          AppendHex(out, "\\U", cp, 8);
        }
    }
    i += n;
  }
  out += '"';
  return out;
}

// The header and body of a literal block scalar for a multi-line string,
// with the body's lines indented by `indent` spaces; the body ends in a
// newline. Empty optional when a block cannot be used.
struct Block {
  std::string header;  // "|", "|-", "|+", "|2-", ...
  std::vector<std::string_view> lines;
};

std::optional<Block> MakeBlock(std::string_view s) {
  if (!AllPrintable(s, /*allow_tab_and_newline=*/true)) return std::nullopt;
  Block b;
  std::string_view body = s;
  const char* chomp;
  if (body.size() >= 2 && body.substr(body.size() - 2) == "\n\n") {
    chomp = "+";
    body.remove_suffix(1);
  } else if (!body.empty() && body.back() == '\n') {
    chomp = "";
    body.remove_suffix(1);
  } else {
    chomp = "-";
  }
  size_t first_text = body.find_first_not_of('\n');
  bool needs_indicator = first_text != std::string_view::npos && (body[first_text] == ' ' || body[first_text] == '\t');
  b.header = std::string("|") + (needs_indicator ? "2" : "") + chomp;
  size_t start = 0;
  while (true) {
    size_t nl = body.find('\n', start);
    b.lines.push_back(body.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return b;
}

void AppendBlockBody(std::string& out, const Block& b, int indent) {
  for (std::string_view line : b.lines) {
    if (!line.empty()) out.append(static_cast<size_t>(indent), ' ').append(line);
    out += '\n';
  }
}

// Whether the block reads back as `s`. The rules for block scalars (trailing
// blank lines, all-space lines, tabs) are subtle enough that we ask the
// loader instead of re-deriving them; the check runs only for multi-line
// strings.
bool BlockRoundTrips(const Block& b, const std::string& s) {
  std::string doc = "k: " + b.header + "\n";
  AppendBlockBody(doc, b, 2);
  auto docs = LoadYaml(doc, "<emit>");
  return docs.ok() && docs->size() == 1 && (*docs)[0].value.is_object() && (*docs)[0].value.contains("k") &&
         (*docs)[0].value["k"] == Json(s);
}

std::string ScalarText(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case Json::value_t::number_integer:
      return std::to_string(v.get<int64_t>());
    case Json::value_t::number_unsigned:
      return std::to_string(v.get<uint64_t>());
    case Json::value_t::number_float: {
      double d = v.get<double>();
      if (std::isnan(d)) return ".nan";
      if (std::isinf(d)) return d > 0 ? ".inf" : "-.inf";
      return v.dump();
    }
    case Json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      return CanBePlain(s) ? s : DoubleQuoted(s);
    }
    case Json::value_t::binary:
      return DoubleQuoted(v.dump());
    default:
      return v.dump();  // containers never reach here
  }
}

bool IsEmptyContainer(const Json& v) {
  return (v.is_object() || v.is_array()) && v.empty();
}

class Emitter {
 public:
  explicit Emitter(std::string* out) : out_(*out) {}

  void Document(const Json& v) {
    if (v.is_object() && !v.empty()) {
      Map(v, 0, /*inline_first=*/false);
    } else if (v.is_array() && !v.empty()) {
      Seq(v, 0, /*inline_first=*/false);
    } else {
      // A bare scalar: never a block (there is no parent to indent under).
      out_ += IsEmptyContainer(v) ? (v.is_object() ? "{}" : "[]") : ScalarText(v);
      out_ += '\n';
    }
  }

 private:
  void Indent(int n) { out_.append(static_cast<size_t>(n), ' '); }

  // Writes what follows "key:" or "-": " scalar\n", " |\n" + block, or a
  // newline and a nested container. `indent` is the column of the key or dash.
  void Value(const Json& v, int indent, bool after_dash) {
    if (IsEmptyContainer(v)) {
      out_ += v.is_object() ? " {}\n" : " []\n";
    } else if (v.is_object()) {
      if (after_dash) {
        out_ += ' ';
        Map(v, indent + 2, /*inline_first=*/true);
      } else {
        out_ += '\n';
        Map(v, indent + 2, /*inline_first=*/false);
      }
    } else if (v.is_array()) {
      if (after_dash) {
        out_ += ' ';
        Seq(v, indent + 2, /*inline_first=*/true);
      } else {
        // kubectl's compact style: the dashes line up with the key.
        out_ += '\n';
        Seq(v, indent, /*inline_first=*/false);
      }
    } else if (v.is_string() && v.get_ref<const std::string&>().find('\n') != std::string::npos) {
      const std::string& s = v.get_ref<const std::string&>();
      std::optional<Block> b = MakeBlock(s);
      if (b && BlockRoundTrips(*b, s)) {
        out_ += ' ';
        out_ += b->header;
        out_ += '\n';
        AppendBlockBody(out_, *b, indent + 2);
      } else {
        out_ += ' ';
        out_ += DoubleQuoted(s);
        out_ += '\n';
      }
    } else {
      out_ += ' ';
      out_ += ScalarText(v);
      out_ += '\n';
    }
  }

  void Map(const Json& m, int indent, bool inline_first) {
    bool first = true;
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (!first || !inline_first) Indent(indent);
      first = false;
      const std::string& key = it.key();
      std::string k = CanBePlain(key) ? key : DoubleQuoted(key);
      // libyaml allows implicit keys of at most 1024 characters; longer ones
      // need the explicit "? key" form.
      if (k.size() > 1000) {
        out_ += "? " + k + "\n";
        Indent(indent);
      } else {
        out_ += k;
      }
      out_ += ':';
      Value(it.value(), indent, /*after_dash=*/false);
    }
  }

  void Seq(const Json& a, int indent, bool inline_first) {
    bool first = true;
    for (const Json& item : a) {
      if (!first || !inline_first) Indent(indent);
      first = false;
      out_ += '-';
      Value(item, indent, /*after_dash=*/true);
    }
  }

  std::string& out_;
};

}  // namespace

std::string EmitYaml(const nlohmann::json& value) {
  std::string out;
  Emitter(&out).Document(value);
  return out;
}

}  // namespace bosun
