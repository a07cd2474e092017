// The image store on real archives: the OCI layouts of
// scripts/build-test-images, a `docker save` archive made from them, tampered
// copies of both, listing, garbage collection, and `bosun image` through the
// real binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "node/image_internal.h"
#include "node/image_store.h"
#include "tests/node/image_test_support.h"

namespace bosun::node {
namespace {

namespace fs = std::filesystem;
using bosun::test::CountFiles;
using bosun::test::RunCommand;
using bosun::test::Slurp;
using bosun::test::TempDir;
using bosun::test::TestImagesDir;

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    images_ = TestImagesDir();
    if (images_.empty()) GTEST_SKIP() << "scripts/build-test-images failed (umoci missing? run scripts/setup)";
  }
  std::unique_ptr<ImageStore> Open() {
    auto s = ImageStore::Open({tmp_.Sub("images"), {}, ""});
    EXPECT_TRUE(s) << s.error().message();
    return s ? std::move(*s) : nullptr;
  }
  // A copy of the test layout, for tampering, packed into an archive.
  std::string Pack(const std::string& layout, const std::string& name) {
    std::string archive = tmp_.Sub(name);
    auto o = RunCommand("tar -C " + layout + " -cf " + archive + " .");
    EXPECT_EQ(o.exit_code, 0) << o.out;
    return archive;
  }
  std::string images_;
  TempDir tmp_{"bosun-imgstore"};
};

TEST_F(ImageStoreTest, ImportsAnOciArchiveWithSharedLayersUnpackedOnce) {
  auto store = Open();
  auto imported = store->Import(images_ + "/images.tar");
  ASSERT_TRUE(imported) << imported.error().message();
  EXPECT_EQ(imported->size(), 3u);

  auto web = store->Get("bosun.test/web:1");
  ASSERT_TRUE(web) << web.error().message();
  EXPECT_EQ(web->refs, std::vector<std::string>{"bosun.test/web:1"});
  ASSERT_EQ(web->layer_dirs.size(), 2u);
  EXPECT_EQ(web->config.cmd, (std::vector<std::string>{"httpd", "-f", "-p", "8080", "-h", "/www"}));
  EXPECT_EQ(Slurp(web->layer_dirs[1] + "/www/index.html"), "bosun web v1\n");
  EXPECT_EQ(fs::read_symlink(web->layer_dirs[0] + "/bin/sh").string(), "busybox");
  EXPECT_TRUE(fs::is_regular_file(web->layer_dirs[0] + "/bin/busybox"));

  auto busybox = store->Get("bosun.test/busybox:1");
  ASSERT_TRUE(busybox);
  EXPECT_EQ(busybox->config.cmd, std::vector<std::string>{"sh"});
  EXPECT_EQ(busybox->layer_dirs, std::vector<std::string>{web->layer_dirs[0]}) << "the busybox layer is shared";
  auto web2 = store->Get("bosun.test/web:2");
  ASSERT_TRUE(web2);
  EXPECT_EQ(Slurp(web2->layer_dirs[1] + "/www/index.html"), "bosun web v2\n");
  // Three distinct layers on disk (busybox, page v1, page v2).
  EXPECT_EQ(CountFiles(tmp_.Sub("images/layers")), 3u);
  EXPECT_EQ(store->Get(web->digest)->digest, web->digest) << "found by digest too";
  EXPECT_EQ(store->Get("bosun.test/web:3").error().code(), Code::kNotFound);

  // A second import changes nothing; a reopened store has the same images.
  ASSERT_TRUE(store->Import(images_ + "/web.tar"));
  store.reset();
  auto again = Open();
  auto list = again->List();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].refs.front(), "bosun.test/busybox:1");
  EXPECT_EQ((*list)[1].digest, web->digest);
  EXPECT_GT((*list)[0].size_bytes, 500000);
}

