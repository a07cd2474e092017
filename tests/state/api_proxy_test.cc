// Several members (docs/API.md): a member that does not lead forwards writes
// and linearizable reads to the leader and serves watches and
// resourceVersion=0 reads itself.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/state/api_test_support.h"

namespace bosun::state::apitest {
namespace {

constexpr const char* kCms = "/api/v1/namespaces/default/configmaps";
std::string Cm(const std::string& name) {
  return std::string(kCms) + "/" + name;
}

// A member that does not lead: its own store (which the test writes to
// directly, standing in for replication), and whatever leader it is told.
class FollowerService final : public StateService {
 public:
  explicit FollowerService(std::unique_ptr<Store> store) : local_(std::move(store)) {}
  void Write(Txn, std::function<void(Result<TxnResult>)> done) override {
    done(Error(Code::kUnavailable, "not the leader"));
  }
  void ReadBarrier(ReadConsistency c, std::function<void(Status)> done) override {
    if (c == ReadConsistency::kLinearizable) return done(Error(Code::kUnavailable, "not the leader"));
    done(Ok());
  }
  Store& store() override { return local_.store(); }
  bool IsLeader() const override { return false; }
  std::optional<std::string> LeaderApiUrl() const override {
    std::lock_guard l(mu_);
    return leader_;
  }
  std::vector<MemberInfo> Members() const override { return {}; }
  void set_leader(std::optional<std::string> url) {
    std::lock_guard l(mu_);
    leader_ = std::move(url);
  }

 private:
  LocalService local_;
  mutable std::mutex mu_;
  std::optional<std::string> leader_;
};

struct TwoMembers {
  TwoMembers()
      : follower_service(OpenStore(dir.Sub("follower"))), leader(), follower(Member::Defaults(), &follower_service) {
    follower_service.set_leader(leader.url());
    // The same token works on both members, as with a shared tokens file.
    follower.auth().Add(crypto::HashToken(leader.token()), User{"tester", {}});
  }
  Client FollowerClient() { return Client(follower.url(), leader.token()); }

  TempDir dir;
  FollowerService follower_service;
  Member leader;
  Member follower;
};

TEST(ApiProxy, FollowerForwardsWritesAndLinearizableReads) {
  TwoMembers t;
  Client c = t.FollowerClient();
  Resp created = c.Post(kCms, ConfigMap("a"));
  ASSERT_EQ(created.code, 201) << created.text;
  EXPECT_TRUE(t.leader.store().Get("/registry/core/configmaps/default/a").ok());
  EXPECT_FALSE(t.follower.store().Get("/registry/core/configmaps/default/a").ok());

  // Errors come back as the leader sent them.
  Resp again = c.Post(kCms, ConfigMap("a"));
  EXPECT_EQ(again.code, 409);
  EXPECT_EQ(again.json["reason"], "AlreadyExists");

  EXPECT_EQ(c.Get(Cm("a")).json, created.json);                // linearizable: the leader's
  EXPECT_EQ(c.Get(Cm("a") + "?resourceVersion=0").code, 404);  // the follower's own, lagging
  EXPECT_EQ(c.Patch(Cm("a"), {{"data", {{"key", "2"}}}}).json["data"]["key"], "2");
  Resp patched_json =
      c.Patch(Cm("a"), Json::array({{{"op", "remove"}, {"path", "/data/key"}}}), "application/json-patch+json");
  EXPECT_EQ(patched_json.code, 200) << patched_json.text;
  EXPECT_EQ(c.Get(kCms).json["items"].size(), 1u);
  EXPECT_EQ(c.Delete(Cm("a")).code, 200);
  EXPECT_EQ(t.leader.client().Get(Cm("a")).code, 404);

  // Authentication happens on the member that received the request.
  EXPECT_EQ(c.Do("GET", kCms, std::nullopt, "application/json", std::string("bosun_wrong")).code, 401);
}

TEST(ApiProxy, FollowerServesWatchesFromItsOwnStore) {
  TwoMembers t;
  auto w = std::make_unique<RawWatch>(t.follower.url(), std::string(kCms) + "?watch=true", t.leader.token());
  ASSERT_EQ(w->status(), 200);
  // Replication stand-in: a write to the follower's own store.
  Txn txn;
  txn.ops.push_back({Op::Kind::kPut, "/registry/core/configmaps/default/r", ConfigMap("r").dump()});
  ASSERT_TRUE(t.follower.store().Apply(txn, 0).ok());
  auto e = w->NextEvent();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ((*e)["type"], "ADDED");
  EXPECT_EQ((*e)["object"]["metadata"]["name"], "r");
}

TEST(ApiProxy, NoLeaderOrUnreachableLeaderGives503) {
  TwoMembers t;
  Client c = t.FollowerClient();
  t.follower_service.set_leader(std::nullopt);
  Resp none = c.Post(kCms, ConfigMap("a"));
  EXPECT_EQ(none.code, 503);
  EXPECT_EQ(none.json["reason"], "ServiceUnavailable");
  EXPECT_FALSE(none.json.contains("details"));
  EXPECT_EQ(c.Do("GET", "/readyz", std::nullopt, "application/json", std::string()).code, 503);

  // A leader that cannot be reached (nothing listens on port 1).
  std::string leader_url = "http://127.0.0.1:1";
  t.follower_service.set_leader(leader_url);
  Resp down = c.Post(kCms, ConfigMap("a"));
  EXPECT_EQ(down.code, 503);
  EXPECT_EQ(down.json["reason"], "ServiceUnavailable");
  EXPECT_EQ(down.json["details"]["leader"], leader_url);

  // A forwarded request reaching a member that does not lead is not
  // forwarded again.
  Resp loop = c.Do("POST", kCms, ConfigMap("a").dump(), "application/json", {}, {{"X-Bosun-Forwarded", "x"}});
  EXPECT_EQ(loop.code, 503);
  EXPECT_EQ(loop.json["details"]["leader"], leader_url);
}

}  // namespace
}  // namespace bosun::state::apitest
