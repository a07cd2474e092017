// The incremental desired-set loader (reconciler/sync_desired_internal.h)
// against a real mirror of a real repository: moving from commit to commit
// re-reads only changed files, and the result equals a full load.
#include <gmock/gmock.h>

#include "reconciler/sync_desired_internal.h"
#include "tests/reconciler/sync_test_support.h"

namespace bosun::reconciler::synctest {
namespace {

using ::testing::ElementsAre;

class SyncDesiredTest : public ::testing::Test {
 protected:
  SyncDesiredTest() : tmp_("bosun-desired"), repo_(tmp_.Sub("repo")) {}

  gitsync::Mirror& Mirror() {
    if (!mirror_) {
      gitsync::RemoteOptions ro;
      ro.url = repo_.dir();
      auto m = gitsync::Mirror::Open(tmp_.Sub("mirror"), ro);
      EXPECT_TRUE(m.ok()) << m.error().message();
      mirror_ = std::move(*m);
    }
    auto h = mirror_->Fetch();
    EXPECT_TRUE(h.ok()) << h.error().message();
    return *mirror_;
  }

  // What a fresh loader (a full read) makes of a commit.
  std::shared_ptr<const DesiredSnapshot> Full(const std::string& commit, const std::string& path = "") {
    DesiredLoader fresh(&Mirror(), path);
    auto s = fresh.Load(commit);
    EXPECT_TRUE(s.ok()) << s.error().message();
    return *s;
  }

