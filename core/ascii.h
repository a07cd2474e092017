// core/ascii.h — ASCII helpers for protocol tokens: case folding (HTTP
// header names and media types, URL schemes, hex digests, registry hosts),
// trimming and splitting (flag lists, token and key files, URL paths) and
// percent-decoding (URL paths, queries and form bodies). Locale-free, so
// "I" folds to "i" whatever the process's locale says.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bosun {

inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// `s` without the spaces, tabs, CRs and LFs (and \v, \f) around it.
inline std::string_view TrimAscii(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// The parts of `s` between `sep`s, each trimmed (TrimAscii) when `trim`,
// empty ones left out: "a,, b" → {"a", "b"} with trim.
inline std::vector<std::string> SplitNonEmpty(std::string_view s, char sep, bool trim = false) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view part = s.substr(start, end - start);
    if (trim) part = TrimAscii(part);
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

// Where to cut `s` to keep at most `max` bytes without cutting a UTF-8
// character in half: `max` or less (s.size() when it is shorter).
inline size_t Utf8CutPoint(std::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

// The value of a hex digit, -1 for any other character.
inline int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "%2F" → "/"; a '%' not followed by two hex digits is kept as it is. With
// `plus_is_space` (a query or a form body), '+' is a space.
inline std::string PercentDecode(std::string_view s, bool plus_is_space = false) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    int hi = 0, lo = 0;
    if (c == '%' && i + 2 < s.size() && (hi = HexDigitValue(s[i + 1])) >= 0 && (lo = HexDigitValue(s[i + 2])) >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c == '+' && plus_is_space ? ' ' : c);
    }
  }
  return out;
}

// The fields of a URL query or an application/x-www-form-urlencoded body,
// in order, each name and value percent-decoded with '+' a space; a field
// without '=' has the value "", empty fields ("a=1&&b=2") are skipped.
inline std::vector<std::pair<std::string, std::string>> ParseFormEncoded(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('&', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view part = s.substr(start, end - start);
    if (!part.empty()) {
      size_t eq = part.find('=');
      out.emplace_back(PercentDecode(part.substr(0, eq), true),
                       eq == std::string_view::npos ? "" : PercentDecode(part.substr(eq + 1), true));
    }
    start = end + 1;
  }
  return out;
}

}  // namespace bosun
