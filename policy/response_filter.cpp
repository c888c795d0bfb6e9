#include "policy/response_filter.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <exception>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

// How a body is filtered, and why this way:
//
// 1. Parse once into a DOM held in a stack-backed monotonic arena (bodies on the data path are
//    ~1 KiB, so the DOM rarely touches the heap). The parser is Boost.JSON's own basic_parser with
//    a handler equivalent to boost::json::parser's, plus two checks the stock parser cannot make:
//    - duplicate object keys: Boost keeps the last, other readers keep the first. When the body
//      passes unchanged (no allow_fields) a client could then read a value the withhold rules
//      never saw, so any duplicate makes the body not filterable;
//    - integers outside 64 bits: Boost turns them into doubles, so re-serialising would silently
//      change an identifier; when we re-serialise (allow_fields) such a body is not filterable;
//    - numbers outside the range of a double (1e400, -1e400, 0e999, 1e-400): Boost turns them
//      into ±infinity, NaN or 0, which its serializer writes as "Infinity"/"NaN" (not JSON) or
//      as another number, and which compare wrongly in withhold_if; any such body is not
//      filterable (docs/agreements.md, "Response rules").
//    Nesting is capped at k_max_depth so hostile bodies cannot exhaust the stack.
// 2. withhold_if and max_items are evaluated on the unfiltered DOM.
// 3. With allow_fields, the output is written straight from the DOM in one walk: a kept subtree
//    goes through boost::json::serializer, a partially kept container is written member by member.
//    Nothing in the DOM is modified or copied, and the allow pointers that are still "alive" at
//    each depth are tracked as indices on one reused stack instead of per-node strings.

namespace dsa::policy {
namespace {

namespace json = boost::json;

constexpr std::size_t k_max_depth = 64;

// Builds the DOM exactly like boost::json::detail::handler and records what the checks above need.
struct dom_handler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack st;
  std::uint64_t members_in_text = 0;  // object members as written, duplicates included
  bool number_is_decimal = false;     // the current number so far has a '.', 'e' or 'E'
  bool in_exponent = false;           // the current number's text so far has an 'e' or 'E'
  bool mantissa_nonzero = false;      // a digit 1-9 came before the exponent
  bool big_integer = false;           // an integer literal did not fit in 64 bits
  bool out_of_range = false;          // a number is not a finite double, or underflowed to 0
  // The current number's text: Boost.JSON 1.81 converts decimals imprecisely (up to an ulp
  // off), so a double is converted again here, exactly (std::from_chars), and a released number
  // is the double nearest the upstream's text; filtering a released body again then leaves it
  // unchanged.
  std::string number_text;

  dom_handler(json::storage_ptr sp, unsigned char* temp, std::size_t temp_size)
      : st(std::move(sp), temp, temp_size) {}

  // Called on every piece of a number's text (a number can arrive in parts).
  void note_number_text(json::string_view s) {
    number_text.append(s.data(), s.size());
    for (char c : s) {
      if (c == '.') {
        number_is_decimal = true;
      } else if (c == 'e' || c == 'E') {
        number_is_decimal = true;
        in_exponent = true;
      } else if (!in_exponent && c >= '1' && c <= '9') {
        mantissa_nonzero = true;
      }
    }
  }

