// `dsa audit review`: the review duty of emergency disclosures (docs/operations.md, "Emergency
// disclosures").
//
//   dsa audit review --admin URL (--request-id ID | --seq N) --outcome O --reviewer NAME --note T
//       records a review: POST /admin/reviews on the gateway's admin listener, which checks the
//       target and appends the `review` entry. The gateway is the store's only writer, so the
//       review goes through it rather than into the file; this command never opens the store.
//   dsa audit review --db STORE --pending [--format table|json] [--key PEM]
//       lists the emergency disclosures no review entry answers yet, after verifying the store
//       as `dsa audit verify` does (audit_cli.hpp, open_verified).
//
// Exit status: 0 done; 1 the gateway refused the review (no such entry, not an emergency
// disclosure) or the store fails verification; 2 usage, connection or input/output error.
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "audit/entry.hpp"
#include "audit/reader.hpp"
#include "common/clock.hpp"
#include "tools/dsa/audit_cli.hpp"

namespace dsa::cli {
namespace {

namespace json = boost::json;

struct review_args {
  std::string admin, request_id, outcome, reviewer, note;
  std::optional<std::uint64_t> seq;
  std::string db, key, format = "table";
  bool pending = false;
};

struct http_reply {
  int status = 0;
  std::string body;
};

// One HTTP/1.1 exchange over plain TCP with the admin listener (which answers one request per
// connection and closes it): `url` is http://HOST:PORT (a path after it is ignored). Every socket
// operation is bounded by a 10 s timeout.
result<http_reply> post_json(const std::string& url, const std::string& path,
                             const std::string& body) {
  constexpr std::string_view scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) {
    return fail("--admin " + url +
                ": expected http://HOST:PORT, the gateway's admin_listen address");
  }
  std::string authority = url.substr(scheme.size());
  authority = authority.substr(0, authority.find('/'));
  std::string host;
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos || close + 1 >= authority.size() ||
        authority[close + 1] != ':') {
      return fail("--admin " + url + ": expected http://[IPv6]:PORT");
    }
    host = authority.substr(1, close - 1);
    port = authority.substr(close + 2);
  } else {
    const auto colon = authority.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return fail("--admin " + url + ": expected http://HOST:PORT (the port is required)");
    }
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return fail("--admin " + url + ": cannot resolve " + host + ": " + gai_strerror(rc));
  }
  int fd = -1;
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      error = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return fail("cannot connect to the admin listener at " + authority + ": " + error);
  }
  const std::string request =
      "POST " + path + " HTTP/1.1\r\nHost: " + authority +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      close(fd);
      return fail("cannot send to the admin listener at " + authority + ": " + why);
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string raw;
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) {
      break;
    }
    if (n < 0) {
      const std::string why = std::strerror(errno);
      close(fd);
      return fail("no answer from the admin listener at " + authority + ": " + why);
    }
    raw.append(buf, static_cast<std::size_t>(n));
    if (raw.size() > 1024 * 1024) {
      break;
    }
  }
  close(fd);
  // "HTTP/1.1 201 Created\r\n…\r\n\r\nbody": the listener closes after one response, so the
  // body is whatever follows the head.
  const auto head_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || raw.size() < 12 || head_end == std::string::npos) {
    return fail("the admin listener at " + authority + " did not answer with HTTP/1.1");
  }
  http_reply reply;
  reply.status = std::atoi(raw.substr(9, 3).c_str());
  reply.body = raw.substr(head_end + 4);
  return reply;
}

