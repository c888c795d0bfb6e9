#pragma once

// A value or the text of why there is none: the return type of the policy library's fallible
// functions whose errors are shown to a person (an IG officer, a client's problem body) rather
// than branched on. Asking an error for its value is a programming error and throws
// std::logic_error; check has_value() (or `if (r)`) first.

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace dsa::policy {

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] static result failure(std::string error) {
    result r;
    r.error_ = std::move(error);
    return r;
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

  // Why there is no value; empty when there is one.
  const std::string& error() const noexcept { return error_; }

 private:
  result() = default;
  void check() const {
    if (!value_) {
      throw std::logic_error("result::value() called on an error: " + error_);
    }
  }

  std::optional<T> value_;
  std::string error_;
};

}  // namespace dsa::policy
