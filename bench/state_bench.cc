// bench_state — bosun's replicated state store and API against etcd, the store
// Kubernetes uses, on the same machine with the same load generator.
//
//   bench_state [--bosun PATH] [--compare PATH] [--etcd PATH] [--seconds S]
//               [--clients-list 1,100] [--members-list 1,3] [--workloads L]
//               [--read-keys N] [--dir DIR] [--keep]
//
// For each member count it starts a fresh etcd cluster and a fresh bosun
// cluster (`bosun server` members), all on loopback, each member with its own
// data directory under DIR (default: the temp directory) and each system's
// default durability (etcd fsyncs its WAL per commit; bosun's Raft log
// fsyncs). Then every scenario (workload x client count) runs on etcd and
// right after on bosun — seconds apart, so a machine whose load drifts skews
// the ratio less — while the other cluster idles. N clients are N threads,
// each with one kept-alive HTTP/1.1 connection (bench_http.h), sending a
// request, waiting for its answer, sending the next, all to the leader:
//
//   write 256 B  etcd POST /v3/kv/put, 8-byte key, 256-byte value (base64 JSON)
//                bosun POST .../namespaces/bench/configmaps, 8-char name,
//                data.value of 256 bytes
//   write 1 KiB  the same with 1 KiB values
//   read         etcd POST /v3/kv/range (linearizable: serializable=false) vs
//                bosun GET .../configmaps/NAME (linearizable by default, API.md),
//                on N keys written before (uniformly random key)
//   serial-read  (not by default) the same, served from the member's own
//                state: etcd serializable=true vs bosun ?resourceVersion=0 —
//                the HTTP and storage path without consensus
//
// Keys and names are unique over a run (a scrambled counter); the values are
// random letters, different per request, identical for both systems.
// A run is a warm-up (not counted), then S seconds in which every completed
// request counts (bench_load.h): ops/s, p50 and p99 latency, errors (any
// unexpected status or transport failure; the first of each run is printed),
// the load average before the run, and the servers' CPU per request: the
// user+system CPU time of every member process over the run (warm-up
// included) divided by the requests sent meanwhile, the figure that holds
// on a machine shared with other work. One table per scenario with both
// systems and the ratio bosun/etcd, then a summary. --compare PATH runs a
// second bosun binary ("bosun B", e.g. an older build) on the same
// scenarios right after the first, for an A/B in the same run. Progress goes
// to stderr.
// Every process is stopped and every directory removed at the end, on error
// and on Ctrl-C too (unless --keep).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <signal.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bench/bench_cluster.h"
#include "bench/bench_http.h"
#include "bench/bench_load.h"

#ifndef BOSUN_BENCH_BOSUN_BINARY
#define BOSUN_BENCH_BOSUN_BINARY "bosun"
#endif

