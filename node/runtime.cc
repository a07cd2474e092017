#include "node/runtime.h"

namespace bosun::node {

const char* ContainerStateName(ContainerState s) {
  switch (s) {
    case ContainerState::kCreated: return "created";
    case ContainerState::kRunning: return "running";
    case ContainerState::kExited: return "exited";
    case ContainerState::kUnknown: break;
  }
  return "unknown";
}

}  // namespace bosun::node
