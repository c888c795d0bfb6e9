// Property tests: random agreements and requests from fixed seeds (so a failure reproduces),
// bounded to a few seconds. Each property is one the product promises for every input, not just
// for the examples: adding an agreement that does not involve a party changes nothing for it; a
// refusal never names an agreement the requester is not a party to; and `dsa explain` decides
// the same bytes exactly as the library path the gateway uses (canonicalize_target, then
// read_client_fields, then the engine).

#include <sys/wait.h>

#include <array>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "policy/canonical_path.hpp"
#include "policy/request_fields.hpp"
#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy;
using namespace dsa::policy::testing;

namespace {

constexpr int k_parties = 5;  // p0 … p4; an unrelated agreement uses only p3 and p4
constexpr const char* k_now = "2026-11-24T10:30:00Z";

std::string party_id(int k) { return "p" + std::to_string(k); }
std::string party_san(int k) { return "spiffe://p" + std::to_string(k) + ".test/gw"; }

struct shape {
  const char* path;
  const char* params;  // YAML for path_params / query_params, or ""
};
constexpr std::array<shape, 4> k_shapes{{
    {"/s/v1/items/{item}", "    path_params: {item: \"I[0-9]{3}\"}\n"},
    {"/s/v1/items/{item}/notes", "    path_params: {item: \"I[0-9]{3}.?\"}\n"},
    {"/s/v1/list",
     "    query_params: {q: {pattern: \"[a-z]{1,5}\", required: true}, "
     "n: {pattern: \"[0-9]+\", required: false}}\n"},
    {"/s/v2/{a}/{b}", ""},
}};

class generator {
 public:
  explicit generator(unsigned seed) : rng_(seed) {}

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool coin(int percent = 50) { return pick(100) < percent; }

  // An agreement among `parties` (ids from the pool), as YAML text.
  std::string agreement(const std::string& id, std::vector<int> parties) {
    std::string y = "schema: dsa/v1\nid: " + id + "\nversion: 1.0.0\ntitle: Agreement " + id + "\n";
    if (coin(85)) {
      y += "status: active\n";
    } else {
      y += "status: suspended\nstatus_reason: Suspended pending review of " + id + "\n";
    }
    y += "validity: {from: 2026-04-01, until: 2028-04-01}\nparties:\n";
    for (int k : parties) {
      y += "  - {id: " + party_id(k) + ", name: Party " + std::to_string(k) +
           ", role: controller, identities: [{trust_anchor: ca, uri_san: \"" + party_san(k) +
           "\"}]}\n";
    }
    y += "legal:\n  gateways: [{id: g, cite: Gateway}]\n  lawful_bases: [{id: b, cite: Basis}]\n"
         "purposes: [{id: pur-a, description: A}, {id: pur-b, description: B}]\n"
         "data_categories: [{id: cat, description: C, personal_data: true, "
         "special_category: false, criminal_offence_data: false, retention: 1 year}]\n"
         "endpoints:\n";
    const int endpoints = 1 + pick(3);
    for (int e = 0; e < endpoints; ++e) {
      const shape& s = k_shapes[pick(static_cast<int>(k_shapes.size()))];
      y += "  - id: e" + std::to_string(e) +
           "\n    provider: " + party_id(parties[pick(static_cast<int>(parties.size()))]) +
           "\n    upstream: up\n    method: " + (coin(80) ? "GET" : "POST") +
           "\n    path: " + s.path + "\n" + s.params +
           "    data_categories: [cat]\n    response: {allow_fields: [/id]}\n";
    }
    y += "permissions:\n";
    const int permissions = 1 + pick(3);
    for (int p = 0; p < permissions; ++p) {
      y += "  - id: perm" + std::to_string(p) +
           "\n    assignee: " + party_id(parties[pick(static_cast<int>(parties.size()))]) +
           "\n    endpoints: [" + subset("e", endpoints) + "]\n    purposes: [" +
           (coin()   ? "pur-a"
            : coin() ? "pur-b"
                     : "pur-a, pur-b") +
           "]\n    lawful_basis: [b]\n    legal_gateway: [g]\n";
      std::string require;
      if (coin(40)) {
        require += "case_ref: \"C-[0-9]{2}\"";
      }
      if (coin(30)) {
        require += std::string(require.empty() ? "" : ", ") + "acting_user: \"U[0-9]{2}\"";
      }
      if (!require.empty()) {
        y += "    require: {" + require + "}\n";
      }
    }
    if (coin(40)) {
      y += "prohibitions:\n  - {id: no-b, assignee: " +
           (coin() ? std::string("any")
                   : party_id(parties[pick(static_cast<int>(parties.size()))])) +
           ", endpoints: [e0], purposes: [pur-b], reason: Not for B under " + id + "}\n";
    }
    return y;
  }

