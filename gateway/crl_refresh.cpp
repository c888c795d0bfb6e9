#include "gateway/crl_refresh.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "common/version.hpp"
#include "gateway/state.hpp"

namespace dsa::gateway {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

struct crl_deleter {
  void operator()(X509_CRL* c) const noexcept { X509_CRL_free(c); }
};
using crl_ptr = std::unique_ptr<X509_CRL, crl_deleter>;

std::vector<crl_ptr> read_crls(std::string_view text) {
  std::vector<crl_ptr> out;
  if (text.find("-----BEGIN X509 CRL-----") != std::string_view::npos) {
    BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
    while (X509_CRL* c = PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr)) {
      out.emplace_back(c);
    }
    BIO_free(bio);
  } else {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    if (X509_CRL* c = d2i_X509_CRL(nullptr, &p, static_cast<long>(text.size()))) {
      out.emplace_back(c);
    }
  }
  ERR_clear_error();
  return out;
}

std::string to_pem(const std::vector<X509_CRL*>& crls) {
  BIO* bio = BIO_new(BIO_s_mem());
  for (X509_CRL* c : crls) {
    PEM_write_bio_X509_CRL(bio, c);
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t max_crl_bytes = 10 * 1024 * 1024;

// GETs `url` (http://host[:port]/path): the body, or why there is none.
net::awaitable<result<std::string>> fetch(const std::string& url) {
  const std::string rest = url.substr(7);
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  const std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
  host_port hp;
  if (auto parsed = parse_host_port(authority)) {
    hp = parsed.value();
  } else {
    hp.host = authority;
    hp.port = 80;
  }
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  const std::string port = std::to_string(hp.port);
  auto [rec, results] = co_await resolver.async_resolve(hp.host, port, use_tuple);
  if (rec) {
    co_return fail("cannot resolve " + authority + ": " + rec.message());
  }
  beast::tcp_stream stream(ex);
  stream.expires_after(std::chrono::seconds(10));
  auto [cec, ep] = co_await stream.async_connect(results, use_tuple);
  if (cec) {
    co_return fail("cannot connect to " + authority + ": " + cec.message());
  }
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, authority);
  req.set(http::field::user_agent, std::string("dsa-gateway/") + common::version());
  req.set(http::field::connection, "close");
  auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
  if (wec) {
    co_return fail("cannot send the request: " + wec.message());
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_crl_bytes);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
  if (ec) {
    co_return fail("cannot read the response: " + ec.message());
  }
  if (parser.get().result_int() != 200) {
    co_return fail("the server answered " + std::to_string(parser.get().result_int()));
  }
  std::string body = std::move(parser.get().body());
  co_return body;
}

// One fetch for anchor `index` of the config in force: "ok", "failed" (no CRL fetched) or
// "rejected" (fetched, refused).
net::awaitable<void> refresh_once(server::impl& g, const std::string& anchor) {
  std::shared_ptr<const config> cfg = g.current();
  const trust_anchor_config* ta = nullptr;
  for (const auto& a : cfg->tls.trust_anchors) {
    if (a.name == anchor) {
      ta = &a;
    }
  }
  if (ta == nullptr || ta->crl_url.empty()) {
    co_return;  // a reload removed it; the loop ends at its next turn
  }
  const std::string url = ta->crl_url;
  result<std::string> fetched = co_await fetch(url);
  const std::int64_t now = common::now_us() / 1000000;
  if (!fetched) {
    const std::string& error = fetched.error();
    g.stats.count_crl_fetch(anchor, "failed", now);
    log_event("warn", "crl_fetch_failed",
              {{"trust_anchor", anchor}, {"url", url}, {"error", error}});
    co_return;
  }
  cfg = g.current();  // the fetch took time: a reload may have changed the anchor
  ta = nullptr;
  for (const auto& a : cfg->tls.trust_anchors) {
    if (a.name == anchor) {
      ta = &a;
    }
  }
  if (ta == nullptr || ta->crl_url != url) {
    co_return;
  }
  std::ifstream in(ta->crl_file, std::ios::binary);
  std::stringstream existing;
  existing << in.rdbuf();
  result<std::string> merged = merge_fetched_crls(existing.str(), fetched.value());
  std::string error = merged ? std::string() : merged.error();
  ssl_ctx_ptr ctx;
  const std::filesystem::path tmp = ta->crl_file.string() + ".fetched";
  if (merged) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << merged.value();
    out.close();
    if (!out) {
      error = "cannot write " + tmp.string();
    } else {
      // The same checks as start-up: signatures against the anchor's CAs, one CRL for each CA.
      tls_config candidate = cfg->tls;
      for (auto& a : candidate.trust_anchors) {
        if (a.name == anchor) {
          a.crl_file = tmp;
        }
      }
      if (auto made = make_server_context(candidate)) {
        ctx = std::move(made).value();
      } else {
        error = made.error();
      }
    }
  }
  std::error_code fec;
  if (ctx) {
    std::filesystem::rename(tmp, ta->crl_file, fec);
    if (fec) {
      error = "cannot replace " + ta->crl_file.string() + ": " + fec.message();
      ctx.reset();
    }
  }
  if (!ctx) {
    std::filesystem::remove(tmp, fec);
    g.stats.count_crl_fetch(anchor, "rejected", now);
    log_event("error", "crl_rejected", {{"trust_anchor", anchor}, {"url", url}, {"error", error}});
    co_return;
  }
  g.server_tls.store(std::make_shared<net::ssl::context>(ctx.release()));
  g.tls_generation.fetch_add(1);
  g.refresh_deadlines(*cfg);
  g.stats.count_crl_fetch(anchor, "ok", now);
  log_event("info", "crl_refreshed", {{"trust_anchor", anchor}, {"url", url}});
}

}  // namespace

result<std::string> merge_fetched_crls(std::string_view existing_pem, std::string_view fetched) {
  std::vector<crl_ptr> fresh = read_crls(fetched);
  if (fresh.empty()) {
    return fail("the response holds no CRL (PEM or DER)");
  }
  std::vector<crl_ptr> old = read_crls(existing_pem);
  std::vector<X509_CRL*> out;
  for (const auto& o : old) {
    bool replaced = false;
    for (const auto& f : fresh) {
      if (X509_NAME_cmp(X509_CRL_get_issuer(o.get()), X509_CRL_get_issuer(f.get())) == 0) {
        replaced = true;
        if (ASN1_TIME_compare(X509_CRL_get0_lastUpdate(f.get()),
                              X509_CRL_get0_lastUpdate(o.get())) < 0) {
          return fail("the fetched CRL is older (lastUpdate) than the one in use");
        }
      }
    }
    if (!replaced) {
      out.push_back(o.get());
    }
  }
  for (const auto& f : fresh) {
    out.push_back(f.get());
  }
  return to_pem(out);
}

net::awaitable<void> crl_refresh_loop(server::impl& g, std::string anchor,
                                      net::steady_timer& timer) {
  for (;;) {
    co_await refresh_once(g, anchor);
    std::chrono::seconds every{0};
    for (const auto& a : g.current()->tls.trust_anchors) {
      if (a.name == anchor && !a.crl_url.empty()) {
        every = a.crl_refresh;
      }
    }
    if (every.count() == 0 || g.draining.load()) {
      co_return;
    }
    timer.expires_after(every);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec || g.draining.load()) {
      co_return;
    }
  }
}

}  // namespace dsa::gateway
