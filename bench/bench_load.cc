#include "bench/bench_load.h"

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

namespace bosun::bench {
namespace {
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;
}  // namespace

std::string Check(const Request& req, const Result<HttpResponse>& r) {
  if (!r) return r.error().message();
  if (r->status != req.expect || (req.must_contain && r->body.find(req.must_contain) == std::string::npos)) {
    std::string body = r->body.size() > 300 ? r->body.substr(0, 300) + "…" : r->body;
    while (!body.empty() && body.back() == '\n') body.pop_back();
    return req.method + " " + req.path + " -> " + std::to_string(r->status) + " " + body;
  }
  return "";
}

Measurement RunClosedLoop(const LoadOptions& options, const std::function<void(std::mt19937_64&, Request*)>& next) {
  auto cancelled = [&] { return options.cancel && options.cancel->load(std::memory_order_relaxed); };
  Measurement m;
  std::atomic<int> connected{0};
  std::atomic<bool> go{false};
  // Written before `go` is set, read by the clients only after they saw it.
  SteadyClock::time_point t_measure, t_end;
  std::mutex mu;
  std::vector<double> latencies_us;
  std::vector<std::thread> threads;
  for (int c = 0; c < options.clients; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(static_cast<uint64_t>(c) * 1000003u + 17);
      HttpConnection conn(options.endpoint, options.bearer, options.cancel);
      Status connect = conn.Connect();  // before the clock starts; a failure retries in Request
      connected.fetch_add(1);
      while (!go.load()) std::this_thread::sleep_for(1ms);
      std::vector<double> lat;
      lat.reserve(1 << 14);
      uint64_t errors = 0;
      std::string first_error = connect ? "" : connect.error().message();
      Request req;
      while (!cancelled()) {
        auto t0 = SteadyClock::now();
        if (t0 >= t_end) break;
        next(rng, &req);
        auto r = conn.Request(req.method, req.path, req.body);
        auto t1 = SteadyClock::now();
        std::string why = Check(req, r);
        bool counted = t1 >= t_measure && t1 <= t_end;
        if (!why.empty()) {
          if (counted) ++errors;
          if (first_error.empty()) first_error = why;
          if (!r) std::this_thread::sleep_for(10ms);  // a dead server must not become a busy loop
          continue;
        }
        if (counted) lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies_us.insert(latencies_us.end(), lat.begin(), lat.end());
      m.errors += errors;
      if (m.first_error.empty()) m.first_error = first_error;
    });
  }
  while (connected.load() < options.clients) std::this_thread::sleep_for(1ms);
  t_measure = SteadyClock::now() + options.warmup;
  t_end = t_measure + options.measure;
  go.store(true);
  for (auto& t : threads) t.join();

  m.ran = !cancelled();
  m.seconds = std::chrono::duration<double>(options.measure).count();
  m.ops = latencies_us.size();
  m.ops_per_s = static_cast<double>(m.ops) / m.seconds;
  if (!latencies_us.empty()) {
    std::sort(latencies_us.begin(), latencies_us.end());
    auto at = [&](double q) {
      return latencies_us[static_cast<size_t>(q * static_cast<double>(latencies_us.size() - 1))] / 1000.0;
    };
    m.p50_ms = at(0.50);
    m.p99_ms = at(0.99);
  }
  return m;
}

}  // namespace bosun::bench
