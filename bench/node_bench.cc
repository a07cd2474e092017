// bench_node — pod start latency on a real node, against bare `runc run -d`.
//
//   bench_node [--bosun PATH] [--pods N] [--burst N] [--dir DIR] [--keep] [--node-log-level debug]
//
// It builds the test images (scripts/build-test-images), starts one
// `bosun server` and one `bosun node` (its own bridge and pod CIDR, the
// images imported from its airgap folder), then:
//
//   start latency  N pods (default 50) one after another, each created with
//                  spec.nodeName set (bound) and its image present; timed from
//                  the create's answer to the watch event that shows the
//                  container running. p50 and p99.
//                  Baseline, side by side: right after each pod runs, bare
//                  `runc run -d` of the same bundle — the config.json bosun
//                  wrote for that pod (its seccomp filter, capabilities,
//                  masked paths, cgroup limits, the pod's namespaces), on a
//                  fresh overlay of a copy of the same busybox rootfs (upper
//                  on disk, as bosun's) and in a cgroup of the bench's, runc's
//                  --root on a tmpfs as bosun's — timed from exec to runc's exit (the
//                  container is running then). Both see the same host: the
//                  pods started so far, the node's background work. p50,
//                  p99 and the ratio.
//                  Reference: `runc run -d` of runc's own default spec, N
//                  times on the bare host before bosun starts (what the
//                  ratio was taken against before).
//   burst          --burst pods (default 100) created at once: time until all
//                  run.
//   memory         the node daemon's resident memory (VmRSS) with the burst's
//                  pods running, and one shim's.
//
// Progress goes to stderr; the figures to stdout. Needs root, runc and the
// CNI plugins (scripts/setup). Everything it starts is stopped and removed at
// the end (unless --keep), pods first, so no container, mount or veth stays.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_cluster.h"
#include "core/kinds.h"
#include "core/process.h"
#include "state/client.h"

#ifndef BOSUN_BENCH_BOSUN_BINARY
#define BOSUN_BENCH_BOSUN_BINARY "bosun"
#endif
#ifndef BOSUN_BENCH_SOURCE_DIR
#define BOSUN_BENCH_SOURCE_DIR "."
#endif

extern char** environ;

