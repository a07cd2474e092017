// tests/gitsync/mirror_known_hosts_test.cc — the known_hosts rules of
// MatchKnownHost, line by line. The end-to-end check against a real sshd is
// MirrorSsh.KeyAuthAndKnownHosts.
#include <gtest/gtest.h>

#include "gitsync/mirror_internal.h"

namespace bosun::gitsync {
namespace {

// An ed25519 public key blob and its base64, as in a known_hosts line.
constexpr const char* kKeyB64 = "AAAAC3NzaC1lZDI1NTE5AAAAIJhwsO3m9sBapxR7bp8L1R3zJCGfWHKEU9RU2FBH1iIM";
constexpr const char* kOtherB64 = "AAAAC3NzaC1lZDI1NTE5AAAAIGZvb2Jhcg==";

std::string Blob(const std::string& b64) {
  // Decoded with the same rules the code uses: reuse it through a line.
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : b64) {
    if (c == '=') break;
    acc = (acc << 6) | static_cast<uint32_t>(kAlphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

TEST(KnownHosts, PlainNamesAndPorts) {
  std::string key = Blob(kKeyB64);
  std::string file = std::string("# a comment\n\ngit.example.com,10.0.0.1 ssh-ed25519 ") + kKeyB64 + " me@host\n";
  EXPECT_EQ(MatchKnownHost(file, "git.example.com", 22, key), HostKeyMatch::kKnown);
  EXPECT_EQ(MatchKnownHost(file, "GIT.example.com", 22, key), HostKeyMatch::kKnown);
  EXPECT_EQ(MatchKnownHost(file, "10.0.0.1", 22, key), HostKeyMatch::kKnown);
  EXPECT_EQ(MatchKnownHost(file, "git.example.com", 22, Blob(kOtherB64)), HostKeyMatch::kMismatch);
  EXPECT_EQ(MatchKnownHost(file, "other.example.com", 22, key), HostKeyMatch::kUnknown);
  // Another port is another name: "[host]:port".
  EXPECT_EQ(MatchKnownHost(file, "git.example.com", 2222, key), HostKeyMatch::kUnknown);
  std::string ported = std::string("[git.example.com]:2222 ssh-ed25519 ") + kKeyB64 + "\n";
  EXPECT_EQ(MatchKnownHost(ported, "git.example.com", 2222, key), HostKeyMatch::kKnown);
  EXPECT_EQ(MatchKnownHost(ported, "git.example.com", 22, key), HostKeyMatch::kUnknown);
}

TEST(KnownHosts, SeveralKeysForOneHost) {
  std::string file =
      std::string("git.example.com ssh-ed25519 ") + kOtherB64 + "\ngit.example.com ssh-ed25519 " + kKeyB64 + "\n";
  EXPECT_EQ(MatchKnownHost(file, "git.example.com", 22, Blob(kKeyB64)), HostKeyMatch::kKnown);
}

TEST(KnownHosts, WildcardsAndNegation) {
  std::string file = std::string("*.example.com,!evil.example.com ssh-ed25519 ") + kKeyB64 + "\n";
  std::string key = Blob(kKeyB64);
  EXPECT_EQ(MatchKnownHost(file, "git.example.com", 22, key), HostKeyMatch::kKnown);
  EXPECT_EQ(MatchKnownHost(file, "evil.example.com", 22, key), HostKeyMatch::kUnknown);
  EXPECT_EQ(MatchKnownHost(file, "example.org", 22, key), HostKeyMatch::kUnknown);
  std::string question = std::string("git?.example.com ssh-ed25519 ") + kKeyB64 + "\n";
  EXPECT_EQ(MatchKnownHost(question, "git1.example.com", 22, key), HostKeyMatch::kKnown);
  EXPECT_EQ(MatchKnownHost(question, "git12.example.com", 22, key), HostKeyMatch::kUnknown);
}

TEST(KnownHosts, HashedNamesAsSshKeygenWritesThem) {
  // `ssh-keygen -H` of "git.example.com …" and "[git.example.com]:2222 …".
  std::string file = std::string("|1|pk/Y0eUz+ksBYpWVlVYcAlDN7jk=|fA6d8dsNpPvjt+xYFKGjQPysBnY= ssh-ed25519 ") +
                     kKeyB64 + "\n|1|zdheENPT4oLCIzXRvElw3fPT9Sk=|B+YUh7UC0VjbZb96RKVgkw5Azls= ssh-ed25519 " + kKeyB64 +
                     "\n";
  std::string key = Blob(kKeyB64);
  EXPECT_EQ(MatchKnownHost(file, "git.example.com", 22, key), HostKeyMatch::kKnown);
  EXPECT_EQ(MatchKnownHost(file, "git.example.com", 2222, key), HostKeyMatch::kKnown);
  EXPECT_EQ(MatchKnownHost(file, "git.example.org", 22, key), HostKeyMatch::kUnknown);
  EXPECT_EQ(MatchKnownHost(file, "git.example.com", 22, Blob(kOtherB64)), HostKeyMatch::kMismatch);
}

TEST(KnownHosts, RevokedAndCertAuthorityLines) {
  std::string key = Blob(kKeyB64);
  std::string revoked =
      std::string("git.example.com ssh-ed25519 ") + kKeyB64 + "\n@revoked * ssh-ed25519 " + kKeyB64 + "\n";
  EXPECT_EQ(MatchKnownHost(revoked, "git.example.com", 22, key), HostKeyMatch::kRevoked);
  // A CA's key is not the host's key: such lines vouch for nothing here.
  std::string ca = std::string("@cert-authority *.example.com ssh-ed25519 ") + kKeyB64 + "\n";
  EXPECT_EQ(MatchKnownHost(ca, "git.example.com", 22, key), HostKeyMatch::kUnknown);
  EXPECT_EQ(MatchKnownHost("garbage\nhost only\n", "git.example.com", 22, key), HostKeyMatch::kUnknown);
}

}  // namespace
}  // namespace bosun::gitsync
