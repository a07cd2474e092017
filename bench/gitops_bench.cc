// bench_gitops — from a Git commit to objects in bosun's store, against the
// git CLI doing the same transfer.
//
//   bench_gitops [--bosun PATH] [--files N] [--webhook-runs N] [--dir DIR] [--keep]
//
// It makes a repository of N manifests (default 10,000 ConfigMaps of ~1 KiB in
// 20 namespaces) with the git CLI, as a bare "remote" under DIR, and starts
// one `bosun server` following it (--repo file://…/remote.git, polling
// disabled for the run: every sync is triggered by a signed webhook, as a
// Git host would send it). Then:
//
//   full sync     the branch appears on the remote (pushed while the server
//                 waits for it) → webhook → the server fetches all of it,
//                 validates it and writes every object; timed from the
//                 webhook to GitRepository status.liveRevision = the commit.
//                 Baseline: `git clone file://…/remote.git` (fetch + checkout),
//                 the median of 5 clones.
//   one-file      a commit changing one manifest → webhook → applied. Also
//                 split by the Revision record's phase timings: fetch, and
//                 what comes after the fetch (the wall time less the fetch:
//                 the record's Applied phase is written by the apply's own
//                 transaction, so it cannot hold the commit's time).
//                 Baseline: `git fetch` of that commit into a clone (each of
//                 the 5 commits; the median).
//   no-op resync  `bosun sync` (sync-requested-at annotation) with nothing
//                 new → handled. Baseline: `git fetch` with nothing new
//                 (median of 5).
//   webhook       on a small repository (5 manifests): commit + push, then
//                 webhook → applied, median and max of --webhook-runs runs.
//
// The full sync is also measured in CPU time (user + system): the server's
// (its /proc/PID/stat, from the webhook to liveRevision, and on until the
// server is quiet again) against git clone's (the bench's waited-for
// children, getrusage). On a shared machine the wall-time
// ratio moves with the load; the CPU ratio is the work each side does.
//
// Progress goes to stderr; the figures to stdout. Everything it starts is
// stopped, and DIR removed, at the end (unless --keep).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_cluster.h"
#include "bench/bench_http.h"
#include "bench/bench_shell.h"
#include "crypto/hmac.h"

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
using bosun::bench::HttpOnce;
using bosun::bench::Ms;
using bosun::bench::Sh;
using bosun::bench::TimedSh;
using bosun::bench::WriteFile;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const char* kSecret = "bench-webhook-secret";

std::string ConfigMap(int i, int namespaces, const std::string& version) {
  std::string ns = "team-" + std::to_string(i % namespaces);
  std::string text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-" + std::to_string(i) +
                     "\n  namespace: " + ns + "\n  labels: {app: bench, shard: \"" + std::to_string(i % 7) +
                     "\"}\ndata:\n  version: \"" + version + "\"\n";
  // ~1 KiB per manifest: a few config entries.
  for (int k = 0; k < 8; ++k) {
    text += "  key" + std::to_string(k) + ": \"";
    text += std::string(100, static_cast<char>('a' + (i + k) % 26));
    text += "\"\n";
  }
  return text;
}

// A work tree with `files` manifests and `namespaces` Namespaces, committed.
Status MakeRepo(const fs::path& work, int files, int namespaces, const fs::path& log) {
  fs::create_directories(work);
  if (Status s = Sh("git -C " + work.string() + " init -q -b main", log); !s) return s;
  for (int n = 0; n < namespaces; ++n) {
    WriteFile(work / "namespaces" / ("team-" + std::to_string(n) + ".yaml"),
              "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-" + std::to_string(n) + "\n");
  }
  for (int i = 0; i < files; ++i) {
    WriteFile(work / "apps" / ("team-" + std::to_string(i % namespaces)) / ("cm-" + std::to_string(i) + ".yaml"),
              ConfigMap(i, namespaces, "1"));
  }
  return Sh("cd " + work.string() +
                " && git add -A && git -c user.name=bench -c user.email=bench@example.com commit -q -m 'all of it'",
            log);
}

