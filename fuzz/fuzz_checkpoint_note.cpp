// libFuzzer target: the signed-checkpoint note parser (audit/checkpoint.hpp). The parser is
// strict so that one checkpoint has exactly one note: whatever it accepts must re-serialise to
// the very same bytes, with an origin valid_origin accepts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "audit/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)dsa::audit::valid_origin(input);
  const auto c = dsa::audit::parse_checkpoint_note(input);
  if (!c) {
    return 0;
  }
  if (dsa::audit::checkpoint_note(*c) != input || !dsa::audit::valid_origin(c->origin)) {
    std::fprintf(stderr, "fuzz_checkpoint_note: accepted a non-canonical note: %.*s\n",
                 static_cast<int>(size), input.data());
    std::abort();
  }
  return 0;
}
