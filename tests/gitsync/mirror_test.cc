// tests/gitsync/mirror_test.cc — Mirror against real repositories on disk
// (a local path and file://): following branches, tags and commits, force
// pushes and deleted branches, trees, diffs, commit metadata, signatures.
// Network transports are in mirror_remote_test.cc.
#include "gitsync/mirror.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/log.h"
#include "tests/gitsync/mirror_fixture.h"

namespace bosun::gitsync {
namespace {

using test::GitCommand;
using test::GitRepos;
using test::RunCommand;
using test::Trim;

RemoteOptions Follow(const std::string& url, const std::string& ref = "main") {
  RemoteOptions o;
  o.url = url;
  o.ref = ref;
  o.timeout = std::chrono::seconds(20);
  return o;
}

std::unique_ptr<Mirror> MustOpen(const std::string& dir, const RemoteOptions& o) {
  auto m = Mirror::Open(dir, o);
  EXPECT_TRUE(m.ok()) << m.error().message();
  return m.ok() ? std::move(*m) : nullptr;
}

std::vector<std::string> Paths(const std::vector<TreeFile>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.path);
  return out;
}

std::string Describe(const std::vector<FileChange>& changes) {
  std::string out;
  for (const auto& c : changes) {
    out += c.type == FileChange::Type::kAdded ? "A " : c.type == FileChange::Type::kModified ? "M " : "D ";
    out += c.path + ";";
  }
  return out;
}

TEST(MirrorOpen, RefusesBadInput) {
  GitRepos repos;
  auto empty = Mirror::Open(repos.MirrorDir(), Follow(""));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), Code::kInvalid);

  auto password = Mirror::Open(repos.MirrorDir(), Follow("https://bob:hunter2@git.example.com/shop.git"));
  ASSERT_FALSE(password.ok());
  EXPECT_EQ(password.error().code(), Code::kInvalid);
  EXPECT_EQ(password.error().message().find("hunter2"), std::string::npos) << password.error().message();
  auto scp_password = Mirror::Open(repos.MirrorDir(), Follow("bob:hunter2@git.example.com:shop.git"));
  ASSERT_FALSE(scp_password.ok());
  EXPECT_EQ(scp_password.error().message().find("hunter2"), std::string::npos);

  RemoteOptions missing_file = Follow("https://git.example.com/shop.git");
  missing_file.password_file = repos.tmp().Sub("no-such-file");
  auto unreadable = Mirror::Open(repos.MirrorDir(), missing_file);
  ASSERT_FALSE(unreadable.ok());
  EXPECT_EQ(unreadable.error().code(), Code::kInvalid);
  EXPECT_NE(unreadable.error().message().find("--repo-password-file"), std::string::npos);

  auto bad_ref = Mirror::Open(repos.MirrorDir(), Follow(repos.remote(), "bad..ref"));
  ASSERT_FALSE(bad_ref.ok());
  EXPECT_EQ(bad_ref.error().code(), Code::kInvalid);

  // An HTTP(S) user part is often a token (https://TOKEN@host/…): refused,
  // and not repeated. Nothing is created for a refused URL.
  auto token = Mirror::Open(repos.MirrorDir("a"), Follow("https://ghp_T0ken@git.example.com/shop.git"));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().code(), Code::kInvalid);
  EXPECT_NE(token.error().message().find("--repo-username"), std::string::npos) << token.error().message();
  EXPECT_EQ(token.error().message().find("ghp_T0ken"), std::string::npos) << token.error().message();
  EXPECT_FALSE(std::filesystem::exists(repos.MirrorDir("a")));

  // An SSH repository needs a known_hosts file, unless told to accept any
  // host key; ssh:// and scp-like URLs (with their user) open then.
  auto unchecked = Mirror::Open(repos.MirrorDir("b"), Follow("git@git.example.com:shop.git"));
  ASSERT_FALSE(unchecked.ok());
  EXPECT_NE(unchecked.error().message().find("--repo-known-hosts-file"), std::string::npos)
      << unchecked.error().message();
  EXPECT_FALSE(Mirror::Open(repos.MirrorDir("c"), Follow("ssh://git@git.example.com:2222/shop.git")).ok());
  RemoteOptions known = Follow("git@git.example.com:shop.git");
  known.ssh_known_hosts_file = repos.tmp().Write("known_hosts", "git.example.com ssh-ed25519 AAAA\n");
  EXPECT_TRUE(Mirror::Open(repos.MirrorDir("b"), known).ok());
  RemoteOptions any = Follow("ssh://git@git.example.com:2222/shop.git");
  any.ssh_accept_any_host_key = true;
  EXPECT_TRUE(Mirror::Open(repos.MirrorDir("c"), any).ok());
}