  void end_number() {
    number_text.clear();
    number_is_decimal = false;
    in_exponent = false;
    mantissa_nonzero = false;
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) {
    members_in_text += n;
    st.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    note_number_text(s);
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    end_number();
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    end_number();
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code&) {
    note_number_text(s);
    if (!number_is_decimal) {
      big_integer = true;
    }
    // 1e400 parses to infinity, 0e999 to NaN and 1e-400 to 0: written out again they would be
    // "Infinity", "NaN" (not JSON) or a different number, and compared they would be wrong.
    if (!std::isfinite(d) || (d == 0 && mantissa_nonzero)) {
      out_of_range = true;
    }
    double exact = d;
    const char* first = number_text.data();
    const char* last = first + number_text.size();
    const auto [end, ec] = std::from_chars(first, last, exact);
    if (ec == std::errc{} && end == last) {
      d = exact;
    }
    end_number();
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

std::uint64_t members_in_dom(const json::value& v) {
  std::uint64_t n = 0;
  if (const auto* o = v.if_object()) {
    n += o->size();
    for (const auto& m : *o) {
      n += members_in_dom(m.value());
    }
  } else if (const auto* a = v.if_array()) {
    for (const auto& e : *a) {
      n += members_in_dom(e);
    }
  }
  return n;
}

// An array index segment per RFC 6901: "0" or a decimal without leading zeros; "*" is any index.
bool index_matches(const std::string& seg, std::size_t index) {
  if (seg == "*") {
    return true;
  }
  if (seg.empty() || (seg.size() > 1 && seg.front() == '0')) {
    return false;
  }
  std::size_t parsed = 0;
  const auto [end, ec] = std::from_chars(seg.data(), seg.data() + seg.size(), parsed);
  return ec == std::errc{} && end == seg.data() + seg.size() && parsed == index;
}

// Calls `f` on every node `segs[d..]` reaches from `v`; stops early when `f` returns true.
// Returns true when stopped early. Recursion depth is bounded by the pointer's length.
template <class F>
bool for_each_match(const json::value& v, const std::vector<std::string>& segs, std::size_t d,
                    F& f) {
  if (d == segs.size()) {
    return f(v);
  }
  const std::string& seg = segs[d];
  if (const auto* o = v.if_object()) {
    if (seg == "*") {
      for (const auto& m : *o) {
        if (for_each_match(m.value(), segs, d + 1, f)) {
          return true;
        }
      }
      return false;
    }
    const auto* child = o->if_contains(seg);
    return child != nullptr && for_each_match(*child, segs, d + 1, f);
  }
  if (const auto* a = v.if_array()) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (index_matches(seg, i) && for_each_match((*a)[i], segs, d + 1, f)) {
        return true;
      }
    }
  }
  return false;
}

bool numbers_equal(const json::value& a, const json::value& b) {
  if (a.is_double() || b.is_double()) {
    json::error_code ea;
    json::error_code eb;
    // to_number<double> never fails for a number, but report inequality rather than assume.
    const double x = a.to_number<double>(ea);
    const double y = b.to_number<double>(eb);
    return !ea && !eb && x == y;
  }
  if (a.is_int64() && b.is_int64()) {
    return a.get_int64() == b.get_int64();
  }
  if (a.is_uint64() && b.is_uint64()) {
    return a.get_uint64() == b.get_uint64();
  }
  // One signed, one unsigned: equal only when the signed one is non-negative and the same.
  const std::int64_t s = a.is_int64() ? a.get_int64() : b.get_int64();
  const std::uint64_t u = a.is_uint64() ? a.get_uint64() : b.get_uint64();
  return s >= 0 && static_cast<std::uint64_t>(s) == u;
}

// JSON value equality: numbers by value (1 equals 1.0), objects regardless of member order.
bool json_equal(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) {
    return numbers_equal(a, b);
  }
  if (a.kind() != b.kind()) {
    return false;
  }
  switch (a.kind()) {
    case json::kind::null:
      return true;
    case json::kind::bool_:
      return a.get_bool() == b.get_bool();
    case json::kind::string:
      return a.get_string() == b.get_string();
    case json::kind::array: {
      const auto& x = a.get_array();
      const auto& y = b.get_array();
      if (x.size() != y.size()) {
        return false;
      }
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!json_equal(x[i], y[i])) {
          return false;
        }
      }
      return true;
    }
    case json::kind::object: {
      const auto& x = a.get_object();
      const auto& y = b.get_object();
      if (x.size() != y.size()) {
        return false;
      }
      for (const auto& m : x) {
        const auto* other = y.if_contains(m.key());
        if (other == nullptr || !json_equal(m.value(), *other)) {
          return false;
        }
      }
      return true;
    }
    default:
      return false;
  }
}

// Writes the parts of the DOM that allow_fields cover, compactly, into `out`.
class allow_writer {
 public:
  allow_writer(const std::vector<json_pointer>& allow, std::string& out)
      : allow_(allow), out_(out), matched_(allow.size(), false) {
    active_.reserve(allow.size() * 4);
  }

