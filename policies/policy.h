// policies/policy.h — `bosun.dev/v1 Policy` objects from the repository and
// their evaluation on a whole desired set (docs/POLICIES.md is the user's
// contract; DESIGN.md §4: the set passes its policies before the first write).
//
// A Policy is a list of rules. Each rule has a name, an action (enforce: the
// revision is refused; warn: the violation is recorded and the revision
// applied), an optional match (kinds, namespaces) and exactly one check:
//
//   allowedRegistries: [registry.local, ghcr.io/acme]   images come from these
//   requireDigest: true                                 images are pinned @sha256:…
//   requireResources: {requests: [cpu, memory], limits: [memory]}
//   forbid: [privileged, hostNetwork, hostPath, runAsRoot, hostPID, hostIPC]
//   requiredLabels: [app, team=payments]                on the object's metadata
//   maxReplicas: 10                                     Deployments, ReplicaSets
//   paths: {"apps/web/": [web]}                         objects of files under a
//                                                       path stay in those namespaces
//
// The pod-level checks look at the pod template of Deployments, ReplicaSets
// and Jobs and at the spec of Pods, containers and initContainers alike.
//
// Parsing never fails as a whole: ParsePolicies reports every problem of
// every Policy as a Diagnostic (FILE:LINE:COL: FIELD: MESSAGE, as core's
// validation does) and keeps only the Policies without errors. A repository
// with a malformed Policy must be refused by the caller (`bosun validate`
// exits 1, the sync controller refuses the revision): a typo must not switch
// enforcement off silently.
//
// Evaluation is a pure function of the policies and the manifests: the same
// repository gives the same verdict in `bosun validate` on a laptop and in
// the cluster. Violations come sorted by file and position.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/manifests.h"

namespace bosun::policies {

enum class Action { kEnforce, kWarn };
const char* ActionName(Action a);  // "enforce", "warn"

// What `forbid` may list.
enum class Forbidden { kPrivileged, kHostNetwork, kHostPath, kRunAsRoot, kHostPID, kHostIPC };
const char* ForbiddenName(Forbidden f);  // as written in a Policy: "hostNetwork"

struct Match {
  std::vector<std::string> kinds;       // empty: every kind ("Deployment", case-sensitive)
  std::vector<std::string> namespaces;  // empty: every object; "team-*" matches a prefix
};

struct Rule {
  enum class Check { kAllowedRegistries, kRequireDigest, kRequireResources, kForbid, kRequiredLabels, kMaxReplicas,
                     kPaths };
  std::string name;
  Action action = Action::kEnforce;
  Match match;
  Check check = Check::kRequireDigest;

  std::vector<std::string> registries;         // allowedRegistries
  std::vector<std::string> requests, limits;   // requireResources: "cpu", "memory"
  std::vector<Forbidden> forbid;               // forbid
  std::vector<std::string> labels;             // requiredLabels: "key" or "key=value"
  int64_t max_replicas = 0;                    // maxReplicas
  // paths: a folder prefix ("apps/web/", relative to the folder bosun syncs)
  // and the namespaces objects of its files may be written to.
  std::vector<std::pair<std::string, std::vector<std::string>>> paths;
};

struct Policy {
  std::string name;
  std::string file;  // where it was defined, for messages
  std::vector<Rule> rules;
};

struct PolicySet {
  std::vector<Policy> policies;         // the well-formed ones, by file and position
  std::vector<Diagnostic> diagnostics;  // problems in Policy objects (errors and warnings)
  size_t errors() const;
  bool ok() const { return errors() == 0; }
};

// True for a `bosun.dev/v1 Policy` manifest.
bool IsPolicy(const Manifest& m);

// Parses one Policy manifest; problems are appended to `diagnostics`.
// Returns nullopt when it has any error (an unknown field is a warning here:
// ParsePolicies applies the FieldValidation afterwards).
std::optional<Policy> ParsePolicy(const Manifest& m, std::vector<Diagnostic>* diagnostics);

// Every Policy among `manifests`; a misspelt field of a Policy is taken as
// `mode` says (ApplyFieldValidation), as those of every other object.
PolicySet ParsePolicies(const std::vector<const Manifest*>& manifests, FieldValidation mode = FieldValidation::kStrict);

// One manifest to evaluate and the path of its file relative to the folder
// bosun syncs (`paths` rules match on it): "apps/web/deploy.yaml".
struct Subject {
  const Manifest* manifest = nullptr;
  std::string path;
};

struct Violation {
  std::string policy;
  std::string rule;
  Action action = Action::kEnforce;
  std::string file;  // Manifest::file
  SourcePos pos;
  std::string field;    // "spec.template.spec.containers[0].image"
  std::string message;  // names the policy and the rule

  // An error for enforce, a warning for warn.
  Diagnostic ToDiagnostic() const;
};

struct Verdict {
  std::vector<Violation> violations;  // sorted by file, position, policy, rule
  size_t policies = 0;                // evaluated
  size_t rules = 0;

  size_t enforced() const;
  size_t warned() const { return violations.size() - enforced(); }
  // Some violation of an enforced rule: the revision must not be applied.
  bool refused() const { return enforced() > 0; }
  std::vector<Diagnostic> Diagnostics() const;
  // "2 policy violations (baseline/registries, baseline/resources)".
  std::string Summary() const;
};

Verdict Evaluate(const std::vector<Policy>& policies, const std::vector<Subject>& subjects);

// `file` relative to `root` when it lies under it ("deploy/apps/x.yaml"
// under "deploy" → "apps/x.yaml"), else `file` unchanged. A leading "./" of
// either is ignored; "" and "." are the whole tree.
std::string RelativePath(const std::string& file, const std::string& root);

}  // namespace bosun::policies