TEST_F(ImageStoreTest, RefusesATamperedOciArchiveAndStoresNothing) {
  std::string layout = tmp_.Sub("layout");
  fs::copy(images_ + "/oci", layout, fs::copy_options::recursive);
  // Tamper with the small page layer of web:2 (keep its size).
  auto store = Open();
  std::string victim;
  for (const auto& e : fs::directory_iterator(layout + "/blobs/sha256")) {
    if (e.file_size() == 128 || (victim.empty() && e.file_size() < 200 && e.file_size() > 100)) victim = e.path();
  }
  ASSERT_FALSE(victim.empty());
  std::string data = Slurp(victim);
  data[data.size() / 2] ^= 0x55;
  std::ofstream(victim, std::ios::binary | std::ios::trunc) << data;
  auto r = store->Import(Pack(layout, "tampered.tar"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("sha256:" + fs::path(victim).filename().string()), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("does not match"), std::string::npos) << r.error().message();
  EXPECT_TRUE(store->List()->empty());
  EXPECT_EQ(CountFiles(tmp_.Sub("images/blobs/sha256")), 0u);
  EXPECT_EQ(CountFiles(tmp_.Sub("images/tmp")), 0u);
}

// `docker save` (before Docker 25): manifest.json, <hex>.json config,
// <id>/layer.tar uncompressed layers, RepoTags.
std::string MakeDockerSave(const TempDir& tmp, const std::string& images, bool tamper) {
  std::string layout = images + "/oci";
  Json index = Json::parse(Slurp(layout + "/index.json"));
  std::string mdigest;
  for (const auto& m : index["manifests"]) {
    if (m["annotations"]["org.opencontainers.image.ref.name"] == "bosun.test/web:1") mdigest = m["digest"];
  }
  Json manifest = Json::parse(Slurp(layout + "/blobs/sha256/" + mdigest.substr(7)));
  std::string dir = tmp.Sub(tamper ? "dsave-bad" : "dsave");
  fs::create_directories(dir);
  std::string cfg_hex = manifest["config"]["digest"].get<std::string>().substr(7);
  fs::copy_file(layout + "/blobs/sha256/" + cfg_hex, dir + "/" + cfg_hex + ".json");
  Json layers = Json::array();
  int i = 0;
  for (const auto& l : manifest["layers"]) {
    std::string id = "layer" + std::to_string(i++);
    fs::create_directories(dir + "/" + id);
    auto o = RunCommand("gzip -dc " + layout + "/blobs/sha256/" + l["digest"].get<std::string>().substr(7) + " > " +
                        dir + "/" + id + "/layer.tar");
    EXPECT_EQ(o.exit_code, 0) << o.out;
    layers.push_back(id + "/layer.tar");
  }
  if (tamper) {
    std::string p = dir + "/layer1/layer.tar";
    std::string data = Slurp(p);
    size_t at = data.find("bosun web v1");
    data[at + 6] = 'X';
    std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
  }
  Json doc = Json::array({{{"Config", cfg_hex + ".json"}, {"RepoTags", {"bosun.test/docker:1"}}, {"Layers", layers}}});
  std::ofstream(dir + "/manifest.json") << doc.dump();
  std::string archive = dir + ".tar";
  auto o = RunCommand("tar -C " + dir + " -cf " + archive + " .");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  return archive;
}

TEST_F(ImageStoreTest, ImportsADockerSaveArchive) {
  auto store = Open();
  auto r = store->Import(MakeDockerSave(tmp_, images_, false));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  auto img = store->Get("bosun.test/docker:1");
  ASSERT_TRUE(img);
  ASSERT_EQ(img->layer_dirs.size(), 2u);
  EXPECT_EQ(Slurp(img->layer_dirs[1] + "/www/index.html"), "bosun web v1\n");
  EXPECT_EQ(img->config.cmd.front(), "httpd");
}

TEST_F(ImageStoreTest, RefusesADockerSaveArchiveWhoseLayerDoesNotMatchItsDiffId) {
  auto store = Open();
  auto r = store->Import(MakeDockerSave(tmp_, images_, true));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("layer1/layer.tar does not match the config's diff_id"), std::string::npos)
      << r.error().message();
  EXPECT_TRUE(store->List()->empty());
}

