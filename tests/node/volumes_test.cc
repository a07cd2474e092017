// tests/node/volumes_test.cc — VolumeManager with real mounts (as root):
// configMap/secret projection, the secret tmpfs, atomic refresh, emptyDir
// on tmpfs, hostPath type checks, mounts for volumeMounts, and a Teardown
// that leaves nothing mounted.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "node/volumes.h"
#include "tests/test_support.h"

namespace bosun::node {
namespace {

namespace fs = std::filesystem;

std::string Read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// "tmpfs" when `dir` is a tmpfs mount point per /proc/self/mountinfo, the
// fs type of the mount at `dir`, or "" when nothing is mounted there.
std::string MountTypeAt(const std::string& dir) {
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string id, parent, devno, root, point, opts, field;
    in >> id >> parent >> devno >> root >> point >> opts;
    while (in >> field && field != "-") {}
    std::string type;
    in >> type;
    if (point == dir) return type;
  }
  return "";
}

bool AnythingMountedUnder(const std::string& dir) {
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string id, parent, devno, root, point;
    in >> id >> parent >> devno >> root >> point;
    if (point == dir || point.rfind(dir + "/", 0) == 0) return true;
  }
  return false;
}

// A temp dir for pods that unmounts whatever is left under it before removal.
class VolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (tmpfs mounts)";
    pods_ = tmp_.Sub("pods");
    fs::create_directories(pods_);
  }
  void TearDown() override {
    // Safety net for failed tests: detach every mount we made, deepest first.
    for (int i = 0; i < 10 && AnythingMountedUnder(tmp_.path()); ++i) {
      std::ifstream f("/proc/self/mountinfo");
      std::string line, deepest;
      while (std::getline(f, line)) {
        std::istringstream in(line);
        std::string id, parent, devno, root, point;
        in >> id >> parent >> devno >> root >> point;
        if (point.rfind(tmp_.path() + "/", 0) == 0 && point.size() > deepest.size()) deepest = point;
      }
      if (!deepest.empty()) umount2(deepest.c_str(), MNT_DETACH);
    }
  }

  Object Pod(const std::string& uid, Json volumes, Json mounts = Json::array()) {
    Json doc = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", "web"}, {"namespace", "default"}, {"uid", uid}}},
                {"spec", {{"volumes", volumes}, {"containers", Json::array({{{"name", "app"}, {"volumeMounts", mounts}}})}}}};
    return Object(doc);
  }

  ObjectFetcher Fetcher() {
    return [this](const std::string& kind, const std::string& ns, const std::string& name) -> Result<Object> {
      auto it = objects_.find(kind + "/" + ns + "/" + name);
      if (it == objects_.end()) return Error(Code::kNotFound, kind + " " + ns + "/" + name + " not found");
      return it->second;
    };
  }
  void Put(const std::string& kind, const std::string& name, Json doc) {
    doc["kind"] = kind;
    doc["metadata"] = {{"name", name}, {"namespace", "default"}};
    objects_[kind + "/default/" + name] = Object(doc);
  }

  bosun::test::TempDir tmp_{"bosun-volumes"};
  std::string pods_;
  std::map<std::string, Object> objects_;
};

TEST_F(VolumesTest, ConfigMapProjectedWithKeysItemsAndModes) {
  Put("ConfigMap", "cfg", {{"data", {{"app.conf", "port=80\n"}, {"extra", "x"}}}, {"binaryData", {{"blob", "AAEC"}}}});
  VolumeManager vm(pods_);
  Object pod = Pod("uid-cm", Json::array({
      {{"name", "all"}, {"configMap", {{"name", "cfg"}}}},
      {{"name", "some"}, {"configMap", {{"name", "cfg"}, {"defaultMode", 0600},
                                        {"items", Json::array({{{"key", "app.conf"}, {"path", "conf/main.conf"}},
                                                               {{"key", "extra"}, {"path", "e"}, {"mode", 0444}}})}}}}}));
  auto paths = vm.Setup(pod, Fetcher());
  ASSERT_TRUE(paths) << paths.error().message();
  std::string all = (*paths)["all"], some = (*paths)["some"];
  EXPECT_EQ(all, pods_ + "/uid-cm/volumes/all");
  EXPECT_EQ(Read(all + "/app.conf"), "port=80\n");
  EXPECT_EQ(Read(all + "/blob"), std::string("\0\1\2", 3));
  EXPECT_EQ(ModeOf(all + "/app.conf"), 0644u);
  EXPECT_TRUE(fs::is_symlink(all + "/app.conf"));
  EXPECT_EQ(fs::read_symlink(all + "/app.conf").string(), "..data/app.conf");
  EXPECT_TRUE(fs::is_symlink(all + "/..data"));
  EXPECT_EQ(MountTypeAt(all), "");  // configMaps are on disk
  EXPECT_EQ(Read(some + "/conf/main.conf"), "port=80\n");
  EXPECT_EQ(ModeOf(some + "/conf/main.conf"), 0600u);
  EXPECT_EQ(ModeOf(some + "/e"), 0444u);
  EXPECT_FALSE(fs::exists(some + "/app.conf"));
  EXPECT_FALSE(fs::exists(some + "/blob"));
  // Setup is idempotent.
  auto again = vm.Setup(pod, Fetcher());
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, *paths);
  EXPECT_TRUE(vm.Teardown("uid-cm"));
  EXPECT_FALSE(fs::exists(pods_ + "/uid-cm"));
}

