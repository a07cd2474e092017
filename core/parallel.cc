#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace bosun {

void ParallelFor(size_t n, size_t min_parallel, const std::function<bool(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::exception_ptr thrown;
  auto worker = [&] {
    try {
      for (size_t i = next++; i < n; i = next++) {
        if (!fn(i)) return;
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!thrown) thrown = std::current_exception();
    }
  };
  size_t threads = 1;
  if (n >= min_parallel) threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), n);
  std::vector<std::thread> pool;
  pool.reserve(threads > 0 ? threads - 1 : 0);
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (thrown) std::rethrow_exception(thrown);
}

}  // namespace bosun
