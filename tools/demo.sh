#!/usr/bin/env bash
# The demo command: installs the Debian packages, builds, makes a development PKI, starts the
# sample partner systems and a gateway loaded with the example agreements, then shows with curl
# what is allowed and what is refused, and ends with `dsa audit query` and `dsa audit verify` on
# what just happened. Everything it writes is under demo-run/; it stops every process it starts.
#
# Usage: tools/demo.sh            (DSA_DEMO_SKIP_BUILD=1 reuses an existing build/)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
build=${DSA_BUILD_DIR:-$top/build}

if [ "${DSA_DEMO_SKIP_BUILD:-0}" != 1 ]; then
  tools/install-deps.sh
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j2 --target dsa dsa-gateway
fi
dsa=$build/tools/dsa
gateway=$build/gateway/dsa-gateway

run=$top/demo-run
rm -rf "$run"
mkdir -p "$run"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

bold=$(printf '\033[1m'); plain=$(printf '\033[0m')
[ -t 1 ] || { bold=''; plain=''; }
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

# Waits for a process to print its "listening" line into FILE and echoes that line.
wait_for_line() {
  local file=$1 pattern=$2 pid=$3
  for _ in $(seq 1 100); do
    if grep -q "$pattern" "$file" 2>/dev/null; then
      grep -m1 "$pattern" "$file"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "process $pid exited early:" >&2; cat "$file" >&2; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for '$pattern' in $file" >&2
  return 1
}

step "Development PKI (certs/make-dev-pki.sh)"
certs/make-dev-pki.sh "$run/certs" >"$run/pki.log" 2>&1 || { cat "$run/pki.log"; exit 1; }
echo "CA, gateway, six partner, expired, revoked, untrusted and serverAuth-only certificates in demo-run/certs"

step "Sample partner systems (tools/sample_upstream.py over TLS)"
python3 tools/sample_upstream.py --listen 127.0.0.1:0 --tls-cert "$run/certs/upstream.pem" \
  --tls-key "$run/certs/upstream.key" >"$run/upstream.out" 2>"$run/upstream.err" &