namespace {

namespace fs = std::filesystem;
using bosun::Code;
using bosun::Error;
using bosun::Json;
using bosun::Object;
using bosun::Result;
using bosun::Status;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void Progress(const std::string& s) { std::fprintf(stderr, "bench_node: %s\n", s.c_str()); }

// The share of all CPUs that was busy over `window` (/proc/stat).
double BusyShare(std::chrono::milliseconds window) {
  auto sample = [](uint64_t* busy, uint64_t* total) {
    *busy = *total = 0;
    std::ifstream in("/proc/stat");
    std::string cpu;
    in >> cpu;  // the "cpu" line: user nice system idle iowait irq softirq steal ...
    uint64_t v = 0;
    for (int i = 0; i < 8 && in >> v; ++i) {
      *total += v;
      if (i != 3 && i != 4) *busy += v;  // idle and iowait are not busy
    }
  };
  uint64_t b0, t0, b1, t1;
  sample(&b0, &t0);
  std::this_thread::sleep_for(window);
  sample(&b1, &t1);
  return t1 > t0 ? static_cast<double>(b1 - b0) / static_cast<double>(t1 - t0) : 0.0;
}

// Waits (up to `limit`) until the machine has been quiet for three seconds in
// a row — a previous run's teardown, a build — so that the p99 of 50 pods is
// not one pod that met someone else's work. Returns the last second's busy
// share and how long it waited.
std::pair<double, double> WaitForQuietMachine(std::chrono::seconds limit) {
  auto t0 = SteadyClock::now();
  int quiet = 0, seconds = 0;
  double busy = 1.0;
  while (SteadyClock::now() - t0 < limit) {
    busy = BusyShare(1000ms);
    quiet = busy < 0.15 ? quiet + 1 : 0;
    if (quiet >= 3) break;
    if (quiet == 0 && seconds++ % 5 == 0) {
      Progress("waiting for a quiet machine (" + std::to_string(static_cast<int>(busy * 100)) + "% busy)");
    }
  }
  return {busy, std::chrono::duration<double>(SteadyClock::now() - t0).count()};
}

// Runs argv with stdio on /dev/null and waits: `runc run -d` leaves the
// container holding its stdio, so a pipe would never reach EOF.
Result<int> RunQuiet(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return Error(Code::kIo, "cannot run " + argv[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Removes an (empty) cgroup the bench or its node made at the top of every
// hierarchy: each v1 controller, the hybrid's unified one, or pure v2's root.
void RemoveTopCgroup(const std::string& name) {
  std::error_code ec;
  std::vector<fs::path> dirs = {fs::path("/sys/fs/cgroup") / name};
  for (const auto& c : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    dirs.push_back(c.path() / name);
    dirs.push_back(c.path() / "unified" / name);
  }
  for (const auto& p : dirs) {
    if (fs::is_directory(p, ec)) ::rmdir(p.c_str());
  }
}

// ---- the baseline: bare runc ----

// runc's --root is on a tmpfs, as bosun's is (a disk would slow each run).
struct RuncBaseline {
  fs::path dir;
  std::vector<std::string> ids;
  std::vector<fs::path> mounts;  // the root tmpfs, the same-bundle runs' overlays
  std::string root;
  std::string cgroup_parent;  // for the same-bundle runs: removed in Clear()

  ~RuncBaseline() { Clear(); }

  // Deletes the containers (before the pods whose namespaces they joined go)
  // and whatever the baseline made.
  void Clear() {
    for (const auto& id : ids) (void)RunQuiet({"runc", "--root", root, "delete", "--force", id});
    ids.clear();
    for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    mounts.clear();
    if (!cgroup_parent.empty()) RemoveTopCgroup(cgroup_parent);
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  Status Prepare() {
    fs::create_directories(dir / "bundle" / "rootfs" / "bin");
    root = (dir / "runc-root").string();
    fs::create_directories(root);
    if (::mount("tmpfs", root.c_str(), "tmpfs", 0, "mode=0700,size=64m") != 0) {
      return Error(Code::kIo, "cannot mount a tmpfs at " + root + ": " + std::strerror(errno));
    }
    mounts.push_back(root);
    fs::copy_file("/bin/busybox", dir / "bundle" / "rootfs" / "bin" / "busybox");
    for (const char* applet : {"sh", "sleep"}) fs::create_symlink("busybox", dir / "bundle" / "rootfs" / "bin" / applet);
    for (const char* d : {"proc", "dev", "sys", "tmp"}) fs::create_directories(dir / "bundle" / "rootfs" / d);
    bosun::process::Options o;
    o.argv = {"runc", "spec"};
    o.cwd = (dir / "bundle").string();
    auto r = bosun::process::Run(o);
    if (!r || !r->ok()) return Error(Code::kIo, "runc spec failed (is runc installed? run scripts/setup)");
    std::ifstream in(dir / "bundle" / "config.json");
    Json spec = Json::parse(in);
    spec["process"]["terminal"] = false;
    spec["process"]["args"] = {"sleep", "100000"};
    std::ofstream(dir / "bundle" / "config.json") << spec.dump(2);
    return Status();
  }

  // One `runc run -d` of the default spec: returns its wall time in ms.
  Result<double> StartOne(int i) { return Time("bench-node-runc-" + std::to_string(getpid()) + "-" + std::to_string(i), dir / "bundle"); }

  // One `runc run -d` of the spec bosun wrote for a pod (`config`), with its
  // cgroup replaced by one of ours and its rootfs by a fresh overlay of the
  // baseline's copy (upper and work dirs on disk, as bosun's are), mounted
  // before the clock starts: what runc writes into it is runc's work.
  Result<double> StartSameBundle(int i, const fs::path& config) {
    std::ifstream in(config);
    if (!in) return Error(Code::kNotFound, "cannot read the pod's spec " + config.string());
    Json spec = Json::parse(in, nullptr, false);
    if (spec.is_discarded()) return Error(Code::kInvalid, "cannot parse the pod's spec " + config.string());
    std::string id = "bench-node-same-" + std::to_string(getpid()) + "-" + std::to_string(i);
    fs::path bundle = dir / id;
    for (const char* d : {"rootfs", "upper", "work"}) fs::create_directories(bundle / d);
    std::string opts = "lowerdir=" + (dir / "bundle" / "rootfs").string() + ",upperdir=" + (bundle / "upper").string() +
                       ",workdir=" + (bundle / "work").string();
    if (::mount("overlay", (bundle / "rootfs").c_str(), "overlay", 0, opts.c_str()) != 0) {
      return Error(Code::kIo, "cannot mount an overlay at " + (bundle / "rootfs").string() + ": " + std::strerror(errno));
    }
    mounts.push_back(bundle / "rootfs");
    spec["root"] = {{"path", (bundle / "rootfs").string()}, {"readonly", false}};
    spec["linux"]["cgroupsPath"] = "/" + cgroup_parent + "/" + id;
    std::ofstream(bundle / "config.json") << spec.dump();
    return Time(id, bundle);
  }

 private:
  Result<double> Time(const std::string& id, const fs::path& bundle) {
    auto t0 = SteadyClock::now();
    auto rc = RunQuiet({"runc", "--root", root, "run", "-d", "--bundle", bundle.string(), id});
    double ms = Ms(SteadyClock::now() - t0);
    if (!rc || *rc != 0) return Error(Code::kIo, "runc run -d failed for " + id);
    ids.push_back(id);
    return ms;
  }
};

// ---- bosun: server + node ----

struct Setup {
  std::string bosun = BOSUN_BENCH_BOSUN_BINARY;
  fs::path dir;
  bool keep = false;
  std::unique_ptr<bosun::bench::Cluster> cluster;
  std::unique_ptr<bosun::bench::ChildProcess> node;
  std::unique_ptr<bosun::state::Client> client;
  std::string node_name;
};

const bosun::KindInfo& PodKind() {
  return *bosun::KindRegistry::Builtin().Find(bosun::GroupVersionKind{"", "v1", "Pod"});
}

Object MakePod(const std::string& name, const std::string& node) {
  Json j = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "bench"}}},
            {"spec",
             {{"nodeName", node},
              {"terminationGracePeriodSeconds", 1},
              {"containers", Json::array({{{"name", "app"},
                                            {"image", "bosun.test/busybox:1"},
                                            {"imagePullPolicy", "Never"},
                                            {"command", {"sleep", "100000"}}}})}}}};
  return Object(j);
}

bool Running(const Object& pod) {
  const Json& cs = Object::Field(pod.status(), "containerStatuses");
  if (!cs.is_array() || cs.empty()) return false;
  for (const Json& c : cs) {
    if (!Object::Field(Object::Field(c, "state"), "running").is_object()) return false;
  }
  return true;
}

// A field of /proc/PID/status in KiB ("VmRSS", "RssAnon", "RssFile"), -1
// when absent.
long StatusKiB(pid_t pid, const std::string& field = "VmRSS") {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}
long RssKiB(pid_t pid) { return StatusKiB(pid); }

// Pods seen running, by name, and when.
struct RunningWatch {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, SteadyClock::time_point> running;
  std::set<std::string> present;
  bosun::state::WatchPtr watch;

