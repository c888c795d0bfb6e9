#!/usr/bin/env bash
# The test command: installs the Debian packages, builds everything and runs every test
# (unit, CLI, audit crash and failure tests, gateway integration tests over real TLS, packaging).
# CI runs exactly this (.ci/run). Usage: tools/test.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2
ctest --test-dir build --output-on-failure --timeout 600 "$@"
