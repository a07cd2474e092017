#include "core/crash.h"

#include <execinfo.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <typeinfo>

#include <cxxabi.h>

namespace bosun::crash {
namespace {

void WriteStack() {
  static const char kHeader[] =
      "bosun: this is a defect; please report it with the stack below "
      "(resolve a frame with `addr2line -Cfe BOSUN +OFFSET`):\n";
  (void)!write(STDERR_FILENO, kHeader, sizeof kHeader - 1);
  void* frames[64];
  int depth = backtrace(frames, 64);
  backtrace_symbols_fd(frames, depth, STDERR_FILENO);
}

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
  WriteStack();
  // What was printed before (a test's failure, buffered when stdout is a
  // pipe) would die with the process: abort does not flush.
  std::fflush(stdout);
  std::abort();
}

void OnFatalSignal(int sig, siginfo_t* info, void*) {
  // snprintf of integers and a string does not allocate; backtrace was
  // called once at install so that libgcc is loaded before a crash.
  char line[256];
  const char* name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGILL ? "SIGILL" : "SIGFPE";
  int n = std::snprintf(line, sizeof line, "bosun: fatal: %s at address %p in thread %ld\n", name,
                        info != nullptr ? info->si_addr : nullptr, static_cast<long>(syscall(SYS_gettid)));
  if (n > 0) (void)!write(STDERR_FILENO, line, static_cast<size_t>(n) < sizeof line ? n : sizeof line - 1);
  WriteStack();
  // Die of the same signal: SA_RESETHAND restored the default action, and
  // returning re-runs the faulting instruction; a signal sent by kill(2) is
  // sent again.
  if (info == nullptr || info->si_code <= 0) raise(sig);
}

}  // namespace

void InstallTerminateHandler() { std::set_terminate(OnTerminate); }

void InstallFatalSignalHandlers() {
  void* warm[2];
  (void)backtrace(warm, 2);
  static char alt_stack[64 * 1024];
  stack_t ss{};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof alt_stack;
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = OnFatalSignal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace bosun::crash