int run_record(const review_args& a) {
  json::object req;
  if (a.seq) {
    req["seq"] = *a.seq;
  } else {
    req["request_id"] = a.request_id;
  }
  req["outcome"] = a.outcome;
  req["reviewer"] = a.reviewer;
  req["note"] = a.note;
  auto reply = post_json(a.admin, "/admin/reviews", json::serialize(req));
  if (!reply) {
    std::cerr << "dsa audit review: " << reply.error() << "\n";
    return 2;
  }
  boost::system::error_code ec;
  const json::value answer = json::parse(reply->body, ec);
  const json::object* o = !ec && answer.is_object() ? &answer.get_object() : nullptr;
  if (reply->status == 201 && o != nullptr) {
    std::cout << "recorded review seq " << json::serialize(o->at("seq")) << " (" << a.outcome
              << ") of emergency disclosure seq " << json::serialize(o->at("disclosure_seq"))
              << ", request id " << o->at("request_id").as_string().c_str()
              << "; reviews of it now " << json::serialize(o->at("reviews")) << "\n";
    return 0;
  }
  std::string why = reply->body;
  if (o != nullptr && o->contains("error") && o->at("error").is_string()) {
    why = std::string(o->at("error").as_string());
  }
  while (!why.empty() && why.back() == '\n') {
    why.pop_back();
  }
  std::cerr << "dsa audit review: the gateway refused the review (HTTP " << reply->status
            << "): " << why << "\n";
  // 404 and 409: a finding about the target; anything else is a usage or service problem.
  return reply->status == 404 || reply->status == 409 ? 1 : 2;
}

struct pending_row {
  std::uint64_t seq = 0;
  audit::entry e;
};

std::string age_text(std::int64_t us) {
  const std::int64_t s = std::max<std::int64_t>(0, us / 1000000);
  if (s < 3600) {
    return std::to_string(s / 60) + "m";
  }
  if (s < 86400 * 2) {
    return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
  }
  return std::to_string(s / 86400) + "d" + std::to_string(s % 86400 / 3600) + "h";
}

int run_pending(const review_args& a) {
  int status = 0;
  auto r = open_verified("review", a.db, a.key, status);
  if (!r) {
    return status;
  }
  // Every emergency disclosure in seq order, minus those a review entry names (by request id;
  // the entry the review's details.seq names is the same disclosure).
  std::vector<pending_row> disclosures;
  std::map<std::string, std::uint64_t> reviews;
  audit::entry_columns c;
  const std::string_view review_kind = audit::to_string(audit::entry_kind::review);
  std::string bad;
  auto read = r->query(audit::query_filter{}, [&](std::string_view text) {
    if (!audit::derive_columns(text, c)) {
      bad = "an entry is not well-formed";
      return false;
    }
    if (c.kind != review_kind && c.incident_ref.empty()) {
      return true;
    }
    auto e = audit::entry_from_json(text);
    if (!e) {
      bad = "an entry is not well-formed";
      return false;
    }
    if (e->kind == audit::entry_kind::review) {
      ++reviews[e->request_id];
    } else if (audit::is_emergency_disclosure(*e)) {
      disclosures.push_back({e->seq, std::move(*e)});
    }
    return true;
  });
  if (!read || !bad.empty()) {
    std::cerr << "dsa audit review: " << (read ? bad : read.error()) << "\n";
    return 2;
  }
  const std::int64_t now = common::now_us();
  std::vector<const pending_row*> open;
  std::map<std::string, bool> seen;  // a request id is one disclosure
  for (const auto& d : disclosures) {
    if (!reviews.contains(d.e.request_id) && !seen[d.e.request_id]) {
      seen[d.e.request_id] = true;
      open.push_back(&d);
    }
  }
  auto overdue = [now](const pending_row& d) {
    return d.e.review_due_us != 0 && d.e.review_due_us < now;
  };
  const auto n_overdue =
      std::count_if(open.begin(), open.end(), [&](const pending_row* d) { return overdue(*d); });
  if (a.format == "json") {
    json::array list;
    for (const pending_row* d : open) {
      list.push_back(json::object{{"seq", d->seq},
                                  {"request_id", d->e.request_id},
                                  {"time", format_time(d->e.time_us)},
                                  {"agreement", d->e.agreement},
                                  {"permission", d->e.permission},
                                  {"requester", d->e.requester.party},
                                  {"incident_ref", d->e.incident_ref},
                                  {"justification", d->e.justification},
                                  {"age_seconds", (now - d->e.time_us) / 1000000},
                                  {"due", format_time(d->e.review_due_us)},
                                  {"overdue", overdue(*d)}});
    }
    std::cout << json::serialize(json::object{{"now", format_time(now)},
                                              {"pending", list.size()},
                                              {"overdue", n_overdue},
                                              {"disclosures", std::move(list)}})
              << "\n";
    return 0;
  }
  if (open.empty()) {
    std::cout << "no emergency disclosure awaits review (" << disclosures.size()
              << " in the store, every one reviewed)\n";
    return 0;
  }
  std::cout << "SEQ\tTIME\tAGE\tDUE\tAGREEMENT\tPERMISSION\tREQUESTER\tINCIDENT\tREQUEST_ID\n";
  for (const pending_row* d : open) {
    std::cout << d->seq << "\t" << format_time(d->e.time_us) << "\t" << age_text(now - d->e.time_us)
              << "\t" << format_time(d->e.review_due_us) << (overdue(*d) ? " OVERDUE" : "") << "\t"
              << d->e.agreement << "\t" << d->e.permission << "\t" << d->e.requester.party << "\t"
              << d->e.incident_ref << "\t" << d->e.request_id << "\n";
  }
  std::cout << open.size() << " awaiting review, " << n_overdue << " overdue\n";
  return 0;
}

}  // namespace

