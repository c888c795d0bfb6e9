#!/usr/bin/env bash
# make-dev-pki.sh — development PKI for the DSA Gateway demo and tests (never for production).
#
# Usage: certs/make-dev-pki.sh [--force] OUTDIR
#
# Creates ECDSA P-256 keys and certificates in OUTDIR (see certs/README.md for the list):
# the partner CA and its CRL, the gateway's server certificate, one client certificate per
# party in agreements/ (URI SAN = the party's uri_san), the negative-test certificates
# (expired, revoked, untrusted CA, server-only EKU) and the upstream CA + server certificate.
# Refuses to touch an OUTDIR that already holds a CA unless --force is given, in which case
# everything this script generates there is removed and recreated. Keys are mode 0600.
# Checks every certificate with `openssl verify` before it exits.
set -euo pipefail

usage() { echo "usage: $0 [--force] OUTDIR" >&2; exit 2; }
force=0
outdir=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) [ -z "$outdir" ] || usage; outdir="$arg" ;;
  esac
done
[ -n "$outdir" ] || usage
command -v openssl >/dev/null || { echo "$0: openssl not found" >&2; exit 1; }

# Party id | organisation (O=) | URI SAN. Must match the parties in agreements/*.yaml.
PARTIES=(
  "northshire-police|Chief Constable of Northshire Police|spiffe://northshire.police.uk.example/dsa-gateway"
  "kingsbury-council|Kingsbury District Council|spiffe://kingsbury.gov.uk.example/dsa-gateway"
  "northshire-fire|Northshire Fire and Rescue Authority|spiffe://northshire-fire.gov.uk.example/dsa-gateway"
  "northshire-childrens-services|Northshire County Council (Children's Social Care)|spiffe://childrens.northshire.gov.uk.example/dsa-gateway"
  "northshire-health|Northshire Community Health NHS Foundation Trust|spiffe://northshire.nhs.uk.example/dsa-gateway"
  "riverside-housing|Riverside Homes Housing Association Limited|spiffe://riversidehomes.org.uk.example/dsa-gateway"
)
POLICE_URI="spiffe://northshire.police.uk.example/dsa-gateway"
DAYS=730          # normal certificates: about two years
CA_DAYS=3650

# Cross-check the party table against the agreements, when they are next to this script.
agreements_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/agreements"
if [ -d "$agreements_dir" ]; then
  for p in "${PARTIES[@]}"; do
    uri="${p##*|}"
    grep -rqsF -- "\"$uri\"" "$agreements_dir" --include='*.yaml' ||
      echo "make-dev-pki: warning: $uri is not used in $agreements_dir" >&2
  done
fi

mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
generated=(ca gateway expired revoked untrusted-ca untrusted serveronly upstream-ca upstream)
for p in "${PARTIES[@]}"; do generated+=("${p%%|*}"); done

