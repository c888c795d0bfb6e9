// Evidence bundles (docs/evidence-bundle.md): `dsa audit bundle` on real stores written with
// audit::store, and `dsa audit verify-bundle` with only the public key, as real processes. Every
// part of a bundle is changed by one byte and the check must name what failed.
#include "audit/bundle.hpp"

#include <openssl/evp.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "audit/reader.hpp"
#include "common/hex.hpp"
#include "tests/audit/cli_util.hpp"
#include "tests/audit/test_util.hpp"

using namespace dsa::audit;
using namespace dsa::audit::test;

namespace {

const std::string asb_old_text =
    "id: asb-sharing\nversion: 1.1.0\n# Anti-social behaviour casework, Northshire Police and "
    "Eastvale Council.\npurposes: [asb-casework]\n";
const std::string asb_text =
    "id: asb-sharing\nversion: 1.2.0\n# Anti-social behaviour casework, Northshire Police and "
    "Eastvale Council.\npurposes: [asb-casework, asb-review]\n";
const std::string cctv_text = "id: cctv-sharing\nversion: 1.0.0\npurposes: [crime-investigation]\n";
const std::string unused_text = "id: unused\nversion: 1.0.0\npurposes: [nothing]\n";

// An archived agreement file, as the gateway writes it when it loads one.
entry agreement_text(std::uint64_t i, const std::string& id, const std::string& version,
                     const std::string& text) {
  entry e;
  e.time_us = make_entry(i).time_us;
  e.kind = entry_kind::agreement_text;
  e.agreement = id;
  e.agreement_version = version;
  e.agreement_sha256 = dsa::common::sha256_hex(text);
  e.details["file"] = id + ".yaml";
  e.details["text"] = text;
  return e;
}

entry request(std::uint64_t i, const std::string& case_ref, const std::string& version,
              const std::string& agreement_file) {
  entry e = make_entry(i);
  e.request_id = "req-" + std::to_string(i);
  e.case_ref = case_ref;
  e.agreement = "asb-sharing";
  e.agreement_version = version;
  e.agreement_sha256 = dsa::common::sha256_hex(agreement_file);
  return e;
}

// Both halves repeat the request's fields (the store's verification pairs them); only the time,
// kind and what left differ.
entry stream(std::uint64_t i, entry_kind kind) {
  entry e = make_entry(6);
  e.time_us = make_entry(i).time_us;
  e.kind = kind;
  e.request_id = "req-clip";
  e.decision = entry_decision::allow;
  e.reason.clear();
  e.status = 200;
  e.case_ref = "CCTV-9";
  e.agreement = "cctv-sharing";
  e.agreement_version = "1.0.0";
  e.agreement_sha256 = dsa::common::sha256_hex(cctv_text);
  e.path = "/cctv/v1/clips/clip-9";
  e.counted = kind == entry_kind::disclosure_started;
  if (kind == entry_kind::disclosure_completed) {
    e.bytes = 65'536;
    e.body_sha256 = std::string(64, 'c');
  }
  return e;
}

// An entry with a `subjects` member, inserted as a gateway that records subjects writes it (the
// member after `details`): this build's entry struct does not produce it, and the bundler must
// read it from the stored text generically. The row's columns are derived from the text exactly
// as the store does (entry.hpp, derive_columns), so the store verifies.
void append_with_subjects(const std::filesystem::path& db, std::uint64_t seq, const entry& e,
                          const std::vector<std::string>& subjects) {
  std::string after = json_after_seq(e);
  std::string list = ",\"subjects\":[";
  for (std::size_t i = 0; i < subjects.size(); ++i) {
    list += (i == 0 ? "\"" : ",\"") + subjects[i] + "\"";
  }
  list += "]";
  after.insert(after.size() - 1, list);
  const std::string text = json_with_seq(seq, after);
  entry_columns c;
  REQUIRE(derive_columns(text, c));
  const hash leaf = leaf_hash(text);
  raw_db raw(db);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw.get(),
                             "INSERT INTO entries(seq, time_us, kind, decision, reason, agreement, "
                             "permission, requester, purpose, case_ref, acting_user, counted, "
                             "entry, leaf_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                             "?11, ?12, ?13, ?14)",
                             -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(seq));
  sqlite3_bind_int64(st, 2, c.time_us);
  const std::string_view strings[] = {c.kind,      c.decision,   c.reason,
                                      c.agreement, c.permission, c.requester,
                                      c.purpose,   c.case_ref,   c.acting_user};
  int column = 3;
  for (std::string_view s : strings) {
    if (s.empty()) {
      sqlite3_bind_null(st, column++);
    } else {
      sqlite3_bind_text(st, column++, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
  }
  sqlite3_bind_int(st, 12, c.counted ? 1 : 0);
  sqlite3_bind_text(st, 13, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  sqlite3_bind_blob(st, 14, leaf.data(), 32, SQLITE_TRANSIENT);
  const int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  REQUIRE(rc == SQLITE_DONE);
}

const std::string secret_hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

// HMAC-SHA-256 under the secret, computed here with OpenSSL directly, not with the bundler's code.
std::string hmac_hex(const std::string& identifier) {
  const std::string secret = *from_hex(secret_hex);
  unsigned char mac[32];
  std::size_t len = 0;
  REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                    reinterpret_cast<const unsigned char*>(identifier.data()), identifier.size(),
                    mac, sizeof mac, &len) != nullptr);
  return dsa::common::to_hex(std::span<const std::uint8_t>(mac, len));
}

