#include "gateway/expiry.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "gateway/metrics.hpp"
#include "policy/loader.hpp"
#include "policy/time.hpp"

namespace dsa::gateway {
namespace {

std::int64_t asn1_unix(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return 0;
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

// The earliest of two deadlines where 0 means unknown.
std::int64_t earliest(std::int64_t a, std::int64_t b) {
  if (a == 0) {
    return b;
  }
  if (b == 0) {
    return a;
  }
  return std::min(a, b);
}

// notAfter of the first certificate in `file` (the leaf of a chain file), or with
// `all` the earliest notAfter of every certificate in it (a CA file of several roots).
std::int64_t certificate_deadline(const std::filesystem::path& file, bool all) {
  FILE* f = std::fopen(file.c_str(), "r");
  if (f == nullptr) {
    return 0;
  }
  std::int64_t at = 0;
  while (X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
    at = earliest(at, asn1_unix(X509_get0_notAfter(x)));
    X509_free(x);
    if (!all) {
      break;
    }
  }
  ERR_clear_error();  // reading ends on "no start line"
  std::fclose(f);
  return at;
}

// The earliest nextUpdate of the CRLs in `file`. A CRL without nextUpdate never goes stale by
// its own account, so it contributes nothing.
std::int64_t crl_deadline(const std::filesystem::path& file) {
  FILE* f = std::fopen(file.c_str(), "r");
  if (f == nullptr) {
    return 0;
  }
  std::int64_t at = 0;
  while (X509_CRL* crl = PEM_read_X509_CRL(f, nullptr, nullptr, nullptr)) {
    at = earliest(at, asn1_unix(X509_CRL_get0_nextUpdate(crl)));
    X509_CRL_free(crl);
  }
  ERR_clear_error();
  std::fclose(f);
  return at;
}

std::int64_t to_unix(policy::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

tls_deadlines read_server_deadlines(const tls_config& tls) {
  tls_deadlines out;
  out.server_not_after = certificate_deadline(tls.certificate, false);
  out.certificates.push_back({"server", out.server_not_after});
  for (const auto& ta : tls.trust_anchors) {
    out.certificates.push_back({"trust_anchor:" + ta.name, certificate_deadline(ta.ca_file, true)});
    if (!ta.crl_file.empty()) {
      out.crls.push_back({ta.name, crl_deadline(ta.crl_file)});
    }
  }
  return out;
}

void add_upstream_deadlines(const config& cfg, tls_deadlines& out) {
  for (const auto& [name, up] : cfg.upstreams) {
    if (up.tls && !up.client_certificate.empty()) {
      out.certificates.push_back(
          {"upstream_client:" + name, certificate_deadline(up.client_certificate, false)});
    }
  }
}

std::int64_t review_due_unix(const policy::agreement& a) {
  if (!a.review_due) {
    return 0;
  }
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(a.review_due->year()),
                static_cast<unsigned>(a.review_due->month()),
                static_cast<unsigned>(a.review_due->day()));
  const auto t = policy::parse_instant(text);
  return t ? to_unix(*t) : 0;
}

void render_expiry_gauges(std::string& out, const policy::agreement_set& set,
                          const tls_deadlines& tls, std::int64_t now_unix) {
  auto line = [&](std::string_view metric, std::string_view label, std::string_view value,
                  std::int64_t at) {
    out.append(std::string(metric) + "{" + std::string(label) + "=\"" + prometheus_escape(value) +
               "\"} " + std::to_string(at - now_unix) + "\n");
  };
  out.append(
      "# HELP dsa_agreement_valid_until_seconds Seconds until each agreement's validity.until "
      "(negative: past).\n# TYPE dsa_agreement_valid_until_seconds gauge\n");
  for (const auto& a : set.agreements) {
    line("dsa_agreement_valid_until_seconds", "agreement", a->id, valid_until_unix(*a));
  }
  out.append(
      "# HELP dsa_agreement_review_due_seconds Seconds until each agreement's review.due "
      "(00:00 Europe/London; negative: overdue).\n"
      "# TYPE dsa_agreement_review_due_seconds gauge\n");
  for (const auto& a : set.agreements) {
    if (const std::int64_t due = review_due_unix(*a); due != 0) {
      line("dsa_agreement_review_due_seconds", "agreement", a->id, due);
    }
  }
  out.append(
      "# HELP dsa_certificate_expiry_seconds Seconds until the notAfter of each certificate the "
      "gateway uses (server, trust_anchor:NAME, upstream_client:NAME).\n"
      "# TYPE dsa_certificate_expiry_seconds gauge\n");
  for (const auto& c : tls.certificates) {
    if (c.at_unix != 0) {
      line("dsa_certificate_expiry_seconds", "certificate", c.label, c.at_unix);
    }
  }
  out.append(
      "# HELP dsa_crl_next_update_seconds Seconds until each trust anchor's CRL nextUpdate "
      "(negative: stale).\n# TYPE dsa_crl_next_update_seconds gauge\n");
  for (const auto& c : tls.crls) {
    if (c.at_unix != 0) {
      line("dsa_crl_next_update_seconds", "trust_anchor", c.label, c.at_unix);
    }
  }
}

std::string format_unix(std::int64_t unix_seconds) {
  // The policy library's RFC 3339 formatter (date::format): no fixed-size buffer, so no year can
  // be cut short, and the same spelling as every other instant the gateway logs.
  return policy::format_instant(policy::time_point(std::chrono::seconds(unix_seconds)));
}

std::int64_t valid_until_unix(const policy::agreement& a) { return to_unix(a.valid_until); }

std::vector<expiry_warning> expiry_warnings(const policy::agreement_set& set,
                                            const tls_deadlines& tls, std::int64_t now_unix,
                                            int window_days) {
  const std::int64_t horizon = now_unix + static_cast<std::int64_t>(window_days) * 86400;
  std::vector<expiry_warning> out;
  auto consider = [&](std::string subject, std::string what, std::int64_t at) {
    if (at == 0 || at > horizon) {
      return;
    }
    const std::int64_t left = at - now_unix;
    // Round towards minus infinity, so "expired an hour ago" is -1 days, not 0.
    const std::int64_t days = left >= 0 ? left / 86400 : -((-left + 86399) / 86400);
    out.push_back({std::move(subject), std::move(what), at, days});
  };
  for (const auto& a : set.agreements) {
    consider("agreement:" + a->id, "validity.until", valid_until_unix(*a));
    consider("agreement:" + a->id, "review.due", review_due_unix(*a));
  }
  for (const auto& c : tls.certificates) {
    consider("certificate:" + c.label, "notAfter", c.at_unix);
  }
  for (const auto& c : tls.crls) {
    consider("crl:" + c.label, "nextUpdate", c.at_unix);
  }
  return out;
}

}  // namespace dsa::gateway
