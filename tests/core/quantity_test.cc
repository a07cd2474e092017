// Quantity against Kubernetes' own tables (apimachinery
// pkg/api/resource/quantity_test.go): what parses, to what value and format,
// and how it prints.
#include "core/quantity.h"

#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace bosun {
namespace {

using F = Quantity::Format;

Quantity Q(std::string_view s) {
  auto q = Quantity::Parse(s);
  EXPECT_TRUE(q.ok()) << s << ": " << (q.ok() ? "" : q.error().message());
  return q.ok() ? *q : Quantity();
}

const char* FormatName(F f) {
  switch (f) {
    case F::kDecimalSI:
      return "DecimalSI";
    case F::kBinarySI:
      return "BinarySI";
    case F::kDecimalExponent:
      return "DecimalExponent";
  }
  return "?";
}

// TestQuantityParseEmit and the canonical forms listed in TestQuantityString
// (the "alternate" spellings), plus the brief's examples.
TEST(QuantityTest, CanonicalStringOfParsedValues) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"1Ki", "1Ki"},
      {"1Mi", "1Mi"},
      {"1Gi", "1Gi"},
      {"1024Mi", "1Gi"},
      {"300Mi", "300Mi"},
      {"307200Ki", "300Mi"},
      {"6Ki", "6Ki"},
      {"1001Gi", "1001Gi"},
      {"1025024Mi", "1001Gi"},
      {"1024Gi", "1Ti"},
      {"1Ti", "1Ti"},
      {"128Mi", "128Mi"},
      {"1.5Gi", "1536Mi"},
      {"0.5Mi", "512Ki"},
      {"1000M", "1G"},
      {"0.001T", "1G"},
      {"1000000k", "1G"},
      {"1000000000", "1G"},
      {"1G", "1G"},
      {"1000m", "1"},
      {"1000u", "1m"},
      {"1m", "1m"},
      {"80m", "80m"},
      {"1080m", "1080m"},
      {"1.08", "1080m"},
      {"1080000000n", "1080m"},
      {"1.0800", "1080m"},
      {"300M", "300M"},
      {"1T", "1T"},
      {"1234567M", "1234567M"},
      {"3k", "3k"},
      {"0", "0"},
      {"00", "0"},
      {"0Ki", "0"},
      {"-0", "0"},
      {"+0.000", "0"},
      {"5", "5"},
      {"5000m", "5"},
      {"0.5", "500m"},
      {".5", "500m"},
      {"5.", "5"},
      {"+5", "5"},
      {"1.5", "1500m"},
      {"1e9", "1e9"},
      {".001e12", "1e9"},
      {"1e-3", "1e-3"},
      {"0.001e0", "1e-3"},
      {"1e-9", "1e-9"},
      {"1000e-12", "1e-9"},
      {"80e-3", "80e-3"},
      {"300e6", "300e6"},
      {"1e12", "1e12"},
      {"1e3", "1e3"},
      {"2e3", "2e3"},
      {"3e3", "3e3"},
      {"1E6", "1e6"},
      {"1E+3", "1e3"},
      {"1e0", "1"},
      {"1.2e3", "1200"},
      {"12e2", "1200"},
      {"1e1", "10"},
      {"1n", "1n"},
      {"80n", "80n"},
      {"1080n", "1080n"},
      {"1u", "1u"},
      {"80u", "80u"},
      {"1080u", "1080u"},
      {"0.0000000001", "1n"},
      {".001Ki", "1024m"},
      {".000001Ki", "1024u"},
      {".000000001Ki", "1024n"},
      {".000000000001Ki", "2n"},
      {"100.035Ki", "102435840m"},
      {"3.001n", "4n"},
      {"1.1E-9", "2e-9"},
      {"0.00000012345", "124n"},
      {"12E", "12E"},
      {"1.G", "1G"},
      {"1.", "1"},
      {".0001k", "100m"},
      {"0.0005k", "500m"},
      {"100.035k", "100035"},
      {"7.123456M", "7123456"},
      {"6.987654321G", "6987654321"},
      {"1.01E", "1010P"},
      // TestParseQuantity: large values keep every digit.
      {"999999999999999999", "999999999999999999"},
      {"9999999999999999999", "9999999999999999999"},
      {"-9999999999999999999", "-9999999999999999999"},
      {"1000000000000000000", "1E"},
      {"10000000000000000000", "10E"},
      {"10000000000000000000000m", "10E"},
      {"9999999999999999999.1", "9999999999999999999100m"},
      {"-1.0000000000000000001E", "-1000000000000000000100m"},
      {"10.000000000000000001E", "10000000000000000001"},
      {"9223372036854775808.1", "9223372036854775808100m"},
      {"-9223372036854775809000m", "-9223372036854775809"},
      // Beyond E, DecimalSI keeps a longer mantissa on E.
      {"1000E", "1000E"},
      {"1e21", "1e21"},
      // Binary values Kubernetes caps at 2^63-1.
      {"9Ei", "9223372036854775807"},
      {"9223372036854775807Ki", "9223372036854775807"},
      {"-9Ei", "-9223372036854775807"},
      {"8Ei", "9223372036854775807"},  // exactly 2^63
      {"7Ei", "7Ei"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Q(c.in).String(), c.out) << c.in;
    // The canonical form reads back to itself.
    EXPECT_EQ(Q(c.out).String(), c.out) << c.out;
  }
}

