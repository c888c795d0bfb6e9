// libFuzzer target: the response filter (policy/response_filter.hpp) with the response rules of
// the shipped example agreements (agreements/*.yaml), loaded once at start-up. The first input
// byte picks the endpoint, the rest is the upstream body.
//
// Beyond "no crash", for a body the filter lets through:
// - a rewritten body is JSON Boost.JSON accepts;
// - filtering is idempotent: the released body passes the same rules again unchanged, with
//   nothing more removed and no withhold_if or max_items refusal (what leaves was already
//   allowed, so a second gateway applying the same agreement must agree). The one exception is
//   counting: a root allow_fields does not reach leaves as `null`, and that `null` counts as one
//   removal each time it is filtered.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "policy/loader.hpp"
#include "policy/response_filter.hpp"

namespace {

using namespace dsa::policy;

std::vector<const endpoint*> g_endpoints;
std::shared_ptr<const agreement_set> g_set;

[[noreturn]] void fail(const char* what, const endpoint& e, std::string_view body,
                       std::string_view released = {}) {
  std::fprintf(stderr, "fuzz_response_filter: endpoint %s: %s\n  body: %.*s\n  released: %.*s\n",
               e.id.c_str(), what, static_cast<int>(body.size()), body.data(),
               static_cast<int>(released.size()), released.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  load_options options;
  options.now = time_point{std::chrono::seconds{1795000000}};  // 2026-11-18, inside validity
  load_result loaded = load_agreements({DSA_SOURCE_DIR "/agreements"}, options);
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) {
      std::fprintf(stderr, "%s\n", d.format().c_str());
    }
    std::fprintf(stderr, "fuzz_response_filter: the example agreements do not load\n");
    std::abort();
  }
  g_set = loaded.set;
  for (const auto& a : g_set->agreements) {
    for (const auto& e : a->endpoints) {
      if (e.response.filters()) {
        g_endpoints.push_back(&e);
      }
    }
  }
  if (g_endpoints.empty()) {
    std::fprintf(stderr, "fuzz_response_filter: no endpoint in agreements/ has response rules\n");
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const endpoint& e = *g_endpoints[data[0] % g_endpoints.size()];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  const filter_result r = filter_response(e.response, body);
  if (!r.allowed()) {
    if (r.changed) {
      fail("a refused body is marked changed", e, body);
    }
    return 0;
  }
  const std::string_view released = r.changed ? std::string_view(r.body) : body;
  if (r.changed) {
    boost::system::error_code ec;
    (void)boost::json::parse(released, ec);
    if (ec) {
      fail("the filtered body is not JSON", e, body, released);
    }
  }
  const filter_result again = filter_response(e.response, released);
  if (!again.allowed() || (again.changed && again.body != released)) {
    fail("filtering the released body again changes or refuses it", e, body, released);
  }
  // A root that allow_fields does not reach is released as `null`, and filtering that `null`
  // counts it as removed again; anything else released must pass with nothing removed.
  if (again.fields_removed != 0 && released != "null") {
    fail("filtering the released body again removes more", e, body, released);
  }
  return 0;
}