namespace {

namespace fs = std::filesystem;
using bosun::Code;
using bosun::Error;
using bosun::Result;
using bosun::Status;
using bosun::bench::Cluster;
using bosun::bench::ClusterOptions;
using bosun::bench::Endpoint;
using bosun::bench::HttpConnection;
using bosun::bench::Measurement;
using bosun::bench::Request;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::atomic<bool> g_cancel{false};
void OnSignal(int) {
  g_cancel.store(true);
}

enum class System { kEtcd, kBosun, kBosunB };
constexpr int kSystems = 3;
enum class Op { kWrite256, kWrite1K, kRead, kSerialRead };

// --workloads names, in the order of Op.
const char* const kOpFlags[] = {"write256", "write1k", "read", "serial-read"};

const char* OpName(Op op) {
  switch (op) {
    case Op::kWrite256:
      return "write 256 B";
    case Op::kWrite1K:
      return "write 1 KiB";
    case Op::kRead:
      return "linearizable read";
    case Op::kSerialRead:
      return "serializable read";
  }
  return "?";
}

const char* SystemLabel(System s, Op op) {
  switch (op) {
    case Op::kWrite256:
    case Op::kWrite1K:
      return s == System::kEtcd ? "POST /v3/kv/put" : "POST configmaps (create)";
    case Op::kRead:
      return s == System::kEtcd ? "POST /v3/kv/range" : "GET configmaps/NAME";
    case Op::kSerialRead:
      return s == System::kEtcd ? "/v3/kv/range serializable" : "GET NAME?resourceVersion=0";
  }
  return "?";
}

bool IsRead(Op op) {
  return op == Op::kRead || op == Op::kSerialRead;
}

// ---------------------------------------------------------------------------
// Requests

// Random letters, sliced into values so consecutive values differ.
const std::string& ValuePool() {
  static const std::string pool = [] {
    std::mt19937_64 rng(42);
    const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string s(64 * 1024, ' ');
    for (char& c : s) c = kChars[rng() % (sizeof kChars - 1)];
    return s;
  }();
  return pool;
}

std::string_view Value(uint64_t seq, size_t size) {
  const std::string& pool = ValuePool();
  return std::string_view(pool).substr((seq * 7919) % (pool.size() - size), size);
}

// Unique 8-character names: a 32-bit counter through a bijection (multiplying
// by an odd number modulo 2^32), so keys arrive in no particular order.
std::atomic<uint32_t> g_next_key{1};
std::string NewKey() {
  uint32_t n = g_next_key.fetch_add(1) * 0x9E3779B1u;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", n);
  return buf;
}
// Keys of the read workload: r0000000 … (never a hex key of the writes).
std::string ReadKey(uint64_t i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "r%07llu", static_cast<unsigned long long>(i % 10000000));
  return buf;
}

void MakeWrite(System s, const std::string& key, std::string_view value, Request* r) {
  r->method = "POST";
  if (s == System::kEtcd) {
    r->path = "/v3/kv/put";
    r->body = "{\"key\":\"" + bosun::bench::Base64(key) + "\",\"value\":\"" + bosun::bench::Base64(value) + "\"}";
    r->expect = 200;
  } else {
    r->path = "/api/v1/namespaces/bench/configmaps";
    r->body = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + key + R"("},"data":{"value":")";
    r->body.append(value).append("\"}}");
    r->expect = 201;
  }
  r->must_contain = nullptr;
}

// Linearizable unless `serializable` (served from the member's own state).
void MakeRead(System s, const std::string& key, bool serializable, Request* r) {
  if (s == System::kEtcd) {
    r->method = "POST";
    r->path = "/v3/kv/range";
    r->body =
        "{\"key\":\"" + bosun::bench::Base64(key) + "\",\"serializable\":" + (serializable ? "true" : "false") + "}";
    r->must_contain = "\"kvs\"";  // an absent key answers 200 without kvs
  } else {
    r->method = "GET";
    r->path = "/api/v1/namespaces/bench/configmaps/" + key + (serializable ? "?resourceVersion=0" : "");
    r->body.clear();
    r->must_contain = nullptr;
  }
  r->expect = 200;
}

// ---------------------------------------------------------------------------
// Load

