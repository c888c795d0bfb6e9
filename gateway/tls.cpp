#include "gateway/tls.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstring>

#include "common/hex.hpp"

namespace dsa::gateway {
namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) {
    return "unknown OpenSSL error";
  }
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::vector<X509*> read_certificates(const std::string& file) {
  std::vector<X509*> out;
  FILE* f = std::fopen(file.c_str(), "r");
  if (f == nullptr) {
    return out;
  }
  while (X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
    out.push_back(x);
  }
  ERR_clear_error();  // the loop ends on "no start line"
  std::fclose(f);
  return out;
}

std::string name_text(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

std::string subject_of(const X509* x) { return "'" + name_text(X509_get_subject_name(x)) + "'"; }

// One configured trust anchor: its own store (its CAs, its CRLs, its verification flags), so a
// chain is judged by this anchor's certificates and nothing else.
struct anchor_info {
  std::string name;
  X509_STORE* store = nullptr;
  bool has_crl = false;
};

// Requires the clientAuth EKU to be stated on the leaf: the purpose check accepts a leaf
// without any EKU, and a certificate issued for something else must not act as a partner.
int eku_callback(int ok, X509_STORE_CTX* store) {
  if (ok && X509_STORE_CTX_get_error_depth(store) == 0) {
    X509* leaf = X509_STORE_CTX_get_current_cert(store);
    if ((X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) == 0 ||
        (X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT) == 0) {
      X509_STORE_CTX_set_error(store, X509_V_ERR_INVALID_PURPOSE);
      return 0;
    }
  }
  return ok;
}

// The verdict on one leaf across all anchors.
struct chain_verdict {
  const anchor_info* anchor = nullptr;  // set when exactly one anchor verified the chain
  STACK_OF(X509) * chain = nullptr;     // that anchor's verified chain, owned by the caller
  int error = X509_V_OK;                // otherwise: the error to report
  int depth = 0;
  X509* error_cert = nullptr;  // not owned; valid while the leaf and the anchors live
};

// Errors that only say "this chain does not lead to this anchor's CAs".
bool is_not_my_chain(int error) {
  return error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
         error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
         error == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
         error == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
         error == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN;
}

struct anchor_table {
  std::vector<anchor_info> anchors;
  anchor_table() = default;
  anchor_table(const anchor_table&) = delete;
  anchor_table& operator=(const anchor_table&) = delete;
  ~anchor_table() {
    for (auto& a : anchors) {
      X509_STORE_free(a.store);
    }
  }

  // Verifies `leaf` under every anchor with no untrusted intermediates: the client's own chain
  // is ignored, so only an anchor holding the leaf's issuer can verify it. Accepted when
  // exactly one anchor does. Otherwise the error of an anchor that found the issuer (revoked,
  // expired, wrong EKU, no CRL) is more telling than "untrusted" and wins.
  chain_verdict verify(X509* leaf) const {
    chain_verdict v;
    v.error = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
    v.error_cert = leaf;
    bool have_specific = false;
    for (const auto& a : anchors) {
      X509_STORE_CTX* ctx = X509_STORE_CTX_new();
      if (ctx == nullptr || X509_STORE_CTX_init(ctx, a.store, leaf, nullptr) != 1) {
        X509_STORE_CTX_free(ctx);
        ERR_clear_error();
        v.error = X509_V_ERR_OUT_OF_MEM;
        have_specific = true;
        continue;
      }
      X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
      X509_STORE_CTX_set_verify_cb(ctx, &eku_callback);
      const bool ok = X509_verify_cert(ctx) == 1;
      const int err = X509_STORE_CTX_get_error(ctx);
      if (ok) {
        if (v.anchor != nullptr) {
          // Two anchors both vouch for this leaf: its attribution would be a guess.
          sk_X509_pop_free(v.chain, X509_free);
          v.chain = nullptr;
          v.anchor = nullptr;
          v.error = X509_V_ERR_APPLICATION_VERIFICATION;
          v.depth = 0;
          v.error_cert = leaf;
          X509_STORE_CTX_free(ctx);
          ERR_clear_error();
          return v;
        }
        v.anchor = &a;
        v.chain = X509_STORE_CTX_get1_chain(ctx);
      } else if (!have_specific && !is_not_my_chain(err)) {
        have_specific = true;
        v.error = err;
        v.depth = X509_STORE_CTX_get_error_depth(ctx);
        X509* at = X509_STORE_CTX_get_current_cert(ctx);
        v.error_cert = at != nullptr ? at : leaf;
      }
      X509_STORE_CTX_free(ctx);
    }
    ERR_clear_error();
    if (v.anchor != nullptr) {
      v.error = X509_V_OK;
      v.depth = 0;
    }
    return v;
  }
};

void free_anchor_table(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<anchor_table*>(ptr);
}

int anchor_index() {
  static const int index =
      SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_anchor_table);
  return index;
}

