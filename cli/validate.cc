// `bosun validate PATH…`: the check a team runs on every pull request.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/verbs.h"
#include "core/kinds.h"
#include "core/manifests.h"
#include "gitsync/local_repo.h"
#include "policies/policy.h"

namespace bosun::cli {
namespace {

struct ValidateOptions {
  std::vector<std::string> paths;
  bool summary = false;
  bool quiet = false;
  bool no_warnings = false;
  std::string output = "text";
  std::optional<FieldValidation> field_validation;
};

void PrintSummaryTable(const DesiredSet& set) {
  // Objects by namespace and kind, in apply order within a namespace.
  struct Group {
    int order;
    std::vector<std::string> names;
  };
  std::map<std::string, std::map<std::string, Group>> by_ns;
  const KindRegistry& reg = KindRegistry::Builtin();
  for (const Manifest& m : set.objects) {
    const KindInfo* info = reg.Find(m.object.gvk());
    std::string ns = "(cluster)";
    if (info == nullptr || info->namespaced) {
      ns = m.object.namespace_().empty() ? "default" : m.object.namespace_();
    }
    Group& g = by_ns[ns][m.object.kind()];
    g.order = ApplyOrder(m.object.gvk());
    g.names.push_back(m.object.name());
  }
  size_t w_ns = 9, w_kind = 4;
  for (auto& [ns, kinds] : by_ns) {
    w_ns = std::max(w_ns, ns.size());
    for (auto& [kind, g] : kinds) w_kind = std::max(w_kind, kind.size());
  }
  std::printf("%-*s  %-*s  %5s  %s\n", static_cast<int>(w_ns), "NAMESPACE", static_cast<int>(w_kind), "KIND", "COUNT",
              "NAMES");
  for (auto& [ns, kinds] : by_ns) {
    std::vector<std::pair<std::string, Group*>> sorted;
    for (auto& [kind, g] : kinds) sorted.emplace_back(kind, &g);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.second->order < b.second->order; });
    for (auto& [kind, g] : sorted) {
      std::string names;
      for (size_t i = 0; i < g->names.size(); ++i) {
        if (i == 8) {
          names += ", … (" + std::to_string(g->names.size() - 8) + " more)";
          break;
        }
        if (i) names += ", ";
        names += g->names[i];
      }
      std::printf("%-*s  %-*s  %5zu  %s\n", static_cast<int>(w_ns), ns.c_str(), static_cast<int>(w_kind), kind.c_str(),
                  g->names.size(), names.c_str());
    }
  }
}

// What the repository's Policies said (docs/POLICIES.md): the same parse and
// evaluation the sync controller runs on a revision.
struct PolicyOutcome {
  policies::PolicySet set;
  policies::Verdict verdict;
  // "policy/rule" of each violation's diagnostic, by its text (for -o json).
  std::map<std::string, std::pair<std::string, std::string>> rule_of;
};

// The file's path relative to the argument it was found under: `paths`
// rules are relative to the folder the cluster syncs, which is the folder
// given here.
std::string SubjectPath(const std::string& file, const std::vector<std::string>& roots) {
  for (const std::string& root : roots) {
    std::string rel = policies::RelativePath(file, root);
    if (rel != policies::RelativePath(file, "")) return rel;
  }
  return policies::RelativePath(file, "");
}

// The Policies of the Git work tree around `paths` that are not among
// them, as "FILE (NAME)": a check of a subfolder does not evaluate them,
// though the cluster does when it follows a folder that holds both. Files
// git ignores are left out; a file is parsed only when it names the kind.
std::vector<std::string> PoliciesLeftOut(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto repo = gitsync::LocalRepo::Open(paths.front());
  if (!repo || (*repo)->workdir().empty()) return {};
  const fs::path root = fs::weakly_canonical((*repo)->workdir(), ec);
  std::vector<fs::path> given;
  for (const std::string& p : paths) given.push_back(fs::weakly_canonical(fs::absolute(p, ec), ec));
  auto files = FindManifestFiles({root.string()});
  if (!files) return {};
  std::vector<std::string> out;
  for (const std::string& f : *files) {
    const fs::path abs = fs::weakly_canonical(f, ec);
    const bool inside = std::any_of(given.begin(), given.end(), [&](const fs::path& g) {
      const std::string rel = abs.lexically_relative(g).generic_string();
      return !rel.empty() && !rel.starts_with("..");
    });
    if (inside) continue;
    const std::string rel = abs.lexically_relative(root).generic_string();
    if (auto ignored = (*repo)->IsIgnored(rel); !ignored || *ignored) continue;
    std::ifstream in(f, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Parsed only when it may hold one: bosun's apiVersion and a `kind:
    // Policy` line (not imagePullPolicy, restartPolicy, NetworkPolicy...).
    static const std::regex kKindPolicy(R"((^|\n)[ \t-]*"?kind"?[ \t]*:[ \t]*["']?Policy["']?[ \t]*(,|\r?\n|$))");
    if (content.find("bosun.dev/v1") == std::string::npos || !std::regex_search(content, kKindPolicy)) continue;
    for (const Manifest& m : LoadFile({rel, std::move(content)}).objects) {
      if (policies::IsPolicy(m)) out.push_back(rel + " (" + m.object.name() + ")");
    }
  }
  return out;
}

