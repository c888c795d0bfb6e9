// Streamed uploads (docs/design.md §6, "Streamed uploads"): a request body to a streamed endpoint
// is relayed to the upstream as it arrives, after the decision and the durable intent, with
// memory bounded per upload, its bytes and SHA-256 on the entries that close the exchange; a cut
// upload leaves the upstream a truncated request, never a clean end, and an entry saying so.
// Bodies to endpoints with JSON rules are still read whole. The upstream is scripted byte for
// byte (scripted_upstream.hpp); the gateway is the real binary.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "common/hex.hpp"
#include "tests/gateway/harness.hpp"
#include "tests/gateway/hostile_rig.hpp"
#include "tests/gateway/scripted_upstream.hpp"

namespace {

using namespace dsa::gateway::testing;
using namespace std::chrono_literals;
namespace json = boost::json;

// Sends `n` bytes of the repeated block, raw; `each` is called after every MiB with the bytes
// sent so far. False when the gateway has gone.
bool send_body(tls_client& c, std::uint64_t n,
               const std::function<void(std::uint64_t)>& each = {}) {
  std::uint64_t sent = 0;
  while (sent < n) {
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(n - sent, block().size()));
    if (!c.send(block().substr(0, take))) {
      return false;
    }
    sent += take;
    if (each) {
      each(sent);
    }
  }
  return true;
}

// A body as the upstream received it, decoded from its framing and hashed as it arrived.
struct upload_seen {
  std::string head;
  std::uint64_t bytes = 0;
  std::string sha256;
  bool complete = false;  // the framing ended cleanly: every declared byte, or the last chunk
};

// Reads one request with its body (Content-Length or chunked) without holding the body; at EOF
// or timeout mid-body `complete` stays false. `on_head` runs when the head has arrived.
std::optional<upload_seen> read_upload(
    upstream_connection& c, const std::function<void(const std::string&)>& on_head = {}) {
  auto head = c.read_head();
  if (!head) {
    return std::nullopt;
  }
  upload_seen out;
  out.head = *head;
  if (on_head) {
    on_head(out.head);
  }
  std::string lower = out.head;
  for (char& ch : lower) {
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  dsa::common::sha256_stream h;
  std::string buf;
  auto take = [&](std::string_view data) {
    h.update(data);
    out.bytes += data.size();
  };
  if (lower.find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos) {
    for (;;) {
      const auto eol = buf.find("\r\n");
      if (eol == std::string::npos) {
        std::string more = c.read_some();
        if (more.empty()) {
          break;
        }
        buf += more;
        continue;
      }
      const std::uint64_t size = std::stoull(buf.substr(0, eol), nullptr, 16);
      if (size == 0) {
        while (buf.size() < eol + 4) {
          std::string more = c.read_some();
          if (more.empty()) {
            break;
          }
          buf += more;
        }
        out.complete = buf.size() >= eol + 4 && buf.compare(eol, 4, "\r\n\r\n") == 0;
        break;
      }
      // The chunk's data as it arrives, then its CRLF.
      std::uint64_t left = size;
      buf.erase(0, eol + 2);
      bool cut = false;
      while (left > 0) {
        if (buf.empty()) {
          buf = c.read_some();
          if (buf.empty()) {
            cut = true;
            break;
          }
        }
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
        take(std::string_view(buf).substr(0, n));
        buf.erase(0, n);
        left -= n;
      }
      while (!cut && buf.size() < 2) {
        std::string more = c.read_some();
        if (more.empty()) {
          cut = true;
          break;
        }
        buf += more;
      }
      if (cut || buf.compare(0, 2, "\r\n") != 0) {
        break;
      }
      buf.erase(0, 2);
    }
  } else {
    std::uint64_t length = 0;
    if (auto cl = lower.find("\r\ncontent-length: "); cl != std::string::npos) {
      length = std::stoull(lower.substr(cl + 18));
    }
    while (out.bytes < length) {
      std::string more = c.read_some();
      if (more.empty()) {
        break;
      }
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(length - out.bytes, more.size()));
      take(std::string_view(more).substr(0, n));
    }
    out.complete = out.bytes == length;
  }
  out.sha256 = h.hex();
  return out;
}

// What the scripted upstream saw, shared with the test thread.
struct seen_log {
  std::mutex m;
  std::vector<upload_seen> uploads;
  void add(upload_seen u) {
    std::lock_guard<std::mutex> lock(m);
    uploads.push_back(std::move(u));
  }
  std::vector<upload_seen> all() {
    std::lock_guard<std::mutex> lock(m);
    return uploads;
  }
};

