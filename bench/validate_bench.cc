// bench_validate — how fast `bosun validate` checks a repository, against
// parsing the same files with plain yaml-cpp.
//
//   bench_validate [--files N] [--bosun PATH] [--runs R] [--keep]
//
// Generates N realistic, valid manifest files (Deployments with probes,
// resources and env; Services; ConfigMaps; Jobs; multi-document files; a few
// .yml and .json) of about 1-3 KiB each into a temporary directory, then
// measures, best of R runs each:
//   baseline        read + YAML::LoadAll of every file, in this process
//                   (yaml-cpp parse only: no typing, no validation)
//   bosun LoadYaml  read + bosun::LoadYaml, in this process (for reference:
//                   parse + Kubernetes typing + positions, no validation)
//   bosun validate  `bosun validate DIR`, the real binary as a subprocess,
//                   wall clock (start-up, directory walk, load, validation)
// and prints files/s, MB/s and ms per 1000 files, and the ratio bosun/baseline.
// The generated files must be valid: a non-zero exit of `bosun validate` is
// reported with its output and makes the bench fail. The directory is removed
// at the end (unless --keep).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include "core/yaml.h"

#ifndef BOSUN_BENCH_BOSUN_BINARY
#define BOSUN_BENCH_BOSUN_BINARY "bosun"
#endif

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_interrupted = 0;
void OnSignal(int) {
  g_interrupted = 1;
}

// ---------------------------------------------------------------------------
// Manifest generation

const char* const kTeams[] = {"payments", "search", "checkout", "identity", "catalog", "platform", "data", "edge"};
const char* const kWords[] = {"api",    "web",  "worker", "gateway", "cache", "indexer", "billing", "auth",
                              "report", "feed", "sync",   "notify",  "media", "orders",  "ledger",  "quota"};

struct Gen {
  std::mt19937 rng{20240607};
  int Pick(int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); }
  template <size_t N>
  const char* Pick(const char* const (&a)[N]) {
    return a[Pick(static_cast<int>(N))];
  }
};

struct App {
  std::string name;  // DNS-1123 label, unique per file index
  std::string ns;
  std::string team;
  std::string version;
};

App MakeApp(Gen& g, size_t i) {
  App a;
  a.team = g.Pick(kTeams);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%s-%05zu", a.team.c_str(), g.Pick(kWords), i);
  a.name = buf;
  a.ns = a.team;
  std::snprintf(buf, sizeof buf, "1.%d.%d", g.Pick(30), g.Pick(10));
  a.version = buf;
  return a;
}

std::string Metadata(const App& a, const std::string& name, const char* component, int indent = 0) {
  std::string p(static_cast<size_t>(indent), ' ');
  std::string s;
  s += p + "metadata:\n";
  s += p + "  name: " + name + "\n";
  s += p + "  namespace: " + a.ns + "\n";
  s += p + "  labels:\n";
  s += p + "    app.kubernetes.io/name: " + a.name + "\n";
  s += p + "    app.kubernetes.io/part-of: " + a.team + "\n";
  s += p + "    app.kubernetes.io/component: " + component + "\n";
  s += p + "    app.kubernetes.io/version: \"" + a.version + "\"\n";
  s += p + "  annotations:\n";
  s += p + "    example.com/owner: " + a.team + "-oncall\n";
  return s;
}

