// `dsa explain` (docs/design.md §8): one request decided against the agreements, and why.

#include <filesystem>
#include <fstream>
#include <iostream>

#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

namespace fs = std::filesystem;
namespace json = boost::json;
using policy::time_point;

namespace {

struct explain_args {
  std::string agreements, time, format = "json", request;
};

void print_text(const evaluation& e, const described_request& r) {
  const policy::decision& d = e.decision;
  std::cout << (d.allowed ? "ALLOW" : "DENY") << "  " << d.status() << "  "
            << (d.allowed ? "" : std::string(policy::to_string(d.why))) << '\n';
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
  described_request req;
  std::string error;
  if (!read_request_json(text, req, error)) {
    std::cerr << "dsa explain: " << args.request << ": " << error << '\n';
    return 2;
  }
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
  evaluation e = evaluate(engine, req, now, counter, true);
  if (args.format == "text") {
    print_text(e, req);
  } else {
    std::cout << json::serialize(decision_json(e)) << '\n';
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
  cmd->add_option("--format", args->format, "json (default) or text")
      ->check(CLI::IsMember({"json", "text"}));
  cmd->add_option("request", args->request, "Request JSON file, or - for standard input")
      ->required();
  cmd->callback([args, &status] { status = run_explain(*args); });
}

}  // namespace dsa::cli