// seq 0–3 archived agreement texts (asb-sharing 1.1.0 and 1.2.0, cctv-sharing, one nobody
// names); 4, 7, 8 case ASB-1 (8 a deny that names no agreement); 5 case ASB-2 under 1.1.0;
// 6 and 9 a streamed disclosure (req-clip, case CCTV-9); 10 and 11 name data subjects; 12 a
// plain request. One checkpoint covers all of them.
struct fixture {
  temp_dir dir;
  store_options opts = options_in(dir);
  std::filesystem::path key = dir / "gateway-audit.pub";
  std::string db = "--db " + q(opts.db_path);

  fixture() {
    std::string error;
    {
      auto s = take(store::open(opts), error);
      INFO(error);
      REQUIRE(s);
      const std::vector<entry> log = {agreement_text(0, "asb-sharing", "1.1.0", asb_old_text),
                                      agreement_text(1, "asb-sharing", "1.2.0", asb_text),
                                      agreement_text(2, "cctv-sharing", "1.0.0", cctv_text),
                                      agreement_text(3, "unused", "1.0.0", unused_text),
                                      request(4, "ASB-1", "1.2.0", asb_text),
                                      request(5, "ASB-2", "1.1.0", asb_old_text),
                                      stream(6, entry_kind::disclosure_started),
                                      request(7, "ASB-1", "1.2.0", asb_text),
                                      [] {
                                        entry e = make_entry(8);
                                        e.request_id = "req-8";
                                        e.case_ref = "ASB-1";
                                        e.agreement.clear();
                                        e.agreement_version.clear();
                                        e.permission.clear();
                                        e.decision = entry_decision::deny;
                                        e.reason = "unknown_requester";
                                        e.status = 403;
                                        return e;
                                      }(),
                                      stream(9, entry_kind::disclosure_completed)};
      for (const entry& e : log) {
        REQUIRE(append_sync(*s, e).ok);
      }
    }
    append_with_subjects(opts.db_path, 10, request(10, "ASB-4", "1.2.0", asb_text),
                         {hmac_hex("943 476 5919"), hmac_hex("AB123456C")});
    append_with_subjects(opts.db_path, 11, request(11, "ASB-5", "1.1.0", asb_old_text),
                         {hmac_hex("AB123456C")});
    {
      auto s = take(store::open(opts), error);
      INFO(error);
      REQUIRE(s);
      REQUIRE(append_sync(*s, request(12, "ASB-6", "1.2.0", asb_text)).ok);
    }
    std::ofstream(dir / "subject.key") << secret_hex << "\n";
    std::filesystem::permissions(dir / "subject.key", std::filesystem::perms::owner_read |
                                                          std::filesystem::perms::owner_write);
    std::ofstream(key) << take(reader::open(opts.db_path), error)->meta("public_key").value();
  }