// TestQuantityString: values built in each format.
TEST(QuantityTest, StringOfConstructedValues) {
  EXPECT_EQ(Quantity::FromInt(1024 * 1024 * 1024, F::kBinarySI).String(), "1Gi");
  EXPECT_EQ(Quantity::FromInt(300 * 1024 * 1024, F::kBinarySI).String(), "300Mi");
  EXPECT_EQ(Quantity::FromInt(5, F::kBinarySI).String(), "5");
  EXPECT_EQ(Quantity::FromInt(1025, F::kBinarySI).String(), "1025");
  EXPECT_EQ(Quantity::FromInt(1024, F::kBinarySI).String(), "1Ki");
  EXPECT_EQ(Quantity::FromInt(0, F::kBinarySI).String(), "0");
  EXPECT_EQ(Quantity::FromMilli(500, F::kBinarySI).String(), "500m");
  EXPECT_EQ(Quantity::FromMilli(1234567, F::kBinarySI).String(), "1234567m");
  EXPECT_EQ(Quantity::FromInt(1, F::kDecimalSI).String(), "1");
  EXPECT_EQ(Quantity::FromInt(1000, F::kDecimalSI).String(), "1k");
  EXPECT_EQ(Quantity::FromInt(1234000, F::kDecimalSI).String(), "1234k");
  EXPECT_EQ(Quantity::FromInt(1000000, F::kDecimalExponent).String(), "1e6");
  EXPECT_EQ(Quantity::FromInt(1024 * 1024, F::kBinarySI).String(), "1Mi");
  EXPECT_EQ(Quantity::FromInt(0, F::kDecimalExponent).String(), "0");
  EXPECT_EQ(Quantity::FromInt(3000, F::kDecimalExponent).String(), "3e3");
  EXPECT_EQ(Quantity::FromInt(std::numeric_limits<int64_t>::min()).String(), "-9223372036854775808");
  // TestMilliNewSet.
  EXPECT_EQ(Quantity::FromMilli(1).String(), "1m");
  EXPECT_EQ(Quantity::FromMilli(1000).String(), "1");
  EXPECT_EQ(Quantity::FromMilli(1234000).String(), "1234");
  EXPECT_EQ(Quantity::FromMilli(1024, F::kBinarySI).String(), "1024m");
  EXPECT_EQ(Quantity::FromMilli(1000000, F::kDecimalExponent).String(), "1e3");
  EXPECT_EQ(Quantity::FromMilli(1024 * 1024, F::kBinarySI).String(), "1048576m");
  EXPECT_EQ(Quantity().String(), "0");
}

TEST(QuantityTest, NegativeValuesPrintWithMinus) {
  for (const char* s : {"1Gi", "300Mi", "500m", "1e9", "80e-3", "1n", "1536Mi", "1080m", "3k", "12E"}) {
    EXPECT_EQ(Q(std::string("-") + s).String(), std::string("-") + s);
    EXPECT_EQ((-Q(s)).String(), std::string("-") + s);
  }
  EXPECT_EQ(Q("-1.5Gi").String(), "-1536Mi");
  EXPECT_EQ(Q("-.000000000001Ki").String(), "-2n");  // rounded away from zero
  EXPECT_EQ(Q("-9.01").String(), "-9010m");
}