if [ -e "$outdir/ca.pem" ] || [ -e "$outdir/ca-db" ]; then
  if [ "$force" -ne 1 ]; then
    echo "make-dev-pki: $outdir already holds a PKI; use --force to recreate it" >&2
    exit 1
  fi
  for n in "${generated[@]}"; do rm -f "$outdir/$n.pem" "$outdir/$n.key" "$outdir/$n.csr"; done
  rm -f "$outdir/crl.pem" "$outdir"/*.srl
  rm -rf "$outdir/ca-db"
fi

umask 077
db="$outdir/ca-db"
mkdir -p "$db/newcerts"
: > "$db/index.txt"
echo "unique_subject = no" > "$db/index.txt.attr"
echo 1000 > "$db/serial"
echo 01 > "$db/crlnumber"

cat > "$db/openssl.cnf" <<CNF
[ ca ]
default_ca = partner_ca

[ partner_ca ]
dir               = $db
database          = \$dir/index.txt
new_certs_dir     = \$dir/newcerts
serial            = \$dir/serial
crlnumber         = \$dir/crlnumber
certificate       = $outdir/ca.pem
private_key       = $outdir/ca.key
default_md        = sha256
default_days      = $DAYS
default_crl_days  = 30
policy            = policy_any
preserve          = yes
unique_subject    = no
copy_extensions   = none
email_in_dn       = no

[ policy_any ]
countryName            = optional
organizationName       = optional
commonName             = supplied

[ crl_ext ]
authorityKeyIdentifier = keyid
CNF
# Certificate extensions live in their own file: they read the SAN from the environment,
# and keeping them out of openssl.cnf lets `openssl ca -gencrl` run without SAN set.
cat > "$db/extensions.cnf" <<CNF
[ client_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
subjectAltName         = \$ENV::SAN

[ server_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
subjectAltName         = \$ENV::SAN
CNF

genkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

selfsigned_ca() { # name subject
  genkey "$outdir/$1.key"
  openssl req -new -x509 -sha256 -key "$outdir/$1.key" -out "$outdir/$1.pem" -days "$CA_DAYS" -subj "$2" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
}

# Sign with the partner CA through `openssl ca` so that it can later revoke and list in the CRL.
partner_sign() { # name subject extsection san [startdate enddate]
  local name="$1" subj="$2" ext="$3"
  genkey "$outdir/$name.key"
  openssl req -new -sha256 -key "$outdir/$name.key" -subj "$subj" -out "$db/$name.csr"
  local dates=(-days "$DAYS")
  if [ $# -ge 6 ]; then dates=(-startdate "$5" -enddate "$6"); fi
  SAN="$4" openssl ca -batch -notext -config "$db/openssl.cnf" -extfile "$db/extensions.cnf" -extensions "$ext" \
    "${dates[@]}" -in "$db/$name.csr" -out "$outdir/$name.pem" 2>/dev/null
  rm -f "$db/$name.csr"
}

# Sign with another CA (untrusted / upstream) with plain `openssl x509 -req`.
other_sign() { # name subject ca extsection san
  local name="$1" subj="$2" ca="$3" ext="$4"
  genkey "$outdir/$name.key"
  openssl req -new -sha256 -key "$outdir/$name.key" -subj "$subj" -out "$db/$name.csr"
  SAN="$5" openssl x509 -req -sha256 -in "$db/$name.csr" -CA "$outdir/$ca.pem" -CAkey "$outdir/$ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days "$DAYS" \
    -extfile "$db/extensions.cnf" -extensions "$ext" -out "$outdir/$name.pem" 2>/dev/null
  rm -f "$db/$name.csr"
}

echo "make-dev-pki: creating dev PKI in $outdir"

# 1. Partner CA: signs the gateway and every partner client certificate.
selfsigned_ca ca "/C=GB/O=Northshire Community Safety Partnership/CN=Northshire Partner Dev CA"

# 2. Gateway server certificate.
partner_sign gateway "/C=GB/O=Northshire Community Safety Partnership/CN=dsa-gateway.localhost" server_ext \
  "DNS:localhost,IP:127.0.0.1,IP:::1"

# 3. One client certificate per party.
for p in "${PARTIES[@]}"; do
  IFS='|' read -r id org uri <<<"$p"
  partner_sign "$id" "/C=GB/O=$org/CN=$id dsa gateway" client_ext "URI:$uri"
done

# 4. Negative-test certificates, all carrying northshire-police's URI SAN.
partner_sign expired "/C=GB/O=Chief Constable of Northshire Police/CN=northshire-police dsa gateway (expired)" \
  client_ext "URI:$POLICE_URI" 20240101000000Z 20250101000000Z
partner_sign revoked "/C=GB/O=Chief Constable of Northshire Police/CN=northshire-police dsa gateway (revoked)" \
  client_ext "URI:$POLICE_URI"
partner_sign serveronly "/C=GB/O=Chief Constable of Northshire Police/CN=northshire-police dsa gateway (server only)" \
  server_ext "URI:$POLICE_URI"
openssl ca -batch -config "$db/openssl.cnf" -revoke "$outdir/revoked.pem" -crl_reason keyCompromise 2>/dev/null
openssl ca -batch -config "$db/openssl.cnf" -gencrl -crldays 30 -crlexts crl_ext -out "$outdir/crl.pem" 2>/dev/null

selfsigned_ca untrusted-ca "/C=GB/O=Unknown Organisation/CN=Untrusted Dev CA"
other_sign untrusted "/C=GB/O=Chief Constable of Northshire Police/CN=northshire-police dsa gateway (untrusted CA)" \
  untrusted-ca client_ext "URI:$POLICE_URI"

# 5. Upstream side: the partner agencies' back-office systems behind the gateway.
selfsigned_ca upstream-ca "/C=GB/O=Northshire Community Safety Partnership/CN=Northshire Upstream Dev CA"
other_sign upstream "/C=GB/O=Northshire Community Safety Partnership/CN=sample-upstream.localhost" \
  upstream-ca server_ext "DNS:localhost,IP:127.0.0.1"

chmod 644 "$outdir"/*.pem

# 6. Check that every certificate is what it should be.
fail=0
check() { # description expected(ok|fail) openssl-verify-args...
  local what="$1" want="$2"; shift 2
  local got=fail
  if openssl verify "$@" >/dev/null 2>&1; then got=ok; fi
  if [ "$got" = "$want" ]; then echo "  ok   $what"; else echo "  FAIL $what (verify: $got, expected $want)"; fail=1; fi
}
ca=(-CAfile "$outdir/ca.pem")
crl=(-crl_check -CRLfile "$outdir/crl.pem")
check "gateway.pem: serverAuth chain to partner CA"        ok   "${ca[@]}" "${crl[@]}" -purpose sslserver "$outdir/gateway.pem"
for p in "${PARTIES[@]}"; do
  id="${p%%|*}"
  check "$id.pem: clientAuth chain to partner CA, not revoked" ok "${ca[@]}" "${crl[@]}" -purpose sslclient "$outdir/$id.pem"
done
check "expired.pem: refused"                                fail "${ca[@]}" -purpose sslclient "$outdir/expired.pem"
expired_out="$(openssl verify "${ca[@]}" -purpose sslclient "$outdir/expired.pem" 2>&1 || true)"
if grep -q "certificate has expired" <<<"$expired_out"; then
  echo "  ok   expired.pem: the reason is 'certificate has expired'"
else
  echo "  FAIL expired.pem: not refused as expired"; fail=1
fi
check "revoked.pem: chains without CRL"                     ok   "${ca[@]}" -purpose sslclient "$outdir/revoked.pem"
check "revoked.pem: refused with CRL check"                 fail "${ca[@]}" "${crl[@]}" -purpose sslclient "$outdir/revoked.pem"
check "untrusted.pem: refused by partner CA"                fail "${ca[@]}" -purpose sslclient "$outdir/untrusted.pem"
check "untrusted.pem: chains to untrusted-ca"               ok   -CAfile "$outdir/untrusted-ca.pem" -purpose sslclient "$outdir/untrusted.pem"
check "serveronly.pem: refused as a client certificate"     fail "${ca[@]}" -purpose sslclient "$outdir/serveronly.pem"
check "upstream.pem: serverAuth chain to upstream CA"       ok   -CAfile "$outdir/upstream-ca.pem" -purpose sslserver "$outdir/upstream.pem"
check "upstream.pem: not trusted by partner CA"             fail "${ca[@]}" -purpose sslserver "$outdir/upstream.pem"
revoked_serial="$(openssl x509 -in "$outdir/revoked.pem" -noout -serial | cut -d= -f2)"
crl_text="$(openssl crl -in "$outdir/crl.pem" -noout -text)"
if ! grep -q "Serial Number: $revoked_serial" <<<"$crl_text"; then
  echo "  FAIL crl.pem does not list revoked.pem"; fail=1
else
  echo "  ok   crl.pem lists revoked.pem"
fi
if [ "$fail" -ne 0 ]; then echo "make-dev-pki: verification failed" >&2; exit 1; fi
echo "make-dev-pki: done ($outdir)"