  Status Start(bosun::state::Client& client) {
    auto w = client.Watch(PodKind(), "bench", "", "", [this](const bosun::state::WatchEvent& e) {
      if (e.type == bosun::state::WatchEvent::Type::kBookmark) return;
      std::lock_guard l(mu);
      std::string name = e.object.name();
      if (e.type == bosun::state::WatchEvent::Type::kDeleted) {
        present.erase(name);
        running.erase(name);
      } else {
        present.insert(name);
        if (Running(e.object) && !running.count(name)) running[name] = SteadyClock::now();
      }
      cv.notify_all();
    });
    if (!w) return w.error();
    watch = std::move(*w);
    return Status();
  }
  bool WaitRunning(const std::string& name, std::chrono::seconds timeout) {
    std::unique_lock l(mu);
    return cv.wait_for(l, timeout, [&] { return running.count(name) > 0; });
  }
  bool WaitAllRunning(size_t n, std::chrono::seconds timeout) {
    std::unique_lock l(mu);
    return cv.wait_for(l, timeout, [&] { return running.size() >= n; });
  }
  bool WaitEmpty(std::chrono::seconds timeout) {
    std::unique_lock l(mu);
    return cv.wait_for(l, timeout, [&] { return present.empty(); });
  }
};

Status DeleteAll(Setup& s, RunningWatch& w, const std::vector<std::string>& names) {
  for (const auto& n : names) (void)s.client->Delete(PodKind(), "bench", n);
  if (!w.WaitEmpty(180s)) return Error(Code::kTimeout, "pods were not cleaned up within 180 s");
  return Status();
}

int Run(int argc, char** argv) {
  Setup s;
  int pods = 50, burst = 100;
  std::string node_log_level = "warn";
  s.dir = fs::temp_directory_path() / ("bench-node-" + std::to_string(getpid()));
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--bosun") s.bosun = next();
    else if (a == "--pods") pods = std::atoi(next().c_str());
    else if (a == "--burst") burst = std::atoi(next().c_str());
    else if (a == "--dir") s.dir = next();
    else if (a == "--keep") s.keep = true;
    else if (a == "--node-log-level") node_log_level = next();
    else {
      std::fprintf(stderr, "usage: bench_node [--bosun PATH] [--pods N] [--burst N] [--dir DIR] [--keep] [--node-log-level L]\n");
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_node: needs root (runc, mounts, network namespaces)\n");
    return 1;
  }
  fs::create_directories(s.dir);

  // Images.
  Progress("building the test images");
  fs::path images = s.dir / "images";
  {
    bosun::process::Options o;
    o.argv = {std::string(BOSUN_BENCH_SOURCE_DIR) + "/scripts/build-test-images", images.string()};
    auto r = bosun::process::Run(o);
    if (!r || !r->ok()) {
      std::fprintf(stderr, "bench_node: scripts/build-test-images failed: %s\n",
                   r ? r->Describe().c_str() : r.error().message().c_str());
      return 1;
    }
  }

  // The reference first, on the bare host.
  std::vector<double> runc_ms;
  {
    Progress("baseline: " + std::to_string(pods) + " x runc run -d");
    RuncBaseline b;
    b.dir = s.dir / "runc";
    if (Status st = b.Prepare(); !st) {
      std::fprintf(stderr, "bench_node: %s\n", st.error().message().c_str());
      return 1;
    }
    for (int i = 0; i < pods; ++i) {
      auto ms = b.StartOne(i);
      if (!ms) {
        std::fprintf(stderr, "bench_node: %s\n", ms.error().message().c_str());
        return 1;
      }
      runc_ms.push_back(*ms);
    }
  }

  // bosun server + node.
  Progress("starting bosun server and bosun node");
  bosun::bench::ClusterOptions co;
  co.binary = s.bosun;
  co.members = 1;
  co.dir = s.dir / "cluster";
  co.keep = s.keep;
  auto cluster = bosun::bench::StartBosun(co);
  if (!cluster) {
    std::fprintf(stderr, "bench_node: %s\n", cluster.error().message().c_str());
    return 1;
  }
  s.cluster = std::move(*cluster);
  fs::path node_dir = s.dir / "node";
  fs::create_directories(node_dir / "airgap");
  fs::copy_file(images / "busybox.tar", node_dir / "airgap" / "busybox.tar");
  fs::path token_file = s.dir / "node.token";
  std::ofstream(token_file) << s.cluster->token() << "\n";
  s.node_name = "bench-node-" + std::to_string(getpid());
  std::string bridge = "bnb" + std::to_string(getpid() % 100000);
  std::string cgroup_parent = "bosun-bench-" + std::to_string(getpid());
  // The bridge and the (then empty) parent cgroups are the node's to keep;
  // the bench removes them when it ends, however it ends.
  struct HostCleanup {
    std::string bridge, cgroup_parent;
    ~HostCleanup() {
      bosun::process::Options o;
      o.argv = {"ip", "link", "del", bridge};
      (void)bosun::process::Run(o);
      RemoveTopCgroup(cgroup_parent);
    }
  } host_cleanup{bridge, cgroup_parent};
  auto node = bosun::bench::ChildProcess::Start(
      {s.bosun, "--log-level", node_log_level, "node", "--server", s.cluster->leader().Url(), "--token-file",
       token_file.string(), "--name", s.node_name, "--data", node_dir.string(), "--pod-cidr", "10.252.0.0/22",
       "--bridge", bridge, "--max-pods", "250", "--listen", "127.0.0.1:0", "--cgroup-parent", cgroup_parent},
      s.dir / "node.log");
  if (!node) {
    std::fprintf(stderr, "bench_node: cannot start bosun node: %s\n", node.error().message().c_str());
    return 1;
  }
  s.node = std::move(*node);
  bosun::state::ClientOptions clo;
  clo.servers = {s.cluster->leader().Url()};
  clo.token = s.cluster->token();
  auto client = bosun::state::Client::Create(clo);
  if (!client) return 1;
  s.client = std::move(*client);
  // Ready once the Node reports Ready.
  const auto* node_kind = bosun::KindRegistry::Builtin().Find(bosun::GroupVersionKind{"", "v1", "Node"});
  auto deadline = SteadyClock::now() + 60s;
  bool ready = false;
  while (SteadyClock::now() < deadline && s.node->Running()) {
    auto n = s.client->Get(*node_kind, "", s.node_name);
    if (n) {
      for (const Json& c : Object::Field(n->status(), "conditions")) {
        if (c.value("type", "") == "Ready" && c.value("status", "") == "True") ready = true;
      }
    }
    if (ready) break;
    std::this_thread::sleep_for(100ms);
  }
  if (!ready) {
    std::fprintf(stderr, "bench_node: the node did not become Ready:\n%s\n", s.node->LogTail().c_str());
    return 1;
  }

  RunningWatch watch;
  if (Status st = watch.Start(*s.client); !st) {
    std::fprintf(stderr, "bench_node: watch: %s\n", st.error().message().c_str());
    return 1;
  }
  // Warm-up: the first pod pays for the bridge and the image's first use.
  std::vector<std::string> names;
  {
    auto created = s.client->Create(MakePod("warmup", s.node_name));
    if (!created || !watch.WaitRunning("warmup", 60s)) {
      std::fprintf(stderr, "bench_node: the warm-up pod did not run: %s\n%s\n",
                   created ? "timeout" : created.error().message().c_str(), s.node->LogTail().c_str());
      return 1;
    }
    names.push_back("warmup");
  }

  const auto [quiet_busy, quiet_waited] = WaitForQuietMachine(90s);
  Progress("start latency: " + std::to_string(pods) + " pods one after another, each followed by runc run -d of its bundle");
  std::vector<double> bosun_ms, same_ms;
  RuncBaseline same;
  same.dir = s.dir / "runc-same";
  same.cgroup_parent = "bosun-bench-runc-" + std::to_string(getpid());
  if (Status st = same.Prepare(); !st) {
    std::fprintf(stderr, "bench_node: %s\n", st.error().message().c_str());
    return 1;
  }
  for (int i = 0; i < pods; ++i) {
    std::string name = "seq-" + std::to_string(i);
    auto created = s.client->Create(MakePod(name, s.node_name));
    auto t0 = SteadyClock::now();
    if (!created) {
      std::fprintf(stderr, "bench_node: create %s: %s\n", name.c_str(), created.error().message().c_str());
      return 1;
    }
    names.push_back(name);
    if (!watch.WaitRunning(name, 60s)) {
      std::fprintf(stderr, "bench_node: pod %s did not run within 60 s:\n%s\n", name.c_str(), s.node->LogTail().c_str());
      return 1;
    }
    {
      std::lock_guard l(watch.mu);
      bosun_ms.push_back(Ms(watch.running[name] - t0));
    }
    auto ms = same.StartSameBundle(i, node_dir / "run" / "secure" / "bundles" / (created->uid() + "_app_0") / "config.json");
    if (!ms) {
      std::fprintf(stderr, "bench_node: %s\n", ms.error().message().c_str());
      return 1;
    }
    same_ms.push_back(*ms);
  }
  same.Clear();  // before the pods: its containers are in their namespaces
  Progress("deleting them");
  if (Status st = DeleteAll(s, watch, names); !st) {
    std::fprintf(stderr, "bench_node: %s\n", st.error().message().c_str());
    return 1;
  }
  names.clear();

  Progress("burst: " + std::to_string(burst) + " pods at once");
  auto b0 = SteadyClock::now();
  for (int i = 0; i < burst; ++i) {
    std::string name = "burst-" + std::to_string(i);
    auto created = s.client->Create(MakePod(name, s.node_name));
    if (!created) {
      std::fprintf(stderr, "bench_node: create %s: %s\n", name.c_str(), created.error().message().c_str());
      return 1;
    }
    names.push_back(name);
  }
  bool all = watch.WaitAllRunning(static_cast<size_t>(burst), 300s);
  double burst_ms = Ms(SteadyClock::now() - b0);
  if (!all) {
    std::fprintf(stderr, "bench_node: not all %d pods ran within 300 s\n", burst);
    return 1;
  }
  std::this_thread::sleep_for(2s);  // let status writes settle before reading memory
  long node_rss = RssKiB(s.node->pid());
  long node_anon = StatusKiB(s.node->pid(), "RssAnon");
  long node_file = StatusKiB(s.node->pid(), "RssFile");
  long node_threads = StatusKiB(s.node->pid(), "Threads");
  long shim_rss = -1;
  {
    bosun::process::Options o;
    // Shims are forked by `bosun shim-zygote` (or run as `bosun shim`): the
    // newest process of either is a shim.
    o.argv = {"pgrep", "-f", "-n", "bosun shim"};
    auto r = bosun::process::Run(o);
    if (r && r->ok()) shim_rss = RssKiB(std::atoi(r->out.c_str()));
  }
  Progress("deleting them");
  if (Status st = DeleteAll(s, watch, names); !st) std::fprintf(stderr, "bench_node: %s\n", st.error().message().c_str());
  watch.watch.reset();
  // The API forgets a pod before the node has taken it down: wait for the
  // node to remove every pod sandbox (the warm pool's go when it stops).
  {
    auto until = SteadyClock::now() + 120s;
    auto pods_left = [&] {
      size_t n = 0;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(node_dir / "run" / "sandboxes", ec)) {
        n += e.path().filename().string().rfind("pool-", 0) == 0 ? 0 : 1;
      }
      return n;
    };
    while (pods_left() > 0 && SteadyClock::now() < until) std::this_thread::sleep_for(100ms);
    if (pods_left() > 0) std::fprintf(stderr, "bench_node: %zu pod sandboxes left after 120 s\n", pods_left());
  }

