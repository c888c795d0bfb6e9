// `dsa-gateway --check`: everything start-up would refuse, without binding or opening anything.
#include <cstdio>
#include <set>

#include "common/clock.hpp"
#include "gateway/expiry.hpp"
#include "gateway/readiness.hpp"
#include "gateway/server.hpp"
#include "gateway/tls.hpp"
#include "policy/loader.hpp"

namespace dsa::gateway {

int check_config(const config& cfg) {
  int errors = 0;
  if (auto server_ctx = make_server_context(cfg.tls); !server_ctx) {
    std::printf("%s: error: %s\n", cfg.file.string().c_str(), server_ctx.error().c_str());
    ++errors;
  } else {
    // Allowed (tls.ciphers is the operator's call) but worth a line: docs/operations.md.
    for (const auto& name : non_aead_ciphers(server_ctx->get())) {
      std::printf("%s: warning: tls.ciphers enables %s, which is not an AEAD suite [tls-cipher]\n",
                  cfg.file.string().c_str(), name.c_str());
    }
  }
  for (const auto& ta : cfg.tls.trust_anchors) {
    if (ta.crl_file.empty()) {
      std::printf(
          "%s: warning: trust anchor '%s' has no crl_file: its certificates are not checked "
          "for revocation [no-crl]\n",
          cfg.file.string().c_str(), ta.name.c_str());
    }
  }
  for (const auto& [name, up] : cfg.upstreams) {
    if (!up.tls) {
      continue;
    }
    if (auto upstream_ctx = make_upstream_context(up); !upstream_ctx) {
      std::printf("%s: error: %s\n", cfg.file.string().c_str(), upstream_ctx.error().c_str());
      ++errors;
    }
  }
  if (!std::filesystem::is_directory(cfg.audit.path.parent_path())) {
    std::printf("%s: error: audit.path directory %s does not exist\n", cfg.file.string().c_str(),
                cfg.audit.path.parent_path().string().c_str());
    ++errors;
  }

  policy::load_options opts;
  std::set<std::string> anchors;
  for (const auto& ta : cfg.tls.trust_anchors) {
    anchors.insert(ta.name);
  }
  opts.trust_anchors = anchors;
  opts.now = policy::time_point(std::chrono::microseconds(common::now_us()));
  policy::load_result r = policy::load_agreements({cfg.agreements_dir}, opts);
  for (const auto& d : r.diagnostics) {
    std::printf("%s\n", d.format().c_str());
  }
  if (!r.ok()) {
    errors += static_cast<int>(std::max<std::size_t>(1, r.error_count()));
  } else {
    // The same expiry warnings the gateway logs at start (warnings.expiry_days).
    tls_deadlines deadlines = read_server_deadlines(cfg.tls);
    add_upstream_deadlines(cfg, deadlines);
    const std::int64_t now = common::now_us() / 1000000;
    for (const auto& w : expiry_warnings(*r.set, deadlines, now, cfg.warnings.expiry_days)) {
      std::printf("%s: warning: %s %s %s (%lld days) [expiry-warning]\n", cfg.file.string().c_str(),
                  w.subject.c_str(), w.what.c_str(), format_unix(w.at_unix).c_str(),
                  static_cast<long long>(w.days_left));
    }
    // A config that serves nothing would start and report ready while refusing every request
    // (docs/operations.md, section 3).
    const serving_summary serving = summarize_serving(*r.set, served_upstreams(cfg));
    for (const auto& u : serving.unused) {
      const std::string hint =
          u.suggestion.empty() ? std::string() : "; did you mean '" + u.suggestion + "'?";
      std::printf(
          "%s: warning: upstream '%s' is used by no endpoint of any agreement%s "
          "[unused-upstream]\n",
          cfg.file.string().c_str(), u.name.c_str(), hint.c_str());
    }
    for (const auto& problem : serving_problems(serving)) {
      std::printf("%s: error: %s [nothing-served]\n", cfg.file.string().c_str(), problem.c_str());
      ++errors;
    }
    for (const auto& a : r.set->agreements) {
      std::printf("agreement %s@%s (%s) %s\n", a->id.c_str(), a->version.c_str(),
                  std::string(policy::to_string(a->status)).c_str(), a->file.c_str());
      for (const auto& e : a->endpoints) {
        const bool here = cfg.upstreams.contains(e.upstream);
        std::printf("  endpoint %-28s %-6s %-44s upstream %-18s %s\n", e.id.c_str(),
                    e.method.c_str(), e.path.c_str(), e.upstream.c_str(),
                    here ? "served here" : "not served here");
      }
    }
  }
  std::printf("%s: %s (%d error%s)\n", cfg.file.string().c_str(), errors == 0 ? "ok" : "invalid",
              errors, errors == 1 ? "" : "s");
  return errors == 0 ? 0 : 1;
}

}  // namespace dsa::gateway
