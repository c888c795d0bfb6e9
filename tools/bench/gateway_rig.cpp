#include "tools/bench/gateway_rig.hpp"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "tests/common/dev_pki.hpp"
#include "tests/common/loopback.hpp"

namespace dsa::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The demo-like agreement the docs/design.md §9 proxy bar is measured on: police read council
// ASB cases, the response filtered by allow_fields and withhold_if, no volume caps.
const char* self_agreement = R"yaml(schema: dsa/v1
id: bench-asb
version: 1.0.0
title: Benchmark — police read council ASB cases
status: active
validity: {from: 2020-01-01, until: 2099-01-01}
parties:
  - id: northshire-police
    name: Chief Constable of Northshire Police
    role: controller
    identities: [{trust_anchor: partner-ca, uri_san: "spiffe://northshire.police.uk.example/dsa-gateway"}]
  - id: kingsbury-council
    name: Kingsbury District Council
    role: controller
    identities: [{trust_anchor: partner-ca, uri_san: "spiffe://kingsbury.gov.uk.example/dsa-gateway"}]
legal:
  gateways: [{id: cda-1998-s115, cite: Crime and Disorder Act 1998 s.115}]
  lawful_bases: [{id: dpa-2018-s35, cite: DPA 2018 Part 3 s.35(2)(b)}]
purposes: [{id: asb-case-management, description: Managing an open ASB case}]
data_categories:
  - {id: asb-case-record, description: ASB case record, personal_data: true, special_category: false, criminal_offence_data: true, retention: 6 years}
endpoints:
  - id: council-asb-case
    provider: kingsbury-council
    upstream: council-asb
    method: GET
    path: /asb/v1/cases/{case_id}
    path_params: {case_id: "ASB-[0-9]{4}-[0-9]{6}"}
    data_categories: [asb-case-record]
    response:
      allow_fields: [/case_id, /status, /opened_on, /category, /ward, /risk_level, /lead_officer_team,
                     /subjects/*/subject_id, /subjects/*/name, /subjects/*/role, /subjects/*/age_band,
                     /actions, /warnings]
      withhold_if: [{pointer: /restricted, equals: true}]
      add_headers: {Handling-Caveat: OFFICIAL-SENSITIVE}
  # No JSON rules, so streamed (docs/design.md §4.5): `dsa-bench http --compare-nginx
  # --stream-mib N` downloads it. max_bytes (16 GiB) is the --stream-mib ceiling, so the limit
  # never cuts the body under measure.
  - id: council-asb-case-bundle
    provider: kingsbury-council
    upstream: council-asb
    method: GET
    path: /asb/v1/cases/{case_id}/bundle
    path_params: {case_id: "ASB-[0-9]{4}-[0-9]{6}"}
    data_categories: [asb-case-record]
    response: {max_bytes: 17179869184}
permissions:
  - id: police-read-asb-case
    assignee: northshire-police
    endpoints: [council-asb-case, council-asb-case-bundle]
    purposes: [asb-case-management]
    lawful_basis: [dpa-2018-s35]
    legal_gateway: [cda-1998-s115]
    require: {case_ref: "ASB-[0-9]{4}-[0-9]{6}", case_ref_param: case_id}
)yaml";

fs::path write_config(const bench_dir& dir, const std::string& upstream_yaml,
                      const rig_extras& extra) {
  const std::string pki = dir.pki().string();
  const fs::path config = dir.path() / "gateway.yaml";
  std::ofstream out(config);
  out << "listen: 127.0.0.1:0\nthreads: 1\ntls:\n  certificate: " << pki
      << "/gateway.pem\n  private_key: " << pki << "/gateway.key\n  trust_anchors:\n"
      << "    - {name: partner-ca, ca_file: " << pki << "/ca.pem, crl_file: " << pki
      << "/crl.pem}\nagreements_dir: " << (dir.path() / "agreements").string()
      << "\nupstreams:\n  council-asb: " << upstream_yaml << "\n";
  for (const auto& [name, yaml] : extra.upstreams) {
    out << "  " << name << ": " << yaml << "\n";
  }
  out << "audit: {path: " << (dir.path() / "audit.db").string()
      << ", signing_key: " << (dir.path() / "audit-key.pem").string() << "}\n"
      << extra.yaml;
  return config;
}

}  // namespace

bench_dir::bench_dir(const fs::path& source_dir, std::string_view prefix, bool keep)
    : dir_(prefix) {
  if (keep) {
    dir_.keep();
  }
  pki_ = test::make_dev_pki(source_dir, dir_.path());
  dir_.write("agreements/bench-asb.yaml", self_agreement);
}

std::string default_gateway_binary() {
  return (fs::read_symlink("/proc/self/exe").parent_path() / "../gateway/dsa-gateway")
      .lexically_normal()
      .string();
}

gateway_rig::gateway_rig(const std::string& binary, const bench_dir& dir,
                         const std::string& upstream_yaml, const rig_extras& extra)
    : proc_({binary, "--config", write_config(dir, upstream_yaml, extra).string()},
            dir.path() / "gateway.log", test::process::options{SIGTERM, 15s}) {
  const std::optional<std::string> line = proc_.read_line(20s);
  const std::string text = line.value_or("");
  const auto https = text.find("https=");
  if (https == std::string::npos) {
    throw std::runtime_error("the gateway did not start (" + binary + ", " + proc_.describe_exit() +
                             "); its log:\n" + test::read_text(dir.path() / "gateway.log"));
  }
  authority_ = text.substr(https + 6, text.find(' ', https) - https - 6);
  const auto admin = text.find("admin=");
  const auto colon = text.rfind(':');
  if (admin != std::string::npos && colon > admin) {
    admin_port_ = std::atoi(text.c_str() + colon + 1);
  }
}

std::string gateway_rig::metrics() const {
  if (admin_port_ == 0) {
    return {};
  }
  test::http_reply r = test::loopback_get(admin_port_, "/metrics");
  return r.status == 200 ? std::move(r.body) : std::string();
}

std::string gateway_rig::stop() {
  const bool was_running = proc_.running();
  const int status = proc_.stop(SIGTERM, 15s);
  if (!was_running) {
    return "died during the run (" + proc_.describe_exit() + ")";
  }
  return status == 0 ? std::string() : proc_.describe_exit() + " after SIGTERM";
}

double metric_value(const std::string& text, const std::string& name) {
  const std::string sample = name + " ";
  std::size_t pos = text.rfind(sample, 0) == 0 ? 0 : text.find("\n" + sample);
  if (pos == std::string::npos) {
    return -1;
  }
  pos = text.find(' ', pos + 1);
  return std::atof(text.c_str() + pos + 1);
}

}  // namespace dsa::bench