TEST_F(VolumesTest, MissingConfigMapIsAnErrorUnlessOptional) {
  VolumeManager vm(pods_);
  auto r = vm.Setup(Pod("uid-miss", Json::array({{{"name", "c"}, {"configMap", {{"name", "absent"}}}}})), Fetcher());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("absent"), std::string::npos) << r.error().message();
  auto ok = vm.Setup(Pod("uid-miss", Json::array({{{"name", "c"}, {"configMap", {{"name", "absent"}, {"optional", true}}}}})),
                     Fetcher());
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_TRUE(fs::is_empty(pods_ + "/uid-miss/volumes/c/..data/"));
  EXPECT_TRUE(vm.Teardown("uid-miss"));
}

TEST_F(VolumesTest, SecretOnTmpfsMode0400DecodedAndRefreshedAtomically) {
  Put("Secret", "db", {{"data", {{"password", "czNjcjN0"}}}, {"stringData", {{"user", "admin"}}}});  // "s3cr3t"
  VolumeManager vm(pods_);
  Object pod = Pod("uid-sec", Json::array({{{"name", "creds"}, {"secret", {{"secretName", "db"}}}}}),
                   Json::array({{{"name", "creds"}, {"mountPath", "/etc/creds"}, {"readOnly", true}}}));
  auto paths = vm.Setup(pod, Fetcher());
  ASSERT_TRUE(paths) << paths.error().message();
  std::string dir = (*paths)["creds"];
  EXPECT_EQ(MountTypeAt(dir), "tmpfs");
  EXPECT_EQ(Read(dir + "/password"), "s3cr3t");
  EXPECT_EQ(Read(dir + "/user"), "admin");
  EXPECT_EQ(ModeOf(dir + "/password"), 0400u);

  // Unchanged: Refresh reports nothing.
  auto r = vm.Refresh(pod, Fetcher());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(*r);

  // A reader holding the old file keeps reading the old content; after the
  // swap the path shows the new one; a removed key disappears.
  std::ifstream old_reader(dir + "/password");
  std::string old_target = fs::read_symlink(dir + "/..data").string();
  Put("Secret", "db", {{"data", {{"password", "bmV3"}}}});  // "new"
  r = vm.Refresh(pod, Fetcher());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(*r);
  std::string old_content((std::istreambuf_iterator<char>(old_reader)), std::istreambuf_iterator<char>());
  EXPECT_EQ(old_content, "s3cr3t");
  EXPECT_NE(fs::read_symlink(dir + "/..data").string(), old_target);
  EXPECT_FALSE(fs::exists(dir + "/" + old_target));  // the old generation is gone
  EXPECT_EQ(Read(dir + "/password"), "new");
  EXPECT_FALSE(fs::exists(dir + "/user"));
  EXPECT_FALSE(fs::is_symlink(dir + "/user"));

  auto mounts = vm.MountsFor(pod, "app", *paths);
  ASSERT_TRUE(mounts) << mounts.error().message();
  ASSERT_EQ(mounts->size(), 1u);
  EXPECT_EQ((*mounts)[0].source, dir);
  EXPECT_EQ((*mounts)[0].destination, "/etc/creds");
  EXPECT_TRUE((*mounts)[0].read_only);

  ASSERT_TRUE(vm.Teardown("uid-sec"));
  EXPECT_FALSE(AnythingMountedUnder(pods_));
  EXPECT_FALSE(fs::exists(pods_ + "/uid-sec"));
}

TEST_F(VolumesTest, SecretValuesNeverTouchTheDisk) {
  // The projection dir is the tmpfs itself: the ..data generation lives on it.
  Put("Secret", "k", {{"data", {{"key", "c2VjcmV0"}}}});
  VolumeManager vm(pods_);
  Object pod = Pod("uid-disk", Json::array({{{"name", "s"}, {"secret", {{"secretName", "k"}}}}}));
  auto paths = vm.Setup(pod, Fetcher());
  ASSERT_TRUE(paths) << paths.error().message();
  std::string dir = (*paths)["s"];
  // Unmount (lazily) and the directory underneath must be empty.
  ASSERT_EQ(umount2(dir.c_str(), MNT_DETACH), 0);
  EXPECT_TRUE(fs::is_empty(dir));
  EXPECT_TRUE(vm.Teardown("uid-disk"));
}

