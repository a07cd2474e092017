// Image GC on disk pressure (node/image_gc.h) against a real filesystem that
// fills up: the image store lives on a 32 MiB tmpfs mounted for the test
// (root), with three images of 1 MiB of random data each (docker-save
// archives made here) and a filler file that pushes usage over the high
// threshold. Unused images go least recently used first until usage is under
// the low threshold; images in use, pinned images and images younger than the
// minimum age never go.
#include <sys/mount.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/object.h"
#include "node/image_gc.h"
#include "node/node_info.h"
#include "node/image_store.h"
#include "tests/node/image_test_support.h"

namespace bosun::node {
namespace {

namespace fs = std::filesystem;
using bosun::test::RunCommand;
using bosun::test::Slurp;
using bosun::test::TempDir;

std::string Sha256Of(const std::string& path) {
  auto o = RunCommand("sha256sum " + path);
  return o.out.substr(0, 64);
}

class ImageGcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts a tmpfs)";
    store_dir_ = tmp_.Sub("images");
    fs::create_directories(store_dir_);
    ASSERT_EQ(::mount("tmpfs", store_dir_.c_str(), "tmpfs", 0, "size=32m"), 0) << std::strerror(errno);
    mounted_ = true;
  }
  void TearDown() override {
    store_.reset();
    if (mounted_) ::umount2(store_dir_.c_str(), MNT_DETACH);
  }

  // A docker-save archive of one image: one layer holding 1 MiB of random bytes.
  std::string MakeImage(const std::string& name) {
    std::string dir = tmp_.Sub("src-" + name);
    fs::create_directories(dir + "/rootfs");
    EXPECT_EQ(RunCommand("head -c 1048576 /dev/urandom > " + dir + "/rootfs/data").exit_code, 0);
    fs::create_directories(dir + "/out/layer0");
    EXPECT_EQ(RunCommand("tar -C " + dir + "/rootfs -cf " + dir + "/out/layer0/layer.tar .").exit_code, 0);
    std::string diff = Sha256Of(dir + "/out/layer0/layer.tar");
    Json config = {{"architecture", "amd64"},
                   {"os", "linux"},
                   {"config", {{"Cmd", Json::array({"sh"})}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", Json::array({"sha256:" + diff})}}}};
    std::string cfg_tmp = dir + "/config.json";
    std::ofstream(cfg_tmp) << config.dump();
    std::string cfg_hex = Sha256Of(cfg_tmp);
    fs::rename(cfg_tmp, dir + "/out/" + cfg_hex + ".json");
    Json doc = Json::array({{{"Config", cfg_hex + ".json"},
                             {"RepoTags", Json::array({"bosun.test/" + name + ":1"})},
                             {"Layers", Json::array({"layer0/layer.tar"})}}});
    std::ofstream(dir + "/out/manifest.json") << doc.dump();
    std::string archive = tmp_.Sub(name + ".tar");
    EXPECT_EQ(RunCommand("tar -C " + dir + "/out -cf " + archive + " .").exit_code, 0);
    return archive;
  }

  std::string Import(const std::string& name) {
    auto r = store_->Import(MakeImage(name));
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r && !r->empty() ? (*r)[0].digest : "";
  }

  double Usage() { return *DiskUsagePercent(store_dir_); }

  TempDir tmp_{"bosun-imagegc"};
  std::string store_dir_;
  bool mounted_ = false;
  std::unique_ptr<ImageStore> store_;
};

TEST_F(ImageGcTest, UnderPressureUnusedImagesGoLeastRecentlyUsedFirstDownToTheLowThreshold) {
  auto s = ImageStore::Open({store_dir_, {}, ""});
  ASSERT_TRUE(s) << s.error().message();
  store_ = std::move(*s);
  std::string a = Import("gc-a"), b = Import("gc-b"), c = Import("gc-c");
  ASSERT_FALSE(a.empty() || b.empty() || c.empty());

  std::set<std::string> in_use;
  ImageGcOptions o;
  o.dir = store_dir_;
  o.high_percent = 100;  // off while the uses are recorded
  o.low_percent = 90;
  o.minimum_age = std::chrono::milliseconds(0);
  o.in_use = [&] { return in_use; };
  ImageGc gc(store_.get(), o);
  // b was last used before c.
  in_use = {a, b};
  ASSERT_TRUE(gc.RunOnce());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  in_use = {a, c};
  ASSERT_TRUE(gc.RunOnce());
  in_use = {a};

  // Real pressure: a filler file takes the tmpfs to about 70%.
  double before = Usage();
  auto fill_mib = static_cast<int>((70.0 - before) * 32 / 100);
  ASSERT_GT(fill_mib, 0);
  ASSERT_EQ(RunCommand("head -c " + std::to_string(fill_mib) + "M /dev/zero > " + store_dir_ + "/filler").exit_code, 0);
  double pressed = Usage();
  // One image (~2 MiB: its layer blob and the unpacked layer, ~6%) is enough
  // to get under the low threshold; the high one is just below usage.
  int high = static_cast<int>(pressed) - 1;
  int low = static_cast<int>(pressed) - 3;
  ASSERT_TRUE(ValidateImageGcThresholds(high, low));
  gc.SetThresholds(high, low);

  auto removed = gc.RunOnce();
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_EQ(*removed, std::vector<std::string>{b}) << "usage was " << pressed << "%";
  EXPECT_LE(Usage(), low);
  EXPECT_TRUE(store_->Get(a)) << "an image in use was removed";
  EXPECT_FALSE(store_->Get(b));
  EXPECT_TRUE(store_->Get(c)) << "more was removed than the low threshold needs";

  // Below the high threshold now: nothing happens.
  auto again = gc.RunOnce();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());

  // A low threshold out of reach: every unused image goes, the used one stays.
  gc.SetThresholds(1, 0);
  auto all = gc.RunOnce();
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(*all, std::vector<std::string>{c});
  EXPECT_TRUE(store_->Get(a));
}

TEST_F(ImageGcTest, PinnedImagesAndImagesYoungerThanTheMinimumAgeStay) {
  auto s = ImageStore::Open({store_dir_, {}, ""});
  ASSERT_TRUE(s) << s.error().message();
  store_ = std::move(*s);
  std::string pinned = Import("gc-pinned"), young = Import("gc-young");
  ASSERT_FALSE(pinned.empty() || young.empty());

  ImageGcOptions o;
  o.dir = store_dir_;
  o.high_percent = 1;  // always under pressure
  o.low_percent = 0;
  o.minimum_age = std::chrono::milliseconds(400);
  o.pinned = {pinned};
  ImageGc gc(store_.get(), o);

  // Neither image is in use, the disk is "full", and still nothing goes: one
  // is pinned and the other was first seen just now.
  auto first = gc.RunOnce();
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_TRUE(first->empty());
  EXPECT_TRUE(store_->Get(young)) << "an image younger than the minimum age was removed";

  // Once it has been on the node for the minimum age, the unpinned one goes.
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  auto later = gc.RunOnce();
  ASSERT_TRUE(later) << later.error().message();
  EXPECT_EQ(*later, std::vector<std::string>{young});
  EXPECT_FALSE(store_->Get(young));
  EXPECT_TRUE(store_->Get(pinned)) << "a pinned (airgap) image was removed";
}

// The disk's usage is what `df` prints, not (size - available) / size: on a
// file system with blocks reserved for root (this machine kind's disk keeps
// most of its free space in reserve) the latter reads tens of percent more.
TEST(DiskUsage, IsWhatDfSays) {
  for (const std::string path : {"/", "/dev/shm", "/tmp"}) {
    auto ours = DiskUsagePercent(path);
    ASSERT_TRUE(ours) << ours.error().message();
    auto df = RunCommand("df --output=pcent " + path + " | tail -1 | tr -dc 0-9");
    ASSERT_EQ(df.exit_code, 0);
    ASSERT_FALSE(df.out.empty()) << path;
    // df rounds up to a whole percent.
    EXPECT_NEAR(*ours, std::stod(df.out), 1.0) << path;
  }
}

TEST(ImageGcThresholds, MustBePercentagesWithLowBelowHigh) {
  EXPECT_TRUE(ValidateImageGcThresholds(85, 80));
  EXPECT_TRUE(ValidateImageGcThresholds(100, 80));  // off
  auto equal = ValidateImageGcThresholds(80, 80);
  ASSERT_FALSE(equal);
  EXPECT_NE(equal.error().message().find("--image-gc-low-threshold"), std::string::npos) << equal.error().message();
  EXPECT_FALSE(ValidateImageGcThresholds(101, 80));
  EXPECT_FALSE(ValidateImageGcThresholds(85, -1));
}

}  // namespace
}  // namespace bosun::node
