// Objects the client's tests write: a kind by its resource name, and a
// ConfigMap with one data key.
#pragma once

#include <string>

#include "core/kinds.h"
#include "core/object.h"

namespace bosun::state::clienttest {

inline const KindInfo& Kind(const char* resource) { return *KindRegistry::Builtin().FindResource(resource); }

inline Object ConfigMap(const std::string& ns, const std::string& name, const std::string& value = "v") {
  Object o(GroupVersionKind{"", "v1", "ConfigMap"}, ns, name);
  o.json()["data"] = {{"k", value}};
  return o;
}

}  // namespace bosun::state::clienttest
