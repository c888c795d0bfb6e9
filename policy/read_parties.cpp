// Parties and their certificate identities (docs/agreements.md §3.3).

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>

#include "policy/identity_name.hpp"
#include "policy/sections.hpp"
#include "policy/text.hpp"

namespace dsa::policy::sections {

namespace {

// Fills rule.match_value, what the engine compares (identity_name.hpp). A subject that is not an
// RFC 4514 DN is an error; with lint warnings, a name written other than in its canonical form
// is shown as it will be matched, so the officer sees which certificates it names.
void set_match_value(reader& r, const field& idf, identity_rule& rule,
                     const load_options& options) {
  const char* key = rule.kind == identity_kind::subject   ? "subject"
                    : rule.kind == identity_kind::dns_san ? "dns_san"
                                                          : "uri_san";
  const YAML::Node at = idf.node[key];
  const std::string path = reader::join(idf.path, key);
  switch (rule.kind) {
    case identity_kind::uri_san:
      rule.match_value = rule.value;
      return;
    case identity_kind::dns_san:
      rule.match_value = canonical_dns_name(rule.value);
      if (options.lint_warnings && rule.match_value != rule.value) {
        r.warning(at,
                  path + ": '" + escape_text(rule.value) + "' is matched as '" +
                      escape_text(rule.match_value) +
                      "' (DNS names are compared without letter case or a trailing '.')",
                  "identity-normalised");
      }
      return;
    case identity_kind::subject: {
      result<std::string> folded = canonical_subject(rule.value, true);
      if (!folded) {
        r.error(at,
                path + ": '" + escape_text(rule.value) +
                    "' is not an RFC 4514 distinguished name: " + folded.error(),
                "bad-identity");
        return;
      }
      rule.match_value = std::move(folded).value();
      result<std::string> shown = canonical_subject(rule.value, false);
      if (options.lint_warnings && shown && shown.value() != rule.value) {
        r.warning(at,
                  path + ": '" + escape_text(rule.value) + "' is matched as '" +
                      escape_text(shown.value()) +
                      "' (RFC 4514: attribute types, spaces around ',' '+' '=', escapes and the "
                      "order inside a multi-valued RDN are normalised; values compare without "
                      "ASCII letter case)",
                  "identity-normalised");
      }
      return;
    }
  }
}

}  // namespace

void read_parties(reader& r, const field& top, const load_options& options, agreement& a,
                  declared_ids& ids) {
  r.sequence(r.child(top, "parties"), true, [&](const field& f) {
    if (!r.mapping(f, {"id", "name", "role", "identities"}, {})) {
      return;
    }
    party p;
    p.id = r.id(r.child(f, "id")).value_or("");
    p.name = r.nonempty(r.child(f, "name")).value_or("");
    if (auto role = r.string(r.child(f, "role"))) {
      if (*role == "controller") {
        p.role = party_role::controller;
      } else if (*role == "joint_controller") {
        p.role = party_role::joint_controller;
      } else if (*role == "processor") {
        p.role = party_role::processor;
      } else {
        r.error(f.node["role"],
                r.join(f.path, "role") + ": '" + *role +
                    "' (expected controller, joint_controller or processor)",
                "bad-value");
      }
    }
    if (!p.id.empty() && !ids.parties.insert(p.id).second) {
      r.error(f.node["id"], r.join(f.path, "id") + ": party '" + p.id + "' is declared twice",
              "duplicate-id");
    }
    r.sequence(r.child(f, "identities"), true, [&](const field& idf) {
      if (!r.mapping(idf, {"trust_anchor"},
                     {"uri_san", "dns_san", "subject", "spki_sha256", "not_after"})) {
        return;
      }
      identity_rule rule;
      rule.trust_anchor = r.nonempty(r.child(idf, "trust_anchor")).value_or("");
      if (options.trust_anchors && !rule.trust_anchor.empty() &&
          !options.trust_anchors->count(rule.trust_anchor)) {
        std::string known;
        for (const auto& t : *options.trust_anchors) {
          known += known.empty() ? t : ", " + t;
        }
        r.error(idf.node["trust_anchor"],
                r.join(idf.path, "trust_anchor") + ": '" + rule.trust_anchor +
                    "' is not a trust anchor of the gateway config (known: " + known + ")",
                "dangling-reference");
      }
      int selectors = 0;
      for (auto [key, kind] : {std::pair{"uri_san", identity_kind::uri_san},
                               std::pair{"dns_san", identity_kind::dns_san},
                               std::pair{"subject", identity_kind::subject}}) {
        if (auto v = r.string(r.child(idf, key))) {
          ++selectors;
          rule.kind = kind;
          rule.value = *v;
          if (v->empty()) {
            r.error(idf.node[key], r.join(idf.path, key) + ": must not be empty", "empty-value");
          }
        }
      }
      if (selectors == 1 && !rule.value.empty()) {
        set_match_value(r, idf, rule, options);
      }
      if (selectors != 1) {
        r.error(idf.node,
                idf.path + ": exactly one of uri_san, dns_san or subject is required (found " +
                    std::to_string(selectors) + ")",
                "bad-identity");
      }
      if (auto pin = r.string(r.child(idf, "spki_sha256"))) {
        if (!is_hex_sha256(*pin)) {
          r.error(idf.node["spki_sha256"],
                  r.join(idf.path, "spki_sha256") +
                      ": expected 64 hexadecimal digits (the SHA-256 of the public key)",
                  "bad-value");
        }
        rule.spki_sha256 = *pin;
        std::transform(rule.spki_sha256.begin(), rule.spki_sha256.end(), rule.spki_sha256.begin(),
                       [](unsigned char c) { return std::tolower(c); });
      }
      if (r.present(r.child(idf, "not_after"))) {
        rule.not_after = r.instant(r.child(idf, "not_after"));
      }
      p.identities.push_back(std::move(rule));
    });
    a.parties.push_back(std::move(p));
  });
}

}  // namespace dsa::policy::sections
