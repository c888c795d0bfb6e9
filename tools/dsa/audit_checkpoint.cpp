// `dsa audit checkpoint`, `consistency` and `verify-consistency`: export a signed checkpoint to
// keep outside the operator's reach, and prove (or check offline) that the log still extends it
// (docs/auditing.md).
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "audit/checkpoint.hpp"
#include "audit/consistency.hpp"
#include "audit/merkle.hpp"
#include "audit/reader.hpp"
#include "tools/dsa/audit_cli.hpp"

namespace dsa::cli {
namespace {

int run_checkpoint(const std::string& db, const std::string& key_path, const std::string& out) {
  auto opened = audit::reader::open(db);
  if (!opened) {
    std::cerr << "dsa audit checkpoint: " << opened.error() << "\n";
    return 2;
  }
  const std::unique_ptr<audit::reader> r = std::move(opened).value();
  int status = 0;
  auto key = load_key("checkpoint", key_path, r.get(), status);
  if (!key) {
    return status;
  }
  auto found = audit::latest_valid_checkpoint(*r, *key);
  if (!found) {
    std::cerr << "dsa audit checkpoint: " << found.error() << "\n";
    return 2;
  }
  const std::optional<audit::signed_checkpoint>& latest = *found;
  if (!latest) {
    std::cerr << "dsa audit checkpoint: " << db << " holds no checkpoint signed by "
              << (key_path.empty() ? "its key" : key_path) << "\n";
    return 1;
  }
  // Only a checkpoint the entries still match is worth keeping.
  auto leaves = r->leaf_hashes(latest->c.size);
  if (!leaves || audit::merkle_root(*leaves) != latest->c.root) {
    std::cerr << "dsa audit checkpoint: the entries of " << db
              << " do not match its latest checkpoint (size " << latest->c.size
              << "); run `dsa audit verify`" << (leaves ? "" : ": " + leaves.error()) << "\n";
    return 1;
  }
  if (auto written = write_file(out, audit::signed_checkpoint_to_json(*latest)); !written) {
    std::cerr << "dsa audit checkpoint: " << written.error() << "\n";
    return 2;
  }
  if (out != "-") {
    std::cerr << "wrote the checkpoint of \"" << latest->c.origin << "\" at size " << latest->c.size
              << (latest->c.time_us ? ", signed " + audit::format_utc(*latest->c.time_us)
                                    : std::string())
              << " to " << out << "\n";
  }
  return 0;
}

struct consistency_args {
  std::string db, from, key, proof_out, checkpoint_out;
};

int run_consistency(const consistency_args& a) {
  auto text = read_file(a.from);
  if (!text) {
    std::cerr << "dsa audit consistency: " << text.error() << "\n";
    return 2;
  }
  auto saved = audit::signed_checkpoint_from_json(*text);
  if (!saved) {
    std::cerr << "dsa audit consistency: " << a.from << ": " << saved.error() << "\n";
    return 2;
  }
  std::string pem;
  if (!a.key.empty()) {
    auto k = read_file(a.key);
    if (!k) {
      std::cerr << "dsa audit consistency: " << k.error() << "\n";
      return 2;
    }
    pem = *k;
  }
  auto checked = audit::check_consistency(a.db, *saved, pem);
  if (!checked) {
    std::cerr << "dsa audit consistency: " << checked.error() << "\n";
    return 2;
  }
  const audit::consistency_result& res = *checked;
  if (!res.consistent()) {
    std::cout << "INCONSISTENT: " << a.db << " against " << a.from << "\n"
              << "  " << audit::to_string(res.finding) << " — " << res.detail << "\n";
    return 1;
  }
  std::cout << "consistent: " << a.db << " against " << a.from << "\n"
            << "  " << res.detail << "\n"
            << "  key          "
            << (res.key_from_store ? "the key recorded in the store (pass --key with your own "
                                     "copy to rule out a replaced key)"
                                   : "the key given with --key")
            << "\n";
  if (!a.proof_out.empty()) {
    audit::consistency_proof p{saved->c.origin, saved->c.size,     res.newest.c.size,
                               saved->c.root,   res.newest.c.root, res.proof};
    if (auto written = write_file(a.proof_out, audit::consistency_proof_to_json(p)); !written) {
      std::cerr << "dsa audit consistency: " << written.error() << "\n";
      return 2;
    }
  }
  if (!a.checkpoint_out.empty()) {
    if (auto written = write_file(a.checkpoint_out, audit::signed_checkpoint_to_json(res.newest));
        !written) {
      std::cerr << "dsa audit consistency: " << written.error() << "\n";
      return 2;
    }
  }
  return 0;
}

int run_verify_consistency(const std::string& key_path, const std::string& old_path,
                           const std::string& new_path, const std::string& proof_path) {
  int status = 0;
  auto key = load_key("verify-consistency", key_path, nullptr, status);
  if (!key) {
    return status;
  }
  std::optional<audit::signed_checkpoint> cps[2];
  const std::string* paths[2] = {&old_path, &new_path};
  for (int i = 0; i < 2; ++i) {
    auto text = read_file(*paths[i]);
    if (!text) {
      std::cerr << "dsa audit verify-consistency: " << text.error() << "\n";
      return 2;
    }
    auto parsed = audit::signed_checkpoint_from_json(*text);
    if (!parsed) {
      std::cerr << "dsa audit verify-consistency: " << *paths[i] << ": " << parsed.error() << "\n";
      return 2;
    }
    cps[i] = std::move(parsed).value();
  }
  auto text = read_file(proof_path);
  if (!text) {
    std::cerr << "dsa audit verify-consistency: " << text.error() << "\n";
    return 2;
  }
  auto proof = audit::consistency_proof_from_json(*text);
  if (!proof) {
    std::cout << "INVALID proof: " << proof.error() << "\n";
    return 1;
  }
  auto check = audit::verify_consistency_offline(*cps[0], *cps[1], *proof, *key);
  if (!check) {
    std::cout << "INVALID: " << check.error() << "\n";
    return 1;
  }
  std::cout << "valid: " << *check << "\n";
  return 0;
}

}  // namespace

void add_audit_checkpoint_commands(CLI::App& parent, int& status) {
  // checkpoint
  auto c_db = std::make_shared<std::string>();
  auto c_key = std::make_shared<std::string>();
  auto c_out = std::make_shared<std::string>("-");
  CLI::App* checkpoint_cmd = parent.add_subcommand(
      "checkpoint",
      "Export the latest signed checkpoint (size, root, signed time) as JSON. Keep it outside "
      "the operator's reach; next time, `dsa audit consistency --from` it proves the log only "
      "grew.\nExit 0 written; 1 no valid checkpoint or the entries do not match it; 2 usage or "
      "I/O error.");
  checkpoint_cmd->add_option("--db", *c_db, "Audit store (SQLite file)")->required();
  checkpoint_cmd->add_option("--key", *c_key,
                             "Export only a checkpoint signed by this public key (PEM)");
  checkpoint_cmd->add_option("-o,--output", *c_out, "File to write (default: standard output)");
  checkpoint_cmd->callback(
      [c_db, c_key, c_out, &status] { status = run_checkpoint(*c_db, *c_key, *c_out); });

  // consistency
  auto ca = std::make_shared<consistency_args>();
  CLI::App* consistency = parent.add_subcommand(
      "consistency",
      "Prove that the log extends a checkpoint saved earlier (RFC 9162 consistency proof): "
      "nothing it covered was removed or rewritten.\nExit 0 consistent; 1 truncated, rewritten "
      "or otherwise inconsistent (named); 2 usage or I/O error.");
  consistency->add_option("--db", ca->db, "Audit store (SQLite file)")->required();
  consistency->add_option("--from", ca->from, "Checkpoint JSON saved by `dsa audit checkpoint`")
      ->required();
  consistency->add_option("--key", ca->key,
                          "The checkpoint public key (PEM) you kept (default: the key recorded "
                          "in the store)");
  consistency->add_option("--proof-out", ca->proof_out,
                          "Also write the consistency proof (JSON) for `verify-consistency`");
  consistency->add_option("--checkpoint-out", ca->checkpoint_out,
                          "Also write the store's checkpoint the proof leads to (JSON)");
  consistency->callback([ca, &status] { status = run_consistency(*ca); });

  // verify-consistency
  auto vc_key = std::make_shared<std::string>();
  auto vc_old = std::make_shared<std::string>();
  auto vc_new = std::make_shared<std::string>();
  auto vc_proof = std::make_shared<std::string>();
  CLI::App* verify_consistency = parent.add_subcommand(
      "verify-consistency",
      "Check a consistency proof between two saved checkpoints with only the public key (no "
      "database).\nExit 0 valid; 1 invalid; 2 usage or I/O error.");
  verify_consistency->add_option("--key", *vc_key, "Checkpoint public key (PEM)")->required();
  verify_consistency->add_option("old", *vc_old, "The earlier checkpoint JSON")->required();
  verify_consistency->add_option("new", *vc_new, "The later checkpoint JSON")->required();
  verify_consistency->add_option("proof", *vc_proof, "The consistency proof JSON")->required();
  verify_consistency->callback([vc_key, vc_old, vc_new, vc_proof, &status] {
    status = run_verify_consistency(*vc_key, *vc_old, *vc_new, *vc_proof);
  });
}

}  // namespace dsa::cli
