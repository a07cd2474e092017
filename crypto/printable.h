// crypto/printable.h — user text (a key type, a namespace, a file's line)
// as it may appear in an error message: printable ASCII only, other bytes as
// '?', at most `max` bytes then "...". Parsers of untrusted input (SSH
// signatures, allowed-signers files) quote what they refuse through it, so a
// message never carries control characters or a flood of bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bosun::crypto {

inline std::string PrintableExcerpt(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace bosun::crypto
