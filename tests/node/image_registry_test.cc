// Pulls from a real registry: Debian's docker-registry on loopback, images
// pushed with skopeo from scripts/build-test-images' layout. Covers pull by
// tag and digest, a tampered blob and a wrong digest (refused, nothing
// stored), imagePullPolicy, concurrent pulls, `bosun image pull`, and bearer
// token auth through a small token-checking proxy (python3) in front of the
// registry.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/process.h"
#include "node/image_internal.h"
#include "node/image_store.h"
#include "tests/node/image_test_support.h"

namespace bosun::node {
namespace {

namespace fs = std::filesystem;
using bosun::test::CountFiles;
using bosun::test::FreePort;
using bosun::test::RunCommand;
using bosun::test::Slurp;
using bosun::test::TempDir;
using bosun::test::TestImagesDir;

bool Answers(int port, const std::string& path = "/v2/") {
  auto o = RunCommand("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" + std::to_string(port) + path);
  return o.out == "200" || o.out == "401";
}

// A process started for the test, killed (by pid) and reaped at the end.
class Child {
 public:
  Child() = default;
  ~Child() { Stop(); }
  bool Start(const std::vector<std::string>& argv, const std::string& log) {
    process::DetachedOptions o;
    o.argv = argv;
    o.stdout_path = log;
    o.stderr_path = log;
    auto pid = process::SpawnDetached(o);
    if (!pid) return false;
    pid_ = *pid;
    return true;
  }
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
};

class ImageRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    images_ = TestImagesDir();
    if (images_.empty()) GTEST_SKIP() << "scripts/build-test-images failed (run scripts/setup)";
    if (RunCommand("command -v docker-registry && command -v skopeo && command -v curl").exit_code != 0) {
      GTEST_SKIP() << "docker-registry, skopeo or curl missing (run scripts/setup)";
    }
    port_ = FreePort();
    registry_ = "127.0.0.1:" + std::to_string(port_);
    std::string config = tmp_.Write("registry.yml",
                                    "version: 0.1\n"
                                    "log:\n  level: error\n"
                                    "storage:\n  filesystem:\n    rootdirectory: " +
                                        tmp_.Sub("storage") +
                                        "\n"
                                        "http:\n  addr: " +
                                        registry_ + "\n");
    ASSERT_TRUE(registry_proc_.Start({"docker-registry", "serve", config}, tmp_.Sub("registry.log")));
    for (int i = 0; i < 100 && !Answers(port_); i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(Answers(port_)) << Slurp(tmp_.Sub("registry.log"));
  }

  void Push(const std::string& source_ref, const std::string& dest) {
    auto o = RunCommand("skopeo copy --quiet --dest-tls-verify=false oci:" + images_ + "/oci:" + source_ref +
                        " docker://" + registry_ + "/" + dest);
    ASSERT_EQ(o.exit_code, 0) << o.out;
  }

  std::unique_ptr<ImageStore> Open(const std::string& auth_file = "") {
    auto s = ImageStore::Open({tmp_.Sub("images"), {registry_}, auth_file});
    EXPECT_TRUE(s) << s.error().message();
    return s ? std::move(*s) : nullptr;
  }

  std::string LayoutDigest(const std::string& ref) {
    Json index = Json::parse(Slurp(images_ + "/oci/index.json"));
    for (const auto& m : index["manifests"]) {
      if (m["annotations"]["org.opencontainers.image.ref.name"] == ref) return m["digest"];
    }
    return "";
  }

