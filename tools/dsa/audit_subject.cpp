// `dsa audit subject`: every recorded disclosure about one person, for a subject access request
// (UK GDPR Art. 15(1)(c): the recipients of their data; docs/auditing.md, "A subject access
// request"). Entries hold keyed hashes of the identifiers they released, never the identifiers
// (audit/subject_key.hpp), so the search hashes each given identifier under the subject key and
// lists the entries whose `subjects` hold one of the hashes. The store is verified first, as for
// `dsa audit query`: what is listed is what the signed checkpoints cover.
#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "audit/entry.hpp"
#include "audit/reader.hpp"
#include "audit/subject_key.hpp"
#include "tools/dsa/audit_cli.hpp"

namespace dsa::cli {
namespace {

struct subject_args {
  std::string db, key, key_file, format = "table";
  std::vector<std::string> ids;
};

// A string member, or "" when absent or not a string.
std::string text_of(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

// An array-of-strings member joined with ", ": lawful_basis, legal_gateway and released_fields
// are read by name from the stored text, so entries written before (or without) them list "".
std::string list_of(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  std::string out;
  if (v == nullptr || !v->is_array()) {
    return out;
  }
  for (const boost::json::value& item : v->get_array()) {
    if (item.is_string()) {
      out += (out.empty() ? "" : ", ") + std::string(item.get_string());
    }
  }
  return out;
}

int run_subject(const subject_args& a) {
  if (std::any_of(a.ids.begin(), a.ids.end(), [](const std::string& id) { return id.empty(); })) {
    std::cerr << "dsa audit subject: --id must not be empty\n";
    return 2;
  }
  // The key before the store: a wrong key file is a usage error, found without reading the log.
  auto key = audit::subject_key::load(a.key_file);
  if (!key) {
    std::cerr << "dsa audit subject: " << key.error() << "\n";
    return 2;
  }
  // hash → the identifiers given that hash to it (distinct ids never collide in practice, but a
  // repeated --id must not list an entry twice).
  std::map<std::string, std::string> wanted;
  for (const std::string& id : a.ids) {
    std::string h = (*key)->hash(id);
    if (h.empty()) {
      std::cerr << "dsa audit subject: cannot compute HMAC-SHA-256 with the subject key\n";
      return 2;
    }
    wanted.emplace(std::move(h), id);
  }

  int status = 0;
  auto r = open_verified("subject", a.db, a.key, status);
  if (!r) {
    return status;
  }

  static const std::vector<std::string> table_head = {
      "SEQ",        "TIME (UTC)",   "REQUESTER",     "PURPOSE", "CASE REF",   "AGREEMENT",
      "PERMISSION", "LAWFUL BASIS", "LEGAL GATEWAY", "REQUEST", "REQUEST ID", "RELEASED FIELDS",
      "ID"};
  static const std::vector<std::string> csv_head = {"seq",
                                                    "time",
                                                    "requester",
                                                    "purpose",
                                                    "case_ref",
                                                    "agreement",
                                                    "agreement_version",
                                                    "permission",
                                                    "lawful_basis",
                                                    "legal_gateway",
                                                    "endpoint",
                                                    "method",
                                                    "path",
                                                    "query",
                                                    "request_id",
                                                    "released_fields",
                                                    "id"};
  std::vector<std::vector<std::string>> rows;
  bool bad_entry = false;
  auto queried = r->query(audit::query_filter{}, [&](std::string_view text) {
    // Most entries record no subject: skip them without a parse.
    if (text.find("\"subjects\":") == std::string_view::npos) {
      return true;
    }
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(text, ec);
    if (ec || !v.is_object()) {
      bad_entry = true;
      return true;
    }
    const boost::json::object& o = v.get_object();
    const boost::json::value* subjects = o.if_contains("subjects");
    if (subjects == nullptr || !subjects->is_array()) {
      return true;
    }
    std::string matched;
    for (const boost::json::value& h : subjects->get_array()) {
      if (!h.is_string()) {
        continue;
      }
      if (auto it = wanted.find(std::string(h.get_string())); it != wanted.end()) {
        matched += (matched.empty() ? "" : ", ") + it->second;
      }
    }
    if (matched.empty()) {
      return true;
    }
    if (a.format == "json") {
      std::cout << text << '\n';
      rows.emplace_back();
      return true;
    }
    std::string requester;
    if (const boost::json::value* req = o.if_contains("requester"); req && req->is_object()) {
      requester = text_of(req->get_object(), "party");
    }
    std::int64_t seq = 0, time_us = 0;
    if (auto e = audit::entry_from_json(text)) {
      seq = static_cast<std::int64_t>(e->seq);
      time_us = e->time_us;
    }
    const std::string agreement = text_of(o, "agreement");
    const std::string version = text_of(o, "agreement_version");
    const std::string method = text_of(o, "method");
    const std::string path = text_of(o, "path");
    const std::string query = text_of(o, "query");
    if (a.format == "csv") {
      rows.push_back({std::to_string(seq), format_time(time_us), requester, text_of(o, "purpose"),
                      text_of(o, "case_ref"), agreement, version, text_of(o, "permission"),
                      list_of(o, "lawful_basis"), list_of(o, "legal_gateway"),
                      text_of(o, "endpoint"), method, path, query, text_of(o, "request_id"),
                      list_of(o, "released_fields"), matched});
      return true;
    }
    std::string request = method.empty() ? std::string() : method + " " + path;
    if (!query.empty()) {
      request += "?" + query;
    }
    rows.push_back({std::to_string(seq), format_time(time_us), requester, text_of(o, "purpose"),
                    text_of(o, "case_ref"), version.empty() ? agreement : agreement + "@" + version,
                    text_of(o, "permission"), list_of(o, "lawful_basis"),
                    list_of(o, "legal_gateway"), request, text_of(o, "request_id"),
                    list_of(o, "released_fields"), matched});
    return true;
  });
  if (!queried) {
    std::cerr << "dsa audit subject: " << queried.error() << "\n";
    return 2;
  }
  if (bad_entry) {
    // Verification has passed, so this cannot be tampering; it is a text this build cannot read.
    std::cerr << "dsa audit subject: an entry holding subjects is not valid JSON; run `dsa audit "
                 "verify`\n";
    return 2;
  }
  if (rows.empty()) {
    // On stderr for json, so that standard output stays JSON Lines (here: none).
    (a.format == "json" ? std::cerr : std::cout)
        << "no disclosures recorded about "
        << (a.ids.size() == 1 ? "this identifier" : "these identifiers") << " in " << a.db << "\n";
    return 0;
  }
  if (a.format == "json") {
    return 0;
  }
  if (a.format == "csv") {
    std::string line;
    for (std::size_t i = 0; i < csv_head.size(); ++i) {
      line += (i ? "," : "") + csv_head[i];
    }
    std::cout << line << "\r\n";
    for (const auto& row : rows) {
      line.clear();
      for (std::size_t i = 0; i < row.size(); ++i) {
        line += (i ? "," : "") + csv_cell(row[i]);
      }
      std::cout << line << "\r\n";
    }
    return 0;
  }
  print_table(table_head, rows);
  std::cout << rows.size() << (rows.size() == 1 ? " disclosure" : " disclosures") << "\n";
  return 0;
}

}  // namespace

void add_audit_subject_command(CLI::App& parent, int& status) {
  auto a = std::make_shared<subject_args>();
  CLI::App* subject = parent.add_subcommand(
      "subject",
      "List every recorded disclosure about a person (a subject access request): the entries "
      "whose released data held one of the identifiers given, found by their HMAC under the "
      "gateway's subject key. The whole log is verified first; a log that fails verification is "
      "refused (exit 1). A person with no disclosures: \"no disclosures recorded\", exit 0.");
  subject->add_option("--db", a->db, "Audit store (SQLite file)")->required();
  subject
      ->add_option("--key-file", a->key_file,
                   "The gateway's subject key (audit.subject_key, e.g. subject.key; mode 0600)")
      ->required();
  subject
      ->add_option("--id", a->ids,
                   "An identifier of the person exactly as the upstream writes it (e.g. a "
                   "person id); repeat for each identifier they are known by")
      ->required();
  subject->add_option("--key", a->key,
                      "The checkpoint public key (PEM) you kept; the log is verified with it "
                      "before anything is listed (default: the key recorded in the store)");
  subject
      ->add_option("--format", a->format,
                   "table (for people), csv (RFC 4180) or json (JSON Lines, each entry exactly "
                   "as stored and hashed)")
      ->check(CLI::IsMember({"table", "csv", "json"}));
  subject->callback([a, &status] { status = run_subject(*a); });
}

}  // namespace dsa::cli
