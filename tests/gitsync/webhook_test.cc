#include "gitsync/webhook.h"

#include <atomic>
#include <cctype>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/log.h"
#include "crypto/hmac.h"

namespace bosun::gitsync {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "It's a Secret to Everybody";
constexpr char kHead[] = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
constexpr char kTagCommit[] = "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7";
constexpr char kZero[] = "0000000000000000000000000000000000000000";

// Trimmed from the payloads GitHub, Gitea and GitLab send (same field names
// and shapes; fewer of them).
std::string GithubPush(const std::string& ref, const std::string& after = kHead) {
  return R"({
  "ref": ")" +
         ref + R"(",
  "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "after": ")" +
         after + R"(",
  "created": false,
  "deleted": false,
  "forced": false,
  "base_ref": null,
  "compare": "https://github.com/octo-org/shop/compare/6113728f27ae...0d1a26e67d8f",
  "commits": [
    {
      "id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
      "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
      "distinct": true,
      "message": "web: 3 replicas",
      "timestamp": "2026-11-21T10:00:00+01:00",
      "url": "https://github.com/octo-org/shop/commit/0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
      "author": {"name": "Mona Octocat", "email": "mona@example.com", "username": "octocat"},
      "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
      "added": [],
      "removed": [],
      "modified": ["deploy/web.yaml"]
    }
  ],
  "head_commit": {"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "message": "web: 3 replicas"},
  "repository": {
    "id": 186853002,
    "name": "shop",
    "full_name": "octo-org/shop",
    "private": true,
    "default_branch": "main",
    "clone_url": "https://github.com/octo-org/shop.git"
  },
  "pusher": {"name": "octocat", "email": "mona@example.com"},
  "sender": {"login": "octocat", "id": 583231, "type": "User"}
})";
}

std::string GithubPing() {
  return R"({
  "zen": "Design for failure.",
  "hook_id": 109948940,
  "hook": {"type": "Repository", "id": 109948940, "name": "web", "active": true,
           "events": ["push"], "config": {"content_type": "json", "insecure_ssl": "0",
           "url": "https://bosun.example.com/hooks/github"}},
  "repository": {"id": 186853002, "full_name": "octo-org/shop"},
  "sender": {"login": "octocat", "id": 583231}
})";
}

std::string GiteaPush(const std::string& ref) {
  return R"({
  "ref": ")" +
         ref + R"(",
  "before": "28e1879d029cb852e4844d9c718537df08844e03",
  "after": ")" +
         std::string(kHead) + R"(",
  "compare_url": "https://gitea.example.com/ops/shop/compare/28e1879d029c...0d1a26e67d8f",
  "commits": [
    {
      "id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
      "message": "web: 3 replicas\n",
      "url": "https://gitea.example.com/ops/shop/commit/0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
      "author": {"name": "ops", "email": "ops@example.com", "username": "ops"},
      "committer": {"name": "ops", "email": "ops@example.com", "username": "ops"},
      "timestamp": "2026-11-21T10:00:00+01:00"
    }
  ],
  "total_commits": 1,
  "head_commit": {"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"},
  "repository": {"id": 1, "name": "shop", "full_name": "ops/shop", "default_branch": "main",
                 "clone_url": "https://gitea.example.com/ops/shop.git"},
  "pusher": {"id": 1, "login": "ops", "username": "ops"},
  "sender": {"id": 1, "login": "ops", "username": "ops"}
})";
}

std::string GitlabPush(const std::string& ref, const std::string& after = kHead) {
  std::string checkout = after == kZero ? "null" : "\"" + after + "\"";
  return R"({
  "object_kind": "push",
  "event_name": "push",
  "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
  "after": ")" +
         after + R"(",
  "ref": ")" +
         ref + R"(",
  "ref_protected": true,
  "checkout_sha": )" +
         checkout + R"(,
  "user_id": 4,
  "user_name": "John Smith",
  "user_username": "jsmith",
  "project_id": 15,
  "project": {"id": 15, "name": "shop", "path_with_namespace": "ops/shop", "default_branch": "main",
              "git_http_url": "https://gitlab.example.com/ops/shop.git"},
  "commits": [
    {
      "id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
      "message": "web: 3 replicas\n",
      "title": "web: 3 replicas",
      "timestamp": "2026-11-21T10:00:00+01:00",
      "author": {"name": "John Smith", "email": "jsmith@example.com"},
      "added": [], "modified": ["deploy/web.yaml"], "removed": []
    }
  ],
  "total_commits_count": 1,
  "repository": {"name": "shop", "url": "git@gitlab.example.com:ops/shop.git",
                 "homepage": "https://gitlab.example.com/ops/shop"}
})";
}

