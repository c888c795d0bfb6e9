// Shared by the IG officer's commands; see policy_cli.hpp.

#include "tools/dsa/policy_cli.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <sstream>

#include "policy/canonical_path.hpp"
#include "policy/request_fields.hpp"
#include "policy/text.hpp"

namespace dsa::cli {

namespace json = boost::json;
using policy::time_point;

time_point now_utc() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

void print_diagnostics(const policy::load_result& r) {
  for (const policy::diagnostic& d : r.diagnostics) {
    std::cerr << d.format() << '\n';
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

namespace {

bool party_is_known(const policy::agreement_set& set, std::string_view party) {
  return std::any_of(set.agreements.begin(), set.agreements.end(),
                     [&](const auto& a) { return a->find_party(party) != nullptr; });
}

}  // namespace

evaluation evaluate(const policy::engine& engine, const described_request& r, time_point now,
                    policy::volume_counter& counter, bool trace) {
  evaluation out;
  policy::target_result target = policy::canonicalize_target(r.target);
  if (!target.ok()) {
    out.bad_request = true;
    out.decision.why = policy::reason::bad_request;
    out.decision.detail = target.error;
    return out;
  }
  // The header rules of live traffic: a request the gateway refuses with 400 is refused here.
  policy::result<policy::client_fields> fields = policy::read_client_fields(r.headers);
  if (!fields) {
    out.bad_request = true;
    out.decision.why = policy::reason::bad_request;
    out.decision.detail = fields.error();
    return out;
  }
  const policy::client_fields& f = fields.value();
  policy::request_view view;
  view.method = r.method;
  view.path = target.value.path;
  view.query = target.value.query;
  view.now = now;
  auto header = [](const std::optional<std::string>& v) -> std::optional<std::string_view> {
    if (!v) {
      return std::nullopt;
    }
    return std::string_view(*v);
  };
  view.purpose = header(f.purpose);
  view.case_ref = header(f.case_ref);
  view.acting_user = header(f.acting_user);
  view.agreement = header(f.agreement);
  view.emergency = header(f.emergency);
  view.justification = header(f.emergency_justification);
  if (r.has_identity) {
    out.decision = engine.decide(r.identity, view, counter, trace);
  } else if (!party_is_known(engine.agreements(), r.requester)) {
    // The gateway answers unknown_requester for a certificate no agreement names; a party id no
    // agreement declares is the same case (docs/agreements.md, "Explaining a decision").
    out.decision.why = policy::reason::unknown_requester;
    out.decision.detail =
        "party '" + policy::escape_text(r.requester) + "' is not named by any loaded agreement";
  } else {
    out.decision = engine.decide_for(r.requester, view, counter, trace);
  }
  return out;
}

json::object decision_json(const evaluation& e) {
  const policy::decision& d = e.decision;
  json::object o;
  o["decision"] = d.allowed ? "allow" : "deny";
  o["status"] = d.status();
  o["reason"] = d.allowed ? "" : std::string(policy::to_string(d.why));
  o["requester"] = d.requester;
  o["agreement"] = d.agreement ? d.agreement->id : "";
  o["version"] = d.agreement ? d.agreement->version : "";
  o["permission"] = d.permission ? d.permission->id : "";
  o["endpoint"] = d.endpoint ? d.endpoint->id : "";
  o["detail"] = d.detail;
  o["emergency"] = d.emergency;  // allowed by an emergency permission (docs/agreements.md)
  json::array trace;
  for (const policy::trace_step& s : d.trace) {
    trace.push_back(json::object{{"agreement", s.agreement},
                                 {"permission", s.permission},
                                 {"endpoint", s.endpoint},
                                 {"result", policy::to_string(s.result)},
                                 {"detail", s.detail}});
  }
  o["trace"] = std::move(trace);
  return o;
}

// Parses the explain request JSON; false with `error` set on invalid input.
std::string read_stream(std::istream& in) {
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace dsa::cli
