// `dsa audit agreement`: the agreement texts the gateway archived in its audit store
// (docs/auditing.md, "Agreement archive"), printed only after the store verifies, so the text
// shown is the one the signed checkpoints cover.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "audit/entry.hpp"
#include "audit/reader.hpp"
#include "common/hex.hpp"
#include "tools/dsa/audit_cli.hpp"

namespace dsa::cli {
namespace {

struct agreement_args {
  std::string db, key, sha256;
  bool list = false;
};

// One agreement_text entry as read from a verified text.
struct archived {
  std::uint64_t seq = 0;
  std::int64_t time_us = 0;
  std::string id, version, sha256, file, text;
  bool has_text = false;
};

bool is_sha256_hex(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Every agreement_text entry of the verified reader, in seq order; `want` non-empty keeps only
// that SHA-256 and stops at the first (the gateway archives each SHA-256 once).
result<std::vector<archived>> read_archive(const audit::reader& r, const std::string& want) {
  std::vector<archived> out;
  audit::entry_columns c;
  const std::string_view kind = audit::to_string(audit::entry_kind::agreement_text);
  std::string error;
  auto read = r.for_each_entry([&](std::uint64_t seq, std::string_view text, std::string_view) {
    if (!audit::derive_columns(text, c) || c.kind != kind) {
      return true;
    }
    auto e = audit::entry_from_json(text);
    if (!e) {
      error = "entry " + std::to_string(seq) + " is not a well-formed entry";
      return false;
    }
    if (!want.empty() && e->agreement_sha256 != want) {
      return true;
    }
    archived a;
    a.seq = seq;
    a.time_us = e->time_us;
    a.id = e->agreement;
    a.version = e->agreement_version;
    a.sha256 = e->agreement_sha256;
    if (const auto* f = e->details.if_contains("file"); f != nullptr && f->is_string()) {
      a.file = std::string(f->get_string());
    }
    if (const auto* t = e->details.if_contains("text"); t != nullptr && t->is_string()) {
      a.text = std::string(t->get_string());
      a.has_text = true;
    }
    out.push_back(std::move(a));
    return want.empty();
  });
  if (!read) {
    return fail(read.error());
  }
  if (!error.empty()) {
    return fail(std::move(error));
  }
  return out;
}

int run_agreement(const agreement_args& a) {
  if (a.list == !a.sha256.empty()) {
    std::cerr << "dsa audit agreement: give exactly one of --sha256 HASH or --list\n";
    return 2;
  }
  std::string want = a.sha256;
  std::transform(want.begin(), want.end(), want.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!a.list && !is_sha256_hex(want)) {
    std::cerr << "dsa audit agreement: --sha256 \"" << a.sha256
              << "\" is not a SHA-256 (64 hexadecimal digits, as `sha256sum FILE` prints)\n";
    return 2;
  }
  int status = 0;
  auto r = open_verified("agreement", a.db, a.key, status);
  if (!r) {
    return status;
  }
  auto found = read_archive(*r, a.list ? std::string() : want);
  if (!found) {
    std::cerr << "dsa audit agreement: " << a.db << ": " << found.error() << "\n";
    return 2;
  }
  const std::vector<archived>& entries = *found;
  if (a.list) {
    const std::vector<std::string> head = {"SEQ", "ID", "VERSION", "SHA-256", "FIRST SEEN", "FILE"};
    std::vector<std::vector<std::string>> rows;
    for (const archived& e : entries) {
      rows.push_back(
          {std::to_string(e.seq), e.id, e.version, e.sha256, format_time(e.time_us), e.file});
    }
    print_table(head, rows);
    return 0;
  }
  if (entries.empty()) {
    std::cerr << "dsa audit agreement: " << a.db << " archives no agreement file with SHA-256 "
              << want << "\n";
    return 1;
  }
  const archived& e = entries.front();
  // The entry is covered by the verified tree; its text must also be the file it names.
  if (!e.has_text) {
    std::cerr << "dsa audit agreement: entry " << e.seq << " (agreement " << e.id
              << ") holds no text\n";
    return 1;
  }
  if (common::sha256_hex(e.text) != want) {
    std::cerr << "dsa audit agreement: the text archived in entry " << e.seq << " (agreement "
              << e.id << ") does not hash to " << want << "\n";
    return 1;
  }
  if (std::fwrite(e.text.data(), 1, e.text.size(), stdout) != e.text.size() ||
      std::fflush(stdout) != 0) {
    std::cerr << "dsa audit agreement: cannot write the text to standard output\n";
    return 2;
  }
  return 0;
}

}  // namespace

void add_audit_agreement_command(CLI::App& parent, int& status) {
  auto a = std::make_shared<agreement_args>();
  CLI::App* cmd = parent.add_subcommand(
      "agreement",
      "Print an agreement file exactly as the gateway loaded it, from the archive in the audit "
      "store (--sha256: the agreement_sha256 an entry records), or list the archived files "
      "(--list). The whole log is verified first; a log that fails verification, or an "
      "archived text that does not hash to its SHA-256, is refused (exit 1); a SHA-256 the "
      "store does not archive is exit 1 too.");
  cmd->add_option("--db", a->db, "Audit store (SQLite file)")->required();
  cmd->add_option("--key", a->key,
                  "The checkpoint public key (PEM) you kept; the log is verified with it before "
                  "anything is printed (default: the key recorded in the store)");
  cmd->add_option("--sha256", a->sha256, "The file's SHA-256 (64 hex digits)");
  cmd->add_flag("--list", a->list,
                "List the archived files: seq, id, version, SHA-256, when first archived "
                "(UTC) and file name");
  cmd->callback([a, &status] { status = run_agreement(*a); });
}

}  // namespace dsa::cli
