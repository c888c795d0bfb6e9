// agreements/agreement.schema.json and the loader must accept the same keys (docs/agreements.md,
// "Editor support: the JSON Schema"), so neither can gain a key the other lacks without a test
// failing. tests/policy/data/every-key.yaml uses every key the schema defines; it must load
// without errors. Then, for every mapping of that file the schema describes, an extra key is put
// in and the file loaded again: where the schema closes the mapping (additionalProperties:
// false) the loader must refuse the key as unknown and list exactly the schema's keys as the
// ones it expected; where the schema leaves it open (governance, add_headers, path_params,
// query_params) the loader must not call the key unknown. The ctest "agreements: JSON Schema
// validates every example" validates the same file against the schema.

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy;
using namespace dsa::policy::testing;
namespace json = boost::json;

namespace {

const std::string source_dir = DSA_SOURCE_DIR;
const std::string marker = "zz-not-in-schema";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

using step = std::variant<std::string, std::size_t>;  // a mapping key or a list index

// One mapping of the fixture that the schema describes with `properties`.
struct described_mapping {
  std::string schema_pointer;  // where the schema describes it, e.g. /$defs/response
  std::string where;           // where it is in the file, for messages
  std::vector<step> path;      // how to reach it from the root
  std::set<std::string> schema_keys;
  bool closed = false;  // additionalProperties: false
  std::set<std::string> file_keys;
};

class walker {
 public:
  explicit walker(const json::value& schema) : schema_(schema) {}

  std::vector<described_mapping> found;

  void walk(const std::string& pointer, YAML::Node node, std::vector<step>& path,
            const std::string& where) {
    auto [ptr, s] = resolve(pointer);
    if (node.IsMap() && s.contains("properties")) {
      described_mapping m;
      m.schema_pointer = ptr;
      m.where = where.empty() ? "(top level)" : where;
      m.path = path;
      for (const auto& kv : s.at("properties").as_object()) {
        m.schema_keys.insert(std::string(kv.key()));
      }
      const json::value* extra = s.if_contains("additionalProperties");
      m.closed = extra != nullptr && extra->is_bool() && !extra->as_bool();
      for (auto it = node.begin(); it != node.end(); ++it) {
        m.file_keys.insert(it->first.Scalar());
      }
      found.push_back(m);
      for (auto it = node.begin(); it != node.end(); ++it) {
        const std::string key = it->first.Scalar();
        if (m.schema_keys.count(key) != 0) {
          path.emplace_back(key);
          walk(ptr + "/properties/" + key, it->second, path, where + "." + key);
          path.pop_back();
        }
      }
    } else if (node.IsMap() && s.contains("additionalProperties") &&
               s.at("additionalProperties").is_object()) {
      described_mapping m;  // a map of names to one schema (path_params, query_params, headers)
      m.schema_pointer = ptr;
      m.where = where;
      m.path = path;
      found.push_back(m);
      for (auto it = node.begin(); it != node.end(); ++it) {
        const std::string key = it->first.Scalar();
        path.emplace_back(key);
        walk(ptr + "/additionalProperties", it->second, path, where + "." + key);
        path.pop_back();
      }
    } else if (node.IsSequence() && s.contains("items")) {
      for (std::size_t i = 0; i < node.size(); ++i) {
        path.emplace_back(i);
        walk(ptr + "/items", node[i], path, where + "[" + std::to_string(i) + "]");
        path.pop_back();
      }
    }
  }

 private:
  // The schema at `pointer` (a JSON Pointer into the schema), following a $ref.
  std::pair<std::string, const json::object&> resolve(const std::string& pointer) const {
    const json::value* v = schema_.find_pointer(pointer, ec_);
    REQUIRE(v != nullptr);
    const json::object& o = v->as_object();
    if (const json::value* ref = o.if_contains("$ref")) {
      std::string target(ref->as_string());
      REQUIRE(target.rfind("#", 0) == 0);
      return resolve(target.substr(1));
    }
    return {pointer, o};
  }

  const json::value& schema_;
  mutable boost::system::error_code ec_;
};

// Every subschema of the schema that closes a mapping, by JSON Pointer; the conditions of
// if/then/not/contains only repeat keys declared elsewhere and are left out.
void closed_mappings(const json::value& v, const std::string& pointer, std::set<std::string>& out) {
  if (v.is_object()) {
    const json::object& o = v.as_object();
    const json::value* extra = o.if_contains("additionalProperties");
    if (o.contains("properties") && extra != nullptr && extra->is_bool() && !extra->as_bool()) {
      out.insert(pointer);
    }
    for (const auto& kv : o) {
      const std::string key(kv.key());
      if (key == "if" || key == "then" || key == "not" || key == "contains") {
        continue;
      }
      closed_mappings(kv.value(), pointer + "/" + key, out);
    }
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.as_array().size(); ++i) {
      closed_mappings(v.as_array()[i], pointer + "/" + std::to_string(i), out);
    }
  }
}

