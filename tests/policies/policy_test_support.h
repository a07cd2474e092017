// tests/policies/policy_test_support.h — manifests from YAML text (through
// the real loader, so positions are real) and a one-call evaluation.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/manifests.h"
#include "policies/policy.h"

namespace bosun::policies::test {

// Files (name → YAML) loaded as a desired set; the set must be valid unless
// `invalid_ok`.
inline DesiredSet Load(const std::vector<SourceFile>& files, bool invalid_ok = false) {
  DesiredSet set = LoadDesiredSet(files);
  for (const Diagnostic& d : set.diagnostics) {
    if (!invalid_ok) {
      EXPECT_NE(d.severity, Severity::kError) << d.ToString();
    }
  }
  return set;
}

struct Outcome {
  PolicySet policies;
  Verdict verdict;
};

// Parses every Policy of the files and evaluates them on all of the files'
// objects, with paths as the file names.
inline Outcome RunPolicies(const std::vector<SourceFile>& files, bool invalid_ok = false) {
  DesiredSet set = Load(files, invalid_ok);
  std::vector<const Manifest*> all;
  std::vector<Subject> subjects;
  for (const Manifest& m : set.objects) {
    all.push_back(&m);
    subjects.push_back({&m, m.file});
  }
  Outcome o;
  o.policies = ParsePolicies(all);
  o.verdict = Evaluate(o.policies.policies, subjects);
  return o;
}

inline std::vector<std::string> Lines(const Verdict& v) {
  std::vector<std::string> out;
  for (const Diagnostic& d : v.Diagnostics()) out.push_back(d.ToString());
  return out;
}

inline std::vector<std::string> Lines(const PolicySet& s) {
  std::vector<std::string> out;
  for (const Diagnostic& d : s.diagnostics) out.push_back(d.ToString());
  return out;
}

// A policy with one rule (YAML lines of the rule after "- name: r").
inline std::string OneRule(const std::string& rule_body, const std::string& name = "baseline") {
  return "apiVersion: bosun.dev/v1\nkind: Policy\nmetadata:\n  name: " + name + "\nspec:\n  rules:\n    - name: r\n" +
         rule_body;
}

// A Deployment with one container; `container` is extra YAML lines indented
// for the container map (10 spaces), `pod` for the pod spec (6 spaces).
inline std::string Deployment(const std::string& name, const std::string& ns, const std::string& image,
                              const std::string& container = "", const std::string& pod = "",
                              const std::string& top = "") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\n  labels: {app: " + name + "}\nspec:\n" + top + "  selector:\n    matchLabels: {app: " + name +
         "}\n  template:\n    metadata:\n      labels: {app: " + name + "}\n    spec:\n" + pod +
         "      containers:\n        - name: " + name + "\n          image: " + image + "\n" + container;
}

}  // namespace bosun::policies::test
