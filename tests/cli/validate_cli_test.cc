// `bosun validate` as a user runs it: the real binary on real files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using bosun::test::Outcome;
using bosun::test::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

Outcome Bosun(const std::string& args) { return bosun::test::RunCommand(std::string(BOSUN_BINARY) + " " + args); }

TEST(ValidateCli, ExamplesRepoIsValidAndSummarised) {
  Outcome r = Bosun("validate --summary " BOSUN_SOURCE_DIR "/examples-repo");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Deployment"));
  EXPECT_THAT(r.out, HasSubstr("(cluster)"));
  EXPECT_THAT(r.out, ::testing::MatchesRegex("(.|\n)*valid: 11 files, 11 objects, 0 errors(.|\n)*"));
}

TEST(ValidateCli, BrokenManifestsExitOneWithEveryErrorLocated) {
  TempDir d;
  d.Write("apps/web.yaml",
          "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: "
          "web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: "
          "web\n          ports: [{containerPort: 80}]\n");
  d.Write("apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n");
  d.Write("apps/notes.txt", "not a manifest: [");
  d.Write(".git/config.yaml", "this: [is not checked");
  Outcome r = Bosun("validate " + d.path());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr(d.path() + "/apps/web.yaml:13:11: spec.template.spec.containers[0].image: required"));
  EXPECT_THAT(r.out, HasSubstr(d.path() + "/apps/cm.yaml:4:9: metadata.name: "));
  EXPECT_THAT(r.out, HasSubstr("INVALID: 2 files, 2 objects, 2 errors"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr(".git")));
}

// A repository with kustomize's and mkdocs' YAML beside its manifests: the
// check fails on them until .bosunignore names them, and then passes.
TEST(ValidateCli, WhatBosunignoreNamesIsNotRead) {
  TempDir d;
  d.Write("apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n");
  d.Write("apps/kustomization.yaml", "resources:\n  - cm.yaml\n");
  d.Write("mkdocs.yml", "site_name: ops\n");
  Outcome before = Bosun("validate " + d.path());
  EXPECT_EQ(before.exit_code, 1) << before.out;
  EXPECT_THAT(before.out, HasSubstr(d.path() + "/apps/kustomization.yaml:"));

  d.Write(".bosunignore", "# not Kubernetes objects\nkustomization.yaml\n/mkdocs.yml\n");
  Outcome after = Bosun("validate " + d.path());
  EXPECT_EQ(after.exit_code, 0) << after.out;
  EXPECT_THAT(after.out, HasSubstr("valid: 1 file, 1 object"));
}

// As the sync takes it: a misspelt field fails the check (kubectl's
// --validate=strict), unless the flag or the repository's SyncConfig says
// warn or ignore.
TEST(ValidateCli, AMisspeltFieldFailsTheCheckUnlessToldOtherwise) {
  TempDir d;
  d.Write("web.yaml",
          "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replica: 3\n  selector:\n    "
          "matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      "
          "containers: [{name: web, image: nginx}]\n");
  Outcome strict = Bosun("validate " + d.path());
  EXPECT_EQ(strict.exit_code, 1) << strict.out;
  EXPECT_THAT(strict.out, HasSubstr(d.path() + "/web.yaml:6:12: spec.replica: unknown field \"replica\" (did you "
                                               "mean \"replicas\"?)"));
  EXPECT_THAT(strict.out, HasSubstr("INVALID: 1 file, 1 object, 1 error, 0 warnings"));

  Outcome warn = Bosun("validate --field-validation=warn " + d.path());
  EXPECT_EQ(warn.exit_code, 0) << warn.out;
  EXPECT_THAT(warn.out, HasSubstr("web.yaml:6:12: warning: spec.replica: unknown field"));
  EXPECT_EQ(Bosun("validate --field-validation=sloppy " + d.path()).exit_code, 2);

  d.Write("sync.yaml",
          "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\nspec:\n  "
          "fieldValidation: Ignore\n");
  Outcome ignored = Bosun("validate " + d.path());
  EXPECT_EQ(ignored.exit_code, 0) << ignored.out;
  EXPECT_THAT(ignored.out, HasSubstr("valid: 2 files, 2 objects, 0 errors, 0 warnings"));
  EXPECT_EQ(Bosun("validate --field-validation=Strict " + d.path()).exit_code, 1);
  EXPECT_EQ(Bosun("validate --field-validation " + d.path()).exit_code, 1) << "the flag alone is strict, as kubectl's";
}

