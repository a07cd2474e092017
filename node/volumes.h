// node/volumes.h — a pod's volumes on the node (DESIGN.md §5): emptyDir (disk,
// or tmpfs with medium: Memory), configMap and secret (files projected
// atomically through a ..data symlink swap as the kubelet does; secrets on a
// tmpfs, mode 0400 by default, never on disk), hostPath.
//
// Layout: <pods_dir>/<uid>/volumes/<name>. emptyDir is a 0777 dir, or a tmpfs
// (size = sizeLimit) with medium: Memory. configMap and secret volumes are
// written like the kubelet's AtomicWriter: a "..<timestamp>.<rand>" dir, a
// "..data" symlink swapped to it with rename(2), and "key -> ..data/key"
// links; items/keys, defaultMode, per-item mode and optional are honoured
// (configMap data + binaryData; secret data base64-decoded, then stringData).
// A secret volume dir is a tmpfs mounted before anything is written. hostPath
// volumes are the host path itself, checked against their type
// (DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice,
// BlockDevice); nothing of them is ever deleted.
//
// Thread-safety: calls for different pods may run in parallel; calls for one
// pod must not (its pod worker is the only caller).
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
  // whether anything changed. A reader sees the old files or the new ones,
  // never a mix; on an error (object gone, not optional) the old files stay.
  Result<bool> Refresh(const Object& pod, const ObjectFetcher& fetch);
  // The container's mounts (type "bind") for its volumeMounts, in order:
  // readOnly honoured; a subPath is created when missing, resolved through
  // symlinks and refused (kInvalid) when it leaves its volume. kNotFound for
  // an unknown container or volume.
  Result<std::vector<Mount>> MountsFor(const Object& pod, const std::string& container_name,
                                       const std::map<std::string, std::string>& volume_paths) const;
  // Unmounts (MNT_DETACH) every mount under <pods_dir>/<uid> and deletes the
  // dir (hostPath contents untouched); refuses to delete while anything stays
  // mounted. Succeeds when there is nothing left.
  Status Teardown(const std::string& pod_uid);

 private:
  std::string pods_dir_;
};

}  // namespace bosun::node
