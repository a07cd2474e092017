// The one error type, the one clock and the one logger.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"

namespace bosun {
namespace {

Result<int> Half(int x) {
  if (x % 2) return Error(Code::kInvalid, std::to_string(x) + " is odd");
  return x / 2;
}

TEST(Result, HoldsAValueOrAnError) {
  auto ok = Half(4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  auto bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), Code::kInvalid);
  EXPECT_EQ(bad.error().message(), "3 is odd");
  EXPECT_EQ(bad.value_or(-1), -1);
  EXPECT_EQ(bad.error().Wrap("halving").message(), "halving: 3 is odd");
  Status s = Ok();
  EXPECT_TRUE(s.ok());
  Status f = Error(Code::kNotFound, "gone");
  EXPECT_FALSE(f.ok());
  EXPECT_STREQ(CodeName(f.error().code()), "NotFound");
}

TEST(Clock, FakeClockMovesOnlyWhenTold) {
  FakeClock clock;
  EXPECT_EQ(FormatRfc3339(clock.Now()), "2026-01-01T00:00:00Z");
  auto m0 = clock.Monotonic();
  clock.Advance(std::chrono::milliseconds(1500));
  EXPECT_EQ(FormatRfc3339Millis(clock.Now()), "2026-01-01T00:00:01.500Z");
  clock.Sleep(std::chrono::hours(1));
  EXPECT_EQ(FormatRfc3339(clock.Now()), "2026-01-01T01:00:01Z");
  EXPECT_EQ(clock.Monotonic() - m0, std::chrono::milliseconds(1500) + std::chrono::hours(1));
}

TEST(Clock, Rfc3339TimesWithAnOffsetAreReadAsTheSameInstantInUtc) {
  auto utc = ParseRfc3339("2026-11-01T09:00:00Z");
  ASSERT_TRUE(utc);
  EXPECT_EQ(ParseRfc3339("2026-11-01T11:00:00+02:00"), utc);
  EXPECT_EQ(ParseRfc3339("2026-11-01T03:30:00-05:30"), utc);
  EXPECT_EQ(ParseRfc3339("2026-11-01T10:00:00.250+01:00"), *utc + std::chrono::milliseconds(250));
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2026-11-01T00:30:00+01:00")), "2026-10-31T23:30:00Z");
  EXPECT_FALSE(ParseRfc3339("2026-11-01T09:00:00+25:00"));
  EXPECT_FALSE(ParseRfc3339("2026-11-01T09:00:00+0x:00"));
  EXPECT_FALSE(ParseRfc3339("2026-11-01T09:00:00+-1:30"));
}

TEST(Log, OneStructuredLinePerEvent) {
  std::vector<std::string> lines;
  log::SetSink([&](const log::Record& r) { lines.push_back(log::FormatLine(r)); });
  log::Info("gitsync", "applied revision", {{"object", "web/frontend"}, {"rev", "3f2a1c0"}});
  log::Debug("gitsync", "dropped below the level");
  log::Warn("node", "say \"hi\"\nnext", {{"empty", ""}});
  log::SetSink(nullptr);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0],
              ::testing::MatchesRegex(
                  "[0-9-]+T[0-9:.]+Z INFO  gitsync object=web/frontend rev=3f2a1c0 msg=\"applied revision\""));
  EXPECT_THAT(lines[1], ::testing::EndsWith("WARN  node empty=\"\" msg=\"say \\\"hi\\\"\\nnext\""));
}

}  // namespace
}  // namespace bosun
