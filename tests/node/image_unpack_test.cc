// Layer unpacking (node/image_unpack.cc): whiteouts and opaque directories in
// overlayfs' form — checked through a real overlay mount —, modes, owners,
// links, and entries that try to leave the layer.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "node/image_internal.h"
#include "tests/node/image_test_support.h"

namespace bosun::node::image_internal {
namespace {

namespace fs = std::filesystem;
using bosun::test::Slurp;
using bosun::test::TempDir;

struct TarEntry {
  TarEntry(std::string p, char t = 'f', std::string d = "", int m = 0644, int u = 0, int g = 0)
      : path(std::move(p)), type(t), data(std::move(d)), mode(m), uid(u), gid(g) {}
  std::string path;
  char type;         // f file, d dir, l symlink, h hardlink
  std::string data;  // file content, or link target
  int mode;
  int uid, gid;
};

// Writes a tar (gzip-compressed when `gzip`) with libarchive.
void WriteTar(const std::string& path, const std::vector<TarEntry>& entries, bool gzip) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, 1700000000, 0);
    switch (t.type) {
      case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, t.mode);
        break;
      case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_perm(e, 0777);
        archive_entry_set_symlink(e, t.data.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, t.mode);
        archive_entry_set_hardlink(e, t.data.c_str());
        break;
      default:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, t.mode);
        archive_entry_set_size(e, static_cast<la_int64_t>(t.data.size()));
    }
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK) << t.path;
    if (t.type == 'f' && !t.data.empty()) archive_write_data(a, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

bool IsWhiteout(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

std::string Opaque(const std::string& dir) {
  char buf[8] = {0};
  ssize_t n = lgetxattr(dir.c_str(), "trusted.overlay.opaque", buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

class ImageUnpackTest : public ::testing::TestWithParam<bool> {
 protected:
  TempDir tmp_{"bosun-unpack"};
};

TEST_P(ImageUnpackTest, KeepsModesOwnersLinksAndTurnsWhiteoutsIntoOverlayForm) {
  std::string blob = tmp_.Sub("layer.tar");
  WriteTar(blob,
           {{"./", 'd', "", 0755},
            {"./a/", 'd', "", 0750, 1000, 1000},
            {"./a/keep", 'f', "kept", 0640, 1000, 1001},
            {"./a/link", 'l', "/etc/passwd"},
            {"./a/hard", 'h', "./a/keep", 0640},
            {"./a/.wh.gone", 'f', ""},
            {"./b/", 'd', "", 0755},
            {"./b/.wh..wh..opq", 'f', ""},
            {"./b/new", 'f', "new"},
            {"/abs/file", 'f', "leading slash dropped"}},
           GetParam());
  std::string dest = tmp_.Sub("layer");
  Status s = UnpackLayer(blob, dest);
  ASSERT_TRUE(s) << s.error().message();

  struct stat st {};
  ASSERT_EQ(lstat((dest + "/a/keep").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  if (geteuid() == 0) {
    EXPECT_EQ(st.st_uid, 1000u);
    EXPECT_EQ(st.st_gid, 1001u);
  }
  EXPECT_EQ(Slurp(dest + "/a/keep"), "kept");
  EXPECT_EQ(fs::read_symlink(dest + "/a/link").string(), "/etc/passwd");
  struct stat hard {};
  ASSERT_EQ(lstat((dest + "/a/hard").c_str(), &hard), 0);
  EXPECT_EQ(hard.st_ino, st.st_ino) << "a hard link shares the inode";
  ASSERT_EQ(lstat((dest + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_TRUE(IsWhiteout(dest + "/a/gone"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest + "/a/.wh.gone")));
  EXPECT_EQ(Opaque(dest + "/b"), "y");
  EXPECT_FALSE(fs::exists(dest + "/b/.wh..wh..opq"));
  EXPECT_EQ(Slurp(dest + "/b/new"), "new");
  EXPECT_EQ(Slurp(dest + "/abs/file"), "leading slash dropped");
  // Nothing but the layer itself is left beside it.
  EXPECT_EQ(bosun::test::CountFiles(tmp_.path()), 2u);
}

INSTANTIATE_TEST_SUITE_P(ImageUnpackPlainAndGzip, ImageUnpackTest, ::testing::Values(false, true));

TEST(ImageUnpack, WhiteoutsHideLowerFilesInARealOverlayMount) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for an overlay mount";
  TempDir tmp("bosun-unpack-ovl");
  WriteTar(tmp.Sub("lower.tar"),
           {{"a/", 'd'}, {"a/gone", 'f', "old"}, {"a/stays", 'f', "stays"}, {"b/", 'd'}, {"b/old", 'f', "old"}}, true);
  WriteTar(tmp.Sub("upper.tar"), {{"a/", 'd'}, {"a/.wh.gone", 'f'}, {"b/", 'd'}, {"b/.wh..wh..opq", 'f'},
                                  {"b/new", 'f', "new"}},
           true);
  ASSERT_TRUE(UnpackLayer(tmp.Sub("lower.tar"), tmp.Sub("l1")));
  ASSERT_TRUE(UnpackLayer(tmp.Sub("upper.tar"), tmp.Sub("l2")));
  fs::create_directories(tmp.Sub("merged"));
  std::string opts = "lowerdir=" + tmp.Sub("l2") + ":" + tmp.Sub("l1");
  ASSERT_EQ(mount("overlay", tmp.Sub("merged").c_str(), "overlay", 0, opts.c_str()), 0) << strerror(errno);
  bool gone = fs::exists(tmp.Sub("merged/a/gone"));
  bool stays = fs::exists(tmp.Sub("merged/a/stays"));
  bool old = fs::exists(tmp.Sub("merged/b/old"));
  bool added = fs::exists(tmp.Sub("merged/b/new"));
  umount2(tmp.Sub("merged").c_str(), MNT_DETACH);
  EXPECT_FALSE(gone) << "the whiteout hides the lower file";
  EXPECT_TRUE(stays);
  EXPECT_FALSE(old) << "the opaque directory hides the lower directory's content";
  EXPECT_TRUE(added);
}

TEST(ImageUnpack, RefusesEntriesLeavingTheLayerAndLeavesNothingBehind) {
  TempDir tmp("bosun-unpack-evil");
  std::string outside = tmp.Sub("outside");
  fs::create_directories(outside);
  struct Case {
    const char* name;
    std::vector<TarEntry> entries;
  };
  std::vector<Case> cases = {
      {"dotdot", {{"a/", 'd'}, {"a/../../outside/evil", 'f', "x"}}},
      {"through a symlink", {{"lnk", 'l', outside}, {"lnk/evil", 'f', "x"}}},
      {"whiteout through a symlink", {{"lnk", 'l', outside}, {"lnk/.wh.evil", 'f'}}},
      {"hardlink out", {{"h", 'h', "../outside/x"}}},
  };
  for (const auto& c : cases) {
    std::string blob = tmp.Sub(std::string("evil.tar"));
    WriteTar(blob, c.entries, false);
    std::string dest = tmp.Sub("layer");
    fs::remove_all(dest);
    Status s = UnpackLayer(blob, dest);
    EXPECT_FALSE(s) << c.name;
    if (!s) {
      EXPECT_NE(s.error().message().find("evil.tar"), std::string::npos) << s.error().message();
    }
    EXPECT_FALSE(fs::exists(dest)) << c.name << ": no half layer";
    EXPECT_EQ(bosun::test::CountFiles(outside), 0u) << c.name << ": nothing written outside";
    EXPECT_EQ(bosun::test::CountFiles(tmp.path()), 2u) << c.name << ": no temporary folder left";
  }
}

TEST(ImageUnpack, DiffIdIsTheDigestOfTheUncompressedTar) {
  TempDir tmp("bosun-diffid");
  WriteTar(tmp.Sub("plain.tar"), {{"f", 'f', "hello"}}, false);
  WriteTar(tmp.Sub("gz.tar"), {{"f", 'f', "hello"}}, true);
  auto plain = Sha256File(tmp.Sub("plain.tar"));
  ASSERT_TRUE(plain);
  auto d1 = DiffIdOfFile(tmp.Sub("plain.tar"));
  auto d2 = DiffIdOfFile(tmp.Sub("gz.tar"));
  ASSERT_TRUE(d1 && d2);
  EXPECT_EQ(*d1, *plain);
  EXPECT_EQ(*d2, *plain);
  EXPECT_NE(*Sha256File(tmp.Sub("gz.tar")), *plain);
}

TEST(ImageReference, NormalizesAsDockerDoes) {
  EXPECT_EQ(*NormalizeReference("busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(*NormalizeReference("busybox:1.36"), "docker.io/library/busybox:1.36");
  EXPECT_EQ(*NormalizeReference("user/app"), "docker.io/user/app:latest");
  EXPECT_EQ(*NormalizeReference("127.0.0.1:5000/web:1"), "127.0.0.1:5000/web:1");
  EXPECT_EQ(*NormalizeReference("localhost/x"), "localhost/x:latest");
  EXPECT_EQ(*NormalizeReference("bosun.test/web:2"), "bosun.test/web:2");
  std::string d = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(*NormalizeReference("reg:5000/web@" + d), "reg:5000/web@" + d);
  EXPECT_FALSE(NormalizeReference("Busybox"));
  EXPECT_FALSE(NormalizeReference("web@sha256:123"));
  EXPECT_FALSE(NormalizeReference(""));
}

TEST(ImageReference, PullPolicyDefaultsAsKubernetes) {
  EXPECT_EQ(DefaultPullPolicy("busybox"), PullPolicy::kAlways);
  EXPECT_EQ(DefaultPullPolicy("busybox:latest"), PullPolicy::kAlways);
  EXPECT_EQ(DefaultPullPolicy("busybox:1.36"), PullPolicy::kIfNotPresent);
  EXPECT_EQ(DefaultPullPolicy("busybox@sha256:" + std::string(64, 'b')), PullPolicy::kIfNotPresent);
  EXPECT_EQ(*ParsePullPolicy("Never"), PullPolicy::kNever);
  EXPECT_EQ(*ParsePullPolicy("IfNotPresent"), PullPolicy::kIfNotPresent);
  EXPECT_EQ(*ParsePullPolicy("Always"), PullPolicy::kAlways);
  EXPECT_FALSE(ParsePullPolicy("always"));
}

}  // namespace
}  // namespace bosun::node::image_internal
