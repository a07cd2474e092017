// tests/gitsync/revert_test.cc — Mirror::Revert against real bare
// repositories made with the git CLI, over file:// (and a plain path) and
// over smart HTTP (`git http-backend` with receive-pack, basic auth) and
// ssh:// (a real sshd, key auth, known_hosts): the
// revert commit on the remote branch with its exact message, trailers,
// author and tree (compared with `git revert`'s own); races with another
// pusher, before the push and inside the server (a pre-receive hook), retried
// on the new head and never forced; a branch that keeps moving; a refusal
// that is not a race; conflicts, merges, tags, the signer seam.
#include "gitsync/revert.h"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "gitsync/mirror.h"
#include "tests/gitsync/http_server.h"
#include "tests/gitsync/mirror_fixture.h"
#include "tests/gitsync/ssh_server.h"

namespace bosun::gitsync {
namespace {

using test::GitCommand;
using test::GitRepos;
using test::HttpServer;
using test::RunCommand;
using test::SshServer;
using test::Trim;

// What the sync reads from a commit's message: which commit it reverts, and
// how far back a revert of several commits goes.
TEST(RevertTrailers, RevertsComesFromATrailerOrGitRevertsMessage) {
  const std::string sha = "0123456789abcdef0123456789abcdef01234567";
  EXPECT_EQ(ParseReverts("Revert \"x\"\n\nThis reverts commit " + sha + ".\n"), sha);
  EXPECT_EQ(ParseReverts("Revert\n\nBosun-Reverts: " + sha + "\nBosun-Reason: Degraded\n"), sha);
  // The trailer wins when both are there.
  std::string other = "fedcba9876543210fedcba9876543210fedcba98";
  EXPECT_EQ(ParseReverts("This reverts commit " + other + ".\n\nBosun-Reverts: " + sha + "\n"), sha);
  EXPECT_EQ(ParseReverts("This reverts commit ABCDEF1."), "abcdef1");
  EXPECT_EQ(ParseReverts("fix: a typo"), "");
  EXPECT_EQ(ParseReverts("This reverts commit abc."), "");  // too short to be an id
  EXPECT_EQ(ParseReverts("This reverts commit 0123456xyz"), "");
}

TEST(RevertTrailers, RevertsToIsATrailerAtTheStartOfALine) {
  const std::string sha = "0123456789abcdef0123456789abcdef01234567";
  const std::string other = "fedcba9876543210fedcba9876543210fedcba98";
  EXPECT_EQ(ParseRevertsTo("Revert \"x\" and 2 earlier commits\n\nBosun-Reverts: " + other +
                           "\nBosun-Reverts-To: " + sha + "\n"),
            sha);
  EXPECT_EQ(ParseRevertsTo("Bosun-Reverts-To:\t" + sha), sha);  // the last line, a tab
  EXPECT_EQ(ParseRevertsTo("Revert \"x\"\n\nBosun-Reverts: " + other + "\n"), "");
  EXPECT_EQ(ParseRevertsTo("see Bosun-Reverts-To: " + sha + "\n"), "");  // not at a line's start
  EXPECT_EQ(ParseRevertsTo("Bosun-Reverts-To: not-a-sha\n"), "");
}

// Runs git in the bare remote; a failure fails the test.
std::string RemoteGit(const GitRepos& repos, const std::string& args) {
  auto o = RunCommand(GitCommand(repos.remote(), args));
  EXPECT_EQ(o.exit_code, 0) << args << ": " << o.out;
  return Trim(o.out);
}

std::string RemoteHead(const GitRepos& repos) {
  return RemoteGit(repos, "rev-parse refs/heads/main");
}

// The message of a commit as the remote stores it (everything after the
// headers), byte for byte.
std::string RawMessage(const GitRepos& repos, const std::string& commit) {
  auto o = RunCommand(GitCommand(repos.remote(), "cat-file commit " + commit));
  EXPECT_EQ(o.exit_code, 0) << o.out;
  size_t body = o.out.find("\n\n");
  return body == std::string::npos ? "" : o.out.substr(body + 2);
}

std::string Expected(const std::string& subject, const std::string& reverted, const std::string& reason) {
  return "Revert \"" + subject + "\"\n\nThis reverts commit " + reverted + ".\n\nBosun-Reverts: " + reverted +
         "\nBosun-Reason: " + reason + "\n";
}

RemoteOptions Follow(const std::string& url, const std::string& ref = "main") {
  RemoteOptions o;
  o.url = url;
  o.ref = ref;
  o.timeout = std::chrono::seconds(20);
  return o;
}

std::unique_ptr<Mirror> OpenMirror(const GitRepos& repos, const RemoteOptions& o, const std::string& name = "mirror") {
  auto m = Mirror::Open(repos.MirrorDir(name), o);
  EXPECT_TRUE(m.ok()) << m.error().message();
  return m.ok() ? std::move(*m) : nullptr;
}

// Three commits on main: the second one is the bad one.
struct History {
  std::string first, bad, later;
};
History ThreeCommits(const GitRepos& repos) {
  History h;
  h.first = repos.Commit({{"web.yaml", "image: web:1\n"}, {"db.yaml", "image: db:1\n"}}, "first");
  h.bad = repos.Commit({{"web.yaml", "image: web:2\n"}}, "web: bump to 2");
  h.later = repos.Commit({{"cache.yaml", "image: cache:1\n"}}, "add the cache");
  repos.Push();
  return h;
}

// What a user relies on after a successful revert: the commit is the remote
// branch's head, on top of the head it was made on, with git's message plus
// the trailers, the cluster as author and committer, and the reverted file
// back as it was before the bad commit (and nothing else changed).
void ExpectReverted(const GitRepos& repos, Mirror& mirror, const RevertResult& r, const History& h,
                    const std::string& reason) {
  ASSERT_TRUE(r.conflicts.empty()) << r.conflict_message;
  ASSERT_EQ(r.commit.size(), 40u);
  EXPECT_EQ(RemoteHead(repos), r.commit);
  EXPECT_EQ(RemoteGit(repos, "rev-parse " + r.commit + "^"), r.base);
  EXPECT_EQ(RawMessage(repos, r.commit), Expected("web: bump to 2", h.bad, reason));
  EXPECT_EQ(RemoteGit(repos, "log -1 --format='%an <%ae>|%cn <%ce>' " + r.commit),
            "bosun <bosun@cluster.local>|bosun <bosun@cluster.local>");
  int64_t at = std::stoll(RemoteGit(repos, "log -1 --format=%at " + r.commit));
  EXPECT_LE(std::abs(at - static_cast<int64_t>(std::time(nullptr))), 60);
  EXPECT_EQ(RemoteGit(repos, "rev-parse " + r.commit + ":web.yaml"),
            RemoteGit(repos, "rev-parse " + h.first + ":web.yaml"));
  EXPECT_EQ(RemoteGit(repos, "diff --name-only " + r.base + " " + r.commit), "web.yaml");
  RemoteGit(repos, "fsck --strict --no-dangling");
  // The mirror knows without fetching.
  EXPECT_EQ(mirror.Head().value_or(""), r.commit);
  EXPECT_EQ(mirror.Resolve("refs/heads/main").value_or(""), r.commit);
}

TEST(RevertFile, RevertsOnTopOfTheBranchLikeGitRevert) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  auto m = OpenMirror(repos, Follow("file://" + repos.remote()));
  ASSERT_TRUE(m);
  RevertOptions o;
  o.reason = "Degraded: deployment web:\n0/3 new replicas available\t(progress deadline exceeded)";
  auto r = m->Revert(h.bad, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->base, h.later);
  EXPECT_EQ(r->attempts, 1);
  std::string reason = "Degraded: deployment web: 0/3 new replicas available (progress deadline exceeded)";
  ExpectReverted(repos, *m, *r, h, reason);