// Evaluates the Policies of `set` on it and adds every problem to its
// diagnostics (kept sorted by file and position).
PolicyOutcome ApplyPolicies(DesiredSet& set, const std::vector<std::string>& roots) {
  PolicyOutcome out;
  std::vector<const Manifest*> all;
  std::vector<policies::Subject> subjects;
  for (const Manifest& m : set.objects) {
    all.push_back(&m);
    subjects.push_back({&m, SubjectPath(m.file, roots)});
  }
  out.set = policies::ParsePolicies(all, set.field_validation);
  if (out.set.ok()) out.verdict = policies::Evaluate(out.set.policies, subjects);
  if (out.set.diagnostics.empty() && out.verdict.violations.empty()) return out;
  for (const Diagnostic& d : out.set.diagnostics) set.diagnostics.push_back(d);
  for (const policies::Violation& v : out.verdict.violations) {
    Diagnostic d = v.ToDiagnostic();
    out.rule_of[d.ToString()] = {v.policy, v.rule};
    set.diagnostics.push_back(std::move(d));
  }
  SortDiagnostics(set.diagnostics);
  return out;
}

void PrintJson(const DesiredSet& set, const PolicyOutcome& pol, const std::vector<std::string>& left_out,
               bool no_warnings) {
  nlohmann::json out;
  out["files"] = set.files;
  out["errors"] = set.errors();
  out["warnings"] = set.warnings();
  out["valid"] = set.ok();
  auto& objs = out["objects"] = nlohmann::json::array();
  for (const Manifest& m : set.objects) {
    objs.push_back({{"apiVersion", m.object.api_version()},
                    {"kind", m.object.kind()},
                    {"namespace", m.object.namespace_()},
                    {"name", m.object.name()},
                    {"file", m.file},
                    {"line", m.start.line}});
  }
  auto& diags = out["diagnostics"] = nlohmann::json::array();
  for (const Diagnostic& d : set.diagnostics) {
    if (no_warnings && d.severity == Severity::kWarning) continue;
    diags.push_back(d.ToJson());
    if (auto it = pol.rule_of.find(d.ToString()); it != pol.rule_of.end()) {
      diags.back()["policy"] = it->second.first;
      diags.back()["rule"] = it->second.second;
    }
  }
  auto& names = out["policies"] = nlohmann::json::array();
  for (const policies::Policy& p : pol.set.policies) names.push_back(p.name);
  out["policiesNotEvaluated"] = left_out;
  std::printf("%s\n", out.dump(2).c_str());
}

