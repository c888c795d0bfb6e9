#!/usr/bin/env bash
# Installs the Debian 12 packages DSA Gateway needs to build, test and run its demo.
# clang-16 and libclang-rt-16-dev build the libFuzzer targets (fuzz/); llvm provides the
# llvm-symbolizer that turns sanitizer reports into file:line stacks; clang-format checks the
# source layout (tools/check-format.sh). nginx-light is the other side of `dsa-bench http
# --compare-nginx`; linux-perf (user-space only, no kernel module) profiles the gateway under load
# and heaptrack shows where its memory goes (docs/performance.md §5 and §7); lintian checks the
# .deb (packaging/test-package.sh). chromium renders `dsa audit report`'s HTML headless in its
# test (tests/audit/report_chromium.sh).
# nodejs and npm (Debian's, when no npm is on PATH) install the pinned OpenAPI validator that
# checks `dsa openapi` documents (tools/openapi/package.json and package-lock.json, `npm ci`).
# Idempotent: packages already present are left alone. Works as root (CI) or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ccache pkg-config git
  libboost1.81-dev libssl-dev openssl libyaml-cpp-dev libsqlite3-dev sqlite3
  catch2 libcli11-dev libhowardhinnant-date-dev tzdata
  libboost-json1.81-dev curl python3 dpkg-dev file lintian
  python3-yaml python3-jsonschema
  testssl.sh
  clang-16 libclang-rt-16-dev llvm clang-format
  nginx-light linux-perf heaptrack
  libjemalloc-dev
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# A node.js that brings its own npm (another packaging of it) is used as it is; otherwise Debian's.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The OpenAPI validator, exactly as locked; reinstalled only when the pinned version changes.
openapi_dir=tools/openapi
pinned=$(node -p "require('./$openapi_dir/package.json').dependencies['@redocly/cli']")
installed=$(node -p "try { require('./$openapi_dir/node_modules/@redocly/cli/package.json').version } catch (e) { '' }")
if [ "$installed" = "$pinned" ] && [ -x "$openapi_dir/node_modules/.bin/redocly" ]; then
  echo "install-deps: @redocly/cli $pinned present"
else
  echo "install-deps: installing @redocly/cli $pinned (npm ci --prefix $openapi_dir)"
  npm ci --prefix "$openapi_dir" --no-audit --no-fund
fi
