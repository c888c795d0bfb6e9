#pragma once

// Shared by the `dsa audit …` command groups (audit_query.cpp, audit_verify.cpp,
// audit_checkpoint.cpp): time parsing and formatting, file input and output, and opening a store
// that is verified before anything is reported from it. Errors go to stderr prefixed with
// "dsa audit <command>: "; exit statuses as in commands.hpp.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "audit/crypto.hpp"
#include "audit/reader.hpp"
#include "common/result.hpp"

namespace dsa::cli {

// Each adds its subcommands of `dsa audit` to `parent`; a subcommand's callback stores its exit
// status in `status`.
void add_audit_query_commands(CLI::App& parent, int& status);       // query, stats
void add_audit_verify_commands(CLI::App& parent, int& status);      // verify, prove, verify-proof,
                                                                    // export-key
void add_audit_checkpoint_commands(CLI::App& parent, int& status);  // checkpoint, consistency,
                                                                    // verify-consistency
void add_audit_review_command(CLI::App& parent, int& status);       // review (audit_review.cpp)

// Parses RFC 3339 ("2025-06-01T12:00:00Z", fractional seconds and ±hh:mm offsets allowed) or a
// bare date, which means 00:00 UTC: the log's own times are UTC, so a day boundary there is what
// an auditor comparing with the log expects.
std::optional<std::int64_t> parse_time(std::string_view s);
// "2025-06-01T12:00:00.000Z" (millisecond precision).
std::string format_time(std::int64_t us);
// One RFC 4180 field: quoted when it holds a comma, quote or line break.
std::string csv_field(std::string_view v);

// `path` "-" means standard input / standard output. The error names the file.
[[nodiscard]] result<std::string> read_file(const std::string& path);
[[nodiscard]] result<void> write_file(const std::string& path, const std::string& text);

// Opens the store and verifies it on the reader's snapshot before anything is reported from it:
// query and stats derive every value from the entry texts, and this proves those texts are the
// ones the signed checkpoints cover. Returns the reader, or nullptr with `status` set (2: cannot
// read; 1: the log fails verification, named on stderr).
std::unique_ptr<audit::reader> open_verified(const char* command, const std::string& db,
                                             const std::string& key_path, int& status);

// The key to check signatures with: the auditor's copy, or the one recorded in the store.
std::unique_ptr<audit::public_key> load_key(const char* command, const std::string& key_path,
                                            const audit::reader* r, int& status);

}  // namespace dsa::cli
