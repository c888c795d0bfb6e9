// `dsa audit bundle` and `verify-bundle`: gather the entries of a case, a request, a data subject
// or a range of seqs into one evidence file with inclusion proofs against one signed checkpoint
// and the agreement texts that decided them, and check such a file with only the public key
// (audit/bundle.hpp; the format is docs/evidence-bundle.md, the procedure docs/auditing.md,
// "Evidence for a court or the ICO").
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "audit/bundle.hpp"
#include "audit/entry.hpp"
#include "audit/reader.hpp"
#include "audit/subject_key.hpp"
#include "common/version.hpp"
#include "tools/dsa/audit_cli.hpp"

namespace dsa::cli {
namespace {

struct bundle_args {
  std::string db, key, out, case_ref, request_id, subject, subject_key, seq;
};

std::optional<std::uint64_t> canonical_decimal(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

// "A..B", inclusive, A <= B.
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_seq_range(std::string_view s) {
  const std::size_t dots = s.find("..");
  if (dots == std::string_view::npos) {
    return std::nullopt;
  }
  auto first = canonical_decimal(s.substr(0, dots));
  auto last = canonical_decimal(s.substr(dots + 2));
  if (!first || !last || *first > *last) {
    return std::nullopt;
  }
  return std::pair{*first, *last};
}

// The file appears whole or not at all: written beside the target and renamed over it.
result<void> write_whole(const std::string& path, const std::string& text) {
  if (path == "-") {
    return write_file(path, text);
  }
  const std::string partial = path + ".partial-" + std::to_string(::getpid());
  if (auto written = write_file(partial, text); !written) {
    std::filesystem::remove(partial);
    return written;
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) {
    std::filesystem::remove(partial);
    return fail("cannot write " + path + ": " + ec.message());
  }
  return {};
}

int run_bundle(const bundle_args& a) {
  const char* const me = "dsa audit bundle: ";
  const int given =
      !a.case_ref.empty() + !a.request_id.empty() + !a.subject.empty() + !a.seq.empty();
  if (given != 1) {
    std::cerr << me << "give exactly one of --case-ref, --request-id, --subject, --seq\n";
    return 2;
  }
  if (a.subject.empty() != a.subject_key.empty()) {
    std::cerr << me << "--subject and --key-file go together (the subject-hash secret, "
              << "audit.subject_key in the gateway config)\n";
    return 2;
  }
  audit::bundle_request request;
  audit::bundle_selection& sel = request.selection;
  if (!a.case_ref.empty()) {
    sel.criterion = audit::bundle_selection::by::case_ref;
    sel.value = a.case_ref;
  } else if (!a.request_id.empty()) {
    sel.criterion = audit::bundle_selection::by::request_id;
    sel.value = a.request_id;
  } else if (!a.subject.empty()) {
    auto key = audit::subject_key::load(a.subject_key);
    if (!key) {
      std::cerr << me << key.error() << "\n";
      return 2;
    }
    sel.criterion = audit::bundle_selection::by::subject;
    sel.value = (*key)->hash(a.subject);
    if (sel.value.empty()) {
      std::cerr << me << "cannot compute HMAC-SHA-256 of the subject identifier\n";
      return 2;
    }
  } else {
    auto range = parse_seq_range(a.seq);
    if (!range) {
      std::cerr << me << "--seq \"" << a.seq
                << "\" is not A..B (two decimal sequence numbers, A <= B; A..A is one entry)\n";
      return 2;
    }
    sel.criterion = audit::bundle_selection::by::seq_range;
    sel.first_seq = range->first;
    sel.last_seq = range->second;
  }
  if (!a.key.empty()) {
    auto pem = read_file(a.key);
    if (!pem) {
      std::cerr << me << pem.error() << "\n";
      return 2;
    }
    request.public_key_pem = *pem;
  }
  request.created_by = std::string("dsa ") + common::version();
  request.created_us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();

  auto opened = audit::reader::open(a.db);
  if (!opened) {
    std::cerr << me << opened.error() << "\n";
    return 2;
  }
  const std::unique_ptr<audit::reader> r = std::move(opened).value();
  auto made = audit::make_bundle(*r, request);
  if (!made) {
    std::cerr << me << made.error() << "\n";
    return 2;
  }
  if (made->state != audit::bundle_outcome::status::built) {
    std::cerr << me << made->detail << "; no bundle written\n";
    return 1;
  }
  const audit::evidence_bundle& b = made->bundle;
  if (auto written = write_whole(a.out, audit::bundle_to_json(b)); !written) {
    std::cerr << me << written.error() << "\n";
    return 2;
  }
  std::ostream& report = a.out == "-" ? std::cerr : std::cout;
  report << "wrote evidence bundle " << a.out << ": " << b.entries.size() << " entries (seq";
  for (std::size_t i = 0; i < b.entries.size() && i < 12; ++i) {
    report << (i == 0 ? " " : ", ") << b.entries[i].leaf_index;
  }
  report << (b.entries.size() > 12 ? ", …)" : ")") << ", " << b.agreement_texts.size()
         << (b.agreement_texts.size() == 1 ? " agreement text" : " agreement texts")
         << ", proven against the checkpoint of \"" << b.checkpoint.c.origin << "\" at size "
         << b.checkpoint.c.size
         << (b.checkpoint.c.time_us ? " signed " + audit::format_utc(*b.checkpoint.c.time_us)
                                    : std::string())
         << "\n";
  if (!made->left_out.empty()) {
    report << "note: " << made->left_out.size()
           << " matching entries written after that checkpoint are not in the bundle (seq";
    for (std::size_t i = 0; i < made->left_out.size() && i < 12; ++i) {
      report << (i == 0 ? " " : ", ") << made->left_out[i];
    }
    report << (made->left_out.size() > 12 ? ", …" : "")
           << "): a running gateway signs a checkpoint within a second; run the command again to "
              "include them\n";
  }
  return 0;
}

std::string selection_text(const audit::bundle_selection& s) {
  using by = audit::bundle_selection::by;
  switch (s.criterion) {
    case by::case_ref:
      return "case_ref \"" + s.value + "\"";
    case by::request_id:
      return "request_id \"" + s.value + "\"";
    case by::subject:
      return "subject whose HMAC-SHA-256 is " + s.value;
    case by::seq_range:
      return "seq " + std::to_string(s.first_seq) + ".." + std::to_string(s.last_seq);
  }
  return "";
}

void print_entries(const audit::evidence_bundle& b) {
  const std::vector<std::string> head{"seq",   "time (UTC)", "kind",      "decision", "status",
                                      "bytes", "requester",  "agreement", "case_ref", "request"};
  std::vector<std::vector<std::string>> rows;
  for (const audit::bundle_entry& be : b.entries) {
    auto e = audit::entry_from_json(be.text);
    if (!e) {
      rows.push_back({std::to_string(be.leaf_index), "(not an entry this dsa reads)"});
      continue;
    }
    const std::string agreement =
        e->agreement + (e->agreement_version.empty() ? "" : " " + e->agreement_version);
    const std::string request = e->method + (e->method.empty() ? "" : " ") + e->path;
    rows.push_back({std::to_string(be.leaf_index), format_time(e->time_us),
                    std::string(audit::kind_text(*e)), std::string(audit::decision_text(*e)),
                    e->status != 0 ? std::to_string(e->status) : "",
                    e->bytes != 0 ? std::to_string(e->bytes) : "", e->requester.party, agreement,
                    e->case_ref, request});
  }
  print_table(head, rows, "  ");
}

void print_agreement_texts(const audit::evidence_bundle& b) {
  const std::vector<std::string> head{"seq", "agreement", "version", "file", "sha256"};
  std::vector<std::vector<std::string>> rows;
  auto add = [&](const audit::bundle_entry& be) {
    auto e = audit::entry_from_json(be.text);
    if (!e || audit::kind_text(*e) != "agreement_text") {
      return;
    }
    std::string file;
    if (auto f = e->details.find("file"); f != e->details.end() && f->value().is_string()) {
      file = std::string(f->value().get_string());
    }
    rows.push_back({std::to_string(be.leaf_index), e->agreement, e->agreement_version, file,
                    e->agreement_sha256});
  };
  for (const auto& be : b.entries) {
    add(be);
  }
  for (const auto& be : b.agreement_texts) {
    add(be);
  }
  if (!rows.empty()) {
    std::cout << "\n";
    print_table(head, rows, "  ");
  }
}

int run_verify_bundle(const std::string& key_path, const std::string& path) {
  const char* const me = "dsa audit verify-bundle: ";
  auto pem = read_file(key_path);
  if (!pem) {
    std::cerr << me << pem.error() << "\n";
    return 2;
  }
  auto key = audit::public_key::from_pem(*pem);
  if (!key) {
    std::cerr << me << key_path << ": " << key.error() << "\n";
    return 2;
  }
  auto text = read_file(path);
  if (!text) {
    std::cerr << me << text.error() << "\n";
    return 2;
  }
  audit::bundle_parse_error error;
  auto parsed = audit::bundle_from_json(*text, error);
  if (!parsed) {
    if (error.not_a_bundle) {
      std::cerr << me << path << " is not an evidence bundle this dsa reads: " << error.detail
                << "\n";
      return 2;
    }
    std::cout << "INVALID evidence bundle: " << path << "\n  " << error.detail << "\n";
    return 1;
  }
  const audit::evidence_bundle& b = *parsed;
  const std::vector<audit::bundle_problem> problems = audit::verify_bundle(b, **key);
  if (!problems.empty()) {
    std::cout << "INVALID evidence bundle: " << path << "\n";
    for (const audit::bundle_problem& p : problems) {
      std::cout << "  " << p.where << ": " << p.what << "\n";
    }
    return 1;
  }
  const audit::checkpoint& c = b.checkpoint.c;
  std::cout << "valid: evidence bundle " << path << "\n"
            << "  log          \"" << c.origin << "\", checkpoint of size " << c.size
            << (c.time_us ? ", signed " + audit::format_utc(*c.time_us)
                          : std::string(", unsigned time"))
            << "\n"
            << "  root         " << audit::to_base64(c.root) << "\n"
            << "  key          sha256 " << b.public_key_sha256 << " (the key given with --key)\n"
            << "  entries      " << b.entries.size() << ", and " << b.agreement_texts.size()
            << (b.agreement_texts.size() == 1 ? " agreement text" : " agreement texts")
            << "; each proven to be in the signed log at its seq\n"
            << "  selection    " << selection_text(b.selection)
            << " (recorded by the bundler, not signed)\n"
            << "  created      " << b.created_time << " by " << b.created_by << "\n\n";
  print_entries(b);
  print_agreement_texts(b);
  return 0;
}

}  // namespace

void add_audit_bundle_commands(CLI::App& parent, int& status) {
  auto a = std::make_shared<bundle_args>();
  CLI::App* bundle = parent.add_subcommand(
      "bundle",
      "Write one evidence file (JSON, dsa-evidence-bundle/1) holding the selected entries byte "
      "for byte, each with an RFC 9162 inclusion proof against the latest signed checkpoint, the "
      "public key, and the archived agreement texts that decided them. The store is verified "
      "first. Check the file anywhere with `dsa audit verify-bundle`.\nExit 0 written; 1 the "
      "store fails verification, nothing matches, or an entry is not yet provable (no file "
      "written); 2 usage or I/O error.");
  bundle->add_option("--db", a->db, "Audit store (SQLite file)")->required();
  bundle->add_option("--case-ref", a->case_ref, "Select the entries of this case reference");
  bundle->add_option("--request-id", a->request_id, "Select the entries of this request id");
  bundle->add_option(
      "--subject", a->subject,
      "Select the entries that name this data subject: the identifier exactly as requests "
      "carried it (a JSON number as written); needs --key-file");
  bundle->add_option("--key-file", a->subject_key,
                     "The gateway's subject-hash secret (audit.subject_key) for --subject");
  bundle->add_option("--seq", a->seq, "Select the entries with seq A..B (inclusive)");
  bundle->add_option("--key", a->key,
                     "The checkpoint public key (PEM) you kept; without it the key recorded in "
                     "the store is used and embedded");
  bundle->add_option("-o,--out", a->out, "File to write (- for standard output)")->required();
  bundle->callback([a, &status] { status = run_bundle(*a); });

  auto vb_key = std::make_shared<std::string>();
  auto vb_file = std::make_shared<std::string>();
  CLI::App* verify_bundle = parent.add_subcommand(
      "verify-bundle",
      "Check an evidence bundle with only your copy of the public key (no database): the "
      "checkpoint signature, every entry's inclusion proof and seq, and that every agreement "
      "file the entries name is included and hashes to the recorded SHA-256.\nExit 0 valid "
      "(summary and a table of the entries); 1 invalid (names the entry seq and the check); 2 "
      "usage or unreadable.");
  verify_bundle->add_option("bundle", *vb_file, "Evidence bundle (JSON), or - for standard input")
      ->required();
  verify_bundle->add_option("--key", *vb_key, "Checkpoint public key (PEM)")->required();
  verify_bundle->callback(
      [vb_key, vb_file, &status] { status = run_verify_bundle(*vb_key, *vb_file); });
}

}  // namespace dsa::cli
