// node/probes.h — one run of a liveness, readiness or startup probe
// (exec, httpGet, tcpSocket) as Kubernetes defines it: httpGet succeeds on a
// status in [200, 400), tcpSocket when the connection opens, exec on exit 0;
// each within timeoutSeconds (default 1).
//
// httpGet: host defaults to the pod IP; port is a number or a named port of
// the container; path, httpHeaders (Host overrides the Host header); scheme
// HTTP only (HTTPS fails with a message saying so). The request is a plain
// socket client with one deadline for connect, send and the status line.
// Failure messages read as Kubernetes' do: "HTTP probe failed with
// statuscode: 500", "Get "http://10.244.0.5:8080/": dial tcp
// 10.244.0.5:8080: connect: connection refused", "…: context deadline exceeded
// (Client.Timeout exceeded while awaiting headers)", "dial tcp …: i/o timeout",
// "command "cat /tmp/ok" exited with 1: <output>".
// Thread-safe: no shared state.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/object.h"
#include "core/result.h"
#include "node/runtime.h"

namespace bosun::node {

struct ProbeTiming {  // the probe's fields with Kubernetes' defaults
  std::chrono::seconds initial_delay{0};
  std::chrono::seconds period{10};
  std::chrono::seconds timeout{1};
  int success_threshold = 1;
  int failure_threshold = 3;
};
// Missing or non-positive fields take the defaults above (initialDelay: 0).
ProbeTiming ProbeTimingOf(const Json& probe);

struct ProbeOutcome {
  bool success = false;
  std::string message;  // why it failed ("HTTP probe failed with statuscode: 500")
  // The same without what an exec probe's command printed (`command "x"
  // exited with 1`), for the pod's status and what quotes it (a revert's
  // Bosun-Reason trailer): a script's output may hold anything.
  std::string summary;
};

using ExecFn = std::function<Result<ExecResult>(const std::vector<std::string>& argv, std::chrono::milliseconds timeout)>;

// `probe` is the container's livenessProbe / readinessProbe / startupProbe;
// `pod_ip` is where httpGet and tcpSocket connect (host defaults to it);
// `container` gives named ports. exec probes go through `exec`.
ProbeOutcome RunProbe(const Json& probe, const Json& container, const std::string& pod_ip, const ExecFn& exec);

}  // namespace bosun::node
