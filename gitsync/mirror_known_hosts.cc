// gitsync/mirror_known_hosts.cc — checking an SSH server's host key against
// an OpenSSH known_hosts file given with --repo-known-hosts-file.
//
// libgit2 1.5.1 checks only ~/.ssh/known_hosts, and bosun runs as a service
// whose home is nobody's business, so the file comes from the operator and is
// read here. Supported: plain names, "[host]:port" for ports other than 22,
// comma lists, "*"/"?" wildcards, "!negation", hashed names ("|1|salt|hash",
// as `ssh-keyscan -H` writes them; HMAC-SHA1, written out below because
// nothing else in bosun needs SHA-1), and "@revoked". "@cert-authority"
// lines are skipped: libgit2 hands us the plain host key, not a certificate.
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <sstream>

#include "gitsync/mirror_internal.h"

namespace bosun::gitsync {
namespace {

std::string Base64Decode(const std::string& in) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) return "";  // not base64: matches no key
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// SHA-1 (FIPS 180-4), only for the HMAC of hashed known_hosts names.
std::array<uint8_t, 20> Sha1(const std::string& message) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string m = message;
  uint64_t bit_len = static_cast<uint64_t>(message.size()) * 8;
  m.push_back(static_cast<char>(0x80));
  while (m.size() % 64 != 56) m.push_back('\0');
  for (int i = 7; i >= 0; i--) m.push_back(static_cast<char>((bit_len >> (i * 8)) & 0xff));
  auto rotl = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (size_t chunk = 0; chunk < m.size(); chunk += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++) {
      const auto* p = reinterpret_cast<const uint8_t*>(m.data() + chunk + i * 4);
      w[i] = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
    }
    for (int i = 16; i < 80; i++) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      uint32_t t = rotl(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::array<uint8_t, 20> out;
  for (int i = 0; i < 5; i++) {
    for (int j = 0; j < 4; j++) out[i * 4 + j] = static_cast<uint8_t>(h[i] >> (24 - j * 8));
  }
  return out;
}

std::string HmacSha1(std::string key, const std::string& message) {
  if (key.size() > 64) {
    auto d = Sha1(key);
    key.assign(reinterpret_cast<const char*>(d.data()), d.size());
  }
  key.resize(64, '\0');
  std::string inner(64, '\0'), outer(64, '\0');
  for (int i = 0; i < 64; i++) {
    inner[i] = static_cast<char>(key[i] ^ 0x36);
    outer[i] = static_cast<char>(key[i] ^ 0x5c);
  }
  auto ih = Sha1(inner + message);
  auto oh = Sha1(outer + std::string(reinterpret_cast<const char*>(ih.data()), ih.size()));
  return std::string(reinterpret_cast<const char*>(oh.data()), oh.size());
}

// OpenSSH's match_pattern: '*' any run, '?' one character, case-insensitive.
bool Glob(const char* pattern, const char* s) {
  for (;;) {
    if (*pattern == '\0') return *s == '\0';
    if (*pattern == '*') {
      pattern++;
      if (*pattern == '\0') return true;
      for (; *s != '\0'; s++) {
        if (Glob(pattern, s)) return true;
      }
      return false;
    }
    if (*s == '\0') return false;
    if (*pattern != '?' &&
        std::tolower(static_cast<unsigned char>(*pattern)) != std::tolower(static_cast<unsigned char>(*s))) {
      return false;
    }
    pattern++;
    s++;
  }
}

// True when the host field of a known_hosts line names `name` ("host" or
// "[host]:port").
bool HostFieldMatches(const std::string& field, const std::string& name) {
  if (field.starts_with("|1|")) {
    size_t bar = field.find('|', 3);
    if (bar == std::string::npos) return false;
    std::string salt = Base64Decode(field.substr(3, bar - 3));
    std::string hash = Base64Decode(field.substr(bar + 1));
    return !salt.empty() && HmacSha1(salt, name) == hash;
  }
  bool matched = false;
  std::stringstream patterns(field);
  std::string pattern;
  while (std::getline(patterns, pattern, ',')) {
    bool negated = pattern.starts_with("!");
    if (negated) pattern.erase(0, 1);
    if (!Glob(pattern.c_str(), name.c_str())) continue;
    if (negated) return false;  // a negated match excludes the line outright
    matched = true;
  }
  return matched;
}

}  // namespace

HostKeyMatch MatchKnownHost(const std::string& known_hosts, const std::string& host, int port, const std::string& key) {
  std::string name = port == 22 || port <= 0 ? host : "[" + host + "]:" + std::to_string(port);
  bool host_listed = false;
  bool key_listed = false;
  std::stringstream lines(known_hosts);
  std::string line;
  while (std::getline(lines, line)) {
    std::stringstream fields(line);
    std::string marker, hosts, type, blob;
    if (!(fields >> hosts) || hosts.starts_with("#")) continue;
    if (hosts.starts_with("@")) {
      marker = hosts;
      if (!(fields >> hosts)) continue;
    }
    if (!(fields >> type >> blob)) continue;
    if (marker == "@cert-authority") continue;
    bool same_key = Base64Decode(blob) == key;
    if (marker == "@revoked") {
      if (same_key) return HostKeyMatch::kRevoked;
      continue;
    }
    if (!marker.empty() || !HostFieldMatches(hosts, name)) continue;
    host_listed = true;
    key_listed = key_listed || same_key;
  }
  if (key_listed) return HostKeyMatch::kKnown;
  return host_listed ? HostKeyMatch::kMismatch : HostKeyMatch::kUnknown;
}

}  // namespace bosun::gitsync
