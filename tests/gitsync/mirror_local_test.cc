// tests/gitsync/mirror_local_test.cc — Fetch from a local remote (a path or
// file://), which bosun copies itself instead of going through libgit2's
// local transport (gitsync/mirror_local.cc): first and incremental fetches,
// the bulk copy of the remote's packs and what is left loose, force-pushes
// (also after the remote's gc), tags, fixed commits, deleted branches, and a
// mirror that owes the remote nothing once fetched. Every test runs over a
// plain path and over file://.
#include <chrono>
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "gitsync/mirror.h"
#include "tests/gitsync/mirror_fixture.h"

namespace bosun::gitsync {
namespace {

namespace fs = std::filesystem;
using test::GitCommand;
using test::GitRepos;
using test::RunCommand;

std::unique_ptr<Mirror> MustOpen(const std::string& dir, const std::string& url, const std::string& ref = "main") {
  RemoteOptions o;
  o.url = url;
  o.ref = ref;
  o.timeout = std::chrono::seconds(20);
  auto m = Mirror::Open(dir, o);
  EXPECT_TRUE(m.ok()) << m.error().message();
  return m.ok() ? std::move(*m) : nullptr;
}

// Runs git in a bare repository (the remote).
std::string GitIn(const std::string& dir, const std::string& args) {
  auto o = RunCommand(GitCommand(dir, args));
  EXPECT_EQ(o.exit_code, 0) << args << ": " << o.out;
  return test::Trim(o.out);
}

// The pack files ("pack-….pack") of a repository's object database.
std::set<std::string> Packs(const std::string& git_dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(git_dir) / "objects" / "pack", ec)) {
    if (e.path().extension() == ".pack") out.insert(e.path().filename().string());
  }
  return out;
}

// Loose objects of a repository's object database.
size_t LooseObjects(const std::string& git_dir) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(fs::path(git_dir) / "objects", ec)) {
    if (dir.path().filename().string().size() != 2) continue;
    for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir.path(), ec)) n++;
  }
  return n;
}

// Writes `count` manifests under `dir` of the working clone (not committed).
void WriteManifests(const GitRepos& repos, const std::string& dir, int count, const std::string& version) {
  for (int i = 0; i < count; i++) {
    repos.tmp().Write("work/" + dir + "/team" + std::to_string(i % 10) + "/cm" + std::to_string(i) + ".yaml",
                      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm" + std::to_string(i) +
                          "\ndata:\n  version: \"" + version + "\"\n");
  }
}

struct Progress {
  std::vector<FetchProgress> calls;
  ProgressFn fn() {
    return [this](const FetchProgress& p) { calls.push_back(p); };
  }
  // The last report: all received, and how many.
  uint64_t Objects() const {
    if (calls.empty()) return 0;
    EXPECT_EQ(calls.back().received_objects, calls.back().total_objects);
    EXPECT_GT(calls.back().received_bytes, 0u);
    return calls.back().total_objects;
  }
};

enum class UrlKind { kPath, kFileUrl };

class MirrorLocal : public ::testing::TestWithParam<UrlKind> {
 protected:
  std::string Url(const std::string& path) const { return GetParam() == UrlKind::kPath ? path : "file://" + path; }
  std::string Url() const { return Url(repos_.remote()); }

  GitRepos repos_;
};

INSTANTIATE_TEST_SUITE_P(PathAndFileUrl, MirrorLocal, ::testing::Values(UrlKind::kPath, UrlKind::kFileUrl),
                         [](const auto& info) { return info.param == UrlKind::kPath ? "Path" : "FileUrl"; });

