// The pod workers' executor (node/worker_executor.h): tasks run again when
// they ask or when woken, never twice at once; a slow pass does not hold up
// another task; idle tasks hold no thread.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "node/worker_executor.h"
#include "tests/test_support.h"

namespace bosun::node {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

bool Eventually(const std::function<bool()>& cond, milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return cond();
}

TEST(WorkerExecutor, RunsATaskAtOnceThenWhenItAsksOrIsWoken) {
  std::atomic<int> runs{0};
  std::atomic<int> timed{0};
  WorkerExecutor ex;  // after what its tasks capture: on an early return it goes first
  auto t = ex.Add([&] {
    ++runs;
    return milliseconds::max();  // only when woken
  });
  ASSERT_TRUE(Eventually([&] { return runs == 1; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(runs, 1) << "ran again without being due";
  auto woken_at = std::chrono::steady_clock::now();
  ex.Wake(t);
  ASSERT_TRUE(Eventually([&] { return runs == 2; }));
  EXPECT_LT(std::chrono::steady_clock::now() - woken_at, 100ms) << "a wake-up waited";

  auto u = ex.Add([&] {
    ++timed;
    return milliseconds(20);
  });
  EXPECT_TRUE(Eventually([&] { return timed >= 5; }, 2s));
  ex.Remove(u);
  int after = timed;
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(timed, after) << "a removed task still runs";
  ex.Remove(t);
  EXPECT_EQ(ex.tasks(), 0u);
}

TEST(WorkerExecutor, NeverRunsATaskTwiceAtOnceAndAWakeDuringAPassRunsItAgain) {
  std::atomic<int> inside{0}, max_inside{0}, runs{0};
  std::atomic<bool> release{false};
  WorkerExecutor ex;  // after what its task captures
  // On an early return, lets a pass spinning on `release` end, so ~ex can join it.
  struct ReleaseOnExit {
    std::atomic<bool>& release;
    ~ReleaseOnExit() { release = true; }
  } release_on_exit{release};
  auto t = ex.Add([&] {
    int now = ++inside;
    max_inside = std::max(max_inside.load(), now);
    while (runs == 0 && !release) std::this_thread::sleep_for(1ms);
    ++runs;
    --inside;
    return milliseconds::max();
  });
  ASSERT_TRUE(Eventually([&] { return inside == 1; }));
  for (int i = 0; i < 10; ++i) ex.Wake(t);
  release = true;
  ASSERT_TRUE(Eventually([&] { return runs == 2; }));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(runs, 2) << "ten wake-ups during one pass make one more pass";
  EXPECT_EQ(max_inside, 1);
  ex.Remove(t);
}

TEST(WorkerExecutor, ASlowPassDoesNotHoldUpAnotherTask) {
  WorkerExecutor ex;
  std::atomic<bool> release{false};
  std::atomic<int> fast{0};
  auto slow = ex.Add([&] {
    while (!release) std::this_thread::sleep_for(1ms);
    return milliseconds::max();
  });
  auto quick = ex.Add([&] {
    ++fast;
    return milliseconds::max();
  });
  EXPECT_TRUE(Eventually([&] { return fast == 1; }, 1s)) << "the quick task waited for the slow one";
  release = true;
  ex.Remove(slow);
  ex.Remove(quick);
}

TEST(WorkerExecutor, RemoveWaitsForTheRunningPass) {
  std::atomic<bool> in_pass{false}, finished{false};
  WorkerExecutor ex;  // after what its task captures
  auto t = ex.Add([&] {
    in_pass = true;
    std::this_thread::sleep_for(100ms);
    finished = true;
    return milliseconds(1);
  });
  ASSERT_TRUE(Eventually([&] { return in_pass.load(); }));
  ex.Remove(t);
  EXPECT_TRUE(finished) << "Remove returned while the pass ran";
}

TEST(WorkerExecutor, ManyWaitingTasksHoldFewThreads) {
  std::atomic<int> runs{0};
  WorkerExecutor ex(256, 100ms);  // after what its tasks capture
  std::vector<WorkerExecutor::TaskPtr> tasks;
  for (int i = 0; i < 100; ++i) {
    tasks.push_back(ex.Add([&] {
      ++runs;
      std::this_thread::sleep_for(1ms);
      return milliseconds(200);
    }));
  }
  ASSERT_TRUE(Eventually([&] { return runs >= 300; }, 10s));
  // Passes of 1 ms every 200 ms: a couple of threads serve them all.
  EXPECT_TRUE(Eventually([&] { return ex.threads() <= 4; }, 3s)) << ex.threads() << " threads for 100 waiting tasks";
  for (auto& t : tasks) ex.Remove(t);
}

}  // namespace
}  // namespace bosun::node