std::string Container(Gen& g, const App& a, const std::string& cname, bool probes, int env_count) {
  std::string s;
  s += "        - name: " + cname + "\n";
  s += "          image: registry.example.com/" + a.team + "/" + a.name + ":" + a.version + "\n";
  s += "          imagePullPolicy: IfNotPresent\n";
  s += "          args: [\"--listen=:8080\", \"--log-format=json\", \"--metrics=:9090\"]\n";
  if (probes) {
    s += "          ports:\n";
    s += "            - name: http\n";
    s += "              containerPort: 8080\n";
    s += "              protocol: TCP\n";
    s += "            - name: metrics\n";
    s += "              containerPort: 9090\n";
  }
  s += "          env:\n";
  s += "            - name: APP_NAME\n";
  s += "              value: " + a.name + "\n";
  s += "            - name: POD_NAME\n";
  s += "              valueFrom:\n";
  s += "                fieldRef:\n";
  s += "                  fieldPath: metadata.name\n";
  for (int e = 0; e < env_count; ++e) {
    s += "            - name: FEATURE_FLAG_" + std::to_string(e) + "\n";
    s += "              value: \"" + std::string(g.Pick(2) ? "true" : "false") + "\"\n";
  }
  s += "          resources:\n";
  s += "            requests:\n";
  s += "              cpu: " + std::to_string(50 * (1 + g.Pick(8))) + "m\n";
  s += "              memory: " + std::to_string(64 * (1 + g.Pick(8))) + "Mi\n";
  s += "            limits:\n";
  s += "              cpu: \"" + std::to_string(1 + g.Pick(2)) + "\"\n";
  s += "              memory: " + std::to_string(512 * (1 + g.Pick(2))) + "Mi\n";
  if (probes) {
    s += "          readinessProbe:\n";
    s += "            httpGet:\n";
    s += "              path: /ready\n";
    s += "              port: http\n";
    s += "            initialDelaySeconds: 2\n";
    s += "            periodSeconds: 5\n";
    s += "          livenessProbe:\n";
    s += "            httpGet: {path: /healthz, port: 8080}\n";
    s += "            periodSeconds: 10\n";
    s += "            failureThreshold: 3\n";
  }
  return s;
}

std::string Deployment(Gen& g, const App& a) {
  std::string s;
  s += "# " + a.name + ": the " + a.team + " team's service.\n";
  s += "apiVersion: apps/v1\nkind: Deployment\n";
  s += Metadata(a, a.name, "server");
  s += "spec:\n";
  s += "  replicas: " + std::to_string(1 + g.Pick(5)) + "\n";
  s += "  selector:\n";
  s += "    matchLabels:\n";
  s += "      app.kubernetes.io/name: " + a.name + "\n";
  s += "  strategy:\n";
  s += "    type: RollingUpdate\n";
  s += "    rollingUpdate:\n";
  s += "      maxSurge: 25%\n";
  s += "      maxUnavailable: 0\n";
  s += "  template:\n";
  s += "    metadata:\n";
  s += "      labels:\n";
  s += "        app.kubernetes.io/name: " + a.name + "\n";
  s += "        app.kubernetes.io/version: \"" + a.version + "\"\n";
  s += "    spec:\n";
  s += "      terminationGracePeriodSeconds: 30\n";
  s += "      containers:\n";
  s += Container(g, a, "app", true, g.Pick(6));
  if (g.Pick(3) == 0) s += Container(g, a, "sidecar", false, 0);
  return s;
}

std::string Service(Gen& g, const App& a) {
  std::string s;
  s += "apiVersion: v1\nkind: Service\n";
  s += Metadata(a, a.name, "server");
  s += "spec:\n";
  s += "  type: ClusterIP\n";
  s += "  selector:\n";
  s += "    app.kubernetes.io/name: " + a.name + "\n";
  s += "  ports:\n";
  s += "    - name: http\n";
  s += "      port: 80\n";
  s += "      targetPort: http\n";
  s += "      protocol: TCP\n";
  s += "    - name: metrics\n";
  s += "      port: 9090\n";
  s += "      targetPort: 9090\n";
  if (g.Pick(2)) {
    s += "    - name: grpc\n";
    s += "      port: 9000\n";
    s += "      targetPort: 9000\n";
  }
  return s;
}

std::string ConfigMap(Gen& g, const App& a, const std::string& name) {
  std::string s;
  s += "apiVersion: v1\nkind: ConfigMap\n";
  s += Metadata(a, name, "config");
  s += "data:\n";
  s += "  LOG_LEVEL: info\n";
  s += "  MAX_CONNECTIONS: \"" + std::to_string(100 + g.Pick(900)) + "\"\n";
  s += "  config.yaml: |\n";
  s += "    server:\n";
  s += "      listen: \":8080\"\n";
  s += "      readTimeout: 5s\n";
  s += "      writeTimeout: 10s\n";
  s += "    upstreams:\n";
  int n = 3 + g.Pick(12);
  for (int i = 0; i < n; ++i) {
    s += "      - name: " + std::string(g.Pick(kWords)) + "-" + std::to_string(i) + "\n";
    s += "        url: http://" + std::string(g.Pick(kWords)) + "." + a.ns + ".svc:8080\n";
    s += "        weight: " + std::to_string(1 + g.Pick(10)) + "\n";
  }
  s += "  feature-flags.properties: |\n";
  for (int i = 0; i < 4 + g.Pick(8); ++i)
    s += "    flag." + std::to_string(i) + "=" + (g.Pick(2) ? "on" : "off") + "\n";
  return s;
}

