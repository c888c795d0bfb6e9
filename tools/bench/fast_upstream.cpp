#include "tools/bench/fast_upstream.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <exception>
#include <string_view>

#include "common/hex.hpp"
#include "tools/bench/gateway_rig.hpp"

namespace dsa::bench {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
// The request line of the stream path (gateway_rig.hpp's stream_path).
const std::string stream_request = "GET " + std::string(stream_path) + " ";

// The upstream's answer for GET /asb/v1/cases/…: about 1 KiB, with fields the agreement's
// allow_fields removes (so the gateway's filter really rewrites the body).
const char* compare_body =
    R"json({"case_id":"ASB-2026-000123","status":"open","opened_on":"2026-09-14","category")json"
    R"json(:"noise","ward":"Kingsbury Central","risk_level":"medium","lead_officer_team":"C)json"
    R"json(ommunity Safety North","subjects":[{"subject_id":"S-0001","name":"Alex Example",)json"
    R"json("role":"alleged perpetrator","age_band":"25-34","date_of_birth":"1994-03-02","ad)json"
    R"json(dress":"12 Sample Street, Kingsbury"},{"subject_id":"S-0002","name":"Sam Example)json"
    R"json(","role":"complainant","age_band":"35-44","date_of_birth":"1986-11-20","address")json"
    R"json(:"14 Sample Street, Kingsbury"}],"actions":[{"date":"2026-09-15","type":"warning)json"
    R"json( letter","by":"Community Safety North"},{"date":"2026-10-02","type":"mediation o)json"
    R"json(ffered","by":"Community Safety North"},{"date":"2026-10-20","type":"acceptable b)json"
    R"json(ehaviour contract","by":"Police SNT 4"}],"warnings":["dog on premises"],"restric)json"
    R"json(ted":false,"internal_notes":"Neighbour dispute escalated after the September inc)json"
    R"json(ident; housing officer to review tenancy conditions. Not for disclosure outside )json"
    R"json(the council.","housing_ref":"HSG-44-1203","officer_email":"case.officer@kingsbur)json"
    R"json(y.gov.uk.example"})json";

// The stream's repeating block: 1 MiB, so each write hands the kernel a large piece, of
// xorshift64 output, so nothing on the way could shortcut a repetitive body.
std::string make_block() {
  std::string block(1 << 20, '\0');
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (std::size_t i = 0; i < block.size(); i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(block.data() + i, &x, 8);
  }
  return block;
}

}  // namespace

fast_upstream::fast_upstream(std::uint64_t stream_bytes)
    : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)),
      stream_bytes_(stream_bytes) {
  if (stream_bytes_ > 0) {
    stream_block_ = make_block();
    stream_head_ = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                   std::to_string(stream_bytes_) + "\r\n\r\n";
    // What every client's copy must hash to: exactly the bytes send_stream writes.
    common::sha256_stream digest;
    for (std::uint64_t left = stream_bytes_; left > 0;) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(left, stream_block_.size()));
      digest.update(std::string_view(stream_block_).substr(0, n));
      left -= n;
    }
    stream_sha256_ = digest.hex();
  }
  const std::string body = compare_body;
  ok_ = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
  not_found_ = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  net::co_spawn(ioc_, accept_loop(), [](std::exception_ptr) {});
  thread_ = std::thread([this] {
    tid_.store(static_cast<pid_t>(gettid()));
    ioc_.run();
  });
}

fast_upstream::~fast_upstream() {
  net::post(ioc_, [this] { ioc_.stop(); });
  thread_.join();
}

std::size_t fast_upstream::body_size() const { return std::strlen(compare_body); }

net::awaitable<void> fast_upstream::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      co_return;
    }
    socket.set_option(tcp::no_delay(true));
    net::co_spawn(ioc_, serve(std::move(socket)), [](std::exception_ptr) {});
  }
}

net::awaitable<void> fast_upstream::serve(tcp::socket socket) {
  std::string in, out;
  std::array<char, 16384> buf;
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(net::buffer(buf), use_tuple);
    if (ec) {
      co_return;
    }
    in.append(buf.data(), n);
    std::size_t pos = 0;
    for (;;) {
      auto end = in.find("\r\n\r\n", pos);
      if (end == std::string::npos) {
        break;
      }
      const bool stream =
          stream_bytes_ > 0 && in.compare(pos, stream_request.size(), stream_request) == 0;
      if (stream) {
        // Earlier answers first, then the head and the body, in order.
        if (!out.empty()) {
          auto [wec, wn] = co_await net::async_write(socket, net::buffer(out), use_tuple);
          if (wec) {
            co_return;
          }
          out.clear();
        }
        if (!co_await send_stream(socket)) {
          co_return;
        }
      } else {
        out += in.compare(pos, 18, "GET /asb/v1/cases/") == 0 ? ok_ : not_found_;
      }
      pos = end + 4;
    }
    in.erase(0, pos);
    if (!out.empty()) {
      auto [wec, wn] = co_await net::async_write(socket, net::buffer(out), use_tuple);
      if (wec) {
        co_return;
      }
      out.clear();
    }
  }
}

}  // namespace dsa::bench

namespace dsa::bench {

net::awaitable<bool> fast_upstream::send_stream(tcp::socket& socket) {
  auto [hec, hn] = co_await net::async_write(socket, net::buffer(stream_head_), use_tuple);
  if (hec) {
    co_return false;
  }
  for (std::uint64_t left = stream_bytes_; left > 0;) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(left, stream_block_.size()));
    auto [wec, wn] =
        co_await net::async_write(socket, net::buffer(stream_block_.data(), n), use_tuple);
    if (wec) {
      co_return false;
    }
    left -= n;
  }
  co_return true;
}

}  // namespace dsa::bench
