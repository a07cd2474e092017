// Parsing Policy objects: well-formed ones become rules; every problem of a
// malformed one is reported at its file:line:col and field path.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/policies/policy_test_support.h"

namespace bosun::policies {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using test::Lines;
using test::OneRule;
using test::RunPolicies;

TEST(PolicyParse, AFullPolicyBecomesItsRules) {
  auto o = RunPolicies({{"policies/baseline.yaml",
                 "apiVersion: bosun.dev/v1\n"
                 "kind: Policy\n"
                 "metadata:\n  name: baseline\n"
                 "spec:\n"
                 "  action: warn\n"
                 "  rules:\n"
                 "    - name: registries\n"
                 "      action: enforce\n"
                 "      match: {kinds: [Deployment, Job], namespaces: [web, team-*]}\n"
                 "      allowedRegistries: [registry.local, ghcr.io/acme/]\n"
                 "    - name: digests\n"
                 "      requireDigest: true\n"
                 "    - name: resources\n"
                 "      requireResources: {requests: [cpu, memory], limits: [memory]}\n"
                 "    - name: host\n"
                 "      forbid: [privileged, hostNetwork, hostPath, runAsRoot, hostPID, hostIPC]\n"
                 "    - name: labels\n"
                 "      requiredLabels: [app, team=payments]\n"
                 "    - name: replicas\n"
                 "      maxReplicas: 5\n"
                 "    - name: folders\n"
                 "      paths: {\"./apps/web/\": [web], apps/api: [api, api-staging]}\n"}});
  EXPECT_TRUE(o.policies.diagnostics.empty()) << ::testing::PrintToString(Lines(o.policies));
  ASSERT_EQ(o.policies.policies.size(), 1u);
  const Policy& p = o.policies.policies[0];
  EXPECT_EQ(p.name, "baseline");
  ASSERT_EQ(p.rules.size(), 7u);
  EXPECT_EQ(p.rules[0].action, Action::kEnforce);  // the rule's own action wins
  EXPECT_EQ(p.rules[1].action, Action::kWarn);     // the policy's default
  EXPECT_THAT(p.rules[0].match.kinds, ElementsAre("Deployment", "Job"));
  EXPECT_THAT(p.rules[0].match.namespaces, ElementsAre("web", "team-*"));
  EXPECT_THAT(p.rules[0].registries, ElementsAre("registry.local", "ghcr.io/acme"));
  EXPECT_EQ(p.rules[1].check, Rule::Check::kRequireDigest);
  EXPECT_THAT(p.rules[2].requests, ElementsAre("cpu", "memory"));
  EXPECT_THAT(p.rules[2].limits, ElementsAre("memory"));
  EXPECT_EQ(p.rules[3].forbid.size(), 6u);
  EXPECT_THAT(p.rules[4].labels, ElementsAre("app", "team=payments"));
  EXPECT_EQ(p.rules[5].max_replicas, 5);
  ASSERT_EQ(p.rules[6].paths.size(), 2u);
  EXPECT_EQ(p.rules[6].paths[0].first, "apps/web/");  // "./" dropped
}

TEST(PolicyParse, EveryProblemIsLocatedByLineColumnAndField) {
  auto o = RunPolicies({{"pol.yaml",
                 "apiVersion: bosun.dev/v1\n"          // 1
                 "kind: Policy\n"                      // 2
                 "metadata:\n  name: broken\n"         // 3-4
                 "spec:\n"                             // 5
                 "  rules:\n"                          // 6
                 "    - name: host\n"                  // 7
                 "      forbid: [privileged, hostNetwrok]\n"  // 8
                 "    - name: two\n"                   // 9
                 "      requireDigest: true\n"         // 10
                 "      maxReplicas: 3\n"              // 11
                 "    - action: block\n"               // 12
                 "      allowedRegistry: [x]\n"        // 13
                 "    - name: reps\n"                  // 14
                 "      maxReplicas: \"3\"\n"          // 15
                 "    - name: kinds\n"                 // 16
                 "      match: {kinds: [deployment]}\n"  // 17
                 "      requireResources: {requests: [gpu]}\n"}});  // 18
  EXPECT_TRUE(o.policies.policies.empty());
  EXPECT_FALSE(o.policies.ok());
  auto lines = Lines(o.policies);
  EXPECT_THAT(lines, ::testing::Contains(
                         "pol.yaml:8:28: spec.rules[0].forbid[1]: unsupported value \"hostNetwrok\": must be one of "
                         "privileged, hostNetwork, hostPath, runAsRoot, hostPID, hostIPC (did you mean "
                         "\"hostNetwork\"?)"));
  EXPECT_THAT(lines, ::testing::Contains(
                         "pol.yaml:11:20: spec.rules[1].maxReplicas: a rule has one check and this one already has "
                         "\"requireDigest\"; split them into two rules"));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr(
                         "pol.yaml:12:15: spec.rules[2].action: unsupported value \"block\": must be \"enforce\"")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("spec.rules[2].name: required")));
  EXPECT_THAT(lines,
              ::testing::Contains("pol.yaml:13:24: spec.rules[2].allowedRegistry: unknown field \"allowedRegistry\" "
                                  "(did you mean \"allowedRegistries\"?)"));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("spec.rules[2]: a rule needs one check: allowedRegistries")));
  EXPECT_THAT(lines, ::testing::Contains(
                         "pol.yaml:15:20: spec.rules[3].maxReplicas: must be a number, not a string (remove the "
                         "quotes around \"3\")"));
  EXPECT_THAT(lines, ::testing::Contains(
                         "pol.yaml:17:23: spec.rules[4].match.kinds[0]: unknown kind \"deployment\" (did you mean "
                         "\"Deployment\"?)"));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr(
                         "pol.yaml:18:37: spec.rules[4].requireResources.requests[0]: unsupported resource \"gpu\"")));
}

TEST(PolicyParse, MissingRulesDuplicateNamesAndBadPaths) {
  auto o = RunPolicies({{"a.yaml", "apiVersion: bosun.dev/v1\nkind: Policy\nmetadata:\n  name: a\nspec: {}\n"},
                {"b.yaml", OneRule("      requireDigest: true\n    - name: r\n      maxReplicas: 2\n", "b")},
                {"c.yaml", OneRule("      paths: {\"../other/\": [x], apps/: []}\n", "c")},
                {"d.yaml", OneRule("      requireDigest: false\n", "d")}});
  EXPECT_TRUE(o.policies.policies.empty());
  auto lines = Lines(o.policies);
  EXPECT_THAT(lines, ::testing::Contains("a.yaml:5:7: spec.rules: required: a list of rules"));
  EXPECT_THAT(lines, ::testing::Contains("b.yaml:9:13: spec.rules[1].name: duplicate rule name \"r\" in policy \"b\""));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("c.yaml:8:28: spec.rules[0].paths[../other/]: a path is relative")));
  EXPECT_THAT(lines, ::testing::Contains("c.yaml:8:40: spec.rules[0].paths[apps/]: must list at least one value"));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("d.yaml:8:22: spec.rules[0].requireDigest: must be true")));
}

TEST(PolicyParse, OnlyPoliciesOfBosunDevAreRead) {
  auto o = RunPolicies({{"cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: policy\ndata: {kind: Policy}\n"}});
  EXPECT_TRUE(o.policies.policies.empty());
  EXPECT_TRUE(o.policies.diagnostics.empty());
  EXPECT_EQ(o.verdict.policies, 0u);
  EXPECT_FALSE(o.verdict.refused());
}

}  // namespace
}  // namespace bosun::policies