  TempDir tmp_{"bosun-registry"};
  std::string images_;
  int port_ = 0;
  std::string registry_;
  Child registry_proc_;
};

TEST_F(ImageRegistryTest, PullsByTagAndByDigestWithProgress) {
  Push("bosun.test/web:1", "web:1");
  auto store = Open();
  int calls = 0;
  int64_t last_layers_done = 0;
  auto img = store->Pull(registry_ + "/web:1", [&](const PullProgress& p) {
    calls++;
    last_layers_done = p.layers_done;
    EXPECT_EQ(p.layers_total, 2);
  });
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_GT(calls, 2);
  EXPECT_EQ(last_layers_done, 2);
  EXPECT_EQ(img->digest, LayoutDigest("bosun.test/web:1")) << "skopeo keeps the manifest as built";
  EXPECT_EQ(img->refs, std::vector<std::string>{registry_ + "/web:1"});
  ASSERT_EQ(img->layer_dirs.size(), 2u);
  EXPECT_EQ(Slurp(img->layer_dirs[1] + "/www/index.html"), "bosun web v1\n");
  EXPECT_EQ(img->config.cmd.front(), "httpd");

  auto by_digest = store->Pull(registry_ + "/web@" + img->digest);
  ASSERT_TRUE(by_digest) << by_digest.error().message();
  EXPECT_EQ(by_digest->digest, img->digest);
  EXPECT_TRUE(store->Get(registry_ + "/web@" + img->digest));

  auto missing = store->Pull(registry_ + "/web:404");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_NE(missing.error().message().find("404"), std::string::npos) << missing.error().message();
}

TEST_F(ImageRegistryTest, RefusesATamperedBlobAndStoresNothing) {
  Push("bosun.test/web:2", "web:2");
  // The registry serves blobs from its storage folder as they are: change
  // the page layer there (same size).
  std::string manifest_digest = LayoutDigest("bosun.test/web:2");
  Json manifest = Json::parse(Slurp(images_ + "/oci/blobs/sha256/" + manifest_digest.substr(7)));
  std::string layer = manifest["layers"][1]["digest"];
  std::string hex = layer.substr(7);
  std::string data_file = tmp_.Sub("storage/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data");
  ASSERT_TRUE(fs::exists(data_file));
  std::string data = Slurp(data_file);
  data[data.size() / 2] ^= 0x55;
  std::ofstream(data_file, std::ios::binary | std::ios::trunc) << data;

  auto store = Open();
  auto r = store->Pull(registry_ + "/web:2");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalid);
  EXPECT_NE(r.error().message().find("blob " + layer + " does not match its digest"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("nothing was stored"), std::string::npos);
  EXPECT_TRUE(store->List()->empty());
  EXPECT_FALSE(fs::exists(tmp_.Sub("images/blobs/sha256/" + hex)));
  EXPECT_EQ(CountFiles(tmp_.Sub("images/layers")), 0u);
  EXPECT_EQ(CountFiles(tmp_.Sub("images/tmp")), 0u);
}

TEST_F(ImageRegistryTest, RefusesAManifestThatDoesNotMatchThePulledDigest) {
  Push("bosun.test/web:1", "web:1");
  // The registry stores manifests by digest; make the stored web:1 manifest
  // differ from its name by a byte of whitespace.
  std::string digest = LayoutDigest("bosun.test/web:1");
  std::string hex = digest.substr(7);
  std::string data_file = tmp_.Sub("storage/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data");
  ASSERT_TRUE(fs::exists(data_file));
  std::string data = Slurp(data_file);
  std::ofstream(data_file, std::ios::binary | std::ios::trunc) << data << " ";
  auto store = Open();
  auto r = store->Pull(registry_ + "/web@" + digest);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("does not match"), std::string::npos) << r.error().message();
  EXPECT_TRUE(store->List()->empty());
  EXPECT_EQ(CountFiles(tmp_.Sub("images/blobs/sha256")), 0u);
}

TEST_F(ImageRegistryTest, PullPolicyNeverIfNotPresentAlways) {
  Push("bosun.test/web:1", "web:moving");
  auto store = Open();
  std::string ref = registry_ + "/web:moving";
  auto never = store->Ensure(ref, PullPolicy::kNever);
  ASSERT_FALSE(never);
  EXPECT_EQ(never.error().code(), Code::kNotFound);
  auto first = store->Ensure(ref, PullPolicy::kIfNotPresent);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->digest, LayoutDigest("bosun.test/web:1"));

  // The tag moves to web:2 in the registry.
  Push("bosun.test/web:2", "web:moving");
  auto still = store->Ensure(ref, PullPolicy::kIfNotPresent);
  ASSERT_TRUE(still);
  EXPECT_EQ(still->digest, first->digest) << "IfNotPresent does not ask the registry";
  EXPECT_EQ(store->Ensure(ref, PullPolicy::kNever)->digest, first->digest);
  auto always = store->Ensure(ref, PullPolicy::kAlways);
  ASSERT_TRUE(always) << always.error().message();
  EXPECT_EQ(always->digest, LayoutDigest("bosun.test/web:2"));
  EXPECT_EQ(Slurp(always->layer_dirs[1] + "/www/index.html"), "bosun web v2\n");
  // The reference names one image: the old one no longer carries it.
  auto list = store->List();
  ASSERT_EQ(list->size(), 2u);
  for (const auto& img : *list) {
    if (img.digest == first->digest) {
      EXPECT_TRUE(img.refs.empty());
    }
  }

  // Always with the registry gone fails, as Kubernetes' ErrImagePull.
  registry_proc_.Stop();
  auto down = store->Ensure(ref, PullPolicy::kAlways);
  ASSERT_FALSE(down);
  EXPECT_NE(down.error().message().find(registry_), std::string::npos) << down.error().message();
  EXPECT_TRUE(store->Ensure(ref, PullPolicy::kIfNotPresent));
}

