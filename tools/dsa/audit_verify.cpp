// `dsa audit verify`, `prove`, `verify-proof` and `export-key`: check a whole store against its
// signed checkpoints, prove one entry's inclusion and check such a proof offline.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>

#include "audit/merkle.hpp"
#include "audit/proof.hpp"
#include "audit/reader.hpp"
#include "audit/verify.hpp"
#include "tools/dsa/audit_cli.hpp"

namespace dsa::cli {
namespace {

using namespace std::chrono;

// Streamed disclosures begun and never ended (docs/auditing.md, "Streamed disclosures"): not
// tampering, so shown whether or not the log is intact.
void print_open_disclosures(const audit::verify_result& result, bool verbose) {
  if (result.open_disclosures.empty()) {
    return;
  }
  std::cout << "  open streamed disclosures: " << result.open_disclosures.size()
            << " (a crash or a stop mid-stream; the bytes sent are unknown beyond the declared "
               "length)\n";
  if (verbose) {
    for (const audit::open_disclosure& d : result.open_disclosures) {
      std::cout << "    seq " << d.seq << " request_id " << d.request_id << "\n";
    }
  } else {
    std::cout << "    (--verbose lists their seqs)\n";
  }
}

int run_verify(const std::string& db, const std::string& key_path, bool verbose) {
  audit::verify_options options;
  if (!key_path.empty()) {
    auto pem = read_file(key_path);
    if (!pem) {
      std::cerr << "dsa audit verify: " << pem.error() << "\n";
      return 2;
    }
    options.public_key_pem = *pem;
  }
  const auto start = steady_clock::now();
  auto verified = audit::verify_store(db, options);
  const double seconds = duration<double>(steady_clock::now() - start).count();
  if (!verified) {
    std::cerr << "dsa audit verify: " << verified.error() << "\n";
    return 2;
  }
  const audit::verify_result& result = *verified;
  const std::uint64_t uncovered = result.entries - std::min(result.entries, result.covered);
  if (result.intact()) {
    std::cout << "intact: " << db << "\n"
              << "  entries      " << result.entries << "\n"
              << "  checkpoints  " << result.checkpoints << " (the latest verified covers "
              << result.covered << " entries)\n"
              << "  root         " << audit::to_base64(result.root) << " (size " << result.entries
              << ")\n"
              << "  key          "
              << (result.key_from_store
                      ? "the key recorded in the store (pass --key with your own copy to rule "
                        "out a replaced key)"
                      : "the key given with --key")
              << "\n";
    if (result.format != "dsa-audit/2") {
      std::cout << "  format       " << result.format
                << " (its checkpoints carry no signed time; a gateway upgrades it in place when "
                   "it next opens it)\n";
    }
    print_open_disclosures(result, verbose);
    if (uncovered > 0) {
      std::cout << "  note         the last " << uncovered
                << " entries are not yet covered by a checkpoint (a running gateway signs "
                   "within a second; after a crash, at its next start)\n";
    }
    std::cout << "  time         " << seconds << " s\n";
    return 0;
  }
  const audit::problem& first = result.problems.front();
  std::cout << "TAMPERED: " << db << "\n";
  if (first.seq) {
    std::cout << "  first bad seq " << *first.seq << ": " << audit::to_string(first.kind) << " — "
              << first.detail << "\n";
  } else {
    std::cout << "  " << audit::to_string(first.kind) << " — " << first.detail << "\n";
  }
  const std::size_t shown = std::min<std::size_t>(result.problems.size(), 20);
  if (result.problems.size() > 1) {
    std::cout << "  all problems (" << result.problems.size() << "):\n";
    for (std::size_t i = 0; i < shown; ++i) {
      const auto& p = result.problems[i];
      std::cout << "    " << (p.seq ? "seq " + std::to_string(*p.seq) + ": " : std::string())
                << audit::to_string(p.kind) << " — " << p.detail << "\n";
    }
  }
  std::cout << "  entries " << result.entries << ", checkpoints " << result.checkpoints << "\n";
  print_open_disclosures(result, verbose);
  return 1;
}

int run_prove(const std::string& db, std::uint64_t seq) {
  auto p = audit::prove(db, seq);
  if (!p) {
    std::cerr << "dsa audit prove: " << p.error() << "\n";
    return 2;
  }
  std::cout << audit::proof_to_json(*p);
  return 0;
}

int run_verify_proof(const std::string& key_path, const std::string& proof_path) {
  auto pem = read_file(key_path);
  if (!pem) {
    std::cerr << "dsa audit verify-proof: " << pem.error() << "\n";
    return 2;
  }
  auto key = audit::public_key::from_pem(*pem);
  if (!key) {
    std::cerr << "dsa audit verify-proof: " << key_path << ": " << key.error() << "\n";
    return 2;
  }
  auto text = read_file(proof_path);
  if (!text) {
    std::cerr << "dsa audit verify-proof: " << text.error() << "\n";
    return 2;
  }
  auto proof = audit::proof_from_json(*text);
  if (!proof) {
    std::cout << "INVALID proof: " << proof.error() << "\n";
    return 1;
  }
  if (auto check = audit::verify_proof(*proof, **key); !check) {
    std::cout << "INVALID proof: " << check.error() << "\n";
    return 1;
  }
  std::cout << "valid: entry " << proof->leaf_index << " is in the log \"" << proof->origin
            << "\" of " << proof->size << " entries with root " << audit::to_base64(proof->root)
            << ", signed by this key\n";
  return 0;
}

int run_export_key(const std::string& db) {
  auto r = audit::reader::open(db);
  if (!r) {
    std::cerr << "dsa audit export-key: " << r.error() << "\n";
    return 2;
  }
  auto pem = (*r)->meta("public_key");
  if (!pem || pem->empty()) {
    std::cerr << "dsa audit export-key: " << db << " records no public key\n";
    return 2;
  }
  std::cout << *pem;
  return 0;
}

}  // namespace

void add_audit_verify_commands(CLI::App& parent, int& status) {
  // verify
  auto v_db = std::make_shared<std::string>();
  auto v_key = std::make_shared<std::string>();
  auto v_verbose = std::make_shared<bool>(false);
  CLI::App* verify = parent.add_subcommand(
      "verify",
      "Check the whole log against its signed checkpoints: entry hashes, contiguous sequence "
      "numbers, Merkle roots, signatures, and that each streamed disclosure's end entry ends one "
      "earlier started entry with the same request fields.\nExit 0 intact; 1 tampered (names the "
      "first bad "
      "sequence number and what is wrong); 2 usage or I/O error.");
  verify->add_option("--db", *v_db, "Audit store (SQLite file)")->required();
  verify->add_option("--key", *v_key,
                     "The checkpoint public key (PEM) you exported and kept; without it the key "
                     "recorded in the store is used");
  verify->add_flag("--verbose,-v", *v_verbose,
                   "List the seq and request id of each open streamed disclosure (begun, never "
                   "ended)");
  verify->callback(
      [v_db, v_key, v_verbose, &status] { status = run_verify(*v_db, *v_key, *v_verbose); });

  // prove
  auto p_db = std::make_shared<std::string>();
  auto p_seq = std::make_shared<std::uint64_t>(0);
  CLI::App* prove = parent.add_subcommand(
      "prove",
      "Print an RFC 9162 inclusion proof (JSON) of one entry against the latest signed "
      "checkpoint; check it anywhere with `dsa audit verify-proof`.");
  prove->add_option("--db", *p_db, "Audit store (SQLite file)")->required();
  prove->add_option("--seq", *p_seq, "Sequence number of the entry")->required();
  prove->callback([p_db, p_seq, &status] { status = run_prove(*p_db, *p_seq); });

  // verify-proof
  auto vp_key = std::make_shared<std::string>();
  auto vp_file = std::make_shared<std::string>();
  CLI::App* verify_proof = parent.add_subcommand(
      "verify-proof",
      "Check an inclusion proof with only the public key (no database).\nExit 0 valid; 1 "
      "invalid; 2 usage or I/O error.");
  verify_proof->add_option("--key", *vp_key, "Checkpoint public key (PEM)")->required();
  verify_proof->add_option("proof", *vp_file, "Proof JSON file, or - for standard input")
      ->required();
  verify_proof->callback(
      [vp_key, vp_file, &status] { status = run_verify_proof(*vp_key, *vp_file); });

  // export-key
  auto k_db = std::make_shared<std::string>();
  CLI::App* export_key = parent.add_subcommand(
      "export-key",
      "Print the checkpoint public key (PEM). Keep a copy outside the operator's control and "
      "pass it to `verify --key` and `verify-proof --key`.");
  export_key->add_option("--db", *k_db, "Audit store (SQLite file)")->required();
  export_key->callback([k_db, &status] { status = run_export_key(*k_db); });
}

}  // namespace dsa::cli
