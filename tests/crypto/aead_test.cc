#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "crypto/aead.h"
#include "crypto/secure_memory.h"

namespace bosun::crypto {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A temporary folder removed at the end of the test, even when it fails.
class AeadKeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "bosun-aead-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static unsigned Mode(const fs::path& p) {
    struct stat st{};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  static void Write(const fs::path& p, const std::string& bytes, unsigned mode) {
    std::ofstream(p, std::ios::binary) << bytes;
    ASSERT_EQ(::chmod(p.c_str(), mode), 0);
  }
  fs::path dir_;
};

TEST(Aead, RoundTripsWithAssociatedData) {
  auto key = DataKey::Generate();
  ASSERT_TRUE(key) << key.error().message();
  const std::string msg = "the launch code is 0000";
  std::string sealed = key->Seal(msg, "/registry/core/secrets/default/a");
  EXPECT_EQ(sealed.size(), kAeadNonceBytes + msg.size() + kAeadTagBytes);
  EXPECT_EQ(sealed.find(msg), std::string::npos);
  auto opened = key->Open(sealed, "/registry/core/secrets/default/a");
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(*opened, msg);
  // Empty messages too.
  auto empty = key->Open(key->Seal("", "ad"), "ad");
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, "");
}

TEST(Aead, FreshNonceEachTime) {
  auto key = DataKey::Generate();
  ASSERT_TRUE(key);
  EXPECT_NE(key->Seal("same", "ad"), key->Seal("same", "ad"));
}

TEST(Aead, TamperedCiphertextFails) {
  auto key = DataKey::Generate();
  ASSERT_TRUE(key);
  const std::string sealed = key->Seal("value", "ad");
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto r = key->Open(bad, "ad");
    ASSERT_FALSE(r) << "byte " << i << " flipped and it still opened";
    EXPECT_EQ(r.error().code(), Code::kInvalid);
    EXPECT_THAT(r.error().message(), HasSubstr("authentication failed"));
  }
  EXPECT_FALSE(key->Open(sealed.substr(0, sealed.size() - 1), "ad"));
  auto short_one = key->Open(sealed.substr(0, kAeadNonceBytes + kAeadTagBytes - 1), "ad");
  ASSERT_FALSE(short_one);
  EXPECT_THAT(short_one.error().message(), HasSubstr("too short"));
}

TEST(Aead, WrongAssociatedDataOrKeyFails) {
  auto key = DataKey::Generate();
  auto other = DataKey::Generate();
  ASSERT_TRUE(key && other);
  const std::string sealed = key->Seal("value", "/registry/core/secrets/ns/a");
  EXPECT_FALSE(key->Open(sealed, "/registry/core/secrets/ns/b"));
  EXPECT_FALSE(key->Open(sealed, ""));
  EXPECT_FALSE(other->Open(sealed, "/registry/core/secrets/ns/a"));
}

TEST(Aead, KeyIdsNameKeys) {
  std::string raw(kDataKeyBytes, '\x07');
  auto a = DataKey::FromBytes(raw);
  auto b = DataKey::FromBytes(raw);
  auto c = DataKey::Generate();
  ASSERT_TRUE(a && b && c);
  EXPECT_THAT(a->id(), ::testing::MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(a->id(), b->id());
  EXPECT_NE(a->id(), c->id());
  // The same key opens what its twin sealed.
  auto opened = b->Open(a->Seal("x", "k"), "k");
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, "x");
  auto bad = DataKey::FromBytes("short");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kInvalid);
}

TEST(SecureBuffer, HoldsAndMovesBytes) {
  auto b = SecureBuffer::CopyOf("key material");
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->view(), "key material");
  SecureBuffer moved = std::move(*b);
  EXPECT_EQ(moved.view(), "key material");
  EXPECT_TRUE(b->empty());
  auto none = SecureBuffer::Allocate(0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(AeadKeyFileTest, CreatedOnceWithPrivateModesThenReused) {
  const fs::path path = dir_ / "keys" / "secrets.key";
  auto first = LoadOrCreateKeyFile(path.string());
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(fs::file_size(path), kDataKeyBytes);
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_EQ(Mode(path.parent_path()), 0700u);
  auto second = LoadOrCreateKeyFile(path.string());
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(first->id(), second->id());
  auto opened = second->Open(first->Seal("kept across restarts", "k"), "k");
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, "kept across restarts");
  // No temporary file is left behind.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(path.parent_path())) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1u);
}

TEST_F(AeadKeyFileTest, ConcurrentCreatorsAgreeOnOneKey) {
  const fs::path path = dir_ / "race.key";
  std::vector<std::string> ids(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ids.size(); ++i) {
    threads.emplace_back([&, i] {
      auto k = LoadOrCreateKeyFile(path.string());
      ids[i] = k ? k->id() : "error: " + k.error().message();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& id : ids) EXPECT_EQ(id, ids[0]);
}

TEST_F(AeadKeyFileTest, RefusesGroupOrWorldAccess) {
  const fs::path path = dir_ / "open.key";
  Write(path, std::string(kDataKeyBytes, 'k'), 0644);
  auto r = LoadOrCreateKeyFile(path.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalid);
  EXPECT_THAT(r.error().message(), HasSubstr(path.string()));
  EXPECT_THAT(r.error().message(), HasSubstr("0644"));
  EXPECT_THAT(r.error().message(), HasSubstr("chmod 600"));
  ASSERT_EQ(::chmod(path.c_str(), 0620), 0);
  EXPECT_FALSE(LoadKeyFile(path.string()));
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(LoadKeyFile(path.string()));
}

TEST_F(AeadKeyFileTest, RefusesWrongSizeAndNonFiles) {
  const fs::path path = dir_ / "short.key";
  Write(path, "0123456789abcdef0123456789abcde\n", 0600);  // 32 bytes: accepted as raw bytes
  EXPECT_TRUE(LoadKeyFile(path.string()));
  Write(path, "too short", 0600);
  auto r = LoadOrCreateKeyFile(path.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalid);
  EXPECT_THAT(r.error().message(), HasSubstr(path.string()));
  EXPECT_THAT(r.error().message(), HasSubstr("9 bytes"));
  // The bad file is left as it was, not replaced by a new key.
  EXPECT_EQ(fs::file_size(path), 9u);

  auto dir = LoadKeyFile(dir_.string());
  ASSERT_FALSE(dir);
  EXPECT_THAT(dir.error().message(), HasSubstr("not a regular file"));

  const fs::path link = dir_ / "link.key";
  fs::create_symlink(path, link);
  auto l = LoadKeyFile(link.string());
  ASSERT_FALSE(l);
  EXPECT_THAT(l.error().message(), HasSubstr("symbolic link"));

  auto missing = LoadKeyFile((dir_ / "missing.key").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
}

TEST_F(AeadKeyFileTest, FolderThatCannotBeMadeIsAnIoError) {
  // A regular file where the folder should be (fails for root too).
  Write(dir_ / "file", "x", 0600);
  auto r = LoadOrCreateKeyFile((dir_ / "file" / "k.key").string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kIo);
  EXPECT_THAT(r.error().message(), HasSubstr("file/k.key"));
}

}  // namespace
}  // namespace bosun::crypto
