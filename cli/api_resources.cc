// `bosun api-resources`: the resource types the server serves, read from its
// discovery documents (/api, /apis; docs/API.md "Discovery"), as
// `kubectl api-resources` prints them.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/client_flags.h"
#include "cli/verbs.h"
#include "state/client.h"

namespace bosun::cli {
namespace {

struct ApiResourcesOptions {
  std::string output;
  bool namespaced_only = false;
  bool cluster_only = false;
  ClientFlags client;
};

std::string Join(const Json& list) {
  std::string out;
  if (!list.is_array()) return out;
  for (const Json& v : list) {
    if (!v.is_string()) continue;
    out += (out.empty() ? "" : ",") + v.get<std::string>();
  }
  return out;
}

// Every APIResourceList the server has, /api/v1 first.
Result<std::vector<Json>> Lists(state::Client& client) {
  std::vector<std::string> paths;
  auto core = client.RawGet("/api");
  if (!core) return core.error();
  for (const Json& v : Object::Field(*core, "versions")) {
    if (v.is_string()) paths.push_back("/api/" + v.get<std::string>());
  }
  auto groups = client.RawGet("/apis");
  if (!groups) return groups.error();
  for (const Json& g : Object::Field(*groups, "groups")) {
    const Json& preferred = Object::Field(Object::Field(g, "preferredVersion"), "groupVersion");
    if (preferred.is_string()) paths.push_back("/apis/" + preferred.get<std::string>());
  }
  std::vector<Json> out;
  for (const auto& p : paths) {
    auto list = client.RawGet(p);
    if (!list) return list.error();
    out.push_back(std::move(*list));
  }
  return out;
}

int Run(const ApiResourcesOptions& opt) {
  auto client = MakeClient(opt.client);
  if (!client) return Fail("api-resources", client.error().message());
  auto lists = Lists(**client);
  if (!lists) return Fail("api-resources", lists.error().message());
  std::vector<std::vector<std::string>> rows;
  for (const Json& list : *lists) {
    std::string gv = Object::Field(list, "groupVersion").is_string() ? list["groupVersion"].get<std::string>() : "";
    for (const Json& r : Object::Field(list, "resources")) {
      std::string name = r.value("name", "");
      if (name.empty() || name.find('/') != std::string::npos) continue;  // subresources
      bool namespaced = r.value("namespaced", false);
      if ((opt.namespaced_only && !namespaced) || (opt.cluster_only && namespaced)) continue;
      if (opt.output == "name") {
        std::string group = gv.find('/') == std::string::npos ? "" : gv.substr(0, gv.find('/'));
        rows.push_back({group.empty() ? name : name + "." + group});
        continue;
      }
      std::vector<std::string> row = {name, Join(Object::Field(r, "shortNames")), gv, namespaced ? "true" : "false",
                                      r.value("kind", "")};
      if (opt.output == "wide") row.push_back(Join(Object::Field(r, "verbs")));
      rows.push_back(std::move(row));
    }
  }
  if (opt.output == "name") {
    for (const auto& r : rows) std::printf("%s\n", r[0].c_str());
    return 0;
  }
  std::vector<std::string> header = {"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"};
  if (opt.output == "wide") header.push_back("VERBS");
  TablePrinter table(header);
  table.Fit(rows);
  table.PrintHeader();
  for (const auto& r : rows) table.PrintRow(r);
  return 0;
}

}  // namespace

void AddApiResources(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<ApiResourcesOptions>();
  CLI::App* cmd = app.add_subcommand(
      "api-resources", "List the resource types the server serves (from its discovery API), as kubectl does.");
  cmd->add_option("-o,--output", opt->output, "Output format: wide (with verbs) or name")
      ->check(CLI::IsMember({"", "wide", "name"}));
  auto* ns = cmd->add_flag("--namespaced", opt->namespaced_only, "Only namespaced resources");
  cmd->add_flag("--cluster-scoped", opt->cluster_only, "Only cluster-scoped resources")->excludes(ns);
  AddClientFlags(cmd, &opt->client);
  cmd->callback([opt, exit_code] { *exit_code = Run(*opt); });
}

}  // namespace bosun::cli