  // The texts of the pointers that released something, in agreement order (after write_root).
  std::vector<std::string> released() const {
    std::vector<std::string> out;
    for (std::size_t p = 0; p < allow_.size(); ++p) {
      if (matched_[p]) {
        out.push_back(allow_[p].text);
      }
    }
    return out;
  }

  // Returns the number of object members and array elements left out.
  std::uint64_t write_root(const json::value& root) {
    for (std::size_t p = 0; p < allow_.size(); ++p) {
      if (allow_[p].segments.empty()) {
        write_whole(root);  // "" is the whole document
        auto found = [](const json::value&) { return true; };
        for (std::size_t q = 0; q < allow_.size(); ++q) {
          matched_[q] = q == p || for_each_match(root, allow_[q].segments, 0, found);
        }
        return removed_;
      }
      active_.push_back(static_cast<std::uint32_t>(p));
    }
    if (root.is_structured()) {
      write_filtered(root, 0, 0, active_.size());
    } else {
      // A scalar document that no pointer names: nothing of it may leave.
      out_.append("null");
      ++removed_;
    }
    return removed_;
  }

 private:
  void write_whole(const json::value& v) {
    sr_.reset(&v);
    drain();
  }

  void write_key(json::string_view key) {
    sr_.reset(key);
    drain();
    out_ += ':';
  }

  void drain() {
    while (!sr_.done()) {
      out_.append(sr_.read(buf_.data(), buf_.size()));
    }
  }

  enum class coverage { none, whole, partial };

  // Pushes the pointers in active_[begin, end) whose segment at `depth` matches the child, and
  // says whether one of them ends at the child (every pointer that ends there is marked as
  // having released something).
  template <class Match>
  coverage select(std::size_t depth, std::size_t begin, std::size_t end, Match match) {
    bool whole = false;
    bool any = false;
    for (std::size_t i = begin; i < end; ++i) {
      const json_pointer& p = allow_[active_[i]];
      if (!match(p.segments[depth])) {
        continue;
      }
      if (p.segments.size() == depth + 1) {
        matched_[active_[i]] = true;
        whole = true;
        continue;
      }
      active_.push_back(active_[i]);
      any = true;
    }
    return whole ? coverage::whole : any ? coverage::partial : coverage::none;
  }

  // A child released whole may also hold what longer pointers name (allow_fields /a and /a/b):
  // those released something too. Only the pointers' own paths are followed, and only for
  // pointers not yet known to have matched.
  void mark_inside(const json::value& child, std::size_t depth, std::size_t begin) {
    for (std::size_t i = begin; i < active_.size(); ++i) {
      const std::uint32_t p = active_[i];
      if (!matched_[p]) {
        auto found = [](const json::value&) { return true; };
        matched_[p] = for_each_match(child, allow_[p].segments, depth + 1, found);
      }
    }
  }

  // Writes container `v` at `depth`, whose live pointers are active_[begin, end); every one of
  // them is longer than `depth`.
  void write_filtered(const json::value& v, std::size_t depth, std::size_t begin, std::size_t end) {
    bool first = true;
    const auto write_child = [&](const json::value& child, coverage c, std::size_t child_begin,
                                 auto&& write_prefix) {
      if (c == coverage::none || (c == coverage::partial && !child.is_structured())) {
        ++removed_;
        return;
      }
      if (!first) {
        out_ += ',';
      }
      first = false;
      write_prefix();
      if (c == coverage::whole) {
        mark_inside(child, depth, child_begin);
        write_whole(child);
      } else {
        write_filtered(child, depth + 1, child_begin, active_.size());
      }
    };

    if (const auto* o = v.if_object()) {
      out_ += '{';
      for (const auto& m : *o) {
        const std::size_t child_begin = active_.size();
        const json::string_view key = m.key();
        const coverage c = select(depth, begin, end, [&](const std::string& seg) {
          return seg == "*" || json::string_view(seg) == key;
        });
        write_child(m.value(), c, child_begin, [&] { write_key(key); });
        active_.resize(child_begin);
      }
      out_ += '}';
      return;
    }
    const auto& a = v.get_array();
    out_ += '[';
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::size_t child_begin = active_.size();
      const coverage c =
          select(depth, begin, end, [&](const std::string& seg) { return index_matches(seg, i); });
      write_child(a[i], c, child_begin, [] {});
      active_.resize(child_begin);
    }
    out_ += ']';
  }

  const std::vector<json_pointer>& allow_;
  std::string& out_;
  std::vector<std::uint32_t> active_;  // live allow pointer indices, one run per depth
  std::vector<bool> matched_;          // per allow pointer: it released at least one member
  json::serializer sr_;
  std::array<char, 4096> buf_{};
  std::uint64_t removed_ = 0;
};

