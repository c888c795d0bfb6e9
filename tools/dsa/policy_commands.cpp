// `dsa lint`, `dsa explain`, `dsa test` and `dsa render`: the IG officer's tools (docs/design.md
// §8). Thin commands over the policy library: they load agreements exactly as the gateway does and
// decide requests with the same engine and the same canonical-path check.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "policy/canonical_path.hpp"
#include "policy/engine.hpp"
#include "policy/loader.hpp"
#include "policy/request_fields.hpp"
#include "policy/text.hpp"
#include "render/render.hpp"
#include "tools/dsa/commands.hpp"

namespace dsa::cli {

namespace fs = std::filesystem;
namespace json = boost::json;
using policy::time_point;

namespace {

time_point now_utc() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

void print_diagnostics(const policy::load_result& r) {
  for (const policy::diagnostic& d : r.diagnostics) {
    std::cerr << d.format() << '\n';
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A request as `dsa explain` and `dsa test` describe it (docs/design.md §8).
struct described_request {
  bool has_identity = false;
  policy::request_identity identity;
  std::string requester;
  std::string method, target;
  // As written, in order: the same checks as the gateway's (policy/request_fields.hpp) see
  // every spelling, so "DSA-Purpose" and "dsa-purpose" in one object are a duplicate.
  std::vector<std::pair<std::string, std::string>> headers;
};

struct evaluation {
  policy::decision decision;
  bool bad_request = false;  // refused before any agreement is consulted (400)
};

evaluation evaluate(const policy::engine& engine, const described_request& r, time_point now,
                    policy::volume_counter& counter, bool trace) {
  evaluation out;
  policy::target_result target = policy::canonicalize_target(r.target);
  if (!target.ok()) {
    out.bad_request = true;
    out.decision.why = policy::reason::bad_request;
    out.decision.detail = target.error;
    return out;
  }
  // The header rules of live traffic: a request the gateway refuses with 400 is refused here.
  policy::result<policy::client_fields> fields = policy::read_client_fields(r.headers);
  if (!fields) {
    out.bad_request = true;
    out.decision.why = policy::reason::bad_request;
    out.decision.detail = fields.error();
    return out;
  }
  const policy::client_fields& f = fields.value();
  policy::request_view view;
  view.method = r.method;
  view.path = target.value.path;
  view.query = target.value.query;
  view.now = now;
  auto header = [](const std::optional<std::string>& v) -> std::optional<std::string_view> {
    if (!v) {
      return std::nullopt;
    }
    return std::string_view(*v);
  };
  view.purpose = header(f.purpose);
  view.case_ref = header(f.case_ref);
  view.acting_user = header(f.acting_user);
  view.agreement = header(f.agreement);
  if (r.has_identity) {
    out.decision = engine.decide(r.identity, view, counter, trace);
  } else {
    out.decision = engine.decide_for(r.requester, view, counter, trace);
  }
  return out;
}

json::object decision_json(const evaluation& e) {
  const policy::decision& d = e.decision;
  json::object o;
  o["decision"] = d.allowed ? "allow" : "deny";
  o["status"] = d.status();
  o["reason"] = d.allowed ? "" : std::string(policy::to_string(d.why));
  o["requester"] = d.requester;
  o["agreement"] = d.agreement ? d.agreement->id : "";
  o["version"] = d.agreement ? d.agreement->version : "";
  o["permission"] = d.permission ? d.permission->id : "";
  o["endpoint"] = d.endpoint ? d.endpoint->id : "";
  o["detail"] = d.detail;
  json::array trace;
  for (const policy::trace_step& s : d.trace) {
    trace.push_back(json::object{{"agreement", s.agreement},
                                 {"permission", s.permission},
                                 {"endpoint", s.endpoint},
                                 {"result", policy::to_string(s.result)},
                                 {"detail", s.detail}});
  }
  o["trace"] = std::move(trace);
  return o;
}

// Parses the explain request JSON; false with `error` set on invalid input.
bool parse_request_json(const json::value& v, described_request& out, std::string& error) {
  if (!v.is_object()) {
    error = "the request must be a JSON object";
    return false;
  }
  const json::object& o = v.as_object();
  for (const auto& kv : o) {
    static const std::array<std::string_view, 5> known{"identity", "requester", "method", "target",
                                                       "headers"};
    if (std::find(known.begin(), known.end(), kv.key()) == known.end()) {
      error = "unknown key '" + std::string(kv.key()) +
              "' (expected identity or requester, method, target, headers)";
      return false;
    }
  }
  auto str = [&](const json::object& obj, std::string_view key, std::string& dst,
                 bool required) -> bool {
    const json::value* x = obj.if_contains(key);
    if (x == nullptr) {
      if (required) {
        error = "'" + std::string(key) + "' is required";
      }
      return !required;
    }
    if (!x->is_string()) {
      error = "'" + std::string(key) + "' must be a string";
      return false;
    }
    dst = std::string(x->as_string());
    return true;
  };
  if (!str(o, "method", out.method, true) || !str(o, "target", out.target, true)) {
    return false;
  }
  const json::value* id = o.if_contains("identity");
  const json::value* who = o.if_contains("requester");
  if ((id == nullptr) == (who == nullptr)) {
    error = "exactly one of 'identity' or 'requester' is required";
    return false;
  }
  if (who != nullptr) {
    if (!str(o, "requester", out.requester, true)) {
      return false;
    }
  } else {
    if (!id->is_object()) {
      error = "'identity' must be an object";
      return false;
    }
    out.has_identity = true;
    const json::object& io = id->as_object();
    for (const auto& kv : io) {
      std::string_view k = kv.key();
      if (k == "uri_san" || k == "dns_san") {
        if (!kv.value().is_array()) {
          error = "identity." + std::string(k) + " must be a list of strings";
          return false;
        }
        for (const json::value& s : kv.value().as_array()) {
          if (!s.is_string()) {
            error = "identity." + std::string(k) + " must be a list of strings";
            return false;
          }
          (k == "uri_san" ? out.identity.uri_sans : out.identity.dns_sans)
              .emplace_back(s.as_string());
        }
      } else if (k == "trust_anchor" || k == "subject" || k == "spki_sha256") {
        if (!kv.value().is_string()) {
          error = "identity." + std::string(k) + " must be a string";
          return false;
        }
        std::string value(kv.value().as_string());
        if (k == "trust_anchor") {
          out.identity.trust_anchor = value;
        } else if (k == "subject") {
          out.identity.subject = value;
        } else {
          out.identity.spki_sha256 = lower(value);
        }
      } else {
        error = "unknown identity key '" + std::string(k) +
                "' (expected trust_anchor, subject, uri_san, dns_san, spki_sha256)";
        return false;
      }
    }
  }
  if (const json::value* h = o.if_contains("headers")) {
    if (!h->is_object()) {
      error = "'headers' must be an object of name to string";
      return false;
    }
    for (const auto& kv : h->as_object()) {
      if (!kv.value().is_string()) {
        error = "header '" + std::string(kv.key()) + "' must be a string";
        return false;
      }
      out.headers.emplace_back(std::string(kv.key()), std::string(kv.value().as_string()));
    }
  }
  return true;
}

// Boost.JSON keeps only the last of two equal keys, so a request JSON with "DSA-Purpose" twice
// would be explained as if one value had been sent, while the gateway refuses the duplicate.
// This second, DOM-less pass over the same text sees every key as written: it returns the
// top-level "headers" members in order (string values only; the DOM pass reports other types)
// and refuses a duplicate key anywhere else.
struct written_headers {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string duplicate;  // a duplicate key outside "headers", for the error message
};

class written_keys_handler {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  explicit written_keys_handler(written_headers& out) : out_(out) {}

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    frames_.push_back({true, in_headers_value(), {}, {}});
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    frames_.pop_back();
    return true;
  }
  bool on_array_begin(json::error_code&) {
    frames_.push_back({false, false, {}, {}});
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    frames_.pop_back();
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    text_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    text_.append(s.data(), s.size());
    frame& f = frames_.back();
    if (!f.keys.insert(text_).second && !f.is_headers && out_.duplicate.empty()) {
      out_.duplicate = text_;
    }
    f.key = std::move(text_);
    text_.clear();
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    text_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    text_.append(s.data(), s.size());
    if (frames_.back().is_headers) {
      out_.headers.emplace_back(frames_.back().key, std::move(text_));
    }
    text_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  struct frame {
    bool is_object = false;
    bool is_headers = false;  // the object under the top-level "headers" key
    std::set<std::string> keys;
    std::string key;  // the current member's key
  };
  // True when the value being opened is the top-level "headers" member.
  bool in_headers_value() const {
    return frames_.size() == 1 && frames_[0].is_object && frames_[0].key == "headers";
  }

  written_headers& out_;
  std::vector<frame> frames_;
  std::string text_;
};

// Fills `out` from the request text (already known to parse). False with `error` set on a
// duplicate key outside "headers".
bool read_written_headers(std::string_view text, written_headers& out, std::string& error) {
  json::basic_parser<written_keys_handler> p(json::parse_options{}, out);
  json::error_code ec;
  p.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    error = "not valid JSON: " + ec.message();
    return false;
  }
  if (!out.duplicate.empty()) {
    error = "duplicate key '" + policy::escape_text(out.duplicate) + "'";
    return false;
  }
  return true;
}

std::string read_stream(std::istream& in) {
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// --- lint -------------------------------------------------------------------------------------

struct lint_args {
  bool strict = false;
  std::string config;
  std::vector<std::string> paths;
};

int run_lint(const lint_args& args) {
  policy::load_options opts;
  opts.now = now_utc();
  opts.lint_warnings = true;
  if (!args.config.empty()) {
    try {
      YAML::Node cfg = YAML::LoadFile(args.config);
      std::set<std::string> anchors;
      YAML::Node tls = cfg["tls"];
      YAML::Node list = tls.IsDefined() && tls.IsMap() ? tls["trust_anchors"] : YAML::Node();
      for (std::size_t i = 0; list.IsDefined() && list.IsSequence() && i < list.size(); ++i) {
        anchors.insert(list[i].IsMap() ? list[i]["name"].as<std::string>("") : "");
      }
      opts.trust_anchors = std::move(anchors);
    } catch (const std::exception& e) {
      std::cerr << args.config << ": error: cannot read the gateway config: " << e.what() << '\n';
      return 2;
    }
  }
  std::vector<fs::path> paths(args.paths.begin(), args.paths.end());
  policy::load_result r = policy::load_agreements(paths, opts);
  std::size_t errors = 0, warnings = 0;
  for (const policy::diagnostic& d : r.diagnostics) {
    std::cout << d.format() << '\n';
    (d.level == policy::severity::error ? errors : warnings) += 1;
  }
  std::cout << r.files.size() << (r.files.size() == 1 ? " file, " : " files, ") << errors
            << (errors == 1 ? " error, " : " errors, ") << warnings
            << (warnings == 1 ? " warning" : " warnings") << '\n';
  if (r.files.empty() && errors == 0) {
    std::cerr << "dsa lint: no agreement files found\n";
    return 2;
  }
  if (errors > 0 || (args.strict && warnings > 0)) {
    return 1;
  }
  return 0;
}

// --- explain ----------------------------------------------------------------------------------

struct explain_args {
  std::string agreements, time, format = "json", request;
};

void print_text(const evaluation& e, const described_request& r) {
  const policy::decision& d = e.decision;
  std::cout << (d.allowed ? "ALLOW" : "DENY") << "  " << d.status() << "  "
            << (d.allowed ? "" : std::string(policy::to_string(d.why))) << '\n';
  std::cout << "  request:    " << r.method << ' ' << r.target << '\n';
  std::cout << "  requester:  " << (d.requester.empty() ? "(not identified)" : d.requester) << '\n';
  if (d.agreement != nullptr) {
    std::cout << "  agreement:  " << d.agreement->id << " v" << d.agreement->version << " — "
              << d.agreement->title << '\n';
    std::cout << "  permission: " << d.permission->id << "   endpoint: " << d.endpoint->id << '\n';
  }
  if (!d.detail.empty()) {
    std::cout << "  why:        " << d.detail << '\n';
  }
  if (!d.trace.empty()) {
    std::cout << "  candidates tried, in (agreement, permission) order:\n";
    for (const policy::trace_step& s : d.trace) {
      std::cout << "    " << s.agreement << " / " << s.permission << " / " << s.endpoint << ": "
                << policy::to_string(s.result);
      if (!s.detail.empty()) {
        std::cout << " — " << s.detail;
      }
      std::cout << '\n';
    }
  }
}

int run_explain(const explain_args& args) {
  time_point now = now_utc();
  if (!args.time.empty()) {
    auto t = policy::parse_instant(args.time);
    if (!t) {
      std::cerr << "dsa explain: --time '" << args.time
                << "' is not an RFC 3339 instant (e.g. 2026-11-24T10:30:00Z)\n";
      return 2;
    }
    now = *t;
  }
  std::string text;
  if (args.request == "-") {
    text = read_stream(std::cin);
  } else {
    std::ifstream in(args.request, std::ios::binary);
    if (!in) {
      std::cerr << "dsa explain: cannot read " << args.request << '\n';
      return 2;
    }
    text = read_stream(in);
  }
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  described_request req;
  std::string error;
  if (ec) {
    std::cerr << "dsa explain: " << args.request << ": not valid JSON: " << ec.message() << '\n';
    return 2;
  }
  written_headers written;
  if (!parse_request_json(v, req, error) || !read_written_headers(text, written, error)) {
    std::cerr << "dsa explain: " << args.request << ": " << error << '\n';
    return 2;
  }
  req.headers = std::move(written.headers);  // every member as written, duplicates included
  policy::load_options opts;
  opts.now = now;
  policy::load_result loaded = policy::load_agreements({args.agreements}, opts);
  if (!loaded.ok()) {
    print_diagnostics(loaded);
    std::cerr << "dsa explain: the agreements in " << args.agreements << " do not load\n";
    return 2;
  }
  policy::engine engine(loaded.set);
  policy::memory_volume_counter counter;
  evaluation e = evaluate(engine, req, now, counter, true);
  if (args.format == "text") {
    print_text(e, req);
  } else {
    std::cout << json::serialize(decision_json(e)) << '\n';
  }
  return e.decision.allowed ? 0 : 1;
}

// --- test -------------------------------------------------------------------------------------

struct test_counts {
  std::size_t passed = 0, failed = 0;
};

// Reads a request mapping of a golden case into `out`; false with `error` set.
bool read_case_request(const YAML::Node& n, described_request& out, std::string& error) {
  if (!n.IsMap()) {
    error = "request: expected a mapping";
    return false;
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string k = it->first.as<std::string>("");
    if (k != "requester" && k != "identity" && k != "method" && k != "target" && k != "headers") {
      error = "request: unknown key '" + k + "'";
      return false;
    }
  }
  out.method = n["method"].as<std::string>("");
  out.target = n["target"].as<std::string>("");
  if (out.method.empty() || out.target.empty()) {
    error = "request: method and target are required";
    return false;
  }
  if (n["identity"].IsDefined()) {
    out.has_identity = true;
    YAML::Node id = n["identity"];
    if (!id.IsMap()) {
      error = "request.identity: expected a mapping";
      return false;
    }
    out.identity.trust_anchor = id["trust_anchor"].as<std::string>("");
    out.identity.subject = id["subject"].as<std::string>("");
    out.identity.spki_sha256 = lower(id["spki_sha256"].as<std::string>(""));
    for (const char* key : {"uri_san", "dns_san"}) {
      YAML::Node list = id[key];
      auto& dst =
          std::string_view(key) == "uri_san" ? out.identity.uri_sans : out.identity.dns_sans;
      if (!list.IsDefined()) {
        continue;
      }
      if (list.IsScalar()) {
        dst.push_back(list.Scalar());
      }
      for (std::size_t i = 0; list.IsSequence() && i < list.size(); ++i) {
        dst.push_back(list[i].as<std::string>(""));
      }
    }
  } else {
    out.requester = n["requester"].as<std::string>("");
    if (out.requester.empty()) {
      error = "request: one of requester or identity is required";
      return false;
    }
  }
  YAML::Node headers = n["headers"];
  if (headers.IsDefined() && !headers.IsMap()) {
    error = "request.headers: expected a mapping of header name to value";
    return false;
  }
  for (auto it = headers.begin(); headers.IsDefined() && it != headers.end(); ++it) {
    out.headers.emplace_back(it->first.as<std::string>(""), it->second.as<std::string>(""));
  }
  return true;
}

void run_test_file(const fs::path& file, test_counts& counts) {
  auto failure = [&](int line, const std::string& name, const std::string& what) {
    std::cout << file.string() << ':' << line << ": FAIL "
              << (name.empty() ? "" : "'" + name + "': ") << what << '\n';
    counts.failed += 1;
  };
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& e) {
    failure(e.mark.line + 1, "", "not valid YAML: " + e.msg);
    return;
  }
  if (!root.IsDefined() || !root.IsMap()) {
    failure(1, "", "expected a mapping with time and cases");
    return;
  }
  try {
    fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
    if (root["agreements"].IsDefined()) {
      dir = dir / root["agreements"].as<std::string>();
    }
    std::optional<time_point> default_time;
    if (root["time"].IsDefined()) {
      default_time = policy::parse_instant(root["time"].as<std::string>(""));
      if (!default_time) {
        failure(root["time"].Mark().line + 1, "", "time: not an RFC 3339 instant");
        return;
      }
    }
    policy::load_options opts;
    opts.now = default_time.value_or(now_utc());
    policy::load_result loaded = policy::load_agreements({dir}, opts);
    if (!loaded.ok()) {
      print_diagnostics(loaded);
      failure(1, "", "the agreements in " + dir.string() + " do not load");
      return;
    }
    policy::engine engine(loaded.set);
    policy::memory_volume_counter counter;  // shared by the file's cases, in order
    YAML::Node cases = root["cases"];
    if (!cases.IsSequence() || cases.size() == 0) {
      failure(1, "", "cases: expected a non-empty list");
      return;
    }
    for (std::size_t i = 0; i < cases.size(); ++i) {
      YAML::Node c = cases[i];
      int line = c.Mark().line + 1;
      if (!c.IsMap()) {
        failure(line, "", "case " + std::to_string(i) + " is not a mapping");
        continue;
      }
      std::string name = c["name"].as<std::string>("");
      if (name.empty()) {
        failure(line, "", "case " + std::to_string(i) + " has no name");
        continue;
      }
      std::optional<time_point> when = default_time;
      if (c["time"].IsDefined()) {
        when = policy::parse_instant(c["time"].as<std::string>(""));
      }
      if (!when) {
        failure(line, name, "no valid time (set `time:` on the file or the case)");
        continue;
      }
      described_request req;
      std::string error;
      if (!c["request"].IsDefined() || !read_case_request(c["request"], req, error)) {
        if (error.empty()) {
          error = "request: a mapping with requester or identity, method and target is required";
        }
        failure(line, name, error);
        continue;
      }
      YAML::Node expect = c["expect"];
      if (!expect.IsDefined() || !expect.IsMap()) {
        failure(line, name, "expect: a mapping with decision (and reason for a deny) is required");
        continue;
      }
      std::string want_decision = expect["decision"].as<std::string>("");
      std::string want_reason = expect["reason"].as<std::string>("");
      if (want_decision != "allow" && want_decision != "deny") {
        failure(line, name, "expect.decision must be allow or deny");
        continue;
      }
      if (want_decision == "deny" && want_reason.empty()) {
        failure(line, name, "expect.reason is required for a deny");
        continue;
      }
      int repeat = c["repeat"].as<int>(1);
      if (repeat < 1 || repeat > 100000) {
        failure(line, name, "repeat must be between 1 and 100000");
        continue;
      }
      bool ok = true;
      for (int n = 0; n < repeat && ok; ++n) {
        evaluation e = evaluate(engine, req, *when, counter, false);
        const policy::decision& d = e.decision;
        std::string got_decision = d.allowed ? "allow" : "deny";
        std::string got_reason = d.allowed ? "" : std::string(policy::to_string(d.why));
        std::string mismatch;
        if (got_decision != want_decision ||
            (want_decision == "deny" && got_reason != want_reason)) {
          mismatch = "expected " + want_decision +
                     (want_reason.empty() ? "" : " (" + want_reason + ")") + ", got " +
                     got_decision + (got_reason.empty() ? "" : " (" + got_reason + ")");
          if (!d.detail.empty()) {
            mismatch += ": " + d.detail;
          }
        }
        for (const char* key : {"agreement", "permission", "endpoint"}) {
          if (!mismatch.empty() || !expect[key].IsDefined()) {
            continue;
          }
          std::string want = expect[key].as<std::string>("");
          std::string got;
          if (std::string_view(key) == "agreement") {
            got = d.agreement ? d.agreement->id : "";
          } else if (std::string_view(key) == "permission") {
            got = d.permission ? d.permission->id : "";
          } else {
            got = d.endpoint ? d.endpoint->id : "";
          }
          if (got != want) {
            mismatch = std::string("expected ") + key + " '" + want + "', got '" + got + "'";
          }
        }
        if (!mismatch.empty()) {
          failure(line, name,
                  (repeat > 1
                       ? "request " + std::to_string(n + 1) + " of " + std::to_string(repeat) + ": "
                       : "") +
                      mismatch);
          ok = false;
        }
      }
      if (ok) {
        counts.passed += 1;
      }
    }
  } catch (const std::exception& e) {
    failure(1, "", std::string("cannot read golden cases: ") + e.what());
  }
}

int run_test(const std::vector<std::string>& paths) {
  std::vector<fs::path> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& entry : fs::recursive_directory_iterator(p, ec)) {
        std::string name = entry.path().filename().string();
        if (entry.is_regular_file() && name.size() > 10 &&
            name.compare(name.size() - 10, 10, ".test.yaml") == 0) {
          files.push_back(entry.path());
        }
      }
    } else if (fs::exists(p, ec)) {
      files.emplace_back(p);
    } else {
      std::cerr << "dsa test: " << p << ": no such file or directory\n";
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::cerr << "dsa test: no *.test.yaml files found\n";
    return 2;
  }
  test_counts counts;
  for (const fs::path& f : files) {
    run_test_file(f, counts);
  }
  std::cout << counts.passed << " passed, " << counts.failed << " failed\n";
  return counts.failed == 0 ? 0 : 1;
}

// --- render -----------------------------------------------------------------------------------

int run_render(const std::string& file, const std::string& format) {
  policy::load_options opts;
  opts.now = now_utc();
  // An agreement is rendered on its own, so cross-file rules do not apply here; lint does them.
  policy::load_result loaded = policy::load_agreements({file}, opts);
  if (!loaded.ok()) {
    print_diagnostics(loaded);
    return 1;
  }
  const policy::agreement& a = *loaded.set->agreements.front();
  std::cout << (format == "html" ? policy::render_html(a) : policy::render_markdown(a));
  return 0;
}

}  // namespace

