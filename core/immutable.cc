// core/immutable.cc — see immutable.h.
#include "core/immutable.h"

#include <string>

namespace bosun {

std::vector<FieldError> ImmutableChanges(const Json& before, const Json& after, const KindInfo& kind, bool from_git) {
  std::vector<FieldError> errors;
  const std::string& k = kind.gvk.kind;
  if (kind.gvk.group == "apps" && (k == "Deployment" || k == "ReplicaSet")) {
    const Json& was = Object::Field(Object::Field(before, "spec"), "selector");
    if (was != Object::Field(Object::Field(after, "spec"), "selector")) {
      errors.push_back({Severity::kError, FieldPath("spec.selector"),
                        from_git
                            ? std::string("field is immutable")
                            : "field is immutable (delete the " + k + " and create it again to change its selector)"});
    }
  }
  if (kind.gvk.group == "batch" && k == "Job") {
    const Json& was = Object::Field(before, "spec");
    const Json& now = Object::Field(after, "spec");
    // Kubernetes lets a suspended Job's template change (it has not run
    // it yet); bosun allows all of it there.
    if (Object::Field(was, "suspend") != true && Object::Field(was, "template") != Object::Field(now, "template")) {
      errors.push_back({Severity::kError, FieldPath("spec.template"),
                        from_git ? "field is immutable: a Job runs its pod template once (give the Job a new name to "
                                   "run a changed one)"
                                 : "field is immutable: a Job runs its pod template once (give the Job a new name, or "
                                   "delete it, to run a changed one)"});
    }
    for (const char* f : {"selector", "completionMode"}) {
      if (Object::Field(was, f) != Object::Field(now, f)) {
        errors.push_back({Severity::kError, FieldPath("spec").Child(f), "field is immutable"});
      }
    }
  }
  if (kind.gvk.group.empty() && k == "Secret") {
    // As Kubernetes: a Secret's type is fixed when it is made ("Opaque"
    // when not given).
    auto type = [](const Json& o) {
      const Json& t = Object::Field(o, "type");
      return t.is_string() && !t.get_ref<const std::string&>().empty() ? t.get<std::string>() : std::string("Opaque");
    };
    if (type(before) != type(after)) {
      errors.push_back({Severity::kError, FieldPath("type"),
                        from_git ? std::string("field is immutable")
                                 : std::string("field is immutable (delete the Secret and create it again to change "
                                               "its type)")});
    }
  }
  if (kind.gvk.group.empty() && (k == "ConfigMap" || k == "Secret") && Object::Field(before, "immutable") == true) {
    for (const char* f : {"immutable", "data", "binaryData", "stringData"}) {
      if (Object::Field(before, f) != Object::Field(after, f)) {
        errors.push_back({Severity::kError, FieldPath(f), "field is immutable when `immutable` is set"});
      }
    }
  }
  return errors;
}

}  // namespace bosun