TEST_F(VolumesTest, EmptyDirOnDiskAndInMemoryWithSizeLimit) {
  VolumeManager vm(pods_);
  Object pod = Pod("uid-ed", Json::array({{{"name", "scratch"}, {"emptyDir", Json::object()}},
                                          {{"name", "mem"}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "8Mi"}}}}}),
                   Json::array({{{"name", "scratch"}, {"mountPath", "/data"}, {"subPath", "sub/dir"}}}));
  auto paths = vm.Setup(pod, Fetcher());
  ASSERT_TRUE(paths) << paths.error().message();
  EXPECT_EQ(MountTypeAt((*paths)["scratch"]), "");
  EXPECT_EQ(ModeOf((*paths)["scratch"]), 0777u);
  EXPECT_EQ(MountTypeAt((*paths)["mem"]), "tmpfs");
  // The size limit is the tmpfs size: a 9 MiB file does not fit.
  std::string big((9u << 20), 'x');
  std::ofstream f((*paths)["mem"] + "/big", std::ios::binary);
  f << big;
  f.close();
  EXPECT_LT(fs::file_size((*paths)["mem"] + "/big"), big.size());

  auto mounts = vm.MountsFor(pod, "app", *paths);
  ASSERT_TRUE(mounts) << mounts.error().message();
  ASSERT_EQ(mounts->size(), 1u);
  EXPECT_EQ((*mounts)[0].source, (*paths)["scratch"] + "/sub/dir");
  EXPECT_TRUE(fs::is_directory((*mounts)[0].source));
  EXPECT_FALSE((*mounts)[0].read_only);

  ASSERT_TRUE(vm.Teardown("uid-ed"));
  EXPECT_FALSE(AnythingMountedUnder(pods_));
  EXPECT_FALSE(fs::exists(pods_ + "/uid-ed"));
}

TEST_F(VolumesTest, SubPathMayNotLeaveTheVolume) {
  VolumeManager vm(pods_);
  Object pod = Pod("uid-sp", Json::array({{{"name", "v"}, {"emptyDir", Json::object()}}}),
                   Json::array({{{"name", "v"}, {"mountPath", "/x"}, {"subPath", "link"}}}));
  auto paths = vm.Setup(pod, Fetcher());
  ASSERT_TRUE(paths) << paths.error().message();
  fs::create_symlink("/etc", (*paths)["v"] + "/link");
  auto mounts = vm.MountsFor(pod, "app", *paths);
  ASSERT_FALSE(mounts);
  EXPECT_NE(mounts.error().message().find("leaves the volume"), std::string::npos) << mounts.error().message();
  Object dots = Pod("uid-sp", Json::array({{{"name", "v"}, {"emptyDir", Json::object()}}}),
                    Json::array({{{"name", "v"}, {"mountPath", "/x"}, {"subPath", "../../etc"}}}));
  EXPECT_FALSE(vm.MountsFor(dots, "app", *paths));
  EXPECT_TRUE(vm.Teardown("uid-sp"));
}

TEST_F(VolumesTest, HostPathTypesAreCheckedAndContentsSurviveTeardown) {
  std::string host = tmp_.Sub("host");
  fs::create_directories(host);
  std::string file = tmp_.Write("host/file.txt", "keep me");
  VolumeManager vm(pods_);
  auto setup = [&](const std::string& path, const std::string& type) {
    return vm.Setup(Pod("uid-hp", Json::array({{{"name", "h"}, {"hostPath", {{"path", path}, {"type", type}}}}})), Fetcher());
  };
  auto r = setup(host, "Directory");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)["h"], host);
  EXPECT_TRUE(setup(file, "File"));
  EXPECT_TRUE(setup(host, ""));
  auto bad = setup(file, "Directory");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("is not a directory"), std::string::npos) << bad.error().message();
  EXPECT_FALSE(setup(host, "File"));
  EXPECT_FALSE(setup(host + "/absent", "Directory"));
  EXPECT_FALSE(setup(host, "Socket"));
  EXPECT_FALSE(setup(host, "Bogus"));
  ASSERT_TRUE(setup(host + "/made/here", "DirectoryOrCreate"));
  EXPECT_TRUE(fs::is_directory(host + "/made/here"));
  ASSERT_TRUE(setup(host + "/new.txt", "FileOrCreate"));
  EXPECT_TRUE(fs::is_regular_file(host + "/new.txt"));
  EXPECT_FALSE(setup(host + "/file.txt", "DirectoryOrCreate"));

  ASSERT_TRUE(vm.Teardown("uid-hp"));
  EXPECT_EQ(Read(file), "keep me");
  EXPECT_TRUE(fs::is_directory(host + "/made/here"));
}

TEST_F(VolumesTest, UnsupportedVolumeTypeIsRefused) {
  VolumeManager vm(pods_);
  auto r = vm.Setup(Pod("uid-un", Json::array({{{"name", "nfs"}, {"nfs", {{"server", "x"}}}}})), Fetcher());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("not supported"), std::string::npos) << r.error().message();
  EXPECT_TRUE(vm.Teardown("uid-un"));
}

}  // namespace
}  // namespace bosun::node
