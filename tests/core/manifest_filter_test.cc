// Which files of a followed folder are manifests: the file-name and dot rules,
// and .bosunignore with gitignore's pattern syntax.
#include "core/manifest_filter.h"

#include <chrono>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/manifests.h"
#include "tests/test_support.h"

namespace bosun {
namespace {

using ::testing::ElementsAre;

TEST(ManifestFilter, WithoutAnIgnoreFileEveryManifestOutsideDotFoldersIsRead) {
  ManifestFilter f;
  EXPECT_TRUE(f.Includes("web.yaml"));
  EXPECT_TRUE(f.Includes("apps/web/deploy.yml"));
  EXPECT_TRUE(f.Includes("apps/config.json"));
  EXPECT_FALSE(f.Includes("README.md"));
  EXPECT_FALSE(f.Includes("apps/web/Dockerfile"));
  // A GitHub workflow is YAML, never a manifest.
  EXPECT_FALSE(f.Includes(".github/workflows/ci.yml"));
  EXPECT_FALSE(f.Includes("apps/.draft.yaml"));
  EXPECT_FALSE(f.Includes("apps/.old/web.yaml"));
}

TEST(ManifestFilter, APatternWithoutASlashMatchesANameAtAnyDepth) {
  ManifestFilter f("kustomization.yaml\n*.schema.json\n");
  EXPECT_EQ(f.patterns(), 2u);
  EXPECT_FALSE(f.Includes("kustomization.yaml"));
  EXPECT_FALSE(f.Includes("apps/web/kustomization.yaml"));
  EXPECT_FALSE(f.Includes("schemas/deploy.schema.json"));
  EXPECT_TRUE(f.Includes("apps/web/deploy.yaml"));
  EXPECT_TRUE(f.Includes("apps/web/kustomization.yaml.d/x.yaml"));
}

TEST(ManifestFilter, ASlashAnchorsThePatternToTheRoot) {
  ManifestFilter f("/mkdocs.yml\nci/*.yaml\n");
  EXPECT_FALSE(f.Includes("mkdocs.yml"));
  EXPECT_TRUE(f.Includes("docs/mkdocs.yml"));
  EXPECT_FALSE(f.Includes("ci/build.yaml"));
  EXPECT_TRUE(f.Includes("apps/ci/build.yaml"));
  // '*' stops at a '/'.
  EXPECT_TRUE(f.Includes("ci/nested/build.yaml"));
}

TEST(ManifestFilter, ATrailingSlashMatchesFoldersAndEverythingInThem) {
  ManifestFilter f("charts/\n");
  EXPECT_FALSE(f.Includes("charts/web/values.yaml"));
  EXPECT_FALSE(f.Includes("apps/charts/Chart.yaml"));
  // A file named like the folder is not a folder.
  ManifestFilter g("web.yaml/\n");
  EXPECT_TRUE(g.Includes("web.yaml"));
}

TEST(ManifestFilter, DoubleStarMatchesAnyNumberOfFolders) {
  ManifestFilter f("**/tests/**\napps/**/secret-*.yaml\n");
  EXPECT_FALSE(f.Includes("tests/a.yaml"));
  EXPECT_FALSE(f.Includes("apps/web/tests/fixtures/a.yaml"));
  EXPECT_FALSE(f.Includes("apps/secret-db.yaml"));
  EXPECT_FALSE(f.Includes("apps/a/b/secret-db.yaml"));
  EXPECT_TRUE(f.Includes("apps/a/b/db.yaml"));
  EXPECT_TRUE(f.Includes("other/secret-db.yaml"));
}

TEST(ManifestFilter, TheLastMatchingPatternDecidesAndAnExcludedFolderStaysExcluded) {
  ManifestFilter f("*.json\n!apps/config.json\nvendor/\n!vendor/keep.yaml\n");
  EXPECT_FALSE(f.Includes("schemas/a.json"));
  EXPECT_TRUE(f.Includes("apps/config.json"));
  // As in git: nothing inside an excluded folder can be included again.
  EXPECT_FALSE(f.Includes("vendor/keep.yaml"));
}

TEST(ManifestFilter, CommentsBlankLinesEscapesClassesAndWindowsLineEnds) {
  ManifestFilter f("# generated files\r\n\r\n\\#weird.yaml\r\n\\!bang.yaml\r\n[ab]-*.yaml   \r\nv?.yaml\r\n");
  EXPECT_EQ(f.patterns(), 4u);
  EXPECT_FALSE(f.Includes("#weird.yaml"));
  EXPECT_FALSE(f.Includes("!bang.yaml"));
  EXPECT_FALSE(f.Includes("a-web.yaml"));
  EXPECT_FALSE(f.Includes("b-web.yaml"));
  EXPECT_TRUE(f.Includes("c-web.yaml"));
  EXPECT_FALSE(f.Includes("v1.yaml"));
  EXPECT_TRUE(f.Includes("v10.yaml"));
  EXPECT_TRUE(f.Includes("generated.yaml"));
}

TEST(ManifestFilter, ABomATrailingBackslashAndAnEscapedSpaceAreReadAsGitReadsThem) {
  ManifestFilter f(
      "\xEF\xBB\xBF"
      "first.yaml\nbroken\\\nsp.yaml\\ \n");
  EXPECT_EQ(f.patterns(), 2u);  // the lone trailing backslash matches nothing
  EXPECT_FALSE(f.Includes("first.yaml"));
  EXPECT_FALSE(f.Includes("sp.yaml "));
  EXPECT_TRUE(f.Includes("sp.yaml"));
}

// A subfolder's .bosunignore, as git reads a subfolder's .gitignore: its
// patterns are relative to it and win over its parents'.
TEST(ManifestFilter, ASubfoldersIgnoreFileAppliesUnderItAndWinsOverItsParents) {
  ManifestFilter f("*.json\nkustomization.yaml\n");
  f.AddNested("apps/web", "!kustomization.yaml\n/local.yaml\ngen/\n");
  EXPECT_FALSE(f.Includes("kustomization.yaml"));
  EXPECT_FALSE(f.Includes("apps/kustomization.yaml"));
  EXPECT_TRUE(f.Includes("apps/web/kustomization.yaml")) << "deeper wins";
  EXPECT_TRUE(f.Includes("apps/web/sub/kustomization.yaml")) << "a name pattern matches at any depth under it";
  EXPECT_FALSE(f.Includes("apps/web/local.yaml"));
  EXPECT_TRUE(f.Includes("apps/web/sub/local.yaml")) << "\"/x\" is relative to the subfolder";
  EXPECT_TRUE(f.Includes("local.yaml")) << "nothing above the subfolder is touched";
  EXPECT_TRUE(f.Includes("apps/local.yaml"));
  EXPECT_FALSE(f.Includes("apps/web/gen/a.yaml"));
  EXPECT_FALSE(f.Includes("apps/web/x.json")) << "the parent's patterns still apply";
  // A folder name with glob characters means only itself.
  ManifestFilter g;
  g.AddNested("a*", "x.yaml\n");
  EXPECT_FALSE(g.Includes("a*/x.yaml"));
  EXPECT_TRUE(g.Includes("ab/x.yaml"));
}

// A crafted pattern must not stall the sync: every '*' backtracking into
// every other took seconds per file before.
TEST(GlobMatch, ManyStarsStayFast) {
  const std::string name = std::string(200, 'a') + ".yaml";
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*a*a*a*a*b", name));
    EXPECT_FALSE(GlobMatch("**/**/**/**/**/**/x", "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p"));
  }
  EXPECT_TRUE(GlobMatch("*a*a*a*a*a*.yaml", name));
  // Not a speed figure: a bound far above the milliseconds this takes, which the
  // exponential matcher (hours for these names) could never meet.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(GlobMatch, StarsClassesAndLiterals) {
  EXPECT_TRUE(GlobMatch("*.yaml", "web.yaml"));
  EXPECT_FALSE(GlobMatch("*.yaml", "apps/web.yaml"));
  EXPECT_TRUE(GlobMatch("apps/**", "apps/a/b.yaml"));
  EXPECT_FALSE(GlobMatch("apps/**", "apps"));
  EXPECT_TRUE(GlobMatch("**/b.yaml", "b.yaml"));
  EXPECT_TRUE(GlobMatch("a/**/b.yaml", "a/b.yaml"));
  EXPECT_TRUE(GlobMatch("a/**/b.yaml", "a/x/y/b.yaml"));
  EXPECT_TRUE(GlobMatch("[!a]*", "web"));
  EXPECT_FALSE(GlobMatch("[!a]*", "api"));
  EXPECT_TRUE(GlobMatch("[0-9]x", "7x"));
  EXPECT_TRUE(GlobMatch("[unclosed", "[unclosed"));
  EXPECT_TRUE(GlobMatch("a\\*b", "a*b"));
  EXPECT_FALSE(GlobMatch("a\\*b", "axb"));
}

// The same rules on disk, where `bosun validate` and `bosun diff` read.
TEST(FindManifestFiles, TakesTheFoldersBosunignoreIntoAccount) {
  bosun::test::TempDir d;
  d.Write("repo/web.yaml", "");
  d.Write("repo/kustomization.yaml", "");
  d.Write("repo/.github/workflows/ci.yml", "");
  d.Write("repo/docs/mkdocs.yml", "");
  d.Write("repo/apps/kustomization.yaml", "");
  d.Write("repo/apps/db.yaml", "");
  d.Write("repo/.bosunignore", "# not Kubernetes objects\nkustomization.yaml\n/docs/\n");
  auto files = FindManifestFiles({d.Sub("repo")});
  ASSERT_TRUE(files.ok()) << files.error().message();
  EXPECT_THAT(*files, ElementsAre(d.Sub("repo/apps/db.yaml"), d.Sub("repo/web.yaml")));

  // A file named on the command line is read whatever the ignore file says.
  auto named = FindManifestFiles({d.Sub("repo/kustomization.yaml")});
  ASSERT_TRUE(named.ok());
  EXPECT_THAT(*named, ElementsAre(d.Sub("repo/kustomization.yaml")));

  // A subfolder's own ignore file applies under it.
  d.Write("repo/apps/.bosunignore", "db.yaml\n");
  files = FindManifestFiles({d.Sub("repo")});
  ASSERT_TRUE(files.ok());
  EXPECT_THAT(*files, ElementsAre(d.Sub("repo/web.yaml")));
  std::filesystem::remove(d.Sub("repo/apps/.bosunignore"));

  // As the sync reads a commit: no symbolic link, nothing of a submodule.
  std::filesystem::create_symlink(d.Sub("repo/web.yaml"), d.Sub("repo/link.yaml"));
  d.Write("repo/sub/.git", "gitdir: ../.git/modules/sub\n");
  d.Write("repo/sub/from-sub.yaml", "");
  files = FindManifestFiles({d.Sub("repo")});
  ASSERT_TRUE(files.ok());
  EXPECT_THAT(*files, ElementsAre(d.Sub("repo/apps/db.yaml"), d.Sub("repo/web.yaml")));
  std::filesystem::remove(d.Sub("repo/link.yaml"));
  std::filesystem::remove_all(d.Sub("repo/sub"));

  // Without the ignore file every manifest outside dot-folders is read.
  std::filesystem::remove(d.Sub("repo/.bosunignore"));
  files = FindManifestFiles({d.Sub("repo")});
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->size(), 5u);
}

}  // namespace
}  // namespace bosun