  // A request target: mostly template-shaped, sometimes hostile.
  std::string target() {
    static const std::array<const char*, 12> items = {
        "I123",       "I12",  "I1234", "I123x",   "I%31%32%33", "I123%0A",
        "I123%C0%AE", "..;x", "",      "I123%00", "%49123",     "I12%33"};
    const std::string item = items[pick(static_cast<int>(items.size()))];
    switch (pick(6)) {
      case 0:
        return "/s/v1/items/" + item;
      case 1:
        return "/s/v1/items/" + item + "/notes";
      case 2: {
        static const std::array<const char*, 9> queries = {
            "",     "?q=abc",       "?q=ABC",  "?q=abc&n=12",  "?q=abc&q=def",
            "?n=1", "?q=abc%0D%0A", "?x%FF=1", "?q=ab&n=1&n=2"};
        return std::string("/s/v1/list") + queries[pick(static_cast<int>(queries.size()))];
      }
      case 3:
        return "/s/v2/" + item + "/b";
      case 4:
        return "/s/v1//items";
      default:
        return "/s/v1/items/" + item + "?n=1";
    }
  }

  // Header fields as a client could send them, sometimes breaking the shared rules.
  std::vector<std::pair<std::string, std::string>> headers(const std::vector<std::string>& ids) {
    std::vector<std::pair<std::string, std::string>> h;
    static const std::array<const char*, 5> purposes = {"pur-a", "pur-b", "other", " ", "pur-a "};
    if (coin(85)) {
      h.emplace_back(coin(80) ? "DSA-Purpose" : "dsa-purpose",
                     purposes[pick(static_cast<int>(purposes.size()))]);
    }
    if (coin(50)) {
      h.emplace_back("DSA-Case-Ref", coin(70) ? "C-12" : "C-1");
    }
    if (coin(30)) {
      h.emplace_back("DSA-Acting-User", coin(70) ? "U42" : "u42");
    }
    if (coin(15)) {
      h.emplace_back("DSA-Agreement", ids[pick(static_cast<int>(ids.size()))]);
    }
    switch (pick(12)) {
      case 0:
        h.emplace_back("DSA_Purpose", "pur-a");
        break;
      case 1:
        h.emplace_back("DSA-PURPOSE", "pur-b");
        break;
      case 2:
        h.emplace_back("DSA-Requester", party_id(0));
        break;
      case 3:
        h.emplace_back("X-Other", "x");
        break;
      default:
        break;
    }
    return h;
  }

 private:
  std::string subset(const char* prefix, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
      if (coin() || (i == n - 1 && out.empty())) {
        out += (out.empty() ? "" : ", ") + std::string(prefix) + std::to_string(i);
      }
    }
    return out;
  }

  std::mt19937 rng_;
};

struct outcome {
  bool allowed = false;
  reason why = reason::no_agreement;
  std::string agreement, permission, endpoint, detail;
  bool operator==(const outcome&) const = default;
};