// Per connection: the anchor_info (owned by the connection's SSL_CTX) its chain verified under.
int peer_anchor_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

const anchor_table* table_of(SSL_CTX* ctx) {
  return static_cast<const anchor_table*>(SSL_CTX_get_ex_data(ctx, anchor_index()));
}

// Replaces OpenSSL's chain verification for server handshakes (SSL_CTX_set_cert_verify_callback):
// the per-anchor verification above, with the result handed back the way SSL expects it
// (error code on the context, the verified chain set on it).
int verify_peer_chain(X509_STORE_CTX* outer, void* arg) {
  const auto* table = static_cast<const anchor_table*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(outer);
  SSL* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(outer, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (leaf == nullptr || table == nullptr || ssl == nullptr) {
    X509_STORE_CTX_set_error(outer, X509_V_ERR_UNSPECIFIED);
    return 0;
  }
  chain_verdict v = table->verify(leaf);
  if (v.anchor == nullptr) {
    X509_STORE_CTX_set_error(outer, v.error);
    X509_STORE_CTX_set_error_depth(outer, v.depth);
    X509_STORE_CTX_set_current_cert(outer, v.error_cert);
    return 0;
  }
  X509_STORE_CTX_set0_verified_chain(outer, v.chain);
  X509_STORE_CTX_set_error(outer, X509_V_OK);
  SSL_set_ex_data(ssl, peer_anchor_index(), const_cast<anchor_info*>(v.anchor));
  return 1;
}

std::string verify_reason(int error) {
  switch (error) {
    case X509_V_OK:
      return "ok";
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "not_yet_valid";
    case X509_V_ERR_CERT_REVOKED:
      return "revoked";
    case X509_V_ERR_INVALID_PURPOSE:
      return "wrong_eku";
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
      return "crl_unavailable";
    case X509_V_ERR_APPLICATION_VERIFICATION:
      return "ambiguous_anchor";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return "untrusted";
    default:
      return "verify_failed";
  }
}

// Reads one anchor's files into its own store and checks that they make sense together (see
// make_server_context in tls.hpp for the rules). Fails naming the anchor; `info` and `cas` hold
// what was read so far either way, for the caller to free.
result<void> load_anchor(const trust_anchor_config& ta, anchor_info& info,
                         std::vector<X509*>& cas) {
  const std::string where = "trust anchor '" + ta.name + "': ";
  cas = read_certificates(ta.ca_file.string());
  if (cas.empty()) {
    return fail(where + "no certificate in ca_file " + ta.ca_file.string());
  }
  info.name = ta.name;
  info.store = X509_STORE_new();
  if (info.store == nullptr) {
    return fail(where + openssl_error());
  }
  for (X509* ca : cas) {
    if (X509_check_ca(ca) < 1) {
      return fail(where + "ca_file " + ta.ca_file.string() + " holds " + subject_of(ca) +
                  ", which is not a CA certificate (basicConstraints CA:TRUE)");
    }
    // No partial chains: the file must lead up to a self-signed root, so that the issuing CAs
    // themselves can be revocation-checked against their parent's CRL.
    bool issuer_here = X509_self_signed(ca, 0) == 1;
    for (X509* other : cas) {
      issuer_here = issuer_here || (other != ca && X509_check_issued(other, ca) == X509_V_OK);
    }
    if (!issuer_here) {
      return fail(where + "ca_file " + ta.ca_file.string() + ": the issuer of " + subject_of(ca) +
                  " (" + "'" + name_text(X509_get_issuer_name(ca)) +
                  "') is not in the file; it must hold the whole chain up to the self-signed root");
    }
    X509_STORE_add_cert(info.store, ca);
  }
  ERR_clear_error();  // a certificate listed twice in one file reports "already in store"
  unsigned long flags = 0;
  if (!ta.crl_file.empty()) {
    FILE* f = std::fopen(ta.crl_file.c_str(), "r");
    std::vector<X509_CRL*> crls;
    if (f != nullptr) {
      while (X509_CRL* crl = PEM_read_X509_CRL(f, nullptr, nullptr, nullptr)) {
        crls.push_back(crl);
      }
      ERR_clear_error();
      std::fclose(f);
    }
    if (crls.empty()) {
      return fail(where + "no CRL in crl_file " + ta.crl_file.string());
    }
    bool ok = true;
    std::string error;  // the first problem found
    std::vector<bool> covered(cas.size(), false);
    for (X509_CRL* crl : crls) {
      bool signed_by_ca = false;
      for (std::size_t i = 0; i < cas.size(); ++i) {
        if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(cas[i])) == 0 &&
            X509_CRL_verify(crl, X509_get0_pubkey(cas[i])) == 1) {
          signed_by_ca = true;
          covered[i] = true;
        }
      }
      ERR_clear_error();
      if (ok && !signed_by_ca) {
        error = where + "crl_file " + ta.crl_file.string() + " holds a CRL from '" +
                name_text(X509_CRL_get_issuer(crl)) +
                "', which is not signed by any CA in ca_file " + ta.ca_file.string();
        ok = false;
      }
      X509_STORE_add_crl(info.store, crl);
    }
    for (X509_CRL* crl : crls) {
      X509_CRL_free(crl);
    }
    for (std::size_t i = 0; ok && i < cas.size(); ++i) {
      if (!covered[i]) {
        // Fail closed at configuration time rather than at every handshake: with a crl_file,
        // each level of the chain is revocation-checked and needs its issuer's CRL.
        error = where + "crl_file " + ta.crl_file.string() + " has no CRL issued by " +
                subject_of(cas[i]) +
                "; every CA of an anchor with a crl_file needs its CRL there (each level of "
                "the chain is revocation-checked)";
        ok = false;
      }
    }
    if (!ok) {
      return fail(std::move(error));
    }
    ERR_clear_error();
    info.has_crl = true;
    flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
  }
  if (flags != 0) {
    X509_STORE_set_flags(info.store, flags);
  }
  X509_STORE_set_depth(info.store, 8);
  return {};
}

