// reconciler/garbage_collector.h — deletes objects whose owners are gone
// (Kubernetes' garbage collector, background cascading deletion): the API
// deletes one object at a time and knows nothing of ownerReferences, so
// deleting a Deployment removes its ReplicaSets through this controller, and
// their removal removes their pods in turn.
//
// It watches the kinds that own or are owned in bosun — Deployment,
// ReplicaSet, Pod, Job, Secret, ConfigMap, SealedSecret, Service — and for
// every object with ownerReferences checks each owner (same namespace, or
// cluster-scoped; the owner is the object of that kind and name whose uid is
// the reference's uid):
//  - every owner gone: the object is deleted (precondition: the
//    resourceVersion it was judged at), with an Event GarbageCollected on it
//    and a log line;
//  - some gone, some alive: only the references to the gone ones are removed
//    (an update, with the same precondition);
//  - an owner is "gone" only when a live GET of it answers 404 or an object
//    with another uid: one merely not yet in the cache (just created, its
//    watch event still on its way) is never taken for gone. An owner of a
//    kind bosun does not know is taken as alive.
// Owners are re-checked when an owner leaves the cache (its dependents are
// found through an index of ownerReferences over every watched kind), when a
// dependent's references change, and at every resync.
//
// Not done: foreground deletion and orphaning (the API has no finalizers).
//
// Thread-safety: the controller's reconciles run on the manager's workers.
#pragma once

#include "core/result.h"
#include "reconciler/controller.h"

namespace bosun::reconciler {

// The kinds that own or are owned in bosun: those the garbage collector
// watches, and the ones controllers create objects next to (a Deployment's
// ReplicaSets, a Job's pods, a SealedSecret's Secret).
inline constexpr const char* kOwnershipKinds[] = {"Deployment", "ReplicaSet", "Pod",          "Job",
                                                  "Secret",     "ConfigMap",  "SealedSecret", "Service"};

// Registers the garbage collector (and its informers) with `mgr`; call
// before mgr.Start.
Status AddGarbageCollector(ControllerManager& mgr, int workers = 4);

}  // namespace bosun::reconciler
