// The sync controller's policy step: see sync_policy.h.
#include "reconciler/sync_policy.h"

#include <algorithm>

#include "core/log.h"

namespace bosun::reconciler {
Json PolicyCheck::ToJson() const {
  const char* v = invalid() ? "Invalid" : verdict.refused() ? "Refused" : verdict.warned() > 0 ? "Warned" : "Passed";
  Json names = Json::array();
  for (const policies::Policy& p : set.policies) names.push_back(p.name);
  Json violations = Json::array();
  for (const policies::Violation& x : verdict.violations) {
    violations.push_back({{"policy", x.policy},
                          {"rule", x.rule},
                          {"action", policies::ActionName(x.action)},
                          {"file", x.file},
                          {"line", x.pos.line},
                          {"column", x.pos.column},
                          {"field", x.field},
                          {"message", x.message}});
  }
  return {{"verdict", v}, {"policies", names}, {"rules", verdict.rules}, {"violations", violations}};
}

PolicyCheck CheckPolicies(const DesiredSnapshot& snapshot, const std::string& synced_path,
                          FieldValidation field_validation) {
  std::vector<const Manifest*> all;
  std::vector<policies::Subject> subjects;
  all.reserve(snapshot.objects);
  subjects.reserve(snapshot.objects);
  for (const auto& [path, file] : snapshot.files) {
    std::string rel = policies::RelativePath(path, synced_path);
    for (const Manifest& m : file->objects) {
      all.push_back(&m);
      subjects.push_back({&m, rel});
    }
  }
  PolicyCheck check;
  check.set = policies::ParsePolicies(all, field_validation);
  // With a malformed Policy the verdict would be partial: the revision is
  // refused for the Policy alone.
  if (check.set.ok()) check.verdict = policies::Evaluate(check.set.policies, subjects);
  return check;
}

Result<std::string> RefuseByPolicy(SyncController::Impl& sync, PassContext& ctx, const PolicyCheck& check) {
  auto decorate = [&](Object& record) { record.json()["status"]["policy"] = check.ToJson(); };
  if (check.invalid()) {
    size_t errors = check.set.errors();
    std::vector<std::string> files;
    for (const Diagnostic& d : check.set.diagnostics) {
      if (d.severity == Severity::kError && std::find(files.begin(), files.end(), d.file) == files.end()) {
        files.push_back(d.file);
      }
    }
    std::string what = std::to_string(files.size()) + " invalid Polic" + (files.size() == 1 ? "y" : "ies") + " (" +
                       std::to_string(errors) + " error" + (errors == 1 ? "" : "s") + ")";
    std::vector<Diagnostic> sorted = check.set.diagnostics;
    SortDiagnostics(sorted);
    return sync.WriteRefusal(ctx, "InvalidPolicy", what, sorted, decorate);
  }
  return sync.WriteRefusal(ctx, "PolicyViolation", check.verdict.Summary(), check.verdict.Diagnostics(), decorate);
}

void RecordPolicyCheck(Object& record, const DesiredSnapshot& snapshot, const PolicyCheck& check) {
  if (check.set.policies.empty() && check.set.diagnostics.empty()) return;
  std::vector<Diagnostic> all = snapshot.diagnostics;
  for (const Diagnostic& d : check.set.diagnostics) all.push_back(d);
  for (const Diagnostic& d : check.verdict.Diagnostics()) all.push_back(d);
  SortDiagnostics(all);
  SetDiagnostics(record, all, kMaxRecordBytes - kRecordReserveBytes);
  record.json()["status"]["policy"] = check.ToJson();
  if (check.verdict.warned() > 0) {
    log::Info(kSyncComponent, "policy warnings",
              {{"rev", ShortSha(record.spec().value("commit", ""))}, {"warnings", check.verdict.Summary()}});
  }
}

}  // namespace bosun::reconciler
