#include "core/duration.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <utility>

namespace bosun {
namespace {

constexpr uint64_t kTwo63 = uint64_t{1} << 63;

constexpr uint64_t kNanosecond = 1;
constexpr uint64_t kMicrosecond = 1000 * kNanosecond;
constexpr uint64_t kMillisecond = 1000 * kMicrosecond;
constexpr uint64_t kSecond = 1000 * kMillisecond;
constexpr uint64_t kMinute = 60 * kSecond;
constexpr uint64_t kHour = 60 * kMinute;

constexpr std::array<std::pair<std::string_view, uint64_t>, 8> kUnits = {{
    {"ns", kNanosecond},
    {"us", kMicrosecond},
    {"\xc2\xb5s", kMicrosecond},  // U+00B5 micro sign
    {"\xce\xbcs", kMicrosecond},  // U+03BC Greek mu
    {"ms", kMillisecond},
    {"s", kSecond},
    {"m", kMinute},
    {"h", kHour},
}};

constexpr std::string_view kUnitHelp = "use ns, us, ms, s, m or h";

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  out += '"';
  return out;
}

// Go's leadingInt: consumes [0-9]*; false on overflow past 2^63.
bool LeadingInt(std::string_view& s, uint64_t& x) {
  x = 0;
  size_t i = 0;
  for (; i < s.size() && IsDigit(s[i]); ++i) {
    if (x > kTwo63 / 10) return false;
    x = x * 10 + static_cast<uint64_t>(s[i] - '0');
    if (x > kTwo63) return false;
  }
  s.remove_prefix(i);
  return true;
}

// Go's leadingFraction: consumes [0-9]*, keeping only as many digits as fit;
// value = x / scale.
void LeadingFraction(std::string_view& s, uint64_t& x, double& scale) {
  x = 0;
  scale = 1;
  bool overflow = false;
  size_t i = 0;
  for (; i < s.size() && IsDigit(s[i]); ++i) {
    if (overflow) continue;
    if (x > (kTwo63 - 1) / 10) {
      overflow = true;
      continue;
    }
    uint64_t y = x * 10 + static_cast<uint64_t>(s[i] - '0');
    if (y > kTwo63) {
      overflow = true;
      continue;
    }
    x = y;
    scale *= 10;
  }
  s.remove_prefix(i);
}

std::string UnknownUnit(std::string_view unit) {
  std::string msg = "unknown unit " + Quote(unit);
  if (unit == "d" || unit == "day" || unit == "days") return msg + " (there is no day unit: write 24h)";
  if (unit == "w") return msg + " (there is no week unit: write 168h)";
  if (unit == "sec" || unit == "secs" || unit == "S") return msg + " (write s, as in 30s)";
  if (unit == "min" || unit == "mins" || unit == "M") return msg + " (write m, as in 5m)";
  if (unit == "hr" || unit == "hrs" || unit == "H") return msg + " (write h, as in 2h)";
  return msg + " (" + std::string(kUnitHelp) + ")";
}

}  // namespace

Result<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  auto fail = [&](const std::string& why) {
    return Error(Code::kInvalid, Quote(text) + " is not a valid duration: " + why);
  };
  constexpr std::string_view kExample = " (write a number and a unit, like 300ms, 1.5h or 2h45m)";
  if (text.empty()) return fail("it is empty" + std::string(kExample));
  if (std::any_of(text.begin(), text.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
    return fail("it must not contain spaces");
  }

  std::string_view s = text;
  bool negative = false;
  if (s[0] == '-' || s[0] == '+') {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  // Go special-cases a lone zero: it needs no unit.
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return fail("there is no number after the sign" + std::string(kExample));

  constexpr std::string_view kRange = "it is out of range (a duration must be within about 292 years, 2562047h)";
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || IsDigit(s[0]))) {
      return fail("expected a number at " + Quote(s) + std::string(kExample));
    }
    uint64_t whole = 0;
    size_t before = s.size();
    if (!LeadingInt(s, whole)) return fail(std::string(kRange));
    bool pre = s.size() != before;
    uint64_t frac = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t at = s.size();
      LeadingFraction(s, frac, scale);
      post = s.size() != at;
    }
    if (!pre && !post) return fail("a \".\" needs digits on at least one side");

    size_t i = 0;
    while (i < s.size() && s[i] != '.' && !IsDigit(s[i])) ++i;
    if (i == 0) {
      return fail("missing unit after the number " + Quote(text.substr(0, text.size() - s.size())) + " (" +
                  std::string(kUnitHelp) + ", e.g. \"30s\")");
    }
    std::string_view unit_text = s.substr(0, i);
    s.remove_prefix(i);
    uint64_t unit = 0;
    for (const auto& [name, value] : kUnits) {
      if (name == unit_text) unit = value;
    }
    if (unit == 0) return fail(UnknownUnit(unit_text));

    if (whole > kTwo63 / unit) return fail(std::string(kRange));
    whole *= unit;
    if (frac > 0) {
      // Same float64 expression as Go, so fractions round identically.
      whole += static_cast<uint64_t>(static_cast<double>(frac) * (static_cast<double>(unit) / scale));
      if (whole > kTwo63) return fail(std::string(kRange));
    }
    total += whole;
    if (total > kTwo63) return fail(std::string(kRange));
  }
  if (negative) return std::chrono::nanoseconds(static_cast<int64_t>(0 - total));
  if (total > kTwo63 - 1) return fail(std::string(kRange));
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

namespace {

// Go's fmtFrac: appends the fraction v / 10^prec (without trailing zeros, and
// without the point when it is zero) to the front of out; returns v / 10^prec.
uint64_t PrependFraction(std::string& out, uint64_t v, int prec) {
  std::string frac;
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    uint64_t digit = v % 10;
    print = print || digit != 0;
    if (print) frac.insert(frac.begin(), static_cast<char>('0' + digit));
    v /= 10;
  }
  if (print) out.insert(0, "." + frac);
  return v;
}

void PrependInt(std::string& out, uint64_t v) {
  out.insert(0, std::to_string(v));
}

}  // namespace

std::string FormatDuration(std::chrono::nanoseconds d) {
  int64_t n = d.count();
  // Two's complement negation in unsigned arithmetic handles INT64_MIN.
  uint64_t u = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  std::string out;
  if (u < kSecond) {
    if (u == 0) return "0s";
    int prec = 0;
    if (u < kMicrosecond) {
      out = "ns";
    } else if (u < kMillisecond) {
      out = "\xc2\xb5s";  // Go writes the micro sign U+00B5.
      prec = 3;
    } else {
      out = "ms";
      prec = 6;
    }
    u = PrependFraction(out, u, prec);
    PrependInt(out, u);
  } else {
    out = "s";
    u = PrependFraction(out, u, 9);
    PrependInt(out, u % 60);
    u /= 60;
    if (u > 0) {
      out.insert(0, "m");
      PrependInt(out, u % 60);
      u /= 60;
      if (u > 0) {
        out.insert(0, "h");
        PrependInt(out, u);
      }
    }
  }
  if (n < 0) out.insert(0, "-");
  return out;
}

}  // namespace bosun