Status CommitOne(const fs::path& work, int i, int namespaces, const std::string& version, const fs::path& log) {
  WriteFile(work / "apps" / ("team-" + std::to_string(i % namespaces)) / ("cm-" + std::to_string(i) + ".yaml"),
            ConfigMap(i, namespaces, version));
  return Sh("cd " + work.string() + " && git -c user.name=bench -c user.email=bench@example.com commit -q -am 'v" +
                version + "'",
            log);
}

// CPU time (user + system, ms) of the bench's children named `comm`: the
// running bosun server.
double ChildrenCpuMs(const std::string& comm) {
  const long ticks = sysconf(_SC_CLK_TCK);
  double total = 0;
  DIR* d = opendir("/proc");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    // pid (comm) state ppid … utime(14) stime(15)
    size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    if (stat.substr(open + 1, close - open - 1) != comm) continue;
    std::vector<std::string> fields;
    size_t pos = close + 2;
    while (pos < stat.size() && fields.size() < 13) {
      size_t next = stat.find(' ', pos);
      if (next == std::string::npos) next = stat.size();
      fields.push_back(stat.substr(pos, next - pos));
      pos = next + 1;
    }
    if (fields.size() < 13 || std::stol(fields[1]) != getpid()) continue;
    total += 1000.0 * static_cast<double>(std::stoll(fields[11]) + std::stoll(fields[12])) / static_cast<double>(ticks);
  }
  closedir(d);
  return total;
}

// How many times each git baseline runs (its median is the figure).
constexpr int kGitRuns = 5;

