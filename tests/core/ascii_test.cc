// core/ascii.h: the helpers that read flag lists (--server a,b), token and
// key files, URL paths and query strings.
#include "core/ascii.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bosun {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(Ascii, TrimAsciiTakesOffWhitespaceOnBothSidesOnly) {
  EXPECT_EQ(TrimAscii("  token\r\n"), "token");
  EXPECT_EQ(TrimAscii("\ta b\t"), "a b");
  EXPECT_EQ(TrimAscii(" \t\r\n"), "");
  EXPECT_EQ(TrimAscii(""), "");
  EXPECT_EQ(TrimAscii("\xC2\xA0x"), "\xC2\xA0x") << "only ASCII whitespace";
}

TEST(Ascii, SplitNonEmptyLeavesOutEmptyPartsAndTrimsWhenAsked) {
  EXPECT_THAT(SplitNonEmpty("a,,b,", ','), ElementsAre("a", "b"));
  EXPECT_THAT(SplitNonEmpty(" a , b ,  ", ',', /*trim=*/true), ElementsAre("a", "b"));
  EXPECT_THAT(SplitNonEmpty(" a , b ", ','), ElementsAre(" a ", " b "));
  EXPECT_THAT(SplitNonEmpty("/api/v1//namespaces/", '/'), ElementsAre("api", "v1", "namespaces"));
  EXPECT_THAT(SplitNonEmpty("", ','), IsEmpty());
  EXPECT_THAT(SplitNonEmpty(",,,", ','), IsEmpty());
  EXPECT_THAT(SplitNonEmpty("one", ','), ElementsAre("one"));
}

TEST(Ascii, PercentDecodeAndFormFields) {
  EXPECT_EQ(PercentDecode("a%2Fb%zz%4"), "a/b%zz%4");
  EXPECT_EQ(PercentDecode("a+b", /*plus_is_space=*/true), "a b");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
  auto fields = ParseFormEncoded("a=1&&b=x+y&c");
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[1], (std::pair<std::string, std::string>{"b", "x y"}));
  EXPECT_EQ(fields[2], (std::pair<std::string, std::string>{"c", ""}));
}

}  // namespace
}  // namespace bosun