TEST_P(MirrorLocal, FirstAndIncrementalFetchCopyOnlyWhatIsMissing) {
  std::string first =
      repos_.CommitAndPush({{"web/deploy.yaml", "kind: Deployment\n"}, {"web/svc.yaml", "kind: Service\n"}}, "first");
  auto m = MustOpen(repos_.MirrorDir(), Url());
  ASSERT_TRUE(m);
  Progress p1;
  auto head = m->Fetch(p1.fn());
  ASSERT_TRUE(head.ok()) << head.error().message();
  EXPECT_EQ(*head, first);
  EXPECT_EQ(p1.Objects(), 5u);  // commit, root tree, web/, two blobs
  EXPECT_EQ(m->ReadTree(first, "web").value_or({}).size(), 2u);

  // Nothing new: no copy at all.
  Progress none;
  EXPECT_EQ(m->Fetch(none.fn()).value_or(""), first);
  EXPECT_TRUE(none.calls.empty());

  // One changed file: the commit, the root tree, web/ and the blob.
  std::string second = repos_.CommitAndPush({{"web/deploy.yaml", "kind: Deployment\nspec: {}\n"}}, "second");
  Progress p2;
  EXPECT_EQ(m->Fetch(p2.fn()).value_or(""), second);
  EXPECT_EQ(p2.Objects(), 4u);
  // Two commits at once, one of them touching a file back to an older
  // content: that blob and its folder are in the mirror already.
  std::string third = repos_.CommitAndPush({{"db.yaml", "kind: StatefulSet\n"}}, "third");
  std::string fourth = repos_.CommitAndPush({{"web/deploy.yaml", "kind: Deployment\n"}}, "fourth");
  Progress p3;
  EXPECT_EQ(m->Fetch(p3.fn()).value_or(""), fourth);
  // third: commit, root, blob; fourth: commit, root (its web/ is the first
  // commit's again).
  EXPECT_EQ(p3.Objects(), 5u);
  EXPECT_EQ(m->CommitsBetween(first, fourth).value_or({}), (std::vector<std::string>{second, third, fourth}));
  auto files = m->ReadTree(fourth, "");
  ASSERT_TRUE(files.ok()) << files.error().message();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ(files->at(1).content, "kind: Deployment\n");
  EXPECT_EQ(m->Resolve("main").value_or(""), fourth);
}

// A first fetch that needs most of the remote's packs copies them whole
// (through libgit2's indexer, which checks every object); what is loose in
// the remote is packed on its own. The mirror owes the remote nothing: no
// alternates, no links, and it stays whole when the remote is deleted.
TEST_P(MirrorLocal, BulkCopyOfPacksAndTheLooseRest) {
  WriteManifests(repos_, "apps", 1200, "1");
  std::string big = repos_.CommitAndPush({}, "1,200 manifests");  // > 100 objects: the remote keeps a pack
  std::set<std::string> remote_packs = Packs(repos_.remote());
  ASSERT_EQ(remote_packs.size(), 1u);
  std::string small = repos_.CommitAndPush({{"apps/team3/cm3.yaml", "changed: true\n"}}, "one change");  // loose
  ASSERT_GT(LooseObjects(repos_.remote()), 0u);

  auto m = MustOpen(repos_.MirrorDir(), Url());
  ASSERT_TRUE(m);
  Progress p;
  auto head = m->Fetch(p.fn());
  ASSERT_TRUE(head.ok()) << head.error().message();
  EXPECT_EQ(*head, small);
  // The remote's pack under its own name (the name is the hash of the
  // content), plus one pack of the loose objects: the commit, the root tree,
  // apps/, apps/team3/ and the blob.
  std::set<std::string> mirror_packs = Packs(repos_.MirrorDir());
  EXPECT_EQ(mirror_packs.size(), 2u);
  EXPECT_EQ(mirror_packs.count(*remote_packs.begin()), 1u);
  EXPECT_EQ(LooseObjects(repos_.MirrorDir()), 0u);
  EXPECT_GT(p.Objects(), 1200u);
  EXPECT_FALSE(fs::exists(repos_.MirrorDir() + "/objects/info/alternates"));

  fs::remove_all(repos_.remote());
  EXPECT_EQ(m->Head().value_or(""), small);
  auto files = m->ReadTree(small, "apps");
  ASSERT_TRUE(files.ok()) << files.error().message();
  EXPECT_EQ(files->size(), 1200u);
  EXPECT_TRUE(m->ReadTree(big, "apps/team3/cm3.yaml").value_or({{}}).at(0).content.starts_with("apiVersion: v1\n"));
  EXPECT_EQ(m->Diff(big, small, "").value_or({}).size(), 1u);
  auto gone = m->Fetch();
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), Code::kInvalid) << gone.error().message();
  EXPECT_EQ(m->Head().value_or(""), small);
}

