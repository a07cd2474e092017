// core/crash.h: a process that dies of a defect says so on stderr, with the
// stack, and still dies the way it would have (same signal, abort).
#include <gtest/gtest.h>

#include <csignal>
#include <stdexcept>
#include <thread>

#include "core/crash.h"

namespace bosun::crash {
namespace {

TEST(CrashDeathTest, ASegfaultInAnyThreadPrintsTheSignalAndTheStackAndDiesOfIt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        InstallFatalSignalHandlers();
        std::thread t([] {
          volatile int* p = nullptr;
          *p = 1;
        });
        t.join();
      },
      ::testing::KilledBySignal(SIGSEGV), "bosun: fatal: SIGSEGV at address .* in thread [0-9]+.*stack below");
}

TEST(CrashDeathTest, AnUncaughtExceptionPrintsItsMessageAndAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        InstallTerminateHandler();
        std::thread t([] { throw std::runtime_error("the disk is on fire"); });
        t.join();
      },
      ::testing::KilledBySignal(SIGABRT), "uncaught exception .*: the disk is on fire");
}

}  // namespace
}  // namespace bosun::crash
