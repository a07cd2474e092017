// What bosun prints when it dies of a defect.
#pragma once

namespace bosun::crash {

// Installs a std::terminate handler that writes the uncaught exception's
// message and the stack it was thrown from to stderr before aborting, so a
// crash in CI or on a node leaves something to act on instead of only
// "terminate called after throwing ...". Resolve the frames with
// `addr2line -Cfe $(command -v bosun) +OFFSET`.
void InstallTerminateHandler();

// Installs handlers for SIGSEGV, SIGBUS, SIGILL and SIGFPE that write the
// signal, the faulting address, the thread and the stack to stderr, then die
// of the same signal (the default action runs: exit status and core dump as
// without the handler). The handlers run on an alternate signal stack of
// the calling thread, so a stack overflow there is reported too.
void InstallFatalSignalHandlers();

}  // namespace bosun::crash
