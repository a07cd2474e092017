// Automated rollback through `git revert`, end to end (issue 6 item 7), as a
// user sees it: a real `bosun server --repo … --branch main --path deploy
// --fetch-interval 2s` following a bare Git repository (over file:// or smart
// HTTP with push enabled) and a real `bosun node` running the pods (root,
// runc, the CNI plugins, the test images). Commits are made with the git CLI
// in a work clone and pushed, the way a team changes the repository.
// Covered: a good revision becomes Healthy and serves "bosun web v1"; a bad
// commit (new pods never ready) becomes Degraded with ProgressDeadlineExceeded;
// bosun pushes `Revert "<subject>"` with the Bosun-Reverts / Bosun-Reason
// trailers to the remote branch, applies it (spec.reverts), it becomes
// Healthy and v1 serves again, the bad record is Reverted with revertedBy;
// `bosun history` lists all three. Guards: `bosun revert` of an old
// revision whose lines were changed later conflicts (exit 1, remote head
// unchanged); a revert that is itself Degraded is never reverted again.
// Pod CIDRs 10.90-99.x.0/24 (NodeE2E 10.20-89, DaemonReal 10.100-249).
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "tests/gitsync/http_server.h"
#include "tests/gitsync/mirror_fixture.h"
#include "tests/node/node_cluster_fixture.h"

namespace bosun::node {
namespace {

using namespace cluster_test;
using gitsync::test::GitRepos;

struct Cli {
  int exit_code = -1;
  std::string out, err;
};

// deploy/web.yaml: Deployment "web", 2 replicas, progress deadline 10 s,
// ready when GET :`ready_port`/ answers.
std::string WebYaml(const std::string& image, int ready_port) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\n"
         "spec:\n  replicas: 2\n  progressDeadlineSeconds: 10\n"
         "  selector:\n    matchLabels:\n      app: web\n"
         "  template:\n    metadata:\n      labels:\n        app: web\n"
         "    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: web\n"
         "        image: " +
         image + "\n        imagePullPolicy: Never\n        readinessProbe:\n          httpGet:\n            path: /\n" +
         "            port: " + std::to_string(ready_port) + "\n          periodSeconds: 1\n";
}

std::string ConfigMapYaml(const std::string& name, const std::string& value) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: default\ndata:\n  key: \"" +
         value + "\"\n";
}

// A server following `remote.git` (file:// or smart HTTP: `transport`)
// and, after StartNode, one node.
class RollbackE2EBase : public NodeCluster {
 protected:
  explicit RollbackE2EBase(std::string transport)
      : NodeCluster("rollback", 90, 10, {"busybox.tar", "web.tar"}), transport_(std::move(transport)) {}

  void SetUp() override {
    // The branch exists before the server starts following it.
    git_.Commit({{"deploy/base.yaml", ConfigMapYaml("base", "base")}}, "base");
    git_.Push();
    if (transport_ == "http") {
      git_.Git("--git-dir=" + git_.remote() + " config http.receivepack true");
      http_ = std::make_unique<gitsync::test::HttpServer>(git_.tmp(), git_.tmp().path());
      ASSERT_TRUE(http_->up()) << "the smart-HTTP Git server did not start";
      url_ = http_->Url("remote.git");
    } else {
      url_ = "file://" + git_.remote();
    }
    NodeCluster::SetUp();
  }

  std::vector<std::string> ExtraServerArgs() override {
    return {"--repo", url_, "--branch", "main", "--path", "deploy", "--fetch-interval", "2s"};
  }

  void StartAndWaitForNode() {
    StartNode();
    ASSERT_TRUE(WaitFor([&] { return client_->Get(K("Node"), "", node_name_).ok(); }, 30s)) << Log("node.log");
  }

  std::string Push(const std::map<std::string, std::optional<std::string>>& files, const std::string& subject) {
    std::string id = git_.Commit(files, subject);
    git_.Push();
    return id;
  }

  // git in the bare remote.
  std::string Remote(const std::string& args) { return git_.Git("--git-dir=" + git_.remote() + " " + args); }