TEST(MirrorFetch, LocalPathFollowsNewCommits) {
  GitRepos repos;
  std::string first = repos.CommitAndPush({{"web.yaml", "kind: ConfigMap\n"}}, "first");
  auto m = MustOpen(repos.MirrorDir(), Follow(repos.remote()));
  ASSERT_TRUE(m);
  auto before = m->Head();
  ASSERT_FALSE(before.ok());
  EXPECT_EQ(before.error().code(), Code::kNotFound);

  auto head = m->Fetch();
  ASSERT_TRUE(head.ok()) << head.error().message();
  EXPECT_EQ(*head, first);
  EXPECT_EQ(m->Head().value_or(""), first);
  // Nothing new: the same answer, no error.
  EXPECT_EQ(m->Fetch().value_or(""), first);

  std::string second = repos.CommitAndPush({{"web.yaml", "kind: ConfigMap\ndata: {}\n"}}, "second");
  std::string third = repos.CommitAndPush({{"db.yaml", "kind: Service\n"}}, "third");
  head = m->Fetch();
  ASSERT_TRUE(head.ok()) << head.error().message();
  EXPECT_EQ(*head, third);
  EXPECT_TRUE(m->IsAncestor(first, third).value_or(false));
  EXPECT_EQ(m->CommitsBetween(first, third).value_or({}), (std::vector<std::string>{second, third}));

  // The mirror is a directory of its own: reopened, it still knows its head.
  m.reset();
  auto reopened = MustOpen(repos.MirrorDir(), Follow(repos.remote()));
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->Head().value_or(""), third);
  EXPECT_EQ(reopened->Resolve("main~1").value_or(""), second);
}

TEST(MirrorFetch, FileUrlAndRelativePath) {
  GitRepos repos;
  std::string id = repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "one");
  auto m = MustOpen(repos.MirrorDir(), Follow("file://" + repos.remote()));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->Fetch().value_or("error"), id);

  // A relative path is made absolute when the mirror opens, so a later
  // change of the working directory does not matter.
  auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(repos.tmp().path());
  auto rel = MustOpen(repos.MirrorDir("rel"), Follow("remote.git"));
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(rel);
  EXPECT_EQ(rel->Fetch().value_or("error"), id);
}

TEST(MirrorFetch, ForcePushMovesTheHead) {
  GitRepos repos;
  std::string base = repos.CommitAndPush({{"app.yaml", "v: 1\n"}}, "base");
  std::string old_tip = repos.CommitAndPush({{"app.yaml", "v: 2\n"}}, "to be rewritten");
  auto m = MustOpen(repos.MirrorDir(), Follow(repos.remote()));
  ASSERT_TRUE(m);
  ASSERT_EQ(m->Fetch().value_or(""), old_tip);

  repos.Git("reset -q --hard " + base);
  std::string new_tip = repos.CommitAndPush({{"app.yaml", "v: 3\n"}}, "rewritten");
  auto head = m->Fetch();
  ASSERT_TRUE(head.ok()) << head.error().message();
  EXPECT_EQ(*head, new_tip);
  EXPECT_FALSE(m->IsAncestor(old_tip, new_tip).value_or(true));
  EXPECT_TRUE(m->IsAncestor(base, new_tip).value_or(false));
  EXPECT_EQ(m->CommitsBetween(old_tip, new_tip).value_or({}), std::vector<std::string>{new_tip});
  // The old commit stays readable (the history records it).
  auto old_files = m->ReadTree(old_tip, "");
  ASSERT_TRUE(old_files.ok()) << old_files.error().message();
  EXPECT_EQ(old_files->at(0).content, "v: 2\n");

  // Reset back to a commit the mirror already has: no download, still moves.
  repos.Git("push -q -f origin " + base + ":refs/heads/main");
  EXPECT_EQ(m->Fetch().value_or(""), base);
}

TEST(MirrorFetch, DeletedBranchIsNotFoundAndHeadStays) {
  GitRepos repos;
  repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "main");
  std::string feature = repos.Commit({{"b.yaml", "b: 1\n"}}, "feature");
  repos.Push("feature");
  auto m = MustOpen(repos.MirrorDir(), Follow(repos.remote(), "feature"));
  ASSERT_TRUE(m);
  ASSERT_EQ(m->Fetch().value_or(""), feature);

  repos.Git("push -q origin :refs/heads/feature");
  auto gone = m->Fetch();
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), Code::kNotFound);
  EXPECT_EQ(gone.error().message(),
            "cannot fetch " + repos.remote() +
                " (branch feature): the remote has no branch feature (deleted or renamed?); keeping the last "
                "fetched commit");
  EXPECT_EQ(m->Head().value_or(""), feature);
  EXPECT_TRUE(m->ReadTree(feature, "").ok());

  // The branch comes back: followed again.
  std::string back = repos.Commit({{"c.yaml", "c: 1\n"}}, "back");
  repos.Push("feature");
  EXPECT_EQ(m->Fetch().value_or(""), back);
}