// The library path the gateway takes for one request's bytes.
outcome decide_bytes(const engine& eng, int party, const std::string& method,
                     const std::string& target,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     decision* full = nullptr) {
  outcome o;
  target_result t = canonicalize_target(target);
  if (!t.ok()) {
    o.why = reason::bad_request;
    o.detail = t.error;
    return o;
  }
  result<client_fields> f = read_client_fields(headers);
  if (!f) {
    o.why = reason::bad_request;
    o.detail = f.error();
    return o;
  }
  request_view v;
  v.method = method;
  v.path = t.value.path;
  v.query = t.value.query;
  const client_fields& cf = f.value();
  auto view_of = [](const std::optional<std::string>& s) -> std::optional<std::string_view> {
    if (!s) {
      return std::nullopt;
    }
    return std::string_view(*s);
  };
  v.purpose = view_of(cf.purpose);
  v.case_ref = view_of(cf.case_ref);
  v.acting_user = view_of(cf.acting_user);
  v.agreement = view_of(cf.agreement);
  v.now = at(k_now);
  request_identity id;
  id.trust_anchor = "ca";
  id.uri_sans = {party_san(party)};
  memory_volume_counter counter;
  decision d = eng.decide(id, v, counter, true);
  o.allowed = d.allowed;
  o.why = d.why;
  o.agreement = d.agreement ? d.agreement->id : "";
  o.permission = d.permission ? d.permission->id : "";
  o.endpoint = d.endpoint ? d.endpoint->id : "";
  o.detail = d.detail;
  if (full != nullptr) {
    *full = std::move(d);
  }
  return o;
}

std::shared_ptr<const agreement_set> load_dir(const temp_dir& dir) {
  load_result r = load_agreements({dir.path()}, {});
  for (const auto& d : r.diagnostics) {
    UNSCOPED_INFO(d.format());
  }
  REQUIRE(r.ok());
  return r.set;
}

std::string run_dsa(const std::string& args) {
  std::string cmd = std::string(DSA_BINARY_DIR) + "/tools/dsa " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
    out.append(buf.data(), n);
  }
  pclose(p);
  return out;
}

std::string json_string(const std::string& s) {
  return boost::json::serialize(boost::json::value(boost::json::string_view(s)));
}

}  // namespace

TEST_CASE("property: an agreement that does not involve a party changes none of its decisions") {
  for (unsigned seed = 1; seed <= 25; ++seed) {
    generator g(seed);
    temp_dir dir;
    std::vector<std::string> ids;
    const int related = 1 + g.pick(4);
    for (int a = 0; a < related; ++a) {
      // Parties drawn from p0 … p2 only.
      std::vector<int> parties = {0, 1, 2};
      if (g.coin()) {
        parties.erase(parties.begin() + g.pick(3));
      }
      ids.push_back("ag-" + std::to_string(1000 + seed * 10 + a));
      dir.write(ids.back() + ".yaml", g.agreement(ids.back(), parties));
    }
    const std::string unrelated = "ag-" + std::to_string(1000 + seed * 10 + 9);
    ids.push_back(unrelated);
    auto before = load_dir(dir);
    dir.write(unrelated + ".yaml", g.agreement(unrelated, {3, 4}));
    auto after = load_dir(dir);
    engine e1(before), e2(after);
    for (int i = 0; i < 60; ++i) {
      const int party = g.pick(3);
      const std::string method = g.coin(80) ? "GET" : "POST";
      const std::string target = g.target();
      const auto headers = g.headers(ids);
      INFO("seed " << seed << " request " << i << ": " << party_id(party) << " " << method << " "
                   << target);
      CHECK(decide_bytes(e1, party, method, target, headers) ==
            decide_bytes(e2, party, method, target, headers));
    }
  }
}

