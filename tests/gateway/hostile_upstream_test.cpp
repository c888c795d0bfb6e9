// The enforcement guarantee against a hostile or merely unusual upstream and against partners
// who craft requests to confuse one (docs/threat-model.md): interim responses, extra or
// unsolicited bytes on a pooled connection, 204/304, 206 slices, 101, bodies on methods that
// take none, and client fields that spoof what a proxy or the gateway would set. The upstream is
// scripted byte for byte (scripted_upstream.hpp); the gateway is the real binary.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/gateway/harness.hpp"
#include "tests/gateway/hostile_rig.hpp"
#include "tests/gateway/scripted_upstream.hpp"

namespace {

using namespace dsa::gateway::testing;
using namespace std::chrono_literals;
namespace json = boost::json;

std::string field_of(const response& r, const char* member) {
  const auto v = json::parse(r.body);
  const auto* s = v.as_object().if_contains(member);
  return s != nullptr && s->is_string() ? std::string(s->as_string()) : std::string();
}

// The record the upstream answers for /items/ID, with fields the agreement strips.
std::string item(const std::string& id) {
  return R"({"id":")" + id + R"(","owner":")" + id + R"(-owner","secret":")" + id + R"(-secret"})";
}

std::string requested_id(const std::string& request) {
  const auto start = request.find(' ') + 1;
  const auto end = request.find(' ', start);
  const std::string target = request.substr(start, end - start);
  return target.substr(target.rfind('/') + 1);
}

// The well-behaved script: every request is answered with the record it names.
void answer_each(upstream_connection& c) {
  while (auto req = c.read_request()) {
    c.write(http_response(200, "OK", item(requested_id(*req))));
  }
}

// Asks for /items/ID on `client` and checks that the answer is that record's, filtered.
void expect_own_answer(tls_client& client, const std::string& id) {
  INFO("GET /items/" << id);
  REQUIRE(client.send(get("/items/" + id)));
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(field_of(*r, "id") == id);
  CHECK(r->body.find("secret") == std::string::npos);
  CHECK(r->body.find("smuggled") == std::string::npos);
  CHECK(r->body.find("unsolicited") == std::string::npos);
}

}  // namespace

TEST_CASE("interim 1xx responses are read past, never relayed, and never shift answers",
          "[gateway][hostile]") {
  // Every answer is preceded by 103 Early Hints and 102 Processing on the same connection.
  hostile_rig w([](upstream_connection& c) {
    while (auto req = c.read_request()) {
      const std::string id = requested_id(*req);
      c.write(
          "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
          "HTTP/1.1 102 Processing\r\n\r\n" +
          http_response(200, "OK", item(id)));
    }
  });
  tls_client police(w.gw->port(), "northshire-police");
  tls_client council(w.gw->port(), "kingsbury-council");
  REQUIRE(police.handshake_ok());
  REQUIRE(council.handshake_ok());
  for (int round = 0; round < 3; ++round) {
    expect_own_answer(police, "alpha");
    expect_own_answer(council, "beta");
  }
  // One pooled connection served all six: nothing was left unread on it.
  CHECK(w.up.connections() == 1);
  CHECK(w.up.requests().size() == 6);
}

TEST_CASE("an upstream that answers twice loses its connection, not another partner's answer",
          "[gateway][hostile]") {
  // The first request on each connection gets its answer followed by a second, unasked one that
  // names another record; later requests are answered normally.
  hostile_rig w([](upstream_connection& c) {
    bool first = true;
    while (auto req = c.read_request()) {
      const std::string id = requested_id(*req);
      std::string out = http_response(200, "OK", item(id));
      if (first) {
        out += http_response(200, "OK", item("smuggled"));
        first = false;
      }
      c.write(out);
    }
  });
  tls_client police(w.gw->port(), "northshire-police");
  expect_own_answer(police, "alpha");
  tls_client council(w.gw->port(), "kingsbury-council");
  expect_own_answer(council, "beta");
  CHECK(w.up.connections() == 2);  // the polluted connection was closed, not pooled
}

