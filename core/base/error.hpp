// Errors as they cross core's layers: a kind (which maps to an HTTP status and to
// GramothiStatus at the plugin ABI), a stable code for API clients, and a sentence for people.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace gramothi {

enum class ErrorKind {
  kInvalid,       // 400
  kUnauthorized,  // 401
  kForbidden,     // 403
  kNotFound,      // 404
  kConflict,      // 409
  kTooLarge,      // 413
  kUnavailable,   // 503
  kInternal,      // 500
};

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string code;     // stable, snake_case: "class_not_found"
  std::string message;  // one sentence for people
};

// The plugin ABI's status for a kind (GramothiStatus: one value per kind), and the HTTP status
// that answers it (gramothi_status_http in gramothi/plugin.h, the one mapping).
int32_t abi_status(ErrorKind kind);
int http_status_for(ErrorKind kind);

// A value or an Error. Small on purpose: std::expected is C++23.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T &value() { return std::get<T>(v_); }
  const T &value() const { return std::get<T>(v_); }
  T &operator*() { return value(); }
  const T &operator*() const { return value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }
  const Error &error() const { return std::get<Error>(v_); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace gramothi
