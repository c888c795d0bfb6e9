#pragma once

// The one return type of the project's fallible operations: a value, or the text of why there is
// none. The text is for people (an operator's log, an auditor's terminal, a client's problem
// body): it names the file, field or row and what was expected, and callers pass it on rather
// than branch on it. Where a caller must tell kinds of failure apart, the value itself says so
// (e.g. audit::verify_result's problems, a policy decision's reason).
//
//   dsa::result<T>     a T, or an error
//   dsa::result<void>  success, or an error (operations with nothing to return)
//
// Build an error with dsa::fail("…"), which converts to any result; a default-constructed
// result<void> is success. Both are [[nodiscard]]: an ignored failure does not compile quietly.
// Asking an error for its value is a programming error and throws std::logic_error; test the
// result (`if (r)`, has_value()) first. Nothing else here throws.
//
// Thread safety: a value type, like std::optional.

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace dsa {

// An error on its way into some result<T>; see fail().
struct [[nodiscard]] failure {
  std::string message;
};

// `return dsa::fail("audit store x.db is not writable");` from a function returning any result.
[[nodiscard]] inline failure fail(std::string message) { return failure{std::move(message)}; }

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : value_(std::move(value)) {}             // NOLINT(google-explicit-constructor)
  result(dsa::failure f) : error_(std::move(f.message)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] static result failure(std::string error) {
    return result(dsa::failure{std::move(error)});
  }

  bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }

  const T& value() const& {
    check();
    return *value_;
  }
  T& value() & {
    check();
    return *value_;
  }
  T&& value() && {
    check();
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  // Why there is no value; empty when there is one.
  const std::string& error() const noexcept { return error_; }

 private:
  void check() const {
    if (!value_) {
      throw std::logic_error("result::value() called on an error: " + error_);
    }
  }

  std::optional<T> value_;
  std::string error_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;     // success
  result(dsa::failure f)  // NOLINT(google-explicit-constructor)
      : failed_(true), error_(std::move(f.message)) {}

  [[nodiscard]] static result failure(std::string error) {
    return result(dsa::failure{std::move(error)});
  }

  bool has_value() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return has_value(); }
  // Why it failed; empty on success.
  const std::string& error() const noexcept { return error_; }

 private:
  bool failed_ = false;
  std::string error_;
};

}  // namespace dsa