TEST(MirrorFetch, NotARepositoryIsInvalid) {
  GitRepos repos;
  auto m = MustOpen(repos.MirrorDir(), Follow(repos.tmp().Sub("nothing-here")));
  ASSERT_TRUE(m);
  auto r = m->Fetch();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalid) << r.error().message();
  EXPECT_TRUE(r.error().message().starts_with("cannot fetch " + repos.tmp().Sub("nothing-here") + " (branch main): "))
      << r.error().message();

  auto file_url = MustOpen(repos.MirrorDir("file"), Follow("file://" + repos.tmp().Sub("nothing-here")));
  EXPECT_EQ(file_url->Fetch().error().code(), Code::kInvalid) << file_url->Fetch().error().message();
  auto plain_dir = MustOpen(repos.MirrorDir("dir"), Follow(repos.work() + "/.git/objects"));
  EXPECT_EQ(plain_dir->Fetch().error().code(), Code::kInvalid);
}

TEST(MirrorFetch, FollowsTagsIncludingMovedAndAnnotated) {
  GitRepos repos;
  std::string v1 = repos.CommitAndPush({{"a.yaml", "v: 1\n"}}, "v1");
  repos.Git("tag v1");
  repos.Git("tag -a -m 'release 1' r1");
  repos.Git("push -q origin v1 r1");
  std::string later = repos.CommitAndPush({{"a.yaml", "v: 2\n"}}, "later");

  auto light = MustOpen(repos.MirrorDir("light"), Follow(repos.remote(), "refs/tags/v1"));
  auto annotated = MustOpen(repos.MirrorDir("annotated"), Follow(repos.remote(), "refs/tags/r1"));
  ASSERT_TRUE(light && annotated);
  EXPECT_EQ(light->Fetch().value_or(""), v1);
  EXPECT_EQ(annotated->Fetch().value_or(""), v1);  // peeled to the commit

  repos.Git("tag -f v1 " + later);
  repos.Git("push -q -f origin v1");
  EXPECT_EQ(light->Fetch().value_or(""), later);

  auto missing = MustOpen(repos.MirrorDir("missing"), Follow(repos.remote(), "refs/tags/v9"));
  auto r = missing->Fetch();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_NE(r.error().message().find("(tag v9)"), std::string::npos) << r.error().message();
}

TEST(MirrorFetch, FollowsAFixedCommit) {
  GitRepos repos;
  std::string old = repos.CommitAndPush({{"a.yaml", "v: 1\n"}}, "old");
  repos.CommitAndPush({{"a.yaml", "v: 2\n"}}, "new");
  auto m = MustOpen(repos.MirrorDir(), Follow(repos.remote(), old));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->Fetch().value_or(""), old);
  // Present now: the next Fetch needs no remote at all.
  std::filesystem::rename(repos.remote(), repos.remote() + ".away");
  EXPECT_EQ(m->Fetch().value_or(""), old);
  std::filesystem::rename(repos.remote() + ".away", repos.remote());

  std::string nowhere(40, 'a');
  auto absent = MustOpen(repos.MirrorDir("absent"), Follow(repos.remote(), nowhere));
  auto r = absent->Fetch();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_NE(r.error().message().find("(commit " + nowhere + ")"), std::string::npos) << r.error().message();
}

TEST(MirrorOpen, ChangingTheUrlOrRefForgetsTheHead) {
  GitRepos repos;
  repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "one");
  ASSERT_TRUE(MustOpen(repos.MirrorDir(), Follow(repos.remote()))->Fetch().ok());
  EXPECT_TRUE(MustOpen(repos.MirrorDir(), Follow(repos.remote()))->Head().ok());
  auto other_ref = MustOpen(repos.MirrorDir(), Follow(repos.remote(), "refs/tags/v1"));
  EXPECT_EQ(other_ref->Head().error().code(), Code::kNotFound);
  ASSERT_TRUE(MustOpen(repos.MirrorDir(), Follow(repos.remote()))->Fetch().ok());
  auto other_url = MustOpen(repos.MirrorDir(), Follow("file://" + repos.remote()));
  EXPECT_EQ(other_url->Head().error().code(), Code::kNotFound);
  EXPECT_EQ(other_url->options().url, "file://" + repos.remote());
}

// The mirror's config changed on disk while it is open (by a person, or a
// process that should not have touched it): the fetch still goes to the URL
// the mirror was opened with, and the config is set back.
TEST(MirrorOpen, AUrlChangedOnDiskIsNotFollowed) {
  GitRepos repos, other;
  const std::string want = repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "one");
  other.CommitAndPush({{"b.yaml", "b: 1\n"}}, "other");
  auto m = MustOpen(repos.MirrorDir(), Follow(repos.remote()));
  ASSERT_TRUE(m->Fetch().ok());
  ASSERT_EQ(RunCommand(GitCommand(repos.MirrorDir(), "config remote.origin.url " + other.remote())).exit_code, 0);
  auto r = m->Fetch();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, want);
  EXPECT_EQ(Trim(RunCommand(GitCommand(repos.MirrorDir(), "config remote.origin.url")).out), repos.remote());
}