// TestQuantityParse: the format each input is remembered in.
TEST(QuantityTest, ParseRemembersFormat) {
  struct Case {
    const char* in;
    F format;
  } cases[] = {
      {"0", F::kDecimalSI},
      {"0n", F::kDecimalSI},
      {"0Ki", F::kBinarySI},
      {"0Mi", F::kBinarySI},
      {"0T", F::kDecimalSI},
      {"1", F::kDecimalSI},
      {"1Ki", F::kBinarySI},
      {"3Ei", F::kBinarySI},
      {"5n", F::kDecimalSI},
      {"1E", F::kDecimalSI},
      {"1E-3", F::kDecimalExponent},
      {"1e3", F::kDecimalExponent},
      {"0.5e0", F::kDecimalExponent},
      {"1.3E+6", F::kDecimalExponent},
      {"100.035Ki", F::kBinarySI},
      {"0.5Mi", F::kBinarySI},
      {"9Ei", F::kBinarySI},
      // A binary amount below 1 cannot keep a binary suffix.
      {"0.000000000001Ki", F::kDecimalSI},
      {"-0.000000000001Ki", F::kDecimalSI},
      {".001Ki", F::kBinarySI},  // 1.024: stays binary, prints as DecimalSI
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FormatName(Q(c.in).format()), std::string(FormatName(c.format))) << c.in;
  }
}

// TestQuantityParse: exact values, including the round-up below 1n.
TEST(QuantityTest, ParseValues) {
  struct Case {
    const char* in;
    const char* equal;  // an exact spelling of the same value
  } cases[] = {
      {"50k", "50000"},
      {"40T", "40000000000000"},
      {"1E-3", "1m"},
      {"0.001", "1m"},
      {"0.0005k", "500m"},
      {"0.00050k", "0.5"},
      {"0.5e-1", "50m"},
      {"0.5e-2", "5m"},
      {"1.2e3", "1200"},
      {"1.40e9", "1400000000"},
      {"1.7E18", "1700000000000000000"},
      {"9.01", "9010m"},
      {"8.1k", "8100"},
      {"5.444T", "5444000000000"},
      {"2.5P", "2500000000000000"},
      {"3.001n", "4n"},
      {"1.1E-9", "2n"},
      {"0.0000000005", "1n"},
      {"0.00000000050", "1n"},
      {"0.5e-9", "1n"},
      {"0.9n", "1n"},
      {"0.00000012354", "124n"},
      {"100.035Ki", "102435.84"},
      {"0.05Gi", "53687091.2"},
      {"0.025Ti", "27487790694.4"},
      {"7Mi", "7340032"},
      {"4Pi", "4503599627370496"},
      {"3Ei", "3458764513820540928"},
      {"1e-1000000", "1n"},
      {"0e999999999999", "0"},
      {"0.000000000000000000000000000000000000000000001", "1n"},
      {"00000000000000000000000000000000000000000000123", "123"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Q(c.in).Compare(Q(c.equal)), 0) << c.in << " vs " << c.equal;
    EXPECT_EQ(Q(std::string("-") + c.in).Compare(-Q(c.equal)), 0) << "-" << c.in;
    EXPECT_EQ(Q(std::string("+") + c.in).Compare(Q(c.equal)), 0) << "+" << c.in;
  }
}