double Median(std::vector<double> v) {
  if (v.empty()) return -1.0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// CPU time (ms) of the bench's children that have been waited for.
double WaitedChildrenCpuMs() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  auto ms = [](const timeval& t) { return t.tv_sec * 1000.0 + t.tv_usec / 1000.0; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

std::string Head(const fs::path& work) {
  std::string cmd = "git -C " + work.string() + " rev-parse HEAD";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "";
  char buf[128] = {};
  std::string out = fgets(buf, sizeof buf, p) ? buf : "";
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

class Server {
 public:
  Server(const Cluster& c) : ep_(c.leader()), token_(c.token()) {}

  Result<Json> Repository() {
    auto r = HttpOnce(ep_, "GET", "/apis/bosun.dev/v1/gitrepositories/default", {}, token_, 5s);
    if (!r) return r.error();
    if (r->status != 200) return Error(Code::kUnavailable, "GitRepository: " + std::to_string(r->status) + " " + r->body);
    return Json::parse(r->body, nullptr, false);
  }

  Status Webhook(const std::string& after) {
    Json body = {{"ref", "refs/heads/main"}, {"after", after}};
    std::string text = body.dump();
    return Post("/hooks/generic", text, "X-Bosun-Signature-256: " + bosun::crypto::SignatureHeader(kSecret, text));
  }

  Status RequestSync(const std::string& stamp) {
    Json patch = {{"metadata", {{"annotations", {{"bosun.dev/sync-requested-at", stamp}}}}}};
    return Patch("/apis/bosun.dev/v1/gitrepositories/default", patch.dump());
  }

  // Polls the GitRepository until `done(status)`; the time it took.
  Result<double> WaitFor(SteadyClock::time_point since, const std::function<bool(const Json&)>& done,
                         std::chrono::seconds limit = 600s) {
    while (SteadyClock::now() - since < limit) {
      auto repo = Repository();
      if (repo && repo->is_object() && (*repo)["status"].is_object() && done((*repo)["status"])) {
        return Ms(SteadyClock::now() - since);
      }
      // Fine-grained for the short waits; then less often, so the observer
      // does not take the server's CPU on a 2-core machine (each poll is a
      // new connection, an authenticated GET and a JSON answer).
      std::this_thread::sleep_for(SteadyClock::now() - since < 250ms ? 2ms : 10ms);
    }
    return Error(Code::kTimeout, "the server did not get there within " + std::to_string(limit.count()) + " s");
  }

  Result<Json> RevisionOf(const std::string& commit) {
    auto r = HttpOnce(ep_, "GET", "/apis/bosun.dev/v1/revisions?labelSelector=bosun.dev/commit%3D" + commit, {},
                      token_, 10s);
    if (!r) return r.error();
    Json list = Json::parse(r->body, nullptr, false);
    if (!list.is_object() || !list["items"].is_array() || list["items"].empty()) {
      return Error(Code::kNotFound, "no Revision record for " + commit);
    }
    return list["items"].back();
  }

 private:
  Status Post(const std::string& path, const std::string& body, const std::string& header);
  Status Patch(const std::string& path, const std::string& body);

  Endpoint ep_;
  std::string token_;
};

// The two requests with headers HttpConnection cannot add (a webhook
// signature, a merge-patch content type) are sent by curl, which scripts/setup
// installs.

Status Curl(const std::string& args) {
  std::string cmd = "curl -sS -o /dev/null -w '%{http_code}' " + args;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return Error(Code::kIo, "cannot run curl");
  char buf[16] = {};
  std::string code = fgets(buf, sizeof buf, p) ? buf : "";
  pclose(p);
  if (code.empty() || code[0] != '2') return Error(Code::kIo, "curl " + args + " answered " + code);
  return Status();
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

Status Server::Post(const std::string& path, const std::string& body, const std::string& header) {
  return Curl("-X POST -H 'Content-Type: application/json' -H " + Quote(header) + " --data-binary " + Quote(body) +
              " http://" + ep_.host + ":" + std::to_string(ep_.port) + path);
}

Status Server::Patch(const std::string& path, const std::string& body) {
  return Curl("-X PATCH -H 'Content-Type: application/merge-patch+json' -H " +
              Quote("Authorization: Bearer " + token_) + " --data-binary " + Quote(body) + " http://" + ep_.host + ":" +
              std::to_string(ep_.port) + path);
}

namespace {

double PhaseMs(const Json& revision, const std::string& name) {
  const Json& phases = revision["status"]["phases"];
  if (!phases.is_array()) return -1;
  for (const auto& p : phases) {
    if (p.value("name", "") == name) return p.value("durationMs", -1.0);
  }
  return -1;
}

struct Args {
  std::string bosun = BOSUN_BENCH_BOSUN_BINARY;
  int files = 10000;
  int webhook_runs = 20;
  fs::path dir;
  bool keep = false;
};

void Row(const char* what, double bosun_ms, const char* baseline, double base_ms) {
  std::printf("  %-34s %10.1f ms   %-31s %10.1f ms   %6.2fx\n", what, bosun_ms, baseline, base_ms,
              base_ms > 0 ? bosun_ms / base_ms : 0.0);
}

std::string Stamp(int i) { return "2026-01-01T00:00:" + std::string(i < 10 ? "0" : "") + std::to_string(i) + ".000Z"; }

Status Run(const Args& a) {
  fs::path log = a.dir / "git.log";
  fs::create_directories(a.dir);
  const int namespaces = 20;

  // --- big repository
  std::fprintf(stderr, "generating %d manifests with git …\n", a.files);
  fs::path work = a.dir / "work", remote = a.dir / "remote.git";
  if (Status s = MakeRepo(work, a.files, namespaces, log); !s) return s;
  // The remote starts with another branch only: the server waits for main.
  if (Status s = Sh("git init -q --bare " + remote.string() + " && git -C " + work.string() + " push -q " +
                        remote.string() + " main:seed",
                    log);
      !s) {
    return s;
  }
  std::string url = "file://" + fs::absolute(remote).string();
  WriteFile(a.dir / "webhook.secret", kSecret);

  ClusterOptions co;
  co.binary = a.bosun;
  co.dir = a.dir / "bosun";
  co.keep = a.keep;
  co.extra_args = {"--repo", url, "--branch", "main", "--fetch-interval", "1h", "--webhook-secret-file",
                   (a.dir / "webhook.secret").string()};
  std::fprintf(stderr, "starting bosun server --repo %s …\n", url.c_str());
  auto cluster = bosun::bench::StartBosun(co);
  if (!cluster) return cluster.error();
  Server server(**cluster);
  // The controller has made the GitRepository (and failed to find main).
  if (auto w = server.WaitFor(SteadyClock::now(), [](const Json& st) { return st.is_object(); }, 60s); !w) {
    return w.error().Wrap("waiting for the GitRepository");
  }

  std::fprintf(stderr, "full sync …\n");
  if (Status s = Sh("git -C " + work.string() + " push -q " + remote.string() + " main", log); !s) return s;
  std::string head = Head(work);
  // The kernel's name of the server's process: its file name, cut at 15.
  const std::string comm = fs::path(a.bosun).filename().string().substr(0, 15);
  const double cpu0 = ChildrenCpuMs(comm);
  auto t0 = SteadyClock::now();
  if (Status s = server.Webhook(head); !s) return s;
  auto full = server.WaitFor(t0, [&](const Json& st) { return st.value("liveRevision", "") == head; });
  if (!full) return full.error().Wrap("full sync");
  const double full_cpu = ChildrenCpuMs(comm) - cpu0;
  // Work the sync started may go on after liveRevision (the watch fan-out
  // of 10,000 events to the controllers' caches): the CPU time until the
  // server is quiet again (under 25 ms in half a second) counts it too.
  double quiet_cpu = full_cpu;
  for (int i = 0; i < 60; ++i) {
    const double before = ChildrenCpuMs(comm);
    std::this_thread::sleep_for(500ms);
    quiet_cpu = ChildrenCpuMs(comm) - cpu0;
    if (quiet_cpu - (before - cpu0) < 25) break;
  }
  auto full_rev = server.RevisionOf(head);

  // The baselines are the median of kGitRuns runs: one git clone of this
  // size moves by half between runs on a quiet machine (64 vs 117 ms).
  const double clone_cpu0 = WaitedChildrenCpuMs();
  std::vector<double> clones;
  for (int run = 0; run < kGitRuns; ++run) {
    const fs::path into = a.dir / (run == 0 ? std::string("clone") : "clone-" + std::to_string(run));
    auto t = TimedSh("git clone -q " + url + " " + into.string(), log);
    if (!t) return t.error();
    clones.push_back(*t);
    if (run > 0) fs::remove_all(into);
  }
  const double clone_cpu = (WaitedChildrenCpuMs() - clone_cpu0) / kGitRuns;
  const double clone = Median(clones);

  std::fprintf(stderr, "one-file commits …\n");
  std::vector<double> one, one_after_fetch, one_fetch, git_fetch;
  for (int run = 0; run < kGitRuns; ++run) {
    if (Status s = CommitOne(work, 17 + run, namespaces, "2." + std::to_string(run), log); !s) return s;
    if (Status s = Sh("git -C " + work.string() + " push -q " + remote.string() + " main", log); !s) return s;
    std::string h = Head(work);
    auto t = SteadyClock::now();
    if (Status s = server.Webhook(h); !s) return s;
    auto w = server.WaitFor(t, [&](const Json& st) { return st.value("liveRevision", "") == h; });
    if (!w) return w.error().Wrap("one-file commit");
    one.push_back(*w);
    if (auto rev = server.RevisionOf(h)) {
      one_fetch.push_back(PhaseMs(*rev, "Fetched"));
      one_after_fetch.push_back(*w - PhaseMs(*rev, "Fetched"));
    }
    // The baseline: git fetching the same one commit.
    auto g = TimedSh("git -C " + (a.dir / "clone").string() + " fetch -q origin", log);
    if (!g) return g.error();
    git_fetch.push_back(*g);
  }

  std::fprintf(stderr, "no-op resync …\n");
  std::vector<double> noop;
  for (int run = 0; run < 5; ++run) {
    std::string stamp = Stamp(run);
    auto t = SteadyClock::now();
    if (Status s = server.RequestSync(stamp); !s) return s;
    auto w = server.WaitFor(t, [&](const Json& st) { return st.value("lastHandledSyncRequest", "") == stamp; });
    if (!w) return w.error().Wrap("no-op resync");
    noop.push_back(*w);
  }
  std::vector<double> git_noop;
  for (int run = 0; run < kGitRuns; ++run) {
    auto g = TimedSh("git -C " + (a.dir / "clone").string() + " fetch -q origin", log);
    if (!g) return g.error();
    git_noop.push_back(*g);
  }
  cluster->reset();

  // --- small repository, webhook latency
  std::fprintf(stderr, "webhook latency on a small repository (%d runs) …\n", a.webhook_runs);
  fs::path swork = a.dir / "small", sremote = a.dir / "small.git";
  if (Status s = MakeRepo(swork, 5, 1, log); !s) return s;
  if (Status s = Sh("git init -q --bare " + sremote.string() + " && git -C " + swork.string() + " push -q " +
                        sremote.string() + " main",
                    log);
      !s) {
    return s;
  }
  co.dir = a.dir / "bosun-small";
  co.extra_args[1] = "file://" + fs::absolute(sremote).string();
  auto small = bosun::bench::StartBosun(co);
  if (!small) return small.error();
  Server ss(**small);
  std::string shead = Head(swork);
  if (auto w = ss.WaitFor(SteadyClock::now(), [&](const Json& st) { return st.value("liveRevision", "") == shead; },
                          60s);
      !w) {
    return w.error().Wrap("small repository first sync");
  }
  std::vector<double> hook;
  for (int run = 0; run < a.webhook_runs; ++run) {
    // The receiver admits 2 pushes a second after a burst of 10, as a Git
    // host's pushes come; pace the runs so none is refused with 429.
    std::this_thread::sleep_for(600ms);
    if (Status s = CommitOne(swork, run % 5, 1, "3." + std::to_string(run), log); !s) return s;
    if (Status s = Sh("git -C " + swork.string() + " push -q " + sremote.string() + " main", log); !s) return s;
    std::string h = Head(swork);
    auto t = SteadyClock::now();
    if (Status s = ss.Webhook(h); !s) return s;
    auto w = ss.WaitFor(t, [&](const Json& st) { return st.value("liveRevision", "") == h; }, 30s);
    if (!w) return w.error().Wrap("webhook run " + std::to_string(run));
    hook.push_back(*w);
  }
  small->reset();

  auto max = [](const std::vector<double>& v) { return v.empty() ? -1.0 : *std::max_element(v.begin(), v.end()); };

  double load = -1;
  getloadavg(&load, 1);
  std::printf("bench_gitops: %d manifests (%d namespaces), file:// remote, one bosun server, load average %.1f\n",
              a.files, namespaces, load);
  std::printf("  %-34s %13s   %-31s %13s   %7s\n", "bosun", "", "baseline (git CLI)", "", "ratio");
  Row("full sync: webhook → applied", *full, "git clone, median of 5", clone);
  Row("  server CPU (user+sys) to liveRevision", full_cpu, "git clone, CPU time (mean)", clone_cpu);
  Row("  server CPU until it is quiet again", quiet_cpu, "git clone, CPU time (mean)", clone_cpu);
  if (full_rev) {
    const double fetch = PhaseMs(*full_rev, "Fetched"), validate = PhaseMs(*full_rev, "Validated");
    std::printf("    its Revision record: fetch %.1f ms, validate %.1f ms; apply (the rest, to liveRevision) %.1f ms, of "
                "which planning and building the batch %.1f ms\n",
                fetch, validate, *full - fetch - validate, PhaseMs(*full_rev, "Applied"));
  }
  Row("one-file commit: webhook → applied", Median(one), "git fetch (one commit), median", Median(git_fetch));
  std::printf("    after the fetch (webhook → applied less the fetch): median %.1f ms, max %.1f ms (target < 100 ms); "
              "fetch median %.1f ms\n",
              Median(one_after_fetch), max(one_after_fetch), Median(one_fetch));
  Row("no-op resync (bosun sync)", Median(noop), "git fetch (nothing new), median", Median(git_noop));
  std::printf("  webhook → applied, 5-manifest repository, %d runs: median %.1f ms, max %.1f ms (target < 1000 ms)\n",
              a.webhook_runs, Median(hook), max(hook));
  return Status();
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  a.dir = fs::temp_directory_path() / ("bench-gitops-" + std::to_string(::getpid()));
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_gitops: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--bosun") a.bosun = next();
    else if (arg == "--files") a.files = std::stoi(next());
    else if (arg == "--webhook-runs") a.webhook_runs = std::stoi(next());
    else if (arg == "--dir") a.dir = next();
    else if (arg == "--keep") a.keep = true;
    else {
      std::fprintf(stderr, "usage: bench_gitops [--bosun PATH] [--files N] [--webhook-runs N] [--dir DIR] [--keep]\n");
      return 2;
    }
  }
  Status s = Run(a);
  if (!a.keep) {
    std::error_code ec;
    fs::remove_all(a.dir, ec);
  }
  if (!s) {
    std::fprintf(stderr, "bench_gitops: %s\n", s.error().message().c_str());
    return 1;
  }
  return 0;
}