  std::optional<Object> RecordOf(const std::string& commit) {
    auto l = client_->List(K("Revision"), "");
    if (!l) return std::nullopt;
    for (const Object& r : l->items) {
      if (r.json().value("/spec/commit"_json_pointer, "") == commit) return r;
    }
    return std::nullopt;
  }
  // The record that reverts `commit` (spec.reverts).
  std::optional<Object> RevertOf(const std::string& commit) {
    auto l = client_->List(K("Revision"), "");
    if (!l) return std::nullopt;
    for (const Object& r : l->items) {
      if (r.json().value("/spec/reverts"_json_pointer, "") == commit) return r;
    }
    return std::nullopt;
  }
  // Waits for `bad` to turn Degraded (or already Reverted) and for bosun's
  // revert to land on the remote branch: its commit ("" after a failed
  // expectation).
  std::string RevertPushedOf(const std::string& bad) {
    EXPECT_TRUE(WaitFor([&] { return PhaseOf(bad) == "Degraded" || PhaseOf(bad) == "Reverted"; }, 60s)) << Diagnose();
    std::string head;
    if (!WaitFor(
            [&] {
              head = Remote("rev-parse main");
              return head != bad;
            },
            30s)) {
      ADD_FAILURE() << "no revert was pushed\n" << Diagnose();
      return "";
    }
    return head;
  }
  std::string PhaseOf(const std::string& commit) {
    auto r = RecordOf(commit);
    return r ? r->json().value("/status/phase"_json_pointer, "") : "";
  }

  std::string Records() {
    auto l = client_->List(K("Revision"), "");
    if (!l) return l.error().message();
    std::string out;
    for (const Object& r : l->items) {
      out += r.name() + " commit=" + r.json().value("/spec/commit"_json_pointer, "").substr(0, 7) +
             " reverts=" + r.json().value("/spec/reverts"_json_pointer, "").substr(0, 7) + " status=" +
             r.status().dump() + "\n";
    }
    return out;
  }
  std::string Diagnose() {
    return "records:\n" + Records() + "remote log:\n" + Remote("log --format='%h %s' main") + "\nserver.log (tail):\n" +
           Tail(Log("server.log")) + "\nnode.log (tail):\n" + Tail(Log("node.log"));
  }
  static std::string Tail(const std::string& s) { return s.size() > 6000 ? s.substr(s.size() - 6000) : s; }

  // What the Ready pods of Deployment web answer on :8080 (one line each).
  std::vector<std::string> ReadyPodsServe() {
    std::vector<std::string> answers;
    auto l = client_->List(K("Pod"), "default");
    if (!l) return answers;
    for (const Object& p : l->items) {
      if (p.json().value("/metadata/labels/app"_json_pointer, "") != "web") continue;
      const Json& st = p.status();
      bool ready = false;
      if (st.is_object() && st.contains("conditions")) {
        for (const auto& c : st["conditions"]) {
          if (c.value("type", "") == "Ready") ready = c.value("status", "") == "True";
        }
      }
      std::string ip = st.is_object() ? st.value("podIP", "") : "";
      if (!ready || ip.empty()) continue;
      std::string body = HttpGet(ip, 8080);
      answers.push_back(body.find("bosun web v1") != std::string::npos   ? "v1"
                        : body.find("bosun web v2") != std::string::npos ? "v2"
                                                                         : "?" + body);
    }
    return answers;
  }
  bool ServesOnlyV1() {
    auto a = ReadyPodsServe();
    return a.size() == 2 && std::all_of(a.begin(), a.end(), [](const std::string& s) { return s == "v1"; });
  }

  Cli Bosun(std::vector<std::string> args) {
    std::vector<std::string> argv = {BOSUN_BINARY, args.at(0), "--server", api_url_, "--token-file",
                                     server_data_ + "/admin.token"};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    process::Options o;
    o.argv = argv;
    o.timeout = 60s;
    auto r = process::Run(o);
    if (!r) return Cli{-1, "", r.error().message()};
    return Cli{r->exit_code, r->out, r->err};
  }

  std::string transport_;
  GitRepos git_;
  std::unique_ptr<gitsync::test::HttpServer> http_;
  std::string url_;
};

// The story over file:// and over smart HTTP (the revert pushed through
// git receive-pack).
class RollbackE2E : public RollbackE2EBase, public ::testing::WithParamInterface<std::string> {
 protected:
  RollbackE2E() : RollbackE2EBase(GetParam()) {}
};

