// `bosun apply -f FILE|DIR`: makes the cluster hold the objects of some
// manifests — created when absent, replaced when different.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/client_flags.h"
#include "cli/verbs.h"
#include "core/immutable.h"
#include "core/kinds.h"
#include "core/manifests.h"
#include "state/client.h"

namespace bosun::cli {
namespace {

struct ApplyOptions {
  std::vector<std::string> files;
  std::string ns;
  ClientFlags client;
  std::optional<FieldValidation> field_validation;
  bool force = false;  // delete and create again an object whose update changes an immutable field
};

// What an object looks like for comparing the manifest with the live object:
// without the fields the server sets, and without status when the status is
// the controllers' (a /status subresource) rather than part of the object.
Json Comparable(const Json& j, const KindInfo& kind) {
  Json c = j;
  if (c.contains("metadata") && c["metadata"].is_object()) {
    for (const char* f : {"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink"}) {
      c["metadata"].erase(f);
    }
  }
  if (kind.has_status) c.erase("status");
  return c;
}

// Creates or updates one object; with `force`, an update that would change
// an immutable field deletes and creates it again, as kubectl apply --force
// does. Returns "created", "configured", "replaced" or "unchanged".
Result<std::string> ApplyOne(state::Client& client, const KindInfo& kind, Object desired, bool force) {
  if (desired.name().empty()) {
    auto r = client.Create(desired);  // generateName: always a new object
    if (!r) return r.error();
    return std::string("created");
  }
  // A write can lose a race with another writer (409): read again and retry.
  for (int attempt = 0;; ++attempt) {
    auto live = client.Get(kind, desired.namespace_(), desired.name());
    if (!live && live.error().code() == Code::kNotFound) {
      auto r = client.Create(desired);
      if (!r && r.error().code() == Code::kAlreadyExists && attempt < 3) continue;
      if (!r) return r.error();
      return std::string("created");
    }
    if (!live) return live.error();
    if (Comparable(live->json(), kind) == Comparable(desired.json(), kind)) return std::string("unchanged");
    Object next = desired;
    next.set_resource_version(live->resource_version());
    const bool immutable = !ImmutableChanges(live->json(), next.json(), kind).empty();
    auto r = immutable && force ? client.Replace(next) : client.Update(next);
    if (!r && r.error().code() == Code::kConflict && attempt < 3) continue;
    if (!r && immutable && !force) {
      return Error(r.error().code(), r.error().message() + " (--force deletes and creates it again)");
    }
    if (!r) return r.error();
    return std::string(immutable && force ? "replaced" : "configured");
  }
}

int RunApply(const ApplyOptions& opt) {
  auto files = FindManifestFiles(opt.files);
  if (!files) return Fail("apply", files.error().message());
  if (files->empty()) return Fail("apply", "no *.yaml, *.yml or *.json files in " + opt.files[0]);
  DesiredSet set = LoadDesiredSet(*files, {}, opt.field_validation);
  for (const Diagnostic& d : set.diagnostics) std::fprintf(stderr, "%s\n", d.ToString().c_str());
  if (!set.ok()) {
    size_t e = set.errors();
    return Fail("apply",
                std::to_string(e) + (e == 1 ? " error" : " errors") + " in the manifests; nothing was applied");
  }
  if (set.objects.empty()) return Fail("apply", "the manifests hold no objects");

  // Check every object before writing any.
  const KindRegistry& reg = KindRegistry::Builtin();
  std::vector<std::pair<const KindInfo*, const Manifest*>> plan;
  int problems = 0;
  for (const Manifest& m : set.objects) {
    const KindInfo* kind = reg.Find(m.object.gvk());
    std::string where = m.file + ":" + std::to_string(m.start.line) + ": ";
    if (kind == nullptr) {
      std::fprintf(stderr, "%sbosun does not know kind \"%s\" of apiVersion \"%s\"\n", where.c_str(),
                   m.object.kind().c_str(), m.object.api_version().c_str());
      ++problems;
      continue;
    }
    if (kind->namespaced && !opt.ns.empty() && !m.object.namespace_().empty() && m.object.namespace_() != opt.ns) {
      std::fprintf(stderr, "%s%s is in namespace \"%s\", not \"%s\" as -n says\n", where.c_str(),
                   ObjectRef(*kind, m.object.name()).c_str(), m.object.namespace_().c_str(), opt.ns.c_str());
      ++problems;
      continue;
    }
    plan.emplace_back(kind, &m);
  }
  if (problems > 0) return Fail("apply", "nothing was applied");
  std::stable_sort(plan.begin(), plan.end(),
                   [](const auto& a, const auto& b) { return ApplyOrder(a.first->gvk) < ApplyOrder(b.first->gvk); });

  auto client = MakeClient(opt.client);
  if (!client) return Fail("apply", client.error().message());
  int failures = 0;
  for (const auto& [kind, m] : plan) {
    Object desired = m->object;
    if (kind->namespaced) {
      std::string ns = desired.namespace_();
      if (ns.empty()) ns = opt.ns.empty() ? "default" : opt.ns;
      desired.set_namespace(ns);
    } else if (desired.json().contains("metadata") && desired.json()["metadata"].is_object()) {
      desired.json()["metadata"].erase("namespace");
    }
    std::string ref = ObjectRef(*kind, desired.name().empty() ? desired.generate_name() : desired.name());
    auto r = ApplyOne(**client, *kind, desired, opt.force);
    if (!r) {
      std::fprintf(stderr, "bosun apply: %s: %s: %s\n", m->file.c_str(), ref.c_str(), r.error().message().c_str());
      ++failures;
      // Nothing else can work when the server cannot be reached.
      if (r.error().code() == Code::kUnavailable || r.error().code() == Code::kUnauthorized) return 1;
      continue;
    }
    std::printf("%s %s\n", ref.c_str(), r->c_str());
    std::fflush(stdout);
  }
  return failures > 0 ? 1 : 0;
}

}  // namespace

void AddApply(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<ApplyOptions>();
  CLI::App* cmd = app.add_subcommand(
      "apply",
      "Create or update the objects of manifests in the cluster. The manifests are validated first\n"
      "(as `bosun validate` does); any error stops everything before a single write. Objects are then\n"
      "applied in dependency order (namespaces, config, workloads, services) and each is reported as\n"
      "created, configured, replaced or unchanged.");
  cmd->add_option("-f,--filename", opt->files, "Manifest files or directories (repeatable)")->required();
  cmd->add_option("-n,--namespace", opt->ns, "Namespace for objects that name none (default: default)");
  AddFieldValidationOption(cmd, "--validate", &opt->field_validation);
  cmd->add_flag("--force", opt->force,
                "Delete and create again an object whose update would change an immutable field (a\n"
                "Deployment's selector, a Job's template), as kubectl apply --force does");
  AddClientFlags(cmd, &opt->client);
  cmd->callback([opt, exit_code] { *exit_code = RunApply(*opt); });
}

}  // namespace bosun::cli
