// core/duration.h — durations in Go's syntax ("300ms", "1.5h", "2h45m").
//
// Manifests and flags write durations the way Kubernetes does, which is Go's
// time.ParseDuration / Duration.String(). ParseDuration accepts exactly what
// Go accepts: an optional sign, then one or more <number><unit> terms, where
// the number may have a fraction ("1.5h", ".5s", "1.s") and the unit is one of
// ns, us, µs (U+00B5 or U+03BC), ms, s, m, h; a bare "0" (or "+0", "-0") is
// zero. The sum must fit a signed 64-bit count of nanoseconds. Fractions are
// converted with the same float64 arithmetic as Go, so results agree with Go
// to the nanosecond.
//
// On failure ParseDuration returns Code::kInvalid with a message that quotes
// the input and says what is wrong. Both functions are pure and thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/result.h"

namespace bosun {

Result<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// Go's Duration.String(): "1h2m3s", "1.5s", "300ms", "1µs", "0s", "-1m0s".
// Sub-second values use the largest of ms, µs, ns that keeps a non-zero
// integer part; longer ones are h/m/s with a fractional seconds part.
std::string FormatDuration(std::chrono::nanoseconds d);

}  // namespace bosun
