// `dsa explain` (docs/design.md §8): one request decided against the agreements, and why.

#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "audit/entry.hpp"
#include "audit/reader.hpp"
#include "audit/verify.hpp"
#include "policy/request_fields.hpp"
#include "tools/dsa/audit_cli.hpp"
#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

namespace fs = std::filesystem;
namespace json = boost::json;
using policy::time_point;

namespace {

struct explain_args {
  std::string agreements, time, format = "json", request, db, key;
};

// Where the volume caps' counts came from: an audit store, or nowhere (counts not known).
struct count_source {
  std::string db;            // empty: no --db, the counts are not known
  std::uint64_t seeded = 0;  // counted entries recorded from the store
};

// Seeds `counter` from the audit store `db` exactly as the gateway seeds its own at start
// (gateway/server.cpp, docs/design.md §3): the counted entries of the longest cap window before
// `now`, each recorded under its agreement and permission when that permission has caps. The
// store is opened read-only and verified first (audit/verify.hpp), and every value is derived
// from the verified entry texts, never from the indexed columns. Prints the problem and returns
// false when the store cannot be read or fails verification.
bool seed_from_store(const explain_args& args, const policy::agreement_set& set, time_point now,
                     policy::memory_volume_counter& counter, count_source& source) {
  audit::verify_options options;
  if (!args.key.empty()) {
    auto pem = read_file(args.key);
    if (!pem) {
      std::cerr << "dsa explain: --key: " << pem.error() << '\n';
      return false;
    }
    options.public_key_pem = *pem;
  }
  auto opened = audit::reader::open(args.db);
  if (!opened) {
    std::cerr << "dsa explain: --db: " << opened.error() << '\n';
    return false;
  }
  const audit::reader& r = **opened;
  auto verified = audit::verify_reader(r, options);
  if (!verified) {
    std::cerr << "dsa explain: --db: " << verified.error() << '\n';
    return false;
  }
  if (!verified->intact()) {
    const audit::problem& p = verified->problems.front();
    std::cerr << "dsa explain: --db: audit store " << args.db
              << " fails verification, refusing to count from it: "
              << (p.seq ? "first bad seq " + std::to_string(*p.seq) + ": " : std::string())
              << audit::to_string(p.kind) << " (" << p.detail << "); run `dsa audit verify`\n";
    return false;
  }
  std::chrono::microseconds longest{0};
  for (const auto& a : set.agreements) {
    for (const policy::permission& p : a->permissions) {
      for (const policy::volume_cap& cap : p.volume_caps) {
        longest = std::max(longest, cap.window);
      }
    }
  }
  source.db = args.db;
  if (longest.count() == 0) {
    return true;  // no caps: the gateway reads nothing either
  }
  const std::int64_t since = (now - longest).time_since_epoch().count();
  audit::entry_columns c;
  std::string bad;
  auto read = r.for_each_entry([&](std::uint64_t seq, std::string_view text, std::string_view) {
    if (!audit::derive_columns(text, c)) {
      bad = "entry " + std::to_string(seq) + " is not a well-formed entry";
      return false;
    }
    if (!c.counted || c.time_us < since) {
      return true;
    }
    const policy::agreement* a = set.find(c.agreement);
    if (a == nullptr) {
      return true;
    }
    for (const policy::permission& p : a->permissions) {
      if (p.id == c.permission && !p.volume_caps.empty()) {
        counter.record(*a, p,
                       policy::cap_keys{c.requester, c.case_ref, c.acting_user, c.incident_ref},
                       time_point(std::chrono::microseconds(c.time_us)));
        ++source.seeded;
      }
    }
    return true;
  });
  if (!read || !bad.empty()) {
    std::cerr << "dsa explain: --db: audit store " << args.db << ": "
              << (bad.empty() ? read.error() : bad) << '\n';
    return false;
  }
  return true;
}

const char* const day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

// What an allow grants and under which terms (docs/agreements.md, "Explaining a decision"): the
// lawful bases and legal gateways the permission relies on, what of the response will leave, and
// the time windows and volume caps that applied, each cap with its count including this request
// when the counts are known (from the audit store), null when they are not.
json::object grant_json(const policy::decision& d, const described_request& r, time_point now,
                        policy::memory_volume_counter& counter, const count_source& source) {
  const policy::agreement& a = *d.agreement;
  const policy::permission& p = *d.permission;
  const policy::endpoint& e = *d.endpoint;
  auto citations = [](const std::vector<std::string>& ids,
                      const std::vector<policy::citation>& declared) {
    json::array out;
    for (const std::string& id : ids) {
      auto it = std::find_if(declared.begin(), declared.end(),
                             [&](const policy::citation& c) { return c.id == id; });
      out.push_back(json::object{{"id", id}, {"cite", it == declared.end() ? "" : it->cite}});
    }
    return out;
  };
  json::object g;
  g["lawful_basis"] = citations(p.lawful_basis, a.lawful_bases);
  g["legal_gateway"] = citations(p.legal_gateway, a.legal_gateways);
  json::object released;
  // An emergency block's own response rules replace the endpoint's (docs/agreements.md §3.10).
  const policy::response_rules& rr = policy::response_rules_for(p, e);
  if (!rr.filters()) {
    released["whole_body"] = true;  // no response rules: the upstream body leaves as it is
  } else {
    released["whole_body"] = false;
    json::array fields;
    for (const policy::json_pointer& f : rr.allow_fields) {
      fields.emplace_back(f.text);
    }
    if (rr.has_allow_fields) {
      released["allow_fields"] = std::move(fields);
    }
    if (rr.max_items) {
      released["max_items"] =
          json::object{{"pointer", rr.max_items->pointer.text}, {"max", rr.max_items->max}};
    }
    json::array withhold;
    for (const policy::withhold_rule& w : rr.withhold_if) {
      // The value as JSON (true, 3, "C"), not its serialised text ("true").
      boost::system::error_code ec;
      json::value equals = json::parse(w.equals_json, ec);
      if (ec) {
        equals = w.equals_json;  // not reached: the loader serialises a parsed YAML value
      }
      withhold.push_back(json::object{{"pointer", w.pointer.text}, {"equals", std::move(equals)}});
    }
    released["withhold_if"] = std::move(withhold);
  }
  json::array categories;
  for (const std::string& c : e.data_categories) {
    categories.emplace_back(c);
  }
  released["data_categories"] = std::move(categories);
  g["released"] = std::move(released);
  if (p.windows) {
    json::array allow;
    for (const policy::time_window& w : p.windows->allow) {
      json::array days;
      for (int i = 0; i < 7; ++i) {
        if ((w.days & (1u << i)) != 0) {
          days.emplace_back(day_names[i]);
        }
      }
      char from[24], to[24];  // "HH:MM"; room for any int the compiler cannot rule out
      std::snprintf(from, sizeof from, "%02d:%02d", w.from_minute / 60, w.from_minute % 60);
      std::snprintf(to, sizeof to, "%02d:%02d", w.to_minute / 60, w.to_minute % 60);
      allow.push_back(json::object{{"days", std::move(days)}, {"from", from}, {"to", to}});
    }
    std::string local;
    if (p.windows->zone != nullptr) {
      auto zoned = date::make_zoned(p.windows->zone, std::chrono::floor<std::chrono::seconds>(now));
      local = date::format("%a %Y-%m-%d %H:%M", zoned.get_local_time());
    }
    g["time_windows"] = json::object{
        {"timezone", p.windows->timezone}, {"local_time", local}, {"allow", std::move(allow)}};
  }
  json::array caps;
  std::string case_ref, acting_user, incident;
  if (auto f = policy::read_client_fields(r.headers)) {
    case_ref = f.value().case_ref.value_or("");
    acting_user = f.value().acting_user.value_or("");
    incident = f.value().emergency.value_or("");
  }
  const policy::cap_keys keys{d.requester, case_ref, acting_user, incident};
  for (const policy::volume_cap& c : p.volume_caps) {
    std::string_view key = c.scope == policy::cap_scope::assignee   ? keys.assignee
                           : c.scope == policy::cap_scope::case_ref ? keys.case_ref
                           : c.scope == policy::cap_scope::incident ? keys.incident
                                                                    : keys.acting_user;
    json::value count = nullptr;  // not known: an empty counter would say 1, which is not true
    if (!source.db.empty()) {
      count = counter.count(p, c, keys, now);
    }
    caps.push_back(json::object{{"scope", policy::to_string(c.scope)},
                                {"key", key},
                                {"window", c.window_text},
                                {"max", c.max},
                                {"count", std::move(count)}});
  }
  g["volume_caps"] = std::move(caps);
  if (source.db.empty()) {
    g["counts"] = json::object{{"known", false}};
  } else {
    g["counts"] = json::object{{"known", true}, {"db", source.db}, {"seeded", source.seeded}};
  }
  if (p.emergency) {
    // What the audit records of an emergency disclosure and when its review falls due.
    std::string justification;
    if (auto f = policy::read_client_fields(r.headers)) {
      justification = f.value().emergency_justification.value_or("");
    }
    g["emergency"] =
        json::object{{"incident_ref", incident},
                     {"incident_ref_pattern", p.emergency->incident_ref.text},
                     {"justification", justification},
                     {"min_justification", p.emergency->min_justification},
                     {"review_within", p.emergency->review_within_text},
                     {"review_due", policy::format_instant(now + p.emergency->review_within)}};
  }
  return g;
}

void print_grant(const json::object& g) {
  auto cites = [](const json::value& list) {
    std::string out;
    for (const json::value& c : list.as_array()) {
      out += out.empty() ? "" : "; ";
      out +=
          std::string(c.at("id").as_string()) + " (" + std::string(c.at("cite").as_string()) + ")";
    }
    return out;
  };
  if (const json::value* em = g.if_contains("emergency")) {
    std::cout << "  emergency:     incident " << std::string(em->at("incident_ref").as_string())
              << ", reviewed within " << std::string(em->at("review_within").as_string())
              << " (due " << std::string(em->at("review_due").as_string()) << ")\n";
  }
  std::cout << "  lawful basis:  " << cites(g.at("lawful_basis")) << '\n';
  std::cout << "  legal gateway: " << cites(g.at("legal_gateway")) << '\n';
  const json::object& rel = g.at("released").as_object();
  if (rel.at("whole_body").as_bool()) {
    std::cout << "  released:      the whole upstream body (no response rules)\n";
  } else if (const json::value* fields = rel.if_contains("allow_fields")) {
    std::string list;
    for (const json::value& f : fields->as_array()) {
      list += (list.empty() ? "" : ", ") + std::string(f.as_string());
    }
    std::cout << "  released:      " << (list.empty() ? "nothing (allow_fields is empty)" : list)
              << '\n';
  } else {
    std::cout << "  released:      the whole body, subject to the rules below\n";
  }
  if (const json::value* m = rel.if_contains("max_items")) {
    std::cout << "  max items:     " << json::serialize(*m) << '\n';
  }
  for (const json::value& w : rel.at("withhold_if").as_array()) {
    std::cout << "  withheld if:   " << json::serialize(w) << '\n';
  }
  if (const json::value* tw = g.if_contains("time_windows")) {
    std::cout << "  time windows:  " << json::serialize(tw->at("allow")) << " in "
              << std::string(tw->at("timezone").as_string()) << " (now "
              << std::string(tw->at("local_time").as_string()) << ")\n";
  }
  for (const json::value& c : g.at("volume_caps").as_array()) {
    const std::string scope = "per " + std::string(c.at("scope").as_string()) + " '" +
                              std::string(c.at("key").as_string()) + "' in " +
                              std::string(c.at("window").as_string());
    if (c.at("count").is_null()) {
      std::cout << "  volume cap:    max " << c.at("max").as_uint64() << ' ' << scope
                << "; current count not known (give --db AUDIT_STORE to count from the "
                   "gateway's audit store)\n";
    } else {
      std::cout << "  volume cap:    " << c.at("count").as_uint64() << " of "
                << c.at("max").as_uint64() << ' ' << scope
                << " (counting this request; counts from the audit store "
                << std::string(g.at("counts").at("db").as_string()) << ")\n";
    }
  }
}

void print_text(const evaluation& e, const described_request& r) {
  const policy::decision& d = e.decision;
  std::cout << (d.allowed ? "ALLOW" : "DENY") << "  " << d.status() << "  "
            << (d.allowed ? (d.emergency ? "EMERGENCY" : "")
                          : std::string(policy::to_string(d.why)))
            << '\n';
  std::cout << "  request:    " << r.method << ' ' << r.target << '\n';
  std::cout << "  requester:  " << (d.requester.empty() ? "(not identified)" : d.requester) << '\n';
  if (d.agreement != nullptr) {
    std::cout << "  agreement:  " << d.agreement->id << " v" << d.agreement->version << " — "
              << d.agreement->title << '\n';
    std::cout << "  permission: " << d.permission->id << "   endpoint: " << d.endpoint->id << '\n';
  }
  if (!d.detail.empty()) {
    std::cout << "  why:        " << d.detail << '\n';
  }
  if (!d.trace.empty()) {
    std::cout << "  candidates tried, in (agreement, permission) order:\n";
    for (const policy::trace_step& s : d.trace) {
      std::cout << "    " << s.agreement << " / " << s.permission << " / " << s.endpoint << ": "
                << policy::to_string(s.result);
      if (!s.detail.empty()) {
        std::cout << " — " << s.detail;
      }
      std::cout << '\n';
    }
  }
}

int run_explain(const explain_args& args) {
  time_point now = now_utc();
  if (!args.time.empty()) {
    auto t = policy::parse_instant(args.time);
    if (!t) {
      std::cerr << "dsa explain: --time '" << args.time
                << "' is not an RFC 3339 instant (e.g. 2026-11-24T10:30:00Z)\n";
      return 2;
    }
    now = *t;
  }
  std::string text;
  if (args.request == "-") {
    text = read_stream(std::cin);
  } else {
    std::ifstream in(args.request, std::ios::binary);
    if (!in) {
      std::cerr << "dsa explain: cannot read " << args.request << '\n';
      return 2;
    }
    text = read_stream(in);
  }
  result<described_request> read = read_request_json(text);
  if (!read) {
    std::cerr << "dsa explain: " << args.request << ": " << read.error() << '\n';
    return 2;
  }
  described_request req = std::move(read).value();
  policy::load_options opts;
  opts.now = now;
  policy::load_result loaded = policy::load_agreements({args.agreements}, opts);
  if (!loaded.ok()) {
    print_diagnostics(loaded);
    std::cerr << "dsa explain: the agreements in " << args.agreements << " do not load\n";
    return 2;
  }
  policy::engine engine(loaded.set);
  policy::memory_volume_counter counter;
  count_source source;
  if (!args.db.empty() && !seed_from_store(args, *loaded.set, now, counter, source)) {
    return 2;
  }
  evaluation e = evaluate(engine, req, now, counter, true);
  json::object out = decision_json(e);
  if (e.decision.allowed) {
    out["grant"] = grant_json(e.decision, req, now, counter, source);
  }
  if (args.format == "text") {
    print_text(e, req);
    if (e.decision.allowed) {
      print_grant(out["grant"].as_object());
    }
  } else {
    std::cout << json::serialize(out) << '\n';
  }
  return e.decision.allowed ? 0 : 1;
}

}  // namespace

