// core/result.h — the one error type of bosun.
//
// Functions that can fail return Result<T>: either a value or an Error (a code
// and a message written for a person at a terminal). No exception crosses a
// component boundary; library exceptions are caught at the edge and turned into
// an Error. A Result is cheap when it holds a value.
//
//   Result<Config> cfg = LoadConfig(path);
//   if (!cfg) return cfg.error();          // propagate
//   use(*cfg);
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace bosun {

// Error codes follow the Kubernetes Status reasons where one fits, so the API
// layer can map them to HTTP codes without a table per call site.
enum class Code {
  kOk = 0,
  kInvalid,          // bad input from a user (422 / exit 1)
  kNotFound,         // 404
  kAlreadyExists,    // 409
  kConflict,         // 409, stale resourceVersion or precondition failed
  kUnauthorized,     // 401
  kForbidden,        // 403
  kUnavailable,      // 503, try again (no leader, remote down)
  kTimeout,          // 504
  kCompacted,        // 410, revision no longer available
  kTooLarge,         // 413, input over a size limit
  kIo,               // filesystem or network failure
  kInternal,         // a bug in bosun
};

const char* CodeName(Code c);

class Error {
 public:
  Error(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy with "context: " prepended, for adding where the error came
  // from as it travels up ("examples-repo/web.yaml: ...").
  Error Wrap(const std::string& context) const { return Error(code_, context + ": " + message_); }

 private:
  Code code_;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

  T value_or(T fallback) const { return ok() ? std::get<0>(v_) : std::move(fallback); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), has_err_(true) {}  // NOLINT

  bool ok() const { return !has_err_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { assert(has_err_); return err_; }

 private:
  Error err_{Code::kOk, ""};
  bool has_err_ = false;
};

using Status = Result<void>;

inline Status Ok() { return Status(); }

}  // namespace bosun
