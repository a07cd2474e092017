// Revision records as plain data: reconciler/history.h.
#include "reconciler/history.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bosun::reconciler {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";

TEST(HistoryTest, NamesAreZeroPaddedSequenceNumbers) {
  EXPECT_EQ(RevisionName(1), "00000001");
  EXPECT_EQ(RevisionName(42), "00000042");
  EXPECT_EQ(RevisionName(123456789), "123456789");
  EXPECT_EQ(ShortSha(kSha), "0123456");
}

TEST(HistoryTest, UrlsLoseTheirCredentials) {
  EXPECT_EQ(RedactUrl("https://bob:secret@git.example.com/shop.git"), "https://git.example.com/shop.git");
  EXPECT_EQ(RedactUrl("https://git.example.com/shop.git"), "https://git.example.com/shop.git");
  EXPECT_EQ(RedactUrl("git@github.com:org/shop.git"), "git@github.com:org/shop.git");
  EXPECT_EQ(RedactUrl("/srv/git/shop.git"), "/srv/git/shop.git");
  EXPECT_EQ(RedactUrl("https://host/a@b"), "https://host/a@b");
}

gitsync::CommitInfo Commit() {
  gitsync::CommitInfo c;
  c.id = kSha;
  c.parents = {"fedcba9876543210fedcba9876543210fedcba98"};
  c.author = {"Ada", "ada@example.com", 1790000000, 60};
  c.committer = {"Cy", "cy@example.com", 1790000060, 330};  // +05:30
  c.message = "web: 3 replicas\n";
  c.signature = "-----BEGIN SSH SIGNATURE-----";
  return c;
}

TEST(HistoryTest, ANewRecordCarriesTheCommit) {
  Object r = NewRevisionRecord(7, Commit(), "webhook", {"https://h/r.git", "main", "deploy"}, "");
  EXPECT_EQ(r.name(), "00000007");
  EXPECT_EQ(r.api_version(), "bosun.dev/v1");
  EXPECT_EQ(r.kind(), "Revision");
  EXPECT_EQ(r.label(kCommitLabel).value_or(""), kSha);
  EXPECT_EQ(r.label(kSequenceLabel).value_or(""), "7");
  const Json& s = r.spec();
  EXPECT_EQ(s["sequence"], 7);
  EXPECT_EQ(s["author"], Json({{"name", "Ada"}, {"email", "ada@example.com"}, {"time", "2026-09-21T15:13:20+01:00"}}));
  // In the committer's time zone, as git shows it; the same instant.
  EXPECT_EQ(s["committer"]["time"], "2026-09-21T19:44:20+05:30");
  EXPECT_EQ(ParseRfc3339(s["committer"]["time"].get<std::string>()), WallTime(std::chrono::seconds(1790000060)));
  EXPECT_EQ(s["signature"]["signed"], true);
  EXPECT_EQ(s["signature"]["status"], "unverified");
  EXPECT_EQ(s["trigger"], "webhook");
  EXPECT_EQ(s["source"]["path"], "deploy");
  EXPECT_FALSE(s.contains("reverts"));
  EXPECT_EQ(NewRevisionRecord(8, Commit(), "poll", {}, kSha).spec()["reverts"], kSha);
}

PlannedChange Update(const std::string& name, size_t value_bytes) {
  PlannedChange c;
  c.action = PlannedChange::Action::kUpdate;
  c.kind = KindRegistry::Builtin().FindKind("ConfigMap");
  c.ns = "default";
  c.name = name;
  c.path = name + ".yaml";
  FieldChange f;
  f.field = "data.key";
  f.op = FieldChange::Op::kChanged;
  f.from = std::string(value_bytes, 'a');
  f.to = std::string(value_bytes, 'b');
  c.diff.push_back(f);
  return c;
}

TEST(HistoryTest, ChangesAreCutToKeepTheRecordUnderItsLimit) {
  Plan plan;
  for (int i = 0; i < 10; ++i) plan.changes.push_back(Update("cm" + std::to_string(i), 3000));
  plan.updated = 10;
  Object r = NewRevisionRecord(1, Commit(), "poll", {}, "");
  SetChanges(r, plan, 5, 1 << 20);
  EXPECT_EQ(r.status()["truncated"], false);
  EXPECT_EQ(r.status()["objects"].size(), 10u);
  EXPECT_EQ(r.status()["changes"]["unchanged"], 5);

  Object small = NewRevisionRecord(1, Commit(), "poll", {}, "");
  SetChanges(small, plan, 0, 16000);
  EXPECT_LE(small.json().dump().size(), 16000u);
  EXPECT_EQ(small.status()["truncated"], true);
  // Every object still listed (without its diff once the room is gone).
  ASSERT_EQ(small.status()["objects"].size(), 10u);
  EXPECT_TRUE(small.status()["objects"][0].contains("diff"));
  EXPECT_FALSE(small.status()["objects"][9].contains("diff"));
  EXPECT_EQ(small.status()["changes"]["updated"], 10);
  // A cut record counts what it wrote of each kind (revision health waits
  // for that many); an uncut one lists them instead.
  EXPECT_EQ(small.status()["writtenByKind"], Json({{"ConfigMap", 10}}));
  EXPECT_FALSE(r.status().contains("writtenByKind"));
}