  // `git revert` in the working clone makes the same tree, and our message
  // is git's with the trailers after it.
  repos.Git("revert --no-edit " + h.bad);
  EXPECT_EQ(repos.Git("rev-parse HEAD^{tree}"), RemoteGit(repos, "rev-parse " + r->commit + "^{tree}"));
  std::string git_message = repos.Git("cat-file commit HEAD");
  git_message = git_message.substr(git_message.find("\n\n") + 2);
  EXPECT_TRUE(RawMessage(repos, r->commit).starts_with(git_message + "\n\nBosun-Reverts: "))
      << git_message << "\n---\n"
      << RawMessage(repos, r->commit);
}

TEST(RevertFile, AShortIdAndAPlainPathWork) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  auto m = OpenMirror(repos, Follow(repos.remote()));
  ASSERT_TRUE(m);
  RevertOptions o;
  o.reason = "by hand";
  auto r = m->Revert(h.bad.substr(0, 10), o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ExpectReverted(repos, *m, *r, h, "by hand");
}

TEST(RevertHttp, PushesOverSmartHttpWithBasicAuth) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  RemoteGit(repos, "config http.receivepack true");
  HttpServer server(repos.tmp(), repos.tmp().path(), "AUTH=deploy:s3cret-token");
  ASSERT_TRUE(server.up());
  RemoteOptions o = Follow(server.Url("remote.git"));
  o.username = "deploy";
  o.password_file = repos.tmp().Write("token", "s3cret-token\n");
  auto m = OpenMirror(repos, o);
  ASSERT_TRUE(m);
  RevertOptions ro;
  ro.reason = "Degraded";
  auto r = m->Revert(h.bad, ro);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(r->base, h.later);
  ExpectReverted(repos, *m, *r, h, "Degraded");

