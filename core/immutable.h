// core/immutable.h — the fields of an object that an update may not change
// (Kubernetes' immutable fields, as far as bosun models them). The API
// refuses such an update (422 "field is immutable"); the GitOps sync finds
// the same changes in its plan before it writes anything, and either fails
// the revision with every one of them or, with force, deletes and creates
// the object again (docs/GITOPS.md "Immutable fields").
#pragma once

#include <vector>

#include "core/kinds.h"
#include "core/object.h"
#include "core/validation.h"

namespace bosun {

// The immutable fields that differ between the stored object `before` and
// the update `after`, one error each, with the field and how to change it:
// a Deployment's or ReplicaSet's selector (the ReplicaSets and pods it
// selected would be orphaned, still running), a Job's template (unless it is
// suspended), selector and completionMode, and the contents of a ConfigMap
// or Secret marked immutable. Empty: the update may be written.
//
// `from_git`: the change comes from the GitOps sync, whose own advice (the
// bosun.dev/force annotation) follows the errors; deleting the object by
// hand is no way there, as self-heal puts the live revision's object back.
std::vector<FieldError> ImmutableChanges(const Json& before, const Json& after, const KindInfo& kind,
                                         bool from_git = false);

}  // namespace bosun
