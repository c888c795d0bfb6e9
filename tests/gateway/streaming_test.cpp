// Streamed endpoints (docs/design.md §6): bodies relayed as they arrive with memory bounded per
// stream, a disclosure_started entry durable before the first body byte and a
// disclosure_completed or disclosure_interrupted entry with the bytes that left and their SHA-256;
// a relay cut by either side ends without a clean end. The upstream is scripted byte for byte
// (scripted_upstream.hpp); the gateway is the real binary.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <thread>

#include "common/hex.hpp"
#include "tests/gateway/harness.hpp"
#include "tests/gateway/hostile_rig.hpp"
#include "tests/gateway/scripted_upstream.hpp"

namespace {

using namespace dsa::gateway::testing;
using namespace std::chrono_literals;
namespace json = boost::json;

// Writes `n` bytes of the repeated block; false when the gateway has gone.
bool write_body(upstream_connection& c, std::uint64_t n) {
  while (n > 0) {
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, block().size()));
    if (!c.write(std::string_view(block()).substr(0, take))) {
      return false;
    }
    n -= take;
  }
  return true;
}

std::string stream_head(std::optional<std::uint64_t> length, const std::string& extra = "") {
  std::string h = "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n" + extra;
  h += length ? "Content-Length: " + std::to_string(*length) + "\r\n"
              : std::string("Transfer-Encoding: chunked\r\n");
  return h + "\r\n";
}

// A streamed response as the client received it, read without holding the body.
struct received {
  int status = 0;
  std::string head;
  std::uint64_t bytes = 0;
  std::string sha256;
  bool complete = false;  // the framing ended cleanly (all declared bytes, or the last chunk)
};

// Reads one response from `client`, hashing the body as it arrives. `stop_after`: stop reading
// (and return) once that many body bytes have arrived. `each` is called after every read.
received read_streamed(tls_client& client, std::uint64_t stop_after = UINT64_MAX,
                       const std::function<void(std::uint64_t)>& each = {}) {
  received out;
  std::string buf;
  std::size_t end = std::string::npos;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    std::string more = client.read_some();
    if (more.empty()) {
      return out;
    }
    buf += more;
  }
  out.head = buf.substr(0, end + 4);
  out.status = std::stoi(out.head.substr(9, 3));
  buf.erase(0, end + 4);
  std::string lower = out.head;
  for (char& ch : lower) {
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  const bool chunked = lower.find("transfer-encoding: chunked") != std::string::npos;
  std::optional<std::uint64_t> length;
  if (auto cl = lower.find("content-length: "); cl != std::string::npos) {
    length = std::stoull(lower.substr(cl + 16));
  }
  dsa::common::sha256_stream h;
  auto take = [&](std::string_view data) {
    h.update(data);
    out.bytes += data.size();
  };
  auto more = [&] {
    std::string m = client.read_some();
    buf += m;
    if (each) {
      each(out.bytes);
    }
    return !m.empty();
  };
  if (!chunked) {
    const std::uint64_t want = length.value_or(0);
    for (;;) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), want - out.bytes));
      take(std::string_view(buf).substr(0, n));
      buf.erase(0, n);
      if (out.bytes == want) {
        out.complete = true;
        break;
      }
      if (out.bytes >= stop_after || !more()) {
        break;
      }
    }
  } else {
    for (;;) {
      const auto eol = buf.find("\r\n");
      if (eol == std::string::npos) {
        if (out.bytes >= stop_after || !more()) {
          break;
        }
        continue;
      }
      const std::uint64_t size = std::stoull(buf.substr(0, eol), nullptr, 16);
      if (size == 0) {
        out.complete = buf.size() >= eol + 4 && buf.compare(eol, 4, "\r\n\r\n") == 0;
        if (!out.complete && more()) {
          continue;
        }
        break;
      }
      if (buf.size() < eol + 2 + size + 2) {
        if (out.bytes >= stop_after || !more()) {
          // A truncated chunk: count what arrived of it.
          const std::size_t got = buf.size() > eol + 2 ? buf.size() - eol - 2 : 0;
          take(std::string_view(buf).substr(eol + 2, std::min<std::size_t>(got, size)));
          buf.clear();
          break;
        }
        continue;
      }
      take(std::string_view(buf).substr(eol + 2, size));
      buf.erase(0, eol + 2 + size + 2);
    }
  }
  out.sha256 = h.hex();
  return out;
}

std::string request_id_of(const received& r) {
  const auto at = r.head.find("DSA-Request-Id: ");
  return at == std::string::npos ? std::string()
                                 : r.head.substr(at + 16, r.head.find("\r\n", at) - at - 16);
}

}  // namespace