// An upstream that reads each upload whole-but-unheld, records it and answers 201 with a small
// JSON body; it signals "upload ended" after each (complete or not).
scripted_upstream::script recording(seen_log& log) {
  return [&log](upstream_connection& c) {
    while (auto u = read_upload(c)) {
      const bool complete = u->complete;
      log.add(std::move(*u));
      c.signal("upload ended");
      if (!complete || !c.write(http_response(201, "Created", R"({"id":"u1","internal":"x"})"))) {
        return;
      }
    }
  };
}

std::string upload_head(const std::string& method, const std::string& path,
                        const std::string& framing, const std::string& extra = "") {
  return method + " " + path + " HTTP/1.1\r\nHost: gw.test\r\nDSA-Purpose: test-purpose\r\n" +
         "Content-Type: video/mp4\r\n" + framing + extra + "\r\n";
}

std::string length_field(std::uint64_t n) {
  return "Content-Length: " + std::to_string(n) + "\r\n";
}

std::string chunk(std::string_view data) {
  char line[32];
  std::snprintf(line, sizeof line, "%zx\r\n", data.size());
  return line + std::string(data) + "\r\n";
}

// The DSA-Request-Id the upstream received in `head`.
std::string forwarded_request_id(const std::string& head) {
  const auto at = head.find("DSA-Request-Id: ");
  return at == std::string::npos ? std::string()
                                 : head.substr(at + 16, head.find("\r\n", at) - at - 16);
}

// The `request` entry of the request the upstream saw as `head`; waits at most 5 s.
std::optional<dsa::audit::entry> closing_entry(const hostile_rig& w, const std::string& head,
                                               const std::string& kind) {
  for (const auto& e : wait_entries(w, forwarded_request_id(head), 2)) {
    if (dsa::audit::kind_text(e) == kind) {
      return e;
    }
  }
  return std::nullopt;
}

std::int64_t detail_int(const dsa::audit::entry& e, const char* key) {
  const json::value* v = e.details.if_contains(key);
  return v != nullptr && v->is_int64() ? v->as_int64() : -1;
}

bool detail_bool(const dsa::audit::entry& e, const char* key) {
  const json::value* v = e.details.if_contains(key);
  return v != nullptr && v->is_bool() && v->as_bool();
}

