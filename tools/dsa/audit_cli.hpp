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
#include <vector>

#include "audit/crypto.hpp"
#include "audit/reader.hpp"
#include "common/result.hpp"

namespace date {
class time_zone;
}

namespace dsa::cli {

// Each adds its subcommands of `dsa audit` to `parent`; a subcommand's callback stores its exit
// status in `status`.
void add_audit_query_commands(CLI::App& parent, int& status);       // query, stats
void add_audit_verify_commands(CLI::App& parent, int& status);      // verify, prove, verify-proof,
                                                                    // export-key
void add_audit_checkpoint_commands(CLI::App& parent, int& status);  // checkpoint, consistency,
                                                                    // verify-consistency
void add_audit_bundle_commands(CLI::App& parent, int& status);      // bundle, verify-bundle
void add_audit_report_commands(CLI::App& parent, int& status);      // report
void add_audit_agreement_command(CLI::App& parent, int& status);    // agreement
void add_audit_subject_command(CLI::App& parent, int& status);      // subject
void add_audit_review_command(CLI::App& parent, int& status);       // review (audit_review.cpp)

// Parses RFC 3339 ("2025-06-01T12:00:00Z", fractional seconds and ±hh:mm offsets allowed) or a
// bare date, which means local midnight in `zone` (00:00 UTC when `zone` is null), as an
// agreement's dates do (docs/auditing.md, "Times and --tz"); a midnight that a clock change skips
// is the instant the clocks changed.
std::optional<std::int64_t> parse_time(std::string_view s, const date::time_zone* zone = nullptr);
// "2025-06-01T12:00:00.000Z" (millisecond precision).
std::string format_time(std::int64_t us);
// The same in `zone` with its offset then: "2025-06-01T13:00:00.000+01:00".
std::string format_time_in(std::int64_t us, const date::time_zone& zone);
// The calendar day of `us` in `zone`: "2025-06-01".
std::string day_in(std::int64_t us, const date::time_zone& zone);
// The IANA zone `name`, or nullptr with the error (and a did-you-mean) on stderr.
const date::time_zone* find_zone(const char* command, const std::string& name);
// One RFC 4180 field: quoted when it holds a comma, quote or line break.
std::string csv_field(std::string_view v);
// A spreadsheet-safe RFC 4180 field: a value starting with = + - @ (or a tab or carriage
// return) gets a leading apostrophe first, so a spreadsheet shows it as text instead of running
// it as a formula (docs/auditing.md, "CSV").
std::string csv_cell(std::string_view v);
// `head` and `rows` on stdout as columns padded to their widest cell, two spaces apart, each line
// after `indent`; a row may have fewer cells than the head (the last cell is never padded).
void print_table(const std::vector<std::string>& head,
                 const std::vector<std::vector<std::string>>& rows, std::string_view indent = "");

// The filters `dsa audit query`, `stats` and `report` share: each list option takes several
// values, comma-separated or by repeating the option; an entry matches when each given filter
// holds one of its values.
struct filter_args {
  std::vector<std::string> agreement, requester, purpose, case_ref, acting_user, decision, reason,
      kind, permission, request_id;
  std::string since, until, tz = "Europe/London";
};
// Adds --agreement … --request-id (when `with_values`), --since, --until and --tz.
void add_filter_options(CLI::App& cmd, filter_args& a, bool with_values);
// The filter, with the zone --tz named in `zone`; nullopt after the error on stderr (exit 2): an
// unknown zone or a time that does not parse.
std::optional<audit::query_filter> make_filter(const char* command, const filter_args& a,
                                               const date::time_zone*& zone);
// False after the error on stderr (exit 2) when a --decision, --kind or --reason value is none
// this build knows and no entry of `r` holds either (a newer gateway's spelling that is in the
// log filters like any other); the message lists the valid ones with a did-you-mean.
bool values_exist(const char* command, const filter_args& a, const audit::reader& r);

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