pids+=($!)
line=$(wait_for_line "$run/upstream.out" "listening on" "${pids[-1]}")
upstream_port=${line##*:}
echo "$line"

cat >"$run/gateway.yaml" <<EOF
# Demo: one gateway serving every example endpoint, each upstream being the sample system.
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
threads: 1
tls:
  certificate: certs/gateway.pem
  private_key: certs/gateway.key
  min_version: "1.2"
  trust_anchors:
    - {name: partner-ca, ca_file: certs/ca.pem, crl_file: certs/crl.pem}
agreements_dir: $top/agreements
upstreams:
EOF
for name in police-records council-asb council-cctv fire-prevention mash-police mash-childrens \
  mash-health housing-tenancy; do
  printf '  %s: {url: "https://127.0.0.1:%s", ca_file: certs/upstream-ca.pem}\n' \
    "$name" "$upstream_port" >>"$run/gateway.yaml"
done
cat >>"$run/gateway.yaml" <<EOF
audit: {path: audit.db, signing_key: audit-signing-key.pem, origin: "demo dsa-gateway"}
EOF

step "dsa-gateway --check"
"$gateway" --config "$run/gateway.yaml" --check

step "Starting dsa-gateway"
"$gateway" --config "$run/gateway.yaml" >"$run/gateway.out" 2>"$run/gateway.log" &
pids+=($!)
line=$(wait_for_line "$run/gateway.out" "^listening" "${pids[-1]}")
echo "$line"
https=${line#*https=}; https=${https%% *}
admin=${line#*admin=}
base="https://$https"

# curl as a partner: AS PARTY METHOD TARGET [headers...]
as() {
  local party=$1 method=$2 target=$3
  shift 3
  local args=(-sS --cacert "$run/certs/ca.pem" --cert "$run/certs/$party.pem"
    --key "$run/certs/$party.key" -X "$method" --path-as-is -o "$run/body" -D "$run/headers"
    -w '%{http_code}')
  for h in "$@"; do args+=(-H "$h"); done
  local code
  code=$(curl "${args[@]}" "$base$target" 2>"$run/curl.err") || code="000"
  printf '%s %s %s  →  HTTP %s\n' "$party" "$method" "$target" "$code"
  if [ "$code" = 000 ]; then
    sed 's/^/   /' "$run/curl.err"
  else
    grep -i '^\(dsa-agreement\|handling-caveat\):' "$run/headers" | sed 's/^/   /' || true
    python3 -m json.tool "$run/body" >"$run/body.pretty" 2>/dev/null || cp "$run/body" "$run/body.pretty"
    sed -n '1,40p' "$run/body.pretty" | sed 's/^/   /'
  fi
}

# The sum of dsa_requests_total on the admin listener's /metrics.
requests_counted() {
  curl -sS "http://$admin/metrics" | awk '/^dsa_requests_total/ {n += $NF} END {print n + 0}'
}
echo "admin /metrics: dsa_requests_total = $(requests_counted) before any request"

step "Allowed: police read a council ASB case; fields the agreement does not list are stripped"
echo "The council's system holds informant details and internal notes for this case:"
grep -o '"\(informants\|internal_notes\|date_of_birth\|address\|phone\|vulnerability_notes\)"' tools/upstream-fixtures/asb-case.json \
  | sort -u | sed 's/^/   /'
as northshire-police GET /asb/v1/cases/ASB-2026-000123 \
  "DSA-Purpose: asb-case-management" "DSA-Case-Ref: ASB-2026-000123"

step "Refused: the same request without DSA-Purpose"
as northshire-police GET /asb/v1/cases/ASB-2026-000123 "DSA-Case-Ref: ASB-2026-000123"

step "Refused: a purpose the agreement does not permit"
as northshire-police GET /asb/v1/cases/ASB-2026-000123 \
  "DSA-Purpose: marketing" "DSA-Case-Ref: ASB-2026-000123"

step "Refused: no case reference"
as northshire-police GET /asb/v1/cases/ASB-2026-000123 "DSA-Purpose: asb-case-management"

step "Refused: a case the council has marked restricted is withheld whole"
as northshire-police GET /asb/v1/cases/ASB-2026-000666 \
  "DSA-Purpose: asb-case-management" "DSA-Case-Ref: ASB-2026-000666"

step "Refused: the fire service asking for an ASB case (another agency's endpoint)"
as northshire-fire GET /asb/v1/cases/ASB-2026-000123 \
  "DSA-Purpose: asb-case-management" "DSA-Case-Ref: ASB-2026-000123"

step "Refused at the TLS handshake: a revoked police certificate"
as revoked GET /asb/v1/cases/ASB-2026-000123 \
  "DSA-Purpose: asb-case-management" "DSA-Case-Ref: ASB-2026-000123"

step "Refused: a path-traversal attempt"
as northshire-police GET '/asb/v1/cases/..%2F..%2Fadmin' "DSA-Purpose: asb-case-management"

step "Refused: a volume cap (the council may read one case's police incidents 5 times a day)"
for i in 1 2 3 4 5; do
  out=$(as kingsbury-council GET /records/v1/asb-cases/ASB-2026-000123/incidents \
    "DSA-Purpose: asb-case-management" "DSA-Case-Ref: ASB-2026-000123")
  printf '%s\n' "${out%%$'\n'*}"
done
as kingsbury-council GET /records/v1/asb-cases/ASB-2026-000123/incidents \
  "DSA-Purpose: asb-case-management" "DSA-Case-Ref: ASB-2026-000123"

step "Auditor: keep a signed checkpoint now (a partner gateway or auditor stores it)"
# Checkpoints are signed at least every second while entries arrive: wait for one to exist.
for _ in $(seq 50); do
  "$dsa" audit checkpoint --db "$run/audit.db" -o "$run/saved-checkpoint.json" 2>/dev/null && break
  sleep 0.1
done
cat "$run/saved-checkpoint.json"

step "Admin: /readyz and /metrics after the requests above"
curl -sS "http://$admin/readyz"; echo
echo "dsa_requests_total = $(requests_counted) in all, by decision, reason and agreement:"
curl -sS "http://$admin/metrics" | grep '^dsa_requests_total' | head -12

step "Stopping the gateway (SIGTERM: drain, final checkpoint)"
kill -TERM "${pids[1]}"
wait "${pids[1]}" && echo "dsa-gateway exited 0"

step "Auditor: dsa audit query"
"$dsa" audit query --db "$run/audit.db" --format table

step "Auditor: dsa audit verify with the exported public key"
"$dsa" audit export-key --db "$run/audit.db" >"$run/audit.pub"
"$dsa" audit verify --db "$run/audit.db" --key "$run/audit.pub"

step "Auditor: dsa audit consistency proves the log only grew since the saved checkpoint"
"$dsa" audit consistency --db "$run/audit.db" --from "$run/saved-checkpoint.json" --key "$run/audit.pub"

step "Done. Files are in demo-run/ (gateway.yaml, gateway.log, audit.db, certs/)."
