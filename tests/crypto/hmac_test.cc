#include "crypto/hmac.h"

#include <cctype>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bosun::crypto {
namespace {

struct Rfc4231Case {
  const char* name;
  std::string key;
  std::string data;
  const char* hmac_sha256;  // truncated to 128 bits for test case 5
};

std::string Repeat(char c, size_t n) {
  return std::string(n, c);
}

std::string Bytes1To25() {
  std::string s;
  for (int i = 1; i <= 25; ++i) s.push_back(static_cast<char>(i));
  return s;
}

// RFC 4231 section 4, HMAC-SHA-256 results.
std::vector<Rfc4231Case> Rfc4231() {
  return {
      {"1", Repeat('\x0b', 20), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"2", "Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {"3", Repeat('\xaa', 20), Repeat('\xdd', 50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {"4", Bytes1To25(), Repeat('\xcd', 50), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {"5", Repeat('\x0c', 20), "Test With Truncation", "a3b6167473100ee06e0c796c2955552b"},
      {"6", Repeat('\xaa', 131), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {"7", Repeat('\xaa', 131),
       "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be "
       "hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
}

TEST(Hmac, Rfc4231TestVectors) {
  for (const Rfc4231Case& c : Rfc4231()) {
    SCOPED_TRACE(std::string("RFC 4231 test case ") + c.name);
    std::string expected = c.hmac_sha256;
    std::string hex = HmacSha256Hex(c.key, c.data);
    ASSERT_EQ(hex.size(), 64u);
    EXPECT_EQ(hex.substr(0, expected.size()), expected);
    HmacSha256Digest raw = HmacSha256(c.key, c.data);
    EXPECT_EQ(HexEncode(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size())), hex);
    if (expected.size() == 64) {
      EXPECT_TRUE(VerifySignatureHeader(c.key, c.data, "sha256=" + expected));
    }
  }
}

TEST(Hmac, HexEncode) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode(std::string("\x00\x01\xab\xff", 4)), "0001abff");
}

TEST(Hmac, SignatureHeaderRoundTrips) {
  std::string body = R"({"ref":"refs/heads/main"})";
  std::string header = SignatureHeader("s3cret", body);
  EXPECT_THAT(header, ::testing::MatchesRegex("sha256=[0-9a-f]{64}"));
  EXPECT_TRUE(VerifySignatureHeader("s3cret", body, header));
}

TEST(Hmac, VerifyRefusesWrongKeyBodyOrSignature) {
  std::string body = R"({"ref":"refs/heads/main"})";
  std::string header = SignatureHeader("s3cret", body);
  EXPECT_FALSE(VerifySignatureHeader("s3cret!", body, header));
  EXPECT_FALSE(VerifySignatureHeader("s3cret", body + " ", header));
  // One flipped digit, at the start and at the end.
  for (size_t pos : {std::string("sha256=").size(), header.size() - 1}) {
    std::string bad = header;
    bad[pos] = bad[pos] == '0' ? '1' : '0';
    EXPECT_FALSE(VerifySignatureHeader("s3cret", body, bad)) << bad;
  }
}

TEST(Hmac, VerifyRefusesMalformedHeaders) {
  std::string body = "payload";
  std::string hex = HmacSha256Hex("k", body);
  EXPECT_FALSE(VerifySignatureHeader("k", body, ""));
  EXPECT_FALSE(VerifySignatureHeader("k", body, hex));              // no prefix
  EXPECT_FALSE(VerifySignatureHeader("k", body, "sha1=" + hex));    // other algorithm
  EXPECT_FALSE(VerifySignatureHeader("k", body, "SHA256=" + hex));  // prefix is case-sensitive
  EXPECT_FALSE(VerifySignatureHeader("k", body, "sha256=" + hex + "0"));
  EXPECT_FALSE(VerifySignatureHeader("k", body, "sha256=" + hex.substr(1)));
  EXPECT_FALSE(VerifySignatureHeader("k", body, "sha256= " + hex.substr(1)));
  EXPECT_FALSE(VerifySignatureHeader("k", body, "sha256=" + hex.substr(0, 63) + "g"));
  EXPECT_FALSE(VerifySignatureHeader("k", body, "sha256=" + hex.substr(0, 62) + ":" + hex.substr(63)));
}

TEST(Hmac, VerifyAcceptsUpperCaseHex) {
  std::string hex = HmacSha256Hex("k", "payload");
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(VerifySignatureHeader("k", "payload", "sha256=" + hex));
}

TEST(Hmac, EmptyKeyNeverVerifies) {
  // An HMAC under the empty key is well defined; a hook without a secret must
  // still refuse it.
  std::string header = SignatureHeader("", "payload");
  EXPECT_FALSE(VerifySignatureHeader("", "payload", header));
}

TEST(Hmac, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("token-123", "token-123"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("token-123", "token-124"));
  EXPECT_FALSE(ConstantTimeEquals("token-123", "token-12"));
  EXPECT_FALSE(ConstantTimeEquals("token-123", ""));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
}

}  // namespace
}  // namespace bosun::crypto