// Data subjects (docs/agreements.md, "Data subjects"): the values response.subjects reaches that
// are released. A node is released when some allow_fields pointer ends at it or at one of its
// ancestors (allow_writer keeps exactly those; a container on the way to a longer pointer keeps
// only its allowed children), so each match is checked against its concrete path.
class subject_collector {
 public:
  subject_collector(const response_rules& rules, std::vector<std::string>& out)
      : rules_(rules), out_(out) {}

  void collect(const json::value& root) {
    for (const json_pointer& p : rules_.subjects) {
      walk(root, p.segments, 0);
    }
    std::sort(out_.begin(), out_.end());
    out_.erase(std::unique(out_.begin(), out_.end()), out_.end());
  }

 private:
  // A step of the concrete path: an object key, or an array index (key empty, index set).
  struct step {
    json::string_view key;
    std::size_t index = 0;
    bool is_index = false;
  };

  void walk(const json::value& v, const std::vector<std::string>& segs, std::size_t d) {
    if (d == segs.size()) {
      take(v);
      return;
    }
    const std::string& seg = segs[d];
    if (const auto* o = v.if_object()) {
      for (const auto& m : *o) {
        if (seg == "*" || json::string_view(seg) == m.key()) {
          path_.push_back({m.key(), 0, false});
          walk(m.value(), segs, d + 1);
          path_.pop_back();
        }
      }
    } else if (const auto* a = v.if_array()) {
      for (std::size_t i = 0; i < a->size(); ++i) {
        if (index_matches(seg, i)) {
          path_.push_back({{}, i, true});
          walk((*a)[i], segs, d + 1);
          path_.pop_back();
        }
      }
    }
  }

  bool released() const {
    if (!rules_.has_allow_fields) {
      return true;  // the body leaves whole
    }
    for (const json_pointer& allow : rules_.allow_fields) {
      if (allow.segments.size() > path_.size()) {
        continue;
      }
      bool covers = true;
      for (std::size_t i = 0; covers && i < allow.segments.size(); ++i) {
        const std::string& seg = allow.segments[i];
        covers = path_[i].is_index ? index_matches(seg, path_[i].index)
                                   : seg == "*" || json::string_view(seg) == path_[i].key;
      }
      if (covers) {
        return true;
      }
    }
    return false;
  }

  void take(const json::value& v) {
    if (!v.is_string() && !v.is_number()) {
      return;
    }
    if (!released()) {
      return;
    }
    if (const auto* s = v.if_string()) {
      out_.emplace_back(s->data(), s->size());
    } else {
      // The text the gateway writes for it: for an integer, the body's own digits.
      out_.push_back(json::serialize(v));
    }
  }

  const response_rules& rules_;
  std::vector<std::string>& out_;
  std::vector<step> path_;
};

filter_result not_filterable(std::string detail) {
  filter_result r;
  r.why = reason::response_not_filterable;
  r.detail = std::move(detail);
  return r;
}

