// core/quantity.h — Kubernetes resource quantities ("500m", "128Mi", "2e3").
//
// A Quantity is an exact fixed-point number with the three notations of
// k8s.io/apimachinery/pkg/api/resource: DecimalSI ("1500m", "2G"), BinarySI
// ("128Mi") and DecimalExponent ("2e3"). Parse accepts exactly the strings
// Kubernetes accepts, remembers the notation that was used, and String()
// re-emits the value in Kubernetes' canonical form (so "1024Mi" → "1Gi",
// "0.5" → "500m", "1.5Gi" → "1536Mi"); two manifests that Kubernetes would
// store identically print identically here.
//
// Values are held exactly, never as floating point: a count of nano-units in
// a 128-bit integer. As in Kubernetes, anything finer than 1n is rounded up
// (away from zero) to the next nano-unit when parsed, because asking for some
// resource should never yield none. The magnitude must stay below 1e29;
// Parse refuses larger values with an error rather than lose them, except
// BinarySI values above 2^63-1, which Kubernetes silently caps to 2^63-1 and
// so do we. Arithmetic saturates at that 1e29 bound (no realistic sum of
// resources comes near it).
//
// Parse returns the quantity, or an Error (Code::kInvalid) whose message
// quotes the input and says what is wrong. A Quantity is a small immutable
// value (operators return new values); it is safe to share between threads.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace bosun {

class Quantity {
 public:
  enum class Format {
    kDecimalSI,        // 12M  (12 * 10^6), also plain numbers and m, u, n
    kBinarySI,         // 12Mi (12 * 2^20)
    kDecimalExponent,  // 12e6
  };

  // Zero, DecimalSI.
  Quantity() = default;

  // Parses the Kubernetes quantity syntax:
  //   [+-]? (digits ("." digits?)? | "." digits) suffix
  //   suffix: Ki Mi Gi Ti Pi Ei | n u m "" k M G T P E | (e|E)[+-]?digits
  // No whitespace anywhere. Errors are Code::kInvalid.
  static Result<Quantity> Parse(std::string_view text);

  // value (resp. value/1000) in the given notation, like resource.NewQuantity
  // (resp. NewMilliQuantity).
  static Quantity FromInt(int64_t value, Format format = Format::kDecimalSI);
  static Quantity FromMilli(int64_t millis, Format format = Format::kDecimalSI);

  // The canonical string, as Kubernetes' Quantity.String():
  //  - DecimalSI: the largest suffix among n u m "" k M G T P E that leaves an
  //    integral mantissa ("1080m", "1G", "300M");
  //  - DecimalExponent: "<mantissa>e<exp>" with exp a multiple of 3 ("80e-3");
  //    "e0" is omitted;
  //  - BinarySI: the largest power of 1024 that leaves an integral mantissa
  //    ("1536Mi"); values with |v| < 1024 or with a fractional part are
  //    written as DecimalSI instead ("5", "500m").
  // Zero is "0" whatever the format; negative values start with "-".
  std::string String() const;

  // ceil(|q|) (resp. ceil(|q| * 1000)) with the sign of q, i.e. rounded away
  // from zero as Kubernetes' Value()/MilliValue(). Saturates at the int64
  // limits where Kubernetes would overflow.
  int64_t Value() const;
  int64_t MilliValue() const;

  // -1, 0 or 1. Compares values only: 1Gi == 1073741824.
  int Compare(const Quantity& other) const;
  int Sign() const;
  bool IsZero() const { return nanos_ == 0; }
  Format format() const { return format_; }

  // Exact, saturating at the ±1e29 bound. As in Kubernetes, the result takes
  // the left operand's format unless the left operand is zero, in which case
  // it takes the right one's ("0" + "1Gi" prints "1Gi").
  Quantity operator+(const Quantity& other) const;
  Quantity operator-(const Quantity& other) const;
  Quantity operator-() const;
  Quantity& operator+=(const Quantity& other) { return *this = *this + other; }
  Quantity& operator-=(const Quantity& other) { return *this = *this - other; }

  friend bool operator==(const Quantity& a, const Quantity& b) { return a.nanos_ == b.nanos_; }
  friend std::strong_ordering operator<=>(const Quantity& a, const Quantity& b) { return a.nanos_ <=> b.nanos_; }

 private:
  Quantity(__int128 nanos, Format format) : nanos_(nanos), format_(format) {}

  // The value in units of 10^-9; |nanos_| < 10^38.
  __int128 nanos_ = 0;
  Format format_ = Format::kDecimalSI;
};

}  // namespace bosun
