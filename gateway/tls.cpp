#include "tls.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstring>

namespace dsa::gateway {
namespace {

// What the verify callback and identity extraction need to know about the configured anchors.
// Owned by the SSL_CTX (ex_data with a free function), so it lives exactly as long as the context.
struct anchor_info {
  std::string name;
  std::vector<X509*> cas;
  bool has_crl = false;
};

struct anchor_table {
  std::vector<anchor_info> anchors;
  ~anchor_table() {
    for (auto& a : anchors) {
      for (X509* x : a.cas) {
        X509_free(x);
      }
    }
  }
  const anchor_info* find(X509* top) const {
    for (const auto& a : anchors) {
      for (X509* ca : a.cas) {
        if (X509_cmp(ca, top) == 0) {
          return &a;
        }
      }
    }
    return nullptr;
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

const anchor_table* table_of(SSL_CTX* ctx) {
  return static_cast<const anchor_table*>(SSL_CTX_get_ex_data(ctx, anchor_index()));
}

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

// Runs for every certificate of the chain as OpenSSL verifies it.
int verify_callback(int ok, X509_STORE_CTX* store) {
  SSL* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const anchor_table* table = ssl != nullptr ? table_of(SSL_get_SSL_CTX(ssl)) : nullptr;
  const int err = X509_STORE_CTX_get_error(store);
  if (!ok && err == X509_V_ERR_UNABLE_TO_GET_CRL && table != nullptr) {
    // CRL checking is switched on for the whole store; an anchor configured without a CRL
    // accepts its chains without one. Anchors with a CRL still fail here (missing CRL).
    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(store);
    const int n = chain != nullptr ? sk_X509_num(chain) : 0;
    const anchor_info* a = n > 0 ? table->find(sk_X509_value(chain, n - 1)) : nullptr;
    if (a != nullptr && !a->has_crl) {
      X509_STORE_CTX_set_error(store, X509_V_OK);
      return 1;
    }
  }
  if (ok && X509_STORE_CTX_get_error_depth(store) == 0) {
    // The purpose check accepts a leaf without any EKU; the gateway requires clientAuth to be
    // stated, so a certificate issued for something else cannot act as a partner system.
    X509* leaf = X509_STORE_CTX_get_current_cert(store);
    if ((X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) == 0 ||
        (X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT) == 0) {
      X509_STORE_CTX_set_error(store, X509_V_ERR_INVALID_PURPOSE);
      return 0;
    }
  }
  return ok;
}

std::string digest_hex(const unsigned char* data, std::size_t size) {
  // Fetched once: EVP_sha256() makes every EVP_Digest call look the implementation up again
  // (OpenSSL 3 implicit fetch, a locked table search), once per response body here.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data, size, md, &len, sha256 != nullptr ? sha256 : EVP_sha256(), nullptr);
  return to_hex(md, len);
}

std::int64_t asn1_to_unix(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return 0;
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  return digest_hex(reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

std::string to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

ssl_ctx_ptr make_server_context(const tls_config& tls, std::string& error) {
  ssl_ctx_ptr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    error = openssl_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), tls.min_tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // Session resumption would carry an identity across connections without a fresh chain
  // verification against the current CRLs; every connection verifies its certificate.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  // Idle keep-alive connections give their 34 KiB of record buffers back (SPEC §9: 1,000 open
  // connections within 64 MiB).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.certificate.c_str()) != 1) {
    error = "tls.certificate " + tls.certificate.string() + ": " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.private_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    error = "tls.private_key " + tls.private_key.string() + ": " + openssl_error();
    return nullptr;
  }

  auto table = std::make_unique<anchor_table>();
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
  STACK_OF(X509_NAME)* ca_names = sk_X509_NAME_new_null();
  bool any_crl = false;
  for (const auto& ta : tls.trust_anchors) {
    anchor_info info;
    info.name = ta.name;
    info.cas = read_certificates(ta.ca_file.string());
    if (info.cas.empty()) {
      error = "trust anchor '" + ta.name + "': no certificate in " + ta.ca_file.string();
      sk_X509_NAME_pop_free(ca_names, X509_NAME_free);
      return nullptr;
    }
    for (X509* ca : info.cas) {
      X509_STORE_add_cert(store, ca);
      sk_X509_NAME_push(ca_names, X509_NAME_dup(X509_get_subject_name(ca)));
    }
    if (!ta.crl_file.empty()) {
      FILE* f = std::fopen(ta.crl_file.c_str(), "r");
      int crls = 0;
      if (f != nullptr) {
        while (X509_CRL* crl = PEM_read_X509_CRL(f, nullptr, nullptr, nullptr)) {
          X509_STORE_add_crl(store, crl);
          X509_CRL_free(crl);
          ++crls;
        }
        ERR_clear_error();
        std::fclose(f);
      }
      if (crls == 0) {
        error = "trust anchor '" + ta.name + "': no CRL in " + ta.crl_file.string();
        sk_X509_NAME_pop_free(ca_names, X509_NAME_free);
        return nullptr;
      }
      info.has_crl = true;
      any_crl = true;
    }
    table->anchors.push_back(std::move(info));
  }
  ERR_clear_error();  // adding a CA twice reports "already in store"
  SSL_CTX_set_client_CA_list(ctx.get(), ca_names);
  if (any_crl) {
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  SSL_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     &verify_callback);
  SSL_CTX_set_verify_depth(ctx.get(), 8);
  SSL_CTX_set_ex_data(ctx.get(), anchor_index(), table.release());
  return ctx;
}

ssl_ctx_ptr make_upstream_context(const upstream_config& up, std::string& error) {
  ssl_ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    error = openssl_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(ctx.get(), up.ca_file.c_str(), nullptr) != 1) {
    error = "upstream '" + up.name + "' ca_file " + up.ca_file.string() + ": " + openssl_error();
    return nullptr;
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!up.client_certificate.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), up.client_certificate.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), up.client_private_key.c_str(), SSL_FILETYPE_PEM) !=
            1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      error = "upstream '" + up.name + "' client certificate: " + openssl_error();
      return nullptr;
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

bool extract_identity(SSL* ssl, peer_identity& out, std::string& error) {
  X509* leaf = SSL_get0_peer_certificate(ssl);
  STACK_OF(X509)* chain = SSL_get0_verified_chain(ssl);
  if (leaf == nullptr || chain == nullptr || sk_X509_num(chain) == 0 ||
      SSL_get_verify_result(ssl) != X509_V_OK) {
    error = "no verified client certificate";
    return false;
  }
  const anchor_table* table = table_of(SSL_get_SSL_CTX(ssl));
  const anchor_info* anchor =
      table != nullptr ? table->find(sk_X509_value(chain, sk_X509_num(chain) - 1)) : nullptr;
  if (anchor == nullptr) {
    error = "the verified chain ends at no configured trust anchor";
    return false;
  }
  out = peer_identity{};
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

  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, X509_get_subject_name(leaf), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  out.id.subject.assign(data, static_cast<std::size_t>(len));
  BIO_free(bio);

  unsigned char* der = nullptr;
  int der_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &der);
  if (der_len > 0) {
    out.id.spki_sha256 = digest_hex(der, static_cast<std::size_t>(der_len));
    OPENSSL_free(der);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(leaf, EVP_sha256(), md, &md_len) == 1) {
    out.cert_sha256 = to_hex(md, md_len);
  }
  out.not_after_unix = asn1_to_unix(X509_get0_notAfter(leaf));
  return true;
}

std::string handshake_failure_reason(SSL* ssl, int ssl_reason) {
  switch (SSL_get_verify_result(ssl)) {
    case X509_V_OK:
      break;
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
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return "untrusted";
    default:
      return "verify_failed";
  }
  if (ssl_reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    return "no_certificate";
  }
  return "protocol";
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
