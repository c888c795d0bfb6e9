#pragma once

// The dsa-gateway side of `dsa-bench http --self` and `--compare-nginx`: a scratch directory with
// the dev PKI and one benchmark agreement, and the real dsa-gateway binary started on it with a
// durable audit store in that directory. Process control is the test harness's
// (tests/common/process.hpp), so the benchmark starts and judges the gateway as the tests do.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/common/process.hpp"
#include "tests/common/temp_dir.hpp"

namespace dsa::bench {

// The request path the benchmark agreement allows, and the headers that make it allowed.
inline constexpr std::string_view bench_path = "/asb/v1/cases/ASB-2026-000123";
inline constexpr std::string_view bench_headers[] = {"DSA-Purpose: asb-case-management",
                                                     "DSA-Case-Ref: ASB-2026-000123",
                                                     "Accept: application/json"};
// The streamed endpoint of the same agreement (no JSON rules, response.max_bytes 16 GiB), which
// fast_upstream answers with its generated body; the same purpose and case headers allow it.
inline constexpr std::string_view stream_path = "/asb/v1/cases/ASB-2026-000123/bundle";
inline constexpr std::uint64_t stream_max_bytes = 17179869184;

// A temporary directory holding pki/ (certs/make-dev-pki.sh from `source_dir`) and
// agreements/bench-asb.yaml: one agreement without volume caps (a cap would turn the run into
// 429s), whose allow_fields and withhold_if make the gateway filter every response of bench_path,
// and whose second endpoint (stream_path) is streamed unfiltered. Removed at
// scope exit unless `keep`. Throws std::runtime_error when the PKI cannot be made.
class bench_dir {
 public:
  bench_dir(const std::filesystem::path& source_dir, std::string_view prefix, bool keep);
  const std::filesystem::path& path() const { return dir_.path(); }
  const std::filesystem::path& pki() const { return pki_; }

 private:
  test::temp_dir dir_;
  std::filesystem::path pki_;
};

// The dsa-gateway binary next to dsa-bench in the build tree (BUILD/gateway/dsa-gateway).
[[nodiscard]] std::string default_gateway_binary();

// dsa-gateway on 127.0.0.1:0 with `threads: 1`, the dev PKI's server certificate, the partner CA
// and its CRL, DIR/agreements, one upstream `council-asb` given as a YAML flow mapping
// (`upstream_yaml`, e.g. {url: "http://127.0.0.1:8080"}), and a durable audit store in
// DIR/audit.db. Constructing it writes DIR/gateway.yaml, starts the gateway (stderr in
// DIR/gateway.log) and waits up to 20 s for its "listening https=… admin=…" line; throws
// std::runtime_error with the log when it does not come. The destructor sends SIGTERM.
// `extra` adds to that config: more upstreams (`dsa-bench memory`'s generated agreements name
// `up`) and top-level keys (its `limits`).
struct rig_extras {
  std::vector<std::pair<std::string, std::string>> upstreams;  // name, YAML flow mapping
  std::string yaml;                                            // top-level keys, one per line
};

class gateway_rig {
 public:
  gateway_rig(const std::string& binary, const bench_dir& dir, const std::string& upstream_yaml,
              const rig_extras& extra = {});

  const std::string& authority() const { return authority_; }  // of the mTLS listener
  pid_t pid() const { return proc_.pid(); }
  // The admin listener's /metrics text, "" when it cannot be fetched.
  [[nodiscard]] std::string metrics() const;
  // SIGTERM, then the gateway must drain and exit within 15 s. Returns its exit in words when it
  // did not exit 0 (or had already died), "" when it did.
  [[nodiscard]] std::string stop();

 private:
  test::process proc_;
  std::string authority_;
  int admin_port_ = 0;
};

// The value of an unlabelled Prometheus sample `name` in `text`, or -1.
[[nodiscard]] double metric_value(const std::string& text, const std::string& name);

}  // namespace dsa::bench
