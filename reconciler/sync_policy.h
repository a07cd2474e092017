// reconciler/sync_policy.h — the sync controller's policy step (docs/POLICIES.md):
// the Policies of the revision being synced, evaluated on its whole desired
// set after signature verification (TRUST HOOK 1) and before anything is
// written. An invalid Policy or an enforced violation refuses the revision
// (Revision phase Refused, reason "InvalidPolicy" or "PolicyViolation", every
// problem as a located error); warnings go into the record of the revision
// that is applied (status.warnings and status.policy).
//
// Not part of the reconciler's public interface; used by sync_pass.cc.
// Thread-safety: as the pass that calls it (one pass at a time).
#pragma once

#include <string>

#include "policies/policy.h"
#include "reconciler/sync_internal.h"

namespace bosun::reconciler {

struct PolicyCheck {
  policies::PolicySet set;
  policies::Verdict verdict;

  bool invalid() const { return !set.ok(); }
  bool refuses() const { return invalid() || verdict.refused(); }
  // status.policy of a Revision record: {verdict: Passed|Warned|Refused|Invalid,
  // policies: [names], rules: N, violations: [{policy, rule, action, file,
  // line, column, field, message}]}.
  Json ToJson() const;
};

// Parses the snapshot's Policies and evaluates them on every object of it;
// `synced_path` is the folder followed (SyncOptions::path), which `paths`
// rules are relative to.
// `field_validation`: what a misspelt field of a Policy is (the revision's
// SyncSettings).
PolicyCheck CheckPolicies(const DesiredSnapshot& snapshot, const std::string& synced_path,
                          FieldValidation field_validation);

// Records the revision as Refused by its policies (through WriteRefusal);
// the name of the record written.
Result<std::string> RefuseByPolicy(SyncController::Impl& sync, PassContext& ctx, const PolicyCheck& check);

// Adds the verdict to a new record of an applied revision: the snapshot's
// diagnostics and the policy warnings as status.errors/warnings, and
// status.policy (left out when the revision has no Policy).
void RecordPolicyCheck(Object& record, const DesiredSnapshot& snapshot, const PolicyCheck& check);

}  // namespace bosun::reconciler