  // Wrong credentials: refused, named, and the secret is in no message.
  repos.tmp().Write("token", "wrong-token\n");
  auto again = m->Revert(h.later, ro);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), Code::kUnauthorized) << again.error().message();
  EXPECT_EQ(again.error().message().find("wrong-token"), std::string::npos);
  EXPECT_EQ(RemoteHead(repos), r->commit);
}

TEST(RevertSsh, PushesOverSshWithAKeyAndKnownHosts) {
  GitRepos repos;
  SshServer sshd(repos.tmp());
  if (!sshd.up()) GTEST_SKIP() << "no sshd (openssh-server) to test ssh:// against";
  History h = ThreeCommits(repos);
  RemoteOptions o = Follow(sshd.Url(repos.remote()));
  o.ssh_key_file = repos.tmp().Sub("client_key");
  o.ssh_known_hosts_file = repos.tmp().Write("known_hosts", sshd.KnownHostsLine());
  auto m = OpenMirror(repos, o);
  ASSERT_TRUE(m);
  RevertOptions ro;
  ro.reason = "Degraded";
  auto r = m->Revert(h.bad, ro);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->attempts, 1);
  ExpectReverted(repos, *m, *r, h, "Degraded");
}

// A branch moved *back* (reset to an older commit and force-pushed) between
// the fetch and the push: the revert, made on the newer head, would still be
// a fast-forward of the older one and bring the removed commits back. bosun
// pushes only over the head it made the revert on, fetches, and finds the
// commit gone from the branch.
TEST(RevertHttp, ABranchMovedBackIsNotFastForwardedOver) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  RemoteGit(repos, "config http.receivepack true");
  HttpServer server(repos.tmp(), repos.tmp().path());
  ASSERT_TRUE(server.up());
  auto m = OpenMirror(repos, Follow(server.Url("remote.git")));
  ASSERT_TRUE(m);
  RevertOptions o;
  o.reason = "Degraded";
  o.signer = [&](const std::string&) -> Result<std::string> {
    repos.Git("reset -q --hard " + h.first);
    repos.Push();  // forced
    return std::string();
  };
  auto r = m->Revert(h.bad, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound) << r.error().message();
  EXPECT_EQ(RemoteHead(repos), h.first);
}

TEST(RevertFile, NotIntoTheCheckedOutBranchOfAWorkingClone) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  auto m = OpenMirror(repos, Follow(repos.work()));
  ASSERT_TRUE(m);
  RevertOptions o;
  auto r = m->Revert(h.bad, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalid) << r.error().message();
  EXPECT_NE(r.error().message().find("receive.denyCurrentBranch"), std::string::npos) << r.error().message();
  EXPECT_EQ(repos.Git("rev-parse HEAD"), h.later);
}