// What a process killed in the middle of an update leaves (lock files, a
// half-written pack) is removed when the mirror is opened again: before,
// every later fetch failed on the locks, across restarts.
TEST(MirrorRepair, StaleLocksAndPartialPacksAreRemovedAtOpen) {
  GitRepos repos;
  repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "one");
  ASSERT_TRUE(MustOpen(repos.MirrorDir(), Follow(repos.remote()))->Fetch().ok());
  const std::string dir = repos.MirrorDir();
  for (const char* f :
       {"/refs/heads/main.lock", "/refs/bosun/head.lock", "/config.lock", "/objects/pack/pack_git2_0123456789abcdef"}) {
    std::ofstream(dir + f) << "left by a killed process";
  }
  const std::string two = repos.CommitAndPush({{"a.yaml", "a: 2\n"}}, "two");
  auto m = MustOpen(dir, Follow(repos.remote()));
  auto r = m->Fetch();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, two);
  EXPECT_FALSE(std::filesystem::exists(dir + "/refs/heads/main.lock"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/objects/pack/pack_git2_0123456789abcdef"));
}

// A mirror damaged on disk is made again from the remote at the next fetch,
// instead of failing every fetch with errors that read as the remote's:
// its pack overwritten, a ref file garbled, the folder removed while open.
TEST(MirrorRepair, ADamagedMirrorIsMadeAgainFromTheRemote) {
  GitRepos repos;
  repos.CommitAndPush({{"a.yaml", std::string(4096, 'a') + "\n"}, {"b.yaml", "b: 1\n"}}, "one");
  auto m = MustOpen(repos.MirrorDir(), Follow(repos.remote()));
  ASSERT_TRUE(m->Fetch().ok());
  const std::string dir = repos.MirrorDir();

  // The pack overwritten from its start.
  for (const auto& e : std::filesystem::directory_iterator(dir + "/objects/pack")) {
    if (e.path().extension() != ".pack") continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    const std::string zeros(std::filesystem::file_size(e.path()), '\0');
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  std::string head = repos.CommitAndPush({{"b.yaml", "b: 2\n"}}, "two");
  // A local fetch copies only what is new; reading the unchanged file
  // finds the damage, and Repair makes the mirror again.
  auto r = m->Fetch();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, head);
  EXPECT_FALSE(m->ReadTree(head, "").ok());
  auto repaired = m->Repair();
  ASSERT_TRUE(repaired.ok()) << repaired.error().message();
  EXPECT_TRUE(*repaired);
  auto files = m->ReadTree(head, "");
  ASSERT_TRUE(files.ok()) << files.error().message();
  EXPECT_EQ(files->size(), 2u);
  // Nothing wrong: nothing done.
  repaired = m->Repair();
  ASSERT_TRUE(repaired.ok()) << repaired.error().message();
  EXPECT_FALSE(*repaired);

  // A ref file garbled.
  std::ofstream(dir + "/refs/bosun/head") << "garbage";
  head = repos.CommitAndPush({{"b.yaml", "b: 3\n"}}, "three");
  r = m->Fetch();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, head);

  // The folder removed while the mirror is open.
  std::filesystem::remove_all(dir);
  head = repos.CommitAndPush({{"b.yaml", "b: 4\n"}}, "four");
  r = m->Fetch();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, head);
  EXPECT_EQ(m->Head().value_or(""), head);
}

class MirrorTree : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string binary("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    commit_ = repos_.CommitAndPush({{"namespace.yaml", "kind: Namespace\n"},
                                    {"deploy/web/deployment.yaml", "kind: Deployment\n"},
                                    {"deploy/web/service.yml", "kind: Service\n"},
                                    {"deploy/db.json", "{\"kind\": \"Service\"}\n"},
                                    {"deploy/README.md", "# not a manifest\n"},
                                    {"deploy/logo.png", binary},
                                    {"deployments.yaml", "kind: ConfigMap\n"}},
                                   "tree");
    repos_.Git("config core.symlinks true");
    RunCommand("ln -s namespace.yaml " + repos_.work() + "/link.yaml");
    commit_ = repos_.CommitAndPush({}, "with a symlink");
    mirror_ = MustOpen(repos_.MirrorDir(), Follow(repos_.remote()));
    ASSERT_TRUE(mirror_);
    ASSERT_TRUE(mirror_->Fetch().ok());
  }

  GitRepos repos_;
  std::string commit_;
  std::unique_ptr<Mirror> mirror_;
};

TEST_F(MirrorTree, ReadsManifestsOnlySortedWithBlobIds) {
  auto files = mirror_->ReadTree(commit_, "");
  ASSERT_TRUE(files.ok()) << files.error().message();
  EXPECT_EQ(Paths(*files), (std::vector<std::string>{"deploy/db.json", "deploy/web/deployment.yaml",
                                                     "deploy/web/service.yml", "deployments.yaml", "namespace.yaml"}));
  for (const auto& f : *files) {
    EXPECT_EQ(f.blob, repos_.Git("rev-parse " + commit_ + ":" + f.path)) << f.path;
    EXPECT_EQ(mirror_->ReadBlob(f.blob).value_or(""), f.content);
  }
  EXPECT_EQ(files->at(1).content, "kind: Deployment\n");
  EXPECT_EQ(Paths(mirror_->ReadTree(commit_, ".").value_or({})), Paths(*files));

  auto sources = ToSourceFiles(*files);
  ASSERT_EQ(sources.size(), files->size());
  EXPECT_EQ(sources[0].name, "deploy/db.json");
  EXPECT_EQ(sources[0].content, files->at(0).content);
}

