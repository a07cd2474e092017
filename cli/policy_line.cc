#include "cli/policy_line.h"

#include <map>

namespace bosun::cli {
namespace {

std::string Str(const Json& j) {
  return j.is_string() ? j.get<std::string>() : "";
}

// "baseline/registries (2), baseline/resources (1)" for one action.
std::string Rules(const Json& violations, const std::string& action) {
  std::map<std::string, int> count;
  for (const Json& v : violations) {
    if (!v.is_object() || Str(Object::Field(v, "action")) != action) continue;
    ++count[Str(Object::Field(v, "policy")) + "/" + Str(Object::Field(v, "rule"))];
  }
  std::string out;
  for (const auto& [rule, n] : count) out += (out.empty() ? "" : ", ") + rule + " (" + std::to_string(n) + ")";
  return out;
}

}  // namespace

std::string PolicyLine(const Json& policy) {
  if (!policy.is_object()) return "";
  std::string verdict = Str(Object::Field(policy, "verdict"));
  const Json& violations = Object::Field(policy, "violations");
  std::string names;
  const Json& ps = Object::Field(policy, "policies");
  if (ps.is_array()) {
    for (const Json& p : ps) names += (names.empty() ? "" : ", ") + Str(p);
  }
  if (verdict == "Invalid") return "refused: a Policy of this revision is invalid (see the errors)";
  std::string refused = violations.is_array() ? Rules(violations, "enforce") : "";
  std::string warned = violations.is_array() ? Rules(violations, "warn") : "";
  std::string out;
  if (!refused.empty()) out = "refused by " + refused;
  if (!warned.empty()) out += (out.empty() ? "" : "; ") + std::string("warned by ") + warned;
  if (out.empty()) {
    const Json& rules = Object::Field(policy, "rules");
    out = "passed: " + (names.empty() ? std::string("no policy") : names) +
          (rules.is_number() ? " (" + rules.dump() + " rules)" : "");
  }
  return out;
}

}  // namespace bosun::cli
