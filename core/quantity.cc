#include "core/quantity.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>

namespace bosun {
namespace {

using U128 = unsigned __int128;
using I128 = __int128;

constexpr I128 Pow10(int n) {
  I128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

constexpr I128 kNano = Pow10(9);
// Magnitudes are kept below 10^38 nano-units (1e29 units), which a signed
// 128-bit integer holds (its limit is 1.7e38) and which is a round number to
// state in an error message.
constexpr I128 kLimit = Pow10(38);
constexpr I128 kMaxNanos = kLimit - 1;
// Kubernetes caps BinarySI values at 2^63-1 (resource.maxAllowed).
constexpr I128 kBinaryCapNanos = static_cast<I128>(std::numeric_limits<int64_t>::max()) * kNano;

struct SuffixInfo {
  std::string_view text;
  int base;      // 10 or 2
  int exponent;  // power of base
  Quantity::Format format;
};

constexpr std::array<SuffixInfo, 16> kSuffixes = {{
    {"", 10, 0, Quantity::Format::kDecimalSI},
    {"n", 10, -9, Quantity::Format::kDecimalSI},
    {"u", 10, -6, Quantity::Format::kDecimalSI},
    {"m", 10, -3, Quantity::Format::kDecimalSI},
    {"k", 10, 3, Quantity::Format::kDecimalSI},
    {"M", 10, 6, Quantity::Format::kDecimalSI},
    {"G", 10, 9, Quantity::Format::kDecimalSI},
    {"T", 10, 12, Quantity::Format::kDecimalSI},
    {"P", 10, 15, Quantity::Format::kDecimalSI},
    {"E", 10, 18, Quantity::Format::kDecimalSI},
    {"Ki", 2, 10, Quantity::Format::kBinarySI},
    {"Mi", 2, 20, Quantity::Format::kBinarySI},
    {"Gi", 2, 30, Quantity::Format::kBinarySI},
    {"Ti", 2, 40, Quantity::Format::kBinarySI},
    {"Pi", 2, 50, Quantity::Format::kBinarySI},
    {"Ei", 2, 60, Quantity::Format::kBinarySI},
}};

constexpr std::string_view kSuffixHelp =
    "use one of n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent like 2e3";

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The input as it appears in messages: quoted, control bytes escaped, and cut
// short so a pasted megabyte does not become a megabyte of error.
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

std::string U128ToString(U128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v != 0) {
    s += static_cast<char>('0' + static_cast<int>(v % 10));
    v /= 10;
  }
  std::reverse(s.begin(), s.end());
  return s;
}

// Multiplies a decimal digit string (most significant first) by m in place.
void MultiplyDigits(std::string& digits, unsigned m) {
  unsigned carry = 0;
  for (size_t i = digits.size(); i-- > 0;) {
    unsigned d = static_cast<unsigned>(digits[i] - '0') * m + carry;
    digits[i] = static_cast<char>('0' + d % 10);
    carry = d / 10;
  }
  while (carry != 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + carry % 10));
    carry /= 10;
  }
}

// value = digits * 10^exp10 (digits has no leading zero and is not empty),
// converted to nano-units and rounded up. Returns false when the result does
// not fit below 10^38.
bool ToNanos(std::string_view digits, int64_t exp10, I128& out) {
  int64_t e = exp10 + 9;
  int64_t len = static_cast<int64_t>(digits.size());
  // digits >= 10^(len-1), so the value is >= 10^(len-1+e).
  if (len + e > 38) return false;
  I128 v = 0;
  if (e >= 0) {
    for (char c : digits) v = v * 10 + (c - '0');
    v *= Pow10(static_cast<int>(e));
  } else {
    int64_t keep = len + e;  // digits left of the nano point
    if (keep <= 0) {
      v = 1;  // a positive amount below 1n rounds up to 1n
    } else {
      for (int64_t i = 0; i < keep; ++i) v = v * 10 + (digits[i] - '0');
      bool inexact = std::any_of(digits.begin() + keep, digits.end(), [](char c) { return c != '0'; });
      if (inexact) ++v;
    }
  }
  if (v >= kLimit) return false;
  out = v;
  return true;
}

enum class ExponentParse { kOk, kSyntax, kRange };

// Parses [+-]?digits as Go's strconv.ParseInt does: Kubernetes refuses an
// exponent that ParseInt refuses, including one that does not fit an int64.
ExponentParse ParseExponent(std::string_view s, int64_t& out) {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (i == s.size()) return ExponentParse::kSyntax;
  U128 v = 0;
  bool range = false;
  for (; i < s.size(); ++i) {
    if (!IsDigit(s[i])) return ExponentParse::kSyntax;
    if (!range) v = v * 10 + static_cast<unsigned>(s[i] - '0');
    if (v > static_cast<U128>(std::numeric_limits<int64_t>::max()) + 1) range = true;
  }
  if (range || (!neg && v > static_cast<U128>(std::numeric_limits<int64_t>::max()))) return ExponentParse::kRange;
  out = neg ? static_cast<int64_t>(-static_cast<I128>(v)) : static_cast<int64_t>(v);
  return ExponentParse::kOk;
}

