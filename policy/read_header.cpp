// The per-file reader's top (read_agreement) and the sections with no lists of their own:
// header, validity and review (docs/agreements.md §3.1, §3.2), governance (§3.9).

#include <map>
#include <string>

#include "policy/sections.hpp"
#include "policy/time.hpp"

namespace dsa::policy::sections {

namespace {

// The tree render reads (model.hpp, free_value): the node kinds yaml-cpp reports, scalars as
// written, mapping entries in file order. Kept to free_value::flow_depth + 1 levels; values at
// flow_depth also carry their YAML flow text, which is what the document shows from there down.
free_value to_free_value(const YAML::Node& n, int depth) {
  free_value v;
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      v.k = free_value::kind::scalar;
      v.scalar = n.Scalar();
      break;
    case YAML::NodeType::Sequence:
      v.k = free_value::kind::sequence;
      break;
    case YAML::NodeType::Map:
      v.k = free_value::kind::mapping;
      break;
    default:
      v.k = free_value::kind::null;
      break;
  }
  if (depth == free_value::flow_depth) {
    YAML::Emitter e;
    e << YAML::Flow << n;
    v.flow = e.good() ? std::string(e.c_str()) : std::string("…");
  }
  if (depth > free_value::flow_depth) {
    return v;
  }
  if (n.IsSequence()) {
    for (const YAML::Node& item : n) {
      v.items.push_back(to_free_value(item, depth + 1));
    }
  } else if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      free_value::entry e;
      if (it->first.IsScalar()) {
        e.key = it->first.Scalar();
      }
      e.value = to_free_value(it->second, depth + 1);
      v.entries.push_back(std::move(e));
    }
  }
  return v;
}

}  // namespace

std::unique_ptr<agreement> read_agreement(reader& r, const YAML::Node& root,
                                          const load_options& options) {
  auto a = std::make_unique<agreement>();
  field top{root, ""};
  if (!root.IsMap()) {
    r.error(
        root,
        "the file must be a mapping starting with 'schema: dsa/v1', found " + yaml::describe(root),
        "wrong-type");
    return nullptr;
  }
  r.mapping(top,
            {"schema", "id", "version", "title", "status", "validity", "parties", "legal",
             "purposes", "data_categories", "endpoints", "permissions"},
            {"status_reason", "review", "prohibitions", "governance"});

  if (!read_header(r, top, *a)) {
    return nullptr;
  }
  read_validity_and_review(r, top, *a);
  declared_ids ids;
  read_parties(r, top, options, *a, ids);
  read_legal(r, top, *a, ids);
  read_endpoints(r, top, options, *a, ids);
  read_permissions(r, top, *a, ids);
  read_prohibitions(r, top, *a, ids);
  read_governance(r, top, *a);
  // Read element by element, the vectors have up to twice the room they need; a loaded set
  // lives as long as the gateway runs, and with 1,000 agreements the spare room of the
  // permissions and endpoints alone was about 2 MB (docs/performance.md §7).
  a->parties.shrink_to_fit();
  a->legal_gateways.shrink_to_fit();
  a->lawful_bases.shrink_to_fit();
  a->purposes.shrink_to_fit();
  a->data_categories.shrink_to_fit();
  a->endpoints.shrink_to_fit();
  a->permissions.shrink_to_fit();
  a->prohibitions.shrink_to_fit();
  return a;
}

bool read_header(reader& r, const field& top, agreement& a) {
  const YAML::Node& root = top.node;
  if (auto s = r.string(r.child(top, "schema")); s && *s != "dsa/v1") {
    r.error(root["schema"], "schema: '" + *s + "' is not supported (expected dsa/v1)",
            "bad-schema");
    return false;
  }
  a.id = r.id(r.child(top, "id")).value_or("");
  if (auto v = r.nonempty(r.child(top, "version"))) {
    if (!is_semantic_version(*v)) {
      r.error(root["version"],
              "version: '" + *v + "' is not a semantic version (expected e.g. 1.2.0)",
              "bad-version");
    }
    a.version = *v;
  }
  a.title = r.nonempty(r.child(top, "title")).value_or("");

  if (auto s = r.string(r.child(top, "status"))) {
    static const std::map<std::string, agreement_status, std::less<>> statuses{
        {"draft", agreement_status::draft},
        {"active", agreement_status::active},
        {"suspended", agreement_status::suspended},
        {"expired", agreement_status::expired},
        {"terminated", agreement_status::terminated}};
    auto it = statuses.find(*s);
    if (it == statuses.end()) {
      r.error(root["status"],
              "status: '" + *s +
                  "' is not a status (expected draft, active, suspended, expired or terminated)",
              "bad-value");
    } else {
      a.status = it->second;
    }
  }
  a.status_reason = r.string(r.child(top, "status_reason")).value_or("");
  if ((a.status == agreement_status::suspended || a.status == agreement_status::terminated) &&
      a.status_reason.empty()) {
    r.error(root["status"],
            "status: a " + std::string(to_string(a.status)) +
                " agreement needs a status_reason (it is shown to callers and in the audit)",
            "missing-key");
  }
  return true;
}

void read_validity_and_review(reader& r, const field& top, agreement& a) {
  field validity = r.child(top, "validity");
  if (r.present(validity) && r.mapping(validity, {"from", "until"}, {})) {
    auto from = r.instant(r.child(validity, "from"));
    auto until = r.instant(r.child(validity, "until"));
    a.valid_from_text = r.string(r.child(validity, "from")).value_or("");
    a.valid_until_text = r.string(r.child(validity, "until")).value_or("");
    if (from && until) {
      a.valid_from = *from;
      a.valid_until = *until;
      if (*until <= *from) {
        r.error(validity.node["until"], "validity.until must be later than validity.from",
                "bad-date");
      }
    }
  }
  field review = r.child(top, "review");
  if (r.present(review) && r.mapping(review, {"due"}, {"overdue"})) {
    if (auto due = r.string(r.child(review, "due"))) {
      auto ymd = parse_date(*due);
      if (!ymd || due->size() != 10) {
        r.error(review.node["due"],
                "review.due: '" + *due + "' is not a date (expected YYYY-MM-DD)", "bad-date");
      } else {
        a.review_due = *ymd;
      }
    }
    if (auto o = r.string(r.child(review, "overdue"))) {
      if (*o == "deny") {
        a.review_overdue_denies = true;
      } else if (*o != "warn") {
        r.error(review.node["overdue"], "review.overdue: '" + *o + "' (expected warn or deny)",
                "bad-value");
      }
    }
  }
}

void read_governance(reader& r, const field& top, agreement& a) {
  field gov = r.child(top, "governance");
  if (r.present(gov)) {
    if (!gov.node.IsMap()) {
      r.error(gov.node, "governance: expected a mapping", "wrong-type");
    } else {
      a.governance = to_free_value(gov.node, 0);
    }
  }
}

}  // namespace dsa::policy::sections