  std::string stored(std::uint64_t seq) const {
    std::string error;
    return take(reader::open(opts.db_path), error)->entry_text(seq).value();
  }
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::uint64_t> seqs_of(const boost::json::value& doc, const char* list) {
  std::vector<std::uint64_t> out;
  for (const auto& e : doc.at(list).as_array()) {
    out.push_back(e.at("leaf_index").to_number<std::uint64_t>());
  }
  return out;
}

using seqs = std::vector<std::uint64_t>;

}  // namespace

TEST_CASE("dsa audit bundle selects by case, request, seq range and subject; verify-bundle passes",
          "[cli][bundle]") {
  fixture f;
  const auto out = f.dir / "bundle.json";
  struct expectation {
    std::string args;
    seqs entries, texts;
  };
  const std::string by_subject = " --key-file " + q(f.dir / "subject.key") + " --subject ";
  const std::vector<expectation> cases = {
      // the case's entries, and the 1.2.0 text that decided two of them (not 1.1.0, not unused)
      {"--case-ref ASB-1", {4, 7, 8}, {1}},
      {"--request-id req-5", {5}, {0}},
      // a range that cuts a streamed disclosure takes its other half
      {"--seq 8..9", {6, 8, 9}, {2}},
      {"--seq 5..6", {5, 6, 9}, {0, 2}},
      {"--case-ref CCTV-9", {6, 9}, {2}},
      // an archived text selected itself needs no other
      {"--seq 0..1", {0, 1}, {}},
      {"--seq 3..3", {3}, {}},
      {by_subject + "'943 476 5919'", {10}, {1}},
      {by_subject + "AB123456C", {10, 11}, {0, 1}},
  };
  for (const expectation& c : cases) {
    INFO(c.args);
    std::filesystem::remove(out);
    auto made = run("bundle " + f.db + " --key " + q(f.key) + " " + c.args + " --out " + q(out));
    INFO(made.output);
    REQUIRE(made.status == 0);
    CHECK(made.output.find("wrote evidence bundle") != std::string::npos);
    const std::string text = slurp(out);
    const boost::json::value doc = boost::json::parse(text);
    CHECK(doc.at("format").as_string() == "dsa-evidence-bundle/1");
    CHECK(seqs_of(doc, "entries") == c.entries);
    CHECK(seqs_of(doc, "agreement_texts") == c.texts);
    // Byte for byte what the store holds.
    for (const char* list : {"entries", "agreement_texts"}) {
      for (const auto& e : doc.at(list).as_array()) {
        CHECK(e.at("text").as_string() == f.stored(e.at("leaf_index").to_number<std::uint64_t>()));
      }
    }
    CHECK(doc.at("checkpoint").at("size").to_number<std::uint64_t>() == 13);
    CHECK(doc.at("public_key").at("pem").as_string() == slurp(f.key));
    auto checked = run("verify-bundle " + q(out) + " --key " + q(f.key));
    INFO(checked.output);
    CHECK(checked.status == 0);
    CHECK(checked.output.find("valid: evidence bundle") != std::string::npos);
    CHECK(checked.output.find("checkpoint of size 13, signed ") != std::string::npos);
    CHECK(checked.output.find("entries      " + std::to_string(c.entries.size()) + ", and " +
                              std::to_string(c.texts.size()) +
                              (c.texts.size() == 1 ? " agreement text;" : " agreement texts;")) !=
          std::string::npos);
    // The subject identifier itself never enters the bundle, only its keyed hash.
    CHECK(text.find("943 476 5919") == std::string::npos);
    CHECK(text.find("AB123456C") == std::string::npos);
  }
  // The table names the entries.
  auto made = run("bundle " + f.db + " --case-ref ASB-1 --out " + q(out));
  REQUIRE(made.status == 0);
  auto checked = run("verify-bundle " + q(out) + " --key " + q(f.key));
  CHECK(checked.output.find("asb-sharing 1.2.0") != std::string::npos);
  CHECK(checked.output.find("decision  status  bytes  requester") != std::string::npos);
  CHECK(checked.output.find("deny") != std::string::npos);
  CHECK(checked.output.find("asb-sharing.yaml") != std::string::npos);
  CHECK(checked.output.find(dsa::common::sha256_hex(asb_text)) != std::string::npos);
}