std::string Job(Gen& g, const App& a) {
  std::string s;
  s += "# One-off task of " + a.team + ".\n";
  s += "apiVersion: batch/v1\nkind: Job\n";
  s += Metadata(a, a.name, "task");
  s += "spec:\n";
  s += "  backoffLimit: " + std::to_string(g.Pick(6)) + "\n";
  s += "  activeDeadlineSeconds: 600\n";
  s += "  ttlSecondsAfterFinished: 3600\n";
  s += "  template:\n";
  s += "    metadata:\n";
  s += "      labels:\n";
  s += "        app.kubernetes.io/name: " + a.name + "\n";
  s += "    spec:\n";
  s += "      restartPolicy: " + std::string(g.Pick(2) ? "Never" : "OnFailure") + "\n";
  s += "      containers:\n";
  s += "        - name: task\n";
  s += "          image: registry.example.com/" + a.team + "/tools:" + a.version + "\n";
  s += "          command:\n";
  s += "            - sh\n";
  s += "            - -c\n";
  s += "            - |\n";
  s += "              set -eu\n";
  s += "              echo \"migrating " + a.name + " to " + a.version + "\"\n";
  s += "              /app/migrate --to=" + a.version + " --timeout=300s\n";
  s += "          env:\n";
  s += "            - name: DATABASE_HOST\n";
  s += "              value: db." + a.ns + ".svc\n";
  s += "            - name: DATABASE_USER\n";
  s += "              valueFrom:\n";
  s += "                configMapKeyRef:\n";
  s += "                  name: " + a.name + "-db\n";
  s += "                  key: user\n";
  s += "          resources:\n";
  s += "            requests: {cpu: 100m, memory: 128Mi}\n";
  s += "            limits: {memory: 256Mi}\n";
  return s;
}

// A Service as JSON, the way a tool writes it.
std::string ServiceJson(Gen& g, const App& a) {
  nlohmann::ordered_json j = {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata",
       {{"name", a.name},
        {"namespace", a.ns},
        {"labels",
         {{"app.kubernetes.io/name", a.name},
          {"app.kubernetes.io/part-of", a.team},
          {"app.kubernetes.io/version", a.version}}},
        {"annotations", {{"example.com/owner", a.team + "-oncall"}, {"example.com/generated-by", "jsonnet"}}}}},
      {"spec",
       {{"type", "ClusterIP"},
        {"selector", {{"app.kubernetes.io/name", a.name}}},
        {"ports",
         {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}, {"protocol", "TCP"}},
          {{"name", "metrics"}, {"port", 9090}, {"targetPort", 9090}, {"protocol", "TCP"}}}}}}};
  if (g.Pick(2)) j["spec"]["ports"].push_back({{"name", "admin"}, {"port", 8081}, {"targetPort", 8081}});
  return j.dump(2) + "\n";
}

struct Corpus {
  fs::path dir;
  std::vector<std::string> files;
  size_t bytes = 0;
};

// Writes n files under dir, spread over team folders (nested, so the walk is
// recursive). Returns false on an I/O error.
bool Generate(size_t n, const fs::path& dir, Corpus* out) {
  Gen g;
  out->dir = dir;
  for (size_t i = 0; i < n && !g_interrupted; ++i) {
    App a = MakeApp(g, i);
    std::string text;
    std::string ext = ".yaml";
    int kind = g.Pick(100);
    if (kind < 30) {
      text = Deployment(g, a);
    } else if (kind < 42) {
      text = Service(g, a) + "---\n" + Service(g, App{a.name + "-canary", a.ns, a.team, a.version});
      // The canary Service selects the same pods; fine for validation.
    } else if (kind < 56) {
      text = ConfigMap(g, a, a.name + "-config");
    } else if (kind < 70) {
      text = Job(g, a);
    } else if (kind < 93) {
      // An application in one file: its config, its Deployment, its Service.
      text = "---\n" + ConfigMap(g, a, a.name + "-config") + "---\n" + Deployment(g, a) + "---\n" + Service(g, a);
      if (text.size() > 3500) text = "---\n" + Deployment(g, a) + "---\n" + Service(g, a);
    } else if (kind < 97) {
      text = ServiceJson(g, a);
      ext = ".json";
    } else {
      text = Deployment(g, a);
      ext = ".yml";
    }
    fs::path sub = dir / a.team / ("batch-" + std::to_string(i / 500));
    std::error_code ec;
    fs::create_directories(sub, ec);
    fs::path file = sub / (a.name + ext);
    std::ofstream f(file, std::ios::binary);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!f) {
      std::fprintf(stderr, "bench_validate: cannot write %s\n", file.c_str());
      return false;
    }
    out->files.push_back(file.string());
    out->bytes += text.size();
  }
  return !g_interrupted;
}