// Builds the table for all anchors; a CA certificate in two anchors is refused unless both
// anchors opt in with allow_shared_ca. Adds every CA's subject to `ca_names` (the
// certificate_authorities a client is told about).
result<std::unique_ptr<anchor_table>> load_anchors(const std::vector<trust_anchor_config>& anchors,
                                                   STACK_OF(X509_NAME) * ca_names) {
  auto table = std::make_unique<anchor_table>();
  table->anchors.reserve(anchors.size());
  std::vector<std::vector<X509*>> cas_by_anchor(anchors.size());
  auto free_all = [&] {
    for (auto& v : cas_by_anchor) {
      for (X509* x : v) {
        X509_free(x);
      }
    }
  };
  for (std::size_t i = 0; i < anchors.size(); ++i) {
    table->anchors.emplace_back();
    if (auto loaded = load_anchor(anchors[i], table->anchors.back(), cas_by_anchor[i]); !loaded) {
      free_all();
      return fail(loaded.error());
    }
    for (std::size_t j = 0; j < i; ++j) {
      for (X509* mine : cas_by_anchor[i]) {
        for (X509* theirs : cas_by_anchor[j]) {
          if (X509_cmp(mine, theirs) != 0 ||
              (anchors[i].allow_shared_ca && anchors[j].allow_shared_ca)) {
            continue;
          }
          std::string error =
              "trust anchors '" + anchors[j].name + "' and '" + anchors[i].name +
              "' both hold CA " + subject_of(mine) + " (ca_file " + anchors[j].ca_file.string() +
              " and " + anchors[i].ca_file.string() +
              "); a certificate it issued could be attributed to either. If it is a common "
              "root above distinct issuing CAs, set allow_shared_ca: true on both anchors "
              "(docs/operations.md)";
          free_all();
          return fail(std::move(error));
        }
      }
    }
    for (X509* ca : cas_by_anchor[i]) {
      const X509_NAME* name = X509_get_subject_name(ca);
      bool listed = false;
      for (int k = 0; k < sk_X509_NAME_num(ca_names) && !listed; ++k) {
        listed = X509_NAME_cmp(sk_X509_NAME_value(ca_names, k), name) == 0;
      }
      if (!listed) {  // a shared root is named once
        sk_X509_NAME_push(ca_names, X509_NAME_dup(name));
      }
    }
  }
  free_all();  // the stores hold their own references
  return table;
}