TEST_F(MirrorTree, ReadsAFolderOrOneFile) {
  std::vector<std::string> deploy = {"deploy/db.json", "deploy/web/deployment.yaml", "deploy/web/service.yml"};
  EXPECT_EQ(Paths(mirror_->ReadTree(commit_, "deploy").value_or({})), deploy);
  EXPECT_EQ(Paths(mirror_->ReadTree(commit_, "./deploy/").value_or({})), deploy);
  EXPECT_EQ(Paths(mirror_->ReadTree("main", "deploy/web").value_or({})),
            (std::vector<std::string>{"deploy/web/deployment.yaml", "deploy/web/service.yml"}));
  EXPECT_EQ(Paths(mirror_->ReadTree(commit_, "deploy/db.json").value_or({})),
            std::vector<std::string>{"deploy/db.json"});
  EXPECT_TRUE(mirror_->ReadTree(commit_, "deploy/README.md").value_or({{}}).empty());

  auto missing = mirror_->ReadTree(commit_, "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_EQ(mirror_->ReadTree(commit_, "../etc").error().code(), Code::kInvalid);
  EXPECT_EQ(mirror_->ReadTree(std::string(40, 'b'), "").error().code(), Code::kNotFound);
}

TEST_F(MirrorTree, DiffListsChangedManifestsOnly) {
  std::string next = repos_.CommitAndPush({{"deploy/web/deployment.yaml", "kind: Deployment\nspec: {}\n"},
                                           {"deploy/db.json", std::nullopt},
                                           {"deploy/cache.yaml", "kind: Service\n"},
                                           {"deploy/README.md", "# changed\n"},
                                           {"deploy/logo.png", std::string("\0\1\2", 3)}},
                                          "change");
  repos_.Git("mv namespace.yaml ns.yaml");
  repos_.Git("commit -q -m rename");
  std::string renamed = repos_.Git("rev-parse HEAD");
  repos_.Push();
  ASSERT_EQ(mirror_->Fetch().value_or(""), renamed);

  auto diff = mirror_->Diff(commit_, next, "");
  ASSERT_TRUE(diff.ok()) << diff.error().message();
  EXPECT_EQ(Describe(*diff), "A deploy/cache.yaml;D deploy/db.json;M deploy/web/deployment.yaml;");
  EXPECT_EQ(diff->at(0).blob, repos_.Git("rev-parse " + next + ":deploy/cache.yaml"));
  EXPECT_TRUE(diff->at(1).blob.empty());

  // A rename is the old path deleted and the new one added.
  EXPECT_EQ(Describe(mirror_->Diff(next, renamed, "").value_or({})), "D namespace.yaml;A ns.yaml;");
  // Under a path: only what is inside it ("deploy" is not "deployments.yaml").
  EXPECT_EQ(Describe(mirror_->Diff(commit_, renamed, "deploy/web").value_or({})), "M deploy/web/deployment.yaml;");
  EXPECT_EQ(Describe(mirror_->Diff(next, renamed, "deploy").value_or({})), "");
  // The followed path may be one file: its changes are seen.
  EXPECT_EQ(Describe(mirror_->Diff(commit_, next, "deploy/web/deployment.yaml").value_or({})),
            "M deploy/web/deployment.yaml;");
  EXPECT_EQ(Describe(mirror_->Diff(commit_, next, "deploy/db.json").value_or({})), "D deploy/db.json;");
  // From the empty tree: everything is added.
  EXPECT_EQ(Describe(mirror_->Diff("", commit_, "deploy").value_or({})),
            "A deploy/db.json;A deploy/web/deployment.yaml;A deploy/web/service.yml;");
  EXPECT_EQ(Describe(mirror_->Diff(commit_, commit_, "").value_or({{}})), "");
}

// What is read is decided as on disk (core/manifest_filter.h): never a
// dot-folder's files, and not what a .bosunignore of the followed folder or
// of a folder under it excludes. A commit that changes an ignore file
// changes the set.
TEST_F(MirrorTree, DotFoldersAndTheBosunignoreDecideWhatIsRead) {
  std::string ignoring = repos_.CommitAndPush({{".github/workflows/ci.yml", "on: push\n"},
                                               {"deploy/.bosunignore", "# kustomize's, not ours\nkustomization.yaml\n"},
                                               {"deploy/kustomization.yaml", "resources: []\n"},
                                               {"deploy/web/kustomization.yaml", "resources: []\n"}},
                                              "workflow and kustomize files");
  ASSERT_EQ(mirror_->Fetch().value_or(""), ignoring);
  std::vector<std::string> deploy = {"deploy/db.json", "deploy/web/deployment.yaml", "deploy/web/service.yml"};
  EXPECT_EQ(Paths(mirror_->ReadTree(ignoring, "deploy").value_or({})), deploy);
  // From the root, deploy/.bosunignore is a subfolder's: it is read too, for
  // what is under deploy/. The workflow is never read.
  auto all = Paths(mirror_->ReadTree(ignoring, "").value_or({}));
  EXPECT_EQ(std::count(all.begin(), all.end(), "deploy/kustomization.yaml"), 0) << ::testing::PrintToString(all);
  EXPECT_EQ(std::count(all.begin(), all.end(), "deploy/web/deployment.yaml"), 1) << ::testing::PrintToString(all);
  EXPECT_EQ(std::count(all.begin(), all.end(), ".github/workflows/ci.yml"), 0) << ::testing::PrintToString(all);
  EXPECT_EQ(Describe(mirror_->Diff(commit_, ignoring, "deploy").value_or({{}})), "");

  // Changing an ignored file or a workflow changes nothing.
  std::string quiet = repos_.CommitAndPush(
      {{".github/workflows/ci.yml", "on: pull_request\n"}, {"deploy/web/kustomization.yaml", "resources: [a]\n"}},
      "ignored changes");
  ASSERT_EQ(mirror_->Fetch().value_or(""), quiet);
  EXPECT_EQ(Describe(mirror_->Diff(ignoring, quiet, "deploy").value_or({{}})), "");
  EXPECT_EQ(Describe(mirror_->Diff(ignoring, quiet, "").value_or({{}})), "");

  // Dropping the pattern brings in the files it excluded, though this commit
  // did not touch them; putting it back takes them out again.
  std::string unignored = repos_.CommitAndPush({{"deploy/.bosunignore", "*.md\n"}}, "read kustomization files");
  ASSERT_EQ(mirror_->Fetch().value_or(""), unignored);
  EXPECT_EQ(Describe(mirror_->Diff(quiet, unignored, "deploy").value_or({{}})),
            "A deploy/kustomization.yaml;A deploy/web/kustomization.yaml;");
  EXPECT_EQ(Describe(mirror_->Diff(unignored, quiet, "deploy").value_or({{}})),
            "D deploy/kustomization.yaml;D deploy/web/kustomization.yaml;");
  auto added = mirror_->Diff(quiet, unignored, "deploy");
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->at(0).blob, repos_.Git("rev-parse " + unignored + ":deploy/kustomization.yaml"));
  // The same from the root, where the changed ignore file is a subfolder's.
  EXPECT_EQ(Describe(mirror_->Diff(quiet, unignored, "").value_or({{}})),
            "A deploy/kustomization.yaml;A deploy/web/kustomization.yaml;");
}