TEST_CASE("1 GiB streams through with bounded memory, and the audit holds its exact SHA-256",
          "[gateway][streaming]") {
  constexpr std::uint64_t size = 1ull << 30;
  hostile_rig w([&](upstream_connection& c) {
    while (auto req = c.read_request()) {
      if (req->find("/clips/warmup") != std::string::npos) {
        c.write(stream_head(4) + "warm");
      } else if (!c.write(stream_head(size)) || !write_body(c, size)) {
        return;
      }
    }
  });
  tls_client police(w.gw->port(), "northshire-police");
  // A first small relay, so the memory baseline includes the connection's buffers.
  REQUIRE(police.send(get("/clips/warmup")));
  const received warm = read_streamed(police);
  REQUIRE(warm.complete);
  const std::int64_t before = rss_kib(w.gw->pid());
  REQUIRE(before > 0);
  std::int64_t peak = before;
  std::uint64_t next_sample = 0;
  REQUIRE(police.send(get("/clips/big")));
  const received r = read_streamed(police, UINT64_MAX, [&](std::uint64_t got) {
    if (got >= next_sample) {
      peak = std::max(peak, rss_kib(w.gw->pid()));
      next_sample = got + (16u << 20);
    }
  });
  CHECK(r.status == 200);
  CHECK(r.complete);
  CHECK(r.bytes == size);
  CHECK(r.sha256 == prefix_sha256(size));
  INFO("gateway RSS before " << before << " KiB, peak " << peak << " KiB");
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps freed memory in quarantine (256 MiB by default) and maps shadow
  // memory, so a sanitized gateway's RSS says nothing about its buffers: only the release
  // build checks the bound (tools/test.sh runs both).
  CHECK(peak >= before);
#else
  CHECK(peak - before < 32 * 1024);
#endif

  const auto e = wait_entries(w, request_id_of(r), 2);
  REQUIRE(e.size() == 2);
  CHECK(dsa::audit::kind_text(e[0]) == "disclosure_started");
  CHECK(e[0].counted);
  CHECK(e[0].status == 200);
  CHECK(e[0].details.at("declared_length").as_int64() == static_cast<std::int64_t>(size));
  CHECK(e[0].details.at("content_type") == "video/mp4");
  CHECK(dsa::audit::kind_text(e[1]) == "disclosure_completed");
  CHECK_FALSE(e[1].counted);
  CHECK(e[1].bytes == static_cast<std::int64_t>(size));
  CHECK(e[1].body_sha256 == r.sha256);
  CHECK(e[0].seq < e[1].seq);
}

TEST_CASE("a chunked upstream body is relayed chunked and ends cleanly", "[gateway][streaming]") {
  constexpr std::uint64_t size = 3 * 1000 * 1000 + 17;
  hostile_rig w([&](upstream_connection& c) {
    while (auto req = c.read_request()) {
      c.write(stream_head(std::nullopt));
      std::uint64_t left = size;
      std::uint64_t offset = 0;
      while (left > 0) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, 300000));
        std::string chunk = std::string(block()).substr(offset % block().size(), n);
        // The block repeats; a chunk crossing its end wraps around.
        if (chunk.size() < n) {
          chunk += block().substr(0, n - chunk.size());
        }
        char line[32];
        std::snprintf(line, sizeof line, "%zx\r\n", n);
        c.write(line + chunk + "\r\n");
        left -= n;
        offset += n;
      }
      c.write("0\r\n\r\n");
    }
  });
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(police.send(get("/clips/chunked")));
  const received r = read_streamed(police);
  CHECK(r.status == 200);
  CHECK(r.head.find("Transfer-Encoding: chunked") != std::string::npos);
  CHECK(r.complete);
  CHECK(r.bytes == size);
  CHECK(r.sha256 == prefix_sha256(size));
  const auto e = wait_entries(w, request_id_of(r), 2);
  REQUIRE(e.size() == 2);
  CHECK(dsa::audit::kind_text(e[0]) == "disclosure_started");
  CHECK_FALSE(e[0].details.contains("declared_length"));
  CHECK(dsa::audit::kind_text(e[1]) == "disclosure_completed");
  CHECK(e[1].body_sha256 == r.sha256);
  // The connection is still good for the next request.
  REQUIRE(police.send(get("/clips/again")));
  CHECK(read_streamed(police).complete);
}

