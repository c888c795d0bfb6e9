#!/usr/bin/env bash
# Packaging test (ctest): builds the dsa-gateway .deb from a build tree and checks it.
#
# Usage: packaging/test-package.sh CPACK BUILD_DIR VERSION
#
#  1. cpack -G DEB into a temporary directory;
#  2. `dpkg-deb -I`: name, version, section, maintainer, computed shared-library dependencies,
#     adduser, maintainer scripts, conffiles (gateway.yaml and every other /etc file);
#  3. `dpkg-deb -c`: binaries, unit, config, example agreements and schema, state dir, docs,
#     dev PKI script and sample upstream; no *.test.yaml, no *.pem/*.key, no private key;
#  4. `dpkg-deb -x` into a temporary root, a dev PKI from the packaged make-dev-pki.sh in
#     <root>/etc/dsa-gateway/tls-dev/, the packaged config rewritten to the extracted paths;
#     the packaged dsa-gateway --check must pass (exit 0, expected lines), and fail (exit 1)
#     while the certificates are missing; the packaged `dsa lint` must pass on the packaged
#     agreements; the unit must pass `systemd-analyze verify` when that tool is present;
#  5. copyright, changelog (by the Maintainer) and manual pages present, and lintian reports no
#     error and no warning.
# Needs dpkg-deb and dpkg-shlibdeps (dpkg-dev), file, openssl, lintian. Works as root or not; no
# fakeroot needed (CPack writes root-owned archives itself).
# shellcheck disable=SC2016  # the bash -c snippets take their arguments as $1, $2 on purpose
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 CPACK BUILD_DIR VERSION" >&2; exit 2; }
cpack="$1"
build="$(cd "$2" && pwd)"
version="$3"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/dsa-pkg-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; fails=$((fails + 1)); }
expect() { # description command...
  local what="$1"; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

for tool in dpkg-deb dpkg-shlibdeps file openssl readelf; do
  command -v "$tool" >/dev/null || { echo "test-package: $tool not found (tools/install-deps.sh)" >&2; exit 1; }
done

# 1. Build the package.
echo "test-package: cpack -G DEB"
if ! (cd "$tmp" && "$cpack" --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1); then
  cat "$tmp/cpack.log"
  echo "test-package: cpack failed" >&2
  exit 1
fi
debs=("$tmp"/out/dsa-gateway_"${version}"_*.deb)
[ -f "${debs[0]}" ] || { cat "$tmp/cpack.log"; echo "test-package: no dsa-gateway_${version}_*.deb produced" >&2; exit 1; }
deb="${debs[0]}"
echo "test-package: built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

# 2. Metadata.
info="$(dpkg-deb -I "$deb")"
control="$(dpkg-deb -f "$deb")"
field() { dpkg-deb -f "$deb" "$1"; }
echo "$control" | sed 's/^/    /'
expect "Package: dsa-gateway" test "$(field Package)" = dsa-gateway
expect "Version: $version" test "$(field Version)" = "$version"
expect "Section: net" test "$(field Section)" = net
expect "Maintainer set" test -n "$(field Maintainer)"
depends="$(field Depends)"
expect "Depends computed by dpkg-shlibdeps (libc6, libssl3, libsqlite3-0, libyaml-cpp)" \
  bash -c '[[ "$1" == *libc6* && "$1" == *libssl3* && "$1" == *libsqlite3-0* && "$1" == *libyaml-cpp* ]]' _ "$depends"
expect "Depends on adduser" grep -qw adduser <<<"$depends"
for member in postinst prerm postrm conffiles; do
  expect "control member $member" grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\*? *$member( |$)" <<<"$info"
done
conffiles="$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)"
expect "conffile /etc/dsa-gateway/gateway.yaml" grep -qx /etc/dsa-gateway/gateway.yaml <<<"$conffiles"

# 3. Contents.
dpkg-deb -c "$deb" >"$tmp/contents"
paths="$(awk '{print $NF}' "$tmp/contents" | sed 's|^\./|/|')"
has() { grep -qxF -- "$1" <<<"$paths"; }
for p in /usr/bin/dsa /usr/bin/dsa-gateway /usr/bin/dsa-bench \
         /lib/systemd/system/dsa-gateway.service \
         /etc/dsa-gateway/gateway.yaml /etc/dsa-gateway/agreements/agreement.schema.json \
         /var/lib/dsa-gateway/ \
         /usr/share/doc/dsa-gateway/README.md /usr/share/doc/dsa-gateway/operations.md \
         /usr/share/doc/dsa-gateway/agreements.md /usr/share/doc/dsa-gateway/dev-pki.md \
         /usr/share/dsa-gateway/make-dev-pki.sh /usr/share/dsa-gateway/sample_upstream.py \
         /usr/share/dsa-gateway/upstream-fixtures/routes.json; do
  expect "contains $p" has "$p"
done
n_agreements=0
for a in "$src"/agreements/*.yaml; do
  case "$a" in *.test.yaml) continue ;; esac
  n_agreements=$((n_agreements + 1))
  expect "contains agreement $(basename "$a") (and it is a conffile)" \
    bash -c 'grep -qxF "$1" <<<"$2" && grep -qxF "$1" <<<"$3"' _ "/etc/dsa-gateway/agreements/$(basename "$a")" "$paths" "$conffiles"
done
expect "every /etc file is a conffile" \
  bash -c 'diff <(grep "^/etc/.*[^/]$" <<<"$1" | sort) <(sort <<<"$2")' _ "$paths" "$conffiles"
expect "no *.test.yaml" bash -c '! grep -q "\.test\.yaml$" <<<"$1"' _ "$paths"
expect "no *.key, *.pem, *.crt or *.p12 files" bash -c '! grep -qE "\.(key|pem|crt|p12|pfx)$" <<<"$1"' _ "$paths"
expect "nothing outside /usr, /etc, /lib/systemd, /var/lib/dsa-gateway" \
  bash -c '! grep -vE "^/(usr|etc|lib|lib/systemd|lib/systemd/system|var|var/lib)?/?$|^/(usr|etc/dsa-gateway|lib/systemd/system|var/lib/dsa-gateway)(/|$)" <<<"$1"' _ "$paths"
expect "binaries root:root 0755" \
  bash -c '[ "$(grep -cE "^-rwxr-xr-x root/root .* \./usr/bin/(dsa|dsa-gateway|dsa-bench)$" "$1")" = 3 ]' _ "$tmp/contents"
expect "config root:root 0644" grep -qE '^-rw-r--r-- root/root .* \./etc/dsa-gateway/gateway\.yaml$' "$tmp/contents"
expect "state dir 0750 (postinst hands it to dsa-gateway)" grep -qE '^drwxr-x--- root/root .* \./var/lib/dsa-gateway/$' "$tmp/contents"

# 4. Extract and run what was packaged.
root="$tmp/root"
dpkg-deb -x "$deb" "$root"
expect "no private key material anywhere in the package" \
  bash -c '! grep -rlsE "PRIVATE KEY-----" "$1"' _ "$root"
mkdir -p "$tmp/control"
dpkg-deb -e "$deb" "$tmp/control"
for s in postinst prerm postrm; do
  expect "$s is executable and parses (sh -n)" bash -c '[ -x "$1" ] && sh -n "$1"' _ "$tmp/control/$s"
done
expect "binaries are stripped" bash -c 'file -L "$1/usr/bin/dsa-gateway" | grep -q ", stripped"' _ "$root"
# The default build links dsa-gateway with jemalloc (CMakeLists.txt, DSA_JEMALLOC; not under the
# sanitizers): then the package must depend on it.
if readelf -d "$root/usr/bin/dsa-gateway" | grep -q 'NEEDED.*libjemalloc'; then
  expect "Depends on libjemalloc2 (dsa-gateway links jemalloc)" grep -qw libjemalloc2 <<<"$depends"
fi

pki="$root/etc/dsa-gateway/tls-dev"
if "$root/usr/share/dsa-gateway/make-dev-pki.sh" "$pki" >"$tmp/pki.log" 2>&1; then
  ok "packaged make-dev-pki.sh created a dev PKI in <root>/etc/dsa-gateway/tls-dev"
else
  cat "$tmp/pki.log"; fail "packaged make-dev-pki.sh"
fi
# The production config names the partner CA files by the anchor's name.
cp "$pki/ca.pem" "$pki/partner-ca.pem"
cp "$pki/crl.pem" "$pki/partner-ca.crl.pem"

rewrite() { # tls-dir-replacement
  sed -e "s#\([ :]\)/etc/dsa-gateway/tls/#\1$1/#g" \
      -e "s#\([ :]\)/etc/dsa-gateway#\1$root/etc/dsa-gateway#g" \
      -e "s#\([ :]\)/var/lib/dsa-gateway#\1$root/var/lib/dsa-gateway#g" \
      -e "s#\([ :]\)/var/log/dsa-gateway#\1$root/var/log/dsa-gateway#g" \
      "$root/etc/dsa-gateway/gateway.yaml"
}
rewrite "$pki" >"$tmp/gateway.yaml"
expect "rewritten config points only at the extracted tree" \
  bash -c '! grep -vE "^ *#" "$1" | grep -E "[ :]/(etc|var)/" | grep -vF "$2"' _ "$tmp/gateway.yaml" "$root"

set +e
"$root/usr/bin/dsa-gateway" --config "$tmp/gateway.yaml" --check >"$tmp/check.out" 2>"$tmp/check.err"
rc=$?
set -e
echo "test-package: dsa-gateway --check (exit $rc):"
sed 's/^/    /' "$tmp/check.out" "$tmp/check.err"
expect "packaged dsa-gateway --check exits 0" test "$rc" -eq 0
expect "--check ends with '<config>: ok (0 errors)'" \
  bash -c '[ "$(tail -n 1 "$1")" = "$2: ok (0 errors)" ]' _ "$tmp/check.out" "$tmp/gateway.yaml"
expect "--check lists all $n_agreements packaged agreements" \
  bash -c '[ "$(grep -c "^agreement [a-z0-9._-]*@[^ ]* (" "$1")" = "$2" ]' _ "$tmp/check.out" "$n_agreements"
expect "--check: police-records endpoints served here" \
  grep -qE '^  endpoint .* upstream police-records +served here$' "$tmp/check.out"
expect "--check: mash-police endpoints served here" \
  grep -qE '^  endpoint .* upstream mash-police +served here$' "$tmp/check.out"
expect "--check: council-asb endpoints not served here" \
  grep -qE '^  endpoint .* upstream council-asb +not served here$' "$tmp/check.out"

# Without certificates (the state right after installing) --check refuses, naming the file.
rewrite "$root/etc/dsa-gateway/tls" >"$tmp/gateway-nocerts.yaml"
set +e
"$root/usr/bin/dsa-gateway" --config "$tmp/gateway-nocerts.yaml" --check >"$tmp/nocerts.out" 2>&1
rc=$?
set -e
expect "--check exits 1 while the certificates are missing" test "$rc" -eq 1
expect "--check names the missing tls.certificate" grep -q "tls.certificate .*/etc/dsa-gateway/tls/gateway.pem" "$tmp/nocerts.out"

set +e
"$root/usr/bin/dsa" lint "$root/etc/dsa-gateway/agreements" >"$tmp/lint.out" 2>&1
rc=$?
set -e
echo "test-package: dsa lint <root>/etc/dsa-gateway/agreements (exit $rc):"
sed 's/^/    /' "$tmp/lint.out"
expect "packaged dsa lint passes on the packaged agreements" test "$rc" -eq 0

if command -v systemd-analyze >/dev/null 2>&1; then
  # Verify the unit as installed, with its binary path pointing into the extracted tree (the
  # user need not exist: verify checks syntax, directives and executables).
  mkdir -p "$tmp/unit"
  sed -e "s#/usr/bin/dsa-gateway#$root/usr/bin/dsa-gateway#g" \
    "$root/lib/systemd/system/dsa-gateway.service" >"$tmp/unit/dsa-gateway.service"
  set +e
  SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/unit/dsa-gateway.service" >"$tmp/verify.out" 2>&1
  rc=$?
  set -e
  sed 's/^/    /' "$tmp/verify.out"
  # verify exits 0 on unknown keys or unparsable values and only prints them: require silence.
  expect "systemd-analyze verify dsa-gateway.service (exit 0, no warnings)" \
    bash -c '[ "$1" -eq 0 ] && [ ! -s "$2" ]' _ "$rc" "$tmp/verify.out"
  if systemd-analyze security --offline=yes "$tmp/unit/dsa-gateway.service" >"$tmp/security.out" 2>&1; then
    echo "    $(grep -a 'Overall exposure level' "$tmp/security.out" | sed 's/^→ //')"
  fi
else
  echo "  skip systemd-analyze verify (systemd-analyze not installed)"
fi

# 5. Debian policy: copyright, changelog by the control file's maintainer, manual pages, and
#    lintian with no error and no warning (informational tags are allowed).
contents="$(dpkg-deb -c "$deb")"
for f in ./usr/share/doc/dsa-gateway/copyright ./usr/share/doc/dsa-gateway/changelog.gz \
         ./usr/share/man/man8/dsa-gateway.8.gz ./usr/share/man/man1/dsa.1.gz \
         ./usr/share/man/man1/dsa-bench.1.gz ./usr/share/lintian/overrides/dsa-gateway; do
  expect "contains $f" bash -c 'grep -q " $1\$" <<<"$2"' _ "$f" "$contents"
done
mkdir -p "$tmp/policy"
dpkg-deb -x "$deb" "$tmp/policy"
maintainer="$(field Maintainer)"
expect "Maintainer is a name and an address ($maintainer)" \
  bash -c '[[ "$1" =~ ^[^\<]+\ \<[^@\>]+@[^\>]+\>$ ]]' _ "$maintainer"
expect "changelog: version $version, signed by the Maintainer" \
  bash -c 'zcat "$1" | head -1 | grep -q "^dsa-gateway ($2) " &&
           zcat "$1" | grep -q "^ -- $3  "' _ "$tmp/policy/usr/share/doc/dsa-gateway/changelog.gz" \
  "$version" "$maintainer"
expect "copyright: machine-readable, Upstream-Contact is the Maintainer" \
  bash -c 'head -1 "$1" | grep -q "^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" &&
           grep -qF "Upstream-Contact: $2" "$1"' _ "$tmp/policy/usr/share/doc/dsa-gateway/copyright" "$maintainer"
if command -v lintian >/dev/null 2>&1; then
  rc=0
  lintian --fail-on error,warning --tag-display-limit 0 "$deb" >"$tmp/lintian.out" 2>&1 || rc=$?
  grep -v 'running with root privileges' "$tmp/lintian.out" | sed 's/^/    /' || true
  expect "lintian: no error and no warning (exit $rc)" test "$rc" -eq 0
else
  fail "lintian is not installed (tools/install-deps.sh installs it)"
fi

if [ "$fails" -ne 0 ]; then
  echo "test-package: $fails check(s) failed"
  exit 1
fi
echo "test-package: all checks passed ($(basename "$deb"))"