// Fields the cluster owns whose live value differs from the repository's are
// listed for every object compared, changed or not; a Secret's values never.
TEST(HistoryTest, FieldsTheClusterOwnsAreListedWithoutSecretValues) {
  Plan plan;
  PlannedChange web;
  web.action = PlannedChange::Action::kUnchanged;
  web.kind = KindRegistry::Builtin().FindKind("Deployment");
  web.ns = "shop";
  web.name = "web";
  web.path = "web.yaml";
  FieldChange replicas;
  replicas.field = "spec.replicas";
  replicas.op = FieldChange::Op::kChanged;
  replicas.from = 5;
  replicas.to = 3;
  web.ignored.push_back(replicas);
  plan.changes.push_back(web);
  PlannedChange creds = web;
  creds.kind = KindRegistry::Builtin().FindKind("Secret");
  creds.name = "creds";
  creds.ignored[0].field = "data.token";
  creds.ignored[0].from = "bGl2ZQ==";
  creds.ignored[0].to = "cmVwbw==";
  creds.ignored[0].redacted = true;
  plan.changes.push_back(creds);
  plan.changes.push_back(Update("plain", 10));  // nothing owned: not listed
  plan.unchanged = 2;
  plan.updated = 1;
  Object r = NewRevisionRecord(1, Commit(), "poll", {}, "");
  SetChanges(r, plan, 0, 1 << 20);
  EXPECT_EQ(r.status()["changes"]["ignoring"], 2);
  const Json& ignored = r.status()["ignoredDifferences"];
  ASSERT_EQ(ignored.size(), 2u) << ignored.dump();
  EXPECT_EQ(ignored[0]["kind"], "Deployment");
  EXPECT_EQ(ignored[0]["path"], "web.yaml");
  EXPECT_EQ(ignored[0]["fields"],
            Json::array({{{"field", "spec.replicas"}, {"op", "changed"}, {"from", 5}, {"to", 3}}}));
  EXPECT_EQ(ignored[1]["fields"], Json::array({{{"field", "data.token"}, {"op", "changed"}}}));
  EXPECT_EQ(r.json().dump().find("bGl2ZQ=="), std::string::npos);
  EXPECT_EQ(r.json().dump().find("cmVwbw=="), std::string::npos);
  EXPECT_EQ(r.status()["objects"].size(), 1u) << "unchanged objects are not changes";

  // Written again (a retried apply): no stale list; none owned: none listed.
  Plan none;
  none.changes.push_back(Update("plain", 10));
  SetChanges(r, none, 0, 1 << 20);
  EXPECT_FALSE(r.status().contains("ignoredDifferences"));
  EXPECT_FALSE(r.status()["changes"].contains("ignoring"));

  // Cut to fit like the rest, and counted whole.
  Plan many;
  for (int i = 0; i < 50; ++i) {
    PlannedChange c = web;
    c.name = "web" + std::to_string(i);
    c.ignored[0].to = std::string(400, 'x');
    many.changes.push_back(c);
  }
  Object small = NewRevisionRecord(1, Commit(), "poll", {}, "");
  SetChanges(small, many, 0, 8000);
  EXPECT_LE(small.json().dump().size(), 8000u);
  // The objects list is whole (none changed): revision health reads it so.
  EXPECT_EQ(small.status()["truncated"], false);
  EXPECT_FALSE(small.status().contains("writtenByKind"));
  EXPECT_EQ(small.status()["ignoredDifferencesTruncated"], true);
  EXPECT_EQ(small.status()["changes"]["ignoring"], 50);
  EXPECT_GT(small.status()["ignoredDifferences"].size(), 0u);
  EXPECT_LT(small.status()["ignoredDifferences"].size(), 50u);
}

TEST(HistoryTest, EveryErrorIsKeptUnlessTheRecordWouldPassItsLimit) {
  std::vector<Diagnostic> ds;
  for (int i = 0; i < 3; ++i) {
    Diagnostic d;
    d.file = "web.yaml";
    d.pos = SourcePos{i + 1, 3};
    d.field = "spec.replicas";
    d.message = "must be an integer";
    ds.push_back(d);
  }
  ds[2].severity = Severity::kWarning;
  Object r = NewRevisionRecord(1, Commit(), "poll", {}, "");
  SetDiagnostics(r, ds, 1 << 20);
  EXPECT_THAT(r.status()["errors"], ElementsAre("web.yaml:1:3: spec.replicas: must be an integer",
                                                "web.yaml:2:3: spec.replicas: must be an integer"));
  EXPECT_EQ(r.status()["warnings"].size(), 1u);

  std::vector<Diagnostic> many(5000, ds[0]);
  Object big = NewRevisionRecord(1, Commit(), "poll", {}, "");
  SetDiagnostics(big, many, 64 * 1024);
  EXPECT_LE(big.json().dump().size(), 64u * 1024);
  EXPECT_THAT(big.status()["errors"].back().get<std::string>(), HasSubstr("more errors"));
  EXPECT_EQ(big.status()["truncated"], true);
}