TEST_CASE("a client that goes away mid-stream leaves an interrupted entry with what left",
          "[gateway][streaming]") {
  constexpr std::uint64_t size = 256ull << 20;
  hostile_rig w([&](upstream_connection& c) {
    while (auto req = c.read_request()) {
      if (!c.write(stream_head(size)) || !write_body(c, size)) {
        c.signal("upstream cut off");
        return;
      }
    }
  });
  std::string request_id;
  {
    tls_client police(w.gw->port(), "northshire-police");
    REQUIRE(police.send(get("/clips/big")));
    const received r = read_streamed(police, 4u << 20);
    CHECK(r.status == 200);
    CHECK_FALSE(r.complete);
    request_id = request_id_of(r);
  }  // the client closes here, 4 MiB in
  REQUIRE(w.up.wait_for("upstream cut off", 10s));
  const auto e = wait_entries(w, request_id, 2);
  REQUIRE(e.size() == 2);
  CHECK(dsa::audit::kind_text(e[0]) == "disclosure_started");
  CHECK(dsa::audit::kind_text(e[1]) == "disclosure_interrupted");
  CHECK(e[1].details.at("cause") == "client_closed");
  CHECK(e[1].bytes >= (4 << 20));
  CHECK(e[1].bytes < static_cast<std::int64_t>(size));
  CHECK(e[1].body_sha256 == prefix_sha256(static_cast<std::uint64_t>(e[1].bytes)));
}

TEST_CASE(
    "a client that stops reading mid-stream is cut at the write deadline; the entry holds "
    "exactly the bytes that left",
    "[gateway][streaming]") {
  // The relay's writes wait for the socket (TLS on the socket, gateway/tls_stream.hpp): a client
  // that stops reading fills it, and the write deadline (limits.header_read_timeout_ms) ends
  // the relay instead of holding the upstream and the stream's buffers for ever.
  constexpr std::uint64_t size = 256ull << 20;
  hostile_rig w(
      [&](upstream_connection& c) {
        while (auto req = c.read_request()) {
          if (!c.write(stream_head(size)) || !write_body(c, size)) {
            c.signal("upstream cut off");
            return;
          }
        }
      },
      false,
      "{max_header_bytes: 4096, max_body_bytes: 4096, drain_timeout_ms: 3000, "
      "header_read_timeout_ms: 500}");
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(police.send(get("/clips/big")));
  const received r = read_streamed(police, 2u << 20);
  CHECK(r.status == 200);
  CHECK_FALSE(r.complete);
  const std::string request_id = request_id_of(r);
  // The client keeps its connection open and reads nothing more.
  const auto stalled = std::chrono::steady_clock::now();
  REQUIRE(w.up.wait_for("upstream cut off", 10s));
  CHECK(std::chrono::steady_clock::now() - stalled < 8s);
  const auto e = wait_entries(w, request_id, 2);
  REQUIRE(e.size() == 2);
  CHECK(dsa::audit::kind_text(e[1]) == "disclosure_interrupted");
  CHECK(e[1].details.at("cause") == "client_closed");
  CHECK(e[1].bytes >= (2 << 20));
  CHECK(e[1].bytes < static_cast<std::int64_t>(size));
  CHECK(e[1].body_sha256 == prefix_sha256(static_cast<std::uint64_t>(e[1].bytes)));
}

TEST_CASE(
    "an upstream that resets mid-stream gives the client a truncated transfer, never a "
    "clean end, and an interrupted entry",
    "[gateway][streaming]") {
  constexpr std::uint64_t declared = 8ull << 20;
  constexpr std::uint64_t sent = 3ull << 20;
  hostile_rig w([&](upstream_connection& c) {
    while (auto req = c.read_request()) {
      const bool chunked = req->find("/clips/chunked") != std::string::npos;
      if (chunked) {
        // One chunk declared longer than what follows it.
        c.write(stream_head(std::nullopt));
        char line[32];
        std::snprintf(line, sizeof line, "%zx\r\n", static_cast<std::size_t>(declared));
        c.write(line);
        write_body(c, sent);
      } else {
        c.write(stream_head(declared));
        write_body(c, sent);
      }
      return;  // the connection is shut mid-body
    }
  });
  for (const std::string path : {"/clips/length", "/clips/chunked"}) {
    INFO(path);
    tls_client police(w.gw->port(), "northshire-police");
    REQUIRE(police.send(get(path)));
    const received r = read_streamed(police);
    CHECK(r.status == 200);
    CHECK_FALSE(r.complete);
    CHECK(r.bytes <= sent);
    const auto e = wait_entries(w, request_id_of(r), 2);
    REQUIRE(e.size() == 2);
    CHECK(dsa::audit::kind_text(e[1]) == "disclosure_interrupted");
    CHECK(e[1].details.at("cause") == "upstream_failed");
    CHECK(e[1].bytes == static_cast<std::int64_t>(r.bytes));
    CHECK(e[1].body_sha256 == r.sha256);
  }
}