// Writes the read workload's keys (n of them, 256-byte values) with 8 clients.
Status Preload(const Cluster& cluster, System s, int n) {
  std::atomic<int> next{0};
  std::mutex mu;
  std::string failure;
  std::vector<std::thread> threads;
  for (int c = 0; c < 8; ++c) {
    threads.emplace_back([&] {
      HttpConnection conn(cluster.leader(), cluster.token(), &g_cancel);
      Request req;
      for (int i; (i = next.fetch_add(1)) < n && !g_cancel.load();) {
        MakeWrite(s, ReadKey(static_cast<uint64_t>(i)), Value(static_cast<uint64_t>(i), 256), &req);
        auto r = conn.Request(req.method, req.path, req.body);
        // A retried create may find its object there already.
        if (r && r->status == 409 && s != System::kEtcd) continue;
        if (std::string why = bosun::bench::Check(req, r); !why.empty()) {
          std::lock_guard<std::mutex> lock(mu);
          if (failure.empty()) failure = why;
          next.store(n);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (g_cancel.load()) return Error(Code::kUnavailable, "interrupted");
  if (!failure.empty()) return Error(Code::kUnavailable, "writing the keys to read failed: " + failure);
  return bosun::Ok();
}

// ---------------------------------------------------------------------------
// Scenarios and report

struct Options {
  std::string bosun = BOSUN_BENCH_BOSUN_BINARY;
  std::string compare;  // a second bosun binary ("bosun B"), or none
  std::string etcd = "etcd";
  int seconds = 10;
  std::vector<int> clients = {1, 100};
  std::vector<int> members = {1, 3};
  std::vector<Op> ops = {Op::kWrite256, Op::kWrite1K, Op::kRead};
  int read_keys = 1000;
  fs::path dir = fs::temp_directory_path();
  bool keep = false;
  std::vector<std::string> bosun_args;  // added to every bosun member's command line
};

struct Scenario {
  int members;
  Op op;
  int clients;
  Measurement result[kSystems];   // by System
  std::string failure[kSystems];  // why a side did not run
  double cpu_ms[kSystems] = {};   // the servers' CPU ms per request (-1: unknown)
};

const char* SystemName(System s) {
  return s == System::kEtcd ? "etcd" : s == System::kBosun ? "bosun" : "bosun B";
}

// User + system CPU ticks of every process whose command line mentions
// `needle` (a cluster's own directory), summed; -1 when none is found.
int64_t CpuTicksOf(const std::string& needle) {
  int64_t total = -1;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return -1;
  while (dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string base = std::string("/proc/") + e->d_name;
    std::string cmdline;
    if (FILE* f = std::fopen((base + "/cmdline").c_str(), "r")) {
      char buf[4096];
      size_t n = std::fread(buf, 1, sizeof buf, f);
      std::fclose(f);
      cmdline.assign(buf, n);
    }
    if (cmdline.find(needle) == std::string::npos) continue;
    FILE* f = std::fopen((base + "/stat").c_str(), "r");
    if (f == nullptr) continue;
    char buf[2048];
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // Fields after the command name (which may hold spaces): state is field
    // 3, utime 14, stime 15.
    const char* p = std::strrchr(buf, ')');
    if (p == nullptr) continue;
    unsigned long long utime = 0, stime = 0;
    if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) continue;
    total = std::max<int64_t>(total, 0) + static_cast<int64_t>(utime + stime);
  }
  ::closedir(proc);
  return total;
}

std::string Fixed(double v, int decimals, const char* suffix = "") {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, v, suffix);
  return buf;
}

std::string CpuMs(double v) {
  return v > 0 ? Fixed(v, 3) : std::string("-");
}

void PrintScenario(const Scenario& sc, const std::string& etcd_version, int seconds, const Options& opt) {
  std::printf("\n%d member%s · %s · %d client%s · %d s measured\n", sc.members, sc.members == 1 ? "" : "s",
              OpName(sc.op), sc.clients, sc.clients == 1 ? "" : "s", seconds);
  std::printf("  %-36s %10s %9s %9s %8s %6s %10s\n", "", "ops/s", "p50 ms", "p99 ms", "errors", "load", "cpu ms/op");
  for (int idx = 0; idx < kSystems; ++idx) {
    const System s = static_cast<System>(idx);
    if (s == System::kBosunB && opt.compare.empty()) continue;
    const Measurement& m = sc.result[idx];
    std::string label = (s == System::kEtcd ? "etcd " + etcd_version : std::string(SystemName(s))) + "  " +
                        SystemLabel(s, sc.op);
    if (!m.ran) {
      std::printf("  %-36s %s\n", label.c_str(), sc.failure[idx].c_str());
      continue;
    }
    std::printf("  %-36s %10.0f %9.2f %9.2f %8llu %6.1f %10s\n", label.c_str(), m.ops_per_s, m.p50_ms, m.p99_ms,
                static_cast<unsigned long long>(m.errors), m.load_before, CpuMs(sc.cpu_ms[idx]).c_str());
  }
  const Measurement& e = sc.result[0];
  for (int idx = 1; idx < kSystems; ++idx) {
    const Measurement& b = sc.result[idx];
    if (e.ran && b.ran && e.ops > 0 && b.ops > 0) {
      std::string label = std::string("ratio ") + SystemName(static_cast<System>(idx)) + " / etcd";
      std::printf("  %-36s %10s %9s %9s %8s %6s %10s\n", label.c_str(), Fixed(b.ops_per_s / e.ops_per_s, 2, "x").c_str(),
                  Fixed(b.p50_ms / e.p50_ms, 2, "x").c_str(), Fixed(b.p99_ms / e.p99_ms, 2, "x").c_str(), "", "",
                  sc.cpu_ms[0] > 0 && sc.cpu_ms[idx] > 0 ? Fixed(sc.cpu_ms[idx] / sc.cpu_ms[0], 2, "x").c_str() : "-");
    }
  }
  for (int idx = 0; idx < kSystems; ++idx) {
    const Measurement& m = sc.result[idx];
    if (m.ran && m.errors > 0) {
      std::printf("  %s first error: %s\n", SystemName(static_cast<System>(idx)), m.first_error.c_str());
    }
  }
  std::fflush(stdout);
}

void PrintSummary(const std::vector<Scenario>& all, const Options& opt) {
  std::printf("\nsummary (ratio = bosun / etcd: throughput above 1 and p99 below 1 favour bosun)\n");
  std::printf("  %-7s %-18s %7s  %11s %11s %7s  %9s %9s %7s  %11s\n", "members", "workload", "clients", "etcd ops/s",
              "bosun ops/s", "ratio", "etcd p99", "bosun p99", "ratio", "cpu ms/op");
  auto ops = [](const Measurement& m) { return m.ran ? Fixed(m.ops_per_s, 0) : std::string("-"); };
  auto p99 = [](const Measurement& m) { return m.ran && m.ops ? Fixed(m.p99_ms, 2, " ms") : std::string("-"); };
  for (const Scenario& sc : all) {
    const Measurement& e = sc.result[0];
    for (int idx = 1; idx < kSystems; ++idx) {
      if (idx == static_cast<int>(System::kBosunB) && opt.compare.empty()) continue;
      const Measurement& b = sc.result[idx];
      bool both = e.ran && b.ran && e.ops && b.ops;
      std::string cpu = CpuMs(sc.cpu_ms[0]) + "/" + CpuMs(sc.cpu_ms[idx]);
      std::printf("  %-7d %-18s %7d  %11s %11s %7s  %9s %9s %7s  %11s%s\n", sc.members, OpName(sc.op), sc.clients,
                  ops(e).c_str(), ops(b).c_str(), both ? Fixed(b.ops_per_s / e.ops_per_s, 2, "x").c_str() : "-",
                  p99(e).c_str(), p99(b).c_str(), both ? Fixed(b.p99_ms / e.p99_ms, 2, "x").c_str() : "-", cpu.c_str(),
                  idx == static_cast<int>(System::kBosunB) ? "  (bosun B)" : "");
    }
  }
  if (!opt.compare.empty()) std::printf("  bosun B = %s\n", opt.compare.c_str());
}

// The 1-minute load average: other work on the machine shows here, and a busy
// machine makes both sides slower in ways that do not cancel out.
double LoadAverage() {
  double v = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &v) != 1) v = -1;
    std::fclose(f);
  }
  return v;
}

