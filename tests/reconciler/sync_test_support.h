// tests/reconciler/sync_test_support.h — what the sync controller's tests
// share: a real Git repository made with the git CLI (the remote the mirror
// fetches from), a real state API (Store + LocalService + ApiServer on
// loopback) with an admin client, and a controller wired to both.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/kinds.h"
#include "core/log.h"
#include "crypto/tokens.h"
#include "gitsync/mirror.h"
#include "reconciler/sync_controller.h"
#include "state/api_server.h"
#include "state/auth.h"
#include "state/client.h"
#include "state/service.h"
#include "state/store.h"
#include "tests/api_harness.h"
#include "tests/test_support.h"

namespace bosun::reconciler::synctest {

using test::Eventually;

using namespace std::chrono_literals;
using bosun::test::RunCommand;
using bosun::test::TempDir;

inline std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// A working repository on branch main; the mirror fetches from it directly.
class GitRepo {
 public:
  explicit GitRepo(const std::string& dir) : dir_(dir) {
    std::filesystem::create_directories(dir_);
    Git("init -q");
  }
  const std::string& dir() const { return dir_; }

  std::string Git(const std::string& args) const {
    auto r = RunCommand("cd " + dir_ +
                        " && GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null "
                        "GIT_AUTHOR_NAME='Ada Author' GIT_AUTHOR_EMAIL=ada@example.com "
                        "GIT_COMMITTER_NAME='Cy Committer' GIT_COMMITTER_EMAIL=cy@example.com "
                        "git -c init.defaultBranch=main -c commit.gpgsign=false " +
                        args);
    EXPECT_EQ(r.exit_code, 0) << "git " << args << ": " << r.out;
    return Trim(r.out);
  }

  // Writes (or, for nullopt, deletes) files, commits everything, returns the
  // commit id.
  std::string Commit(const std::map<std::string, std::optional<std::string>>& files,
                     const std::string& message = "change") const {
    for (const auto& [path, content] : files) {
      std::filesystem::path p = std::filesystem::path(dir_) / path;
      if (content) {
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << *content;
      } else {
        std::filesystem::remove(p);
      }
    }
    Git("add -A");
    std::string msg_file = dir_ + "/../commit-msg.txt";
    std::ofstream(msg_file) << message;
    Git("commit -q --allow-empty -F " + msg_file);
    return Head();
  }
  std::string Head() const { return Git("rev-parse HEAD"); }

 private:
  std::string dir_;
};

// The API in-process, with batch-sized bodies.
class Api : public test::InProcessApi {
 public:
  explicit Api(const std::string& dir) : InProcessApi(dir, 64u << 20) {}
};

inline const KindInfo& Kind(const char* resource) {
  return *KindRegistry::Builtin().FindResource(resource);
}

// Manifests.
inline std::string NamespaceYaml(const std::string& name) {
  return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n";
}
inline std::string ConfigMapYaml(const std::string& name, const std::string& ns, const std::string& value) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\ndata:\n  key: \"" +
         value + "\"\n";
}
inline std::string SecretYaml(const std::string& name, const std::string& ns, const std::string& password) {
  return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\nstringData:\n  password: \"" + password + "\"\n";
}
inline std::string DeploymentYaml(const std::string& name, const std::string& ns, int replicas,
                                  const std::string& image = "nginx:1.25") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\nspec:\n  replicas: " + std::to_string(replicas) + "\n  selector:\n    matchLabels:\n      app: " + name +
         "\n  template:\n    metadata:\n      labels:\n"
         "        app: " +
         name + "\n    spec:\n      containers:\n      - name: main\n        image: " + image + "\n";
}
inline std::string ServiceYaml(const std::string& name, const std::string& ns) {
  return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\nspec:\n  selector:\n    app: " + name + "\n  ports:\n  - port: 80\n";
}
inline std::string SyncConfigYaml(const std::string& body) {
  return "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata:\n  name: default\nspec:\n" + body;
}

// A JSON list of strings (a record's errors or warnings); empty when absent.
inline std::vector<std::string> Strings(const Json& list) {
  std::vector<std::string> out;
  if (list.is_array()) {
    for (const Json& j : list) out.push_back(j.get<std::string>());
  }
  return out;
}

// Waits (real time) until `pred` holds.
// A repository, an API, a mirror of the repository and a controller.
class SyncFixture : public ::testing::Test {
 protected:
  SyncFixture() : tmp_("bosun-sync"), repo_(tmp_.Sub("repo")), api_(tmp_.Sub("store")) {}

  // Opens the mirror and creates (but does not start) a controller.
  void MakeController(std::function<void(SyncOptions&)> tweak = {}) {
    ctl_.reset();
    if (!mirror_) {
      gitsync::RemoteOptions ro;
      ro.url = repo_.dir();
      ro.ref = ref_;
      auto m = gitsync::Mirror::Open(tmp_.Sub("mirror"), ro);
      ASSERT_TRUE(m.ok()) << m.error().message();
      mirror_ = std::move(*m);
    }
    SyncOptions o;
    o.mirror = mirror_.get();
    o.client = &api_.client();
    o.interval = std::chrono::milliseconds(3600000);
    if (tweak) tweak(o);
    auto c = SyncController::Create(o);
    ASSERT_TRUE(c.ok()) << c.error().message();
    ctl_ = std::move(*c);
  }

  std::string Sync(SyncTrigger why = SyncTrigger::kPoll) {
    auto r = ctl_->SyncOnce(why);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : "<error>";
  }

  std::vector<Object> Records() {
    auto l = api_.client().List(Kind("revisions"), "");
    EXPECT_TRUE(l.ok()) << (l.ok() ? "" : l.error().message());
    return l.ok() ? l->items : std::vector<Object>{};
  }
  Object Record(const std::string& name) {
    auto r = api_.client().Get(Kind("revisions"), "", name);
    EXPECT_TRUE(r.ok()) << name << ": " << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : Object();
  }
  std::optional<Object> Live(const char* resource, const std::string& ns, const std::string& name) {
    auto r = api_.client().Get(Kind(resource), ns, name);
    if (!r) return std::nullopt;
    return *r;
  }
  Object Repository() {
    auto r = api_.client().Get(Kind("gitrepositories"), "", "default");
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : Object();
  }

  TempDir tmp_;
  GitRepo repo_;
  Api api_;
  std::unique_ptr<gitsync::Mirror> mirror_;
  std::unique_ptr<SyncController> ctl_;
  std::string ref_ = "main";  // what the mirror follows; set it, and reset mirror_, to follow another
};

}  // namespace bosun::reconciler::synctest
