// A Secret's value given to a container as env (secretKeyRef) reaches the
// container but is nowhere on the node's disk: runc's config.json and runc's
// own state live on the runtime's tmpfs (DATA/run/secure), which stays
// mounted when the daemon is killed and restarted, so the pod is re-adopted.
// Real `bosun server` + `bosun node` (node_cluster_fixture.h), root, runc,
// CNI; pod CIDRs 10.2-9.x.0/24.
#include <sys/statfs.h>

#include <linux/magic.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/node/node_cluster_fixture.h"

namespace bosun::node {
namespace {

using namespace cluster_test;

class NodeSecrets : public NodeCluster {
 protected:
  NodeSecrets() : NodeCluster("nsec", 2, 8, {"busybox.tar"}) {}

  void SetUp() override {
    NodeCluster::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    StartNode();
    ASSERT_TRUE(WaitFor([&] { return client_->Get(K("Node"), "", node_name_).ok(); }, 30s)) << Log("node.log");
  }

  std::string ExecOut(const std::vector<std::string>& cmd) {
    std::vector<std::string> argv = {BOSUN_BINARY, "exec", "--server", api_url_, "--token-file",
                                     server_data_ + "/admin.token", "holder", "--"};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    process::Options o;
    o.argv = argv;
    o.timeout = 30s;
    auto r = process::Run(o);
    return r ? r->out : "";
  }

  // Every regular file under `dir` on disk (not under a mount point below
  // it: the tmpfs mounts, the pods' overlay roots, the namespace binds) that
  // holds `needle`.
  std::vector<std::string> FilesHolding(const std::string& dir, const std::string& needle) {
    std::vector<std::string> mounts = sandbox::MountsUnder(dir);
    std::vector<std::string> found;
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      std::string p = it->path().string();
      bool mounted = false;
      for (const auto& m : mounts) mounted = mounted || p == m;
      if (mounted) {
        it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
      std::ifstream in(p, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      if (ss.str().find(needle) != std::string::npos) found.push_back(p);
    }
    return found;
  }
};

TEST_F(NodeSecrets, SecretEnvValuesAreOnlyOnTheRuntimesTmpfs) {
  const std::string value = "tok-7f3c2a9e-at-rest-check";
  Object secret(GroupVersionKind{"", "v1", "Secret"}, "default", "api");
  secret.json()["stringData"] = {{"token", value}};
  ASSERT_TRUE(client_->Create(secret).ok());
  Object pod(GroupVersionKind{"", "v1", "Pod"}, "default", "holder");
  pod.json()["spec"] = {
      {"nodeName", node_name_},
      {"terminationGracePeriodSeconds", 1},
      {"containers",
       Json::array({{{"name", "main"},
                     {"image", "bosun.test/busybox:1"},
                     {"imagePullPolicy", "Never"},
                     {"command", Json::array({"sleep", "100000"})},
                     {"env", Json::array({{{"name", "TOKEN"},
                                           {"valueFrom", {{"secretKeyRef", {{"name", "api"}, {"key", "token"}}}}}}})}}})}};
  ASSERT_TRUE(client_->Create(pod).ok());
  ASSERT_TRUE(WaitFor([&] { return PodStatus("holder").value("phase", "") == "Running"; }, 60s))
      << PodStatus("holder").dump(2) << "\n" << Log("node.log");
  ASSERT_EQ(ExecOut({"sh", "-c", "echo -n $TOKEN"}), value) << "the container did not get the Secret's value";

  // The spec and runc's state are on the runtime's own tmpfs, 0700.
  const std::string secure = node_data_ + "/run/secure";
  struct statfs st;
  ASSERT_EQ(::statfs(secure.c_str(), &st), 0);
  EXPECT_EQ(static_cast<unsigned long>(st.f_type), static_cast<unsigned long>(TMPFS_MAGIC)) << secure;
  EXPECT_EQ(fs::status(secure).permissions() & fs::perms::all, fs::perms::owner_all) << secure;
  EXPECT_FALSE(FilesHolding(secure, value).empty()) << "the value is not in the tmpfs: the test looks in the wrong place";

  std::vector<std::string> on_disk = FilesHolding(node_data_, value);
  EXPECT_TRUE(on_disk.empty()) << "the Secret's value is at rest on disk in " << on_disk.size() << " file(s), first "
                               << (on_disk.empty() ? "" : on_disk[0]);

  // kill -9 and restart: the tmpfs stays, the container is adopted, not restarted.
  Json before = PodStatus("holder");
  std::string id = before["containerStatuses"][0].value("containerID", "");
  Kill(&node_pid_, SIGKILL);
  EXPECT_EQ(::statfs(secure.c_str(), &st), 0);
  EXPECT_EQ(static_cast<unsigned long>(st.f_type), static_cast<unsigned long>(TMPFS_MAGIC)) << "unmounted by a kill";
  StartNode();
  EXPECT_TRUE(WaitFor([&] { return Log("node.log").find("adopted container") != std::string::npos; }, 30s))
      << Log("node.log");
  EXPECT_EQ(ExecOut({"sh", "-c", "echo -n $TOKEN"}), value) << "exec after the restart";
  Json after = PodStatus("holder");
  EXPECT_EQ(after["containerStatuses"][0].value("containerID", ""), id);
  EXPECT_EQ(after["containerStatuses"][0].value("restartCount", -1), 0);
}

}  // namespace
}  // namespace bosun::node