// As git reads .gitignore files: one in a subfolder applies to what is under
// it, relative to it, and wins over its parents'. Adding one takes files out
// that the commit did not touch; a file it excludes changes nothing.
TEST_F(MirrorTree, ABosunignoreInASubfolderAppliesUnderIt) {
  std::string nested = repos_.CommitAndPush({{"deploy/.bosunignore", "kustomization.yaml\n"},
                                             {"deploy/kustomization.yaml", "resources: []\n"},
                                             {"deploy/web/kustomization.yaml", "resources: []\n"},
                                             {"deploy/web/.bosunignore", "!kustomization.yaml\n/service.yml\n"},
                                             {"deploy/web/extra/service.yml", "kind: x\n"}},
                                            "a subfolder with its own ignore file");
  ASSERT_EQ(mirror_->Fetch().value_or(""), nested);
  // deploy/web's file re-includes its kustomization.yaml (deeper wins) and
  // takes out its own service.yml ("/": relative to deploy/web), not the
  // one further down.
  EXPECT_EQ(Paths(mirror_->ReadTree(nested, "deploy").value_or({})),
            (std::vector<std::string>{"deploy/db.json", "deploy/web/deployment.yaml", "deploy/web/extra/service.yml",
                                      "deploy/web/kustomization.yaml"}));
  EXPECT_EQ(Describe(mirror_->Diff(commit_, nested, "deploy").value_or({{}})),
            "A deploy/web/extra/service.yml;A deploy/web/kustomization.yaml;D deploy/web/service.yml;");
  // The same when the followed folder is deploy/web itself.
  EXPECT_EQ(Paths(mirror_->ReadTree(nested, "deploy/web").value_or({})),
            (std::vector<std::string>{"deploy/web/deployment.yaml", "deploy/web/extra/service.yml",
                                      "deploy/web/kustomization.yaml"}));

  // A commit that changes only a file a subfolder's ignore file excludes:
  // nothing to read (the ignore files did not change, so only the changed
  // files' folders' ones are looked at).
  std::string quiet = repos_.CommitAndPush(
      {{"deploy/web/service.yml", "kind: Service\n"}, {"deploy/web/deployment.yaml", "kind: Deployment\nspec: {}\n"}},
      "an ignored file and a read one");
  ASSERT_EQ(mirror_->Fetch().value_or(""), quiet);
  EXPECT_EQ(Describe(mirror_->Diff(nested, quiet, "deploy").value_or({{}})), "M deploy/web/deployment.yaml;");
  EXPECT_EQ(Describe(mirror_->Diff(nested, quiet, "").value_or({{}})), "M deploy/web/deployment.yaml;");

  // Removing the subfolder's file brings its service.yml back.
  std::string removed = repos_.CommitAndPush({{"deploy/web/.bosunignore", std::nullopt}}, "no subfolder rules");
  ASSERT_EQ(mirror_->Fetch().value_or(""), removed);
  EXPECT_EQ(Describe(mirror_->Diff(quiet, removed, "deploy").value_or({{}})),
            "D deploy/web/kustomization.yaml;A deploy/web/service.yml;");
}

