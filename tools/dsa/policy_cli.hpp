#pragma once

// What the IG officer's commands (`dsa lint`, `explain`, `test`, `render`, `register`;
// docs/design.md §8) share: how a request is described to them and decided with the gateway's own
// engine and canonical-path and header checks, and the small helpers they print with. Each command
// lives in its own file (lint_command.cpp, explain_command.cpp, …) and registers itself through one
// of the add_*_command functions below; policy_commands.cpp calls them in order.

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "policy/engine.hpp"
#include "policy/loader.hpp"

namespace dsa::cli {

policy::time_point now_utc();

// Every diagnostic of `r`, one per line, on stderr.
void print_diagnostics(const policy::load_result& r);

std::string lower(std::string_view s);

std::string read_stream(std::istream& in);

// A request as `dsa explain` and `dsa test` describe it (docs/design.md §8).
struct described_request {
  bool has_identity = false;
  policy::request_identity identity;
  std::string requester;
  std::string method, target;
  // As written, in order: the same checks as the gateway's (policy/request_fields.hpp) see
  // every spelling, so "DSA-Purpose" and "dsa-purpose" in one object are a duplicate.
  std::vector<std::pair<std::string, std::string>> headers;
};

struct evaluation {
  policy::decision decision;
  bool bad_request = false;  // refused before any agreement is consulted (400)
};

// Decides `r` as the gateway would at `now`: the target's canonical form and the client header
// rules first (a refusal there is bad_request, before any agreement), then the engine.
evaluation evaluate(const policy::engine& engine, const described_request& r,
                    policy::time_point now, policy::volume_counter& counter, bool trace);

// The decision as `dsa explain` prints it (docs/design.md §8).
boost::json::object decision_json(const evaluation& e);

// Reads the `dsa explain` request JSON (docs/design.md §8) from its text into `out`; false with
// `error` set on invalid input (not JSON, a wrong type, an unknown key, a duplicate key).
[[nodiscard]] result<described_request> read_request_json(std::string_view text);

void add_lint_command(CLI::App& app, int& status);
void add_explain_command(CLI::App& app, int& status);
void add_test_command(CLI::App& app, int& status);
void add_render_command(CLI::App& app, int& status);
void add_diff_command(CLI::App& app, int& status);
void add_register_command(CLI::App& app, int& status);
void add_openapi_command(CLI::App& app, int& status);

}  // namespace dsa::cli
