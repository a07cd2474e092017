// bench/bench_load.h — a closed-loop HTTP load generator.
//
// N clients, each a thread with one kept-alive connection (bench_http.h),
// each sending a request, waiting for its answer, then sending the next: the
// way controllers and CLIs talk to an API server. A warm-up is not counted;
// then every request that completes inside the measured window counts, for
// throughput and for the latency percentiles. A request whose answer is not
// the expected one (status, or a marker in the body) is an error: counted, not
// part of the latencies; the first one is kept for the report.
//
// Thread-safety: RunClosedLoop blocks its caller; `next` is called from the
// client threads concurrently and must be thread-safe (it gets the calling
// client's own random generator).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>

#include "bench/bench_http.h"
#include "core/result.h"

namespace bosun::bench {

struct Request {
  std::string method, path, body;
  int expect = 200;                    // the status that means success
  const char* must_contain = nullptr;  // and, when set, a string the body must hold
};

// Returns "" when `r` is the answer `req` expects, else why not (for a person).
std::string Check(const Request& req, const Result<HttpResponse>& r);

struct Measurement {
  bool ran = false;  // false when cancelled
  double seconds = 0;
  uint64_t ops = 0;     // successful requests completed in the window
  uint64_t errors = 0;  // failed ones in the window
  double ops_per_s = 0, p50_ms = 0, p99_ms = 0;
  double load_before = -1;  // filled in by the caller: 1-minute load average at the start
  std::string first_error;  // the first failure, also from the warm-up
};

struct LoadOptions {
  Endpoint endpoint;
  std::string bearer;
  int clients = 1;
  std::chrono::milliseconds warmup{1000};
  std::chrono::milliseconds measure{10000};
  const std::atomic<bool>* cancel = nullptr;  // stops the run early; the result then has ran == false
};

// Runs the load; `next` fills in each client's next request.
Measurement RunClosedLoop(const LoadOptions& options, const std::function<void(std::mt19937_64&, Request*)>& next);

}  // namespace bosun::bench
