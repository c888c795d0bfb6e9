// `dsa audit …`: the auditor's commands over an audit store (audit/store.hpp). Every command that
// reads a store opens it read-only and never creates a file; exit status 0 success, 1 a negative
// finding (tampered log, invalid proof), 2 usage or input/output error.
// The commands are grouped by job: audit_query.cpp (query, stats), audit_verify.cpp (verify,
// prove, verify-proof, export-key), audit_checkpoint.cpp (checkpoint, consistency,
// verify-consistency), audit_bundle.cpp (bundle, verify-bundle), audit_report.cpp (report),
// audit_agreement.cpp (agreement), audit_subject.cpp (subject), audit_review.cpp (review: the one
// command that asks the gateway to write, through its admin listener); audit_cli.cpp holds what
// they share.
#include "tools/dsa/audit_cli.hpp"
#include "tools/dsa/commands.hpp"

namespace dsa::cli {

void add_audit_commands(CLI::App& app, int& status) {
  CLI::App* audit_cmd = app.add_subcommand(
      "audit",
      "Query, verify, prove and report on entries of a DSA Gateway audit store (read-only; never "
      "creates or changes a store).");
  audit_cmd->require_subcommand(1);

  add_audit_query_commands(*audit_cmd, status);
  add_audit_verify_commands(*audit_cmd, status);
  add_audit_checkpoint_commands(*audit_cmd, status);
  add_audit_bundle_commands(*audit_cmd, status);
  add_audit_report_commands(*audit_cmd, status);
  add_audit_agreement_command(*audit_cmd, status);
  add_audit_subject_command(*audit_cmd, status);
  add_audit_review_command(*audit_cmd, status);
}

}  // namespace dsa::cli