TEST_CASE("the key fingerprint is the documented construction", "[bundle]") {
  temp_dir dir;
  std::string error;
  auto key = take(signing_key::load_or_create(dir / "k.pem"), error);
  REQUIRE(key);
  // The DER of an Ed25519 SubjectPublicKeyInfo is a fixed 12-byte prefix and the 32-byte key,
  // which is the base64 body of the PEM.
  const std::string& pem = key->public_key_pem();
  std::string body;
  for (std::size_t at = pem.find('\n') + 1; pem.compare(at, 5, "-----") != 0;) {
    const std::size_t nl = pem.find('\n', at);
    body += pem.substr(at, nl - at);
    at = nl + 1;
  }
  const std::string der = *from_base64(body);
  CHECK(der.size() == 44);
  CHECK(public_key_fingerprint(pem) == dsa::common::sha256_hex(der));
}

TEST_CASE("verify-bundle names the part of a bundle that was changed", "[cli][bundle]") {
  fixture f;
  const auto good = f.dir / "bundle.json";
  auto made = run("bundle " + f.db + " --case-ref ASB-1 --out " + q(good));
  INFO(made.output);
  REQUIRE(made.status == 0);
  const std::string original = slurp(good);
  REQUIRE(run("verify-bundle " + q(good) + " --key " + q(f.key)).status == 0);
  const auto bad = f.dir / "changed.json";

  // Changes the character at `at` (one byte) and runs verify-bundle on the result.
  auto flip = [&](std::size_t at) {
    REQUIRE(at < original.size());
    std::string text = original;
    text[at] = text[at] == 'A' ? 'B' : 'A';
    std::ofstream(bad, std::ios::binary) << text;
    return run("verify-bundle " + q(bad) + " --key " + q(f.key));
  };
  auto invalid = [](const dsa::test::run_result& r, const std::string& what) {
    INFO(r.output);
    CHECK(r.status == 1);
    CHECK(r.output.find("INVALID evidence bundle") != std::string::npos);
    CHECK(r.output.find(what) != std::string::npos);
  };
  const std::size_t entries_at = original.find("\"entries\": [");
  const std::size_t texts_at = original.find("\"agreement_texts\": [");
  const std::size_t checkpoint_at = original.find("\"checkpoint\": {");
  REQUIRE(checkpoint_at != std::string::npos);
  REQUIRE(entries_at != std::string::npos);
  REQUIRE(texts_at != std::string::npos);

  SECTION("an entry's text") {
    // The acting user of seq 7, "PC 4001", becomes "PC A001".
    const std::size_t entry7 = original.find("{\\\"seq\\\":7,", entries_at);
    const std::size_t user = original.find("PC 4", entry7) + 3;
    invalid(flip(user),
            "entry seq 7: the text does not hash to leaf_hash: SHA-256(0x00 || text) is ");
  }
  SECTION("a hash of an inclusion proof") {
    const std::size_t path = original.find("\"inclusion_path\": [", entries_at);
    const std::size_t hash = original.find('"', original.find('\n', path)) + 1;
    invalid(flip(hash),
            "entry seq 4: the inclusion path does not lead from leaf_hash to the checkpoint root");
  }
  SECTION("the checkpoint's root") {
    const std::size_t root = original.find("\"root\": \"", checkpoint_at) + 9;
    invalid(flip(root),
            "checkpoint: checkpoint.origin, size, root or time_us differ from "
            "checkpoint_note");
  }
  SECTION("the root inside the signed note") {
    const std::size_t note = original.find("\"checkpoint_note\": \"", checkpoint_at);
    const std::size_t root = original.find("\\n", original.find("\\n", note) + 2) + 2;
    auto r = flip(root);
    invalid(r, "checkpoint: the signature does not verify over checkpoint_note with the given key");
    CHECK(r.output.find("entry seq 7: the inclusion path does not lead") != std::string::npos);
  }
  SECTION("the signature") {
    const std::size_t sig = original.find("\"signature\": \"", checkpoint_at) + 14;
    invalid(flip(sig),
            "checkpoint: the signature does not verify over checkpoint_note with the given key");
  }
  SECTION("an archived agreement text") {
    // "purposes: [asb-casework, asb-review]" becomes "purposes: [Asb-casework, …".
    const std::size_t purposes = original.find("purposes: [asb", texts_at) + 11;
    auto r = flip(purposes);
    invalid(r, "agreement text seq 1: the text does not hash to leaf_hash");
    invalid(r, "agreement text seq 1: the archived text's SHA-256 is ");
    invalid(r,
            "entry seq 4: no agreement_text entry in the bundle holds a text whose SHA-256 is "
            "its agreement_sha256 " +
                dsa::common::sha256_hex(asb_text));
  }
  SECTION("the embedded key's fingerprint") {
    const std::size_t fp = original.find("\"sha256\": \"") + 11;
    invalid(flip(fp), "public key: public_key.sha256 is not the SHA-256 of the given key's DER");
  }
  SECTION("an agreement text left out") {
    boost::json::value doc = boost::json::parse(original);
    doc.as_object()["agreement_texts"].as_array().clear();
    std::ofstream(bad) << boost::json::serialize(doc);
    auto r = run("verify-bundle " + q(bad) + " --key " + q(f.key));
    invalid(r, "entry seq 4: no agreement_text entry in the bundle holds a text");
    invalid(r, "entry seq 7: no agreement_text entry in the bundle holds a text");
  }
  SECTION("an entry moved to another leaf index") {
    boost::json::value doc = boost::json::parse(original);
    doc.as_object()["entries"].as_array()[1].as_object()["leaf_index"] = 8;
    doc.as_object()["entries"].as_array()[2].as_object()["leaf_index"] = 9;
    std::ofstream(bad) << boost::json::serialize(doc);
    auto r = run("verify-bundle " + q(bad) + " --key " + q(f.key));
    invalid(r, "entry seq 8: the text claims seq 7, not its leaf_index");
  }
  SECTION("another gateway's key") {
    std::string error;
    auto other = take(signing_key::load_or_create(f.dir / "other.key"), error);
    REQUIRE(other);
    std::ofstream(f.dir / "other.pub") << other->public_key_pem();
    auto r = run("verify-bundle " + q(good) + " --key " + q(f.dir / "other.pub"));
    invalid(r, "public key: public_key.pem is not the key given to check the bundle with");
    invalid(r, "checkpoint: the signature does not verify");
  }
  SECTION("not a bundle, no key: exit 2") {
    std::ofstream(bad) << "{\"format\": \"something-else/1\"}";
    auto r = run("verify-bundle " + q(bad) + " --key " + q(f.key));
    CHECK(r.status == 2);
    CHECK(r.output.find("is not an evidence bundle this dsa reads") != std::string::npos);
    CHECK(run("verify-bundle " + q(f.dir / "missing.json") + " --key " + q(f.key)).status == 2);
    CHECK(run("verify-bundle " + q(good) + " --key " + q(f.dir / "missing.pub")).status == 2);
    CHECK(run("verify-bundle " + q(good)).status == 2);
  }
}