// Someone pushes between bosun's fetch and its push (the signer runs in
// between): the push is refused as not fast-forward, bosun fetches and makes
// the revert again on the new head; the other commit stays.
void RaceBeforeThePush(const GitRepos& repos, Mirror& mirror) {
  std::string base_before = RemoteHead(repos);
  std::string racer;
  RevertOptions o;
  o.reason = "Degraded";
  o.signer = [&](const std::string&) -> Result<std::string> {
    if (racer.empty()) {
      racer = repos.Commit({{"other.yaml", "someone: else\n"}}, "someone else");
      repos.Git("push -q origin HEAD:refs/heads/main");  // not forced
    }
    return std::string();
  };
  std::string bad = repos.Git("rev-parse HEAD~1");
  auto r = mirror.Revert(bad, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(r->conflicts.empty()) << r->conflict_message;
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(r->base, racer);
  EXPECT_NE(racer, base_before);
  EXPECT_EQ(RemoteHead(repos), r->commit);
  EXPECT_EQ(RemoteGit(repos, "rev-parse " + r->commit + "^"), racer);
  EXPECT_EQ(RemoteGit(repos, "rev-parse " + r->commit + ":other.yaml"),
            RemoteGit(repos, "rev-parse " + racer + ":other.yaml"));
  EXPECT_EQ(RawMessage(repos, r->commit), Expected("web: bump to 2", bad, "Degraded"));
}

TEST(RevertFile, SomeonePushedFirstIsRetriedOnTheNewHead) {
  GitRepos repos;
  ThreeCommits(repos);
  auto m = OpenMirror(repos, Follow("file://" + repos.remote()));
  ASSERT_TRUE(m);
  RaceBeforeThePush(repos, *m);
}

TEST(RevertHttp, SomeonePushedFirstIsRetriedOnTheNewHead) {
  GitRepos repos;
  ThreeCommits(repos);
  RemoteGit(repos, "config http.receivepack true");
  HttpServer server(repos.tmp(), repos.tmp().path());
  ASSERT_TRUE(server.up());
  auto m = OpenMirror(repos, Follow(server.Url("remote.git")));
  ASSERT_TRUE(m);
  RaceBeforeThePush(repos, *m);
}

// The race inside the server: after bosun's push negotiated, a pre-receive
// hook moves main (once), as a push landing in that instant would; the
// server refuses bosun's update, and bosun retries on the new head.
TEST(RevertHttp, TheBranchMovingInsideTheServerIsRetried) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  std::string side = repos.Commit({{"side.yaml", "landed: meanwhile\n"}}, "landed meanwhile");
  repos.Git("push -q origin HEAD:refs/heads/side");
  RemoteGit(repos, "config http.receivepack true");
  std::string flag = repos.tmp().Write("move-once", "");
  repos.tmp().Write("remote.git/hooks/pre-receive",
                    "#!/bin/sh\ncat > /dev/null\nif [ -f " + flag + " ]; then\n  rm -f " + flag +
                        "\n  env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES "
                        "git update-ref refs/heads/main " +
                        side + "\nfi\nexit 0\n");
  ASSERT_EQ(RunCommand("chmod +x " + repos.remote() + "/hooks/pre-receive").exit_code, 0);
  HttpServer server(repos.tmp(), repos.tmp().path());
  ASSERT_TRUE(server.up());
  auto m = OpenMirror(repos, Follow(server.Url("remote.git")));
  ASSERT_TRUE(m);
  RevertOptions o;
  o.reason = "Degraded";
  auto r = m->Revert(h.bad, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(std::filesystem::exists(flag));  // the hook did move it
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(r->base, side);
  EXPECT_EQ(RemoteHead(repos), r->commit);
  EXPECT_EQ(RemoteGit(repos, "rev-parse " + r->commit + "^"), side);
  EXPECT_EQ(RawMessage(repos, r->commit), Expected("web: bump to 2", h.bad, "Degraded"));
}

// A refusal that is not a race (a protected branch) is not retried.
TEST(RevertHttp, ARefusalThatIsNoRaceIsForbidden) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  RemoteGit(repos, "config http.receivepack true");
  repos.tmp().Write("remote.git/hooks/pre-receive", "#!/bin/sh\necho 'main is protected' >&2\nexit 1\n");
  ASSERT_EQ(RunCommand("chmod +x " + repos.remote() + "/hooks/pre-receive").exit_code, 0);
  HttpServer server(repos.tmp(), repos.tmp().path());
  ASSERT_TRUE(server.up());
  std::string url = server.Url("remote.git");
  auto m = OpenMirror(repos, Follow(url));
  ASSERT_TRUE(m);
  RevertOptions o;
  o.reason = "Degraded";
  auto r = m->Revert(h.bad, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kForbidden) << r.error().message();
  EXPECT_TRUE(r.error().message().starts_with("cannot push the revert of " + h.bad.substr(0, 7) + " to " + url +
                                              " (branch main): the remote refused"))
      << r.error().message();
  EXPECT_NE(r.error().message().find("pre-receive hook declined"), std::string::npos) << r.error().message();
  // The hook's own reason, which git prints as "remote: main is protected".
  EXPECT_NE(r.error().message().find("the remote said: main is protected"), std::string::npos) << r.error().message();
  EXPECT_EQ(RemoteHead(repos), h.later);
  EXPECT_EQ(m->Head().value_or(""), h.later);
}

