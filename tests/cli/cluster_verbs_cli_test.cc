// `bosun get|apply|delete|members` as a user runs them, for the mistakes that
// need no cluster: wrong arguments, unknown kinds, a missing token, a server
// that is not there. (The verbs against a real API server are tested in
// tests/state/client_real_test.cc, which can start one.)
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using bosun::test::Outcome;
using bosun::test::TempDir;

// Runs bosun in an environment without BOSUN_SERVER and BOSUN_TOKEN_FILE (the
// defaults must not come from the developer's shell), plus `env`.
Outcome Bosun(const std::string& args, const std::string& env = "") {
  return bosun::test::RunCommand("env -u BOSUN_SERVER -u BOSUN_TOKEN_FILE " + env + " " + std::string(BOSUN_BINARY) +
                                 " " + args);
}


// Nothing listens on port 1 of the loopback address.
constexpr const char* kDeadServer = "http://127.0.0.1:1";

TEST(ClientVerbsCli, EveryVerbHasHelp) {
  for (const char* verb : {"get", "apply", "delete", "members", "members remove", "api-resources"}) {
    Outcome r = Bosun(std::string(verb) + " --help");
    EXPECT_EQ(r.exit_code, 0) << verb << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr("--server")) << verb;
    EXPECT_THAT(r.out, HasSubstr("--token-file")) << verb;
    EXPECT_THAT(r.out, HasSubstr("BOSUN_SERVER")) << verb;
  }
}

TEST(ClientVerbsCli, UnknownKindNamesTheKnownOnes) {
  TempDir d;
  std::string token = d.Write("admin.token", "bosun_test\n");
  Outcome r = Bosun("get widgets --server " + std::string(kDeadServer) + " --token-file " + token);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("bosun get: bosun has no resource type \"widgets\"; it knows "));
  EXPECT_THAT(r.out, HasSubstr("deployments.apps (deploy)"));
  EXPECT_THAT(r.out, HasSubstr("pods (po)"));
  // The kind is checked before anything is sent.
  EXPECT_THAT(r.out, Not(HasSubstr("cannot reach")));

  Outcome del = Bosun("delete widgets w --token-file " + token);
  EXPECT_EQ(del.exit_code, 1) << del.out;
  EXPECT_THAT(del.out, HasSubstr("bosun delete: bosun has no resource type \"widgets\""));
}

TEST(ClientVerbsCli, ApplyWithoutFilesIsAUsageError) {
  Outcome r = Bosun("apply");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--filename is required"));
}

TEST(ClientVerbsCli, DeleteNeedsKindAndNameOrFiles) {
  Outcome none = Bosun("delete");
  EXPECT_EQ(none.exit_code, 2) << none.out;
  EXPECT_THAT(none.out, HasSubstr("bosun delete: give KIND NAME"));
  Outcome one = Bosun("delete deploy");
  EXPECT_EQ(one.exit_code, 2) << one.out;
  Outcome both = Bosun("delete deploy web -f x.yaml");
  EXPECT_EQ(both.exit_code, 2) << both.out;
  EXPECT_THAT(both.out, HasSubstr("not both"));
}

TEST(ClientVerbsCli, GetByNameAcrossNamespacesIsAUsageError) {
  Outcome r = Bosun("get deploy web -A");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("bosun get: a NAME cannot be looked up across all namespaces"));
  Outcome bad_output = Bosun("get deploy -o table");
  EXPECT_EQ(bad_output.exit_code, 2) << bad_output.out;
}

TEST(ClientVerbsCli, MissingTokenFileSaysWhichAndHowToFixIt) {
  TempDir d;
  Outcome r = Bosun("get po --token-file " + d.path() + "/nope.token");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("bosun get: cannot read the token file " + d.path() + "/nope.token"));
  EXPECT_THAT(r.out, HasSubstr("--token-file"));
  // The default comes from BOSUN_TOKEN_FILE, else ./bosun-data/admin.token.
  Outcome dflt = Bosun("members");
  EXPECT_EQ(dflt.exit_code, 1) << dflt.out;
  EXPECT_THAT(dflt.out, HasSubstr("./bosun-data/admin.token"));
  std::string token = d.Write("t", "bosun_test\n");
  Outcome from_env = Bosun("members", "BOSUN_TOKEN_FILE=" + token + " BOSUN_SERVER=" + kDeadServer);
  EXPECT_EQ(from_env.exit_code, 1);
  EXPECT_THAT(from_env.out, HasSubstr("cannot reach the bosun API at http://127.0.0.1:1"));
}

TEST(ClientVerbsCli, UnreachableServerIsOneClearSentence) {
  TempDir d;
  std::string token = d.Write("admin.token", "bosun_test\n");
  for (const char* verb : {"get po", "delete cm x", "members"}) {
    Outcome r = Bosun(std::string(verb) + " --server " + kDeadServer + " --token-file " + token);
    EXPECT_EQ(r.exit_code, 1) << verb << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr("cannot reach the bosun API at http://127.0.0.1:1: ")) << verb;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << verb << ": " << r.out;
    EXPECT_THAT(r.out, Not(HasSubstr("bosun_test"))) << "the token must not be printed";
  }
}

TEST(ClientVerbsCli, ApplyRefusesInvalidManifestsBeforeContactingTheServer) {
  TempDir d;
  std::string token = d.Write("admin.token", "bosun_test\n");
  d.Write("m/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n");
  Outcome r = Bosun("apply -f " + d.path() + "/m --server " + kDeadServer + " --token-file " + token);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr(d.path() + "/m/cm.yaml:4:9: metadata.name: "));
  EXPECT_THAT(r.out, HasSubstr("bosun apply: 1 error in the manifests; nothing was applied"));
  EXPECT_THAT(r.out, Not(HasSubstr("cannot reach")));

  Outcome missing = Bosun("apply -f " + d.path() + "/nowhere --token-file " + token);
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  EXPECT_THAT(missing.out, HasSubstr("bosun apply: "));
}

}  // namespace