filter_result filter_parsed(const response_rules& rules, const json::value& root,
                            json::storage_ptr sp) {
  filter_result r;

  // withhold_if first, on everything the upstream sent.
  for (const auto& rule : rules.withhold_if) {
    json::value equals(sp);  // same arena as the parse below, so assigning it moves
    bool equals_ready = false;
    bool equals_bad = false;
    bool matched = false;
    auto check = [&](const json::value& node) {
      if (!equals_ready) {
        // Parsed only when the pointer reaches something; the loader has validated the text,
        // and a failure here must not let the body through.
        json::error_code ec;
        equals = json::parse(rule.equals_json, ec, sp);
        equals_ready = true;
        equals_bad = static_cast<bool>(ec);
      }
      matched = equals_bad || json_equal(node, equals);
      return matched;
    };
    for_each_match(root, rule.pointer.segments, 0, check);
    if (equals_bad) {
      return not_filterable("withhold_if rule " + rule.pointer.text + " has an invalid value");
    }
    if (matched) {
      r.why = reason::withheld_by_agreement;
      r.detail = "withhold_if " + rule.pointer.text + " equals " + rule.equals_json;
      return r;
    }
  }

  // max_items: every array the pointer reaches must fit; the first one is what `items` counts.
  bool counted = false;
  if (rules.max_items) {
    const max_items_rule& rule = *rules.max_items;
    std::string over;
    auto check = [&](const json::value& node) {
      const auto* a = node.if_array();
      if (a == nullptr) {
        return false;
      }
      if (!counted) {
        r.items = a->size();
        counted = true;
      }
      if (a->size() > rule.max) {
        over = "array at " + rule.pointer.text + " has " + std::to_string(a->size()) +
               " elements; max_items allows " + std::to_string(rule.max);
        return true;
      }
      return false;
    };
    for_each_match(root, rule.pointer.segments, 0, check);
    if (!over.empty()) {
      r.why = reason::too_many_items;
      r.detail = std::move(over);
      return r;
    }
  }
  if (!counted) {
    const auto* a = root.if_array();
    r.items = a != nullptr ? a->size() : 1;
  }

  r.why = reason::allowed;
  if (rules.has_allow_fields) {
    allow_writer writer(rules.allow_fields, r.body);
    r.fields_removed = writer.write_root(root);
    r.released_fields = writer.released();
    r.changed = true;
  }
  if (!rules.subjects.empty()) {
    subject_collector(rules, r.subjects).collect(root);
  }
  return r;
}

}  // namespace

filter_result filter_response(const response_rules& rules, std::string_view body) {
  if (!rules.filters()) {
    filter_result r;
    r.why = reason::allowed;
    r.items = 1;  // not parsed: the body counts as one disclosure
    return r;
  }
  try {
    // Typical bodies parse without touching the heap: the DOM lives in `arena_buf` and the
    // parser's scratch in `temp_buf`; larger ones spill into heap blocks the arena frees.
    alignas(std::max_align_t) std::array<unsigned char, 8192> arena_buf;
    alignas(std::max_align_t) std::array<unsigned char, 1024> temp_buf;
    json::monotonic_resource arena(arena_buf.data(), arena_buf.size());
    json::storage_ptr sp(&arena);

    json::parse_options opt;
    opt.max_depth = k_max_depth;
    json::basic_parser<dom_handler> parser(opt, sp, temp_buf.data(), temp_buf.size());
    parser.handler().st.reset(sp);

    json::error_code ec;
    const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
    if (!ec && used < body.size()) {
      ec = json::error::extra_data;
    }
    if (ec) {
      if (ec == json::error::too_deep) {
        return not_filterable("response JSON nests deeper than " + std::to_string(k_max_depth) +
                              " levels");
      }
      return not_filterable("response body is not valid JSON (" + ec.message() + " at byte " +
                            std::to_string(used) + ")");
    }
    const dom_handler& h = parser.handler();
    const json::value root = parser.handler().st.release();
    if (members_in_dom(root) != h.members_in_text) {
      return not_filterable("response JSON has a duplicate object key");
    }
    if (h.out_of_range) {
      return not_filterable(
          "response JSON has a number outside the range of a double (e.g. 1e400 or 1e-400)");
    }
    if (rules.has_allow_fields && h.big_integer) {
      return not_filterable("response JSON has an integer outside the 64-bit range");
    }
    return filter_parsed(rules, root, sp);
  } catch (const std::exception& e) {
    return not_filterable(std::string("response could not be filtered: ") + e.what());
  } catch (...) {
    return not_filterable("response could not be filtered");
  }
}

}  // namespace dsa::policy
