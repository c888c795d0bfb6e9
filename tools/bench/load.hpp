#pragma once

// The load generator of `dsa-bench http`: mTLS HTTP/1.1 over keep-alive connections (wrk and
// h2load cannot present client certificates). Closed loop (each connection sends its next request
// as soon as the previous answer is in) or open loop at a fixed rate, where latency is measured
// from the moment a request was due, so a stalled server cannot hide its queueing (no
// coordinated omission). Every latency is kept and sorted at the end, so the percentiles are
// exact, not bucketed.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dsa::bench {

struct load_options {
  std::string url, cert, key, ca, method = "GET";
  std::vector<std::string> headers;
  int connections = 16;
  double duration_s = 10;
  double rate = 0;  // requests per second over all connections; 0 = closed loop
  int threads = 1;
  bool json = false;  // one JSON object on stdout instead of the text report
};

// What one run measured, for callers that compare runs (--compare-nginx) or read the latency bar.
struct http_summary {
  std::uint64_t requests = 0, ok = 0, errors = 0;
  double seconds = 0, p50_ms = 0, p99_ms = 0;
};

// `dsa-bench http --compare-nginx --stream-mib N`: one large body downloaded `count` times in
// turn over one keep-alive mTLS connection (a new one only if the server closes it, counted in
// reconnects), every byte read and hashed. A download's time runs from writing the request to
// its last byte; a read waiting 30 s is a timeout.
struct download {
  int status = 0;
  std::uint64_t bytes = 0;
  std::string sha256;  // lowercase hex of the body as received
  double seconds = 0;
  std::string error;  // empty when the body ended as the response said it would
};
struct download_report {
  std::vector<download> downloads;  // stops at the first error
  std::string tls;                  // the first connection's protocol and cipher
  int reconnects = 0;
  std::string error;  // a setup error (URL, certificates); then no download ran
};
download_report run_downloads(const load_options& o, int count);

// `dsa-bench memory`: `count` mTLS keep-alive connections to o.url (o.cert presented), opened at
// most `parallel` at a time; each sends `requests` requests (o.method, o.headers) one after the
// other, reading each whole answer, then stays open and idle until close_all() or the
// destructor. Runs on the calling thread: the constructor returns when every connection has been
// answered or has failed.
class idle_connections {
 public:
  struct report {
    int connected = 0;                  // handshakes completed
    std::map<int, int> statuses;        // of every answer
    std::map<std::string, int> errors;  // by text: a failed connection is closed
    std::string tls;                    // the first connection's protocol and cipher
    double seconds = 0;                 // to open and use all of them
  };
  idle_connections(const load_options& o, int count, int parallel, int requests = 1);
  ~idle_connections();
  idle_connections(const idle_connections&) = delete;
  idle_connections& operator=(const idle_connections&) = delete;

  const report& opened() const;
  // The connections that are still open and quiet: the server has neither closed them nor sent
  // anything since its answer (poll, without waiting).
  [[nodiscard]] int still_open() const;
  // Sends close_notify on each (2 s at most in all) and closes its socket.
  void close_all();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Runs the load described by `o` against o.url and prints its report (text, or JSON with
// o.json). Returns 0 when it ran (whatever the statuses), 2 on a usage or certificate error.
// Fills `summary` when given.
int run_http(const load_options& o, http_summary* summary = nullptr);

}  // namespace dsa::bench