TEST_CASE("an HTTPS upstream that answers twice in separate records loses its connection",
          "[gateway][hostile]") {
  // Each write is its own TLS record: the second answer may sit undecrypted in OpenSSL's input
  // or in the socket when the first has been parsed.
  hostile_rig w(
      [](upstream_connection& c) {
        bool first = true;
        while (auto req = c.read_request()) {
          c.write(http_response(200, "OK", item(requested_id(*req))));
          if (first) {
            c.write(http_response(200, "OK", item("smuggled")));
            first = false;
          }
        }
      },
      true);
  for (int round = 0; round < 3; ++round) {
    tls_client police(w.gw->port(), "northshire-police");
    expect_own_answer(police, "alpha");
    tls_client council(w.gw->port(), "kingsbury-council");
    expect_own_answer(council, "beta");
  }
  // Every connection answers its first request twice, so none is ever pooled: six exchanges,
  // six connections.
  CHECK(w.up.connections() == 6);
}

TEST_CASE("bytes an upstream sends on an idle pooled connection are never taken as an answer",
          "[gateway][hostile]") {
  hostile_rig w([](upstream_connection& c) {
    bool first = true;
    while (auto req = c.read_request()) {
      c.write(http_response(200, "OK", item(requested_id(*req))));
      if (first && c.index() == 0) {
        // Once the gateway has pooled the connection, a late "answer" arrives unasked.
        std::this_thread::sleep_for(50ms);
        c.write(http_response(200, "OK", item("unsolicited")));
        c.signal("unsolicited sent");
        first = false;
      }
    }
  });
  tls_client police(w.gw->port(), "northshire-police");
  expect_own_answer(police, "alpha");
  // On loopback the bytes are in the gateway's socket buffer once the upstream's send returns.
  REQUIRE(w.up.wait_for("unsolicited sent", 5s));
  tls_client council(w.gw->port(), "kingsbury-council");
  expect_own_answer(council, "beta");
  CHECK(w.up.connections() == 2);
}

TEST_CASE("a body on a method that takes none is refused before anything is forwarded",
          "[gateway][hostile]") {
  hostile_rig w(answer_each);
  const std::string smuggled = "GET /items/beta HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string& framing :
       {"Content-Length: " + std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled,
        std::string("Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")}) {
    INFO(framing);
    tls_client police(w.gw->port(), "northshire-police");
    REQUIRE(police.send(
        "GET /items/alpha HTTP/1.1\r\nHost: gw.test\r\nDSA-Purpose: test-purpose\r\n" + framing));
    auto r = police.read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(json::parse(r->body).at("reason") == "bad_request");
    CHECK(police.closed_by_server());
  }
  // A DELETE with a body too; a POST's body is forwarded.
  {
    tls_client police(w.gw->port(), "northshire-police");
    REQUIRE(
        police.send("DELETE /items/alpha HTTP/1.1\r\nHost: gw.test\r\nDSA-Purpose: test-purpose\r\n"
                    "Content-Length: 2\r\n\r\n{}"));
    auto r = police.read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
  }
  CHECK(w.up.requests().empty());
  {
    tls_client police(w.gw->port(), "northshire-police");
    REQUIRE(police.send(
        "POST /items/alpha/notes HTTP/1.1\r\nHost: gw.test\r\nDSA-Purpose: test-purpose\r\n"
        "Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"note\":\"hi\"}"));
    auto r = police.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  REQUIRE(w.up.requests().size() == 1);
  CHECK(w.up.requests()[0].find("{\"note\":\"hi\"}") != std::string::npos);
  const auto entries = w.requests();
  int refused = 0;
  for (const auto& e : entries) {
    refused += e.reason == "bad_request" ? 1 : 0;
  }
  CHECK(refused == 3);
}