// A bulk copy brings every object of the remote's packs, among them trees of
// branches the mirror does not follow, whose blobs may be loose in the
// remote and so not copied. A later fetch that needs such a tree must not
// take it for complete.
TEST_P(MirrorLocal, ATreeFromABulkCopyIsNotTakenForComplete) {
  WriteManifests(repos_, "apps", 1100, "1");
  std::string base = repos_.CommitAndPush({}, "base");
  repos_.Git("checkout -q -b side");
  std::string side = repos_.Commit({{"extra/one.yaml", "kind: ConfigMap\n"}}, "side");
  repos_.Push("side");  // loose in the remote: the commit, two trees, the blob
  // Pack extra/ (the tree) alone, as a repack of another branch might; its
  // blob stays loose.
  std::string extra_tree = repos_.Git("rev-parse " + side + ":extra");
  auto packed = RunCommand("echo " + extra_tree + " | (" +
                           GitCommand(repos_.remote(), "pack-objects -q objects/pack/pack") + ")");
  ASSERT_EQ(packed.exit_code, 0) << packed.out;
  ASSERT_EQ(Packs(repos_.remote()).size(), 2u);

  auto m = MustOpen(repos_.MirrorDir(), Url());
  ASSERT_TRUE(m);
  ASSERT_EQ(m->Fetch().value_or(""), base);
  ASSERT_EQ(Packs(repos_.MirrorDir()).size(), 2u);  // both copied: the mirror has extra/, not its blob
  EXPECT_EQ(m->ReadBlob(repos_.Git("rev-parse " + side + ":extra/one.yaml")).error().code(), Code::kNotFound);

  repos_.Git("checkout -q main");
  repos_.Git("merge -q --no-edit side");
  std::string merged = repos_.Git("rev-parse HEAD");
  repos_.Push();
  ASSERT_EQ(m->Fetch().value_or(""), merged);
  auto files = m->ReadTree(merged, "extra");
  ASSERT_TRUE(files.ok()) << files.error().message();
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ(files->at(0).content, "kind: ConfigMap\n");
}

TEST_P(MirrorLocal, ForcePushMovesTheBranchEvenAfterTheRemotesGc) {
  std::string base = repos_.CommitAndPush({{"app.yaml", "v: 1\n"}}, "base");
  std::string old_tip = repos_.CommitAndPush({{"app.yaml", "v: 2\n"}}, "to be rewritten");
  auto m = MustOpen(repos_.MirrorDir(), Url());
  ASSERT_TRUE(m);
  ASSERT_EQ(m->Fetch().value_or(""), old_tip);

  repos_.Git("reset -q --hard " + base);
  std::string new_tip = repos_.CommitAndPush({{"app.yaml", "v: 3\n"}}, "rewritten");
  Progress p;
  ASSERT_EQ(m->Fetch(p.fn()).value_or(""), new_tip);
  EXPECT_EQ(p.Objects(), 3u);  // commit, tree, blob: the base was known
  EXPECT_FALSE(m->IsAncestor(old_tip, new_tip).value_or(true));
  EXPECT_EQ(m->ReadTree(old_tip, "").value_or({{}}).at(0).content, "v: 2\n");

  // Rewritten again, and this time the remote forgets the commit the mirror
  // holds: the mirror walks back to what both have.
  repos_.Git("reset -q --hard " + base);
  std::string third_tip = repos_.CommitAndPush({{"app.yaml", "v: 4\n"}}, "rewritten again");
  GitIn(repos_.remote(), "reflog expire --expire=now --all");
  GitIn(repos_.remote(), "gc -q --prune=now");
  ASSERT_NE(RunCommand(GitCommand(repos_.remote(), "cat-file -e " + new_tip)).exit_code, 0);
  Progress q;
  ASSERT_EQ(m->Fetch(q.fn()).value_or(""), third_tip);
  EXPECT_EQ(q.Objects(), 3u);
  EXPECT_EQ(m->ReadTree(new_tip, "").value_or({{}}).at(0).content, "v: 3\n");
  EXPECT_EQ(m->ReadTree(third_tip, "").value_or({{}}).at(0).content, "v: 4\n");

  // Back to a commit the mirror has: nothing copied, the branch still moves.
  repos_.Git("push -q -f origin " + base + ":refs/heads/main");
  Progress r;
  EXPECT_EQ(m->Fetch(r.fn()).value_or(""), base);
  EXPECT_TRUE(r.calls.empty());
  EXPECT_EQ(m->Resolve("main").value_or(""), base);
}