  static std::vector<std::string> Keys(const DesiredSnapshot& s) {
    std::vector<std::string> out;
    for (const auto& [k, m] : s.by_key) out.push_back(k + "=" + m->object.json().dump());
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::vector<std::string> Diags(const DesiredSnapshot& s) {
    std::vector<std::string> out;
    for (const auto& d : s.diagnostics) out.push_back(d.ToString());
    return out;
  }

  TempDir tmp_;
  GitRepo repo_;
  std::unique_ptr<gitsync::Mirror> mirror_;
};

TEST_F(SyncDesiredTest, OnlyChangedFilesAreReadAgainAndTheResultEqualsAFullLoad) {
  std::string c1 = repo_.Commit({{"a.yaml", ConfigMapYaml("a", "default", "1")},
                                 {"b.yaml", ConfigMapYaml("b", "default", "1")},
                                 {"dir/c.yaml", ConfigMapYaml("c", "default", "1")},
                                 {"README.md", std::string("not a manifest")}});
  DesiredLoader loader(&Mirror(), "");
  LoadStats stats;
  auto s1 = loader.Load(c1, &stats);
  ASSERT_TRUE(s1.ok());
  EXPECT_FALSE(stats.incremental);
  EXPECT_EQ(stats.files_read, 3u);
  EXPECT_EQ((*s1)->objects, 3u);
  EXPECT_TRUE((*s1)->ok());

  std::string c2 = repo_.Commit({{"b.yaml", ConfigMapYaml("b", "default", "2")},
                                 {"dir/c.yaml", std::nullopt},
                                 {"d.yaml", ConfigMapYaml("d", "default", "1")}});
  (void)Mirror();  // fetches c2
  auto s2 = loader.Load(c2, &stats);
  ASSERT_TRUE(s2.ok());
  EXPECT_TRUE(stats.incremental);
  EXPECT_EQ(stats.files_read, 2u);
  EXPECT_EQ(stats.files_total, 3u);
  EXPECT_EQ(Keys(**s2), Keys(*Full(c2)));
  // Unchanged files are shared with the previous snapshot, not copied.
  EXPECT_EQ((*s2)->files.at("a.yaml").get(), (*s1)->files.at("a.yaml").get());

  // Errors and warnings are the same as a full load's, including the check
  // across files.
  std::string c3 = repo_.Commit({{"e.yaml", ConfigMapYaml("a", "default", "dup")},
                                 {"f.yaml", std::string("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n")}});
  (void)Mirror();
  auto s3 = loader.Load(c3, &stats);
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(stats.files_read, 2u);
  EXPECT_FALSE((*s3)->ok());
  EXPECT_EQ(Diags(**s3), Diags(*Full(c3)));
  EXPECT_GE((*s3)->errors, 2u);

  // Back to a good commit: the duplicate's error is gone with it.
  std::string c4 = repo_.Commit({{"e.yaml", std::nullopt}, {"f.yaml", std::nullopt}});
  (void)Mirror();
  auto s4 = loader.Load(c4, &stats);
  ASSERT_TRUE(s4.ok());
  EXPECT_TRUE((*s4)->ok()) << Diags(**s4).size();
  EXPECT_EQ(Keys(**s4), Keys(*Full(c4)));
}

// A repository that also holds CI workflows and kustomize's files: the
// workflow is never read, and the kustomization.yaml (not a Kubernetes object)
// blocks the revision until .bosunignore names it; the incremental load then
// drops it, as a full load does.
TEST_F(SyncDesiredTest, WorkflowsAreNeverReadAndBosunignoreLeavesOutWhatItNames) {
  std::string c1 = repo_.Commit({{"a.yaml", ConfigMapYaml("a", "default", "1")},
                                 {".github/workflows/ci.yml", std::string("on: push\njobs: {}\n")},
                                 {"kustomization.yaml", std::string("resources:\n  - a.yaml\n")}});
  DesiredLoader loader(&Mirror(), "");
  LoadStats stats;
  auto s1 = loader.Load(c1, &stats);
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ(stats.files_read, 2u);
  EXPECT_FALSE((*s1)->ok());
  for (const std::string& d : Diags(**s1)) EXPECT_THAT(d, ::testing::StartsWith("kustomization.yaml:")) << d;

  std::string c2 = repo_.Commit({{".bosunignore", std::string("kustomization.yaml\n")}});
  (void)Mirror();
  auto s2 = loader.Load(c2, &stats);
  ASSERT_TRUE(s2.ok());
  EXPECT_TRUE(stats.incremental);
  EXPECT_TRUE((*s2)->ok()) << ::testing::PrintToString(Diags(**s2));
  EXPECT_EQ(stats.files_total, 1u);
  EXPECT_EQ(Keys(**s2), Keys(*Full(c2)));
  EXPECT_EQ(Diags(**s2), Diags(*Full(c2)));
}

TEST_F(SyncDesiredTest, ARepositorysSyncConfigOverridesTheServerDefaults) {
  std::string c = repo_.Commit(
      {{"sync.yaml",
        SyncConfigYaml("  prune: false\n  selfHeal: false\n  interval: 30s\n  revisionHistoryLimit: 7\n")}});
  auto s = Full(c);
  SyncOptions o;
  o.history_limit = 100;
  SyncSettings set = SettingsFor(s.get(), o);
  EXPECT_FALSE(set.prune);
  EXPECT_FALSE(set.self_heal);
  EXPECT_EQ(set.interval, std::chrono::seconds(30));
  EXPECT_EQ(set.history_limit, 7u);
  EXPECT_EQ(set.from, "SyncConfig default (sync.yaml)");
  SyncSettings none = SettingsFor(nullptr, o);
  EXPECT_TRUE(none.prune);
  EXPECT_EQ(none.history_limit, 100u);
}

TEST_F(SyncDesiredTest, AMissingFollowedPathIsReportedNotAnEmptySet) {
  std::string c = repo_.Commit({{"deploy/a.yaml", ConfigMapYaml("a", "default", "1")}});
  DesiredLoader loader(&Mirror(), "nowhere");
  auto s = loader.Load(c);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_FALSE((*s)->ok());
  EXPECT_FALSE((*s)->path_error.empty());
}

}  // namespace
}  // namespace bosun::reconciler::synctest
