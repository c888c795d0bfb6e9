#include "gateway/readiness.hpp"

#include <algorithm>

namespace dsa::gateway {

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::set<std::string> served_upstreams(const config& cfg) {
  std::set<std::string> names;
  for (const auto& [name, upstream] : cfg.upstreams) {
    names.insert(name);
  }
  return names;
}

std::string closest_name(std::string_view name, const std::set<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(2, name.size() / 3);
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(name, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

serving_summary summarize_serving(const policy::agreement_set& set,
                                  const std::set<std::string>& upstreams) {
  serving_summary s;
  s.agreements = set.agreements.size();
  std::set<std::string> used;
  for (const auto& a : set.agreements) {
    for (const auto& e : a->endpoints) {
      ++s.endpoints;
      used.insert(e.upstream);
      if (upstreams.contains(e.upstream)) {
        ++s.served_endpoints;
      }
    }
  }
  std::set<std::string> missing;  // asked for by an endpoint, configured nowhere here
  for (const auto& name : used) {
    if (!upstreams.contains(name)) {
      missing.insert(name);
    }
  }
  for (const auto& name : upstreams) {
    if (!used.contains(name)) {
      s.unused.push_back({name, closest_name(name, missing)});
    }
  }
  return s;
}

std::vector<std::string> serving_problems(const serving_summary& s) {
  std::vector<std::string> out;
  if (s.agreements == 0) {
    out.emplace_back("no agreement loaded");
  } else if (s.served_endpoints == 0) {
    out.emplace_back(
        "no endpoint served here (no endpoint's upstream is in the config's upstreams)");
  }
  return out;
}

}  // namespace dsa::gateway
