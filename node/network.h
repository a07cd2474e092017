// node/network.h — pod networking through the CNI plugins from Debian's
// containernetworking-plugins (DESIGN.md §5): `bridge` (the node's bridge,
// gateway, IP masquerade), `host-local` (addresses from the node's pod CIDR),
// `loopback`, and `portmap` for hostPort. Each pod gets an IP on the bridge;
// pods on the node reach each other; Teardown removes everything Setup made.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace bosun::node {

struct PortMapping {
  int container_port = 0;
  int host_port = 0;
  std::string protocol = "TCP";  // TCP or UDP
  std::string host_ip;           // "" = every address
};

struct NetworkOptions {
  std::string plugin_dir = "/usr/lib/cni";
  std::string network_name = "bosun";
  std::string bridge = "bosun0";
  std::string subnet = "10.244.0.0/24";  // the node's pod CIDR
  std::string data_dir;                  // host-local's leases and our cached results
};

class Network {
 public:
  virtual ~Network() = default;
  // Attaches the pod's network namespace (eth0 + lo) and its host ports;
  // returns the pod IP. Idempotent for the same pod.
  virtual Result<std::string> Setup(const std::string& pod_uid, const std::string& netns_path,
                                    const std::vector<PortMapping>& ports) = 0;
  // Releases the IP, the veth and the port mappings; succeeds when there is
  // nothing left (also when the namespace is already gone).
  virtual Status Teardown(const std::string& pod_uid, const std::string& netns_path) = 0;
};

Result<std::unique_ptr<Network>> MakeCniNetwork(const NetworkOptions& options);

}  // namespace bosun::node
