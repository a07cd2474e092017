// state/api_discovery.h — the Kubernetes discovery documents (docs/API.md
// "Discovery"), built from the kind registry (core/kinds.h).
//
//   GET /api                 → APIVersions        {"versions": ["v1"]}
//   GET /apis                → APIGroupList       every group and its versions
//   GET /apis/GROUP          → APIGroup
//   GET /api/v1, /apis/G/V   → APIResourceList    each resource: name, singularName,
//                                                 namespaced, kind, verbs, shortNames,
//                                                 plus "R/status", "pods/log", "pods/exec"
//
// These are what kubectl and client tooling read to learn which resources a
// server has; `bosun api-resources` prints them. The documents are the same on
// every member and never change while the binary runs, so they need no store
// read. Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/object.h"

namespace bosun::state {

// The discovery document for a path split into segments ("/apis/apps" →
// {"apis", "apps"}), or nullopt when the path is not a discovery path (an
// object path, or an unknown group or version: the caller answers 404).
std::optional<Json> DiscoveryDocument(const std::vector<std::string>& segments);

}  // namespace bosun::state