TEST(QuantityTest, InvalidInputsAreRefusedWithAReason) {
  struct Case {
    const char* in;
    const char* message;
  } cases[] = {
      {"", "\"\" is not a valid quantity: it is empty"},
      {"12x",
       "\"12x\" is not a valid quantity: unknown suffix \"x\" (use one of n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, "
       "Ti, Pi, Ei or an exponent like 2e3)"},
      {"1.5.5", "\"1.5.5\" is not a valid quantity: it has more than one decimal point"},
      {"1.1.M", "more than one decimal point"},
      {"Mi", "\"Mi\" is not a valid quantity: it must start with a number"},
      {"aoeu", "it must start with a number"},
      {".", "it must start with a number"},
      {"+", "it must start with a number"},
      {"-", "it must start with a number"},
      {"-.", "it must start with a number"},
      {"+-1", "it must start with a number"},
      {"1 Mi", "\"1 Mi\" is not a valid quantity: it must not contain spaces"},
      {" 1", "it must not contain spaces"},
      {"1 ", "it must not contain spaces"},
      {"1\t", "\"1\\x09\" is not a valid quantity: it must not contain spaces"},
      {"1mi", "unknown suffix \"mi\" (suffixes are case-sensitive: did you mean \"1Mi\"?)"},
      {"0.1mi", "did you mean \"0.1Mi\"?"},
      {"1KI", "did you mean \"1Ki\"?"},
      {"1K", "unknown suffix \"K\" (did you mean \"1k\" for 1000 or \"1Ki\" for 1024?)"},
      {"1Gb", "unknown suffix \"Gb\" (the unit is implied: did you mean \"1G\"?)"},
      {"1GiB", "(the unit is implied: did you mean \"1Gi\"?)"},
      {"1mb", "did you mean \"1M\"?"},  // mega, not milli
      {"1kB", "did you mean \"1k\"?"},
      {"1KB", "did you mean \"1k\"?"},
      {"0.1am", "unknown suffix \"am\" (use one of"},
      {".5i", "unknown suffix \"i\""},
      {"1i", "unknown suffix \"i\""},
      {"-3.01i", "unknown suffix \"i\""},
      {"1+1.0M", "unknown suffix \"+1.0M\""},
      {"1Ki5", "unknown suffix \"Ki5\""},
      {"1e", "the exponent \"e\" has no digits"},
      {"-3.01e-", "the exponent \"e-\" has no digits"},
      {"1E+", "the exponent \"E+\" has no digits"},
      {"1e1.5", "the exponent \"e1.5\" must be a whole number"},
      {"1e3x", "must be a whole number"},
      {"1e99999999999999999999", "the exponent \"e99999999999999999999\" is out of range"},
      {"1e30", "\"1e30\" is not a valid quantity: it is too large (the magnitude of a quantity must be below 1e29)"},
      {"100000000000000000000000000000", "too large"},
      {"-1e29", "too large"},
      {"100000000000E", "too large"},
      {"1e9223372036854775807", "too large"},
      {"1\xff", "unknown suffix \"\xff\""},
  };
  for (const Case& c : cases) {
    auto q = Quantity::Parse(c.in);
    ASSERT_FALSE(q.ok()) << c.in << " parsed as " << q->String();
    EXPECT_EQ(q.error().code(), Code::kInvalid);
    EXPECT_NE(q.error().message().find(c.message), std::string::npos)
        << c.in << ": got " << q.error().message() << "\nwant " << c.message;
  }
  // The largest accepted magnitude is just below 1e29.
  EXPECT_TRUE(Quantity::Parse("99999999999999999999999999999.999999999").ok());
  EXPECT_FALSE(Quantity::Parse("99999999999999999999999999999.9999999991").ok());  // rounds up to 1e29
  EXPECT_TRUE(Quantity::Parse("1e28").ok());
  EXPECT_TRUE(Quantity::Parse("1e-9223372036854775808").ok());
}

TEST(QuantityTest, LongInputIsCutInTheMessage) {
  std::string in(1000, '9');
  in += "x";
  auto q = Quantity::Parse(in);
  ASSERT_FALSE(q.ok());
  EXPECT_LT(q.error().message().size(), 300u);
}

// TestScaledValue, TestNewScaledSet, and the round-up rule of Value() and
// MilliValue(): away from zero.
TEST(QuantityTest, ValueAndMilliValueRoundAwayFromZero) {
  struct Case {
    const char* in;
    int64_t value;
    int64_t milli;
  } cases[] = {
      {"0", 0, 0},
      {"1", 1, 1000},
      {"1n", 1, 1},
      {"1u", 1, 1},
      {"1m", 1, 1},
      {"999m", 1, 999},
      {"1001m", 2, 1001},
      {"1.5", 2, 1500},
      {"0.1m", 1, 1},  // 0.1m = 100u, milli rounds up to 1
      {"1500001n", 1, 2},
      {"100m", 1, 100},
      {"1Ki", 1024, 1024000},
      {"1.5Gi", 1610612736, 1610612736000},
      {"1e3", 1000, 1000000},
      {"-1.5", -2, -1500},
      {"-1n", -1, -1},
      {"-999m", -1, -999},
      {"-1500001n", -1, -2},
      {"9223372036854775807", std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max()},
      {"1e20", std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max()},
      {"-1e20", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::min()},
      {"9223372036854775.807", 9223372036854776, std::numeric_limits<int64_t>::max()},
      {"9223372036854775.808", 9223372036854776, std::numeric_limits<int64_t>::max()},
      {"-9223372036854775.808", -9223372036854776, std::numeric_limits<int64_t>::min()},
  };
  for (const Case& c : cases) {
    Quantity q = Q(c.in);
    EXPECT_EQ(q.Value(), c.value) << c.in;
    EXPECT_EQ(q.MilliValue(), c.milli) << c.in;
  }
  EXPECT_EQ(Quantity::FromMilli(1).MilliValue(), 1);
  EXPECT_EQ(Quantity::FromMilli(1).Value(), 1);
  EXPECT_EQ(Quantity::FromInt(7).MilliValue(), 7000);
}

