// ParallelFor (core/parallel.h): what the loader, the batch's plan and the
// sync's plan rely on — every index once, the first failing index found as
// a loop in order would find it, exceptions brought back to the caller.
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace bosun {
namespace {

TEST(ParallelFor, CallsEveryIndexOnceAcrossThreads) {
  constexpr size_t kN = 20000;
  const bool cores = std::thread::hardware_concurrency() > 1;
  std::vector<std::atomic<int>> calls(kN);
  std::atomic<bool> one_started{false};
  std::mutex mu;
  std::set<std::thread::id> threads;
  ParallelFor(kN, 512, [&](size_t i) {
    calls[i]++;
    if (i == 1) one_started = true;
    // Index 0 waits for index 1: only another thread can have taken it.
    if (i == 0 && cores) {
      for (int w = 0; w < 5000 && !one_started; ++w) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::lock_guard<std::mutex> lock(mu);
    threads.insert(std::this_thread::get_id());
    return true;
  });
  for (size_t i = 0; i < kN; ++i) ASSERT_EQ(calls[i].load(), 1) << i;
  if (cores) {
    EXPECT_GT(threads.size(), 1u);
  }
}

TEST(ParallelFor, FewerItemsThanTheThresholdStayOnTheCallersThread) {
  const auto caller = std::this_thread::get_id();
  int calls = 0;
  ParallelFor(100, 512, [&](size_t) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    ++calls;
    return true;
  });
  EXPECT_EQ(calls, 100);
  ParallelFor(0, 1, [&](size_t) { return ++calls, true; });
  EXPECT_EQ(calls, 100);
}

// A thread that stops leaves no hole below the index it stopped at: every
// index below the lowest failing one was called, as a loop in order would.
TEST(ParallelFor, EveryIndexBelowTheLowestStopIsCalled) {
  constexpr size_t kN = 50000;
  for (size_t fail : {size_t{3}, size_t{777}, size_t{25000}, kN - 1}) {
    std::vector<std::atomic<int>> calls(kN);
    std::mutex mu;
    size_t lowest = kN;
    ParallelFor(kN, 2, [&](size_t i) {
      calls[i]++;
      if (i != fail && i % 9973 != 9972) return true;  // a few more failures above it
      std::lock_guard<std::mutex> lock(mu);
      lowest = std::min(lowest, i);
      return false;
    });
    const size_t expect = std::min<size_t>(fail, 9972);
    EXPECT_EQ(lowest, expect) << fail;
    for (size_t i = 0; i <= expect; ++i) ASSERT_EQ(calls[i].load(), 1) << "index " << i << ", failing at " << fail;
  }
}

TEST(ParallelFirstError, TheLowestFailingIndexAndItsErrorAsALoopInOrderFindsIt) {
  constexpr size_t kN = 20000;
  for (size_t min_parallel : {size_t{2}, kN + 1}) {  // on every core, and on the caller's thread alone
    SCOPED_TRACE(min_parallel);
    for (std::vector<size_t> failing : {std::vector<size_t>{15000, 300, 19999}, {19999}, {0, 1}}) {
      std::vector<std::atomic<int>> calls(kN);
      auto first = ParallelFirstError<std::string>(kN, min_parallel, [&](size_t i) -> std::optional<std::string> {
        calls[i]++;
        if (std::find(failing.begin(), failing.end(), i) == failing.end()) return std::nullopt;
        return "item " + std::to_string(i) + " failed";
      });
      const size_t lowest = *std::min_element(failing.begin(), failing.end());
      ASSERT_TRUE(first.has_value());
      EXPECT_EQ(first->first, lowest);
      EXPECT_EQ(first->second, "item " + std::to_string(lowest) + " failed");
      for (size_t i = 0; i <= lowest; ++i) ASSERT_EQ(calls[i].load(), 1) << i;
    }
    std::atomic<size_t> called{0};
    EXPECT_FALSE(ParallelFirstError<std::string>(kN, min_parallel, [&](size_t) -> std::optional<std::string> {
                   called++;
                   return std::nullopt;
                 }).has_value());
    EXPECT_EQ(called.load(), kN);
  }
}

TEST(ParallelFor, AnExceptionReachesTheCallerAfterEveryThreadEnded) {
  std::atomic<int> running{0};
  EXPECT_THROW(ParallelFor(10000, 2,
                           [&](size_t i) {
                             running++;
                             if (i == 5000) throw std::runtime_error("bad object");
                             running--;
                             return true;
                           }),
               std::runtime_error);
  EXPECT_EQ(running.load(), 1);  // only the call that threw never finished; no thread is still inside fn
}

}  // namespace
}  // namespace bosun
