// ParseDuration / FormatDuration against Go's own tables (time_test.go:
// parseDurationTests, parseDurationErrorTests, durationTests).
#include "core/duration.h"

#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace bosun {
namespace {

using std::chrono::nanoseconds;

constexpr int64_t kNs = 1;
constexpr int64_t kUs = 1000 * kNs;
constexpr int64_t kMs = 1000 * kUs;
constexpr int64_t kS = 1000 * kMs;
constexpr int64_t kMin = 60 * kS;
constexpr int64_t kH = 60 * kMin;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kLowest = std::numeric_limits<int64_t>::min();

TEST(DurationTest, ParsesWhatGoParses) {
  struct Case {
    const char* in;
    int64_t want;
  } cases[] = {
      {"0", 0},
      {"5s", 5 * kS},
      {"30s", 30 * kS},
      {"1478s", 1478 * kS},
      {"-5s", -5 * kS},
      {"+5s", 5 * kS},
      {"-0", 0},
      {"+0", 0},
      {"0s", 0},
      {"5.0s", 5 * kS},
      {"5.6s", 5 * kS + 600 * kMs},
      {"5.s", 5 * kS},
      {".5s", 500 * kMs},
      {"1.0s", 1 * kS},
      {"1.00s", 1 * kS},
      {"1.004s", 1 * kS + 4 * kMs},
      {"1.0040s", 1 * kS + 4 * kMs},
      {"100.00100s", 100 * kS + 1 * kMs},
      {"10ns", 10 * kNs},
      {"11us", 11 * kUs},
      {"12\xc2\xb5s", 12 * kUs},  // U+00B5
      {"12\xce\xbcs", 12 * kUs},  // U+03BC
      {"13ms", 13 * kMs},
      {"14s", 14 * kS},
      {"15m", 15 * kMin},
      {"16h", 16 * kH},
      {"300ms", 300 * kMs},
      {"1.5h", 90 * kMin},
      {"2h45m", 2 * kH + 45 * kMin},
      {"-1m", -kMin},
      {"3h30m", 3 * kH + 30 * kMin},
      {"10.5s4m", 4 * kMin + 10 * kS + 500 * kMs},
      {"-2m3.4s", -(2 * kMin + 3 * kS + 400 * kMs)},
      {"1h2m3s4ms5us6ns", 1 * kH + 2 * kMin + 3 * kS + 4 * kMs + 5 * kUs + 6 * kNs},
      {"39h9m14.425s", 39 * kH + 9 * kMin + 14 * kS + 425 * kMs},
      {"52763797000ns", 52763797000 * kNs},
      {"0.3333333333333333333h", 20 * kMin},
      {"9007199254740993ns", (int64_t{1} << 53) + 1},
      {"9223372036854775807ns", kMax},
      {"9223372036854775.807us", kMax},
      {"9223372036s854ms775us807ns", kMax},
      {"-9223372036854775808ns", kLowest},
      {"-9223372036854775.808us", kLowest},
      {"-9223372036s854ms775us808ns", kLowest},
      {"-2562047h47m16.854775808s", kLowest},
      {"0.100000000000000000000h", 6 * kMin},
      {"0.830103483285477580700h", 49 * kMin + 48 * kS + 372539827 * kNs},
      {"1.0000000001s", 1 * kS},  // below 1ns: truncated, as Go
      {"0.1ns", 0},
      {"1s1s", 2 * kS},
  };
  for (const Case& c : cases) {
    auto d = ParseDuration(c.in);
    ASSERT_TRUE(d.ok()) << c.in << ": " << d.error().message();
    EXPECT_EQ(d->count(), c.want) << c.in;
  }
}

TEST(DurationTest, RefusesWhatGoRefusesAndSaysWhy) {
  struct Case {
    const char* in;
    const char* message;
  } cases[] = {
      {"", "\"\" is not a valid duration: it is empty (write a number and a unit, like 300ms, 1.5h or 2h45m)"},
      {"3", "\"3\" is not a valid duration: missing unit after the number \"3\" (use ns, us, ms, s, m or h"},
      {"1h5", "missing unit after the number \"1h5\""},
      {"-", "\"-\" is not a valid duration: there is no number after the sign"},
      {"+", "there is no number after the sign"},
      {"s", "\"s\" is not a valid duration: expected a number at \"s\""},
      {".", "a \".\" needs digits on at least one side"},
      {"-.", "a \".\" needs digits on at least one side"},
      {".s", "a \".\" needs digits on at least one side"},
      {"+.s", "a \".\" needs digits on at least one side"},
      {"1d", "\"1d\" is not a valid duration: unknown unit \"d\" (there is no day unit: write 24h)"},
      {"1w", "unknown unit \"w\" (there is no week unit: write 168h)"},
      {"5sec", "unknown unit \"sec\" (write s, as in 30s)"},
      {"5min", "unknown unit \"min\" (write m, as in 5m)"},
      {"2hr", "unknown unit \"hr\" (write h, as in 2h)"},
      {"5S", "unknown unit \"S\""},
      {"1x", "unknown unit \"x\" (use ns, us, ms, s, m or h)"},
      {"1.5.5s", "missing unit after the number \"1.5\""},
      {"1h-5m", "unknown unit \"h-\""},
      {"\x85\x85", "expected a number"},
      {"1\xff", "unknown unit \"\xff\""},
      {"1h 30m", "\"1h 30m\" is not a valid duration: it must not contain spaces"},
      {" 1s", "must not contain spaces"},
      {"9223372036854775810ns", "out of range"},
      {"9223372036854775808ns", "\"9223372036854775808ns\" is not a valid duration: it is out of range"},
      {"-9223372036854775809ns", "out of range"},
      {"9223372036854776us", "out of range"},
      {"3000000h", "out of range"},
      {"9223372036854775.808us", "out of range"},
      {"9223372036854ms775us808ns", "out of range"},
      {"99999999999999999999s", "out of range"},
  };
  for (const Case& c : cases) {
    auto d = ParseDuration(c.in);
    ASSERT_FALSE(d.ok()) << c.in << " parsed as " << d->count();
    EXPECT_EQ(d.error().code(), Code::kInvalid);
    EXPECT_NE(d.error().message().find(c.message), std::string::npos)
        << c.in << ": got " << d.error().message() << "\nwant " << c.message;
  }
}

TEST(DurationTest, FormatsAsGo) {
  struct Case {
    int64_t d;
    const char* want;
  } cases[] = {
      {0, "0s"},
      {1 * kNs, "1ns"},
      {999 * kNs, "999ns"},
      {1100 * kNs, "1.1\xc2\xb5s"},
      {1 * kUs, "1\xc2\xb5s"},
      {2200 * kUs, "2.2ms"},
      {300 * kMs, "300ms"},
      {3300 * kMs, "3.3s"},
      {1500 * kMs, "1.5s"},
      {4 * kMin + 5 * kS, "4m5s"},
      {4 * kMin + 5001 * kMs, "4m5.001s"},
      {5 * kH + 6 * kMin + 7001 * kMs, "5h6m7.001s"},
      {8 * kMin + 1 * kNs, "8m0.000000001s"},
      {1 * kH + 2 * kMin + 3 * kS, "1h2m3s"},
      {kH, "1h0m0s"},
      {kMin, "1m0s"},
      {-kMin, "-1m0s"},
      {-1 * kNs, "-1ns"},
      {-1500 * kUs, "-1.5ms"},
      {kMax, "2562047h47m16.854775807s"},
      {kLowest, "-2562047h47m16.854775808s"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FormatDuration(nanoseconds(c.d)), c.want) << c.d;
    // What Go prints, Go parses back to the same value.
    auto back = ParseDuration(c.want);
    ASSERT_TRUE(back.ok()) << c.want;
    EXPECT_EQ(back->count(), c.d) << c.want;
  }
}

}  // namespace
}  // namespace bosun
