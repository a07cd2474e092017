// `bosun validate` with the repository's Policies, as a pull-request check
// runs it: the real binary on real files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/policies/policy_test_support.h"
#include "tests/test_support.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using bosun::policies::test::Deployment;
using bosun::policies::test::OneRule;
using bosun::test::Outcome;
using bosun::test::TempDir;

Outcome Bosun(const std::string& args) {
  return bosun::test::RunCommand(std::string(BOSUN_BINARY) + " " + args);
}

TEST(ValidatePolicyCli, EnforcedViolationsAreErrorsAndExitOne) {
  TempDir d;
  d.Write("policies/baseline.yaml", OneRule("      allowedRegistries: [registry.local]\n"));
  d.Write("web/deployment.yaml", Deployment("web", "web", "nginx:1.25"));
  d.Write("web/ok.yaml", Deployment("ok", "web", "registry.local/ok:1"));
  Outcome r = Bosun("validate " + d.path());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr(d.path() + "/web/deployment.yaml:16:18: spec.template.spec.containers[0].image: "
                                          "registry \"docker.io\" is not allowed by policy baseline rule r (allowed: "
                                          "registry.local)\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("ok.yaml")));
  EXPECT_THAT(r.out, HasSubstr("INVALID: 3 files, 3 objects, 1 error, 0 warnings; 1 policy: 1 violation, 0 policy "
                               "warnings"));
}

TEST(ValidatePolicyCli, WarningsPrintButExitZero) {
  TempDir d;
  d.Write("policies/baseline.yaml", OneRule("      action: warn\n      maxReplicas: 2\n"));
  d.Write("web/deployment.yaml", Deployment("web", "web", "nginx:1.25", "", "", "  replicas: 5\n"));
  Outcome r = Bosun("validate " + d.path());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr(d.path() + "/web/deployment.yaml:8:13: warning: spec.replicas: replicas 5 is more "
                                          "than 2, the maximum of policy baseline rule r\n"));
  EXPECT_THAT(r.out, HasSubstr("valid: 2 files, 2 objects, 0 errors, 1 warning; 1 policy: 0 violations, 1 policy "
                               "warning"));
  // Without the Policy the same manifests are plainly valid.
  Outcome plain = Bosun("validate " + d.path() + "/web");
  EXPECT_EQ(plain.exit_code, 0);
  EXPECT_THAT(plain.out, HasSubstr("valid: 1 file, 1 object, 0 errors, 0 warnings ("));
}

TEST(ValidatePolicyCli, AMalformedPolicyFailsTheCheck) {
  TempDir d;
  d.Write("policy.yaml", OneRule("      forbid: [hostNetwrok]\n"));
  Outcome r = Bosun("validate " + d.path());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr(d.path() + "/policy.yaml:8:16: spec.rules[0].forbid[0]: unsupported value "
                                          "\"hostNetwrok\""));
  EXPECT_THAT(r.out,
              HasSubstr("INVALID: 1 file, 1 object, 1 error, 0 warnings; a Policy is invalid: no policy was evaluated"));
}

TEST(ValidatePolicyCli, PathsRulesAreRelativeToTheFolderGiven) {
  TempDir d;
  d.Write("deploy/policy.yaml", OneRule("      paths: {apps/web/: [web]}\n"));
  d.Write("deploy/apps/web/d.yaml", Deployment("web", "payments", "x"));
  Outcome r = Bosun("validate " + d.path() + "/deploy");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("/deploy/apps/web/d.yaml:5:14: metadata.namespace: namespace \"payments\" is not "
                               "allowed: objects of apps/web/ may only write to namespaces web"));
}

TEST(ValidatePolicyCli, JsonNamesThePolicyAndRule) {
  TempDir d;
  d.Write("p.yaml", OneRule("      requireDigest: true\n"));
  d.Write("d.yaml", Deployment("web", "web", "registry.local/web:1"));
  Outcome r = Bosun("validate -o json " + d.path());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\"policy\": \"baseline\""));
  EXPECT_THAT(r.out, HasSubstr("\"rule\": \"r\""));
  EXPECT_THAT(r.out, HasSubstr("\"field\": \"spec.template.spec.containers[0].image\""));
  EXPECT_THAT(r.out, HasSubstr("\"valid\": false"));
}

}  // namespace
