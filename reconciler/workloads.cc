#include "reconciler/workloads.h"

namespace bosun::reconciler {

Status AddWorkloadControllers(ControllerManager& mgr, const WorkloadOptions& options) {
  if (auto s = AddRevisionHealthController(mgr, options.health); !s) return s;
  return Ok();
}

}  // namespace bosun::reconciler
