// cli/policy_line.h — the policy verdict of a Revision record
// (status.policy, docs/POLICIES.md) as one line for `bosun history show`:
//   "refused by baseline/registries (2 violations); warned by baseline/digests (1)"
//   "passed: baseline (6 rules)"
// "" when the record has no policy verdict (the revision had no Policy).
#pragma once

#include <string>

#include "core/object.h"

namespace bosun::cli {

std::string PolicyLine(const Json& policy);

}  // namespace bosun::cli