std::int64_t asn1_to_unix(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return 0;
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

result<ssl_ctx_ptr> make_server_context(const tls_config& tls) {
  ssl_ctx_ptr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    return fail(openssl_error());
  }
  SSL_CTX_set_min_proto_version(ctx.get(), tls.min_tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // Session resumption would carry an identity across connections without a fresh chain
  // verification against the current CRLs; every connection verifies its certificate.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  // Idle keep-alive connections give their 34 KiB of record buffers back (docs/design.md §9: 1,000
  // open connections within 64 MiB).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.certificate.c_str()) != 1) {
    return fail("tls.certificate " + tls.certificate.string() + ": " + openssl_error());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.private_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return fail("tls.private_key " + tls.private_key.string() + ": " + openssl_error());
  }

  if (SSL_CTX_set_cipher_list(ctx.get(), tls.ciphers.c_str()) != 1) {
    return fail("tls.ciphers '" + tls.ciphers + "': no cipher OpenSSL knows: " + openssl_error());
  }
  if (SSL_CTX_set_ciphersuites(ctx.get(), tls.ciphersuites.c_str()) != 1) {
    return fail("tls.ciphersuites '" + tls.ciphersuites +
                "': not a list of TLS 1.3 suite names OpenSSL knows: " + openssl_error());
  }

  STACK_OF(X509_NAME)* ca_names = sk_X509_NAME_new_null();
  auto loaded = load_anchors(tls.trust_anchors, ca_names);
  if (!loaded) {
    sk_X509_NAME_pop_free(ca_names, X509_NAME_free);
    return fail(loaded.error());
  }
  std::unique_ptr<anchor_table> table = std::move(loaded).value();
  SSL_CTX_set_client_CA_list(ctx.get(), ca_names);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx.get(), &verify_peer_chain, table.get());
  SSL_CTX_set_ex_data(ctx.get(), anchor_index(), table.release());
  ERR_clear_error();
  return ctx;
}

result<ssl_ctx_ptr> make_upstream_context(const upstream_config& up) {
  ssl_ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    return fail(openssl_error());
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(ctx.get(), up.ca_file.c_str(), nullptr) != 1) {
    return fail("upstream '" + up.name + "' ca_file " + up.ca_file.string() + ": " +
                openssl_error());
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!up.client_certificate.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), up.client_certificate.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), up.client_private_key.c_str(), SSL_FILETYPE_PEM) !=
            1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      return fail("upstream '" + up.name + "' client certificate: " + openssl_error());
    }
  }
  return ctx;
}

bool set_upstream_host(SSL* ssl, const std::string& host) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1) {
    ERR_clear_error();
    return true;  // an IP address: checked against iPAddress SANs, no SNI (RFC 6066 §3)
  }
  ERR_clear_error();
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

