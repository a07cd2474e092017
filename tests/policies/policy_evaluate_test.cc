// Each rule on good and bad manifests; enforce vs warn; match by kind and
// namespace; positions of violations.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/policies/policy_test_support.h"

namespace bosun::policies {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using test::Deployment;
using test::Lines;
using test::OneRule;
using test::RunPolicies;

constexpr const char* kDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(PolicyEvaluate, AllowedRegistriesNamesTheRegistryAtTheImage) {
  auto o = RunPolicies({{"policy.yaml", OneRule("      allowedRegistries: [registry.local, ghcr.io/acme]\n")},
                {"web/deployment.yaml", Deployment("web", "web", "nginx:1.25")},
                {"web/ok.yaml", Deployment("ok", "web", "registry.local/web:1")},
                {"web/acme.yaml", Deployment("acme", "web", "ghcr.io/acme/tools/x@" + std::string(kDigest))},
                {"web/other.yaml", Deployment("other", "web", "ghcr.io/acmeevil/x:1")},
                {"web/port.yaml", Deployment("port", "web", "localhost:5000/x")}});
  EXPECT_THAT(Lines(o.verdict),
              ElementsAre("web/deployment.yaml:16:18: spec.template.spec.containers[0].image: registry \"docker.io\" "
                          "is not allowed by policy baseline rule r (allowed: registry.local, ghcr.io/acme)",
                          "web/other.yaml:16:18: spec.template.spec.containers[0].image: registry \"ghcr.io\" is not "
                          "allowed by policy baseline rule r (allowed: registry.local, ghcr.io/acme)",
                          HasSubstr("web/port.yaml:16:18: spec.template.spec.containers[0].image: registry "
                                    "\"localhost:5000\"")));
  EXPECT_TRUE(o.verdict.refused());
  EXPECT_EQ(o.verdict.violations[0].policy, "baseline");
  EXPECT_EQ(o.verdict.violations[0].rule, "r");
}

// An empty image names no registry and no digest: validation reports it as
// required, and the policy adds nothing about "docker.io".
TEST(PolicyEvaluate, AnEmptyImageIsLeftToValidation) {
  auto o =
      RunPolicies({{"policy.yaml", OneRule("      allowedRegistries: [registry.local]\n      requireDigest: true\n")},
                   {"web/deployment.yaml", Deployment("web", "web", "\"\"")}},
                  /*invalid_ok=*/true);
  EXPECT_THAT(Lines(o.verdict), IsEmpty());
}

TEST(PolicyEvaluate, RequireDigestLooksAtInitContainersToo) {
  std::string init = "      initContainers:\n        - name: setup\n          image: registry.local/setup:1\n";
  auto o = RunPolicies({{"p.yaml", OneRule("      requireDigest: true\n")},
                {"good.yaml", Deployment("good", "web", "registry.local/web@" + std::string(kDigest))},
                {"bad.yaml", Deployment("bad", "web", "registry.local/web@" + std::string(kDigest), "", init)},
                {"short.yaml", Deployment("short", "web", "registry.local/web@sha256:abc")}});
  EXPECT_THAT(Lines(o.verdict),
              ElementsAre(HasSubstr("bad.yaml:16:18: spec.template.spec.initContainers[0].image: image "
                                    "\"registry.local/setup:1\" is not pinned by digest, required by policy baseline "
                                    "rule r"),
                          HasSubstr("short.yaml:16:18: spec.template.spec.containers[0].image: image "
                                    "\"registry.local/web@sha256:abc\" has a malformed digest")));
}

TEST(PolicyEvaluate, RequireResourcesPointsAtTheMissingField) {
  std::string full = "          resources:\n            requests: {cpu: 100m, memory: 64Mi}\n            limits: "
                     "{memory: 64Mi}\n";
  std::string limits_only = "          resources:\n            limits: {cpu: 1, memory: 64Mi}\n";
  std::string partial = "          resources:\n            requests: {cpu: 100m}\n";
  auto o = RunPolicies({{"p.yaml", OneRule("      requireResources: {requests: [cpu, memory], limits: [memory]}\n")},
                {"full.yaml", Deployment("full", "web", "x", full)},
                {"limits.yaml", Deployment("limits", "web", "x", limits_only)},  // a limit is also the request
                {"partial.yaml", Deployment("partial", "web", "x", partial)},
                {"none.yaml", Deployment("none", "web", "x")}});
  EXPECT_THAT(Lines(o.verdict),
              ElementsAre("none.yaml:15:11: spec.template.spec.containers[0].resources.requests.cpu: container "
                          "\"none\" has no cpu request, required by policy baseline rule r",
                          HasSubstr("none.yaml:15:11: spec.template.spec.containers[0].resources.requests.memory"),
                          HasSubstr("none.yaml:15:11: spec.template.spec.containers[0].resources.limits.memory"),
                          HasSubstr("partial.yaml:18:13: spec.template.spec.containers[0].resources.limits.memory"),
                          "partial.yaml:18:23: spec.template.spec.containers[0].resources.requests.memory: container "
                          "\"partial\" has no memory request, required by policy baseline rule r"));
}

TEST(PolicyEvaluate, ForbidEachHostAccess) {
  auto o = RunPolicies(
      {{"p.yaml", OneRule("      forbid: [privileged, hostNetwork, hostPath, hostPID, hostIPC]\n")},
       {"good.yaml", Deployment("good", "web", "x", "          securityContext: {privileged: false}\n",
                                "      hostNetwork: false\n      volumes: [{name: d, emptyDir: {}}]\n")},
       {"priv.yaml", Deployment("priv", "web", "x", "          securityContext: {privileged: true}\n")},
       {"net.yaml", Deployment("net", "web", "x", "", "      hostNetwork: true\n      hostPID: true\n      hostIPC: true\n")},
       {"vol.yaml", Deployment("vol", "web", "x", "", "      volumes: [{name: data, hostPath: {path: /var/lib}}]\n")}});
  EXPECT_THAT(Lines(o.verdict),
              ElementsAre(HasSubstr("net.yaml:14:20: spec.template.spec.hostNetwork: hostNetwork is forbidden by "
                                    "policy baseline rule r"),
                          HasSubstr("net.yaml:15:16: spec.template.spec.hostPID: hostPID is forbidden"),
                          HasSubstr("net.yaml:16:16: spec.template.spec.hostIPC: hostIPC is forbidden"),
                          "priv.yaml:17:41: spec.template.spec.containers[0].securityContext.privileged: container "
                          "\"priv\" is privileged, forbidden by policy baseline rule r",
                          "vol.yaml:14:40: spec.template.spec.volumes[0].hostPath: hostPath volume \"data\" "
                          "(/var/lib) is forbidden by policy baseline rule r"));
}

TEST(PolicyEvaluate, RunAsRootNeedsAGuaranteeOnTheContainerOrItsPod) {
  auto o = RunPolicies({{"p.yaml", OneRule("      forbid: [runAsRoot]\n")},
                {"pod-nonroot.yaml", Deployment("a", "web", "x", "", "      securityContext: {runAsNonRoot: true}\n")},
                {"uid.yaml", Deployment("b", "web", "x", "          securityContext: {runAsUser: 1000}\n")},
                {"root.yaml", Deployment("c", "web", "x", "          securityContext: {runAsUser: 0}\n",
                                         "      securityContext: {runAsNonRoot: true}\n")},
                {"unknown.yaml", Deployment("d", "web", "x")},
                {"override.yaml", Deployment("e", "web", "x", "          securityContext: {runAsNonRoot: false}\n",
                                             "      securityContext: {runAsNonRoot: true}\n")}});
  EXPECT_THAT(Lines(o.verdict),
              ElementsAre(HasSubstr("override.yaml:18:43: spec.template.spec.containers[0].securityContext."
                                    "runAsNonRoot: container \"e\" may run as root"),
                          "root.yaml:18:40: spec.template.spec.containers[0].securityContext.runAsUser: container "
                          "\"c\" runs as root (runAsUser: 0), forbidden by policy baseline rule r",
                          "unknown.yaml:15:11: spec.template.spec.containers[0]: container \"d\" may run as root, "
                          "forbidden by policy baseline rule r (set securityContext.runAsNonRoot: true or a non-zero "
                          "runAsUser)"));
}

TEST(PolicyEvaluate, RequiredLabelsWithAndWithoutValues) {
  auto o = RunPolicies({{"p.yaml", OneRule("      match: {kinds: [Deployment]}\n      requiredLabels: [app, team=web]\n")},
                {"bad.yaml", Deployment("bad", "web", "x")},
                {"wrong.yaml", [] {
                   std::string s = Deployment("wrong", "web", "x");
                   s.replace(s.find("{app: wrong}"), 12, "{app: wrong, team: api}");
                   return s;
                 }()},
                {"cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: web\n"}});
  EXPECT_THAT(Lines(o.verdict),
              ElementsAre("bad.yaml:6:11: metadata.labels.team: Deployment \"bad\" has no label \"team\", required by "
                          "policy baseline rule r",
                          HasSubstr("wrong.yaml:")));
}

TEST(PolicyEvaluate, MaxReplicasCountsTheDefaultOfOne) {
  auto o = RunPolicies({{"p.yaml", OneRule("      maxReplicas: 3\n")},
                {"ok.yaml", Deployment("ok", "web", "x", "", "", "  replicas: 3\n")},
                {"big.yaml", Deployment("big", "web", "x", "", "", "  replicas: 20\n")},
                {"zero.yaml", OneRule("      maxReplicas: 0\n", "none")}});
  EXPECT_THAT(Lines(o.verdict),
              ElementsAre("big.yaml:8:13: spec.replicas: replicas 20 is more than 3, the maximum of policy baseline "
                          "rule r",
                          HasSubstr("big.yaml:8:13: spec.replicas: replicas 20 is more than 0, the maximum of policy "
                                    "none rule r"),
                          "ok.yaml:8:13: spec.replicas: replicas 3 is more than 0, the maximum of policy none rule r"));
}

TEST(PolicyEvaluate, PathsKeepAFolderInItsNamespaces) {
  auto o = RunPolicies({{"policies/p.yaml", OneRule("      paths: {apps/web/: [web], apps/web/admin/: [web-admin]}\n")},
                {"apps/web/ok.yaml", Deployment("ok", "web", "x")},
                {"apps/web/bad.yaml", Deployment("bad", "payments", "x")},
                {"apps/web/admin/ok.yaml", Deployment("admin", "web-admin", "x")},  // the longest folder decides
                {"apps/web/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n"},
                {"apps/web/ns2.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: payments\n"},
                {"apps/web/pol.yaml", OneRule("      maxReplicas: 100\n", "sneaky")},
                {"apps/webby/free.yaml", Deployment("free", "payments", "x")},
                {"apps/api/free.yaml", Deployment("api", "payments", "x")}});
  EXPECT_THAT(Lines(o.verdict),
              ElementsAre("apps/web/bad.yaml:5:14: metadata.namespace: namespace \"payments\" is not allowed: objects "
                          "of apps/web/ may only write to namespaces web (policy baseline rule r)",
                          HasSubstr("apps/web/ns2.yaml:4:9: metadata.name: Namespace \"payments\" is not allowed"),
                          HasSubstr("apps/web/pol.yaml:2:7: kind: a cluster-scoped Policy is not allowed")));
}

TEST(PolicyEvaluate, WarnRecordsWithoutRefusing) {
  auto o = RunPolicies({{"p.yaml", OneRule("      action: warn\n      maxReplicas: 1\n")},
                {"big.yaml", Deployment("big", "web", "x", "", "", "  replicas: 2\n")}});
  ASSERT_EQ(o.verdict.violations.size(), 1u);
  EXPECT_FALSE(o.verdict.refused());
  EXPECT_EQ(o.verdict.warned(), 1u);
  EXPECT_EQ(o.verdict.violations[0].action, Action::kWarn);
  EXPECT_THAT(Lines(o.verdict), ElementsAre(HasSubstr("big.yaml:8:13: warning: spec.replicas: replicas 2")));
  EXPECT_EQ(o.verdict.Summary(), "1 policy warning (baseline/r)");
}

TEST(PolicyEvaluate, EnforceAndWarnTogether) {
  auto o = RunPolicies({{"p.yaml", "apiVersion: bosun.dev/v1\nkind: Policy\nmetadata:\n  name: p\nspec:\n  rules:\n"
                           "    - {name: size, action: warn, maxReplicas: 1}\n"
                           "    - {name: digests, requireDigest: true}\n"},
                {"big.yaml", Deployment("big", "web", "x:1", "", "", "  replicas: 2\n")}});
  EXPECT_TRUE(o.verdict.refused());
  EXPECT_EQ(o.verdict.enforced(), 1u);
  EXPECT_EQ(o.verdict.warned(), 1u);
  EXPECT_EQ(o.verdict.Summary(), "1 policy violation (p/digests); 1 policy warning (p/size)");
}

TEST(PolicyEvaluate, MatchByKindAndNamespace) {
  std::string job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\n  namespace: team-a\nspec:\n  template:\n"
                    "    spec:\n      restartPolicy: Never\n      containers:\n        - {name: j, image: x}\n";
  std::string pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - {name: p, image: x}\n";
  auto o = RunPolicies({{"p.yaml", OneRule("      match: {kinds: [Job, Pod], namespaces: [team-*, default]}\n"
                                   "      requireDigest: true\n")},
                {"dep.yaml", Deployment("d", "team-a", "x")},  // not a matched kind
                {"job.yaml", job},                             // team-* matches team-a
                {"job2.yaml", [&] {
                   std::string s = job;
                   s.replace(s.find("team-a"), 6, "prod");
                   return s;
                 }()},                                         // not a matched namespace
                {"pod.yaml", pod}});                           // no namespace: "default"
  EXPECT_THAT(Lines(o.verdict), ElementsAre(HasSubstr("job.yaml:11:28: spec.template.spec.containers[0].image"),
                                            HasSubstr("pod.yaml:7:24: spec.containers[0].image")));
}

TEST(PolicyEvaluate, NoPoliciesPassAndSummarise) {
  auto o = RunPolicies({{"d.yaml", Deployment("d", "web", "nginx")}});
  EXPECT_THAT(o.verdict.violations, IsEmpty());
  EXPECT_EQ(o.verdict.Summary(), "0 policies (0 rules) passed");
}

TEST(PolicyRelativePath, StripsTheSyncedFolder) {
  EXPECT_EQ(RelativePath("deploy/apps/x.yaml", "deploy"), "apps/x.yaml");
  EXPECT_EQ(RelativePath("deploy/apps/x.yaml", "./deploy/"), "apps/x.yaml");
  EXPECT_EQ(RelativePath("deployx/a.yaml", "deploy"), "deployx/a.yaml");
  EXPECT_EQ(RelativePath("./apps/x.yaml", "."), "apps/x.yaml");
  EXPECT_EQ(RelativePath("apps/x.yaml", ""), "apps/x.yaml");
  EXPECT_EQ(RelativePath("/tmp/r/apps/x.yaml", "/tmp/r"), "apps/x.yaml");
}

}  // namespace
}  // namespace bosun::policies