// Starts a fresh cluster of each available system with `members` members, then
// runs every scenario on both, etcd then bosun, so the two runs of a scenario
// are seconds apart (the idle cluster only sends heartbeats meanwhile); prints
// each scenario's table when both sides ran.
void RunMembers(int members, const Options& opt, const fs::path& root, std::vector<Scenario*>& scenarios,
                std::chrono::milliseconds warmup, const std::string (&missing)[kSystems],
                const std::string& etcd_version) {
  std::unique_ptr<Cluster> clusters[kSystems];
  fs::path dirs[kSystems];
  bool preloaded[kSystems] = {false, false, false};
  auto fail_rest = [&](int idx, const std::string& why) {
    for (Scenario* sc : scenarios) {
      if (!sc->result[idx].ran && sc->failure[idx].empty()) sc->failure[idx] = why;
    }
    clusters[idx].reset();  // stops it and removes its directory
  };
  for (System s : {System::kEtcd, System::kBosun, System::kBosunB}) {
    const int idx = static_cast<int>(s);
    const char* sys = s == System::kEtcd ? "etcd" : s == System::kBosun ? "bosun" : "bosunB";
    if (!missing[idx].empty()) {
      fail_rest(idx, "skipped (see above)");
      continue;
    }
    ClusterOptions co;
    co.binary = s == System::kEtcd ? opt.etcd : s == System::kBosun ? opt.bosun : opt.compare;
    co.members = members;
    co.dir = root / (std::string(sys) + "-x" + std::to_string(members));
    dirs[idx] = co.dir;
    co.keep = opt.keep;
    co.cancel = &g_cancel;
    if (s != System::kEtcd) co.extra_args = opt.bosun_args;
    std::fprintf(stderr, "starting %s x%d …\n", sys, members);
    auto t0 = SteadyClock::now();
    auto cluster = s == System::kEtcd ? bosun::bench::StartEtcd(co) : bosun::bench::StartBosun(co);
    if (g_cancel.load()) return;
    if (!cluster) {
      std::fprintf(stderr, "bench_state: %s x%d did not start: %s\n", sys, members, cluster.error().message().c_str());
      fail_rest(idx, "did not start (see stderr)");
      continue;
    }
    clusters[idx] = std::move(*cluster);
    std::fprintf(stderr, "  %s ready in %.1f s, leader %s\n", clusters[idx]->name().c_str(),
                 std::chrono::duration<double>(SteadyClock::now() - t0).count(), clusters[idx]->leader().Url().c_str());
  }

  for (Scenario* sc : scenarios) {
    for (System s : {System::kEtcd, System::kBosun, System::kBosunB}) {
      const int idx = static_cast<int>(s);
      if (g_cancel.load()) return;
      if (!clusters[idx]) continue;
      Cluster& cluster = *clusters[idx];
      if (std::string dead = cluster.Casualties(); !dead.empty()) {
        std::fprintf(stderr, "bench_state: %s", dead.c_str());
        fail_rest(idx, "a member died (see stderr)");
        continue;
      }
      if (IsRead(sc->op) && !preloaded[idx]) {
        std::fprintf(stderr, "  %s: writing %d keys to read …\n", cluster.name().c_str(), opt.read_keys);
        if (Status st = Preload(cluster, s, opt.read_keys); !st) {
          std::fprintf(stderr, "bench_state: %s: %s\n", cluster.name().c_str(), st.error().message().c_str());
          fail_rest(idx, "writing the keys to read failed (see stderr)");
          continue;
        }
        preloaded[idx] = true;
      }
      double load = LoadAverage();
      std::fprintf(stderr, "  %s: %s, %d client%s, %.0f s warm-up + %d s (load avg %.1f) …\n", cluster.name().c_str(),
                   OpName(sc->op), sc->clients, sc->clients == 1 ? "" : "s",
                   std::chrono::duration<double>(warmup).count(), opt.seconds, load);
      Op op = sc->op;
      int read_keys = opt.read_keys;
      std::atomic<uint64_t> sent{0};
      auto next = [s, op, read_keys, &sent](std::mt19937_64& rng, Request* r) {
        sent.fetch_add(1, std::memory_order_relaxed);
        if (IsRead(op)) {
          return MakeRead(s, ReadKey(rng() % static_cast<uint64_t>(read_keys)), op == Op::kSerialRead, r);
        }
        MakeWrite(s, NewKey(), Value(rng(), op == Op::kWrite256 ? 256 : 1024), r);
      };
      bosun::bench::LoadOptions lo;
      lo.endpoint = cluster.leader();
      lo.bearer = cluster.token();
      lo.clients = sc->clients;
      lo.warmup = warmup;
      lo.measure = std::chrono::seconds(opt.seconds);
      lo.cancel = &g_cancel;
      // The member directories are on every member's command line (--data-dir, --data).
      const int64_t cpu0 = CpuTicksOf(dirs[idx].string() + "/");
      Measurement m = bosun::bench::RunClosedLoop(lo, next);
      const int64_t cpu1 = CpuTicksOf(dirs[idx].string() + "/");
      if (!m.ran) return;
      sc->cpu_ms[idx] = cpu0 >= 0 && cpu1 > cpu0 && sent.load() > 0
                            ? (cpu1 - cpu0) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK)) /
                                  static_cast<double>(sent.load())
                            : -1;
      m.load_before = load;
      std::fprintf(stderr, "    %.0f ops/s, p50 %.2f ms, p99 %.2f ms, %.3f cpu ms/op, %llu errors%s%s\n", m.ops_per_s,
                   m.p50_ms, m.p99_ms, sc->cpu_ms[idx], static_cast<unsigned long long>(m.errors),
                   m.errors ? "; first: " : "", m.errors ? m.first_error.c_str() : "");
      sc->result[idx] = m;
    }
    PrintScenario(*sc, etcd_version, opt.seconds, opt);
  }
  for (auto& c : clusters) {
    if (!c) continue;
    if (std::string dead = c->Casualties(); !dead.empty()) std::fprintf(stderr, "bench_state: %s", dead.c_str());
    std::fprintf(stderr, "  stopping %s …\n", c->name().c_str());
    c.reset();
  }
}

