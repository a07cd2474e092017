#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "crypto/tokens.h"

namespace bosun::crypto {
namespace {

TEST(Tokens, AreRandomAndUrlSafe) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string t = NewToken();
    EXPECT_THAT(t, ::testing::MatchesRegex("bosun_[A-Za-z0-9_-]{43}"));
    EXPECT_TRUE(seen.insert(t).second) << "token repeated";
  }
}

TEST(Tokens, HashIsStableAndMatchesOnlyItsToken) {
  std::string t = NewToken();
  std::string h = HashToken(t);
  EXPECT_THAT(h, ::testing::MatchesRegex("[0-9a-f]{64}"));
  EXPECT_EQ(h, HashToken(t));
  EXPECT_TRUE(TokenMatches(t, h));
  EXPECT_FALSE(TokenMatches(t + "x", h));
  EXPECT_FALSE(TokenMatches(NewToken(), h));
  EXPECT_FALSE(TokenMatches(t, h.substr(1)));
  EXPECT_NE(h.find_first_not_of("0"), std::string::npos);
}

TEST(Tokens, WipeClears) {
  std::string s = "secret";
  Wipe(s);
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace bosun::crypto