  double b50 = Percentile(bosun_ms, 50), b99 = Percentile(bosun_ms, 99);
  double s50 = Percentile(same_ms, 50), s99 = Percentile(same_ms, 99);
  double r50 = Percentile(runc_ms, 50), r99 = Percentile(runc_ms, 99);
  std::printf("pod start latency (bound -> running, image present), %d pods:\n", pods);
  std::printf("  (started with the machine %.0f%% busy, after waiting %.0f s for it to be quiet)\n", quiet_busy * 100,
              quiet_waited);
  std::printf("  bosun node     p50 %7.1f ms   p99 %7.1f ms\n", b50, b99);
  std::printf("  runc run -d    p50 %7.1f ms   p99 %7.1f ms   (the same bundle, side by side)\n", s50, s99);
  std::printf("  ratio          p50 %7.2fx     p99 %7.2fx   (target <= 1.5x)\n", b50 / s50, b99 / s99);
  std::printf("  reference: runc run -d of runc's default spec on the bare host, before bosun started:\n");
  std::printf("                 p50 %7.1f ms   p99 %7.1f ms   (bosun / it: p50 %.2fx, p99 %.2fx)\n", r50, r99,
              b50 / r50, b99 / r99);
  std::printf("  vs Kubernetes' SLO (p99 < 5 s): %.0fx under\n", 5000.0 / b99);
  std::printf("burst: %d pods bound at once -> all running in %.0f ms (%.1f pods/s)\n", burst, burst_ms,
              burst * 1000.0 / burst_ms);
  std::printf("memory with %d pods running: node daemon RSS %.1f MiB (target < 30 MiB); one shim %.1f MiB\n", burst,
              node_rss / 1024.0, shim_rss / 1024.0);
  std::printf("  the daemon's RSS: %.1f MiB anonymous (heap, stacks), %.1f MiB file pages (the binary, its libraries); "
              "%ld threads\n",
              node_anon / 1024.0, node_file / 1024.0, node_threads);

  s.node->Stop();
  s.cluster.reset();
  // A stopped node keeps its runtime's tmpfs (run/) mounted for the
  // next start; the bench is done with it.
  {
    std::ifstream mi("/proc/self/mountinfo");
    std::string line;
    std::vector<std::string> under;
    while (std::getline(mi, line)) {
      std::istringstream f(line);
      std::string id, parent, dev, root, point;
      f >> id >> parent >> dev >> root >> point;
      if (point.rfind(s.dir.string() + "/", 0) == 0) under.push_back(point);
    }
    std::sort(under.rbegin(), under.rend());
    for (const auto& m : under) ::umount2(m.c_str(), MNT_DETACH);
  }
  if (!s.keep) {
    std::error_code ec;
    fs::remove_all(s.dir, ec);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