TEST(ValidateCli, JsonOutputForMachines) {
  TempDir d;
  d.Write("a.json", R"({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": 1}})");
  Outcome r = Bosun("validate -o json " + d.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("\"field\": \"data.k\""));
  EXPECT_THAT(r.out, HasSubstr("\"line\": 1"));
  EXPECT_THAT(r.out, HasSubstr("\"valid\": false"));
}

// A pull request's check of one folder does not evaluate the repository's
// Policies kept in another (the cluster evaluates them on all it follows):
// it says so, and names them, rather than pass in silence.
TEST(ValidateCli, ASubfolderCheckNamesThePoliciesItDoesNotEvaluate) {
  TempDir d;
  d.Write("cluster/policy.yaml",
          "apiVersion: bosun.dev/v1\nkind: Policy\nmetadata: {name: baseline}\nspec:\n"
          "  rules:\n  - name: registries\n    allowedRegistries: [bosun.local/examples]\n");
  d.Write("api/pod.yaml",
          "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
          "  containers: [{name: c, image: docker.io/library/busybox}]\n");
  d.Write(".gitignore", "local/\n");
  d.Write("local/policy.yaml",
          "apiVersion: bosun.dev/v1\nkind: Policy\nmetadata: {name: mine}\nspec:\n"
          "  rules:\n  - name: p\n    forbid: [privileged]\n");
  ASSERT_EQ(bosun::test::RunCommand("git init -q " + d.path()).exit_code, 0);

  Outcome sub = Bosun("validate " + d.path() + "/api");
  EXPECT_EQ(sub.exit_code, 0) << sub.out;
  EXPECT_THAT(sub.out, HasSubstr("Not evaluated: 1 Policy of this repository outside the paths checked: "
                                 "cluster/policy.yaml (baseline). The cluster evaluates"));
  EXPECT_THAT(sub.out, Not(HasSubstr("mine")));  // git ignores it
  Outcome j = Bosun("validate -o json " + d.path() + "/api");
  EXPECT_THAT(j.out, HasSubstr("\"policiesNotEvaluated\": [\n    \"cluster/policy.yaml (baseline)\""));

  Outcome whole = Bosun("validate " + d.path());
  EXPECT_EQ(whole.exit_code, 1) << whole.out;
  EXPECT_THAT(whole.out, HasSubstr("api/pod.yaml"));
  EXPECT_THAT(whole.out, HasSubstr("registries"));
  EXPECT_THAT(whole.out, Not(HasSubstr("Not evaluated")));
}

TEST(ValidateCli, MissingPathIsAUsageError) {
  Outcome r = Bosun("validate /nonexistent/bosun/path");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.out, HasSubstr("/nonexistent/bosun/path: no such file or directory"));
  EXPECT_EQ(Bosun("validate").exit_code, 2);
  EXPECT_EQ(Bosun("no-such-verb").exit_code, 2);
}

TEST(Cli, HelpOnEveryVerbAndVersion) {
  for (const char* v : {"", "validate ", "version "}) {
    Outcome r = Bosun(std::string(v) + "--help");
    EXPECT_EQ(r.exit_code, 0) << v;
    EXPECT_THAT(r.out, HasSubstr("Usage:")) << v;
  }
  // A flag's bare value is not printed as part of its name.
  Outcome v = Bosun("validate --help");
  EXPECT_THAT(v.out, HasSubstr("--field-validation[=strict|warn|ignore]"));
  EXPECT_THAT(v.out, Not(HasSubstr("{strict}")));
  Outcome s = Bosun("sync --help");
  EXPECT_THAT(s.out, HasSubstr("--wait,--no-wait "));
  EXPECT_THAT(s.out, Not(HasSubstr("{false}")));
  Outcome r = Bosun("version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, ::testing::StartsWith("bosun 0.1.0"));
}

}  // namespace
