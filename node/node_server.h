// node/node_server.h — the node daemon's own HTTP endpoint (the kubelet's
// :10250): container logs and exec. The API server forwards
// GET  /api/v1/namespaces/NS/pods/NAME/log?container=C&follow=true&previous=true&tailLines=N
// POST /api/v1/namespaces/NS/pods/NAME/exec?container=C&command=…&command=…
// here, to the node the pod is bound to (found from the Node's
// status.daemonEndpoints.kubeletEndpoint.Port and its InternalIP address).
// Requests carry the caller's bearer token, which the node checks with the
// API server before answering (`authorize`).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/result.h"
#include "node/runtime.h"

namespace bosun::node {

// What the pod workers know about one container of a pod bound to this node.
struct ContainerRef {
  std::string name;                // the container's name in the pod
  std::string id;                  // the runtime's id of the current (or last) run
  bool running = false;
  std::string log_path;            // the current run's log
  std::string previous_log_path;   // the run before it ("" when there is none)
};
using ContainerLookup =
    std::function<Result<ContainerRef>(const std::string& ns, const std::string& pod, const std::string& container)>;

struct NodeServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one
  // Checks a request's bearer token for access to the pod (e.g. by reading
  // the pod from the API with it). An error is the answer's status.
  std::function<Status(const std::string& token, const std::string& ns, const std::string& pod)> authorize;
};

class NodeServer {
 public:
  static Result<std::unique_ptr<NodeServer>> Start(const NodeServerOptions& options, Runtime* runtime,
                                                   ContainerLookup lookup);
  virtual ~NodeServer() = default;
  virtual int port() const = 0;
  virtual void Stop() = 0;
};

}  // namespace bosun::node