TEST_CASE("dsa audit bundle refuses a tampered store, an empty selection and bad usage",
          "[cli][bundle]") {
  fixture f;
  const auto out = f.dir / "bundle.json";
  SECTION("a tampered store: no bundle") {
    {
      raw_db raw(f.opts.db_path);
      raw.drop_triggers();
      REQUIRE(raw.exec("UPDATE entries SET entry = replace(entry, 'PC 4001', 'PC 4002') "
                       "WHERE seq = 7") == SQLITE_OK);
    }
    auto r = run("bundle " + f.db + " --case-ref ASB-1 --out " + q(out));
    INFO(r.output);
    CHECK(r.status == 1);
    CHECK(r.output.find("refusing to bundle") != std::string::npos);
    CHECK(r.output.find("first bad seq 7") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(out));
  }
  SECTION("a replaced key: no bundle") {
    std::string error;
    auto other = take(signing_key::load_or_create(f.dir / "other.key"), error);
    REQUIRE(other);
    std::ofstream(f.dir / "other.pub") << other->public_key_pem();
    auto r = run("bundle " + f.db + " --key " + q(f.dir / "other.pub") +
                 " --case-ref ASB-1 --out " + q(out));
    INFO(r.output);
    CHECK(r.status == 1);
    CHECK(r.output.find("refusing to bundle") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(out));
  }
  SECTION("nothing selected: no bundle") {
    auto r = run("bundle " + f.db + " --case-ref NO-SUCH-CASE --out " + q(out));
    CHECK(r.status == 1);
    CHECK(r.output.find("no entry of") != std::string::npos);
    CHECK(run("bundle " + f.db + " --seq 100..200 --out " + q(out)).status == 1);
    CHECK_FALSE(std::filesystem::exists(out));
  }
  SECTION("usage") {
    CHECK(run("bundle " + f.db + " --out " + q(out)).status == 2);
    CHECK(run("bundle " + f.db + " --case-ref A --request-id B --out " + q(out)).status == 2);
    CHECK(run("bundle " + f.db + " --subject X --out " + q(out)).status == 2);
    auto range = run("bundle " + f.db + " --seq 9..3 --out " + q(out));
    CHECK(range.status == 2);
    CHECK(range.output.find("is not A..B") != std::string::npos);
    std::ofstream(f.dir / "short.key") << "abcd\n";
    std::filesystem::permissions(f.dir / "short.key", std::filesystem::perms::owner_read |
                                                          std::filesystem::perms::owner_write);
    auto key = run("bundle " + f.db + " --subject X --key-file " + q(f.dir / "short.key") +
                   " --out " + q(out));
    CHECK(key.status == 2);
    CHECK(key.output.find("lowercase hex characters (32 bytes)") != std::string::npos);
    CHECK(run("bundle --db " + q(f.dir / "none.db") + " --seq 0..1 --out " + q(out)).status == 2);
    CHECK_FALSE(std::filesystem::exists(out));
  }
}