std::string detail_text(const dsa::audit::entry& e, const char* key) {
  const json::value* v = e.details.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

TEST_CASE(
    "a 256 MiB upload streams through with bounded memory; the upstream and the audit hold its "
    "exact SHA-256",
    "[gateway][upload]") {
  constexpr std::uint64_t size = 256ull << 20;
  seen_log log;
  hostile_rig w(recording(log));
  tls_client police(w.gw->port(), "northshire-police");
  // A first small upload, so the memory baseline includes the connection's buffers.
  REQUIRE(police.send(upload_head("POST", "/uploads/warmup", length_field(1u << 20))));
  REQUIRE(send_body(police, 1u << 20));
  auto warm = police.read_response();
  REQUIRE(warm);
  REQUIRE(warm->status == 201);
  const std::int64_t before = rss_kib(w.gw->pid());
  REQUIRE(before > 0);
  std::int64_t peak = before;
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(police.send(upload_head("POST", "/uploads/evidence", length_field(size))));
  REQUIRE(send_body(police, size, [&](std::uint64_t sent) {
    if (sent % (16u << 20) == 0) {
      peak = std::max(peak, rss_kib(w.gw->pid()));
    }
  }));
  auto r = police.read_response();
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(r);
  CHECK(r->status == 201);
  // Streamed endpoint: the upstream's body leaves as it is.
  CHECK(r->body == R"({"id":"u1","internal":"x"})");
  INFO("gateway RSS before " << before << " KiB, peak " << peak << " KiB; "
                             << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                             << " ms");
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer's quarantine and shadow memory make RSS meaningless (streaming_test.cpp).
  CHECK(peak >= before);
#else
  CHECK(peak - before < 32 * 1024);
#endif

  const std::vector<upload_seen> seen = log.all();
  REQUIRE(seen.size() == 2);
  const upload_seen& big = seen[1];
  CHECK(big.complete);
  CHECK(big.bytes == size);
  const std::string sent_sha256 = prefix_sha256(size);
  CHECK(big.sha256 == sent_sha256);
  // The client's Content-Length reached the upstream; no chunked framing was added.
  CHECK(big.head.find("\r\nContent-Length: 268435456\r\n") != std::string::npos);
  CHECK(big.head.find("Transfer-Encoding") == std::string::npos);

  const auto e = wait_entries(w, forwarded_request_id(big.head), 3);
  REQUIRE(e.size() == 3);
  CHECK(dsa::audit::kind_text(e[0]) == "forwarding");
  CHECK(dsa::audit::kind_text(e[1]) == "disclosure_started");
  CHECK(dsa::audit::kind_text(e[2]) == "disclosure_completed");
  for (std::size_t i = 1; i < e.size(); ++i) {
    INFO(dsa::audit::kind_text(e[i]));
    CHECK(detail_int(e[i], "request_bytes") == static_cast<std::int64_t>(size));
    CHECK(detail_text(e[i], "request_sha256") == sent_sha256);
    CHECK_FALSE(e[i].details.contains("upload_interrupted"));
  }
  CHECK(e[1].endpoint == "uploads");
  CHECK(e[1].status == 201);
}

TEST_CASE("a chunked upload is forwarded chunked and ends cleanly; the connection goes on",
          "[gateway][upload]") {
  const bool tls = GENERATE(false, true);  // to a plain HTTP upstream, and over TLS
  INFO((tls ? "https" : "http") << " upstream");
  seen_log log;
  hostile_rig w(recording(log), tls);
  tls_client police(w.gw->port(), "northshire-police");
  constexpr std::size_t piece = 300000;
  REQUIRE(police.send(upload_head("POST", "/uploads/chunked", "Transfer-Encoding: chunked\r\n")));
  for (int i = 0; i < 3; ++i) {
    REQUIRE(police.send(chunk(std::string_view(block()).substr(i * piece, piece))));
  }
  REQUIRE(police.send("0\r\n\r\n"));
  auto r = police.read_response();
  REQUIRE(r);
  CHECK(r->status == 201);
  const std::vector<upload_seen> seen = log.all();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].complete);
  CHECK(seen[0].bytes == 3 * piece);
  CHECK(seen[0].sha256 == prefix_sha256(3 * piece));
  CHECK(seen[0].head.find("\r\nTransfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(seen[0].head.find("Content-Length") == std::string::npos);
  const auto closing = closing_entry(w, seen[0].head, "disclosure_started");
  REQUIRE(closing);
  CHECK(detail_int(*closing, "request_bytes") == static_cast<std::int64_t>(3 * piece));
  CHECK(detail_text(*closing, "request_sha256") == prefix_sha256(3 * piece));
  // The body ended exactly at its last chunk: the next request on the connection is served.
  REQUIRE(police.send(upload_head("POST", "/uploads/again", length_field(10))));
  REQUIRE(police.send(block().substr(0, 10)));
  auto again = police.read_response();
  REQUIRE(again);
  CHECK(again->status == 201);
}

TEST_CASE(
    "an upload's intent is durable before its first byte reaches the upstream, and 100-continue "
    "waits for it",
    "[gateway][upload]") {
  seen_log log;
  std::filesystem::path db;  // set before any request is sent
  std::mutex db_mutex;
  hostile_rig w([&](upstream_connection& c) {
    while (auto u = read_upload(c, [&](const std::string& head) {
             // The head has arrived and no body byte has been read: the forwarding entry must
             // already be in the store, as another process reading it finds it.
             std::filesystem::path store;
             {
               std::lock_guard<std::mutex> lock(db_mutex);
               store = db;
             }
             bool found = false;
             for (const auto& e : audit_entries(store, "forwarding")) {
               found = found || e.request_id == forwarded_request_id(head);
             }
             c.signal(found ? "intent found at the head" : "intent missing at the head");
           })) {
      log.add(std::move(*u));
      c.write(http_response(201, "Created", R"({"id":"u1"})"));
    }
  });
  {
    std::lock_guard<std::mutex> lock(db_mutex);
    db = w.gw->audit_db();
  }
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(police.send(
      upload_head("POST", "/uploads/expect", length_field(100000), "Expect: 100-continue\r\n")));
  auto cont = police.read_response();
  REQUIRE(cont);
  CHECK(cont->status == 100);
  // 100 Continue came after the intent: it is in the store now.
  const auto intents = audit_entries(w.gw->audit_db(), "forwarding");
  REQUIRE(intents.size() == 1);
  CHECK(intents[0].endpoint == "uploads");
  CHECK(intents[0].method == "POST");
  CHECK(w.up.wait_for("intent found at the head", 5s));
  CHECK_FALSE(w.up.wait_for("intent missing at the head", 0ms));
  REQUIRE(send_body(police, 100000));
  auto r = police.read_response();
  REQUIRE(r);
  CHECK(r->status == 201);
  REQUIRE(log.all().size() == 1);
  CHECK(log.all()[0].complete);
  CHECK(forwarded_request_id(log.all()[0].head) == intents[0].request_id);
}

TEST_CASE(
    "a client that goes away mid-upload leaves the upstream a truncated request and an entry "
    "with the bytes so far",
    "[gateway][upload]") {
  constexpr std::uint64_t declared = 64ull << 20;
  constexpr std::uint64_t sent = 4ull << 20;
  seen_log log;
  hostile_rig w(recording(log));
  {
    tls_client police(w.gw->port(), "northshire-police");
    REQUIRE(police.send(upload_head("POST", "/uploads/cut", length_field(declared))));
    REQUIRE(send_body(police, sent));
  }  // the client closes here, without a TLS close_notify, 4 MiB in
  REQUIRE(w.up.wait_for("upload ended", 10s));
  const std::vector<upload_seen> seen = log.all();
  REQUIRE(seen.size() == 1);
  CHECK_FALSE(seen[0].complete);
  CHECK(seen[0].bytes > 0);
  CHECK(seen[0].bytes <= sent);
  const auto e = closing_entry(w, seen[0].head, "request");
  REQUIRE(e);
  CHECK(dsa::audit::decision_text(*e) == "reject");
  CHECK(e->reason == "bad_request");
  CHECK(e->status == 0);  // nothing was answered
  CHECK(e->counted);      // allowed, and part of it reached the upstream
  CHECK(e->endpoint == "uploads");
  CHECK(detail_bool(*e, "upload_interrupted"));
  CHECK(detail_text(*e, "cause") == "client_closed");
  CHECK(detail_int(*e, "request_bytes") == static_cast<std::int64_t>(seen[0].bytes));
  CHECK(detail_text(*e, "request_sha256") == seen[0].sha256);
  CHECK(detail_text(*e, "request_sha256") == prefix_sha256(seen[0].bytes));
  CHECK(w.gw->running());
}

TEST_CASE(
    "request.max_bytes on a streamed endpoint: a chunked body growing past it is cut there with "
    "413, a declared length over it is refused before the upstream is contacted",
    "[gateway][upload]") {
  constexpr std::uint64_t limit = 100000;
  seen_log log;
  hostile_rig w(recording(log));
  {
    tls_client police(w.gw->port(), "northshire-police");
    REQUIRE(
        police.send(upload_head("PUT", "/capped-uploads/grows", "Transfer-Encoding: chunked\r\n")));
    // 150,000 bytes in three chunks (small enough to sit in the socket buffers when the gateway
    // stops reading), and the last chunk.
    for (int i = 0; i < 3; ++i) {
      REQUIRE(police.send(chunk(std::string_view(block()).substr(i * 50000, 50000))));
    }
    police.send("0\r\n\r\n");
    auto r = police.read_response();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(json::parse(r->body).at("reason") == "body_too_large");
    CHECK(r->header("Connection") == "close");
    CHECK(police.closed_by_server());
  }
  REQUIRE(w.up.wait_for("upload ended", 10s));
  const std::vector<upload_seen> seen = log.all();
  REQUIRE(seen.size() == 1);
  CHECK_FALSE(seen[0].complete);  // no last chunk: the upstream cannot take it for a whole body
  CHECK(seen[0].bytes == limit);  // cut exactly at the limit
  CHECK(seen[0].sha256 == prefix_sha256(limit));
  const auto e = closing_entry(w, seen[0].head, "request");
  REQUIRE(e);
  CHECK(dsa::audit::decision_text(*e) == "reject");
  CHECK(e->reason == "body_too_large");
  CHECK(e->status == 413);
  CHECK(detail_bool(*e, "upload_interrupted"));
  CHECK(detail_int(*e, "request_bytes") == static_cast<std::int64_t>(limit));
  CHECK(detail_text(*e, "request_sha256") == prefix_sha256(limit));

  // Declared over the limit: 413 at once (no 100 Continue), no intent, no upstream connection.
  const int connections = w.up.connections();
  const std::size_t intents = audit_entries(w.gw->audit_db(), "forwarding").size();
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(police.send(upload_head("PUT", "/capped-uploads/declared", length_field(limit + 1),
                                  "Expect: 100-continue\r\n")));
  auto r = police.read_response();
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK(json::parse(r->body).at("reason") == "body_too_large");
  const std::string request_id = r->header("DSA-Request-Id");
  const auto refused = wait_entries(w, request_id, 1);
  REQUIRE(refused.size() == 1);
  CHECK(dsa::audit::kind_text(refused[0]) == "request");
  CHECK(refused[0].reason == "body_too_large");
  CHECK_FALSE(refused[0].details.contains("request_bytes"));
  CHECK(audit_entries(w.gw->audit_db(), "forwarding").size() == intents);
  CHECK(w.up.connections() == connections);
  CHECK(log.all().size() == 1);
}

TEST_CASE(
    "a body to an endpoint with JSON rules is still read whole, within the smaller of "
    "request.max_bytes and limits.max_body_bytes",
    "[gateway][upload]") {
  // See also "a request body over the limit gets 413 and the gateway keeps running"
  // (hostile_upstream_test.cpp) and "oversized heads get 431 and oversized bodies 413, nothing
  // forwarded" (gateway_integration_test.cpp) for limits.max_body_bytes.
  hostile_rig w([](upstream_connection& c) {
    while (auto req = c.read_request()) {
      c.write(http_response(200, "OK", R"({"id":"f1","internal":"x"})"));
    }
  });
  // forms: request.max_bytes 1000 under limits.max_body_bytes 4096. A chunked body of 1500.
  {
    tls_client police(w.gw->port(), "northshire-police");
    REQUIRE(police.send(upload_head("POST", "/forms/a", "Transfer-Encoding: chunked\r\n")));
    REQUIRE(police.send(chunk(block().substr(0, 1500)) + "0\r\n\r\n"));
    auto r = police.read_response();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(json::parse(r->body).at("reason") == "body_too_large");
  }
  CHECK(w.up.requests().empty());
  // Within it: held whole, so the upstream gets a Content-Length (never the client's chunks),
  // and the answer is filtered.
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(police.send(upload_head("POST", "/forms/a", "Transfer-Encoding: chunked\r\n")));
  REQUIRE(
      police.send(chunk(block().substr(0, 500)) + chunk(block().substr(500, 300)) + "0\r\n\r\n"));
  auto r = police.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == R"({"id":"f1"})");
  REQUIRE(w.up.requests().size() == 1);
  const std::string seen = w.up.requests()[0];
  CHECK(seen.find("\r\nContent-Length: 800\r\n") != std::string::npos);
  CHECK(seen.find("Transfer-Encoding") == std::string::npos);
  CHECK(seen.substr(seen.size() - 800) == block().substr(0, 800));
}

