// core/ascii.h — ASCII case folding for protocol tokens: HTTP header names
// and media types, URL schemes, hex digests, registry hosts. Locale-free, so
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

}  // namespace bosun