// TestQuantityCmp and TestQuantityCmpInt64AndDec.
TEST(QuantityTest, Compare) {
  struct Case {
    const char* a;
    const char* b;
    int want;
  } cases[] = {
      {"0", "0", 0},
      {"100m", "50m", 1},
      {"50m", "100m", -1},
      {"10000T", "100Gi", 1},
      {"9.01", "9.01", 0},
      {"9", "9.01", -1},
      {"9.01", "9", 1},
      {"0", "0Mi", 0},
      {"800m", "1", -1},
      {"800m", "790m", 1},
      {"9223372036854775807", "100m", 1},
      {"-9223372036854775808", "0", -1},
      {"-9223372036854775808e-18", "-1", -1},
      {"-9223372036854775808e-19", "-1", 1},
      {"1000000000000000000e-17", "10", 0},
      {"1000000000000000001e-17", "10", 1},
      {"9999999999e-9", "10", -1},
      // 9.99999999999999999 is finer than 1n and rounds up to 10 when parsed.
      {"999999999999999999e-17", "10", 0},
      {"1Gi", "1073741824", 0},
      {"1Ki", "1k", 1},
      {"1e3", "1k", 0},
      {"-1", "1n", -1},
      {"1n", "0", 1},
  };
  for (const Case& c : cases) {
    Quantity a = Q(c.a), b = Q(c.b);
    EXPECT_EQ(a.Compare(b), c.want) << c.a << " vs " << c.b;
    EXPECT_EQ(b.Compare(a), -c.want) << c.b << " vs " << c.a;
    EXPECT_EQ(a == b, c.want == 0);
    EXPECT_EQ(a < b, c.want < 0);
    EXPECT_EQ(a > b, c.want > 0);
  }
  EXPECT_EQ(Q("-5").Sign(), -1);
  EXPECT_EQ(Q("0Ki").Sign(), 0);
  EXPECT_EQ(Q("1n").Sign(), 1);
  EXPECT_TRUE(Q("-0").IsZero());
  EXPECT_TRUE(Q("0.0Gi").IsZero());
  EXPECT_FALSE(Q("1n").IsZero());
}

// TestAdd, TestSub, TestQuantityAddZeroPreservesSuffix and friends.
TEST(QuantityTest, Arithmetic) {
  EXPECT_EQ((Q("10") + Q("1e1")).Compare(Q("20")), 0);
  EXPECT_EQ((Q("10") - Q("1e1")).Compare(Q("0")), 0);
  // The left operand's format wins...
  EXPECT_EQ((Quantity::FromInt(10) + Quantity::FromInt(1, F::kBinarySI)).format(), F::kDecimalSI);
  EXPECT_EQ((Quantity::FromInt(10, F::kBinarySI) - Quantity::FromInt(1)).format(), F::kBinarySI);
  // ...unless it is zero.
  for (const char* s : {"100m", "1Gi", "2e3"}) {
    EXPECT_EQ((Q(s) + Q("0")).String(), s);
    EXPECT_EQ((Q("0") + Q(s)).String(), s);
    EXPECT_EQ((Q(s) - Q("0")).String(), s);
    EXPECT_EQ((Q("0") - Q(s)).String(), "-" + std::string(s));
  }
  EXPECT_EQ((Q("1Gi") + Q("512Mi")).String(), "1536Mi");
  EXPECT_EQ((Q("1Gi") - Q("1Gi")).String(), "0");
  EXPECT_EQ((Q("500m") + Q("500m")).String(), "1");
  EXPECT_EQ((Q("1") - Q("1n")).String(), "999999999n");
  EXPECT_EQ((Q("1.5") + Q("-2")).String(), "-500m");

  Quantity sum;
  sum += Q("250m");
  sum += Q("250m");
  sum -= Q("100m");
  EXPECT_EQ(sum.String(), "400m");
  EXPECT_EQ((-Q("0")).String(), "0");
  EXPECT_EQ((-(-Q("1Gi"))).String(), "1Gi");

  // Values past int64 stay exact.
  EXPECT_EQ((Q("9223372036854775807") + Q("1")).String(), "9223372036854775808");
  // Only parsing caps binary values at 2^63-1, not arithmetic (as in
  // Kubernetes).
  Quantity eight_ei = Q("4Ei") + Q("4Ei");
  EXPECT_EQ(eight_ei.String(), "8Ei");
  EXPECT_EQ((eight_ei + eight_ei).String(), "16Ei");
}

TEST(QuantityTest, ArithmeticSaturatesAtTheLimit) {
  Quantity big = Q("99999999999999999999999999999");
  Quantity sum = big + big;
  EXPECT_EQ(sum.String(), "99999999999999999999999999999999999999n");
  EXPECT_EQ(sum.Compare(big), 1);
  EXPECT_EQ((-big - big).String(), "-99999999999999999999999999999999999999n");
  EXPECT_EQ((sum - big).String(), "999999999n");
}

}  // namespace
}  // namespace bosun
