#include "policy/model.hpp"

#include <algorithm>

namespace dsa::policy {

bool pattern::matches(std::string_view s) const {
  return boost::regex_match(s.begin(), s.end(), re);
}

namespace {

template <typename T>
const T* find_by_id(const std::vector<T>& items, std::string_view id) {
  for (const T& item : items) {
    if (item.id == id) {
      return &item;
    }
  }
  return nullptr;
}

}  // namespace

const party* agreement::find_party(std::string_view party_id) const {
  return find_by_id(parties, party_id);
}

const endpoint* agreement::find_endpoint(std::string_view endpoint_id) const {
  return find_by_id(endpoints, endpoint_id);
}

const purpose* agreement::find_purpose(std::string_view purpose_id) const {
  return find_by_id(purposes, purpose_id);
}

void agreement_set::identity_key_into(std::string& key, std::string_view trust_anchor,
                                      identity_kind kind, std::string_view value) {
  // The unit separator cannot occur in a trust-anchor name, so keys cannot collide.
  key.clear();
  key.append(trust_anchor);
  key.push_back('\x1f');
  key.push_back(static_cast<char>('0' + static_cast<int>(kind)));
  key.push_back('\x1f');
  key.append(value);
}

std::string agreement_set::identity_key(std::string_view trust_anchor, identity_kind kind,
                                        std::string_view value) {
  std::string key;
  identity_key_into(key, trust_anchor, kind, value);
  return key;
}

void agreement_set::candidate_key_into(std::string& key, std::string_view party,
                                       std::string_view method) {
  key.clear();
  key.append(party);
  key.push_back('\x1f');
  key.append(method);
}

std::string agreement_set::candidate_key(std::string_view party, std::string_view method) {
  std::string key;
  candidate_key_into(key, party, method);
  return key;
}

const agreement* agreement_set::find(std::string_view id) const {
  auto it = std::lower_bound(
      agreements.begin(), agreements.end(), id,
      [](const std::unique_ptr<agreement>& a, std::string_view v) { return a->id < v; });
  if (it != agreements.end() && (*it)->id == id) {
    return it->get();
  }
  return nullptr;
}

std::string_view to_string(agreement_status s) noexcept {
  switch (s) {
    case agreement_status::draft:
      return "draft";
    case agreement_status::active:
      return "active";
    case agreement_status::suspended:
      return "suspended";
    case agreement_status::expired:
      return "expired";
    case agreement_status::terminated:
      return "terminated";
  }
  return "draft";
}

std::string_view to_string(party_role r) noexcept {
  switch (r) {
    case party_role::controller:
      return "controller";
    case party_role::joint_controller:
      return "joint_controller";
    case party_role::processor:
      return "processor";
  }
  return "controller";
}

std::string_view to_string(cap_scope s) noexcept {
  switch (s) {
    case cap_scope::assignee:
      return "assignee";
    case cap_scope::case_ref:
      return "case_ref";
    case cap_scope::acting_user:
      return "acting_user";
    case cap_scope::incident:
      return "incident";
  }
  return "assignee";
}

}  // namespace dsa::policy
