// `dsa openapi DIR --requester PARTY` (docs/agreements.md §2.8): the OpenAPI 3.1 document of what
// one partner may call at the other agencies' gateways, for the partner's developers. The document
// itself is render/openapi.hpp; this file loads the agreements, checks the party ids and writes.

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "policy/suggest.hpp"
#include "render/openapi.hpp"
#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

namespace fs = std::filesystem;

namespace {

struct openapi_args {
  std::vector<std::string> paths;
  std::string requester;
  std::string provider;
  std::string server;
  std::string out;
  std::string time;
};

// Every party id any loaded agreement declares, in first-seen order (agreements by id).
std::vector<std::string> party_ids(const policy::agreement_set& set) {
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (const auto& a : set.agreements) {
    for (const policy::party& p : a->parties) {
      if (seen.insert(p.id).second) {
        ids.push_back(p.id);
      }
    }
  }
  return ids;
}

// Empty when `id` is a declared party; otherwise the message for an unknown one.
std::string unknown_party(std::string_view option, const std::string& id,
                          const std::vector<std::string>& known) {
  if (std::find(known.begin(), known.end(), id) != known.end()) {
    return {};
  }
  std::string msg = "dsa openapi: " + std::string(option) + " '" + id +
                    "' is not a party of any loaded agreement";
  if (auto near = policy::did_you_mean(id, known)) {
    msg += "; did you mean '" + *near + "'?";
  } else {
    msg += " (parties:";
    for (const std::string& k : known) {
      msg += " " + k;
    }
    msg += ")";
  }
  return msg;
}

int run_openapi(const openapi_args& args) {
  policy::doc::openapi_options opts;
  opts.now = now_utc();
  if (!args.time.empty()) {
    auto t = policy::parse_instant(args.time);
    if (!t) {
      std::cerr << "dsa openapi: --time '" << args.time
                << "' is not an RFC 3339 instant (e.g. 2026-11-24T10:30:00Z)\n";
      return 2;
    }
    opts.now = *t;
  }
  if (!args.server.empty()) {
    // The gateway only speaks mutual TLS, so an address a client could not reach it at is refused.
    if (args.server.rfind("https://", 0) != 0 || args.server.size() <= 8 ||
        args.server.find_first_of(" \t\r\n\"<>\\^`{|}") != std::string::npos) {
      std::cerr << "dsa openapi: --server '" << args.server
                << "' is not an https:// URL (the gateway is reached over mutual TLS)\n";
      return 2;
    }
    opts.server = args.server;
  }
  std::vector<fs::path> paths;
  for (const std::string& p : args.paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      std::cerr << "dsa openapi: " << p << ": no such file or directory\n";
      return 2;
    }
    paths.emplace_back(p);
  }
  // Loaded together, as the gateway loads its directory (cross-file rules included).
  policy::load_options load;
  load.now = opts.now;
  policy::load_result loaded = policy::load_agreements(paths, load);
  if (!loaded.ok()) {
    print_diagnostics(loaded);
    std::cerr << "dsa openapi: nothing written; fix the errors above (dsa lint shows them all)\n";
    return 1;
  }
  if (loaded.set->agreements.empty()) {
    std::cerr << "dsa openapi: no agreement files found\n";
    return 2;
  }
  const std::vector<std::string> known = party_ids(*loaded.set);
  if (std::string msg = unknown_party("--requester", args.requester, known); !msg.empty()) {
    std::cerr << msg << '\n';
    return 2;
  }
  opts.requester = args.requester;
  if (!args.provider.empty()) {
    if (std::string msg = unknown_party("--provider", args.provider, known); !msg.empty()) {
      std::cerr << msg << '\n';
      return 2;
    }
    opts.provider = args.provider;
  }

  policy::doc::openapi_result doc = policy::doc::openapi_document(*loaded.set, opts);
  if (!doc.error.empty()) {
    std::cerr << "dsa openapi: " << doc.error << "; nothing written\n";
    return 1;
  }
  for (const std::string& note : doc.notes) {
    std::cerr << "dsa openapi: note: " << note << '\n';
  }
  if (doc.operations == 0) {
    std::cerr << "dsa openapi: note: " << args.requester
              << " may call nothing under the agreements in force"
              << (opts.provider ? " at " + *opts.provider : std::string())
              << "; the document has no paths\n";
  }
  const std::string text = policy::doc::pretty_json(doc.document);
  if (args.out.empty()) {
    std::cout << text;
    return std::cout.flush() ? 0 : 2;
  }
  std::ofstream f(args.out, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f.flush()) {
    std::cerr << "dsa openapi: cannot write " << args.out << '\n';
    return 2;
  }
  return 0;
}

}  // namespace

void add_openapi_command(CLI::App& app, int& status) {
  auto args = std::make_shared<openapi_args>();
  CLI::App* cmd = app.add_subcommand(
      "openapi",
      "Write the OpenAPI 3.1 document (JSON) of what one partner may call at the other agencies' "
      "gateways under the agreements in force: each endpoint, its parameters and headers, what "
      "its answer may contain and how refusals look. Exit 2 for an unknown party, 1 when the "
      "agreements do not load.");
  cmd->add_option("agreements", args->paths, "Agreement files or directories")->required();
  cmd->add_option("--requester", args->requester, "The partner (party id) the document is for")
      ->required();
  cmd->add_option("--provider", args->provider, "Only the endpoints this party serves");
  cmd->add_option("--server", args->server,
                  "The provider gateway's https:// URL to list under `servers` (default: none)");
  cmd->add_option("-o,--out", args->out, "Write the document to this file (default: stdout)");
  cmd->add_option("--time", args->time,
                  "Which agreements are in force: as at this RFC 3339 instant (default: now)");
  cmd->callback([args, &status] { status = run_openapi(*args); });
}

}  // namespace dsa::cli