TEST(RevertFile, ABranchThatKeepsMovingGivesUp) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  std::string url = "file://" + repos.remote();
  auto m = OpenMirror(repos, Follow(url));
  ASSERT_TRUE(m);
  int races = 0;
  RevertOptions o;
  o.reason = "Degraded";
  o.max_attempts = 2;
  o.signer = [&](const std::string&) -> Result<std::string> {
    races++;
    repos.Commit({{"busy.yaml", "n: " + std::to_string(races) + "\n"}}, "busy " + std::to_string(races));
    repos.Git("push -q origin HEAD:refs/heads/main");
    return std::string();
  };
  auto r = m->Revert(h.bad, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kConflict) << r.error().message();
  EXPECT_EQ(r.error().message(), "cannot push the revert of " + h.bad.substr(0, 7) + " to " + url +
                                     " (branch main): the branch kept moving: someone else pushed first on each of 2 "
                                     "attempts; nothing was pushed");
  EXPECT_EQ(races, 2);
  EXPECT_EQ(RemoteHead(repos), repos.Git("rev-parse HEAD"));  // the other pusher's, untouched
  EXPECT_EQ(RemoteGit(repos, "log --format=%s refs/heads/main").find("Revert"), std::string::npos);
}

TEST(RevertFile, AConflictPushesNothing) {
  GitRepos repos;
  repos.Commit({{"web.yaml", "replicas: 1\nimage: web:1\n"}, {"db.yaml", "image: db:1\n"}}, "first");
  std::string bad = repos.Commit({{"web.yaml", "replicas: 1\nimage: web:2\n"}}, "web 2");
  std::string later = repos.Commit({{"web.yaml", "replicas: 1\nimage: web:3\n"}}, "web 3");
  repos.Push();
  std::string url = "file://" + repos.remote();
  auto m = OpenMirror(repos, Follow(url));
  ASSERT_TRUE(m);
  RevertOptions o;
  o.reason = "Degraded";
  auto r = m->Revert(bad, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->conflicts, std::vector<std::string>{"web.yaml"});
  EXPECT_TRUE(r->commit.empty());
  EXPECT_EQ(r->base, later);
  EXPECT_EQ(r->conflict_message, "cannot revert " + bad.substr(0, 7) + " on " + url +
                                     " (branch main): it conflicts with later changes at the branch head " +
                                     later.substr(0, 7) +
                                     " in web.yaml; nothing was pushed (revert it by hand and resolve the conflict)");
  EXPECT_EQ(RemoteHead(repos), later);
  EXPECT_EQ(m->Head().value_or(""), later);
}

TEST(RevertFile, OnlyABranchCanBeReverted) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  repos.Git("tag v1");
  repos.Git("push -q origin v1");
  std::string url = "file://" + repos.remote();
  RevertOptions o;
  auto tag = OpenMirror(repos, Follow(url, "refs/tags/v1"), "tag");
  ASSERT_TRUE(tag);
  auto r = tag->Revert(h.bad, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalid);
  EXPECT_EQ(r.error().message(), "cannot push a revert: bosun follows tag v1 of " + url +
                                     ", not a branch (follow a branch to have commits reverted)");
  auto fixed = OpenMirror(repos, Follow(url, h.later), "fixed");
  ASSERT_TRUE(fixed);
  auto f = fixed->Revert(h.bad, o);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code(), Code::kInvalid);
  EXPECT_NE(f.error().message().find("bosun follows commit " + h.later), std::string::npos) << f.error().message();
  EXPECT_EQ(RemoteHead(repos), h.later);
}

