#!/usr/bin/env bash
# The test command: installs the Debian packages, builds everything and runs every test
# (unit, CLI, audit crash and failure tests, gateway integration tests over real TLS, packaging).
# CI runs exactly this (.ci/run).
#
# Usage: tools/test.sh [extra ctest arguments]
#          build/ (RelWithDebInfo, GCC, -DDSA_WERROR=ON): every test (the extra arguments apply
#          here); then the fuzz smoke tests, as --fuzz (about two more minutes).
#        tools/test.sh --sanitize [extra ctest arguments]
#          build-asan/ (GCC, -fsanitize=address,undefined): every test, with every process the
#          tests start (dsa-gateway, dsa, dsa-bench) sanitized too. Any sanitizer report from any
#          process fails the run; reports are kept in build-asan/sanitizer-logs/.
#        tools/test.sh --fuzz [extra ctest arguments]
#          build-fuzz/ (clang-16, libFuzzer): a short smoke run of every fuzz target in fuzz/.
# README "Sanitizers and fuzzing" explains the options and how to fuzz for longer.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=default
case "${1:-}" in
  --sanitize) mode=sanitize; shift ;;
  --fuzz) mode=fuzz; shift ;;
esac

# Sanitizer settings for the sanitized suite (the fuzz targets keep libFuzzer's own: it prints
# the report and saves the input itself).
# - exitcode=86: a report makes the process exit 86, which no dsa tool uses, so a test that
#   checks a child's exit status cannot mistake a sanitizer report for an ordinary failure.
# - log_path: every process (test binaries and the children they start, whose stderr the tests
#   keep only in temporary directories) writes its report to a file named after the executable
#   and pid; this script fails if any such file exists after ctest, even when the test that
#   started the process only expected "some non-zero exit".
# - detect_leaks=1: LeakSanitizer works here (the tests do not run under ptrace).
# - detect_stack_use_after_return=1: sessions are C++20 coroutines whose frames live on the heap,
#   so ASan's fake stacks do not interfere with them (no stackful Boost.Context coroutines).
sanitizer_env() {
  local logs=$1
  rm -rf "$logs"
  mkdir -p "$logs"
  local common="exitcode=86:log_path=$logs/report:log_exe_name=1"
  export ASAN_OPTIONS="$common:halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1"
  export UBSAN_OPTIONS="$common:halt_on_error=1:print_stacktrace=1:report_error_type=1"
  export LSAN_OPTIONS="$common"
  if [ -x /usr/bin/llvm-symbolizer ]; then
    export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer
  fi
}

# Prints every sanitizer report left in $1 and fails if there is any.
check_sanitizer_logs() {
  local logs=$1
  local reports
  reports=$(find "$logs" -type f | sort)
  if [ -n "$reports" ]; then
    echo "test.sh: sanitizer reports in $logs:" >&2
    local f
    for f in $reports; do
      # Frames inside Asio's and Beast's own headers are thousands of characters of template
      # names and say nothing about our code: leave them out here (the file keeps them).
      echo "=== $f" >&2
      grep -v -E '/usr/include/boost/(asio|beast)/' "$f" | cut -c1-240 | head -n 80 >&2
    done
    return 1
  fi
  echo "test.sh: no sanitizer reports"
}

run_fuzz_smoke() {
  CC=clang-16 CXX=clang++-16 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDSA_FUZZ=ON
  cmake --build build-fuzz -j2 --target fuzzers
  # libFuzzer reports on stderr itself and exits non-zero on any finding; the crashing input is
  # written to build-fuzz/fuzz/crashes/.
  ctest --test-dir build-fuzz --output-on-failure -j2 -L fuzz "$@"
}

tools/install-deps.sh
case "$mode" in
  default)
    # -DDSA_WERROR=ON: a new compiler warning fails CI.
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSA_WERROR=ON
    cmake --build build -j2
    ctest --test-dir build --output-on-failure --timeout 600 "$@"
    run_fuzz_smoke
    ;;
  sanitize)
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSA_SANITIZE=ON
    cmake --build build-asan -j2
    sanitizer_env "$PWD/build-asan/sanitizer-logs"
    status=0
    ctest --test-dir build-asan --output-on-failure --timeout 1200 "$@" || status=$?
    check_sanitizer_logs "$PWD/build-asan/sanitizer-logs" || status=1
    exit "$status"
    ;;
  fuzz)
    run_fuzz_smoke "$@"
    ;;
esac