// An annotated tag: "after" is the tag object, "checkout_sha" the commit.
std::string GitlabTagPush(const std::string& ref) {
  return R"({
  "object_kind": "tag_push",
  "event_name": "tag_push",
  "before": "0000000000000000000000000000000000000000",
  "after": "a5f3e3e1b3b5a0d8f2c3c0a1f1e2d3c4b5a69788",
  "ref": ")" +
         ref + R"(",
  "ref_protected": false,
  "checkout_sha": ")" +
         std::string(kTagCommit) + R"(",
  "user_id": 1,
  "user_name": "John Smith",
  "project_id": 15,
  "project": {"id": 15, "name": "shop", "path_with_namespace": "ops/shop"},
  "commits": [],
  "total_commits_count": 0,
  "repository": {"name": "shop", "url": "git@gitlab.example.com:ops/shop.git"}
})";
}

class WebhookTest : public ::testing::Test {
 protected:
  // Keeps the log lines, to check what they say and keep test output short.
  void SetUp() override {
    log::SetSink([this](const log::Record& r) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.push_back(log::FormatLine(r));
    });
  }
  void TearDown() override { log::SetSink(nullptr); }

  WebhookOptions Options(std::string ref = "main") {
    WebhookOptions o;
    o.secret = kSecret;
    o.ref = std::move(ref);
    o.clock = &clock_;
    return o;
  }

  static WebhookRequest Github(const std::string& body, const std::string& event = "push",
                               const std::string& secret = kSecret) {
    WebhookRequest r;
    r.provider = "github";
    r.method = "POST";
    r.headers = {{"content-type", "application/json"},
                 {"user-agent", "GitHub-Hookshot/044aadd"},
                 {"x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
                 {"x-github-event", event},
                 {"x-hub-signature-256", crypto::SignatureHeader(secret, body)}};
    r.body = body;
    return r;
  }

  static WebhookRequest Gitea(const std::string& body) {
    WebhookRequest r;
    r.provider = "gitea";
    r.method = "POST";
    r.headers = {{"content-type", "application/json"},
                 {"x-gitea-delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
                 {"x-gitea-event", "push"},
                 {"x-gitea-event-type", "push"},
                 {"x-hub-signature-256", crypto::SignatureHeader(kSecret, body)}};
    r.body = body;
    return r;
  }

  static WebhookRequest Gitlab(const std::string& body, const std::string& event = "Push Hook",
                               const std::string& token = kSecret) {
    WebhookRequest r;
    r.provider = "gitlab";
    r.method = "POST";
    r.headers = {{"content-type", "application/json"},
                 {"x-gitlab-event", event},
                 {"x-gitlab-instance", "https://gitlab.example.com"},
                 {"x-gitlab-token", token}};
    r.body = body;
    return r;
  }

  static WebhookRequest Generic(const std::string& body) {
    WebhookRequest r;
    r.provider = "generic";
    r.method = "POST";
    r.headers = {{"x-bosun-signature-256", crypto::SignatureHeader(kSecret, body)}};
    r.body = body;
    return r;
  }

  static json Body(const WebhookAnswer& a) {
    json j = json::parse(a.body, nullptr, false);
    EXPECT_TRUE(j.is_object()) << a.body;
    return j;
  }

  static void ExpectTriggered(const WebhookAnswer& a, const std::string& ref, const std::string& after) {
    EXPECT_EQ(a.status, 202) << a.body;
    EXPECT_TRUE(a.trigger) << a.body;
    EXPECT_EQ(a.ref, ref);
    EXPECT_EQ(a.after, after);
    EXPECT_EQ(Body(a)["triggered"], true);
  }

  static void ExpectRefused(const WebhookAnswer& a, int status) {
    EXPECT_EQ(a.status, status) << a.body;
    EXPECT_FALSE(a.trigger);
    json j = Body(a);
    EXPECT_EQ(j["triggered"], false);
    EXPECT_TRUE(j["message"].is_string());
    EXPECT_FALSE(j["message"].get<std::string>().empty());
  }

  FakeClock clock_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(WebhookTest, GithubPushForFollowedBranchTriggers) {
  WebhookReceiver hooks(Options("main"));
  WebhookAnswer a = hooks.Handle(Github(GithubPush("refs/heads/main")));
  ExpectTriggered(a, "refs/heads/main", kHead);
  EXPECT_THAT(Body(a)["message"].get<std::string>(), HasSubstr("refs/heads/main"));
  EXPECT_EQ(a.headers.at("Content-Type"), "application/json");
}

TEST_F(WebhookTest, FullBranchRefIsFollowedToo) {
  WebhookReceiver hooks(Options("refs/heads/main"));
  ExpectTriggered(hooks.Handle(Github(GithubPush("refs/heads/main"))), "refs/heads/main", kHead);
}

TEST_F(WebhookTest, GiteaPushTriggers) {
  WebhookReceiver hooks(Options("release/1.x"));
  ExpectTriggered(hooks.Handle(Gitea(GiteaPush("refs/heads/release/1.x"))), "refs/heads/release/1.x", kHead);
}

TEST_F(WebhookTest, GiteaAlsoReadsTheGithubEventHeader) {
  WebhookReceiver hooks(Options());
  WebhookRequest r = Gitea(GiteaPush("refs/heads/main"));
  r.headers.erase("x-gitea-event");
  r.headers["x-github-event"] = "push";
  ExpectTriggered(hooks.Handle(r), "refs/heads/main", kHead);
}

TEST_F(WebhookTest, GitlabPushWithTokenTriggers) {
  WebhookReceiver hooks(Options());
  ExpectTriggered(hooks.Handle(Gitlab(GitlabPush("refs/heads/main"))), "refs/heads/main", kHead);
}

TEST_F(WebhookTest, GitlabWrongOrMissingTokenIsRefused) {
  WebhookReceiver hooks(Options());
  WebhookAnswer wrong = hooks.Handle(Gitlab(GitlabPush("refs/heads/main"), "Push Hook", "It's a Secret to Everybodx"));
  ExpectRefused(wrong, 401);
  WebhookAnswer prefix = hooks.Handle(Gitlab(GitlabPush("refs/heads/main"), "Push Hook", "It's a Secret"));
  ExpectRefused(prefix, 401);
  WebhookRequest r = Gitlab(GitlabPush("refs/heads/main"));
  r.headers.erase("x-gitlab-token");
  WebhookAnswer missing = hooks.Handle(r);
  ExpectRefused(missing, 401);
  EXPECT_EQ(missing.body, wrong.body);
  EXPECT_THAT(wrong.body, Not(HasSubstr("Secret")));
}

TEST_F(WebhookTest, TagPushForFollowedTagTriggers) {
  WebhookReceiver github(Options("refs/tags/v1.2.0"));
  ExpectTriggered(github.Handle(Github(GithubPush("refs/tags/v1.2.0", kTagCommit))), "refs/tags/v1.2.0", kTagCommit);
  // A branch of the same name, or another tag, does not.
  WebhookAnswer branch = github.Handle(Github(GithubPush("refs/heads/v1.2.0")));
  EXPECT_EQ(branch.status, 202);
  EXPECT_FALSE(branch.trigger);
  EXPECT_FALSE(github.Handle(Github(GithubPush("refs/tags/v1.2.1"))).trigger);

  // GitLab's annotated tag: the commit is checkout_sha, not the tag object.
  WebhookReceiver gitlab(Options("refs/tags/v1.2.0"));
  ExpectTriggered(gitlab.Handle(Gitlab(GitlabTagPush("refs/tags/v1.2.0"), "Tag Push Hook")), "refs/tags/v1.2.0",
                  kTagCommit);
}

TEST_F(WebhookTest, TagPushWhileFollowingBranchIsIgnored) {
  WebhookReceiver hooks(Options("main"));
  WebhookAnswer a = hooks.Handle(Gitlab(GitlabTagPush("refs/tags/main"), "Tag Push Hook"));
  EXPECT_EQ(a.status, 202);
  EXPECT_FALSE(a.trigger);
}

TEST_F(WebhookTest, OtherBranchIsIgnored) {
  WebhookReceiver hooks(Options("main"));
  WebhookAnswer a = hooks.Handle(Github(GithubPush("refs/heads/feature/login")));
  EXPECT_EQ(a.status, 202);
  EXPECT_FALSE(a.trigger);
  EXPECT_EQ(a.ref, "refs/heads/feature/login");
  EXPECT_EQ(a.after, kHead);
  json j = Body(a);
  EXPECT_EQ(j["triggered"], false);
  EXPECT_EQ(j["message"], "ignored: ref refs/heads/feature/login is not followed");
  // "main" is a branch: a ref merely ending in main is another ref.
  EXPECT_FALSE(hooks.Handle(Github(GithubPush("refs/heads/not-main"))).trigger);
  EXPECT_FALSE(hooks.Handle(Github(GithubPush("refs/remotes/origin/main"))).trigger);
}

TEST_F(WebhookTest, FixedCommitNeverTriggers) {
  WebhookReceiver hooks(Options(kHead));
  WebhookAnswer a = hooks.Handle(Github(GithubPush("refs/heads/main")));
  EXPECT_EQ(a.status, 202) << a.body;
  EXPECT_FALSE(a.trigger);
  EXPECT_THAT(a.body, HasSubstr("fixed commit"));
  EXPECT_FALSE(hooks.Handle(Generic("")).trigger);
}

TEST_F(WebhookTest, DeletingTheFollowedBranchTriggersAFetchWithoutCommit) {
  WebhookReceiver hooks(Options());
  ExpectTriggered(hooks.Handle(Github(GithubPush("refs/heads/main", kZero))), "refs/heads/main", "");
  ExpectTriggered(hooks.Handle(Gitlab(GitlabPush("refs/heads/main", kZero))), "refs/heads/main", "");
}

TEST_F(WebhookTest, ForgedSignatureIsRefusedWithoutTrigger) {
  WebhookReceiver hooks(Options());
  std::string body = GithubPush("refs/heads/main");
  WebhookRequest forged = Github(body, "push", "guessed secret");
  WebhookAnswer a = hooks.Handle(forged);
  ExpectRefused(a, 401);
  EXPECT_TRUE(a.ref.empty());
  EXPECT_THAT(a.body, Not(HasSubstr(kSecret)));
  EXPECT_THAT(a.body, Not(HasSubstr(forged.headers["x-hub-signature-256"].substr(7, 16))));
  EXPECT_THAT(a.body, Not(HasSubstr(crypto::HmacSha256Hex(kSecret, body).substr(0, 16))));

  // A signature over another body does not carry over.
  WebhookRequest replay = Github(GithubPush("refs/heads/other"));
  replay.body = body;
  ExpectRefused(hooks.Handle(replay), 401);

  // The genuine request still works, and is logged without the secret.
  ExpectTriggered(hooks.Handle(Github(body)), "refs/heads/main", kHead);
  std::lock_guard<std::mutex> lock(log_mu_);
  ASSERT_FALSE(log_.empty());
  EXPECT_THAT(log_.back(), HasSubstr("refs/heads/main"));
  // The refusals are warnings that say why, for the admin whose Git host
  // has another secret.
  EXPECT_THAT(log_, Contains(AllOf(HasSubstr("WARN"), HasSubstr("webhook refused"), HasSubstr("wrong signature"))));
  for (const std::string& line : log_) {
    EXPECT_THAT(line, Not(HasSubstr(kSecret)));
    EXPECT_THAT(line, Not(HasSubstr("sha256=")));
  }
}

TEST_F(WebhookTest, MissingSignatureHeaderIsRefusedLikeAWrongOne) {
  WebhookReceiver hooks(Options());
  WebhookRequest r = Github(GithubPush("refs/heads/main"));
  r.headers.erase("x-hub-signature-256");
  WebhookAnswer missing = hooks.Handle(r);
  ExpectRefused(missing, 401);
  WebhookAnswer wrong = hooks.Handle(Github(GithubPush("refs/heads/main"), "push", "nope"));
  EXPECT_EQ(missing.body, wrong.body);

  // GitHub's older SHA-1 header alone is not accepted.
  r.headers["x-hub-signature"] = "sha1=" + std::string(40, 'a');
  ExpectRefused(hooks.Handle(r), 401);
}

TEST_F(WebhookTest, SignatureIsCheckedBeforeThePayloadIsRead) {
  WebhookReceiver hooks(Options());
  WebhookRequest r = Github("{not json", "push", "wrong");
  ExpectRefused(hooks.Handle(r), 401);
}

TEST_F(WebhookTest, EmptySecretRefusesEverything) {
  WebhookOptions o = Options();
  o.secret.clear();
  WebhookReceiver hooks(o);
  // Signed with the empty key (what an attacker would try first).
  ExpectRefused(hooks.Handle(Github(GithubPush("refs/heads/main"), "push", "")), 401);
  ExpectRefused(hooks.Handle(Github(GithubPing(), "ping", "")), 401);
  ExpectRefused(hooks.Handle(Gitlab(GitlabPush("refs/heads/main"), "Push Hook", "")), 401);
  WebhookRequest generic = Generic("");
  generic.headers["x-bosun-signature-256"] = crypto::SignatureHeader("", "");
  ExpectRefused(hooks.Handle(generic), 401);
  // And with any other secret.
  ExpectRefused(hooks.Handle(Github(GithubPush("refs/heads/main"))), 401);
}

// A rotation: the secret file holds the old and the new secret, one per
// line; deliveries signed with either are taken, others are not, and a
// blank line is no secret (an empty key signs nothing).
TEST_F(WebhookTest, EachLineOfTheSecretIsAccepted) {
  WebhookOptions o = Options();
  o.secret = std::string(kSecret) + "\n\n  new-secret-2026  \n";
  WebhookReceiver hooks(o);
  EXPECT_TRUE(hooks.Handle(Github(GithubPush("refs/heads/main"))).trigger);
  EXPECT_TRUE(hooks.Handle(Github(GithubPush("refs/heads/main"), "push", "new-secret-2026")).trigger);
  EXPECT_TRUE(hooks.Handle(Gitlab(GitlabPush("refs/heads/main"), "Push Hook", "new-secret-2026")).trigger);
  ExpectRefused(hooks.Handle(Github(GithubPush("refs/heads/main"), "push", "")), 401);
  ExpectRefused(hooks.Handle(Github(GithubPush("refs/heads/main"), "push", "old-secret")), 401);
  ExpectRefused(hooks.Handle(Gitlab(GitlabPush("refs/heads/main"), "Push Hook", "")), 401);
}

TEST_F(WebhookTest, PingAnswers200WithoutTrigger) {
  WebhookReceiver hooks(Options());
  WebhookAnswer a = hooks.Handle(Github(GithubPing(), "ping"));
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_FALSE(a.trigger);
  EXPECT_EQ(Body(a)["triggered"], false);
  // A ping must be signed like anything else.
  ExpectRefused(hooks.Handle(Github(GithubPing(), "ping", "wrong")), 401);
}

TEST_F(WebhookTest, OtherEventsAreIgnored) {
  WebhookReceiver hooks(Options());
  WebhookAnswer issues = hooks.Handle(Github(R"({"action":"opened","issue":{"number":1}})", "issues"));
  EXPECT_EQ(issues.status, 202) << issues.body;
  EXPECT_FALSE(issues.trigger);
  WebhookAnswer mr = hooks.Handle(Gitlab(R"({"object_kind":"merge_request"})", "Merge Request Hook"));
  EXPECT_EQ(mr.status, 202) << mr.body;
  EXPECT_FALSE(mr.trigger);
}

TEST_F(WebhookTest, MissingEventHeaderIs400) {
  WebhookReceiver hooks(Options());
  WebhookRequest r = Github(GithubPush("refs/heads/main"));
  r.headers.erase("x-github-event");
  WebhookAnswer a = hooks.Handle(r);
  ExpectRefused(a, 400);
  EXPECT_THAT(a.body, HasSubstr("X-GitHub-Event"));
  WebhookRequest g = Gitlab(GitlabPush("refs/heads/main"));
  g.headers.erase("x-gitlab-event");
  ExpectRefused(hooks.Handle(g), 400);
}

TEST_F(WebhookTest, NonPostIs405) {
  WebhookReceiver hooks(Options());
  for (const char* method : {"GET", "PUT", "HEAD", "post"}) {
    WebhookRequest r = Github(GithubPush("refs/heads/main"));
    r.method = method;
    WebhookAnswer a = hooks.Handle(r);
    ExpectRefused(a, 405);
    EXPECT_EQ(a.headers.at("Allow"), "POST");
  }
  // Method is checked first, even before the provider.
  WebhookRequest r = Github("");
  r.method = "GET";
  r.provider = "bitbucket";
  EXPECT_EQ(hooks.Handle(r).status, 405);
}

TEST_F(WebhookTest, UnknownProviderIs404) {
  WebhookReceiver hooks(Options());
  WebhookRequest r = Github(GithubPush("refs/heads/main"));
  r.provider = "bitbucket";
  ExpectRefused(hooks.Handle(r), 404);
  r.provider = "GitHub";
  ExpectRefused(hooks.Handle(r), 404);
  r.provider = std::string("\xff\xfe", 2);  // not UTF-8: still a JSON answer
  ExpectRefused(hooks.Handle(r), 404);
}

// GitHub's and Gitea's other content type: the JSON in a form field
// "payload", the signature over the form as sent.
TEST_F(WebhookTest, AFormEncodedGithubPushTriggers) {
  WebhookReceiver hooks(Options("main"));
  std::string form = "payload=";
  for (unsigned char c : GithubPush("refs/heads/main")) {
    if (std::isalnum(c) != 0) {
      form.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      form.push_back('+');
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      form += buf;
    }
  }
  WebhookRequest r = Github(form);
  r.headers["content-type"] = "application/x-www-form-urlencoded";
  ExpectTriggered(hooks.Handle(r), "refs/heads/main", kHead);

  WebhookRequest empty = Github("other=1");
  empty.headers["content-type"] = "application/x-www-form-urlencoded";
  WebhookAnswer a = hooks.Handle(empty);
  ExpectRefused(a, 400);
  EXPECT_THAT(a.body, HasSubstr("no \\\"payload\\\" field"));
}

TEST_F(WebhookTest, BadJsonIs400) {
  WebhookReceiver hooks(Options());
  WebhookAnswer a = hooks.Handle(Github(R"({"ref": "refs/heads/main", )"));
  ExpectRefused(a, 400);
  EXPECT_THAT(a.body, HasSubstr("JSON"));
  // Sent as text by a hook set to another content type: the answer says which to use.
  WebhookRequest text = Github("ref=main");
  text.headers["content-type"] = "text/plain";
  EXPECT_THAT(hooks.Handle(text).body, HasSubstr("send application/json"));
  ExpectRefused(hooks.Handle(Github("[1, 2]")), 400);            // not an object
  ExpectRefused(hooks.Handle(Github("")), 400);                  // empty
  ExpectRefused(hooks.Handle(Github(R"({"after":"x"})")), 400);  // no ref
  ExpectRefused(hooks.Handle(Github(R"({"ref": 7})")), 400);
  ExpectRefused(hooks.Handle(Github(R"({"ref": "refs/heads/main", "after": "not-a-sha"})")), 400);
  ExpectRefused(hooks.Handle(Gitlab(R"({"ref": "refs/heads/main", "checkout_sha": 1})")), 400);
}

TEST_F(WebhookTest, GenericHookFollowsRefOrDefault) {
  WebhookReceiver hooks(Options("main"));
  ExpectTriggered(hooks.Handle(Generic("")), "refs/heads/main", "");
  ExpectTriggered(hooks.Handle(Generic("{}")), "refs/heads/main", "");
  ExpectTriggered(hooks.Handle(Generic(R"({"ref":"main","after":")" + std::string(kHead) + "\"}")), "refs/heads/main",
                  kHead);
  ExpectTriggered(hooks.Handle(Generic(R"({"ref":"refs/heads/main"})")), "refs/heads/main", "");
  // `curl -d '{"ref":"main"}'` says it is a form: a JSON body is taken as JSON.
  WebhookRequest curl_d = Generic(R"({"ref":"main"})");
  curl_d.headers["content-type"] = "application/x-www-form-urlencoded";
  ExpectTriggered(hooks.Handle(curl_d), "refs/heads/main", "");
  WebhookAnswer other = hooks.Handle(Generic(R"({"ref":"dev"})"));
  EXPECT_EQ(other.status, 202);
  EXPECT_FALSE(other.trigger);
  EXPECT_EQ(other.ref, "refs/heads/dev");

  // Signed with GitHub's header name instead: refused.
  WebhookRequest r = Generic("{}");
  r.headers["x-hub-signature-256"] = r.headers["x-bosun-signature-256"];
  r.headers.erase("x-bosun-signature-256");
  ExpectRefused(hooks.Handle(r), 401);
}

TEST_F(WebhookTest, OversizedBodyIs413BeforeAnythingElse) {
  WebhookOptions o = Options();
  o.max_body_bytes = 4096;
  WebhookReceiver hooks(o);
  std::string body = GithubPush("refs/heads/main");
  body.insert(body.size() - 1, ",\"pad\":\"" + std::string(4096, 'x') + "\"");
  ASSERT_GT(body.size(), 4096u);
  WebhookAnswer a = hooks.Handle(Github(body));  // validly signed, still too big
  ExpectRefused(a, 413);
  EXPECT_THAT(a.body, HasSubstr("4096"));
  WebhookRequest unsigned_big = Github(body);
  unsigned_big.headers.clear();
  ExpectRefused(hooks.Handle(unsigned_big), 413);

  // Exactly at the limit is fine.
  std::string fits = GithubPush("refs/heads/main");
  fits.insert(fits.size() - 1, ",\"pad\":\"");
  fits.insert(fits.size() - 1, std::string(4096 - fits.size() - 1, 'x') + "\"");
  ASSERT_EQ(fits.size(), 4096u);
  ExpectTriggered(hooks.Handle(Github(fits)), "refs/heads/main", kHead);
}

TEST_F(WebhookTest, ValidFloodBeyondBurstGets429WithRetryAfter) {
  WebhookOptions o = Options();
  o.burst = 10;
  o.per_second = 2;
  WebhookReceiver hooks(o);
  WebhookRequest push = Github(GithubPush("refs/heads/main"));
  int triggered = 0;
  WebhookAnswer last;
  for (int i = 0; i < 50; ++i) {
    last = hooks.Handle(push);
    if (last.trigger) ++triggered;
  }
  EXPECT_EQ(triggered, 10);
  ExpectRefused(last, 429);
  ASSERT_EQ(last.headers.count("Retry-After"), 1u);
  EXPECT_EQ(last.headers.at("Retry-After"), "1");  // one token in 0.5 s, rounded up

  clock_.Advance(std::chrono::milliseconds(400));
  EXPECT_EQ(hooks.Handle(push).status, 429);
  clock_.Advance(std::chrono::milliseconds(100));
  ExpectTriggered(hooks.Handle(push), "refs/heads/main", kHead);
  EXPECT_EQ(hooks.Handle(push).status, 429);

  // A long quiet spell refills to burst, not beyond.
  clock_.Advance(std::chrono::hours(1));
  triggered = 0;
  for (int i = 0; i < 20; ++i) triggered += hooks.Handle(push).trigger ? 1 : 0;
  EXPECT_EQ(triggered, 10);
}

// One merge on a Git host sends several deliveries (the pull request, other
// branches, pings, checks): only pushes of the followed ref count against
// the bucket, so those others never cost the push its place.
TEST_F(WebhookTest, OnlyPushesOfTheFollowedRefCountAgainstTheBucket) {
  WebhookOptions o = Options();
  o.burst = 3;
  WebhookReceiver hooks(o);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(hooks.Handle(Github(GithubPush("refs/heads/feature-" + std::to_string(i)))).status, 202);
    EXPECT_EQ(hooks.Handle(Github(GithubPing(), "ping")).status, 200);
    EXPECT_EQ(hooks.Handle(Github("{bad json")).status, 400);
    EXPECT_EQ(hooks.Handle(Github("{}", "pull_request")).status, 202);
  }
  for (int i = 0; i < 3; ++i) {
    WebhookAnswer a = hooks.Handle(Github(GithubPush("refs/heads/main")));
    EXPECT_EQ(a.status, 202);
    EXPECT_TRUE(a.trigger);
  }
  EXPECT_EQ(hooks.Handle(Github(GithubPush("refs/heads/main"))).status, 429);  // the pushes' own burst
}

