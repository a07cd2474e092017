// Bearer tokens: the tokens file and the first-start token helper.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/state/api_test_support.h"

namespace bosun::state::apitest {
namespace {

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(ApiTokens, LoadsTheTokensFileAndAuthenticates) {
  TempDir dir;
  std::string admin = crypto::NewToken(), node = crypto::NewToken();
  WriteFile(dir.Sub("tokens"), "# tokens\n\n" + crypto::HashToken(admin) + " admin system:masters\n" +
                                   crypto::HashToken(node) + "\tnode-1 system:nodes,bosun:workers\n");
  TokenAuthenticator auth;
  ASSERT_TRUE(auth.Load(dir.Sub("tokens")).ok());
  EXPECT_EQ(auth.size(), 2u);
  auto a = auth.Authenticate("Bearer " + admin);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->name, "admin");
  EXPECT_TRUE(a->InGroup("system:masters"));
  auto n = auth.Authenticate("bearer  " + node);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->groups, (std::vector<std::string>{"system:nodes", "bosun:workers"}));

  for (const std::string& bad :
       std::vector<std::string>{"", "Bearer", "Bearer ", "Basic " + admin, admin, "Bearer " + admin + "x"}) {
    auto r = auth.Authenticate(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), Code::kUnauthorized);
    EXPECT_THAT(r.error().message(), ::testing::Not(::testing::HasSubstr(admin)));
  }
}

TEST(ApiTokens, MalformedFilesAreRefusedAndKeepTheOldTokens) {
  TempDir dir;
  std::string token = crypto::NewToken();
  WriteFile(dir.Sub("good"), crypto::HashToken(token) + " admin\n");
  TokenAuthenticator auth;
  ASSERT_TRUE(auth.Load(dir.Sub("good")).ok());
  EXPECT_TRUE(auth.Authenticate("Bearer " + token).ok());

  WriteFile(dir.Sub("bad"), "# ok\nnot-a-hash admin\n");
  Status s = auth.Load(dir.Sub("bad"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kInvalid);
  EXPECT_THAT(s.error().message(), ::testing::HasSubstr(dir.Sub("bad") + ":2:"));
  WriteFile(dir.Sub("nouser"), crypto::HashToken(token) + "\n");
  EXPECT_FALSE(auth.Load(dir.Sub("nouser")).ok());
  EXPECT_EQ(auth.Load(dir.Sub("absent")).error().code(), Code::kNotFound);
  EXPECT_TRUE(auth.Authenticate("Bearer " + token).ok());
}

TEST(ApiTokens, EnsureTokenCreatesOnceWithPrivateFiles) {
  TempDir dir;
  std::string tokens = dir.Sub("tokens"), admin_file = dir.Sub("admin.token");
  auto first = EnsureAdminToken(tokens, admin_file);
  ASSERT_TRUE(first.ok()) << first.error().message();
  struct stat st;
  ASSERT_EQ(::stat(admin_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(tokens.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(ReadFile(admin_file), *first + "\n");
  EXPECT_EQ(ReadFile(tokens).find(*first), std::string::npos);  // only the hash is kept

  // Later starts reuse it and do not add a second line.
  auto second = EnsureAdminToken(tokens, admin_file);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, *first);
  auto node = EnsureToken(tokens, dir.Sub("node.token"), "node-join", "system:nodes");
  ASSERT_TRUE(node.ok());
  EXPECT_NE(*node, *first);

  TokenAuthenticator auth;
  ASSERT_TRUE(auth.Load(tokens).ok());
  EXPECT_EQ(auth.size(), 2u);
  EXPECT_EQ(auth.Authenticate("Bearer " + *first)->name, "admin");
  EXPECT_TRUE(auth.Authenticate("Bearer " + *first)->InGroup("system:masters"));
  EXPECT_EQ(auth.Authenticate("Bearer " + *node)->name, "node-join");

  // A token file whose hash went missing from the tokens file is re-added.
  WriteFile(tokens, "");
  ASSERT_TRUE(EnsureAdminToken(tokens, admin_file).ok());
  ASSERT_TRUE(auth.Load(tokens).ok());
  EXPECT_TRUE(auth.Authenticate("Bearer " + *first).ok());

  WriteFile(dir.Sub("empty.token"), "\n");
  EXPECT_EQ(EnsureAdminToken(tokens, dir.Sub("empty.token")).error().code(), Code::kInvalid);
  EXPECT_EQ(EnsureAdminToken(dir.Sub("no/such/dir/tokens"), dir.Sub("x.token")).error().code(), Code::kIo);
}

// Three members started together with one --admin-token-file (the README's
// example): none fails, and all accept the one token the file ends up with.
TEST(ApiTokens, MembersStartedTogetherAgreeOnOneSharedToken) {
  for (int round = 0; round < 20; ++round) {
    TempDir dir;
    const std::string shared = dir.Sub("admin.token");
    constexpr int kMembers = 6;
    std::vector<Result<std::string>> got(kMembers, Error(Code::kInternal, "not run"));
    std::atomic<int> ready{0};
    std::vector<std::thread> members;
    for (int i = 0; i < kMembers; ++i) {
      members.emplace_back([&, i] {
        ready++;
        while (ready.load() < kMembers) std::this_thread::yield();
        got[i] = EnsureAdminToken(dir.Sub("tokens-" + std::to_string(i)), shared);
      });
    }
    for (auto& t : members) t.join();
    const std::string token = ReadFile(shared);
    ASSERT_FALSE(token.empty());
    for (int i = 0; i < kMembers; ++i) {
      ASSERT_TRUE(got[i].ok()) << "member " << i << ": " << got[i].error().message();
      EXPECT_EQ(*got[i] + "\n", token) << "member " << i;
      TokenAuthenticator auth;
      ASSERT_TRUE(auth.Load(dir.Sub("tokens-" + std::to_string(i))).ok());
      EXPECT_TRUE(auth.Authenticate("Bearer " + *got[i]).ok());
    }
    std::vector<std::string> left;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) left.push_back(e.path().filename());
    EXPECT_EQ(std::count_if(left.begin(), left.end(),
                            [](const std::string& n) { return n.find(".tmp") != std::string::npos; }),
              0);
  }
}

TEST(ApiTokens, ServerUsesTheTokensFile) {
  TempDir dir;
  auto token = EnsureAdminToken(dir.Sub("tokens"), dir.Sub("admin.token"));
  ASSERT_TRUE(token.ok());
  TokenAuthenticator auth;
  ASSERT_TRUE(auth.Load(dir.Sub("tokens")).ok());
  LocalService service(OpenStore(dir.Sub("store")));
  auto server = ApiServer::Start(ApiServerOptions{}, &service, &auth);
  ASSERT_TRUE(server.ok());
  Client c((*server)->url(), *token);
  EXPECT_EQ(c.Get("/api/v1/namespaces").code, 200);
  EXPECT_EQ(c.Do("GET", "/api/v1/namespaces", std::nullopt, "application/json", crypto::NewToken()).code, 401);
}

}  // namespace
}  // namespace bosun::state::apitest