// The guards, over file:// only.
class RollbackE2EGuards : public RollbackE2EBase {
 protected:
  RollbackE2EGuards() : RollbackE2EBase("file") {}
};

// The whole story: v1 Healthy → a bad commit Degraded → bosun's revert
// commit on the remote → applied, Healthy, v1 serving → history links them.
// (Caught two bugs of reconciler/revision_health.cc: the revert's revision
// judged by the ProgressDeadlineExceeded condition of the previous
// generation, fixed in 23935fe; and the reason counting the old
// ReplicaSet's available pods as "new replicas available", fixed in 8a56187.)
TEST_P(RollbackE2E, DegradedRevisionIsRevertedInGit) {
  StartAndWaitForNode();
  if (HasFatalFailure()) return;
  const std::string good = Push({{"deploy/web.yaml", WebYaml("bosun.test/web:1", 8080)}}, "web v1");
  ASSERT_TRUE(WaitFor([&] { return PhaseOf(good) == "Healthy"; }, 60s)) << Diagnose();
  ASSERT_TRUE(WaitFor([&] { return ServesOnlyV1(); }, 15s)) << Diagnose();

  // New pods that never become ready: httpd serves v2 on 8080, the probe asks 9999.
  const std::string bad_subject = "web v2 with readiness on 9999";
  const std::string bad = Push({{"deploy/web.yaml", WebYaml("bosun.test/web:2", 9999)}}, bad_subject);
  // The revert commit lands on the remote branch.
  const std::string head = RevertPushedOf(bad);
  ASSERT_FALSE(head.empty());
  EXPECT_EQ(Remote("rev-parse " + head + "^"), bad) << "the revert is not made on top of the bad commit";
  EXPECT_EQ(Remote("log -1 --format=%s " + head), "Revert \"" + bad_subject + "\"");
  std::string body = Remote("log -1 --format=%B " + head);
  EXPECT_NE(body.find("\nBosun-Reverts: " + bad), std::string::npos) << body;
  EXPECT_NE(body.find("\nBosun-Reason: progress deadline exceeded for deployment default/web"), std::string::npos)
      << body;
  // The revert undoes exactly the bad commit: the tree is the good one's.
  EXPECT_EQ(Remote("rev-parse " + head + "^{tree}"), Remote("rev-parse " + good + "^{tree}"));

  // The failed record: Degraded for ProgressDeadlineExceeded, then Reverted by the revert commit.
  ASSERT_TRUE(WaitFor([&] { return PhaseOf(bad) == "Reverted"; }, 30s)) << Diagnose();
  Object failed = *RecordOf(bad);
  EXPECT_EQ(failed.json().value("/status/revertedBy"_json_pointer, ""), head) << failed.status().dump(2);
  EXPECT_EQ(failed.json().value("/status/reason"_json_pointer, ""), "ProgressDeadlineExceeded")
      << failed.status().dump(2);
  EXPECT_NE(failed.json().value("/status/message"_json_pointer, "").find("progress deadline exceeded for deployment "
                                                                         "default/web"),
            std::string::npos)
      << failed.status().dump(2);
  // No pod of the new ReplicaSet ever became ready (the old ones do not count).
  EXPECT_NE(failed.json().value("/status/message"_json_pointer, "").find(": 0/2 new replicas available"),
            std::string::npos)
      << failed.status().dump(2);
  EXPECT_EQ(failed.json().value("/status/revert/commit"_json_pointer, ""), head) << failed.status().dump(2);
  EXPECT_TRUE(failed.json().value("/status/revert/automatic"_json_pointer, false)) << failed.status().dump(2);

  // The revert's own record: spec.reverts, Healthy, v1 serving again.
  // (Not an ASSERT: the history below is worth checking either way.)
  EXPECT_TRUE(WaitFor([&] { return PhaseOf(head) == "Healthy"; }, 45s)) << Diagnose();
  EXPECT_EQ(RecordOf(head)->json().value("/spec/reverts"_json_pointer, ""), bad);
  EXPECT_TRUE(WaitFor([&] { return ServesOnlyV1(); }, 20s)) << Diagnose();

  // `bosun history` shows all three.
  Cli h = Bosun({"history", "-o", "wide"});
  EXPECT_EQ(h.exit_code, 0) << h.err;
  for (const std::string& c : {good, bad, head}) EXPECT_NE(h.out.find(c.substr(0, 7)), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("Reverted"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("Revert \"" + bad_subject + "\""), std::string::npos) << h.out;
  Cli show = Bosun({"history", "show", bad.substr(0, 7)});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find(head), std::string::npos) << "reverted by is not shown:\n" << show.out;
}