result<peer_identity> extract_identity(SSL* ssl) {
  X509* leaf = SSL_get0_peer_certificate(ssl);
  STACK_OF(X509)* chain = SSL_get0_verified_chain(ssl);
  if (leaf == nullptr || chain == nullptr || sk_X509_num(chain) == 0 ||
      SSL_get_verify_result(ssl) != X509_V_OK) {
    return fail("no verified client certificate");
  }
  const auto* anchor = static_cast<const anchor_info*>(SSL_get_ex_data(ssl, peer_anchor_index()));
  if (anchor == nullptr) {
    return fail("the verified chain is attributed to no trust anchor");
  }
  peer_identity out;
  out.id.trust_anchor = anchor->name;

  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type == GEN_URI || gn->type == GEN_DNS) {
        const ASN1_IA5STRING* s =
            gn->type == GEN_URI ? gn->d.uniformResourceIdentifier : gn->d.dNSName;
        std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                          static_cast<std::size_t>(ASN1_STRING_length(s)));
        (gn->type == GEN_URI ? out.id.uri_sans : out.id.dns_sans).push_back(std::move(value));
      }
    }
    GENERAL_NAMES_free(sans);
  }

  out.id.subject = name_text(X509_get_subject_name(leaf));
  // Canonicalised once per connection, not in every request's identify().
  policy::prepare_identity(out.id);

  unsigned char* der = nullptr;
  int der_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &der);
  if (der_len > 0) {
    out.id.spki_sha256 = common::sha256_hex(
        std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(der_len)));
    OPENSSL_free(der);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(leaf, EVP_sha256(), md, &md_len) == 1) {
    out.cert_sha256 = common::to_hex(std::span<const std::uint8_t>(md, md_len));
  }
  out.not_after_unix = asn1_to_unix(X509_get0_notAfter(leaf));
  return out;
}

std::string handshake_failure_reason(SSL* ssl, int ssl_reason) {
  const long result = SSL_get_verify_result(ssl);
  if (result != X509_V_OK) {
    return verify_reason(static_cast<int>(result));
  }
  if (ssl_reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    return "no_certificate";
  }
  return "protocol";
}

peer_recheck recheck_peer(SSL* ssl, SSL_CTX* current) {
  peer_recheck r;
  X509* leaf = SSL_get0_peer_certificate(ssl);
  const auto* before = static_cast<const anchor_info*>(SSL_get_ex_data(ssl, peer_anchor_index()));
  const anchor_table* table = current != nullptr ? table_of(current) : nullptr;
  if (leaf == nullptr || before == nullptr || table == nullptr) {
    r.reason = "verify_failed";
    r.detail = "no verified client certificate on the connection, or no trust state to check";
    return r;
  }
  chain_verdict v = table->verify(leaf);
  if (v.anchor == nullptr) {
    r.reason = verify_reason(v.error);
    r.detail = v.error == X509_V_ERR_APPLICATION_VERIFICATION
                   ? "the certificate verifies under more than one trust anchor"
                   : X509_verify_cert_error_string(v.error);
    return r;
  }
  sk_X509_pop_free(v.chain, X509_free);
  r.trust_anchor = v.anchor->name;
  if (v.anchor->name != before->name) {
    // The identity of the connection (and every audit entry on it) names the anchor of its
    // handshake; attributing later requests to another one needs a new handshake.
    r.reason = "anchor_changed";
    r.detail = "the certificate was attributed to trust anchor '" + before->name +
               "' and now verifies under '" + v.anchor->name + "'";
    return r;
  }
  r.ok = true;
  return r;
}

std::vector<std::string> non_aead_ciphers(SSL_CTX* ctx) {
  std::vector<std::string> out;
  STACK_OF(SSL_CIPHER)* list = SSL_CTX_get_ciphers(ctx);
  for (int i = 0; list != nullptr && i < sk_SSL_CIPHER_num(list); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(list, i);
    if (SSL_CIPHER_is_aead(c) != 1) {
      out.emplace_back(SSL_CIPHER_get_name(c));
    }
  }
  return out;
}

std::int64_t certificate_not_after(const std::string& pem_file) {
  std::vector<X509*> certs = read_certificates(pem_file);
  std::int64_t t = certs.empty() ? 0 : asn1_to_unix(X509_get0_notAfter(certs.front()));
  for (X509* x : certs) {
    X509_free(x);
  }
  return t;
}

}  // namespace dsa::gateway