TEST_F(ImageRegistryTest, ConcurrentEnsuresOfOneImageShareTheDownload) {
  Push("bosun.test/web:1", "web:1");
  auto store = Open();
  std::vector<std::thread> threads;
  std::vector<std::string> digests(4);
  std::vector<std::string> errors(4);
  for (int i = 0; i < 4; i++) {
    threads.emplace_back([&, i] {
      auto r = store->Ensure(registry_ + "/web:1", PullPolicy::kIfNotPresent);
      if (r) {
        digests[i] = r->digest;
      } else {
        errors[i] = r.error().message();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; i++) {
    EXPECT_EQ(digests[i], LayoutDigest("bosun.test/web:1")) << errors[i];
  }
  EXPECT_EQ(CountFiles(tmp_.Sub("images/layers")), 2u);
}

TEST_F(ImageRegistryTest, CliPull) {
  Push("bosun.test/busybox:1", "busybox:1");
  std::string data = tmp_.Sub("node");
  auto o = RunCommand(std::string(BOSUN_BINARY) + " image pull --data " + data + " " + registry_ + "/busybox:1");
  EXPECT_NE(o.exit_code, 0) << "HTTPS is refused by a plain-HTTP registry: " << o.out;
  o = RunCommand(std::string(BOSUN_BINARY) + " image pull --data " + data + " --insecure-registry " + registry_ + " " +
                 registry_ + "/busybox:1");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("pulled " + registry_ + "/busybox:1 " + LayoutDigest("bosun.test/busybox:1")),
            std::string::npos)
      << o.out;
  o = RunCommand(std::string(BOSUN_BINARY) + " image ls --data " + data);
  EXPECT_NE(o.out.find(registry_ + "/busybox:1"), std::string::npos) << o.out;
}

// A token-checking proxy in front of the registry: /v2/ requests need
// "Authorization: Bearer <token>", else 401 with a Bearer challenge naming
// /token; /token hands out the token only to basic credentials user:secret.
const char* kTokenProxy = R"PY(
import base64, json, sys, urllib.request, urllib.error
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, upstream = int(sys.argv[1]), sys.argv[2]
TOKEN = "tok-" + "3f9a"
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.startswith("/token"):
            want = "Basic " + base64.b64encode(b"user:secret").decode()
            if self.headers.get("Authorization") != want or "scope=repository" not in self.path:
                self.send_response(401); self.end_headers(); return
            body = json.dumps({"token": TOKEN}).encode()
            self.send_response(200); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body); return
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="http://127.0.0.1:%d/token",service="fake"' % port)
            self.send_header("Content-Length", "0"); self.end_headers(); return
        req = urllib.request.Request(upstream + self.path, headers={"Accept": self.headers.get("Accept", "*/*")})
        try:
            r = urllib.request.urlopen(req)
        except urllib.error.HTTPError as e:
            r = e
        body = r.read()
        self.send_response(r.status if hasattr(r, "status") else r.code)
        for h in ("Content-Type", "Docker-Content-Digest"):
            if r.headers.get(h): self.send_header(h, r.headers.get(h))
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
)PY";

TEST_F(ImageRegistryTest, BearerTokenAuthWithCredentialsFromTheAuthFile) {
  if (RunCommand("command -v python3").exit_code != 0) GTEST_SKIP() << "python3 missing";
  Push("bosun.test/web:1", "web:1");
  int proxy_port = FreePort();
  std::string proxy = "127.0.0.1:" + std::to_string(proxy_port);
  std::string script = tmp_.Write("proxy.py", kTokenProxy);
  Child proxy_proc;
  ASSERT_TRUE(proxy_proc.Start({"python3", script, std::to_string(proxy_port), "http://" + registry_},
                               tmp_.Sub("proxy.log")));
  for (int i = 0; i < 100 && !Answers(proxy_port); i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(Answers(proxy_port)) << Slurp(tmp_.Sub("proxy.log"));

  auto open = [&](const std::string& auth) {
    auto s = ImageStore::Open({tmp_.Sub("images"), {proxy}, auth});
    EXPECT_TRUE(s);
    return std::move(*s);
  };
  // Without credentials the token service refuses.
  auto anonymous = open("")->Pull(proxy + "/web:1");
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().code(), Code::kUnauthorized) << anonymous.error().message();
  EXPECT_EQ(anonymous.error().message().find("secret"), std::string::npos);

  std::string auth = tmp_.Write("auth.json", "{\"" + proxy + "\": {\"username\": \"user\", \"password\": \"secret\"}}");
  auto img = open(auth)->Pull(proxy + "/web:1");
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_EQ(img->digest, LayoutDigest("bosun.test/web:1"));
  EXPECT_EQ(Slurp(img->layer_dirs[1] + "/www/index.html"), "bosun web v1\n");
}

}  // namespace
}  // namespace bosun::node