// The file with `marker: 1` added to the mapping at `path`.
std::string with_extra_key(const std::string& text, const std::vector<step>& path) {
  YAML::Node root = YAML::Load(text);
  YAML::Node at = root;
  for (const step& s : path) {
    if (const std::string* key = std::get_if<std::string>(&s)) {
      at.reset(at[*key]);
    } else {
      at.reset(at[std::get<std::size_t>(s)]);
    }
  }
  at[marker] = "1";
  YAML::Emitter out;
  out << root;
  return out.c_str();
}

// The keys the loader listed as expected in its unknown-key error for `marker`, or nullopt when
// it did not call the marker an unknown key.
std::optional<std::set<std::string>> expected_keys(const load_result& r) {
  for (const diagnostic& d : r.diagnostics) {
    if (d.code != "unknown-key" || d.message.find("'" + marker + "'") == std::string::npos) {
      continue;
    }
    const std::string open = "(expected one of: ";
    auto from = d.message.find(open);
    REQUIRE(from != std::string::npos);
    from += open.size();
    auto to = d.message.find(')', from);
    REQUIRE(to != std::string::npos);
    std::set<std::string> keys;
    std::istringstream list(d.message.substr(from, to - from));
    std::string key;
    while (std::getline(list, key, ',')) {
      keys.insert(key.substr(key.find_first_not_of(' ')));
    }
    return keys;
  }
  return std::nullopt;
}

std::string joined(const std::set<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) {
    out += (out.empty() ? "" : ", ") + k;
  }
  return out;
}

}  // namespace

TEST_CASE("schema: the schema and the loader accept the same keys, mapping by mapping") {
  const json::value schema_doc =
      json::parse(read_text(source_dir + "/agreements/agreement.schema.json"));
  const std::string text = read_text(source_dir + "/tests/policy/data/every-key.yaml");

  // Every key the schema defines loads.
  load_options opts;
  opts.now = at("2026-11-24T10:30:00Z");
  load_result plain = load_texts({{"every-key.yaml", text}}, opts);
  for (const diagnostic& d : plain.diagnostics) {
    INFO(d.format());
    CHECK(d.level != severity::error);
  }
  REQUIRE(plain.ok());

  walker w(schema_doc);
  std::vector<step> path;
  w.walk("", YAML::Load(text), path, "");

  // The fixture reaches every mapping the schema closes, and uses each of its keys somewhere.
  std::set<std::string> closed;
  closed_mappings(schema_doc, "", closed);
  std::map<std::string, std::set<std::string>> used;
  for (const described_mapping& m : w.found) {
    used[m.schema_pointer].insert(m.file_keys.begin(), m.file_keys.end());
  }
  for (const std::string& pointer : closed) {
    INFO("schema mapping " << pointer << " is not in tests/policy/data/every-key.yaml");
    CHECK(used.count(pointer) == 1);
  }
  for (const described_mapping& m : w.found) {
    for (const std::string& key : m.schema_keys) {
      INFO("schema key " << m.schema_pointer << "/properties/" << key
                         << " is used nowhere in tests/policy/data/every-key.yaml");
      CHECK(used[m.schema_pointer].count(key) == 1);
    }
  }

  // A key the schema does not define: refused where the schema closes the mapping, with the
  // schema's keys as the loader's own list; accepted where the schema leaves the mapping open.
  std::set<std::string> tried;
  for (const described_mapping& m : w.found) {
    if (!tried.insert(m.schema_pointer).second) {
      continue;  // one instance of each described mapping is enough
    }
    load_result r = load_texts({{"every-key.yaml", with_extra_key(text, m.path)}}, opts);
    std::optional<std::set<std::string>> loader_keys = expected_keys(r);
    INFO("at " << m.where << " (schema " << m.schema_pointer << ")");
    if (m.closed) {
      REQUIRE(loader_keys.has_value());
      INFO("loader accepts: " << joined(*loader_keys));
      INFO("schema defines: " << joined(m.schema_keys));
      CHECK(*loader_keys == m.schema_keys);
    } else {
      CHECK(!loader_keys.has_value());
    }
  }
  CHECK(tried.size() >= closed.size());
}