// `bosun revert` of an old revision whose lines a later commit changed:
// refused as a conflict that needs a human; nothing pushed. No node needed.
TEST_F(RollbackE2EGuards, RevertThatConflictsIsRefused) {
  const std::string a = Push({{"deploy/settings.yaml", ConfigMapYaml("settings", "a")}}, "settings a");
  ASSERT_TRUE(WaitFor([&] { return PhaseOf(a) == "Healthy"; }, 30s)) << Diagnose();
  const std::string b = Push({{"deploy/settings.yaml", ConfigMapYaml("settings", "b")}}, "settings b");
  ASSERT_TRUE(WaitFor([&] { return PhaseOf(b) == "Healthy"; }, 30s)) << Diagnose();
  const std::string c = Push({{"deploy/settings.yaml", ConfigMapYaml("settings", "c")}}, "settings c");
  ASSERT_TRUE(WaitFor([&] { return PhaseOf(c) == "Healthy"; }, 30s)) << Diagnose();

  Cli r = Bosun({"revert", b.substr(0, 7), "--timeout", "30s"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  std::string err = r.err;
  std::transform(err.begin(), err.end(), err.begin(), [](unsigned char ch) { return std::tolower(ch); });
  EXPECT_NE(err.find("conflict"), std::string::npos) << r.err;
  EXPECT_NE(err.find("settings.yaml"), std::string::npos) << "the conflicting path is not named: " << r.err;
  EXPECT_EQ(Remote("rev-parse main"), c) << "something was pushed";
  Object rec = *RecordOf(b);
  EXPECT_TRUE(rec.json().value("/status/revert/needsHuman"_json_pointer, false)) << rec.status().dump(2);
  EXPECT_EQ(PhaseOf(c), "Healthy");
}

// A revert that turns Degraded is never reverted automatically: a broken
// Deployment fixed before its progress deadline, then `bosun revert` of the
// fix brings the broken one back; the revert's record goes Degraded and says
// it needs a human; the remote branch keeps the revert as head.
TEST_F(RollbackE2EGuards, DegradedRevertIsNotRevertedAgain) {
  StartAndWaitForNode();
  if (HasFatalFailure()) return;
  const std::string broken = Push({{"deploy/web.yaml", WebYaml("bosun.test/web:1", 9999)}}, "web, broken");
  ASSERT_TRUE(WaitFor([&] { return PhaseOf(broken) == "Progressing" || PhaseOf(broken) == "Applied"; }, 20s))
      << Diagnose();
  // Fixed well within the 10 s deadline of the broken rollout.
  const std::string fix = Push({{"deploy/web.yaml", WebYaml("bosun.test/web:1", 8080)}}, "fix readiness");
  ASSERT_TRUE(WaitFor([&] { return PhaseOf(fix) == "Healthy"; }, 60s)) << Diagnose();
  EXPECT_NE(PhaseOf(broken), "Degraded") << Diagnose();

  Cli r = Bosun({"revert", fix.substr(0, 7), "--reason", "testing the guard"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Diagnose();
  std::string revert;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto rec = RevertOf(fix);
        if (rec) revert = rec->json().value("/spec/commit"_json_pointer, "");
        return rec.has_value();
      },
      30s))
      << Diagnose();
  EXPECT_EQ(Remote("rev-parse main"), revert);
  ASSERT_TRUE(WaitFor([&] { return PhaseOf(revert) == "Degraded"; }, 60s)) << Diagnose();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto rec = RecordOf(revert);
        return rec && rec->json().contains("/status/revert"_json_pointer);
      },
      20s))
      << Diagnose();
  Object rec = *RecordOf(revert);
  EXPECT_TRUE(rec.json().value("/status/revert/needsHuman"_json_pointer, false)) << rec.status().dump(2);
  EXPECT_FALSE(rec.json().contains("/status/revert/commit"_json_pointer)) << rec.status().dump(2);
  EXPECT_NE(rec.json().value("/status/revert/error"_json_pointer, "").find("never reverts a revert"), std::string::npos)
      << rec.status().dump(2);
  EXPECT_EQ(Remote("rev-parse main"), revert) << "a revert was reverted:\n" << Diagnose();
  EXPECT_EQ(PhaseOf(revert), "Degraded");
}

