#pragma once

// The policy library's fallible functions return the project's result type (common/result.hpp);
// dsa::policy::result names it for the code that spells it so.

#include "common/result.hpp"

namespace dsa::policy {

template <class T>
using result = dsa::result<T>;

}  // namespace dsa::policy