void add_audit_review_command(CLI::App& parent, int& status) {
  auto a = std::make_shared<review_args>();
  CLI::App* review = parent.add_subcommand(
      "review",
      "Record the review of an emergency disclosure through the gateway's admin listener "
      "(--admin), or list the emergency disclosures awaiting review (--db … --pending).");
  review->add_option("--admin", a->admin,
                     "The gateway's admin listener, http://HOST:PORT (admin_listen)");
  auto* rid = review->add_option("--request-id", a->request_id,
                                 "Request id of the emergency disclosure (DSA-Request-Id)");
  auto* seq = review->add_option("--seq", a->seq, "Seq of the emergency disclosure's entry");
  rid->excludes(seq);
  review->add_option("--outcome", a->outcome, "justified | not_justified | needs_escalation")
      ->check(CLI::IsMember({"justified", "not_justified", "needs_escalation"}));
  review->add_option("--reviewer", a->reviewer, "Who reviewed it (name and role)");
  review->add_option("--note", a->note, "The review's reasoning, for the record");
  review->add_flag("--pending", a->pending,
                   "List the emergency disclosures no review answers yet (needs --db)");
  review->add_option("--db", a->db, "Audit store (SQLite file), with --pending");
  review->add_option("--key", a->key,
                     "Checkpoint public key (PEM) to verify with, with --pending (default: the "
                     "one recorded in the store)");
  review->add_option("--format", a->format, "table | json, with --pending")
      ->check(CLI::IsMember({"table", "json"}));
  review->callback([a, &status] {
    if (a->pending) {
      if (a->db.empty() || !a->admin.empty()) {
        std::cerr << "dsa audit review: --pending lists from a store: give --db STORE and no "
                     "--admin\n";
        status = 2;
        return;
      }
      status = run_pending(*a);
      return;
    }
    std::vector<std::string> missing;
    if (a->admin.empty()) {
      missing.emplace_back("--admin");
    }
    if (a->request_id.empty() && !a->seq) {
      missing.emplace_back("--request-id or --seq");
    }
    if (a->outcome.empty()) {
      missing.emplace_back("--outcome");
    }
    if (a->reviewer.empty()) {
      missing.emplace_back("--reviewer");
    }
    if (a->note.empty()) {
      missing.emplace_back("--note");
    }
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) {
        list += (list.empty() ? "" : ", ") + m;
      }
      std::cerr << "dsa audit review: recording a review needs " << list
                << " (or list pending ones with --db STORE --pending)\n";
      status = 2;
      return;
    }
    status = run_record(*a);
  });
}

}  // namespace dsa::cli
