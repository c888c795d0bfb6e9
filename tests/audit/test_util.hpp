#pragma once

// Helpers shared by the audit tests: temporary directories, realistic entries, synchronous
// appends and raw SQLite access for tampering.

#include <sqlite3.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <future>
#include <string>

#include "audit/store.hpp"
#include "audit/verify.hpp"
#include "tests/common/take.hpp"
#include "tests/common/temp_dir.hpp"

namespace dsa::audit::test {

using dsa::test::take;
using dsa::test::temp_dir;

inline entry make_entry(std::uint64_t i) {
  entry e;
  e.time_us = 1'750'000'000'000'000 + static_cast<std::int64_t>(i) * 1000;
  e.request_id = "req-" + std::to_string(i);
  e.decision = i % 5 == 0 ? entry_decision::deny : entry_decision::allow;
  e.reason = i % 5 == 0 ? "purpose_not_permitted" : "";
  e.status = i % 5 == 0 ? 403 : 200;
  e.requester = {i % 2 == 0 ? "northshire-police" : "eastvale-council",
                 "CN=case-system,O=Northshire Police,C=GB", std::string(64, 'a'), "partners"};
  e.agreement = i % 3 == 0 ? "asb-sharing" : "youth-justice";
  e.agreement_version = "1.2.0";
  e.permission = "police-read-cases";
  e.endpoint = "get-case";
  e.purpose = "asb-casework";
  e.case_ref = "ASB-2025-" + std::to_string(1000 + i % 7);
  e.acting_user = "PC " + std::to_string(4000 + i % 3);
  e.method = "GET";
  e.path = "/asb/v1/cases/ASB-2025-" + std::to_string(1000 + i % 7);
  e.upstream = "case-system";
  e.upstream_status = 200;
  e.upstream_latency_us = 850;
  e.bytes = 1024;
  e.counted = i % 5 != 0;
  return e;
}

inline store_options options_in(const temp_dir& dir) {
  store_options o;
  o.db_path = dir / "audit.db";
  o.signing_key_path = dir / "audit.key";
  return o;
}

inline commit_result append_sync(store& s, entry e) {
  std::promise<commit_result> p;
  auto f = p.get_future();
  s.append(std::move(e), [&p](const commit_result& r) { p.set_value(r); });
  return f.get();
}

// A raw read-write connection that bypasses the store, as an attacker with file access would.
class raw_db {
 public:
  explicit raw_db(const std::filesystem::path& p) { sqlite3_open(p.c_str(), &db_); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  ~raw_db() { sqlite3_close(db_); }
  // Returns the SQLite result code; the message is kept for assertions.
  int exec(const std::string& sql) {
    char* msg = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg);
    last_error = msg != nullptr ? msg : "";
    sqlite3_free(msg);
    return rc;
  }
  void drop_triggers() {
    exec(
        "DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete; "
        "DROP TRIGGER checkpoints_no_update; DROP TRIGGER checkpoints_no_delete;");
  }
  sqlite3* get() const { return db_; }
  std::string last_error;

 private:
  sqlite3* db_ = nullptr;
};

// `sessions` × `per_session` entries, each session closing the store, so a checkpoint exists at
// every multiple of `per_session` (by default 50 entries, checkpoints at 10, 20, …, 50).
inline store_options make_store(const temp_dir& dir, std::uint64_t sessions = 5,
                                std::uint64_t per_session = 10) {
  auto opts = options_in(dir);
  std::string error;
  for (std::uint64_t session = 0; session < sessions; ++session) {
    auto s = take(store::open(opts), error);
    INFO(error);
    REQUIRE(s);
    for (std::uint64_t i = 0; i < per_session; ++i) {
      REQUIRE(append_sync(*s, make_entry(session * per_session + i)).ok);
    }
  }
  return opts;
}

// The report of a verification that completed (the store and the key could be read).
inline verify_result completed(result<verify_result> r) {
  INFO(r.error());
  REQUIRE(r);
  return std::move(r).value();
}

// The first problem a completed verification reported (there must be one).
inline problem first_problem(const result<verify_result>& r) {
  INFO(r.error());
  REQUIRE(r);
  REQUIRE_FALSE(r->problems.empty());
  return r->problems.front();
}

}  // namespace dsa::audit::test
