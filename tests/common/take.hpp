#pragma once

// For tests that assert on both outcomes of a fallible call: the value of a dsa::result, or an
// empty one (a null pointer, nullopt, false), with the error text copied into `error` so the test
// can check what it says. Production code tests the result itself.

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "common/result.hpp"

namespace dsa::test {

template <class T>
std::unique_ptr<T> take(result<std::unique_ptr<T>> r, std::string& error) {
  if (!r) {
    error = r.error();
    return nullptr;
  }
  return std::move(r).value();
}

template <class T>
std::optional<T> take(result<T> r, std::string& error) {
  if (!r) {
    error = r.error();
    return std::nullopt;
  }
  return std::move(r).value();
}

inline bool take(result<void> r, std::string& error) {
  if (!r) {
    error = r.error();
    return false;
  }
  return true;
}

}  // namespace dsa::test
