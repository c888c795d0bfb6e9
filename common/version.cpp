#include "common/version.hpp"

namespace dsa::common {

const char* version() noexcept { return DSA_VERSION; }

}  // namespace dsa::common