int RunValidate(const ValidateOptions& opt) {
  auto start = std::chrono::steady_clock::now();
  auto files = FindManifestFiles(opt.paths);
  if (!files) {
    std::fprintf(stderr, "bosun validate: %s\n", files.error().message().c_str());
    return 2;
  }
  if (files->empty()) {
    std::fprintf(stderr, "bosun validate: no *.yaml, *.yml or *.json files under %s\n", opt.paths[0].c_str());
    return 1;
  }
  DesiredSet set = LoadDesiredSet(*files, {}, opt.field_validation);
  PolicyOutcome pol = ApplyPolicies(set, opt.paths);
  const std::vector<std::string> left_out = PoliciesLeftOut(opt.paths);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();

  if (opt.output == "json") {
    PrintJson(set, pol, left_out, opt.no_warnings);
    return set.ok() ? 0 : 1;
  }
  std::string text;
  for (const Diagnostic& d : set.diagnostics) {
    if (opt.no_warnings && d.severity == Severity::kWarning) continue;
    text += d.ToString();
    text += '\n';
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (opt.summary && set.ok()) {
    if (!text.empty()) std::printf("\n");
    PrintSummaryTable(set);
    std::printf("\n");
  }
  if (!opt.quiet || !set.ok()) {
    size_t e = set.errors(), w = opt.no_warnings ? 0 : set.warnings();
    std::string policy;
    if (!pol.set.policies.empty() || !pol.set.ok()) {
      size_t n = pol.set.policies.size(), v = pol.verdict.enforced(), pw = pol.verdict.warned();
      if (!pol.set.ok()) {
        policy = "; a Policy is invalid: no policy was evaluated";
      } else {
        policy = "; " + std::to_string(n) + " polic" + (n == 1 ? "y" : "ies") + ": " + std::to_string(v) +
                 " violation" + (v == 1 ? "" : "s") + ", " + std::to_string(pw) + " policy warning" +
                 (pw == 1 ? "" : "s");
      }
    }
    std::printf("%s: %zu file%s, %zu object%s, %zu error%s, %zu warning%s%s (%lld ms)\n",
                set.ok() ? "valid" : "INVALID", set.files, set.files == 1 ? "" : "s", set.objects.size(),
                set.objects.size() == 1 ? "" : "s", e, e == 1 ? "" : "s", w, w == 1 ? "" : "s", policy.c_str(),
                static_cast<long long>(ms));
    if (!left_out.empty()) {
      std::string names;
      for (size_t i = 0; i < left_out.size() && i < 5; ++i) names += (i == 0 ? "" : ", ") + left_out[i];
      if (left_out.size() > 5) names += ", …";
      std::printf(
          "Not evaluated: %zu %s of this repository outside the paths checked: %s. The cluster evaluates the "
          "Policies of the folder it follows on all of it: validate that folder (or run bosun diff, which asks the "
          "server) to reach the cluster's verdict.\n",
          left_out.size(), left_out.size() == 1 ? "Policy" : "Policies", names.c_str());
    }
    if (set.unknown_field_errors() > 0) {
      std::printf(
          "An unknown field is an error, as with kubectl --validate=strict: correct it, or take unknown "
          "fields as warnings with --field-validation=warn (the sync: spec.fieldValidation: Warn in the "
          "SyncConfig).\n");
    }
  }
  return set.ok() ? 0 : 1;
}

}  // namespace

void AddFieldValidationOption(CLI::App* cmd, const std::string& name, std::optional<FieldValidation>* out) {
  // A flag with a value (`--validate=warn`), bare meaning strict, as
  // kubectl's --validate.
  auto given = std::make_shared<std::string>();
  cmd->add_flag(name + "{strict}", *given,
                "How an unknown field (a likely typo) is taken: strict (an error; the flag alone), warn or ignore,\n"
                "as " +
                    name +
                    "=warn. By default as the SyncConfig among the manifests says\n"
                    "(spec.fieldValidation), strict without one")
      ->option_text("[=strict|warn|ignore]")
      ->check(CLI::Validator(
          [](std::string& v) { return ParseFieldValidation(v) ? std::string() : "must be strict, warn or ignore"; },
          "strict|warn|ignore"))
      ->each([out, given](const std::string& v) { *out = ParseFieldValidation(v); });
}

void AddValidate(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<ValidateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Check manifests without a cluster: loads every *.yaml, *.yml and *.json under the paths\n"
      "(recursively, skipping dot-folders), validates each object by Kubernetes' rules, evaluates the\n"
      "repository's own bosun.dev/v1 Policy objects on the whole set as the cluster will\n"
      "(docs/POLICIES.md), and prints every problem as FILE:LINE:COL: FIELD: MESSAGE. Exits 0 when\n"
      "valid (policy warnings included), 1 on any error or enforced policy violation.");
  cmd->add_option("paths", opt->paths, "Files or directories to check (policy `paths` rules are relative to them)")
      ->required();
  cmd->add_flag("-s,--summary", opt->summary, "Print the objects found, by namespace and kind");
  cmd->add_flag("-q,--quiet", opt->quiet, "Print only problems (no summary line when valid)");
  cmd->add_flag("--no-warnings", opt->no_warnings, "Do not print warnings");
  AddFieldValidationOption(cmd, "--field-validation", &opt->field_validation);
  cmd->add_option("-o,--output", opt->output, "Output format: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([opt, exit_code] { *exit_code = RunValidate(*opt); });
}

}  // namespace bosun::cli