TEST_P(MirrorLocal, TagsLightweightAnnotatedAndMoved) {
  std::string v1 = repos_.CommitAndPush({{"a.yaml", "v: 1\n"}}, "v1");
  repos_.Git("tag v1");
  repos_.Git("tag -a -m 'release 1' r1");
  repos_.Git("push -q origin v1 r1");
  std::string later = repos_.CommitAndPush({{"a.yaml", "v: 2\n"}}, "later");

  auto light = MustOpen(repos_.MirrorDir("light"), Url(), "refs/tags/v1");
  auto annotated = MustOpen(repos_.MirrorDir("annotated"), Url(), "refs/tags/r1");
  ASSERT_TRUE(light && annotated);
  EXPECT_EQ(light->Fetch().value_or(""), v1);
  Progress p;
  EXPECT_EQ(annotated->Fetch(p.fn()).value_or(""), v1);  // peeled to the commit
  EXPECT_EQ(p.Objects(), 4u);                            // the tag object too
  EXPECT_EQ(annotated->Resolve("refs/tags/r1").value_or(""), v1);
  EXPECT_FALSE(annotated->Resolve(later).ok());  // only what the tag holds

  repos_.Git("tag -f v1 " + later);
  repos_.Git("push -q -f origin v1");
  EXPECT_EQ(light->Fetch().value_or(""), later);

  auto missing = MustOpen(repos_.MirrorDir("missing"), Url(), "refs/tags/v9");
  auto r = missing->Fetch();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);

  // A tag of a tree is no commit to follow.
  repos_.Git("tag tree-tag " + later + "^{tree}");
  repos_.Git("push -q origin tree-tag");
  auto tree = MustOpen(repos_.MirrorDir("tree"), Url(), "refs/tags/tree-tag");
  auto t = tree->Fetch();
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code(), Code::kInvalid) << t.error().message();
  EXPECT_NE(t.error().message().find("not at a commit"), std::string::npos) << t.error().message();
}

TEST_P(MirrorLocal, FixedCommitFetchesEveryBranchAndTag) {
  std::string old = repos_.CommitAndPush({{"a.yaml", "v: 1\n"}}, "old");
  repos_.Git("tag -a -m 'release' r1");
  repos_.Git("push -q origin r1");
  repos_.Git("checkout -q -b feature");
  std::string feature = repos_.Commit({{"b.yaml", "b: 1\n"}}, "feature");
  repos_.Push("feature");
  repos_.Git("checkout -q main");
  repos_.CommitAndPush({{"a.yaml", "v: 2\n"}}, "new");

  auto m = MustOpen(repos_.MirrorDir(), Url(), feature);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->Fetch().value_or(""), feature);
  // As the refspecs +refs/heads/*, +refs/tags/* would have it.
  EXPECT_EQ(m->Resolve("refs/heads/feature").value_or(""), feature);
  EXPECT_EQ(m->Resolve("refs/tags/r1").value_or(""), old);
  EXPECT_TRUE(m->Resolve("refs/heads/main").ok());
  // Present now: no remote needed.
  fs::rename(repos_.remote(), repos_.remote() + ".away");
  EXPECT_EQ(m->Fetch().value_or(""), feature);
  fs::rename(repos_.remote() + ".away", repos_.remote());

  std::string nowhere(40, 'c');
  auto absent = MustOpen(repos_.MirrorDir("absent"), Url(), nowhere);
  auto r = absent->Fetch();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
}

TEST_P(MirrorLocal, DeletedBranchIsNotFoundAndComesBack) {
  repos_.CommitAndPush({{"a.yaml", "a: 1\n"}}, "main");
  std::string feature = repos_.Commit({{"b.yaml", "b: 1\n"}}, "feature");
  repos_.Push("feature");
  auto m = MustOpen(repos_.MirrorDir(), Url(), "feature");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->Fetch().value_or(""), feature);

  repos_.Git("push -q origin :refs/heads/feature");
  auto gone = m->Fetch();
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), Code::kNotFound);
  EXPECT_EQ(gone.error().message(), "cannot fetch " + Url() +
                                        " (branch feature): the remote has no branch feature (deleted or renamed?); "
                                        "keeping the last fetched commit");
  EXPECT_EQ(m->Head().value_or(""), feature);

  std::string back = repos_.Commit({{"c.yaml", "c: 1\n"}}, "back");
  repos_.Push("feature");
  Progress p;
  EXPECT_EQ(m->Fetch(p.fn()).value_or(""), back);
  EXPECT_EQ(p.Objects(), 3u);
}