TEST_F(WebhookTest, ForgedFloodDoesNotLockOutGenuinePushForLong) {
  WebhookOptions o = Options();
  o.burst = 10;
  o.per_second = 2;  // unverified bucket: 100, refilled at 20/s
  WebhookReceiver hooks(o);
  WebhookRequest forged = Github(GithubPush("refs/heads/main"), "push", "attacker");
  int unauthorized = 0, limited = 0;
  for (int i = 0; i < 1000; ++i) {
    WebhookAnswer a = hooks.Handle(forged);
    EXPECT_FALSE(a.trigger);
    if (a.status == 401) ++unauthorized;
    if (a.status == 429) ++limited;
  }
  // Only the unverified bucket's worth had their HMAC computed.
  EXPECT_EQ(unauthorized, 100);
  EXPECT_EQ(limited, 900);

  WebhookRequest genuine = Github(GithubPush("refs/heads/main"));
  WebhookAnswer blocked = hooks.Handle(genuine);
  ExpectRefused(blocked, 429);
  int retry_after = std::stoi(blocked.headers.at("Retry-After"));
  EXPECT_EQ(retry_after, 1);  // one token at 20/s, rounded up to a whole second
  clock_.Advance(std::chrono::seconds(retry_after));
  ExpectTriggered(hooks.Handle(genuine), "refs/heads/main", kHead);
  // The forgeries spent none of the verified bucket: the rest of the burst is there.
  int triggered = 0;
  for (int i = 0; i < 9; ++i) triggered += hooks.Handle(genuine).trigger ? 1 : 0;
  EXPECT_EQ(triggered, 9);
}