// What to say about a suffix that is not one of Kubernetes'.
std::string UnknownSuffix(std::string_view number, std::string_view suffix) {
  std::string msg = "unknown suffix " + Quote(suffix);
  if ((suffix[0] == 'e' || suffix[0] == 'E') && suffix.size() > 1) {
    std::string_view rest = suffix.substr(1);
    if (rest[0] == '+' || rest[0] == '-') rest.remove_prefix(1);
    if (rest.empty()) return "the exponent " + Quote(suffix) + " has no digits (write it like 2e3 or 5e-3)";
    if (IsDigit(rest[0])) {
      return "the exponent " + Quote(suffix) + " must be a whole number (write it like 2e3 or 5e-3)";
    }
  }
  if (suffix == "e") return "the exponent " + Quote(suffix) + " has no digits (write it like 2e3 or 5e-3)";
  if (suffix == "K") {
    return msg + " (did you mean " + Quote(std::string(number) + "k") + " for 1000 or " +
           Quote(std::string(number) + "Ki") + " for 1024?)";
  }
  // "1Gb", "1GiB": people add the unit; Kubernetes implies it.
  std::string_view base = suffix;
  bool unit = false;
  if (base.size() > 1 && (base.back() == 'B' || base.back() == 'b')) {
    base.remove_suffix(1);
    unit = true;
  }
  const SuffixInfo* exact = nullptr;
  const SuffixInfo* folded = nullptr;
  for (const SuffixInfo& s : kSuffixes) {
    // With a byte unit the user means a multiple, never milli (or n, u).
    if (s.text.empty() || (unit && s.exponent < 0)) continue;
    if (s.text == base) exact = &s;
    if (Lower(s.text) == Lower(base) && folded == nullptr) folded = &s;
  }
  const SuffixInfo* guess = exact != nullptr ? exact : folded;
  if (guess != nullptr) {
    std::string want = Quote(std::string(number) + std::string(guess->text));
    if (unit) return msg + " (the unit is implied: did you mean " + want + "?)";
    return msg + " (suffixes are case-sensitive: did you mean " + want + "?)";
  }
  return msg + " (" + std::string(kSuffixHelp) + ")";
}

}  // namespace

Result<Quantity> Quantity::Parse(std::string_view text) {
  auto fail = [&](const std::string& why) {
    return Error(Code::kInvalid, Quote(text) + " is not a valid quantity: " + why);
  };
  if (text.empty()) return fail("it is empty (write a number with an optional suffix, like 500m, 128Mi or 2e3)");
  if (std::any_of(text.begin(), text.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
    return fail("it must not contain spaces");
  }

  size_t pos = 0;
  bool negative = false;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    pos = 1;
  }
  size_t int_begin = pos;
  while (pos < text.size() && IsDigit(text[pos])) ++pos;
  std::string_view int_digits = text.substr(int_begin, pos - int_begin);
  std::string_view frac_digits;
  if (pos < text.size() && text[pos] == '.') {
    size_t frac_begin = ++pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    frac_digits = text.substr(frac_begin, pos - frac_begin);
  }
  if (int_digits.empty() && frac_digits.empty()) {
    return fail("it must start with a number, as in 500m, 128Mi or 0.5");
  }
  if (pos < text.size() && text[pos] == '.') return fail("it has more than one decimal point");

  std::string_view number = text.substr(0, pos);
  std::string_view suffix = text.substr(pos);
  const SuffixInfo* info = nullptr;
  for (const SuffixInfo& s : kSuffixes) {
    if (s.text == suffix) info = &s;
  }
  int64_t exp10 = -static_cast<int64_t>(frac_digits.size());
  int binary_exp = 0;
  Format format;
  if (info != nullptr) {
    format = info->format;
    if (info->base == 10) {
      exp10 += info->exponent;
    } else {
      binary_exp = info->exponent;
    }
  } else if (suffix.size() > 1 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    int64_t e = 0;
    switch (ParseExponent(suffix.substr(1), e)) {
      case ExponentParse::kOk:
        break;
      case ExponentParse::kSyntax:
        return fail(UnknownSuffix(number, suffix));
      case ExponentParse::kRange:
        return fail("the exponent " + Quote(suffix) + " is out of range");
    }
    // Past this the value is either far above the limit or far below 1n;
    // clamping keeps the sums below in range without changing the outcome.
    e = std::clamp<int64_t>(e, -(int64_t{1} << 40), int64_t{1} << 40);
    exp10 += e;
    format = Format::kDecimalExponent;
  } else {
    return fail(UnknownSuffix(number, suffix));
  }

  std::string digits;
  digits.reserve(int_digits.size() + frac_digits.size());
  digits.append(int_digits);
  digits.append(frac_digits);
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return Quantity(0, format);
  digits.erase(0, first);
  for (int i = 0; i < binary_exp; i += 10) MultiplyDigits(digits, 1024);

  I128 nanos = 0;
  bool fits = ToNanos(digits, exp10, nanos);
  if (format == Format::kBinarySI) {
    // Kubernetes caps rather than refuses large binary quantities.
    if (!fits || nanos > kBinaryCapNanos) {
      nanos = kBinaryCapNanos;
      fits = true;
    }
    // A binary amount below 1 cannot be written with a binary suffix.
    if (nanos < kNano) format = Format::kDecimalSI;
  }
  if (!fits) return fail("it is too large (the magnitude of a quantity must be below 1e29)");
  return Quantity(negative ? -nanos : nanos, format);
}

