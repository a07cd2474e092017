// A repository of 10,000 objects: a one-file commit must not cost a full
// re-read, a full list or a full plan. Asserts what work was done (objects
// written, files re-read); the figures it prints are for people (speed is
// measured in bench/, not asserted by tests). Disabled by default because it
// takes a while; run with --gtest_also_run_disabled_tests.
#include <gmock/gmock.h>

#include "reconciler/history.h"
#include "tests/reconciler/sync_test_support.h"

namespace bosun::reconciler::synctest {
namespace {

class SyncScaleTest : public SyncFixture {};

std::string ManyConfigMaps(int file, int per_file, const std::string& value) {
  std::string out;
  for (int i = 0; i < per_file; ++i) {
    out += "---\n" + ConfigMapYaml("cm-" + std::to_string(file) + "-" + std::to_string(i), "default", value);
  }
  return out;
}

int64_t PhaseMs(const Object& rec, const std::string& name) {
  for (const auto& p : rec.status()["phases"]) {
    if (p["name"] == name) return p["durationMs"].get<int64_t>();
  }
  return -1;
}

TEST_F(SyncScaleTest, DISABLED_AOneFileCommitInATenThousandObjectRepository) {
  // Keep the "applied" lines (they carry sinceFetchMs: from the end of the
  // fetch to the batch's commit); drop the 10,000 "created" ones.
  std::mutex mu;
  std::vector<std::string> applied;
  log::SetSink([&](const log::Record& r) {
    if (r.message != "applied") return;
    std::lock_guard<std::mutex> lock(mu);
    applied.push_back(log::FormatLine(r));
  });
  constexpr int kFiles = 1000, kPerFile = 10;
  std::map<std::string, std::optional<std::string>> files;
  for (int f = 0; f < kFiles; ++f) files["cms/f" + std::to_string(f) + ".yaml"] = ManyConfigMaps(f, kPerFile, "v1");
  repo_.Commit(files, "ten thousand objects");
  MakeController();

  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Sync(), "00000001");
  auto first = std::chrono::steady_clock::now() - t0;
  Object r1 = Record("00000001");
  EXPECT_EQ(r1.status()["changes"]["created"], kFiles * kPerFile);

  for (int round = 0; round < 5; ++round) {
    repo_.Commit({{"cms/f7.yaml", ManyConfigMaps(7, kPerFile, "v" + std::to_string(round + 2))}}, "one file");
    auto t1 = std::chrono::steady_clock::now();
    std::string name = Sync();
    auto took = std::chrono::steady_clock::now() - t1;
    Object rec = Record(name);
    EXPECT_EQ(rec.status()["changes"]["updated"], kPerFile);
    EXPECT_EQ(rec.status()["changes"]["unchanged"], kFiles * kPerFile - kPerFile);
    int64_t fetch = PhaseMs(rec, "Fetched");
    std::printf("one-file commit %d: pass %lld ms (fetch %lld, validate %lld, apply %lld) -> fetch->applied ~%lld ms\n",
                round, static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()),
                static_cast<long long>(fetch), static_cast<long long>(PhaseMs(rec, "Validated")),
                static_cast<long long>(PhaseMs(rec, "Applied")),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count() - fetch));
  }
  std::printf("first sync of %d objects: %lld ms\n", kFiles * kPerFile,
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(first).count()));
  log::SetSink(nullptr);
  for (const auto& l : applied) std::printf("%s\n", l.c_str());
}

}  // namespace
}  // namespace bosun::reconciler::synctest
