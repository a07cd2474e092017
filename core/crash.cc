#include "core/crash.h"

#include <execinfo.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <typeinfo>

#include <cxxabi.h>

namespace bosun::crash {
namespace {

void OnTerminate() {
  // Fixed buffers and write(2) rather than iostreams or log::, which take
  // locks and allocate, in case the heap or a logger is what broke.
  char line[1024];
  int n = 0;
  if (std::exception_ptr ep = std::current_exception()) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    const char* type = t != nullptr ? t->name() : "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      n = std::snprintf(line, sizeof line, "bosun: fatal: uncaught exception (%s): %s\n", type, e.what());
    } catch (...) {
      n = std::snprintf(line, sizeof line, "bosun: fatal: uncaught exception (%s)\n", type);
    }
  } else {
    n = std::snprintf(line, sizeof line, "bosun: fatal: std::terminate called without an exception\n");
  }
  if (n > 0) (void)!write(STDERR_FILENO, line, static_cast<size_t>(n) < sizeof line ? n : sizeof line - 1);
  static const char kHeader[] =
      "bosun: this is a defect; please report it with the stack below "
      "(resolve a frame with `addr2line -Cfe BOSUN +OFFSET`):\n";
  (void)!write(STDERR_FILENO, kHeader, sizeof kHeader - 1);
  void* frames[64];
  int depth = backtrace(frames, 64);
  backtrace_symbols_fd(frames, depth, STDERR_FILENO);
  std::abort();
}

}  // namespace

void InstallTerminateHandler() { std::set_terminate(OnTerminate); }

}  // namespace bosun::crash