TEST(MirrorCommit, Metadata) {
  GitRepos repos;
  std::string first = repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "first");
  repos.Git("checkout -q -b side");
  std::string side = repos.Commit({{"b.yaml", "b: 1\n"}}, "side");
  repos.Git("checkout -q main");
  repos.Commit({{"c.yaml", "c: 1\n"}}, "main work");
  repos.Git("merge -q --no-edit side");
  std::string dated =
      repos.Commit({}, "Summary line\n\nBody of the message.\nSecond line.", "--date='2026-11-21T10:00:00+02:00'");
  repos.Push();
  std::string merge = repos.Git("rev-parse HEAD~1");

  auto m = MustOpen(repos.MirrorDir(), Follow(repos.remote()));
  ASSERT_TRUE(m->Fetch().ok());
  auto info = m->Commit(dated);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->id, dated);
  EXPECT_EQ(info->tree, repos.Git("rev-parse " + dated + "^{tree}"));
  EXPECT_EQ(info->parents, std::vector<std::string>{merge});
  EXPECT_EQ(info->author.name, "Ada Author");
  EXPECT_EQ(info->author.email, "ada@example.com");
  EXPECT_EQ(info->author.time, 1795248000);  // 2026-11-21T08:00:00Z
  EXPECT_EQ(info->author.offset_minutes, 120);
  EXPECT_EQ(info->committer.name, "Cy Committer");
  EXPECT_EQ(info->committer.email, "cy@example.com");
  EXPECT_EQ(info->summary, "Summary line");
  EXPECT_EQ(info->message, "Summary line\n\nBody of the message.\nSecond line.\n");
  EXPECT_TRUE(info->signature.empty());
  EXPECT_TRUE(info->signed_payload.empty());

  auto merged = m->Commit(merge);
  ASSERT_TRUE(merged.ok());
  ASSERT_EQ(merged->parents.size(), 2u);
  EXPECT_EQ(merged->parents[1], side);
  // A unique prefix works as well as the full id.
  EXPECT_EQ(m->Commit(first.substr(0, 10)).value_or(CommitInfo{}).id, first);
  EXPECT_EQ(m->Commit("no-such-ref").error().code(), Code::kNotFound);
}

TEST(MirrorCommit, SshSignatureAndSignedPayload) {
  if (RunCommand("command -v ssh-keygen").exit_code != 0) GTEST_SKIP() << "ssh-keygen is not installed";
  GitRepos repos;
  std::string key = repos.tmp().Sub("signing_key");
  ASSERT_EQ(RunCommand("ssh-keygen -q -t ed25519 -N '' -C signer -f " + key).exit_code, 0);
  std::string unsigned_id = repos.CommitAndPush({{"a.yaml", "a: 1\n"}}, "unsigned");
  repos.Commit({{"a.yaml", "a: 2\n"}}, "signed change");
  // `git commit -S` with gpg.format=ssh signs with ssh-keygen -Y sign.
  repos.Git("-c gpg.format=ssh -c user.signingkey=" + key + " commit -q --amend --no-edit -S");
  std::string signed_id = repos.Git("rev-parse HEAD");
  repos.Push();

  auto m = MustOpen(repos.MirrorDir(), Follow(repos.remote()));
  ASSERT_EQ(m->Fetch().value_or(""), signed_id);
  auto info = m->Commit(signed_id);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_TRUE(info->signature.starts_with("-----BEGIN SSH SIGNATURE-----")) << info->signature;
  EXPECT_NE(info->signed_payload.find("tree "), std::string::npos);
  EXPECT_EQ(info->signed_payload.find("gpgsig"), std::string::npos);
  EXPECT_TRUE(info->signed_payload.ends_with("signed change\n")) << info->signed_payload;

  // The payload is exactly what was signed: ssh-keygen accepts the pair.
  repos.tmp().Write("payload", info->signed_payload);
  repos.tmp().Write("payload.sig", info->signature);
  auto check = RunCommand("ssh-keygen -Y check-novalidate -n git -s " + repos.tmp().Sub("payload.sig") + " < " +
                          repos.tmp().Sub("payload"));
  EXPECT_EQ(check.exit_code, 0) << check.out;
  // And nothing else is: one changed byte fails.
  repos.tmp().Write("payload", info->signed_payload + " ");
  EXPECT_NE(RunCommand("ssh-keygen -Y check-novalidate -n git -s " + repos.tmp().Sub("payload.sig") + " < " +
                       repos.tmp().Sub("payload"))
                .exit_code,
            0);

  auto plain = m->Commit(unsigned_id);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->signature.empty());
}