// ---------------------------------------------------------------------------
// Measurements

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = std::move(ss).str();
  return true;
}

struct Run {
  double seconds = 0;
  size_t documents = 0;
  bool ok = true;
  std::string detail;
};

Run BaselineYamlCpp(const Corpus& c) {
  Run r;
  auto t0 = Clock::now();
  std::string text;
  for (const std::string& path : c.files) {
    if (!ReadFile(path, &text)) {
      r.ok = false;
      r.detail = "cannot read " + path;
      break;
    }
    try {
      std::vector<YAML::Node> docs = YAML::LoadAll(text);
      r.documents += docs.size();
    } catch (const YAML::Exception& e) {
      r.ok = false;
      r.detail = path + ": " + e.what();
      break;
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

Run InProcessLoadYaml(const Corpus& c) {
  Run r;
  auto t0 = Clock::now();
  std::string text;
  for (const std::string& path : c.files) {
    if (!ReadFile(path, &text)) {
      r.ok = false;
      r.detail = "cannot read " + path;
      break;
    }
    auto docs = bosun::LoadYaml(text, path);
    if (!docs.ok()) {
      r.ok = false;
      r.detail = docs.error().message();
      break;
    }
    r.documents += docs->size();
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

// Runs `bosun validate DIR` with its output in `log`; wall clock.
Run BosunValidate(const std::string& bosun, const fs::path& dir, const fs::path& log) {
  Run r;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::string verb = "validate", path = dir.string();
  char* argv[] = {const_cast<char*>(bosun.c_str()), verb.data(), path.data(), nullptr};
  pid_t pid = 0;
  auto t0 = Clock::now();
  int err = posix_spawn(&pid, bosun.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) {
    r.ok = false;
    r.detail = "cannot run " + bosun + ": " + std::strerror(err);
    return r;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::string out;
  ReadFile(log.string(), &out);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    // Keep its summary line ("valid: N files, ...").
    size_t end = out.find_last_not_of('\n');
    size_t start = end == std::string::npos ? std::string::npos : out.rfind('\n', end);
    r.detail = end == std::string::npos ? "" : out.substr(start == std::string::npos ? 0 : start + 1, end - start);
    return r;
  }
  r.ok = false;
  std::string how = WIFEXITED(status) ? "exited with " + std::to_string(WEXITSTATUS(status))
                                      : "killed by signal " + std::to_string(WTERMSIG(status));
  if (out.size() > 4000) out = out.substr(0, 2000) + "\n[...]\n" + out.substr(out.size() - 1500);
  r.detail = "`" + bosun + " validate " + path + "` " + how + ":\n" + out;
  return r;
}

template <typename F>
Run BestOf(int runs, F&& f) {
  Run best;
  for (int i = 0; i < runs && !g_interrupted; ++i) {
    Run r = f();
    if (!r.ok) return r;
    if (i == 0 || r.seconds < best.seconds) best = r;
  }
  return best;
}

void PrintRow(const char* label, const Run& r, const Corpus& c) {
  double files_per_s = static_cast<double>(c.files.size()) / r.seconds;
  double mb_per_s = static_cast<double>(c.bytes) / 1e6 / r.seconds;
  double ms_per_1000 = r.seconds * 1000.0 / static_cast<double>(c.files.size()) * 1000.0;
  std::printf("  %-34s %10.0f %9.1f %15.1f\n", label, files_per_s, mb_per_s, ms_per_1000);
}

void Usage(FILE* to) {
  std::fprintf(to,
               "usage: bench_validate [--files N] [--bosun PATH] [--runs R] [--keep]\n"
               "  --files N     manifest files to generate (default 10000)\n"
               "  --bosun PATH  the bosun binary (default %s)\n"
               "  --runs R      runs of each measurement, the best is kept (default 3)\n"
               "  --keep        keep the generated directory\n",
               BOSUN_BENCH_BOSUN_BINARY);
}

}  // namespace

int main(int argc, char** argv) {
  size_t n_files = 10000;
  int runs = 3;
  bool keep = false;
  std::string bosun = BOSUN_BENCH_BOSUN_BINARY;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& flag, std::string* out) {
      if (a == flag && i + 1 < argc) {
        *out = argv[++i];
        return true;
      }
      if (a.rfind(flag + "=", 0) == 0) {
        *out = a.substr(flag.size() + 1);
        return true;
      }
      return false;
    };
    std::string v;
    if (value("--files", &v)) {
      char* end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n <= 0) {
        std::fprintf(stderr, "bench_validate: --files wants a positive number, got %s\n", v.c_str());
        return 2;
      }
      n_files = static_cast<size_t>(n);
    } else if (value("--runs", &v)) {
      runs = std::max(1, std::atoi(v.c_str()));
    } else if (value("--bosun", &v)) {
      bosun = v;
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "bench_validate: unknown argument %s\n", a.c_str());
      Usage(stderr);
      return 2;
    }
  }

  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);

  // The work area: <tmp>/bosun-bench-XXXXXX/{manifests/, validate.log}.
  std::string tmpl = (fs::temp_directory_path() / "bosun-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::fprintf(stderr, "bench_validate: cannot create a temporary directory: %s\n", std::strerror(errno));
    return 1;
  }
  const fs::path root = tmpl;
  struct Cleanup {
    fs::path root;
    bool keep;
    ~Cleanup() {
      if (keep) {
        std::printf("kept %s\n", root.c_str());
        return;
      }
      std::error_code ec;
      fs::remove_all(root, ec);
    }
  } cleanup{root, keep};

  Corpus corpus;
  std::printf("bench_validate: generating %zu manifest files in %s ...\n", n_files, root.c_str());
  std::fflush(stdout);
  auto g0 = Clock::now();
  if (!Generate(n_files, root / "manifests", &corpus)) return g_interrupted ? 130 : 1;
  double gen_s = std::chrono::duration<double>(Clock::now() - g0).count();

  Run base = BestOf(runs, [&] { return BaselineYamlCpp(corpus); });
  if (g_interrupted) return 130;
  if (!base.ok) {
    std::fprintf(stderr, "bench_validate: baseline failed on a generated file: %s\n", base.detail.c_str());
    return 1;
  }
  Run load = BestOf(runs, [&] { return InProcessLoadYaml(corpus); });
  if (g_interrupted) return 130;
  if (!load.ok) {
    std::fprintf(stderr, "bench_validate: bosun::LoadYaml refused a generated file: %s\n", load.detail.c_str());
    return 1;
  }

  Run val;
  if (!fs::exists(bosun)) {
    val.ok = false;
    val.detail = bosun + " does not exist (build it: cmake --build build --target bosun, or pass --bosun PATH)";
  } else {
    val = BestOf(runs, [&] { return BosunValidate(bosun, root / "manifests", root / "validate.log"); });
  }
  if (g_interrupted) return 130;

  std::printf("\n%zu files, %.1f MB, %zu documents (avg %.2f KiB/file; generated in %.1f s); best of %d runs\n",
              corpus.files.size(), static_cast<double>(corpus.bytes) / 1e6, base.documents,
              static_cast<double>(corpus.bytes) / 1024.0 / static_cast<double>(corpus.files.size()), gen_s, runs);
  std::printf("\n  %-34s %10s %9s %15s\n", "", "files/s", "MB/s", "ms/1000 files");
  PrintRow("baseline: yaml-cpp LoadAll (1 thr)", base, corpus);
  PrintRow("bosun LoadYaml in-process (1 thr)", load, corpus);
  if (val.ok) {
    char label[64];
    std::snprintf(label, sizeof label, "bosun validate (subprocess, %u cpu)", std::thread::hardware_concurrency());
    PrintRow(label, val, corpus);
    std::printf("\n  ratio bosun validate / baseline: %.2fx the time (LoadYaml alone: %.2fx)\n",
                val.seconds / base.seconds, load.seconds / base.seconds);
    std::printf("  bosun said: %s\n", val.detail.c_str());
    return 0;
  }
  std::printf("  %-34s %s\n", "bosun validate", "FAILED");
  std::fprintf(stderr, "\nbench_validate: %s\n", val.detail.c_str());
  return 1;
}
