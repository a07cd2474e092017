#include "core/selector.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/field_path.h"

namespace bosun {
namespace {

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 100;
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  out += '"';
  return out;
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

// Go's strconv.ParseInt(s, 10, 64).
bool ParseInt64(std::string_view s, int64_t& out) {
  if (!s.empty() && s[0] == '+') {
    s.remove_prefix(1);
    if (!s.empty() && s[0] == '-') return false;  // "+-1"
  }
  if (s.empty() || s[0] == '+') return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Problems with one requirement, as labels.NewRequirement reports them.
std::vector<std::string> CheckRequirement(const Selector::Requirement& r) {
  std::vector<std::string> errs;
  auto key_errs = CheckQualifiedName(r.key);
  if (!key_errs.empty()) errs.push_back("invalid key " + Quote(r.key) + ": " + Join(key_errs, "; "));
  for (const std::string& v : r.values) {
    auto value_errs = CheckLabelValue(v);
    if (!value_errs.empty()) {
      errs.push_back("invalid value " + Quote(v) + " for key " + Quote(r.key) + ": " + Join(value_errs, "; "));
    }
    int64_t ignored = 0;
    if ((r.op == Selector::Operator::kGreaterThan || r.op == Selector::Operator::kLessThan) &&
        !ParseInt64(v, ignored)) {
      errs.push_back("the value " + Quote(v) + " for key " + Quote(r.key) + " must be an integer for > and <");
    }
  }
  return errs;
}

// ---- The string form: a port of labels.Lexer and labels.Parser. ----

enum class Tok {
  kEnd,
  kClosePar,
  kComma,
  kNot,
  kDoubleEquals,
  kEquals,
  kGreater,
  kIdentifier,
  kIn,
  kLess,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

struct Token {
  Tok tok;
  std::string literal;
  size_t column;  // 1-based, for messages
};

bool IsWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool IsSpecial(char c) {
  switch (c) {
    case '=':
    case '!':
    case '(':
    case ')':
    case ',':
    case '>':
    case '<':
      return true;
    default:
      return false;
  }
}

bool LookupSymbol(std::string_view s, Tok& tok) {
  static constexpr std::pair<std::string_view, Tok> kSymbols[] = {
      {")", Tok::kClosePar},      {",", Tok::kComma},      {"!", Tok::kNot},
      {"==", Tok::kDoubleEquals}, {"=", Tok::kEquals},     {">", Tok::kGreater},
      {"<", Tok::kLess},          {"!=", Tok::kNotEquals}, {"(", Tok::kOpenPar},
  };
  for (const auto& [text, t] : kSymbols) {
    if (text == s) {
      tok = t;
      return true;
    }
  }
  return false;
}

std::vector<Token> Lex(std::string_view s) {
  std::vector<Token> out;
  size_t pos = 0;
  while (true) {
    while (pos < s.size() && IsWhitespace(s[pos])) ++pos;
    size_t start = pos;
    if (pos == s.size()) {
      out.push_back({Tok::kEnd, "", start + 1});
      return out;
    }
    if (IsSpecial(s[pos])) {
      // Longest run of special characters that is still a known symbol, so
      // "!=" is one token and "=(" two. Every single special character is a
      // symbol, so this always makes progress.
      Tok tok = Tok::kEnd;
      size_t len = 0;
      for (size_t n = 1; start + n <= s.size() && IsSpecial(s[start + n - 1]); ++n) {
        Tok t;
        if (!LookupSymbol(s.substr(start, n), t)) break;
        tok = t;
        len = n;
      }
      pos = start + len;
      out.push_back({tok, std::string(s.substr(start, len)), start + 1});
      continue;
    }
    while (pos < s.size() && !IsSpecial(s[pos]) && !IsWhitespace(s[pos])) ++pos;
    std::string lit(s.substr(start, pos - start));
    Tok tok = Tok::kIdentifier;
    if (lit == "in") tok = Tok::kIn;
    if (lit == "notin") tok = Tok::kNotIn;
    out.push_back({tok, std::move(lit), start + 1});
  }
}

// Where a key or value is expected, "in" and "notin" are plain words
// (Kubernetes' "Values" parser context): "in in (notin)" is valid.
enum class Context { kKeyAndOperator, kValues };

class Parser {
 public:
  explicit Parser(std::string_view text) : tokens_(Lex(text)) {}

  // Returns the requirements, or false with why_ set.
  bool Parse(std::vector<Selector::Requirement>& out) {
    while (true) {
      Tok t = Peek(Context::kValues).tok;
      if (t == Tok::kEnd) return true;
      if (t != Tok::kIdentifier && t != Tok::kNot) return Unexpected(Peek(Context::kValues), "a key or \"!\"");
      Selector::Requirement r;
      if (!ParseRequirement(r)) return false;
      out.push_back(std::move(r));
      Token next = Next(Context::kValues);
      if (next.tok == Tok::kEnd) return true;
      if (next.tok != Tok::kComma) return Unexpected(next, "\",\" or the end");
      Token after = Peek(Context::kValues);
      if (after.tok != Tok::kIdentifier && after.tok != Tok::kNot) {
        return Unexpected(after, "a key or \"!\" after \",\"");
      }
    }
  }

  const std::string& why() const { return why_; }

 private:
  Token Peek(Context c) const { return Adjust(tokens_[pos_], c); }
  Token Next(Context c) {
    Token t = Adjust(tokens_[pos_], c);
    if (t.tok != Tok::kEnd) ++pos_;
    return t;
  }
  static Token Adjust(Token t, Context c) {
    if (c == Context::kValues && (t.tok == Tok::kIn || t.tok == Tok::kNotIn)) t.tok = Tok::kIdentifier;
    return t;
  }

  bool Unexpected(const Token& t, std::string_view expected) {
    std::string found = t.tok == Tok::kEnd ? "the end" : Quote(t.literal);
    why_ = "found " + found + " at column " + std::to_string(t.column) + ", expected " + std::string(expected);
    return false;
  }

  // Checks a complete requirement as labels.NewRequirement does.
  bool Validate(const Selector::Requirement& r) {
    auto errs = CheckRequirement(r);
    if (errs.empty()) return true;
    why_ = Join(errs, "; ");
    return false;
  }

  bool ParseRequirement(Selector::Requirement& r) {
    // Key, with "!" in front for DoesNotExist and nothing after for Exists.
    Token t = Next(Context::kValues);
    bool negated = t.tok == Tok::kNot;
    if (negated) t = Next(Context::kValues);
    if (t.tok != Tok::kIdentifier) return Unexpected(t, negated ? "a key after \"!\"" : "a key");
    r.key = t.literal;
    auto key_errs = CheckQualifiedName(r.key);
    if (!key_errs.empty()) {
      why_ = "invalid key " + Quote(r.key) + ": " + Join(key_errs, "; ");
      return false;
    }
    Tok after = Peek(Context::kValues).tok;
    if (negated || after == Tok::kEnd || after == Tok::kComma) {
      // "!key=value" stops here too; what follows the key is then reported
      // as unexpected by the caller, as Kubernetes does.
      r.op = negated ? Selector::Operator::kDoesNotExist : Selector::Operator::kExists;
      return true;
    }

    Token op = Next(Context::kKeyAndOperator);
    switch (op.tok) {
      case Tok::kIn:
        r.op = Selector::Operator::kIn;
        break;
      case Tok::kNotIn:
        r.op = Selector::Operator::kNotIn;
        break;
      case Tok::kEquals:
        r.op = Selector::Operator::kEquals;
        break;
      case Tok::kDoubleEquals:
        r.op = Selector::Operator::kDoubleEquals;
        break;
      case Tok::kNotEquals:
        r.op = Selector::Operator::kNotEquals;
        break;
      case Tok::kGreater:
        r.op = Selector::Operator::kGreaterThan;
        break;
      case Tok::kLess:
        r.op = Selector::Operator::kLessThan;
        break;
      default:
        return Unexpected(op, "an operator (=, ==, !=, in, notin, >, <) after key " + Quote(r.key));
    }
    if (r.op == Selector::Operator::kIn || r.op == Selector::Operator::kNotIn) {
      if (!ParseValueSet(r)) return false;
    } else if (!ParseExactValue(r)) {
      return false;
    }
    return Validate(r);
  }

  // "(" values ")" where values may be empty or have empty members: "()",
  // "(a,)" and "(,a)" all contain "". The set is sorted and de-duplicated.
  bool ParseValueSet(Selector::Requirement& r) {
    Token open = Next(Context::kValues);
    if (open.tok != Tok::kOpenPar) {
      std::string op = r.op == Selector::Operator::kIn ? "in" : "notin";
      return Unexpected(open, "\"(\" after \"" + op + "\"");
    }
    std::set<std::string> values;
    Token first = Peek(Context::kValues);
    if (first.tok == Tok::kClosePar) {
      Next(Context::kValues);
      r.values = {""};
      return true;
    }
    if (first.tok != Tok::kIdentifier && first.tok != Tok::kComma) return Unexpected(first, "a value, \",\" or \")\"");
    while (true) {
      Token t = Next(Context::kValues);
      if (t.tok == Tok::kIdentifier) {
        values.insert(t.literal);
        Token la = Peek(Context::kValues);
        if (la.tok == Tok::kComma) continue;
        if (la.tok == Tok::kClosePar) break;
        return Unexpected(la, "\",\" or \")\"");
      }
      if (t.tok == Tok::kComma) {
        if (values.empty()) values.insert("");  // "(,"
        Tok la = Peek(Context::kValues).tok;
        if (la == Tok::kClosePar) {
          values.insert("");  // ",)"
          break;
        }
        if (la == Tok::kComma) values.insert("");  // ",,"
        continue;
      }
      return Unexpected(t, "a value or \",\"");
    }
    Next(Context::kValues);  // the ")"
    r.values.assign(values.begin(), values.end());
    return true;
  }

  // One value, which may be empty: "a=" and "a=,b" compare with "".
  bool ParseExactValue(Selector::Requirement& r) {
    Token t = Peek(Context::kValues);
    if (t.tok == Tok::kEnd || t.tok == Tok::kComma) {
      r.values = {""};
      return true;
    }
    t = Next(Context::kValues);
    if (t.tok != Tok::kIdentifier) return Unexpected(t, "a value");
    r.values = {t.literal};
    return true;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  std::string why_;
};

void SortByKey(std::vector<Selector::Requirement>& reqs) {
  // Stable, so requirements on one key keep their written order (Kubernetes'
  // sort.Sort is stable for the short lists selectors are).
  std::stable_sort(reqs.begin(), reqs.end(),
                   [](const Selector::Requirement& a, const Selector::Requirement& b) { return a.key < b.key; });
}

}  // namespace

Selector::Selector(std::vector<Requirement> requirements) : requirements_(std::move(requirements)) {
  SortByKey(requirements_);
}

Selector Selector::Nothing() {
  Selector s;
  s.nothing_ = true;
  return s;
}

Selector Selector::FromSet(const Labels& labels) {
  std::vector<Requirement> reqs;
  for (const auto& [k, v] : labels) reqs.push_back({k, Operator::kEquals, {v}});
  return Selector(std::move(reqs));
}

Result<Selector> Selector::Parse(std::string_view text) {
  Parser parser(text);
  std::vector<Requirement> reqs;
  if (!parser.Parse(reqs)) {
    return Error(Code::kInvalid, Quote(text) + " is not a valid label selector: " + parser.why());
  }
  return Selector(std::move(reqs));
}

bool Selector::Requirement::Matches(const Labels& labels) const {
  auto it = labels.find(key);
  bool has = it != labels.end();
  auto listed = [&] { return std::find(values.begin(), values.end(), it->second) != values.end(); };
  switch (op) {
    case Operator::kIn:
    case Operator::kEquals:
    case Operator::kDoubleEquals:
      return has && listed();
    case Operator::kNotIn:
    case Operator::kNotEquals:
      return !has || !listed();
    case Operator::kExists:
      return has;
    case Operator::kDoesNotExist:
      return !has;
    case Operator::kGreaterThan:
    case Operator::kLessThan: {
      int64_t have = 0;
      int64_t want = 0;
      // A label that is not an integer matches neither > nor <.
      if (!has || values.size() != 1 || !ParseInt64(it->second, have) || !ParseInt64(values[0], want)) return false;
      return op == Operator::kGreaterThan ? have > want : have < want;
    }
  }
  return false;
}

std::string Selector::Requirement::String() const {
  switch (op) {
    case Operator::kExists:
      return key;
    case Operator::kDoesNotExist:
      return "!" + key;
    case Operator::kIn:
    case Operator::kNotIn: {
      // Sorted on output only; the stored order is what was written.
      std::vector<std::string> sorted = values;
      std::sort(sorted.begin(), sorted.end());
      return key + (op == Operator::kIn ? " in (" : " notin (") + Join(sorted, ",") + ")";
    }
    case Operator::kEquals:
      return key + "=" + Join(values, ",");
    case Operator::kDoubleEquals:
      return key + "==" + Join(values, ",");
    case Operator::kNotEquals:
      return key + "!=" + Join(values, ",");
    case Operator::kGreaterThan:
      return key + ">" + Join(values, ",");
    case Operator::kLessThan:
      return key + "<" + Join(values, ",");
  }
  return key;
}

bool Selector::Matches(const Labels& labels) const {
  if (nothing_) return false;
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const Requirement& r) { return r.Matches(labels); });
}

std::string Selector::String() const {
  std::vector<std::string> parts;
  for (const Requirement& r : requirements_) parts.push_back(r.String());
  return Join(parts, ",");
}

// ---- metav1.LabelSelector ----

namespace {

// Fields outside these are refused: a misspelt "matchLabel" would otherwise
// leave an empty selector that matches every object.
void CheckFields(const nlohmann::json& obj, std::initializer_list<std::string_view> known, const FieldPath& path,
                 std::vector<std::string>& errs) {
  for (const auto& [name, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string list;
    for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    errs.push_back((path.empty() ? "" : path.str() + ": ") + "unknown field " + Quote(name) + " (expected " + list +
                   ")");
  }
}

std::string TypeError(const FieldPath& path, std::string_view want, const nlohmann::json& got) {
  return path.Display() + ": must be " + std::string(want) + ", not " + std::string(got.type_name());
}

void CheckKey(const std::string& key, const FieldPath& path, std::vector<std::string>& errs) {
  auto msgs = CheckQualifiedName(key);
  if (!msgs.empty()) errs.push_back(path.str() + ": " + Quote(key) + " is not a valid label key: " + Join(msgs, "; "));
}

void CheckValue(const std::string& value, const FieldPath& path, std::vector<std::string>& errs) {
  auto msgs = CheckLabelValue(value);
  if (!msgs.empty()) {
    errs.push_back(path.str() + ": " + Quote(value) + " is not a valid label value: " + Join(msgs, "; "));
  }
}

// A string field of a match expression; false (with an error) when it is
// missing or not a string.
bool StringField(const nlohmann::json& e, const char* name, const FieldPath& at, std::string_view missing,
                 std::string& out, std::vector<std::string>& errs) {
  auto it = e.find(name);
  if (it == e.end() || it->is_null()) {
    errs.push_back(at.Child(name).str() + ": " + std::string(missing));
    return false;
  }
  if (!it->is_string()) {
    errs.push_back(TypeError(at.Child(name), "a string", *it));
    return false;
  }
  out = it->get<std::string>();
  return true;
}

// One entry of matchExpressions, checked as ValidateLabelSelectorRequirement
// does; problems are appended to errs.
Selector::Requirement ParseExpression(const nlohmann::json& e, const FieldPath& at, std::vector<std::string>& errs) {
  using Op = Selector::Operator;
  Selector::Requirement r{"", Op::kExists, {}};
  if (!e.is_object()) {
    errs.push_back(TypeError(at, "an object with key, operator and values", e));
    return r;
  }
  CheckFields(e, {"key", "operator", "values"}, at, errs);
  if (StringField(e, "key", at, "is required", r.key, errs)) CheckKey(r.key, at.Child("key"), errs);

  bool values_ok = true;
  auto values = e.find("values");
  if (values != e.end() && !values->is_null()) {
    if (!values->is_array()) {
      errs.push_back(TypeError(at.Child("values"), "a list of strings", *values));
      values_ok = false;
    } else {
      for (size_t j = 0; j < values->size(); ++j) {
        const nlohmann::json& v = (*values)[j];
        FieldPath vat = at.Child("values").Index(j);
        if (!v.is_string()) {
          errs.push_back(TypeError(vat, "a string", v));
          values_ok = false;
          continue;
        }
        r.values.push_back(v.get<std::string>());
        CheckValue(r.values.back(), vat, errs);
      }
    }
  }

  std::string op;
  if (!StringField(e, "operator", at, "is required (one of In, NotIn, Exists, DoesNotExist)", op, errs)) return r;
  if (op == "In") {
    r.op = Op::kIn;
  } else if (op == "NotIn") {
    r.op = Op::kNotIn;
  } else if (op == "Exists") {
    r.op = Op::kExists;
  } else if (op == "DoesNotExist") {
    r.op = Op::kDoesNotExist;
  } else {
    errs.push_back(at.Child("operator").str() + ": " + Quote(op) +
                   " is not a valid operator (use In, NotIn, Exists or DoesNotExist; they are case-sensitive)");
    return r;
  }
  bool set = r.op == Op::kIn || r.op == Op::kNotIn;
  if (values_ok && set && r.values.empty()) {
    errs.push_back(at.Child("values").str() + ": must be non-empty when operator is " + op);
  } else if (values_ok && !set && !r.values.empty()) {
    errs.push_back(at.Child("values").str() + ": must be empty when operator is " + op);
  }
  return r;
}

}  // namespace

Result<Selector> Selector::FromLabelSelector(const nlohmann::json& selector) {
  if (selector.is_null()) return Nothing();
  if (!selector.is_object()) {
    return Error(Code::kInvalid, "a label selector must be an object with matchLabels and/or matchExpressions, not " +
                                     std::string(selector.type_name()));
  }
  // Every problem is collected, so one run shows all there is to fix.
  std::vector<std::string> errs;
  CheckFields(selector, {"matchLabels", "matchExpressions"}, FieldPath(), errs);
  std::vector<Requirement> reqs;

  const FieldPath labels_path("matchLabels");
  auto labels = selector.find("matchLabels");
  if (labels != selector.end() && !labels->is_null()) {
    if (!labels->is_object()) {
      errs.push_back(TypeError(labels_path, "an object of label keys to values", *labels));
    } else {
      for (const auto& [key, value] : labels->items()) {
        if (!value.is_string()) {
          errs.push_back(TypeError(labels_path.Child(key), "a string", value));
          continue;
        }
        reqs.push_back({key, Operator::kEquals, {value.get<std::string>()}});
        CheckKey(key, labels_path, errs);
        CheckValue(reqs.back().values[0], labels_path.Child(key), errs);
      }
    }
  }

  const FieldPath exprs_path("matchExpressions");
  auto exprs = selector.find("matchExpressions");
  if (exprs != selector.end() && !exprs->is_null()) {
    if (!exprs->is_array()) {
      errs.push_back(TypeError(exprs_path, "a list", *exprs));
    } else {
      for (size_t i = 0; i < exprs->size(); ++i)
        reqs.push_back(ParseExpression((*exprs)[i], exprs_path.Index(i), errs));
    }
  }

  if (!errs.empty()) return Error(Code::kInvalid, Join(errs, "; "));
  // With neither labels nor expressions this is Everything(), as in
  // Kubernetes.
  return Selector(std::move(reqs));
}

Result<FieldSelector> FieldSelector::Parse(std::string_view text) {
  FieldSelector out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view term = text.substr(start, end - start);
    start = end + 1;
    while (!term.empty() && term.front() == ' ') term.remove_prefix(1);
    while (!term.empty() && term.back() == ' ') term.remove_suffix(1);
    if (term.empty()) {
      if (end == text.size()) break;
      continue;
    }
    Requirement r;
    size_t op = term.find("!=");
    size_t value_at = 0;
    if (op != std::string_view::npos) {
      r.equals = false;
      value_at = op + 2;
    } else if ((op = term.find("==")) != std::string_view::npos) {
      value_at = op + 2;
    } else if ((op = term.find('=')) != std::string_view::npos) {
      value_at = op + 1;
    } else {
      return Error(Code::kInvalid, "invalid field selector term \"" + std::string(term) +
                                       "\": expected field=value, field==value or field!=value");
    }
    std::string_view field = term.substr(0, op);
    if (field.empty()) return Error(Code::kInvalid, "invalid field selector term \"" + std::string(term) + "\": no field");
    size_t p = 0;
    while (p <= field.size()) {
      size_t dot = field.find('.', p);
      if (dot == std::string_view::npos) dot = field.size();
      if (dot == p) {
        return Error(Code::kInvalid, "invalid field selector term \"" + std::string(term) + "\": empty path segment");
      }
      r.path.emplace_back(field.substr(p, dot - p));
      p = dot + 1;
    }
    r.value = std::string(term.substr(value_at));
    out.requirements_.push_back(std::move(r));
    if (end == text.size()) break;
  }
  return out;
}

bool FieldSelector::Matches(const nlohmann::json& object) const {
  for (const Requirement& r : requirements_) {
    const nlohmann::json* cur = &object;
    for (const std::string& seg : r.path) {
      if (!cur->is_object()) { cur = nullptr; break; }
      auto it = cur->find(seg);
      if (it == cur->end()) { cur = nullptr; break; }
      cur = &*it;
    }
    std::string v;
    if (cur != nullptr) {
      if (cur->is_string()) v = cur->get<std::string>();
      else if (cur->is_number() || cur->is_boolean()) v = cur->dump();
    }
    if ((v == r.value) != r.equals) return false;
  }
  return true;
}

}  // namespace bosun
