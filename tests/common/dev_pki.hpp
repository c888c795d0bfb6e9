#pragma once

// The development PKI (certs/make-dev-pki.sh, described in certs/README.md) made in a scratch
// directory, for the integration tests and `dsa-bench http`: one script, so the certificates a
// benchmark presents are the ones the tests prove the gateway accepts.

#include <filesystem>

namespace dsa::test {

// Runs SOURCE_DIR/certs/make-dev-pki.sh into DIR/pki with its output in DIR/pki.log, and returns
// DIR/pki. Throws std::runtime_error naming the script and carrying its log when it fails.
std::filesystem::path make_dev_pki(const std::filesystem::path& source_dir,
                                   const std::filesystem::path& dir);

}  // namespace dsa::test
