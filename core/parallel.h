// core/parallel.h — one loop spread over the machine's cores: loading a
// repository's files, planning a batch's operations, marking a sync's
// objects (10,000 each in a first GitOps sync).
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>

namespace bosun {

// Calls fn(i) once for each i in [0, n), on up to
// std::thread::hardware_concurrency() threads, the caller's among them; with
// fewer than `min_parallel` items (or one core) all on the caller's thread.
// Indexes are handed out in increasing order. fn returns false to stop its
// own thread; the others go on, so every index below the lowest one whose fn
// returned false has been called. An exception from fn is rethrown here once
// every thread has ended (the first one thrown; the thread that threw stops).
void ParallelFor(size_t n, size_t min_parallel, const std::function<bool(size_t)>& fn);

// ParallelFor over a fn(i) that returns an error or nothing: the error of the
// lowest index that failed, with that index, as a loop in order would find it
// (every index below it has been called; some above it may have been too).
template <typename E, typename Fn>
std::optional<std::pair<size_t, E>> ParallelFirstError(size_t n, size_t min_parallel, Fn fn) {
  std::mutex mu;
  std::optional<std::pair<size_t, E>> first;
  ParallelFor(n, min_parallel, [&](size_t i) {
    std::optional<E> e = fn(i);
    if (!e) return true;
    std::lock_guard<std::mutex> lock(mu);
    if (!first || i < first->first) first.emplace(i, std::move(*e));
    return false;
  });
  return first;
}

}  // namespace bosun
