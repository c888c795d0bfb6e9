#!/usr/bin/env bash
# Validates OpenAPI documents written by `dsa openapi` with the pinned @redocly/cli
# (tools/openapi/package.json, installed by tools/install-deps.sh). Exit 0 valid; 1 invalid;
# 2 the validator is not installed.
# Usage: tools/openapi/lint.sh FILE...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
redocly="$here/node_modules/.bin/redocly"
if [ ! -x "$redocly" ]; then
  echo "lint.sh: $redocly is missing; run tools/install-deps.sh (npm ci --prefix tools/openapi)" >&2
  exit 2
fi
# No telemetry and no version check: the tests run with the network limited to loopback.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
exec "$redocly" lint --config "$here/redocly.yaml" --format stylish "$@"