TEST_F(ImageStoreTest, RefusesWhatIsNotAnImageArchive) {
  auto store = Open();
  auto missing = store->Import(tmp_.Sub("nope.tar"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  std::string junk = tmp_.Write("junk.tar", "this is not a tar");
  EXPECT_FALSE(store->Import(junk));
  tmp_.Write("d/hello", "x");
  auto r = store->Import(Pack(tmp_.Sub("d"), "plain.tar"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("neither an OCI image layout"), std::string::npos) << r.error().message();
}

TEST_F(ImageStoreTest, GarbageCollectKeepsImagesInUseAndWhatTheyNeed) {
  auto store = Open();
  ASSERT_TRUE(store->Import(images_ + "/images.tar"));
  auto web1 = *store->Get("bosun.test/web:1");
  auto web2 = *store->Get("bosun.test/web:2");
  auto busybox = *store->Get("bosun.test/busybox:1");
  auto removed = store->GarbageCollect({web1.digest});
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_EQ(std::set<std::string>(removed->begin(), removed->end()),
            (std::set<std::string>{web2.digest, busybox.digest}));
  EXPECT_TRUE(store->Get("bosun.test/web:1"));
  EXPECT_FALSE(store->Get("bosun.test/web:2"));
  EXPECT_TRUE(fs::is_directory(web1.layer_dirs[0])) << "the shared busybox layer stays";
  EXPECT_TRUE(fs::is_directory(web1.layer_dirs[1]));
  EXPECT_FALSE(fs::exists(web2.layer_dirs[1]));
  // manifest + config + 2 layers
  EXPECT_EQ(CountFiles(tmp_.Sub("images/blobs/sha256")), 4u);
  EXPECT_EQ(CountFiles(tmp_.Sub("images/layers")), 2u);
  // By reference as well as digest; nothing in use removes everything.
  ASSERT_TRUE(store->GarbageCollect({"bosun.test/web:1"}));
  EXPECT_TRUE(store->Get("bosun.test/web:1"));
  ASSERT_TRUE(store->GarbageCollect({}));
  EXPECT_TRUE(store->List()->empty());
  EXPECT_EQ(CountFiles(tmp_.Sub("images/blobs/sha256")), 0u);
  EXPECT_EQ(CountFiles(tmp_.Sub("images/layers")), 0u);
}

TEST_F(ImageStoreTest, EnsureNeverAndIfNotPresentUseTheLocalImage) {
  auto store = Open();
  auto absent = store->Ensure("bosun.test/web:1", PullPolicy::kNever);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code(), Code::kNotFound);
  EXPECT_NE(absent.error().message().find("imagePullPolicy is Never"), std::string::npos);
  ASSERT_TRUE(store->Import(images_ + "/web.tar"));
  EXPECT_TRUE(store->Ensure("bosun.test/web:1", PullPolicy::kNever));
  // IfNotPresent finds it locally: no registry is asked (bosun.test does not exist).
  EXPECT_TRUE(store->Ensure("bosun.test/web:2", PullPolicy::kIfNotPresent));
}

// bosun.local names images that are only imported (the examples'): one
// missing is an error at once, never a lookup of the name on the network.
TEST_F(ImageStoreTest, ABosunLocalImageIsNeverPulled) {
  auto store = Open();
  for (PullPolicy policy : {PullPolicy::kIfNotPresent, PullPolicy::kAlways}) {
    auto missing = store->Ensure("bosun.local/examples/web:9.9", policy);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), Code::kNotFound);
    EXPECT_NE(missing.error().message().find("bosun.local/examples/web:9.9 is not on this node, and bosun.local "
                                             "images are never pulled: import it"),
              std::string::npos)
        << missing.error().message();
  }
}

TEST_F(ImageStoreTest, TwoStoresOnOneFolderSeeEachOthersImages) {
  // The daemon and `bosun image import` share DATA/images.
  auto daemon = Open();
  auto cli = Open();
  ASSERT_TRUE(daemon->Import(images_ + "/busybox.tar"));
  ASSERT_TRUE(cli->Import(images_ + "/web.tar"));
  EXPECT_TRUE(daemon->Get("bosun.test/web:2")) << "the daemon sees what the CLI imported";
  EXPECT_TRUE(cli->Get("bosun.test/busybox:1"));
  EXPECT_EQ(daemon->List()->size(), 3u);
  EXPECT_EQ(Open()->List()->size(), 3u) << "neither write lost the other's images";
}

TEST_F(ImageStoreTest, CliImportListAndGc) {
  std::string bin = BOSUN_BINARY;
  std::string data = tmp_.Sub("node");
  auto o = RunCommand(bin + " image import --data " + data + " " + images_ + "/busybox.tar " + images_ + "/web.tar");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("imported bosun.test/web:2 sha256:"), std::string::npos) << o.out;
  o = RunCommand(bin + " image ls --data " + data);
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("REFERENCE"), std::string::npos) << o.out;
  auto store = ImageStore::Open({data + "/images", {}, ""});
  ASSERT_TRUE(store);
  std::string short_digest = (*store)->Get("bosun.test/web:1")->digest.substr(7, 12);
  EXPECT_NE(o.out.find("bosun.test/web:1"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find(short_digest), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("MiB"), std::string::npos) << o.out;
  store->reset();

  o = RunCommand(bin + " image gc --data " + data + " --keep bosun.test/web:1");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("2 image(s) removed"), std::string::npos) << o.out;
  o = RunCommand(bin + " image ls --data " + data);
  EXPECT_EQ(o.out.find("bosun.test/busybox:1"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("bosun.test/web:1"), std::string::npos) << o.out;

  o = RunCommand(bin + " image import --data " + data + " " + tmp_.Sub("missing.tar"));
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_NE(o.out.find("missing.tar: no such file"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace bosun::node