// Parses "1,3,5" (positive numbers).
bool ParseList(const std::string& text, std::vector<int>* out) {
  out->clear();
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v <= 0 || v > 10000) return false;
    out->push_back(static_cast<int>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return !out->empty();
}

// Parses "write256,read" into workloads.
bool ParseOps(const std::string& text, std::vector<Op>* out) {
  out->clear();
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    bool found = false;
    for (size_t i = 0; i < std::size(kOpFlags); ++i) {
      if (item == kOpFlags[i]) {
        out->push_back(static_cast<Op>(i));
        found = true;
      }
    }
    if (!found) return false;
  }
  return !out->empty();
}

// First line of `program --version` ("etcd Version: 3.4.23" -> "3.4.23").
std::string EtcdVersion(const std::string& etcd) {
  std::string cmd = "'" + etcd + "' --version 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "";
  char line[256] = {0};
  std::string v;
  if (std::fgets(line, sizeof line, p)) v = line;
  ::pclose(p);
  auto colon = v.find(':');
  if (colon == std::string::npos) return "";
  v = v.substr(colon + 1);
  v.erase(0, v.find_first_not_of(' '));
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
  return v;
}

// Whether `bosun server` exists in this binary: "" if so, else why not.
std::string BosunServerMissing(const std::string& bosun, const fs::path& root) {
  if (::access(bosun.c_str(), X_OK) != 0) {
    return bosun + " does not exist (build it: cmake --build build --target bosun, or pass --bosun PATH)";
  }
  auto child = bosun::bench::ChildProcess::Start({bosun, "server", "--help"}, root / "bosun-help.log");
  if (!child) return child.error().message();
  std::string how = (*child)->Wait(SteadyClock::now() + 10s);
  std::string out = (*child)->LogTail(100000);
  if (how != "exited 0" || out.find("--raft-listen") == std::string::npos) {
    return bosun + " has no `server` verb yet (`bosun server --help` " + how + ")";
  }
  return "";
}