TEST_CASE("204 and 304 are relayed without a body and the connection stays in step",
          "[gateway][hostile]") {
  hostile_rig w([](upstream_connection& c) {
    while (auto req = c.read_request()) {
      const std::string id = requested_id(*req);
      if (id == "empty") {
        c.write("HTTP/1.1 204 No Content\r\n\r\n");
      } else if (id == "same") {
        c.write("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
      } else {
        c.write(http_response(200, "OK", item(id)));
      }
    }
  });
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(police.send(get("/items/empty") + get("/items/same") + get("/items/alpha")));
  auto r204 = police.read_response();
  REQUIRE(r204);
  CHECK(r204->status == 204);
  CHECK(r204->body.empty());
  CHECK_FALSE(r204->has_header("Content-Length"));
  auto r304 = police.read_response();
  REQUIRE(r304);
  CHECK(r304->status == 304);
  CHECK(r304->body.empty());
  auto r200 = police.read_response();
  REQUIRE(r200);
  CHECK(r200->status == 200);
  CHECK(field_of(*r200, "id") == "alpha");
  CHECK(w.up.connections() == 1);
}

TEST_CASE(
    "range fields reach only a streamed endpoint that allows ranges; a 206 is withheld elsewhere",
    "[gateway][hostile]") {
  // The upstream honours Range as a careless one would: the slice skips the /restricted flag.
  hostile_rig w([](upstream_connection& c) {
    while (auto req = c.read_request()) {
      const std::string full = R"({"id":"x","owner":"o","restricted":true})";
      c.write(http_response(206, "Partial Content", full.substr(0, 20),
                            "Content-Range: bytes 0-19/" + std::to_string(full.size()) + "\r\n"));
    }
  });
  const std::string conditional =
      "Range: bytes=0-19\r\nIf-Range: \"e1\"\r\nIf-None-Match: \"e1\"\r\n"
      "If-Modified-Since: Tue, 01 Dec 2026 00:00:00 GMT\r\nIf-Match: *\r\n"
      "If-Unmodified-Since: Tue, 01 Dec 2026 00:00:00 GMT\r\n";
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(police.send(get("/items/alpha", conditional)));
  auto r = police.read_response();
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK(json::parse(r->body).at("reason") == "response_not_filterable");
  CHECK(r->body.find("restricted") == std::string::npos);
  REQUIRE(w.up.requests().size() == 1);
  const std::string seen = w.up.requests()[0];
  CHECK(seen.find("Range") == std::string::npos);
  CHECK(seen.find("If-") == std::string::npos);
  // A streamed endpoint whose agreement does not allow ranges: the Range is not forwarded and a
  // 206 the upstream sends anyway is withheld.
  REQUIRE(police.send(get("/files/clip", "Range: bytes=0-19\r\n")));
  auto f = police.read_response();
  REQUIRE(f);
  CHECK(f->status == 502);
  CHECK(json::parse(f->body).at("reason") == "response_not_filterable");
  REQUIRE(w.up.requests().size() == 2);
  CHECK(w.up.requests()[1].find("Range") == std::string::npos);
  // One that allows them (response.ranges) gets the Range, and its 206 and Content-Range are
  // released.
  REQUIRE(police.send(get("/clips/clip", "Range: bytes=0-19\r\n")));
  auto c = police.read_response();
  REQUIRE(c);
  CHECK(c->status == 206);
  CHECK(c->header("Content-Range") == "bytes 0-19/40");
  CHECK(c->body.size() == 20);
  REQUIRE(w.up.requests().size() == 3);
  CHECK(w.up.requests()[2].find("Range: bytes=0-19\r\n") != std::string::npos);
}

TEST_CASE("an upstream that switches protocols unasked is refused and its connection dropped",
          "[gateway][hostile]") {
  hostile_rig w([](upstream_connection& c) {
    while (auto req = c.read_request()) {
      c.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n" +
              http_response(200, "OK", item("alpha")));
    }
  });
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(police.send(get("/items/alpha")));
  auto r = police.read_response();
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK(json::parse(r->body).at("reason") == "upstream_unavailable");
}

