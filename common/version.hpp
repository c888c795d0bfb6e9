#pragma once

// The project version (CMakeLists.txt, project(VERSION)), for `--version` and dsa_build_info.
// Only common/version.cpp is compiled with it, so a version bump rebuilds one file.

namespace dsa::common {

[[nodiscard]] const char* version() noexcept;

}  // namespace dsa::common