void Usage(FILE* to) {
  std::fprintf(to,
               "usage: bench_state [--bosun PATH] [--compare PATH] [--etcd PATH] [--seconds S]\n"
               "                   [--clients-list 1,100] [--members-list 1,3] [--workloads L]\n"
               "                   [--read-keys N] [--dir DIR] [--keep] [--bosun-arg ARG]...\n"
               "  --bosun PATH        the bosun binary (default %s)\n"
               "  --compare PATH      also run this bosun binary (\"bosun B\", e.g. an older build) on every\n"
               "                      scenario, right after the first: an A/B in the same run\n"
               "  --etcd PATH         the etcd binary (default: etcd in PATH)\n"
               "  --seconds S         measured seconds per run, after a warm-up of S/5 (1-3) s (default 10)\n"
               "  --clients-list L    concurrent clients, comma-separated (default 1,100)\n"
               "  --members-list L    cluster sizes, comma-separated (default 1,3)\n"
               "  --workloads L       among write256,write1k,read,serial-read (default write256,write1k,read);\n"
               "                      serial-read: etcd serializable range vs bosun GET ?resourceVersion=0\n"
               "  --read-keys N       keys written before the read runs (default 1000)\n"
               "  --dir DIR           where the members' data directories go (default: the temp directory);\n"
               "                      it must be a real disk for fsync to mean anything\n"
               "  --keep              keep data directories and logs\n"
               "  --bosun-arg ARG     add ARG to every bosun member's command line (repeatable), e.g.\n"
               "                      --bosun-arg=--snapshot-threshold=65536\n",
               BOSUN_BENCH_BOSUN_BINARY);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
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
    std::vector<int> list;
    bool ok = true;
    if (value("--bosun", &v)) {
      opt.bosun = v;
    } else if (value("--compare", &v)) {
      opt.compare = v;
    } else if (value("--etcd", &v)) {
      opt.etcd = v;
    } else if (value("--seconds", &v)) {
      ok = ParseList(v, &list) && list.size() == 1;
      opt.seconds = ok ? list[0] : 0;
    } else if (value("--read-keys", &v)) {
      ok = ParseList(v, &list) && list.size() == 1;
      opt.read_keys = ok ? list[0] : 0;
    } else if (value("--clients-list", &v)) {
      ok = ParseList(v, &opt.clients);
    } else if (value("--members-list", &v)) {
      ok = ParseList(v, &opt.members);
    } else if (value("--workloads", &v)) {
      ok = ParseOps(v, &opt.ops);
    } else if (value("--dir", &v)) {
      opt.dir = v;
    } else if (a == "--keep") {
      opt.keep = true;
    } else if (value("--bosun-arg", &v)) {
      opt.bosun_args.push_back(v);
    } else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "bench_state: unknown argument %s\n", a.c_str());
      Usage(stderr);
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "bench_state: %s: bad value \"%s\" (see --help)\n", a.c_str(), v.c_str());
      return 2;
    }
  }

  // Ctrl-C and SIGTERM only set a flag: the load stops, the clusters are
  // stopped and the directories removed by their destructors.
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string tmpl = (opt.dir / "bosun-state-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::fprintf(stderr, "bench_state: cannot create a directory in %s: %s\n", opt.dir.c_str(), std::strerror(errno));
    return 1;
  }
  struct Cleanup {
    fs::path root;
    bool keep;
    ~Cleanup() {
      std::error_code ec;
      if (keep) {
        std::fprintf(stderr, "kept %s\n", root.c_str());
      } else {
        fs::remove_all(root, ec);
      }
    }
  } cleanup{tmpl, opt.keep};
  const fs::path root = tmpl;

  std::string etcd_version = EtcdVersion(opt.etcd);
  bool have_etcd = !etcd_version.empty();
  std::string etcd_missing = have_etcd ? "" : "`" + opt.etcd + " --version` failed (apt-get install etcd-server)";
  std::string bosun_missing = BosunServerMissing(opt.bosun, root);
  std::string compare_missing =
      opt.compare.empty() ? "not asked for (--compare)" : BosunServerMissing(opt.compare, root);
  if (!opt.compare.empty() && !compare_missing.empty()) {
    std::fprintf(stderr, "bench_state: skipping bosun B: %s\n", compare_missing.c_str());
  }
  if (!have_etcd) std::fprintf(stderr, "bench_state: skipping etcd: %s\n", etcd_missing.c_str());
  if (!bosun_missing.empty()) std::fprintf(stderr, "bench_state: skipping bosun: %s\n", bosun_missing.c_str());

  struct statfs sfs {};
  ::statfs(root.c_str(), &sfs);
  const char* fs_kind = sfs.f_type == 0x01021994 ? "tmpfs: fsync costs nothing here!" : "disk";
  auto warmup = std::chrono::milliseconds(std::clamp(opt.seconds * 1000 / 5, 1000, 3000));
  std::printf("bench_state: etcd %s vs bosun (%s), %u cpus, data in %s (%s); %d s per run after %.0f s warm-up\n",
              have_etcd ? etcd_version.c_str() : "-", opt.bosun.c_str(), std::thread::hardware_concurrency(),
              root.c_str(), fs_kind, opt.seconds, std::chrono::duration<double>(warmup).count());
  if (!opt.compare.empty()) std::printf("  bosun B: %s\n", opt.compare.c_str());
  std::printf(
      "  each member: own data dir, default durability (fsync per commit); clients: one thread and one\n"
      "  kept-alive HTTP/1.1 connection each, to the leader; \"load\" = 1-min load average before a run\n");
  if (!etcd_missing.empty()) std::printf("  etcd skipped: %s\n", etcd_missing.c_str());
  if (!bosun_missing.empty()) std::printf("  bosun skipped: %s\n", bosun_missing.c_str());
  if (double load = LoadAverage(); load > std::thread::hardware_concurrency()) {
    std::printf("  warning: load average %.1f on %u cpus: other work competes with the servers; figures are noisy\n",
                load, std::thread::hardware_concurrency());
  }
  std::fflush(stdout);

  std::vector<Scenario> all;
  for (int members : opt.members) {
    for (Op op : opt.ops) {
      for (int clients : opt.clients) all.push_back(Scenario{members, op, clients, {}, {}});
    }
  }
  const std::string missing[kSystems] = {etcd_missing, bosun_missing, compare_missing};
  for (int members : opt.members) {
    std::vector<Scenario*> these;
    for (Scenario& sc : all) {
      if (sc.members == members) these.push_back(&sc);
    }
    RunMembers(members, opt, root, these, warmup, missing, etcd_version);
    if (g_cancel.load()) break;
  }
  if (g_cancel.load()) {
    std::fprintf(stderr, "bench_state: interrupted; stopped every process\n");
    return 130;
  }
  PrintSummary(all, opt);
  bool complete = true, clean = true;
  for (const Scenario& sc : all) {
    const bool b = !opt.compare.empty();
    complete = complete && sc.result[0].ran && sc.result[1].ran && (!b || sc.result[2].ran);
    clean = clean && sc.result[0].errors == 0 && sc.result[1].errors == 0 && (!b || sc.result[2].errors == 0);
  }
  if (!complete) std::printf("\nnot every run completed: see the tables and stderr\n");
  if (!clean) std::printf("\nsome requests failed: see the errors column and the first error of each run\n");
  return complete && clean ? 0 : 1;
}