void add_policy_commands(CLI::App& app, int& status) {
  {
    auto args = std::make_shared<lint_args>();
    CLI::App* cmd = app.add_subcommand(
        "lint",
        "Check agreement files: every error and warning as file:line:col: error|warning: "
        "message [code]. Exit 0 clean (warnings allowed unless --strict), 1 errors, 2 usage.");
    cmd->add_flag("--strict", args->strict, "Treat warnings as errors");
    cmd->add_option("--config", args->config,
                    "Gateway config (YAML): identities must name its trust anchors");
    cmd->add_option("paths", args->paths, "Agreement files or directories")->required();
    cmd->callback([args, &status] { status = run_lint(*args); });
  }
  {
    auto args = std::make_shared<explain_args>();
    CLI::App* cmd = app.add_subcommand(
        "explain",
        "Decide one request against the agreements and show why. REQUEST is JSON: "
        "{\"identity\": {\"trust_anchor\", \"subject\", \"uri_san\": [], \"dns_san\": [], "
        "\"spki_sha256\"} or \"requester\": PARTY, \"method\", \"target\", \"headers\": {}}. "
        "Exit 0 allow, 1 deny, 2 usage or invalid input.");
    cmd->add_option("--agreements", args->agreements, "Directory of agreement files")->required();
    cmd->add_option("--time", args->time, "Decide as at this RFC 3339 instant (default: now)");
    cmd->add_option("--format", args->format, "json (default) or text")
        ->check(CLI::IsMember({"json", "text"}));
    cmd->add_option("request", args->request, "Request JSON file, or - for standard input")
        ->required();
    cmd->callback([args, &status] { status = run_explain(*args); });
  }
  {
    auto paths = std::make_shared<std::vector<std::string>>();
    CLI::App* cmd = app.add_subcommand(
        "test",
        "Run golden cases (*.test.yaml): one line per failure and a summary 'N passed, N "
        "failed'. Exit 0 all passed, 1 any failure, 2 usage.");
    cmd->add_option("paths", *paths, "Golden-case files or directories (searched recursively)")
        ->required();
    cmd->callback([paths, &status] { status = run_test(*paths); });
  }
  {
    auto file = std::make_shared<std::string>();
    auto format = std::make_shared<std::string>("md");
    CLI::App* cmd = app.add_subcommand(
        "render",
        "Render one agreement for sign-off: Markdown (default) or one self-contained HTML page.");
    cmd->add_option("agreement", *file, "Agreement file (YAML)")->required();
    cmd->add_option("--format", *format, "md (default) or html")
        ->check(CLI::IsMember({"md", "html"}));
    cmd->callback([file, format, &status] { status = run_render(*file, *format); });
  }
}

}  // namespace dsa::cli