TEST(RevertFile, TheSignerSignsTheCommitItIsGiven) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  auto m = OpenMirror(repos, Follow("file://" + repos.remote()));
  ASSERT_TRUE(m);
  const std::string armored =
      "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ\nAAAAMwAAAAtzc2gtZWQyNTUxOQ==\n"
      "-----END SSH SIGNATURE-----\n";
  std::string given;
  RevertOptions o;
  o.reason = "Degraded";
  o.signer = [&](const std::string& content) -> Result<std::string> {
    given = content;
    return armored;
  };
  auto r = m->Revert(h.bad, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto info = m->Commit(r->commit);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->signature, armored.substr(0, armored.size() - 1));
  EXPECT_EQ(info->signed_payload, given);
  EXPECT_TRUE(given.starts_with("tree "));
  EXPECT_NE(given.find("\n\nRevert \"web: bump to 2\""), std::string::npos);
  // On the remote: a gpgsig header git reads (and fsck accepts).
  auto raw = RunCommand(GitCommand(repos.remote(), "cat-file commit " + r->commit));
  EXPECT_NE(raw.out.find("\ngpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lHAAAAAQ\n"), std::string::npos) << raw.out;
  RemoteGit(repos, "fsck --strict --no-dangling");
  EXPECT_EQ(RawMessage(repos, r->commit), Expected("web: bump to 2", h.bad, "Degraded"));

  // A signer that fails stops the revert: nothing pushed.
  o.signer = [](const std::string&) -> Result<std::string> {
    return Error(Code::kUnavailable, "the signing key is not readable");
  };
  auto failed = m->Revert(h.later, o);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code(), Code::kUnavailable);
  EXPECT_NE(failed.error().message().find("cannot sign the revert commit: the signing key is not readable"),
            std::string::npos)
      << failed.error().message();
  EXPECT_EQ(RemoteHead(repos), r->commit);
}

TEST(RevertFile, AMergeCommitNeedsAMainline) {
  GitRepos repos;
  std::string first = repos.Commit({{"web.yaml", "image: web:1\n"}}, "first");
  repos.Git("checkout -q -b feature");
  repos.Commit({{"api.yaml", "image: api:1\n"}}, "add the api");
  repos.Git("checkout -q main");
  repos.Commit({{"db.yaml", "image: db:1\n"}}, "add the db");
  repos.Git("merge -q --no-ff -m 'Merge feature' feature");
  std::string merge = repos.Git("rev-parse HEAD");
  std::string parent1 = repos.Git("rev-parse HEAD^1");
  repos.Push();
  auto m = OpenMirror(repos, Follow("file://" + repos.remote()));
  ASSERT_TRUE(m);
  RevertOptions o;
  o.reason = "Degraded";
  auto plain = m->Revert(merge, o);
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().code(), Code::kInvalid);
  EXPECT_NE(plain.error().message().find("merge commit"), std::string::npos) << plain.error().message();
  o.mainline = 3;
  EXPECT_EQ(m->Revert(merge, o).error().code(), Code::kInvalid);

  o.mainline = 1;
  auto r = m->Revert(merge, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(RawMessage(repos, r->commit), "Revert \"Merge feature\"\n\nThis reverts commit " + merge +
                                              ", reversing\nchanges made to " + parent1 +
                                              ".\n\nBosun-Reverts: " + merge + "\nBosun-Reason: Degraded\n");
  repos.Git("revert --no-edit -m 1 " + merge);
  EXPECT_EQ(repos.Git("rev-parse HEAD^{tree}"), RemoteGit(repos, "rev-parse " + r->commit + "^{tree}"));
  EXPECT_EQ(RemoteGit(repos, "ls-tree --name-only " + r->commit), "db.yaml\nweb.yaml");
}

