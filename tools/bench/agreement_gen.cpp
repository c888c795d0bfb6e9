// The agreement generator shared by `dsa-bench policy` and `dsa-bench memory` (agreement_gen.hpp).
#include "tools/bench/agreement_gen.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace dsa::bench {
namespace {

std::string party_id(int n) { return "org-" + std::to_string(n); }

}  // namespace

// One agreement: a provider organisation shares three endpoints with two requesters, with the
// conditions real agreements carry (case references, acting users, time windows, caps, query
// parameters and a prohibition).
std::string generated_agreement_yaml(int i, const generated_shape& s) {
  const int provider = s.provider, r1 = s.r1, r2 = s.r2;
  std::ostringstream y;
  std::string id = "bench-" + std::to_string(i);
  y << "schema: dsa/v1\nid: " << id << "\nversion: 1.0.0\ntitle: Generated agreement " << i
    << "\nstatus: active\nvalidity: {from: 2026-04-01, until: 2028-04-01}\n"
    << "review: {due: 2027-09-30}\nparties:\n";
  for (int p : {provider, r1, r2}) {
    y << "  - id: " << party_id(p) << "\n    name: Organisation " << p
      << "\n    role: controller\n    identities: [{trust_anchor: partner-ca, uri_san: "
         "\"spiffe://org"
      << p << ".example/gw\"}]\n";
  }
  y << "legal:\n  gateways: [{id: cda-s115, cite: Crime and Disorder Act 1998 s.115}]\n"
    << "  lawful_bases: [{id: public-task, cite: UK GDPR Art 6(1)(e)}]\n"
    << "purposes:\n  - {id: asb-case-management, description: Case management}\n"
    << "  - {id: prevention, description: Prevention}\n"
    << "data_categories:\n  - {id: case, description: Case record, personal_data: true, "
       "special_category: false, criminal_offence_data: false, retention: 6 years}\n"
    << "endpoints:\n";
  std::string base = "/svc" + std::to_string(i);
  y << "  - id: case\n    provider: " << party_id(provider)
    << "\n    upstream: up\n    method: GET\n    path: " << base
    << "/cases/{case_id}\n    path_params: {case_id: \"ASB-[0-9]{4}-[0-9]{6}\"}\n"
    << "    query_params: {include: {pattern: \"actions|notes\", required: false}}\n"
    << "    data_categories: [case]\n    response: {allow_fields: [/case_id, /status]}\n"
    << "  - id: list\n    provider: " << party_id(provider)
    << "\n    upstream: up\n    method: GET\n    path: " << base
    << "/cases\n    query_params: {ward: {pattern: \"[A-Z][0-9]{8}\", required: true}}\n"
    << "    data_categories: [case]\n    response: {allow_fields: [/cases/*/case_id]}\n"
    << "  - id: note\n    provider: " << party_id(provider)
    << "\n    upstream: up\n    method: POST\n    path: " << base
    << "/cases/{case_id}/notes\n    data_categories: [case]\n"
    << "permissions:\n"
    << "  - id: read-case\n    assignee: " << party_id(r1)
    << "\n    endpoints: [case]\n    purposes: [asb-case-management]\n"
    << "    lawful_basis: [public-task]\n    legal_gateway: [cda-s115]\n"
    << "    require: {case_ref: \"ASB-[0-9]{4}-[0-9]{6}\", case_ref_param: case_id, acting_user: "
       "\"[A-Z]{2}[0-9]{4}\"}\n"
    << "    volume_caps: [{scope: case_ref, window: P1D, max: 100000000}]\n"
    << "  - id: read-list\n    assignee: " << party_id(r2)
    << "\n    endpoints: [list]\n    purposes: [prevention]\n"
    << "    lawful_basis: [public-task]\n    legal_gateway: [cda-s115]\n"
    << "    time_windows: {timezone: Europe/London, allow: [{days: [mon, tue, wed, thu, fri], "
       "from: \"00:00\", to: \"24:00\"}]}\n"
    << "  - id: write-note\n    assignee: " << party_id(r1)
    << "\n    endpoints: [note]\n    purposes: [asb-case-management]\n"
    << "    lawful_basis: [public-task]\n    legal_gateway: [cda-s115]\n"
    << "prohibitions:\n  - {id: no-prevention-notes, assignee: any, endpoints: [note], purposes: "
       "[prevention], reason: Notes are for case management only}\n";
  return y.str();
}

int generated_organisations(int count) { return std::max(3, count / 5); }

std::vector<generated_shape> write_generated_agreements(const std::filesystem::path& dir, int count,
                                                        std::mt19937& rng) {
  const int organisations = generated_organisations(count);
  std::vector<generated_shape> shapes;
  shapes.reserve(static_cast<std::size_t>(std::max(0, count)));
  for (int i = 0; i < count; ++i) {
    generated_shape s;
    s.provider = static_cast<int>(rng() % organisations);
    s.r1 = static_cast<int>(rng() % organisations);
    s.r2 = static_cast<int>(rng() % organisations);
    while (s.r1 == s.provider) {
      s.r1 = (s.r1 + 1) % organisations;
    }
    while (s.r2 == s.provider || s.r2 == s.r1) {
      s.r2 = (s.r2 + 1) % organisations;
    }
    shapes.push_back(s);
    std::ofstream(dir / ("bench-" + std::to_string(i) + ".yaml")) << generated_agreement_yaml(i, s);
  }
  return shapes;
}

}  // namespace dsa::bench
