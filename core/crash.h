// What bosun prints when it dies of a defect.
#pragma once

namespace bosun::crash {

// Installs a std::terminate handler that writes the uncaught exception's
// message and the stack it was thrown from to stderr before aborting, so a
// crash in CI or on a node leaves something to act on instead of only
// "terminate called after throwing ...". Resolve the frames with
// `addr2line -Cfe $(command -v bosun) +OFFSET`.
void InstallTerminateHandler();

}  // namespace bosun::crash
