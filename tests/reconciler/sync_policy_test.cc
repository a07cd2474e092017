// Policies from the repository in the sync controller (docs/POLICIES.md): a
// revision with an enforced violation is refused with every violation
// recorded and nothing applied; warnings are recorded and the revision
// applied; a Policy change counts from its own revision; an invalid Policy
// refuses the revision. Each case also runs the real `bosun validate` on the
// same commit's files and checks it reaches the same verdict with the same
// lines.
#include <gmock/gmock.h>

#include "reconciler/history.h"
#include "tests/reconciler/sync_test_support.h"

namespace bosun::reconciler::synctest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string PolicyYaml(const std::string& registries, const std::string& digest_action = "warn") {
  return "apiVersion: bosun.dev/v1\n"
         "kind: Policy\n"
         "metadata:\n"
         "  name: baseline\n"
         "spec:\n"
         "  rules:\n"
         "    - name: registries\n"
         "      allowedRegistries: [" + registries + "]\n"
         "    - name: digests\n"
         "      action: " + digest_action + "\n"
         "      requireDigest: true\n"
         "    - name: team-folders\n"
         "      paths: {apps/web/: [web]}\n";
}

class SyncPolicyTest : public SyncFixture {
 protected:
  struct Validated {
    int exit_code;
    std::vector<std::string> lines;  // diagnostics, with the folder prefix removed
    std::string out;
  };
  // `bosun validate` on the repository's work tree, as a pull-request check
  // runs it (the work tree is the commit just made).
  Validated Validate(const std::string& sub = "") {
    std::string dir = repo_.dir() + (sub.empty() ? "" : "/" + sub);
    auto r = RunCommand(std::string(BOSUN_BINARY) + " validate " + dir);
    Validated v{r.exit_code, {}, r.out};
    std::string prefix = dir + "/";
    size_t start = 0;
    while (start < r.out.size()) {
      size_t end = r.out.find('\n', start);
      std::string line = r.out.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (line.rfind(prefix, 0) == 0) v.lines.push_back(line.substr(prefix.size()));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    std::sort(v.lines.begin(), v.lines.end());
    return v;
  }
  // The record's errors then warnings, with validate's "warning: " marks.
  static std::vector<std::string> RecordLines(const Object& rec) {
    std::vector<std::string> out = Strings(rec.status()["errors"]);
    for (const std::string& w : Strings(rec.status()["warnings"])) out.push_back(w);
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_F(SyncPolicyTest, EnforcedViolationsRefuseTheRevisionAndValidateAgrees) {
  std::string good = DeploymentYaml("web", "web", 1, "registry.local/web:1");
  std::string c1 = repo_.Commit({{"policies/baseline.yaml", PolicyYaml("registry.local")},
                                 {"apps/web/ns.yaml", NamespaceYaml("web")},
                                 {"apps/web/deployment.yaml", good}},
                                "web with a policy");
  MakeController();

  // Revision 1 passes the enforced rules; the digest rule only warns.
  Validated v1 = Validate();
  EXPECT_EQ(v1.exit_code, 0) << v1.out;
  ASSERT_EQ(Sync(), "00000001");
  Object r1 = Record("00000001");
  EXPECT_EQ(r1.status()["phase"], "Applied") << r1.status().dump();
  EXPECT_THAT(Strings(r1.status()["warnings"]),
              ElementsAre("apps/web/deployment.yaml:18:16: warning: spec.template.spec.containers[0].image: image "
                          "\"registry.local/web:1\" is not pinned by digest, required by policy baseline rule digests "
                          "(write it as name@sha256:<64 hex digits>)"));
  EXPECT_EQ(v1.lines, RecordLines(r1));
  const Json& pol1 = r1.status()["policy"];
  EXPECT_EQ(pol1["verdict"], "Warned");
  EXPECT_EQ(pol1["policies"], Json::array({"baseline"}));
  EXPECT_EQ(pol1["rules"], 3);
  ASSERT_EQ(pol1["violations"].size(), 1u);
  EXPECT_EQ(pol1["violations"][0]["rule"], "digests");
  EXPECT_EQ(pol1["violations"][0]["action"], "warn");
  EXPECT_EQ(pol1["violations"][0]["line"], 18);
  ASSERT_TRUE(Live("deployments", "web", "web"));

  // Revision 2 pulls from Docker Hub and writes outside its folder's
  // namespace: refused with both violations, nothing of it applied.
  std::string c2 = repo_.Commit({{"apps/web/deployment.yaml", DeploymentYaml("web", "web", 3, "nginx:1.25")},
                                 {"apps/web/cm.yaml", ConfigMapYaml("settings", "payments", "x")}},
                                "docker hub");
  Validated v2 = Validate();
  EXPECT_EQ(v2.exit_code, 1) << v2.out;
  EXPECT_THAT(v2.out, HasSubstr("INVALID"));
  ASSERT_EQ(Sync(), "00000002");
  Object r2 = Record("00000002");
  const Json& st = r2.status();
  EXPECT_EQ(st["phase"], "Refused");
  EXPECT_EQ(st["reason"], "PolicyViolation");
  EXPECT_THAT(Strings(st["errors"]),
              ElementsAre("apps/web/cm.yaml:5:14: metadata.namespace: namespace \"payments\" is not allowed: objects "
                          "of apps/web/ may only write to namespaces web (policy baseline rule team-folders)",
                          "apps/web/deployment.yaml:18:16: spec.template.spec.containers[0].image: registry "
                          "\"docker.io\" is not allowed by policy baseline rule registries (allowed: registry.local)"));
  EXPECT_THAT(Strings(st["warnings"]), ElementsAre(HasSubstr("rule digests")));
  EXPECT_THAT(st["message"].get<std::string>(),
              HasSubstr("2 policy violations (baseline/registries, baseline/team-folders); 1 policy warning "
                        "(baseline/digests); nothing of it was applied, " + c1.substr(0, 7) + " stays live"));
  EXPECT_EQ(st["policy"]["verdict"], "Refused");
  EXPECT_EQ(st["policy"]["violations"].size(), 3u);
  // The same lines, the same verdict.
  EXPECT_EQ(v2.lines, RecordLines(r2));

  // Nothing of revision 2 reached the cluster.
  EXPECT_FALSE(Live("configmaps", "payments", "settings"));
  auto live = Live("deployments", "web", "web");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->spec()["replicas"], 1);
  EXPECT_EQ(live->spec()["template"]["spec"]["containers"][0]["image"], "registry.local/web:1");
  Object repo = Repository();
  EXPECT_EQ(repo.status()["liveRevision"], c1);
  EXPECT_THAT(repo.status()["lastSyncError"].get<std::string>(),
              HasSubstr("revision " + c2.substr(0, 7) + " refused: 2 policy violations"));
  EXPECT_EQ(Sync(), "");  // the refused head is not tried again

  // Revision 3 changes the Policy itself: it counts from this revision on.
  repo_.Commit({{"policies/baseline.yaml", PolicyYaml("registry.local, docker.io")},
                                 {"apps/web/cm.yaml", std::nullopt}},
                                "allow docker hub");
  Validated v3 = Validate();
  EXPECT_EQ(v3.exit_code, 0) << v3.out;
  ASSERT_EQ(Sync(), "00000003");
  Object r3 = Record("00000003");
  EXPECT_EQ(r3.status()["phase"], "Applied") << r3.status().dump();
  EXPECT_EQ(v3.lines, RecordLines(r3));
  EXPECT_EQ(Live("deployments", "web", "web")->spec()["template"]["spec"]["containers"][0]["image"], "nginx:1.25");
}

TEST_F(SyncPolicyTest, AnInvalidPolicyRefusesTheRevisionAndValidateAgrees) {
  std::string bad = PolicyYaml("registry.local");
  bad.replace(bad.find("requireDigest: true"), 19, "requireDigest: yes please");
  repo_.Commit({{"policies/baseline.yaml", bad}, {"apps/web/cm.yaml", ConfigMapYaml("c", "web", "x")}});
  MakeController();
  Validated v = Validate();
  EXPECT_EQ(v.exit_code, 1) << v.out;
  ASSERT_EQ(Sync(), "00000001");
  Object r = Record("00000001");
  EXPECT_EQ(r.status()["phase"], "Refused");
  EXPECT_EQ(r.status()["reason"], "InvalidPolicy");
  EXPECT_THAT(Strings(r.status()["errors"]),
              ElementsAre("policies/baseline.yaml:11:22: spec.rules[1].requireDigest: must be true or false, not a "
                          "string"));
  EXPECT_EQ(v.lines, RecordLines(r));
  EXPECT_EQ(r.status()["policy"]["verdict"], "Invalid");
  EXPECT_FALSE(Live("configmaps", "web", "c"));
}

// One commit, a schema error and a policy violation: the refusal lists
// both, as `bosun validate` does, so its author needs one round trip.
TEST_F(SyncPolicyTest, ARevisionRefusedForItsManifestsListsItsPolicyViolationsToo) {
  std::string bad = DeploymentYaml("web", "web", 1, "nginx:1.25");
  bad.replace(bad.find("replicas: 1"), 11, "replicas: \"5\"");
  repo_.Commit({{"policies/baseline.yaml", PolicyYaml("registry.local")},
                {"apps/web/ns.yaml", NamespaceYaml("web")},
                {"apps/web/deployment.yaml", bad}},
               "docker hub, five as a string");
  MakeController();
  Validated v = Validate();
  EXPECT_EQ(v.exit_code, 1) << v.out;
  ASSERT_EQ(Sync(), "00000001");
  Object r = Record("00000001");
  const Json& st = r.status();
  EXPECT_EQ(st["phase"], "Refused");
  EXPECT_EQ(st["reason"], "InvalidManifests");
  EXPECT_THAT(Strings(st["errors"]),
              ElementsAre(HasSubstr("apps/web/deployment.yaml:7:13: spec.replicas: must be a number, not a string"),
                          HasSubstr("apps/web/deployment.yaml:18:16: spec.template.spec.containers[0].image: registry "
                                    "\"docker.io\" is not allowed by policy baseline rule registries")));
  EXPECT_THAT(st["message"].get<std::string>(),
              HasSubstr("1 invalid manifest (1 error); and 1 policy violation (baseline/registries)"));
  EXPECT_EQ(st["policy"]["verdict"], "Refused");
  EXPECT_EQ(v.lines, RecordLines(r));
  EXPECT_FALSE(Live("namespaces", "", "web"));
}

TEST_F(SyncPolicyTest, PathsAreRelativeToTheSyncedFolderInBoth) {
  repo_.Commit({{"deploy/policies/baseline.yaml", PolicyYaml("registry.local")},
                {"deploy/apps/web/cm.yaml", ConfigMapYaml("c", "payments", "x")},
                {"README.md", std::string("not synced\n")}});
  MakeController([](SyncOptions& o) { o.path = "deploy"; });
  Validated v = Validate("deploy");
  EXPECT_EQ(v.exit_code, 1) << v.out;
  ASSERT_EQ(Sync(), "00000001");
  Object r = Record("00000001");
  EXPECT_EQ(r.status()["reason"], "PolicyViolation");
  EXPECT_THAT(Strings(r.status()["errors"]),
              ElementsAre(HasSubstr("deploy/apps/web/cm.yaml:5:14: metadata.namespace: namespace \"payments\" is not "
                                    "allowed: objects of apps/web/ may only write to namespaces web")));
  // validate names files under the folder it was given; the cluster under
  // the repository root.
  ASSERT_EQ(v.lines.size(), 1u);
  EXPECT_EQ("deploy/" + v.lines[0], Strings(r.status()["errors"])[0]);
}

}  // namespace
}  // namespace bosun::reconciler::synctest
