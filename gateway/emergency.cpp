#include "gateway/emergency.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "gateway/expiry.hpp"

namespace dsa::gateway {

namespace json = boost::json;

std::optional<emergency_disclosure> emergency_of(const audit::entry& e) {
  if (!audit::is_emergency_disclosure(e)) {
    return std::nullopt;
  }
  emergency_disclosure d;
  d.request_id = e.request_id;
  d.agreement = e.agreement;
  d.permission = e.permission;
  d.requester = e.requester.party;
  d.seq = e.seq;
  d.time_us = e.time_us;
  d.due_us = e.review_due_us;
  return d;
}

void emergency_registry::seed(const std::vector<audit::emergency_record>& records) {
  for (const auto& r : records) {
    if (r.e.kind == audit::entry_kind::review) {
      reviewed(r.e.request_id);
    } else if (auto d = emergency_of(r.e)) {
      d->seq = r.seq;
      disclosed(std::move(*d));
    }
  }
}

void emergency_registry::disclosed(emergency_disclosure d) {
  std::lock_guard lock(mu_);
  const std::string id = d.request_id;
  by_request_.try_emplace(id, std::move(d));
}

void emergency_registry::reviewed(const std::string& request_id) {
  std::lock_guard lock(mu_);
  if (auto it = by_request_.find(request_id); it != by_request_.end()) {
    ++it->second.reviews;
  }
}

std::optional<emergency_disclosure> emergency_registry::find(const std::string& request_id) const {
  std::lock_guard lock(mu_);
  if (auto it = by_request_.find(request_id); it != by_request_.end()) {
    return it->second;
  }
  return std::nullopt;
}

std::size_t emergency_registry::pending() const {
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(
      std::count_if(by_request_.begin(), by_request_.end(),
                    [](const auto& kv) { return kv.second.reviews == 0; }));
}

std::vector<emergency_disclosure> emergency_registry::overdue(std::int64_t now_us) const {
  std::vector<emergency_disclosure> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, d] : by_request_) {
      if (d.reviews == 0 && d.due_us != 0 && d.due_us < now_us) {
        out.push_back(d);
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  return out;
}

namespace {

// A string member of `o` that must be present, a string, and 1–`max` characters long (UTF-8
// code points are not counted: the limit is on bytes, which is what the store holds).
result<std::string> text_member(const json::object& o, std::string_view key, std::size_t max) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    return fail("review request: \"" + std::string(key) + "\" is missing");
  }
  if (!v->is_string()) {
    return fail("review request: \"" + std::string(key) + "\" must be a string");
  }
  const json::string& s = v->get_string();
  if (s.empty() || s.size() > max) {
    return fail("review request: \"" + std::string(key) + "\" must be 1 to " + std::to_string(max) +
                " bytes long (it has " + std::to_string(s.size()) + ")");
  }
  return std::string(s);
}

}  // namespace

result<review_request> parse_review_request(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    return fail("review request: the body is not JSON (" + ec.message() + ")");
  }
  if (!v.is_object()) {
    return fail("review request: the body must be a JSON object");
  }
  const json::object& o = v.get_object();
  for (const auto& kv : o) {
    const std::string_view k = kv.key();
    if (k != "request_id" && k != "seq" && k != "outcome" && k != "reviewer" && k != "note") {
      return fail("review request: unknown member \"" + std::string(k) +
                  "\" (expected request_id or seq, outcome, reviewer, note)");
    }
  }
  review_request r;
  const json::value* seq = o.if_contains("seq");
  if (o.contains("request_id") == (seq != nullptr)) {
    return fail("review request: give exactly one of \"request_id\" and \"seq\"");
  }
  if (seq != nullptr) {
    if (seq->is_uint64()) {
      r.seq = seq->get_uint64();
    } else if (seq->is_int64() && seq->get_int64() >= 0) {
      r.seq = static_cast<std::uint64_t>(seq->get_int64());
    } else {
      return fail("review request: \"seq\" must be a non-negative integer");
    }
  } else {
    auto id = text_member(o, "request_id", 128);
    if (!id) {
      return fail(id.error());
    }
    r.request_id = std::move(id).value();
  }
  auto outcome = text_member(o, "outcome", 64);
  if (!outcome) {
    return fail(outcome.error());
  }
  r.outcome = std::move(outcome).value();
  if (std::find(std::begin(review_outcomes), std::end(review_outcomes), r.outcome) ==
      std::end(review_outcomes)) {
    return fail(
        "review request: \"outcome\" must be justified, not_justified or "
        "needs_escalation, not \"" +
        r.outcome + "\"");
  }
  auto reviewer = text_member(o, "reviewer", 200);
  if (!reviewer) {
    return fail(reviewer.error());
  }
  r.reviewer = std::move(reviewer).value();
  auto note = text_member(o, "note", 4000);
  if (!note) {
    return fail(note.error());
  }
  r.note = std::move(note).value();
  return r;
}

audit::entry review_entry(const review_request& req, const emergency_disclosure& d,
                          std::int64_t now_us) {
  audit::entry e;
  e.time_us = now_us;
  e.kind = audit::entry_kind::review;
  e.request_id = d.request_id;
  e.details["seq"] = d.seq;
  e.details["outcome"] = req.outcome;
  e.details["reviewer"] = req.reviewer;
  e.details["note"] = req.note;
  return e;
}

std::string emergency_review_field(std::int64_t due_us, std::string_view review_within) {
  // Truncated to the whole second: never later than the due time the entry records.
  const std::int64_t due_s = due_us / 1000000;
  return "due=" + format_unix(due_s) + "; within=" + std::string(review_within);
}

std::string render_emergency_gauges(const emergency_registry& r, std::int64_t now_us) {
  std::string out;
  out +=
      "# HELP dsa_emergency_reviews_pending Emergency disclosures in the audit store not yet "
      "reviewed.\n# TYPE dsa_emergency_reviews_pending gauge\ndsa_emergency_reviews_pending " +
      std::to_string(r.pending()) + "\n";
  out +=
      "# HELP dsa_emergency_reviews_overdue Emergency disclosures whose review is past its due "
      "time (the agreement's review_within) and not yet recorded.\n"
      "# TYPE dsa_emergency_reviews_overdue gauge\ndsa_emergency_reviews_overdue " +
      std::to_string(r.overdue(now_us).size()) + "\n";
  return out;
}

}  // namespace dsa::gateway