TEST_F(WebhookTest, OversizedFloodCountsAgainstTheUnverifiedBucket) {
  WebhookOptions o = Options();
  o.max_body_bytes = 16;
  WebhookReceiver hooks(o);
  WebhookRequest big = Github(std::string(17, ' '));
  for (int i = 0; i < 200; ++i) EXPECT_EQ(hooks.Handle(big).status, 413);
  WebhookRequest small = Github("{}", "ping");
  EXPECT_EQ(hooks.Handle(small).status, 429);
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(hooks.Handle(small).status, 200);
}

TEST_F(WebhookTest, ZeroRateTurnsLimitingOff) {
  WebhookOptions o = Options();
  o.per_second = 0;
  o.burst = 1;
  WebhookReceiver hooks(o);
  WebhookRequest push = Github(GithubPush("refs/heads/main"));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(hooks.Handle(push).trigger) << i;
  for (int i = 0; i < 500; ++i) ASSERT_EQ(hooks.Handle(Github("{}", "push", "x")).status, 401);
}

TEST_F(WebhookTest, ConcurrentRequestsShareOneBucket) {
  WebhookOptions o = Options();
  o.burst = 10;
  WebhookReceiver hooks(o);
  WebhookRequest push = Github(GithubPush("refs/heads/main"));
  WebhookRequest forged = Github(GithubPush("refs/heads/main"), "push", "attacker");
  std::atomic<int> triggered{0}, unauthorized{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (hooks.Handle(push).trigger) ++triggered;
        if (hooks.Handle(forged).status == 401) ++unauthorized;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(triggered.load(), 10);
  // A genuine request holds an unverified token while it is checked, so a
  // forgery racing it may get 429 instead; never more than the bucket gets
  // its HMAC computed.
  EXPECT_LE(unauthorized.load(), 100);
  EXPECT_GE(unauthorized.load(), 90);
}

TEST_F(WebhookTest, HeaderNamesInAnyCaseAreFound) {
  WebhookReceiver hooks(Options());
  WebhookRequest r = Github(GithubPush("refs/heads/main"));
  r.headers = {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", r.headers["x-hub-signature-256"]}};
  ExpectTriggered(hooks.Handle(r), "refs/heads/main", kHead);
}

}  // namespace
}  // namespace bosun::gitsync