TEST_CASE(
    "response.max_bytes: a declared length over it is refused unread, a body that grows "
    "past it is cut there",
    "[gateway][streaming]") {
  hostile_rig w([&](upstream_connection& c) {
    while (auto req = c.read_request()) {
      if (req->find("/capped/declared") != std::string::npos) {
        c.write(stream_head(100001));
        write_body(c, 100001);
      } else {
        c.write(stream_head(std::nullopt));
        for (int i = 0; i < 4; ++i) {
          char line[32];
          std::snprintf(line, sizeof line, "%x\r\n", 40000);
          if (!c.write(line + block().substr(i * 40000, 40000) + "\r\n")) {
            return;
          }
        }
        c.write("0\r\n\r\n");
      }
    }
  });
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(police.send(get("/capped/declared")));
  auto refused = police.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 502);
  CHECK(json::parse(refused->body).at("reason") == "response_too_large");
  const auto withheld = audit_entries(w.gw->audit_db(), "request");
  REQUIRE_FALSE(withheld.empty());
  CHECK(dsa::audit::decision_text(withheld.back()) == "withheld");

  tls_client other(w.gw->port(), "northshire-police");
  REQUIRE(other.send(get("/capped/grows")));
  const received r = read_streamed(other);
  CHECK(r.status == 200);
  CHECK_FALSE(r.complete);
  CHECK(r.bytes == 100000);
  CHECK(r.sha256 == prefix_sha256(100000));
  const auto e = wait_entries(w, request_id_of(r), 2);
  REQUIRE(e.size() == 2);
  CHECK(dsa::audit::kind_text(e[1]) == "disclosure_interrupted");
  CHECK(e[1].details.at("cause") == "over_max_bytes");
  CHECK(e[1].bytes == 100000);
}

TEST_CASE("a range request on an endpoint that allows ranges is forwarded and its 206 audited",
          "[gateway][streaming]") {
  hostile_rig w([&](upstream_connection& c) {
    while (auto req = c.read_request()) {
      c.write(
          "HTTP/1.1 206 Partial Content\r\nContent-Type: video/mp4\r\n"
          "Content-Range: bytes 1000-1999/1048576\r\nContent-Length: 1000\r\n\r\n" +
          block().substr(1000, 1000));
    }
  });
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(police.send(get("/clips/video", "Range: bytes=1000-1999\r\n")));
  const received r = read_streamed(police);
  CHECK(r.status == 206);
  CHECK(r.head.find("Content-Range: bytes 1000-1999/1048576\r\n") != std::string::npos);
  CHECK(r.head.find("Accept-Ranges: bytes\r\n") != std::string::npos);
  CHECK(r.complete);
  CHECK(r.sha256 == dsa::common::sha256_hex(block().substr(1000, 1000)));
  REQUIRE(w.up.requests().size() == 1);
  CHECK(w.up.requests()[0].find("Range: bytes=1000-1999\r\n") != std::string::npos);
  const auto e = wait_entries(w, request_id_of(r), 2);
  REQUIRE(e.size() == 2);
  CHECK(e[0].status == 206);
  CHECK(e[0].details.at("range") == "bytes=1000-1999");
  CHECK(e[0].details.at("content_range") == "bytes 1000-1999/1048576");
  CHECK(dsa::audit::kind_text(e[1]) == "disclosure_completed");
  CHECK(e[1].bytes == 1000);
}

TEST_CASE("kill -9 mid-stream leaves the started entry: no byte left unlogged",
          "[gateway][streaming]") {
  hostile_rig w([&](upstream_connection& c) {
    while (auto req = c.read_request()) {
      c.write(stream_head(8u << 20));
      write_body(c, 1u << 20);
      c.signal("first MiB written");
      (void)c.read_request();  // holds the stream open until the gateway's connection goes
      return;
    }
  });
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(police.send(get("/clips/evidence")));
  REQUIRE(w.up.wait_for("first MiB written", 10s));
  const received r = read_streamed(police, 64 * 1024);
  REQUIRE(r.status == 200);
  REQUIRE(r.bytes > 0);
  CHECK(w.gw->stop(SIGKILL) == 128 + SIGKILL);
  const auto e = entries_of(w, request_id_of(r));
  REQUIRE(e.size() == 1);
  CHECK(dsa::audit::kind_text(e[0]) == "disclosure_started");
  CHECK(e[0].counted);
}
