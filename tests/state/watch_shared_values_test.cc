// Watch streams share the decoded values of one event (state/api_watch.cc,
// WatchValues): several watchers of one kind — different users, selectors and
// Secret access, over a Secret-encrypting value codec — each still get exactly
// the events and objects that are theirs. Against a real API server over a
// real RocksDB store (test::InProcessApi).
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/kinds.h"
#include "crypto/aead.h"
#include "crypto/tokens.h"
#include "state/client.h"
#include "state/secret_codec.h"
#include "state/secret_redaction.h"
#include "tests/api_harness.h"
#include "tests/state/client_test_objects.h"
#include "tests/test_support.h"

namespace bosun::state {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPasswordB64 = "aHVudGVyMi1jb3JyZWN0LWhvcnNlLWJhdHRlcnk=";

using clienttest::Kind;

crypto::DataKey Key() {
  auto k = crypto::DataKey::FromBytes(std::string(crypto::kDataKeyBytes, 'k'));
  EXPECT_TRUE(k);
  return std::move(*k);
}

Object Secret(const std::string& ns, const std::string& name, const std::string& app) {
  return Object(Json{{"apiVersion", "v1"},
                     {"kind", "Secret"},
                     {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", app}}}}},
                     {"type", "Opaque"},
                     {"data", {{"password", kPasswordB64}}}});
}

Object ConfigMap(const std::string& name, const std::string& app) {
  Object o(GroupVersionKind{"", "v1", "ConfigMap"}, "default", name);
  o.set_label("app", app);
  o.json()["data"] = {{"k", name}};
  return o;
}

BatchOp Op(BatchOp::Type type, Object o) {
  BatchOp op;
  op.type = type;
  op.object = std::move(o);
  return op;
}

// The events of one watch, bookmarks aside.
struct Seen {
  std::mutex mu;
  std::vector<WatchEvent> events;
  size_t size() {
    std::lock_guard<std::mutex> l(mu);
    return events.size();
  }
};

class WatchSharedValuesTest : public ::testing::Test {
 protected:
  std::unique_ptr<Client> ClientAs(const std::string& name, std::vector<std::string> groups) {
    const std::string token = crypto::NewToken();
    api_.auth().Add(crypto::HashToken(token), User{name, std::move(groups)});
    ClientOptions o;
    o.servers = {api_.url()};
    o.token = token;
    return std::move(*Client::Create(o));
  }

  // A watch from now on, into `seen`.
  void Watch(Client& c, const char* resource, const Selectors& selectors, Seen* seen) {
    auto w = c.Watch(Kind(resource), "", selectors, std::to_string(api_.store().revision()),
                     [seen](const WatchEvent& e) {
                       if (e.type == WatchEvent::Type::kBookmark) return;
                       std::lock_guard<std::mutex> l(seen->mu);
                       seen->events.push_back(e);
                     });
    ASSERT_TRUE(w.ok()) << w.error().message();
    watches_.push_back(std::move(*w));
  }

  test::TempDir dir_{"bosun-watch-shared"};
  EncryptingValueCodec codec_{Key()};
  test::InProcessApi api_{dir_.path(), 0, &codec_};
  std::vector<WatchPtr> watches_;
  void SetUp() override { api_.CreateNamespaces({"bosun-system"}); }
};

// "ADDED default/db" plus the object, for comparing a stream with what it
// should be.
struct Want {
  WatchEvent::Type type;
  Object object;
};

void ExpectEvents(const char* who, Seen& seen, const std::vector<Want>& want) {
  std::lock_guard<std::mutex> l(seen.mu);
  ASSERT_EQ(seen.events.size(), want.size()) << who;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(WatchEventTypeName(seen.events[i].type), std::string(WatchEventTypeName(want[i].type)))
        << who << " event " << i;
    EXPECT_EQ(seen.events[i].object.json(), want[i].object.json()) << who << " event " << i;
  }
}

Object As(const Object& o, SecretAccess access) {
  Object copy = o;
  RedactSecret(copy.json(), access);
  return copy;
}

Object At(Object o, const std::string& rv) {
  o.set_resource_version(rv);
  return o;
}

TEST_F(WatchSharedValuesTest, EveryWatcherGetsItsOwnEventsFromSharedValues) {
  Client& admin = api_.client();
  auto node = ClientAs("node-1", {"system:nodes"});
  auto alice = ClientAs("alice", {});

  Seen admin_all, admin_web, admin_by_value, node_all, alice_all, alice_by_value, cms_all, cms_web;
  // The watches deliver into these until they stop: stop them (at the end of
  // the test, or at a failed ASSERT) before the Seens go.
  struct StopWatchesFirst {
    std::vector<WatchPtr>* watches;
    ~StopWatchesFirst() { watches->clear(); }
  } stop_watches_first{&watches_};
  const std::string by_value = std::string("data.password=") + kPasswordB64;
  Watch(admin, "secrets", {}, &admin_all);
  Watch(admin, "secrets", "app=web", &admin_web);
  Watch(admin, "secrets", Selectors("", by_value), &admin_by_value);
  Watch(*node, "secrets", {}, &node_all);
  Watch(*alice, "secrets", {}, &alice_all);
  // A field selector must not probe a value the watcher may not read.
  Watch(*alice, "secrets", Selectors("", by_value), &alice_by_value);
  Watch(admin, "configmaps", {}, &cms_all);
  Watch(admin, "configmaps", "app=web", &cms_web);

  // One revision with every object, then an update that moves db out of
  // app=web, then a delete.
  auto created = admin.Batch({Op(BatchOp::Type::kCreate, Secret("default", "db", "web")),
                              Op(BatchOp::Type::kCreate, Secret("default", "other", "api")),
                              Op(BatchOp::Type::kCreate, Secret("bosun-system", "keys", "web")),
                              Op(BatchOp::Type::kCreate, ConfigMap("a", "web")),
                              Op(BatchOp::Type::kCreate, ConfigMap("b", "api"))});
  ASSERT_TRUE(created.ok()) << created.error().message();
  const Object db = created->items[0], other = created->items[1], keys = created->items[2];
  const Object a = created->items[3], b = created->items[4];
  EXPECT_EQ(db.json()["data"]["password"], kPasswordB64);  // the admin's answer is in the clear

  Object relabelled = db;
  relabelled.set_label("app", "api");
  auto updated = admin.Update(relabelled);
  ASSERT_TRUE(updated.ok()) << updated.error().message();
  auto deleted = admin.Delete(Kind("secrets"), "default", "other");
  ASSERT_TRUE(deleted.ok()) << deleted.error().message();
  const std::string delete_rv = std::to_string(api_.store().revision());

  ASSERT_TRUE(test::Eventually([&] {
    return admin_all.size() >= 5 && admin_web.size() >= 3 && admin_by_value.size() >= 5 && node_all.size() >= 5 &&
           alice_all.size() >= 5 && cms_all.size() >= 2 && cms_web.size() >= 1;
  })) << admin_all.size() << " " << admin_web.size() << " " << admin_by_value.size() << " " << node_all.size() << " "
      << alice_all.size() << " " << cms_all.size() << " " << cms_web.size();

  using T = WatchEvent::Type;
  auto stream = [&](SecretAccess access) {
    return std::vector<Want>{{T::kAdded, As(db, access)},
                             {T::kAdded, As(other, access)},
                             {T::kAdded, As(keys, access)},
                             {T::kModified, As(*updated, access)},
                             {T::kDeleted, As(At(other, delete_rv), access)}};
  };
  ExpectEvents("admin, all", admin_all, stream(SecretAccess::kAll));
  ExpectEvents("admin, by value", admin_by_value, stream(SecretAccess::kAll));
  // Nodes read every namespace but bosun-system; alice reads none.
  ExpectEvents("node, all", node_all, stream(SecretAccess::kWorkloads));
  EXPECT_EQ(node_all.events[2].object.json()["data"]["password"], RedactedValue(29));
  EXPECT_EQ(node_all.events[0].object.json()["data"]["password"], kPasswordB64);
  ExpectEvents("alice, all", alice_all, stream(SecretAccess::kNone));
  // db left app=web at the update: its last selected state, at that revision.
  ExpectEvents("admin, app=web", admin_web,
               {{T::kAdded, db}, {T::kAdded, keys}, {T::kDeleted, At(db, updated->resource_version())}});
  ExpectEvents("configmaps, all", cms_all, {{T::kAdded, a}, {T::kAdded, b}});
  ExpectEvents("configmaps, app=web", cms_web, {{T::kAdded, a}});

  // alice's stream by value saw nothing, while the same selector matched for
  // the admin: a later event proves her stream is up to date.
  ASSERT_TRUE(admin.Create(Secret("default", "late", "web")).ok());
  ASSERT_TRUE(test::Eventually([&] { return alice_all.size() >= 6; }));
  EXPECT_EQ(alice_by_value.size(), 0u);
}

}  // namespace
}  // namespace bosun::state