TEST_CASE(
    "an upstream that stops reading mid-upload gives 504, is left a truncated request, and the "
    "entry holds what was forwarded",
    "[gateway][upload]") {
  constexpr std::uint64_t declared = 64ull << 20;
  seen_log log;
  hostile_rig w([&](upstream_connection& c) {
    auto head = c.read_head();
    if (!head) {
      return;
    }
    upload_seen u;
    u.head = *head;
    dsa::common::sha256_stream h;
    auto take = [&](const std::string& more) {
      h.update(more);
      u.bytes += more.size();
    };
    while (u.bytes < (1u << 20)) {
      const std::string more = c.read_some();
      if (more.empty()) {
        break;
      }
      take(more);
    }
    // Longer than the rig's 3 s upstream response timeout, which bounds every write to it.
    std::this_thread::sleep_for(4s);
    for (std::string more = c.read_some(); !more.empty(); more = c.read_some()) {
      take(more);
    }
    u.complete = u.bytes == declared;
    u.sha256 = h.hex();
    log.add(std::move(u));
    c.signal("upload ended");
  });
  {
    tls_client police(w.gw->port(), "northshire-police");
    REQUIRE(police.send(upload_head("POST", "/uploads/stalled", length_field(declared))));
    // The gateway stops reading once its write to the upstream times out; this side's sending
    // then fails, so whether the 504 reaches it depends on timing: the entry is what is checked.
    (void)send_body(police, declared);
  }
  REQUIRE(w.up.wait_for("upload ended", 15s));
  const std::vector<upload_seen> seen = log.all();
  REQUIRE(seen.size() == 1);
  CHECK_FALSE(seen[0].complete);
  const auto e = closing_entry(w, seen[0].head, "request");
  REQUIRE(e);
  CHECK(dsa::audit::decision_text(*e) == "error");
  CHECK(e->reason == "upstream_timeout");
  CHECK(e->status == 504);
  CHECK(detail_bool(*e, "upload_interrupted"));
  // Every byte the upstream's connection took arrived: the count and hash are of exactly those.
  CHECK(detail_int(*e, "request_bytes") == static_cast<std::int64_t>(seen[0].bytes));
  CHECK(detail_text(*e, "request_sha256") == seen[0].sha256);
  CHECK(seen[0].sha256 == prefix_sha256(seen[0].bytes));
  CHECK(w.gw->running());
}