TEST_CASE("fields a proxy would set are never forwarded from the client", "[gateway][hostile]") {
  hostile_rig w(answer_each);
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(police.send(get("/items/alpha",
                          "X-Forwarded-For: 10.0.0.1\r\nX_Forwarded_For: 10.0.0.2\r\n"
                          "X-Forwarded-Host: evil\r\nX-Forwarded-Proto: http\r\n"
                          "X-Forwarded-Client-Cert: By=spiffe://evil\r\n"
                          "X-SSL-Client-S-DN: CN=chief constable\r\nX-Original-URL: /admin\r\n"
                          "X-Rewrite-URL: /admin\r\nX-HTTP-Method-Override: DELETE\r\n"
                          "X-Real-IP: 10.0.0.3\r\nForwarded: for=10.0.0.4\r\n"
                          "X-Correlation-Id: keep-me\r\n")));
  auto r = police.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(w.up.requests().size() == 1);
  const std::string seen = w.up.requests()[0];
  INFO(seen);
  for (const char* gone : {"10.0.0.", "evil", "chief constable", "/admin", "Override",
                           "X-Forwarded", "X_Forwarded", "Forwarded:"}) {
    CHECK(seen.find(gone) == std::string::npos);
  }
  CHECK(seen.find("X-Correlation-Id: keep-me\r\n") != std::string::npos);
}

TEST_CASE("a request body over the limit gets 413 and the gateway keeps running",
          "[gateway][hostile]") {
  hostile_rig w([](upstream_connection& c) {
    while (auto req = c.read_request()) {
      c.write(http_response(200, "OK", R"({"id":"n1"})"));
    }
  });
  for (int i = 0; i < 5; ++i) {
    tls_client police(w.gw->port(), "northshire-police");
    REQUIRE(
        police.send("POST /items/alpha/notes HTTP/1.1\r\nHost: gw.test\r\n"
                    "DSA-Purpose: test-purpose\r\nContent-Length: 999999\r\n\r\n{"));
    auto r = police.read_response();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(json::parse(r->body).at("reason") == "body_too_large");
  }
  CHECK(w.gw->running());
  CHECK(w.up.requests().empty());
}

TEST_CASE("client fields that spell or spoof a gateway-asserted DSA-* field are refused",
          "[gateway][hostile]") {
  hostile_rig w(answer_each);
  for (const std::string extra :
       {"DSA_Acting_User: chief.constable\r\n", "dsa_requester: council\r\n",
        "DSA-Requester: council\r\n", "DSA-Permission: everything\r\n",
        "DSA-Request-Id: forged\r\n", "DSA-Case-Ref: A\r\ndsa-case-ref: B\r\n",
        "DSA-Acting-User: caf\xc3\xa9\r\n", "DSA-Agreement: \r\n"}) {
    INFO(extra);
    tls_client police(w.gw->port(), "northshire-police");
    REQUIRE(police.send(get("/items/alpha", extra)));
    auto r = police.read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(json::parse(r->body).at("reason") == "bad_request");
  }
  CHECK(w.up.requests().empty());
  // Values no permission requires are still checked, recorded, and sent exactly as recorded.
  tls_client police(w.gw->port(), "northshire-police");
  REQUIRE(
      police.send(get("/items/alpha", "DSA-Case-Ref:   REF-1  \r\nDSA-Acting-User: pc.1234\r\n")));
  auto r = police.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(w.up.requests().size() == 1);
  const std::string seen = w.up.requests()[0];
  CHECK(seen.find("DSA-Case-Ref: REF-1\r\n") != std::string::npos);
  CHECK(seen.find("DSA-Acting-User: pc.1234\r\n") != std::string::npos);
  const auto entries = w.requests();
  REQUIRE_FALSE(entries.empty());
  CHECK(entries.back().case_ref == "REF-1");
  CHECK(entries.back().acting_user == "pc.1234");
  for (const auto& e : entries) {
    // Refused requests record no unchecked value.
    if (e.reason == "bad_request") {
      CHECK(e.acting_user.empty());
    }
  }
}