TEST_CASE("dsa audit bundle refuses what it cannot prove", "[cli][bundle]") {
  temp_dir dir;
  auto opts = options_in(dir);
  opts.checkpoint_interval = std::chrono::hours(1);
  const auto out = dir / "bundle.json";
  const std::string db = "--db " + q(opts.db_path);
  std::string error;
  auto s = take(store::open(opts), error);
  REQUIRE(s);
  // seq 0: a request under an agreement file whose text the log does not archive (a gateway from
  // before archiving loaded it).
  REQUIRE(append_sync(*s, request(0, "OLD-1", "1.2.0", asb_text)).ok);
  std::ofstream(dir / "k.pub") << s->public_key_pem();
  s->close();
  auto r = run("bundle " + db + " --case-ref OLD-1 --out " + q(out));
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("entry 0 names agreement file sha256 " + dsa::common::sha256_hex(asb_text) +
                      ", whose text the log does not archive") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out));

  // seq 1 and 2 committed while the gateway runs, not yet under a checkpoint.
  s = take(store::open(opts), error);
  REQUIRE(s);
  REQUIRE(append_sync(*s, agreement_text(1, "asb-sharing", "1.2.0", asb_text)).ok);
  REQUIRE(append_sync(*s, request(2, "NEW-1", "1.2.0", asb_text)).ok);
  auto uncovered = run("bundle " + db + " --case-ref NEW-1 --out " + q(out));
  INFO(uncovered.output);
  CHECK(uncovered.status == 1);
  CHECK(uncovered.output.find("1 entries match (from seq 2), none of them covered by the latest "
                              "signed checkpoint (size 1) yet") != std::string::npos);
  // seq 0 is covered, but the text that decided it (seq 1) is not yet.
  auto text_uncovered = run("bundle " + db + " --case-ref OLD-1 --out " + q(out));
  INFO(text_uncovered.output);
  CHECK(text_uncovered.status == 1);
  CHECK(text_uncovered.output.find("the archived text (seq 1) of agreement file " +
                                   dsa::common::sha256_hex(asb_text) +
                                   " that entry 0 names is not yet covered by the latest signed "
                                   "checkpoint (size 1)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out));
  s->close();
  auto now = run("bundle " + db + " --case-ref NEW-1 --out " + q(out));
  INFO(now.output);
  CHECK(now.status == 0);
  // The text archived after the older entry now proves it too.
  CHECK(run("bundle " + db + " --case-ref OLD-1 --out " + q(out)).status == 0);

  // A busy gateway always has a second of entries after its latest checkpoint: those are left
  // out and named, the rest is bundled.
  s = take(store::open(opts), error);
  REQUIRE(s);
  REQUIRE(append_sync(*s, request(3, "NEW-1", "1.2.0", asb_text)).ok);
  std::filesystem::remove(out);
  auto tail =
      run("bundle " + db + " --key " + q(dir / "k.pub") + " --case-ref NEW-1 --out " + q(out));
  INFO(tail.output);
  CHECK(tail.status == 0);
  CHECK(tail.output.find("1 entries (seq 2)") != std::string::npos);
  CHECK(tail.output.find("note: 1 matching entries written after that checkpoint are not in the "
                         "bundle (seq 3)") != std::string::npos);
  const boost::json::value doc = boost::json::parse(slurp(out));
  CHECK(seqs_of(doc, "entries") == seqs{2});
  CHECK(seqs_of(doc, "agreement_texts") == seqs{1});
}

namespace {

// A shell command's exit status and output (stdout and stderr). Each command given bounds its
// programs with timeout(1).
dsa::test::run_result sh(const std::string& command) {
  dsa::test::run_result r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    r.output.append(buf, n);
  }
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

}  // namespace

TEST_CASE(
    "the worked verification in docs/evidence-bundle.md checks a real bundle with python3 and "
    "openssl alone",
    "[cli][bundle]") {
  fixture f;
  const auto bundle = f.dir / "evidence.json";
  REQUIRE(run("bundle " + f.db + " --case-ref ASB-1 --out " + q(bundle)).status == 0);
  const boost::json::value doc = boost::json::parse(slurp(bundle));

  // The script exactly as the document gives it.
  const std::string guide =
      slurp(std::filesystem::path(DSA_SOURCE_DIR) / "docs/evidence-bundle.md");
  const std::string open = "```python\n# check_bundle.py\n";
  const std::size_t begin = guide.find(open);
  REQUIRE(begin != std::string::npos);
  const std::size_t end = guide.find("```\n", begin + open.size());
  REQUIRE(end != std::string::npos);
  std::ofstream(f.dir / "check_bundle.py") << guide.substr(begin + 10, end - begin - 10);
  const std::string in_dir = "cd " + q(f.dir.path()) + " && ";

  auto fingerprint =
      sh("timeout 60 openssl pkey -pubin -in " + q(f.key) + " -outform DER | sha256sum");
  INFO(fingerprint.output);
  CHECK(fingerprint.output.find(std::string(doc.at("public_key").at("sha256").as_string())) == 0);
  auto proofs = sh(in_dir + "timeout 60 python3 check_bundle.py evidence.json gateway-audit.pub");
  INFO(proofs.output);
  CHECK(proofs.status == 0);
  CHECK(proofs.output.find("all proofs lead to root " +
                           std::string(doc.at("checkpoint").at("root").as_string())) !=
        std::string::npos);
  const std::string verify_signature =
      "timeout 60 openssl pkeyutl -verify -pubin -inkey gateway-audit.pub -rawin -in note.txt "
      "-sigfile "
      "note.sig";
  auto signature = sh(in_dir + verify_signature);
  INFO(signature.output);
  CHECK(signature.status == 0);
  CHECK(signature.output.find("Signature Verified Successfully") != std::string::npos);

  // The same tools catch a changed agreement text and a changed signed time.
  std::string text = slurp(bundle);
  const std::size_t purposes =
      text.find("purposes: [asb", text.find("\"agreement_texts\": [")) + 11;
  text[purposes] = 'A';
  std::ofstream(f.dir / "changed.json") << text;
  auto changed = sh(in_dir + "timeout 60 python3 check_bundle.py changed.json gateway-audit.pub");
  CHECK(changed.status != 0);
  CHECK(changed.output.find("AssertionError: agreement_texts seq 1: leaf hash") !=
        std::string::npos);
  std::string note = slurp(f.dir / "note.txt");
  note[note.size() - 2] = note[note.size() - 2] == '1' ? '2' : '1';
  std::ofstream(f.dir / "note.txt", std::ios::binary) << note;
  auto later = sh(in_dir + verify_signature);
  CHECK(later.status != 0);
  CHECK(later.output.find("Signature Verified Successfully") == std::string::npos);
}
