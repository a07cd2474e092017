// Turning a Pod's container spec into the runtime's ContainerConfig, as the
// kubelet resolves it.
#include "node/pod_spec.h"

#include <gtest/gtest.h>

namespace bosun::node {
namespace {

Object Pod(const std::string& yamlish_containers_json) {
  Json doc = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "web"}, {"namespace", "shop"}, {"uid", "u-1"}}},
              {"spec", {{"nodeName", "n1"}, {"containers", Json::parse(yamlish_containers_json)}}}};
  return Object(doc);
}

ObjectFetcher Fetcher() {
  return [](const std::string& kind, const std::string& ns, const std::string& name) -> Result<Object> {
    if (ns != "shop") return Error(Code::kNotFound, "wrong namespace");
    if (kind == "ConfigMap" && name == "settings") {
      return Object(Json{{"kind", "ConfigMap"}, {"data", {{"MODE", "fast"}, {"LEVEL", "3"}}}});
    }
    if (kind == "Secret" && name == "creds") {
      // "hunter2" and "admin"
      return Object(Json{{"kind", "Secret"}, {"data", {{"password", "aHVudGVyMg=="}, {"user", "YWRtaW4="}}}});
    }
    return Error(Code::kNotFound, "not found");
  };
}

Image Img(std::vector<std::string> entrypoint, std::vector<std::string> cmd) {
  Image i;
  i.digest = "sha256:abc";
  i.config.entrypoint = std::move(entrypoint);
  i.config.cmd = std::move(cmd);
  i.config.env = {"PATH=/bin", "FROM_IMAGE=1", "MODE=slow"};
  i.config.working_dir = "/srv";
  return i;
}

std::vector<std::string> Argv(const std::string& container_json, const Image& img) {
  Json c = Json::parse(container_json);
  auto r = ResolveArgv(c, img.config, {{"GREETING", "hi"}});
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : std::vector<std::string>{};
}

TEST(PodSpec, ArgvFollowsKubernetesCommandArgsRules) {
  Image img = Img({"/entry"}, {"default", "cmd"});
  using V = std::vector<std::string>;
  EXPECT_EQ(Argv(R"J({"name":"c"})J", img), (V{"/entry", "default", "cmd"}));
  EXPECT_EQ(Argv(R"J({"name":"c","args":["x","y"]})J", img), (V{"/entry", "x", "y"}));
  // command replaces the entrypoint and drops the image's Cmd.
  EXPECT_EQ(Argv(R"J({"name":"c","command":["/bin/sh"]})J", img), (V{"/bin/sh"}));
  EXPECT_EQ(Argv(R"J({"name":"c","command":["/bin/sh"],"args":["-c","echo $(GREETING) $$(GREETING) $(NOPE)"]})J", img),
            (V{"/bin/sh", "-c", "echo hi $(GREETING) $(NOPE)"}));
  Image empty = Img({}, {});
  auto r = ResolveArgv(Json::parse(R"J({"name":"c"})J"), empty.config, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("no command specified"), std::string::npos);
}