// `bosun up` follows a working clone: a non-bare repository whose new
// objects are loose.
TEST_P(MirrorLocal, WorkingCloneWithLooseObjects) {
  repos_.Git("config gc.auto 0");
  std::string one = repos_.Commit({{"a.yaml", "a: 1\n"}, {"sub/b.yaml", "b: 1\n"}}, "one");
  ASSERT_GT(LooseObjects(repos_.work() + "/.git"), 0u);
  auto m = MustOpen(repos_.MirrorDir(), Url(repos_.work()));
  ASSERT_TRUE(m);
  ASSERT_EQ(m->Fetch().value_or(""), one);
  std::string two = repos_.Commit({{"sub/b.yaml", "b: 2\n"}}, "two");
  Progress p;
  ASSERT_EQ(m->Fetch(p.fn()).value_or(""), two);
  EXPECT_EQ(p.Objects(), 4u);
  EXPECT_EQ(m->ReadTree(two, "sub").value_or({{}}).at(0).content, "b: 2\n");

  // Loose objects are packed without a delta search (what made libgit2's
  // local transport slow), even where deltas were there to find: 40
  // near-identical manifests.
  WriteManifests(repos_, "many", 40, std::string(1000, 'x'));
  std::string three = repos_.Commit({}, "three");
  ASSERT_EQ(m->Fetch().value_or(""), three);
  ASSERT_EQ(Packs(repos_.MirrorDir()).size(), 3u);
  for (const std::string& pack : Packs(repos_.MirrorDir())) {
    std::string idx = repos_.MirrorDir() + "/objects/pack/" + pack.substr(0, pack.size() - 5) + ".idx";
    std::string verify = GitIn(repos_.MirrorDir(), "verify-pack -v " + idx);
    EXPECT_NE(verify.find("non delta: "), std::string::npos) << verify;
    EXPECT_EQ(verify.find("chain length"), std::string::npos) << verify;
  }
  EXPECT_EQ(m->ReadTree(three, "many").value_or({}).size(), 40u);
}

// A remote that borrows its objects from another repository (git clone
// --shared writes objects/info/alternates): the mirror copies them, it does
// not borrow in turn.
TEST_P(MirrorLocal, RemoteWithAlternatesIsCopiedNotShared) {
  WriteManifests(repos_, "apps", 1100, "1");
  repos_.CommitAndPush({}, "big");
  GitIn(repos_.tmp().path(), "clone -q --bare --shared " + repos_.remote() + " shared.git");
  std::string shared = repos_.tmp().Sub("shared.git");
  ASSERT_TRUE(fs::exists(shared + "/objects/info/alternates"));
  ASSERT_TRUE(Packs(shared).empty());
  repos_.Git("push -q " + shared + " HEAD:refs/heads/main");
  std::string tip = repos_.Commit({{"apps/team1/cm1.yaml", "changed: true\n"}}, "only in shared.git");
  repos_.Git("push -q " + shared + " HEAD:refs/heads/main");

  auto m = MustOpen(repos_.MirrorDir(), Url(shared));
  ASSERT_TRUE(m);
  ASSERT_EQ(m->Fetch().value_or(""), tip);
  EXPECT_FALSE(fs::exists(repos_.MirrorDir() + "/objects/info/alternates"));
  fs::remove_all(shared);
  fs::remove_all(repos_.remote());
  auto files = m->ReadTree(tip, "apps");
  ASSERT_TRUE(files.ok()) << files.error().message();
  EXPECT_EQ(files->size(), 1100u);
}

TEST_P(MirrorLocal, NotARepositoryOrAMissingObjectFails) {
  auto m = MustOpen(repos_.MirrorDir(), Url(repos_.tmp().Sub("nothing-here")));
  ASSERT_TRUE(m);
  auto r = m->Fetch();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalid) << r.error().message();

  // A remote that lost an object (a corrupt or shallow copy): the fetch fails
  // and the mirror keeps what it had.
  std::string first = repos_.CommitAndPush({{"a.yaml", "a: 1\n"}}, "first");
  auto ok = MustOpen(repos_.MirrorDir("ok"), Url());
  ASSERT_EQ(ok->Fetch().value_or(""), first);
  std::string second = repos_.CommitAndPush({{"a.yaml", "a: 2\n"}}, "second");
  std::string blob = repos_.Git("rev-parse " + second + ":a.yaml");
  ASSERT_TRUE(fs::remove(repos_.remote() + "/objects/" + blob.substr(0, 2) + "/" + blob.substr(2)));
  auto broken = ok->Fetch();
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().code(), Code::kUnavailable) << broken.error().message();
  EXPECT_TRUE(broken.error().message().starts_with("cannot fetch " + Url() + " (branch main): "))
      << broken.error().message();
  EXPECT_EQ(ok->Head().value_or(""), first);
  EXPECT_EQ(ok->Resolve("main").value_or(""), first);
}

// A file:// URL is percent-decoded, as git and libgit2 read it.
TEST(MirrorLocalUrl, PercentEncodedFileUrl) {
  GitRepos repos;
  std::string id = repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "one");
  fs::rename(repos.remote(), repos.tmp().Sub("remote dir.git"));
  auto m = MustOpen(repos.MirrorDir(), "file://" + repos.tmp().Sub("remote%20dir.git"));
  ASSERT_TRUE(m);
  auto head = m->Fetch();
  ASSERT_TRUE(head.ok()) << head.error().message();
  EXPECT_EQ(*head, id);
}

}  // namespace
}  // namespace bosun::gitsync