TEST(MirrorHistory, CommitsBetweenIsOldestFirst) {
  GitRepos repos;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; i++) ids.push_back(repos.Commit({{"a.yaml", "v: " + std::to_string(i) + "\n"}}, "c"));
  repos.Push();
  auto m = MustOpen(repos.MirrorDir(), Follow(repos.remote()));
  ASSERT_TRUE(m->Fetch().ok());
  EXPECT_EQ(m->CommitsBetween("", ids[4]).value_or({}), ids);
  EXPECT_EQ(m->CommitsBetween(ids[1], ids[4]).value_or({}), (std::vector<std::string>{ids[2], ids[3], ids[4]}));
  EXPECT_TRUE(m->CommitsBetween(ids[4], ids[4]).value_or({"x"}).empty());
  EXPECT_TRUE(m->CommitsBetween(ids[4], ids[1]).value_or({"x"}).empty());
  EXPECT_TRUE(m->IsAncestor(ids[0], ids[4]).value_or(false));
  EXPECT_FALSE(m->IsAncestor(ids[4], ids[0]).value_or(true));
  EXPECT_TRUE(m->IsAncestor(ids[2], ids[2]).value_or(false));
  EXPECT_EQ(m->Resolve(ids[2].substr(0, 12)).value_or(""), ids[2]);
}

TEST(MirrorThreads, CallsFromManyThreadsAreSerialized) {
  GitRepos repos;
  std::string id = repos.CommitAndPush({{"a.yaml", "a: 1\n"}, {"b/c.yaml", "c: 1\n"}}, "one");
  auto m = MustOpen(repos.MirrorDir(), Follow(repos.remote()));
  ASSERT_TRUE(m->Fetch().ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; i++) {
        bool ok = t == 0 ? m->Fetch().ok() : m->ReadTree(id, "").value_or({}).size() == 2 && m->Commit(id).ok();
        if (!ok) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// 5,000 manifests plus other files: a large GitOps repository. Prints the
// time of the operations the sync controller repeats; bench/ is where speed
// is judged, these lines are for the record.
TEST(MirrorLarge, FiveThousandFiles) {
  GitRepos repos;
  for (int i = 0; i < 5000; i++) {
    std::string dir = "apps/team" + std::to_string(i % 50);
    repos.tmp().Write("work/" + dir + "/app" + std::to_string(i) + ".yaml",
                      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app" + std::to_string(i) +
                          "\ndata:\n  key: value-" + std::to_string(i) + "\n");
    if (i % 10 == 0) repos.tmp().Write("work/" + dir + "/notes" + std::to_string(i) + ".txt", "notes\n");
  }
  std::string first = repos.CommitAndPush({}, "large");
  std::string second = repos.CommitAndPush({{"apps/team7/app7.yaml", "changed: true\n"}}, "one change");

  auto m = MustOpen(repos.MirrorDir(), Follow("file://" + repos.remote()));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(m->Fetch().value_or(""), second);
  auto t1 = std::chrono::steady_clock::now();
  auto clone = RunCommand(GitCommand(repos.tmp().path(), "clone -q --bare file://" + repos.remote() + " clone.git"));
  auto t2 = std::chrono::steady_clock::now();
  ASSERT_EQ(clone.exit_code, 0) << clone.out;

  auto files = m->ReadTree(second, "");
  auto t3 = std::chrono::steady_clock::now();
  ASSERT_TRUE(files.ok()) << files.error().message();
  EXPECT_EQ(files->size(), 5000u);
  // Read on every core, each file still has its own content, in path order.
  for (size_t i = 0; i < files->size(); ++i) {
    const TreeFile& f = (*files)[i];
    if (i > 0) {
      ASSERT_LT((*files)[i - 1].path, f.path);
    }
    if (f.path == "apps/team7/app7.yaml") {
      EXPECT_EQ(f.content, "changed: true\n");
      continue;
    }
    std::string name = f.path.substr(f.path.rfind('/') + 1);
    name = name.substr(0, name.size() - 5);  // without ".yaml"
    ASSERT_NE(f.content.find("name: " + name + "\n"), std::string::npos) << f.path << ": " << f.content;
    ASSERT_EQ(f.blob.size(), 40u) << f.path;
  }
  auto diff = m->Diff(first, second, "apps");
  auto t4 = std::chrono::steady_clock::now();
  ASSERT_TRUE(diff.ok());
  EXPECT_EQ(Describe(*diff), "M apps/team7/app7.yaml;");

  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::printf("[ timing ] Fetch (file://, 5,500 files) %lld ms; git clone --bare of it %lld ms\n",
              static_cast<long long>(ms(t1 - t0)), static_cast<long long>(ms(t2 - t1)));
  std::printf("[ timing ] ReadTree of 5,000 manifests %lld ms; Diff of one change %lld ms\n",
              static_cast<long long>(ms(t3 - t2)), static_cast<long long>(ms(t4 - t3)));
}

}  // namespace
}  // namespace bosun::gitsync