Quantity Quantity::FromInt(int64_t value, Format format) {
  return Quantity(static_cast<I128>(value) * kNano, format);
}

Quantity Quantity::FromMilli(int64_t millis, Format format) {
  return Quantity(static_cast<I128>(millis) * Pow10(6), format);
}

std::string Quantity::String() const {
  if (nanos_ == 0) return "0";
  U128 mag = nanos_ < 0 ? static_cast<U128>(-nanos_) : static_cast<U128>(nanos_);
  std::string out = nanos_ < 0 ? "-" : "";

  Format format = format_;
  if (format == Format::kBinarySI && (mag < static_cast<U128>(1024) * kNano || mag % kNano != 0)) {
    // Below 1Ki or with a fraction no binary suffix is exact: Kubernetes
    // writes these as DecimalSI.
    format = Format::kDecimalSI;
  }

  if (format == Format::kBinarySI) {
    static constexpr std::array<std::string_view, 7> kBinary = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    U128 v = mag / kNano;
    size_t k = 0;
    // Kubernetes has no suffix past Ei, so stop there.
    while (k + 1 < kBinary.size() && v % 1024 == 0) {
      v /= 1024;
      ++k;
    }
    return out + U128ToString(v) + std::string(kBinary[k]);
  }

  // Move the factors of ten into the exponent, then back out until the
  // exponent is a multiple of 3 (rounding the exponent down, as Kubernetes).
  U128 m = mag;
  int exp = -9;
  while (m % 10 == 0) {
    m /= 10;
    ++exp;
  }
  int r = ((exp % 3) + 3) % 3;
  m *= static_cast<U128>(Pow10(r));
  exp -= r;

  if (format == Format::kDecimalExponent) {
    out += U128ToString(m);
    if (exp != 0) out += "e" + std::to_string(exp);
    return out;
  }
  // DecimalSI: E (10^18) is the largest suffix; bigger values keep a longer
  // mantissa. (Kubernetes would print no suffix at all here, which reads
  // back as a different number.)
  if (exp > 18) {
    m *= static_cast<U128>(Pow10(exp - 18));
    exp = 18;
  }
  static constexpr std::array<std::string_view, 10> kDecimal = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
  return out + U128ToString(m) + std::string(kDecimal[static_cast<size_t>((exp + 9) / 3)]);
}

namespace {
// ceil(|nanos| / unit) with the sign of nanos, clamped to int64.
int64_t ScaledAwayFromZero(I128 nanos, I128 unit) {
  I128 mag = nanos < 0 ? -nanos : nanos;
  I128 q = mag / unit + (mag % unit != 0 ? 1 : 0);
  constexpr I128 kMax = std::numeric_limits<int64_t>::max();
  if (nanos < 0) return q > kMax + 1 ? std::numeric_limits<int64_t>::min() : static_cast<int64_t>(-q);
  return q > kMax ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(q);
}

// a + b, saturated to the representable range.
I128 SaturatingAdd(I128 a, I128 b) {
  I128 sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return a < 0 ? -kMaxNanos : kMaxNanos;
  return std::clamp(sum, -kMaxNanos, kMaxNanos);
}
}  // namespace

int64_t Quantity::Value() const {
  return ScaledAwayFromZero(nanos_, kNano);
}

int64_t Quantity::MilliValue() const {
  return ScaledAwayFromZero(nanos_, Pow10(6));
}

int Quantity::Compare(const Quantity& other) const {
  if (nanos_ < other.nanos_) return -1;
  return nanos_ > other.nanos_ ? 1 : 0;
}

int Quantity::Sign() const {
  if (nanos_ < 0) return -1;
  return nanos_ > 0 ? 1 : 0;
}

Quantity Quantity::operator+(const Quantity& other) const {
  return Quantity(SaturatingAdd(nanos_, other.nanos_), nanos_ == 0 ? other.format_ : format_);
}

Quantity Quantity::operator-(const Quantity& other) const {
  // |other| < 10^38, so negating it cannot overflow.
  return Quantity(SaturatingAdd(nanos_, -other.nanos_), nanos_ == 0 ? other.format_ : format_);
}

Quantity Quantity::operator-() const {
  return Quantity(-nanos_, format_);
}

}  // namespace bosun
