// Sealed secrets end to end (issue 7, item 1), as a user sees them: `bosun
// seal` through the API of a real `bosun server --repo … --path deploy`,
// the SealedSecret committed and pushed to a bare Git repository, synced,
// unsealed by the leader's controller into a Secret, and a pod on a real
// `bosun node` (runc, CNI, the busybox test image) reading the value from
// its secret volume. Then the plaintext is looked for everywhere a person
// or an attacker with the logs would look (server and node logs, Events,
// revision records, `bosun get`/`describe`), and rotation with `bosun keys
// rotate` + `bosun seal --re-encrypt` keeps the pod's value.
// Pod CIDRs 10.250-253.x.0/24 (WorkloadsE2E 10-19, NodeE2E 20-89,
// RollbackE2E 90-99, DaemonReal 100-249).
#include <gtest/gtest.h>

#include <unistd.h>

#include <optional>

#include "crypto/sshsig.h"
#include "tests/gitsync/mirror_fixture.h"
#include "tests/node/node_cluster_fixture.h"

namespace bosun::node {
namespace {

using namespace cluster_test;
using gitsync::test::GitRepos;

struct Cli {
  int exit_code = -1;
  std::string out, err;
};

class SealedE2E : public NodeCluster {
 protected:
  SealedE2E() : NodeCluster("sealed", 250, 4, {"busybox.tar"}) {}

  void SetUp() override {
    git_.Commit({{"deploy/base.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: base, namespace: default}\n"
                                      "data: {k: v}\n"}},
                "base");
    git_.Push();
    NodeCluster::SetUp();
  }
  std::vector<std::string> ExtraServerArgs() override {
    return {"--repo", "file://" + git_.remote(), "--branch", "main", "--path", "deploy", "--fetch-interval", "2s"};
  }

  Cli Bosun(std::vector<std::string> args) {
    std::vector<std::string> argv = {BOSUN_BINARY, args.at(0)};
    size_t rest = 1;
    if (args.at(0) == "keys") argv.push_back(args.at(rest++));  // the sub-verb before the flags
    argv.insert(argv.end(), {"--server", api_url_, "--token-file", server_data_ + "/admin.token"});
    argv.insert(argv.end(), args.begin() + static_cast<long>(rest), args.end());
    process::Options o;
    o.argv = argv;
    o.timeout = 60s;
    auto r = process::Run(o);
    if (!r) return Cli{-1, "", r.error().message()};
    return Cli{r->exit_code, r->out, r->err};
  }

  std::string Push(const std::map<std::string, std::optional<std::string>>& files, const std::string& subject) {
    std::string id = git_.Commit(files, subject);
    git_.Push();
    return id;
  }

  std::optional<std::string> SecretValue(const std::string& ns, const std::string& name, const std::string& key) {
    auto s = client_->Get(K("Secret"), ns, name);
    if (!s) return std::nullopt;
    const Json& v = Object::Field(Object::Field(s->json(), "data"), key.c_str());
    return v.is_string() ? std::optional<std::string>(v.get<std::string>()) : std::nullopt;
  }
  Json Synced(const std::string& ns, const std::string& name) {
    auto s = client_->Get(K("SealedSecret"), ns, name);
    if (!s) return nullptr;
    const Json& conds = Object::Field(s->status(), "conditions");
    if (conds.is_array()) {
      for (const auto& c : conds) {
        if (c.value("type", "") == "Synced") return c;
      }
    }
    return nullptr;
  }

  GitRepos git_;
};

std::string ReaderPod() {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: reader, namespace: default}\nspec:\n"
         "  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: bosun.test/busybox:1\n"
         "    imagePullPolicy: Never\n"
         "    command: [sh, -c, 'while true; do echo \"pw=$(cat /etc/db/password)\"; sleep 1; done']\n"
         "    volumeMounts:\n    - {name: db, mountPath: /etc/db, readOnly: true}\n"
         "  volumes:\n  - name: db\n    secret: {secretName: db}\n";
}

TEST_F(SealedE2E, SealedValueReachesAPodsSecretVolumeAndNowhereElse) {
  const std::string plain = "pl41n-" + std::to_string(::getpid()) + "-s3cr3t";
  const std::string plain_b64 = crypto::EncodeBase64(plain);
  StartNode();
  ASSERT_TRUE(WaitFor([&] { return client_->Get(K("Node"), "", node_name_).ok(); }, 30s)) << Log("node.log");

  // Seal through the API (the key the leader made at start).
  std::string secret_file = dir_.Write("secret.yaml",
                                       "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: default}\n"
                                       "stringData:\n  password: " + plain + "\n");
  Cli sealed;
  ASSERT_TRUE(WaitFor([&] { return (sealed = Bosun({"seal", "-f", secret_file})).exit_code == 0; }, 30s))
      << sealed.out << sealed.err;
  EXPECT_EQ(sealed.out.find(plain), std::string::npos);

  Push({{"deploy/db-sealed.yaml", sealed.out}}, "db password, sealed");
  ASSERT_TRUE(WaitFor([&] { return SecretValue("default", "db", "password") == plain_b64; }, 60s))
      << Synced("default", "db").dump() << "\n" << Log("server.log");

  Push({{"deploy/reader.yaml", ReaderPod()}}, "a pod that reads the password");
  Cli logs;
  ASSERT_TRUE(WaitFor(
      [&] {
        logs = Bosun({"logs", "reader"});
        return logs.out.find("pw=" + plain) != std::string::npos;
      },
      90s))
      << logs.out << logs.err << "\n" << Log("node.log");

  // Rotation and re-encryption through the CLI: the pod keeps its value.
  Cli rotate = Bosun({"keys", "rotate"});
  ASSERT_EQ(rotate.exit_code, 0) << rotate.out << rotate.err;
  std::string sealed_file = dir_.Write("sealed.yaml", sealed.out);
  Cli re = Bosun({"seal", "--re-encrypt", "-f", sealed_file});
  ASSERT_EQ(re.exit_code, 0) << re.err;
  ASSERT_NE(re.out, sealed.out);
  Push({{"deploy/db-sealed.yaml", re.out}}, "re-seal under the new key");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto ss = client_->Get(K("SealedSecret"), "default", "db");
        return ss && ss->generation() >= 2 && Synced("default", "db").value("status", "") == "True" &&
               Object::Field(ss->status(), "observedGeneration") == ss->generation();
      },
      60s))
      << Synced("default", "db").dump();
  EXPECT_EQ(SecretValue("default", "db", "password"), plain_b64);

  // Nowhere else: logs, Events, records, what the CLI prints of the SealedSecret.
  auto events = client_->List(K("Event"), "");
  auto records = client_->List(K("Revision"), "");
  ASSERT_TRUE(events && records);
  std::string everything = Log("server.log") + Log("node.log");
  for (const auto& e : events->items) everything += e.json().dump();
  for (const auto& r : records->items) everything += r.json().dump();
  Cli describe = Bosun({"describe", "sealedsecret", "db"});
  Cli get = Bosun({"get", "sealedsecret", "db", "-o", "yaml"});
  everything += describe.out + describe.err + get.out + get.err;
  EXPECT_EQ(everything.find(plain), std::string::npos) << "the plaintext leaked";
  EXPECT_EQ(everything.find(plain_b64), std::string::npos) << "the plaintext (base64) leaked";
}

}  // namespace
}  // namespace bosun::node
