// node/pod_spec.h — from a Pod's container spec to what the runtime runs
// (a ContainerConfig), resolved the way the kubelet resolves it:
//
//  * argv: `command` replaces the image's Entrypoint (and then the image's
//    Cmd is ignored), `args` replaces the image's Cmd; with neither, the
//    image's Entrypoint + Cmd.
//  * env: the image's env, then `envFrom` (ConfigMaps and Secrets, each key
//    with the optional prefix), then `env` (values, and valueFrom
//    configMapKeyRef / secretKeyRef / fieldRef); later entries replace
//    earlier ones of the same name. `$(VAR)` in an env value expands to a
//    variable defined before it in the container's env/envFrom; in
//    command and args to any of the container's variables; `$$` is a
//    literal `$`; an undefined `$(VAR)` stays as written.
//  * resources: requests.cpu → CPU shares (millis*1024/1000, min 2; a
//    container without a CPU request gets 2, as Kubernetes gives best-effort
//    containers), limits.cpu → quota per 100 ms period, limits.memory →
//    memory limit in bytes (core/quantity.h). A limit without a request
//    counts as the request, as the API server defaults it.
//  * securityContext: runAsUser / runAsGroup (the container's, else the
//    pod's, else a numeric image `User`), readOnlyRootFilesystem.
//  * hostPort: every container port with a hostPort becomes a PortMapping.
//
// Pure functions: no I/O except through the fetcher given.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/object.h"
#include "core/result.h"
#include "node/image_store.h"
#include "node/network.h"
#include "node/runtime.h"
#include "node/volumes.h"

namespace bosun::node {

// Values a fieldRef can name: "metadata.name", "metadata.namespace",
// "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
// "status.podIP", "status.hostIP" (the caller fills the status ones).
using FieldValues = std::map<std::string, std::string>;
FieldValues PodFieldValues(const Object& pod, const std::string& pod_ip, const std::string& host_ip);

// Expands $(VAR) against `vars` ($$ → $; unknown references kept as written).
std::string ExpandVars(const std::string& s, const std::map<std::string, std::string>& vars);

// The container's argv from its command/args and the image's config.
// kInvalid when nothing is left to run.
Result<std::vector<std::string>> ResolveArgv(const Json& container, const ImageConfig& image,
                                             const std::map<std::string, std::string>& vars);

// The container's own variables (envFrom, then env) as an ordered list of
// name → value, values expanded. Errors name the missing ConfigMap, Secret
// or key (kNotFound), unless the reference is optional.
Result<std::vector<std::pair<std::string, std::string>>> ResolveEnv(const Object& pod, const Json& container,
                                                                   const FieldValues& fields,
                                                                   const ObjectFetcher& fetch);

// The container's limits (see above). kInvalid for an unparsable quantity.
Result<Resources> ResourcesOf(const Json& container);

// Every hostPort of the pod's containers (init containers included).
std::vector<PortMapping> HostPortsOf(const Object& pod);

// The whole config for one run of `container` (attempt 0, 1, …).
Result<ContainerConfig> BuildContainerConfig(const Object& pod, const Json& container, const Image& image,
                                             const FieldValues& fields, const ObjectFetcher& fetch,
                                             std::vector<Mount> mounts, int attempt);

}  // namespace bosun::node