TEST(HistoryTest, DriftOfTheSameObjectMergesUntilHealed) {
  Object r = NewRevisionRecord(1, Commit(), "poll", {}, "");
  DriftEntry e;
  e.kind = KindRegistry::Builtin().FindKind("Deployment");
  e.ns = "shop";
  e.name = "web";
  e.fields = {"spec.replicas"};
  AddDrift(r, e);
  e.fields = {"spec.template.spec.containers[0].image"};
  AddDrift(r, e);
  ASSERT_EQ(r.status()["drift"].size(), 1u);
  EXPECT_EQ(r.status()["drift"][0]["fields"], Json::array({"spec.replicas", "spec.template.spec.containers[0].image"}));
  e.healed = true;
  AddDrift(r, e);
  ASSERT_EQ(r.status()["drift"].size(), 1u);
  EXPECT_EQ(r.status()["drift"][0]["healed"], true);
  // After a heal, the next drift is a new entry.
  e.healed = false;
  AddDrift(r, e);
  EXPECT_EQ(r.status()["drift"].size(), 2u);
  for (size_t i = 0; i < kMaxDriftEntries + 10; ++i) {
    e.name = "web" + std::to_string(i);
    AddDrift(r, e);
  }
  EXPECT_EQ(r.status()["drift"].size(), kMaxDriftEntries);
  EXPECT_EQ(r.status()["driftDropped"], 12);
}

RecordInfo Info(int64_t seq, const std::string& phase, size_t bytes = 100, bool marker = false) {
  RecordInfo i;
  i.name = RevisionName(seq);
  i.sequence = seq;
  i.commit = "c" + std::to_string(seq);
  i.phase = phase;
  i.bytes = bytes;
  i.applied_marker = marker;
  return i;
}

TEST(HistoryTest, TheIndexKnowsTheLiveAndPendingRecords) {
  RevisionIndex idx;
  EXPECT_EQ(idx.NextSequence(), 1);
  EXPECT_EQ(idx.Live(), nullptr);
  idx.Put(Info(1, "Healthy"));
  idx.Put(Info(2, "Refused"));
  idx.Put(Info(3, "Skipped"));
  EXPECT_EQ(idx.Live()->name, "00000001");
  EXPECT_EQ(idx.LastAttempt()->name, "00000002");
  idx.Put(Info(4, "Validated"));
  ASSERT_EQ(idx.Pending().size(), 1u);
  EXPECT_EQ(idx.Live()->name, "00000001");
  idx.Put(Info(4, "Validated", 100, true));  // its batch committed
  EXPECT_EQ(idx.Live()->name, "00000004");
  EXPECT_TRUE(idx.Pending().empty());
  EXPECT_EQ(idx.NextSequence(), 5);
  EXPECT_EQ(idx.NewestOf("c2")->name, "00000002");
  EXPECT_TRUE(idx.HasCommit("c3"));
}

TEST(HistoryTest, TheLimitRemovesTheOldestButNeverWhatIsKept) {
  RevisionIndex idx;
  for (int i = 1; i <= 6; ++i) idx.Put(Info(i, "Applied", 100));
  EXPECT_THAT(idx.OverLimit(4, 0, {}), ElementsAre("00000001", "00000002"));
  EXPECT_THAT(idx.OverLimit(4, 0, {"00000001"}), ElementsAre("00000002", "00000003"));
  EXPECT_THAT(idx.OverLimit(0, 350, {}), ElementsAre("00000001", "00000002", "00000003"));
  EXPECT_TRUE(idx.OverLimit(0, 0, {}).empty());
}

// Skipped records (commits a push brought together, applied by the head's
// record) do not push records of what was applied out: they go with the
// counted records older than them, and count in bytes.
TEST(HistoryTest, SkippedRecordsDoNotCountAgainstTheLimit) {
  RevisionIndex idx;
  idx.Put(Info(1, "Applied", 100));
  idx.Put(Info(2, "Skipped", 100));
  idx.Put(Info(3, "Healthy", 100));
  for (int i = 4; i <= 40; ++i) idx.Put(Info(i, "Skipped", 100));
  idx.Put(Info(41, "Healthy", 100));
  EXPECT_TRUE(idx.OverLimit(3, 0, {}).empty());
  EXPECT_THAT(idx.OverLimit(2, 0, {}), ElementsAre("00000001"));
  EXPECT_THAT(idx.OverLimit(1, 0, {}), ElementsAre("00000001", "00000002", "00000003"));
  EXPECT_EQ(idx.OverLimit(0, 4000, {}).size(), 1u);  // bytes: every record counts
}

}  // namespace
}  // namespace bosun::reconciler
