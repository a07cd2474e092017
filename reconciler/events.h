// reconciler/events.h — Events for the controllers: the recorder
// (state/events.h, shared with the node) and the controller that deletes old
// ones.
#pragma once

#include <chrono>

#include "core/result.h"
#include "state/events.h"

namespace bosun::reconciler {

class ControllerManager;
using state::EventRecorder;

// Events older than `ttl` (by lastTimestamp) are deleted, as Kubernetes'
// --event-ttl (default 1 h) does, so the store does not grow with every pod
// ever scheduled: a controller of `mgr` that looks every ttl/12, deleting in
// batches of 500.
Status AddEventTtlController(ControllerManager& mgr, std::chrono::milliseconds ttl = std::chrono::hours(1));

}  // namespace bosun::reconciler
