// reconciler/namespace_controller.h — deletes what is in a Namespace that is
// being deleted (Kubernetes' namespace controller). A DELETE of a Namespace
// marks it Terminating (metadata.deletionTimestamp, status.phase
// Terminating, spec.finalizers ["kubernetes"]; docs/API.md "Namespaces"), and
// the API refuses new content in it from then on. This controller deletes
// every object of every namespaced kind in it, workloads before what they
// use; once a look finds nothing left, it empties spec.finalizers through
// PUT …/namespaces/NAME/finalize, and the API removes the Namespace.
//
// Objects that were still on their way when it looked (a pod a ReplicaSet
// controller was creating, a late Event) are found by the next look, a
// second later: the Namespace goes only when one finds it empty. The state
// is the Namespace itself, so a new leader takes over where the last left
// off. The pods deleted are stopped by their nodes as any deleted pod is.
//
// At the start it also creates the Namespace "default" when it is missing
// (the API takes content into "default" without one, but a cluster lists
// it), and the Namespace of any namespace that holds objects but has none:
// a store an older bosun wrote, which did not check, keeps working.
//
// Thread-safety: reconciles run on the manager's workers.
#pragma once

#include <chrono>

#include "core/result.h"
#include "reconciler/controller.h"

namespace bosun::reconciler {

struct NamespaceControllerOptions {
  // How soon a Namespace whose contents were just deleted is looked at again.
  std::chrono::milliseconds recheck{1000};
};

// Registers the controller (and the Namespace informer) with `mgr`; call
// before mgr.Start.
Status AddNamespaceController(ControllerManager& mgr, NamespaceControllerOptions options = {});

}  // namespace bosun::reconciler