// The revision that fails brought more than its own commit: a commit with a
// typo refused before it, then the bad image pushed together with a README
// change (one revision for both). Reverting the newest commit alone would
// leave the bad image live, or bring the typo back; the revert goes back to
// the last healthy revision instead: one commit whose tree is the good one's,
// v1 serves again, and the failed record is Reverted.
TEST_F(RollbackE2EGuards, ARevisionOfSeveralCommitsIsRevertedBackToTheLastHealthyOne) {
  StartAndWaitForNode();
  if (HasFatalFailure()) return;
  const std::string good = Push({{"deploy/web.yaml", WebYaml("bosun.test/web:1", 8080)}}, "web v1");
  ASSERT_TRUE(WaitFor([&] { return PhaseOf(good) == "Healthy"; }, 60s)) << Diagnose();
  ASSERT_TRUE(WaitFor([&] { return ServesOnlyV1(); }, 15s)) << Diagnose();

  std::string typo_yaml = ConfigMapYaml("settings", "a");
  typo_yaml.replace(typo_yaml.find("data:"), 5, "dta:");
  const std::string typo = Push({{"deploy/settings.yaml", typo_yaml}}, "settings, misspelt");
  ASSERT_TRUE(WaitFor([&] { return PhaseOf(typo) == "Refused"; }, 30s)) << Diagnose();

  git_.Commit({{"deploy/settings.yaml", ConfigMapYaml("settings", "a")},
               {"deploy/web.yaml", WebYaml("bosun.test/web:2", 9999)}},
              "fix settings, web v2");
  const std::string bad = Push({{"README.md", "the web app\n"}}, "readme");
  const std::string head = RevertPushedOf(bad);
  ASSERT_FALSE(head.empty());
  EXPECT_EQ(Remote("rev-parse " + head + "^"), bad);
  EXPECT_EQ(Remote("log -1 --format=%s " + head), "Revert \"readme\" and 2 earlier commits");
  const std::string body = Remote("log -1 --format=%B " + head);
  EXPECT_NE(body.find("\nBosun-Reverts: " + bad + "\n"), std::string::npos) << body;
  EXPECT_NE(body.find("\nBosun-Reverts-To: " + good + "\n"), std::string::npos) << body;
  // Back to the healthy tree: no typo, no v2, no README.
  EXPECT_EQ(Remote("rev-parse " + head + "^{tree}"), Remote("rev-parse " + good + "^{tree}"));

  ASSERT_TRUE(WaitFor([&] { return PhaseOf(bad) == "Reverted"; }, 30s)) << Diagnose();
  Object failed = *RecordOf(bad);
  EXPECT_EQ(failed.json().value("/status/revertedBy"_json_pointer, ""), head) << failed.status().dump(2);
  EXPECT_EQ(failed.json().value("/status/revert/backTo/commit"_json_pointer, ""), good) << failed.status().dump(2);
  EXPECT_EQ(PhaseOf(typo), "Refused");
  EXPECT_TRUE(WaitFor([&] { return PhaseOf(head) == "Healthy"; }, 45s)) << Diagnose();
  EXPECT_EQ(RecordOf(head)->json().value("/spec/revertsTo"_json_pointer, ""), good);
  EXPECT_TRUE(WaitFor([&] { return ServesOnlyV1(); }, 20s)) << Diagnose();

  Cli status = Bosun({"history", "show", bad.substr(0, 7)});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("undoing 3 commits back to " + good.substr(0, 7)), std::string::npos) << status.out;
}

INSTANTIATE_TEST_SUITE_P(RollbackE2E, RollbackE2E, ::testing::Values("file", "http"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace bosun::node
