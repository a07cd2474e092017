// core/ascii.h — ASCII helpers for protocol tokens: case folding (HTTP
// header names and media types, URL schemes, hex digests, registry hosts)
// and percent-decoding (URL paths and queries, form bodies). Locale-free, so
// "I" folds to "i" whatever the process's locale says.
#pragma once

#include <string>
#include <string_view>

namespace bosun {

inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
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

}  // namespace bosun
