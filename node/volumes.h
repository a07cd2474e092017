// node/volumes.h — a pod's volumes on the node (DESIGN.md §5): emptyDir (disk,
// or tmpfs with medium: Memory), configMap and secret (files projected
// atomically through a ..data symlink swap as the kubelet does; secrets on a
// tmpfs, mode 0400 by default, never on disk), hostPath.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/object.h"
#include "core/result.h"
#include "node/runtime.h"

namespace bosun::node {

// Reads a ConfigMap or Secret ("ConfigMap" / "Secret", namespace, name) from
// the API.
using ObjectFetcher = std::function<Result<Object>(const std::string& kind, const std::string& ns,
                                                   const std::string& name)>;

class VolumeManager {
 public:
  explicit VolumeManager(std::string pods_dir);  // e.g. DATA/pods: <uid>/volumes/<name>

  // Creates every volume of the pod (idempotent); returns volume name → host
  // path. A missing ConfigMap/Secret that is not optional is an error naming it.
  Result<std::map<std::string, std::string>> Setup(const Object& pod, const ObjectFetcher& fetch);
  // Re-projects configMap and secret volumes whose content changed; returns
  // whether anything changed.
  Result<bool> Refresh(const Object& pod, const ObjectFetcher& fetch);
  // The container's mounts for its volumeMounts (subPath and readOnly honoured).
  Result<std::vector<Mount>> MountsFor(const Object& pod, const std::string& container_name,
                                       const std::map<std::string, std::string>& volume_paths) const;
  // Unmounts and deletes everything of the pod (hostPath contents untouched).
  Status Teardown(const std::string& pod_uid);

 private:
  std::string pods_dir_;
};

}  // namespace bosun::node
