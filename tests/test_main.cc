// The main() of every test binary: GoogleTest's, plus bosun's crash handlers
// (core/crash.h), so a test that crashes — an uncaught exception, or a
// SIGSEGV in a thread a fixture left running — leaves its stack in the log.
#include <gtest/gtest.h>

#include "core/crash.h"

int main(int argc, char** argv) {
  bosun::crash::InstallTerminateHandler();
  bosun::crash::InstallFatalSignalHandlers();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
