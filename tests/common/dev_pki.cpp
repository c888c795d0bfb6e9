#include "tests/common/dev_pki.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "tests/common/process.hpp"

namespace dsa::test {

std::filesystem::path make_dev_pki(const std::filesystem::path& source_dir,
                                   const std::filesystem::path& dir) {
  const std::filesystem::path script = source_dir / "certs/make-dev-pki.sh";
  const std::filesystem::path out = dir / "pki";
  const std::filesystem::path log = dir / "pki.log";
  // Through the shell for the redirection: the script's output goes to the log, not to a pipe
  // that nobody reads. Every path here is one of ours (a source tree, a mkdtemp directory).
  const std::string cmd =
      "bash '" + script.string() + "' '" + out.string() + "' > '" + log.string() + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    throw std::runtime_error(script.string() + " failed; its output (" + log.string() + "):\n" +
                             read_text(log));
  }
  return out;
}

}  // namespace dsa::test