TEST_CASE("property: a refusal never names an agreement the requester is not a party to") {
  std::size_t denies = 0;
  for (unsigned seed = 100; seed < 125; ++seed) {
    generator g(seed);
    temp_dir dir;
    std::vector<std::string> ids;
    std::map<std::string, std::set<int>> parties_of;
    const int count = 2 + g.pick(4);
    for (int a = 0; a < count; ++a) {
      std::set<int> chosen;
      while (chosen.size() < 2 + static_cast<std::size_t>(g.pick(2))) {
        chosen.insert(g.pick(k_parties));
      }
      ids.push_back("ag-" + std::to_string(2000 + seed * 10 + a));
      parties_of[ids.back()] = chosen;
      dir.write(ids.back() + ".yaml",
                g.agreement(ids.back(), std::vector<int>(chosen.begin(), chosen.end())));
    }
    engine eng(load_dir(dir));
    for (int i = 0; i < 80; ++i) {
      const int party = g.pick(k_parties);
      const std::string target = g.target();
      const auto headers = g.headers(ids);
      decision d;
      outcome o = decide_bytes(eng, party, "GET", target, headers, &d);
      if (o.allowed) {
        continue;
      }
      ++denies;
      for (const std::string& id : ids) {
        if (parties_of[id].count(party) != 0) {
          continue;
        }
        INFO("seed " << seed << " request " << i << ": " << party_id(party) << " GET " << target
                     << " must not see " << id);
        CHECK(o.detail.find(id) == std::string::npos);
        CHECK(o.agreement != id);
        for (const trace_step& s : d.trace) {
          CHECK(s.agreement != id);
          CHECK(s.detail.find(id) == std::string::npos);
        }
      }
    }
  }
  CHECK(denies > 500);  // the generator produces refusals of many kinds, not only allows
}

TEST_CASE("property: dsa explain decides the same bytes as the library path of the gateway") {
  std::set<std::string> reasons_seen;
  for (unsigned seed = 200; seed < 212; ++seed) {
    generator g(seed);
    temp_dir dir;
    std::vector<std::string> ids;
    for (int a = 0; a < 3; ++a) {
      ids.push_back("ag-" + std::to_string(3000 + seed * 10 + a));
      dir.write(ids.back() + ".yaml", g.agreement(ids.back(), {0, 1, 2, 3}));
    }
    engine eng(load_dir(dir));
    for (int i = 0; i < 10; ++i) {
      const int party = g.pick(4);
      const std::string target = g.target();
      const auto headers = g.headers(ids);
      const outcome want = decide_bytes(eng, party, "GET", target, headers);
      std::string json = R"({"identity": {"trust_anchor": "ca", "uri_san": [)" +
                         json_string(party_san(party)) + R"(]}, "method": "GET", "target": )" +
                         json_string(target) + R"(, "headers": {)";
      for (std::size_t k = 0; k < headers.size(); ++k) {
        json +=
            (k ? ", " : "") + json_string(headers[k].first) + ": " + json_string(headers[k].second);
      }
      json += "}}";
      auto file = dir.write("request.json", json);
      const std::string out = run_dsa("explain --agreements " + dir.path().string() + " --time " +
                                      k_now + " " + file.string());
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(out, ec);
      INFO("seed " << seed << " request " << i << ": " << json << "\n" << out);
      REQUIRE_FALSE(ec);
      const boost::json::object& o = v.as_object();
      CHECK((o.at("decision").as_string() == "allow") == want.allowed);
      CHECK(o.at("reason").as_string() == (want.allowed ? "" : std::string(to_string(want.why))));
      CHECK(o.at("agreement").as_string() == want.agreement);
      CHECK(o.at("permission").as_string() == want.permission);
      CHECK(o.at("endpoint").as_string() == want.endpoint);
      CHECK(o.at("detail").as_string() == want.detail);
      reasons_seen.insert(want.allowed ? "allowed" : std::string(to_string(want.why)));
    }
  }
  // The sample covers target and header refusals as well as policy decisions.
  CHECK(reasons_seen.count("bad_request") == 1);
  CHECK(reasons_seen.size() >= 5);
}