TEST(RevertFile, NothingToUndoARevertPushedBeforeAndUnknownCommits) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  auto m = OpenMirror(repos, Follow("file://" + repos.remote()));
  ASSERT_TRUE(m);
  RevertOptions o;
  o.reason = "Degraded";
  // A person reverted it with `git revert` (no Bosun-Reverts trailer):
  // reverting it again would change nothing.
  repos.Git("revert --no-edit " + h.bad);
  repos.Push();
  const std::string by_hand = RemoteHead(repos);
  auto after_person = m->Revert(h.bad, o);
  ASSERT_FALSE(after_person.ok());
  EXPECT_EQ(after_person.error().code(), Code::kAlreadyExists) << after_person.error().message();
  EXPECT_EQ(after_person.error().message(), "the branch head " + by_hand.substr(0, 7) +
                                                " already undoes it (the revert would change nothing); nothing was "
                                                "pushed");
  EXPECT_EQ(RemoteHead(repos), by_hand);
  repos.Git("reset -q --hard " + h.later);
  repos.Git("push -q -f origin main");
  ASSERT_EQ(RemoteHead(repos), h.later);

  auto r = m->Revert(h.bad, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(r->pushed_before);
  // Asked again (a new leader, after the one that pushed it died before it
  // recorded it): the revert bosun pushed is the answer, nothing new.
  auto twice = m->Revert(h.bad, o);
  ASSERT_TRUE(twice.ok()) << twice.error().message();
  EXPECT_TRUE(twice->pushed_before);
  EXPECT_EQ(twice->commit, r->commit);
  EXPECT_EQ(RemoteHead(repos), r->commit);
  // That revert reverted in turn (the change is back): a new revert is made.
  repos.Git("pull -q origin main");
  repos.Git("revert --no-edit " + r->commit);
  repos.Push();
  auto again = m->Revert(h.bad, o);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_FALSE(again->pushed_before);
  EXPECT_NE(again->commit, r->commit);
  EXPECT_EQ(RemoteHead(repos), again->commit);
  repos.Git("reset -q --hard " + h.later);
  repos.Push();

  // A commit that is not on the branch (here: one the remote never had).
  std::string elsewhere = repos.Commit({{"x.yaml", "x: 1\n"}}, "never pushed");
  auto unknown = m->Revert(elsewhere, o);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), Code::kNotFound) << unknown.error().message();
  // One the mirror has but the branch left behind (rewritten).
  repos.Git("reset -q --hard " + h.first);
  repos.Push();
  auto gone = m->Revert(h.bad, o);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), Code::kNotFound) << gone.error().message();
  EXPECT_NE(gone.error().message().find("not in the history of the branch head"), std::string::npos);
  EXPECT_EQ(RemoteHead(repos), h.first);

  o.max_attempts = 0;
  EXPECT_EQ(m->Revert(h.first, o).error().code(), Code::kInvalid);
}

// Two bad commits after the last good one, a third commit on top: a revert
// back to the good one undoes both in one commit (the followed files as they
// were, the later commit's change kept, as `git revert --no-commit
// good..bad` would), with a message listing them and the trailers.
TEST(RevertFile, BackToAnEarlierCommitRevertsEveryCommitAfterIt) {
  GitRepos repos;
  const std::string good = repos.Commit({{"web.yaml", "image: web:1\n"}, {"db.yaml", "image: db:1\n"}}, "good");
  const std::string bad1 = repos.Commit({{"web.yaml", "image: web:2\n"}, {"new.yaml", "x: 1\n"}}, "web 2");
  const std::string bad2 = repos.Commit({{"web.yaml", "image: web:3\n"}, {"db.yaml", "image: db:2\n"}}, "web 3");
  const std::string later = repos.Commit({{"cache.yaml", "image: cache:1\n"}}, "add the cache");
  repos.Push();
  auto m = OpenMirror(repos, Follow("file://" + repos.remote()));
  ASSERT_TRUE(m);
  RevertOptions o;
  o.reason = "Degraded";
  o.back_to = good.substr(0, 10);  // a prefix is resolved
  auto r = m->Revert(bad2, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(r->conflicts.empty()) << r->conflict_message;
  EXPECT_EQ(r->back_to, good);
  EXPECT_EQ(r->commits, 2u);
  EXPECT_EQ(r->base, later);
  EXPECT_EQ(RemoteHead(repos), r->commit);
  EXPECT_EQ(RawMessage(repos, r->commit), "Revert \"web 3\" and 1 earlier commit\n\nThis reverts commit " + bad2 +
                                              " and the commits before it, back to\n" + good + ":\n  " +
                                              bad2.substr(0, 7) + " web 3\n  " + bad1.substr(0, 7) +
                                              " web 2\n\nBosun-Reverts: " + bad2 + "\nBosun-Reverts-To: " + good +
                                              "\nBosun-Reason: Degraded\n");
  // What git makes of the same.
  repos.Git("revert --no-commit " + good + ".." + bad2);
  repos.Git("commit -q -m 'by git'");
  EXPECT_EQ(repos.Git("rev-parse HEAD^{tree}"), RemoteGit(repos, "rev-parse " + r->commit + "^{tree}"));
  EXPECT_EQ(RemoteGit(repos, "ls-tree --name-only " + r->commit), "cache.yaml\ndb.yaml\nweb.yaml");
  EXPECT_EQ(RemoteGit(repos, "rev-parse " + r->commit + ":web.yaml"),
            RemoteGit(repos, "rev-parse " + good + ":web.yaml"));
  RemoteGit(repos, "fsck --strict --no-dangling");

  // Asked again (a new leader): the revert pushed before is the answer.
  auto twice = m->Revert(bad2, o);
  ASSERT_TRUE(twice.ok()) << twice.error().message();
  EXPECT_TRUE(twice->pushed_before);
  EXPECT_EQ(twice->commit, r->commit);
  EXPECT_EQ(twice->back_to, good);  // read from its trailer
  EXPECT_EQ(twice->commits, 2u);
}

// back_to the commit's own parent is a revert of the commit alone (git's
// message); one that is not an ancestor (rewritten away) is not used.
TEST(RevertFile, BackToTheParentOrANonAncestorRevertsTheCommitAlone) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  auto m = OpenMirror(repos, Follow("file://" + repos.remote()));
  ASSERT_TRUE(m);
  RevertOptions o;
  o.reason = "Degraded";
  o.back_to = h.first;
  auto r = m->Revert(h.bad, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->back_to, "");
  EXPECT_EQ(r->commits, 1u);
  ExpectReverted(repos, *m, *r, h, "Degraded");

  // The branch force-pushed to another history: a commit the mirror has
  // from before is no ancestor of the new one.
  const std::string old_head = RemoteHead(repos);
  repos.Git("reset -q --hard " + h.first);
  const std::string rewritten = repos.Commit({{"api.yaml", "image: api:1\n"}}, "add the api");
  repos.Git("push -q -f origin main");
  o.back_to = old_head;
  auto alone = m->Revert(rewritten, o);
  ASSERT_TRUE(alone.ok()) << alone.error().message();
  EXPECT_EQ(alone->back_to, "");
  EXPECT_EQ(alone->commits, 1u);
  EXPECT_EQ(RawMessage(repos, alone->commit), Expected("add the api", rewritten, "Degraded"));
  EXPECT_EQ(RemoteGit(repos, "ls-tree --name-only " + alone->commit), "db.yaml\nweb.yaml");

  // One the mirror never had: the same.
  o.back_to = std::string(40, 'e');
  const std::string another = repos.Commit({{"cache.yaml", "image: cache:1\n"}}, "add the cache again");
  repos.Push();
  auto unknown = m->Revert(another, o);
  ASSERT_TRUE(unknown.ok()) << unknown.error().message();
  EXPECT_EQ(unknown->back_to, "");
  EXPECT_EQ(RawMessage(repos, unknown->commit), Expected("add the cache again", another, "Degraded"));
}