void add_explain_command(CLI::App& app, int& status) {
  auto args = std::make_shared<explain_args>();
  CLI::App* cmd = app.add_subcommand(
      "explain",
      "Decide one request against the agreements and show why. REQUEST is JSON: "
      "{\"identity\": {\"trust_anchor\", \"subject\", \"uri_san\": [], \"dns_san\": [], "
      "\"spki_sha256\"} or \"requester\": PARTY, \"method\", \"target\", \"headers\": {}}. "
      "Exit 0 allow, 1 deny, 2 usage or invalid input.");
  cmd->add_option("--agreements", args->agreements, "Directory of agreement files")->required();
  cmd->add_option("--time", args->time, "Decide as at this RFC 3339 instant (default: now)");
  CLI::Option* db = cmd->add_option(
      "--db", args->db,
      "The gateway's audit store: volume caps are counted from its counted entries, "
      "as the gateway counts them at start (verified first; read-only). Without it "
      "the counts are not known");
  cmd->add_option("--key", args->key,
                  "With --db: the checkpoint public key (PEM) to verify the store with (default: "
                  "the key recorded in the store)")
      ->needs(db);
  cmd->add_option("--format", args->format, "json (default) or text")
      ->check(CLI::IsMember({"json", "text"}));
  cmd->add_option("request", args->request, "Request JSON file, or - for standard input")
      ->required();
  cmd->callback([args, &status] { status = run_explain(*args); });
}

}  // namespace dsa::cli