TEST(PodSpec, EnvFromConfigMapsAndSecretsWithExpansion) {
  Object pod = Pod(R"J([{"name":"app","image":"x",
    "envFrom":[{"configMapRef":{"name":"settings"}},{"prefix":"DB_","secretRef":{"name":"creds"}}],
    "env":[{"name":"A","value":"a"},
           {"name":"B","value":"$(A)-$(MODE)-$(LATER)"},
           {"name":"LATER","value":"l"},
           {"name":"PW","valueFrom":{"secretKeyRef":{"name":"creds","key":"password"}}},
           {"name":"LVL","valueFrom":{"configMapKeyRef":{"name":"settings","key":"LEVEL"}}},
           {"name":"OPT","valueFrom":{"configMapKeyRef":{"name":"missing","key":"k","optional":true}}},
           {"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},
           {"name":"IP","valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}}]}])J");
  auto fields = PodFieldValues(pod, "10.244.0.7", "127.0.0.1");
  auto cfg = BuildContainerConfig(pod, pod.spec()["containers"][0], Img({"/e"}, {}), fields, Fetcher(), {}, 2);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  auto has = [&](const std::string& kv) {
    return std::find(cfg->env.begin(), cfg->env.end(), kv) != cfg->env.end();
  };
  EXPECT_TRUE(has("MODE=fast")) << "the container's env replaces the image's";
  EXPECT_TRUE(has("FROM_IMAGE=1"));
  EXPECT_TRUE(has("LEVEL=3"));
  EXPECT_TRUE(has("DB_password=hunter2"));
  EXPECT_TRUE(has("DB_user=admin"));
  EXPECT_TRUE(has("B=a-fast-$(LATER)")) << "only variables defined before expand";
  EXPECT_TRUE(has("PW=hunter2"));
  EXPECT_TRUE(has("LVL=3"));
  EXPECT_TRUE(has("POD=web"));
  EXPECT_TRUE(has("IP=10.244.0.7"));
  EXPECT_TRUE(has("HOSTNAME=web"));
  for (const auto& e : cfg->env) EXPECT_NE(e.rfind("OPT=", 0), 0u) << "an optional missing ref sets nothing";
  EXPECT_EQ(cfg->attempt, 2);
  EXPECT_EQ(cfg->working_dir, "/srv");
  EXPECT_EQ(cfg->image.digest, "sha256:abc");
}

TEST(PodSpec, MissingConfigMapOrKeyIsAnErrorNamingIt) {
  Object pod = Pod(R"J([{"name":"app","env":[{"name":"X","valueFrom":{"configMapKeyRef":{"name":"gone","key":"k"}}}]}])J");
  auto r = ResolveEnv(pod, pod.spec()["containers"][0], {}, Fetcher());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_NE(r.error().message().find("ConfigMap \"gone\" not found in namespace \"shop\""), std::string::npos)
      << r.error().message();
  Object pod2 = Pod(R"J([{"name":"app","env":[{"name":"X","valueFrom":{"secretKeyRef":{"name":"creds","key":"token"}}}]}])J");
  auto r2 = ResolveEnv(pod2, pod2.spec()["containers"][0], {}, Fetcher());
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message().find("Secret \"creds\" has no key \"token\""), std::string::npos);
  EXPECT_EQ(r2.error().message().find("hunter2"), std::string::npos) << "no secret values in errors";
}

TEST(PodSpec, ResourcesMapToSharesQuotaAndMemory) {
  auto res = [](const std::string& j) {
    auto r = ResourcesOf(Json::parse(j));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : Resources{};
  };
  Resources a = res(R"J({"name":"c","resources":{"requests":{"cpu":"250m"},"limits":{"cpu":"500m","memory":"128Mi"}}})J");
  EXPECT_EQ(a.cpu_shares, 256);
  EXPECT_EQ(a.cpu_quota_us, 50000);
  EXPECT_EQ(a.cpu_period_us, 100000);
  EXPECT_EQ(a.memory_limit_bytes, 128 * 1024 * 1024);
  Resources b = res(R"J({"name":"c","resources":{"limits":{"cpu":"2","memory":"1G"}}})J");
  EXPECT_EQ(b.cpu_shares, 2048) << "a limit without a request counts as the request";
  EXPECT_EQ(b.cpu_quota_us, 200000);
  EXPECT_EQ(b.memory_limit_bytes, 1000000000);
  Resources none = res(R"J({"name":"c"})J");
  EXPECT_EQ(none.cpu_shares, 2);
  EXPECT_EQ(none.cpu_quota_us, 0);
  EXPECT_EQ(none.memory_limit_bytes, 0);
  Resources tiny = res(R"J({"name":"c","resources":{"requests":{"cpu":"1m"},"limits":{"cpu":"1m"}}})J");
  EXPECT_EQ(tiny.cpu_shares, 2);
  EXPECT_EQ(tiny.cpu_quota_us, 1000);
  auto bad = ResourcesOf(Json::parse(R"J({"name":"c","resources":{"limits":{"memory":"lots"}}})J"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("resources.limits.memory"), std::string::npos);
}

TEST(PodSpec, HostPortsAndSecurityContext) {
  Object pod = Pod(R"J([{"name":"web","image":"x","command":["httpd"],
     "ports":[{"containerPort":8080,"hostPort":18080},{"containerPort":9090},
              {"containerPort":53,"hostPort":1053,"protocol":"UDP","hostIP":"127.0.0.1"}],
     "securityContext":{"runAsUser":1000,"readOnlyRootFilesystem":true}}])J");
  pod.json()["spec"]["securityContext"] = {{"runAsUser", 5}, {"runAsGroup", 6}};
  auto ports = HostPortsOf(pod);
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[0].container_port, 8080);
  EXPECT_EQ(ports[0].host_port, 18080);
  EXPECT_EQ(ports[0].protocol, "TCP");
  EXPECT_EQ(ports[1].protocol, "UDP");
  EXPECT_EQ(ports[1].host_ip, "127.0.0.1");
  auto cfg = BuildContainerConfig(pod, pod.spec()["containers"][0], Img({}, {}), {}, Fetcher(), {}, 0);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_EQ(cfg->run_as_user, 1000) << "the container's runAsUser wins over the pod's";
  EXPECT_EQ(cfg->run_as_group, 6) << "the pod's runAsGroup applies when the container sets none";
  EXPECT_TRUE(cfg->read_only_rootfs);
  Image user_img = Img({"/e"}, {});
  user_img.config.user = "42:43";
  Object plain = Pod(R"J([{"name":"c"}])J");
  auto cfg2 = BuildContainerConfig(plain, plain.spec()["containers"][0], user_img, {}, Fetcher(), {}, 0);
  ASSERT_TRUE(cfg2.ok());
  EXPECT_EQ(cfg2->run_as_user, 42);
  EXPECT_EQ(cfg2->run_as_group, 43);
  EXPECT_FALSE(cfg2->read_only_rootfs);
}

}  // namespace
}  // namespace bosun::node
