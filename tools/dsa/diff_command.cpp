// `dsa diff OLD NEW` (docs/agreements.md §2.4): what an amendment changes in who can see what, for
// sign-off. The comparison itself is render/diff.hpp; this file loads both sides and prints.

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "render/diff.hpp"
#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

namespace fs = std::filesystem;
namespace json = boost::json;
using policy::doc::change;
using policy::doc::change_effect;

namespace {

struct diff_args {
  std::string format = "text";
  std::string before, after;
};

void print_text(const std::vector<change>& changes) {
  if (changes.empty()) {
    std::cout << "no changes\n";
    return;
  }
  std::size_t widen = 0, narrow = 0;
  std::string current;
  for (const change& c : changes) {
    if (c.agreement != current) {
      current = c.agreement;
      std::cout << "agreement " << current << ":\n";
    }
    std::string_view tag = c.effect == change_effect::widens    ? "WIDENS "
                           : c.effect == change_effect::narrows ? "narrows"
                                                                : "changes";
    std::cout << "  " << tag << "  " << c.subject << ": " << c.words << '\n';
    widen += c.effect == change_effect::widens ? 1 : 0;
    narrow += c.effect == change_effect::narrows ? 1 : 0;
  }
  std::cout << changes.size() << (changes.size() == 1 ? " change: " : " changes: ") << widen
            << " widen access, " << narrow << " narrow it, " << (changes.size() - widen - narrow)
            << " other\n";
}

void print_json(const std::vector<change>& changes, bool widens) {
  json::array list;
  for (const change& c : changes) {
    list.push_back(json::object{{"agreement", c.agreement},
                                {"subject", c.subject},
                                {"change", c.what},
                                {"effect", policy::doc::to_string(c.effect)},
                                {"words", c.words}});
  }
  json::object o;
  o["widens"] = widens;
  o["changes"] = std::move(list);
  std::cout << json::serialize(o) << '\n';
}

int run_diff(const diff_args& args) {
  if (args.format != "text" && args.format != "json") {
    std::cerr << "dsa diff: --format must be text or json, not '" << args.format << "'\n";
    return 2;
  }
  policy::load_options opts;
  opts.now = now_utc();
  policy::load_result results[2];
  const std::string* paths[2] = {&args.before, &args.after};
  bool failed = false;
  for (int i = 0; i < 2; ++i) {
    if (!fs::exists(*paths[i])) {
      std::cerr << *paths[i] << ": error: no such file or directory\n";
      failed = true;
      continue;
    }
    results[i] = policy::load_agreements({fs::path(*paths[i])}, opts);
    if (!results[i].ok()) {
      print_diagnostics(results[i]);
      std::cerr << "dsa diff: " << *paths[i] << " has " << results[i].error_count()
                << (results[i].error_count() == 1 ? " error" : " errors") << "; nothing compared\n";
      failed = true;
    }
  }
  if (failed) {
    return 2;
  }
  std::vector<change> changes = policy::doc::diff_agreements(*results[0].set, *results[1].set);
  bool widens = std::any_of(changes.begin(), changes.end(),
                            [](const change& c) { return c.effect == change_effect::widens; });
  if (args.format == "json") {
    print_json(changes, widens);
  } else {
    print_text(changes);
  }
  return widens ? 1 : 0;
}

}  // namespace

void add_diff_command(CLI::App& app, int& status) {
  auto args = std::make_shared<diff_args>();
  CLI::App* cmd = app.add_subcommand(
      "diff",
      "What an amendment changes in who can see what: OLD and NEW agreement files or directories, "
      "matched by agreement id. Exit 0 when access only narrows or nothing changes, 1 when it "
      "widens, 2 when either side fails to load.");
  cmd->add_option("--format", args->format, "text (default) or json");
  cmd->add_option("old", args->before, "The agreements before the amendment (file or directory)")
      ->required();
  cmd->add_option("new", args->after, "The agreements after it (file or directory)")->required();
  cmd->callback([args, &status] { status = run_diff(*args); });
}

}  // namespace dsa::cli
