// core/parallel.h — one loop spread over the machine's cores: loading a
// repository's files, planning a batch's operations, marking a sync's
// objects (10,000 each in a first GitOps sync).
#pragma once

#include <cstddef>
#include <functional>

namespace bosun {

// Calls fn(i) once for each i in [0, n), on up to
// std::thread::hardware_concurrency() threads, the caller's among them; with
// fewer than `min_parallel` items (or one core) all on the caller's thread.
// Indexes are handed out in increasing order. fn returns false to stop its
// own thread; the others go on, so every index below the lowest one whose fn
// returned false has been called. An exception from fn is rethrown here once
// every thread has ended (the first one thrown; the thread that threw stops).
void ParallelFor(size_t n, size_t min_parallel, const std::function<bool(size_t)>& fn);

}  // namespace bosun
