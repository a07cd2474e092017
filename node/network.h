// node/network.h — pod networking through the CNI plugins from Debian's
// containernetworking-plugins (DESIGN.md §5): `bridge` (the node's bridge,
// gateway, IP masquerade), `host-local` (addresses from the node's pod CIDR),
// `loopback`, and `portmap` for hostPort. Each pod gets an IP on the bridge;
// pods on the node reach each other; Teardown removes everything Setup made.
//
// bosun runs the chain itself (no libcni), as the CNI 1.0 spec describes it:
// ADD runs loopback, bridge (isGateway + isDefaultGateway, ipMasq,
// hairpinMode, host-local ranges [[{subnet}]] with its leases under
// data_dir/ipam), then portmap when there are ports (runtimeConfig
// portMappings, prevResult = bridge's result); CNI_CONTAINERID is the pod
// uid, CNI_IFNAME eth0. The final result is kept in data_dir/results/<uid>.json
// (for DEL's prevResult and for idempotence). DEL runs portmap, bridge,
// loopback; the host-local lease is released even if bridge DEL fails, and
// the pod's IP-masquerade chain is removed even when the namespace is
// already gone (the bridge plugin skips it then). A plugin's error JSON
// ({code,msg,details}) becomes the Error's message.
//
// hostPort is reachable from other hosts on the node's addresses, and from
// the node itself on the bridge's gateway address (the subnet's .1), on the
// node's own non-loopback addresses, and on 127.0.0.1 (portmap sets
// route_localnet on the bridge). The bridge plugin turns on
// net.ipv4.ip_forward; portmap leaves its shared, empty CNI-HOSTPORT-* chains
// in the nat table, as it does under every CNI runtime.
//
// Thread-safety: Setup and Teardown may be called from any thread; calls for
// different pods run in parallel (the plugins are built for it, as CRI
// runtimes run them), calls for one pod one after the other.
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
  // returns the pod IP ("10.244.0.5", no prefix length). Idempotent: the same
  // pod, namespace and ports return the saved IP (the namespace is known by
  // its identity, so one moved to another path — a pooled sandbox renamed to
  // its pod's — keeps its IP and the record follows the new path); a
  // namespace re-created at the same path, or other ports, is set up
  // afresh. `pod_uid` is the CNI container id (Sandbox::net_id). kInvalid when
  // `netns_path` is not a network namespace; a failed setup undoes itself.
  virtual Result<std::string> Setup(const std::string& pod_uid, const std::string& netns_path,
                                    const std::vector<PortMapping>& ports) = 0;
  // Releases the IP, the veth and the port mappings; succeeds when there is
  // nothing left (also when the namespace is already gone, or never was).
  // An empty `netns_path` means the one given to Setup.
  virtual Status Teardown(const std::string& pod_uid, const std::string& netns_path) = 0;
};

// kNotFound when a plugin is missing from plugin_dir; kInvalid for an empty
// data_dir or a bridge name longer than 15 characters.
Result<std::unique_ptr<Network>> MakeCniNetwork(const NetworkOptions& options);

}  // namespace bosun::node
