#include "gateway/access_log.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace dsa::gateway {

namespace {

std::string utc_stamp(std::int64_t time_us) {
  const std::time_t secs = static_cast<std::time_t>(time_us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(time_us % 1000000));
  return stamp;
}

}  // namespace

std::string scrub_path(std::string_view path, std::string_view case_ref,
                       std::string_view acting_user) {
  path = path.substr(0, path.find('?'));
  std::string out;
  out.reserve(path.size());
  std::size_t at = 0;
  while (at < path.size()) {
    const std::size_t slash = path.find('/', at);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    const std::string_view segment = path.substr(at, end - at);
    if (!segment.empty() && segment == case_ref) {
      out.append("{case_ref}");
    } else if (!segment.empty() && segment == acting_user) {
      out.append("{acting_user}");
    } else {
      out.append(segment);
    }
    if (slash == std::string_view::npos) {
      break;
    }
    out.push_back('/');
    at = slash + 1;
  }
  return out;
}

std::string format_access_line(const access_record& r) {
  boost::json::object o;
  o["time"] = utc_stamp(r.time_us);
  o["client"] = r.client;
  o["request_id"] = r.request_id;
  o["requester"] = r.requester;
  o["method"] = r.method;
  o["path"] = scrub_path(r.path, r.case_ref, r.acting_user);
  o["endpoint"] = r.endpoint;
  o["status"] = r.status;
  o["reason"] = r.reason;
  o["bytes"] = r.bytes;
  o["duration_us"] = r.duration_us;
  std::string line = boost::json::serialize(o);
  line.push_back('\n');
  return line;
}

access_log::~access_log() {
  if (file_ != nullptr) {
    std::fclose(file_);
  }
}

result<void> access_log::open(const std::filesystem::path& path) {
  std::FILE* f = nullptr;
  if (!path.empty()) {
    f = std::fopen(path.c_str(), "ae");
    if (f == nullptr) {
      return fail("cannot open access log " + path.string() + ": " + std::strerror(errno));
    }
  }
  std::lock_guard lock(mu_);
  if (file_ != nullptr) {
    std::fclose(file_);
  }
  file_ = f;
  enabled_.store(f != nullptr, std::memory_order_relaxed);
  return {};
}

void access_log::write(const access_record& r) {
  if (!enabled()) {
    return;
  }
  const std::string line = format_access_line(r);
  std::lock_guard lock(mu_);
  if (file_ != nullptr) {
    // Flushed per line: a crash loses no line, and `tail -f` sees each request as it ends.
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fflush(file_);
  }
}

}  // namespace dsa::gateway