// The mirror's pack damaged while the server runs (a local fetch of what is
// new does not notice): the revert's merge fails to read it, the mirror is
// made again from the remote, and the revert is made.
TEST(RevertFile, ADamagedMirrorIsMadeAgainAndTheRevertMade) {
  GitRepos repos;
  History h = ThreeCommits(repos);
  auto m = OpenMirror(repos, Follow("file://" + repos.remote()));
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->Fetch().ok());
  for (const auto& e : std::filesystem::directory_iterator(repos.MirrorDir() + "/objects/pack")) {
    if (e.path().extension() != ".pack") continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    const std::string zeros(std::filesystem::file_size(e.path()), '\0');
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  RevertOptions o;
  o.reason = "Degraded";
  auto r = m->Revert(h.bad, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ExpectReverted(repos, *m, *r, h, "Degraded");
}

TEST(RevertReason, OneLineAtMostTwoHundredBytes) {
  EXPECT_EQ(RevertReasonLine("  Degraded:\n\tdeployment web\r\n0/3 available  "),
            "Degraded: deployment web 0/3 available");
  // A reason cannot forge another trailer.
  EXPECT_EQ(RevertReasonLine("x\nBosun-Reverts: 0123456789012345678901234567890123456789"),
            "x Bosun-Reverts: 0123456789012345678901234567890123456789");
  EXPECT_EQ(RevertReasonLine(""), "");
  std::string long_reason(300, 'a');
  std::string cut = RevertReasonLine(long_reason);
  EXPECT_LE(cut.size(), 200u);
  EXPECT_TRUE(cut.ends_with("\xe2\x80\xa6"));
  // Never cut inside a UTF-8 character: 'é' is two bytes.
  std::string accents;
  for (int i = 0; i < 150; i++) accents += "\xc3\xa9";
  std::string cut2 = RevertReasonLine(accents);
  EXPECT_LE(cut2.size(), 200u);
  std::string body = cut2.substr(0, cut2.size() - 3);
  EXPECT_EQ(body.size() % 2, 0u);
  EXPECT_EQ(body.substr(body.size() - 2), "\xc3\xa9");
}

}  // namespace
}  // namespace bosun::gitsync
