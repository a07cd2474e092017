// `bosun members`: the state members of the cluster and who leads;
// `bosun members remove ID` takes one out.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/client_flags.h"
#include "cli/member_routes.h"
#include "cli/verbs.h"
#include "state/client.h"

namespace bosun::cli {
namespace {

struct MembersOptions {
  std::string output;
  ClientFlags client;
};

std::string Cell(const Json& m, const char* key) {
  const Json& v = Object::Field(m, key);
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_number()) return v.dump();
  return "-";
}

int RunMembers(const MembersOptions& opt) {
  auto client = MakeClient(opt.client);
  if (!client) return Fail("members", client.error().message());
  auto members = (*client)->Members();
  if (!members) return Fail("members", members.error().message());
  if (opt.output == "json") {
    std::printf("%s\n", members->dump(4).c_str());
    return 0;
  }
  const Json& items = Object::Field(*members, "items");
  if (!items.is_array()) return Fail("members", "the API answered without a list of members");
  TablePrinter table({"ID", "ADDRESS", "API", "ROLE", "LEADER", "APPLIED"});
  std::vector<std::vector<std::string>> rows;
  for (const Json& m : items) {
    bool leader = Object::Field(m, "isLeader") == Json(true);
    bool self = Object::Field(m, "isSelf") == Json(true);
    // Only the member that answered knows its applied index.
    std::string applied = self ? Cell(m, "appliedIndex") : "-";
    rows.push_back(
        {Cell(m, "id"), Cell(m, "raftAddress"), Cell(m, "apiUrl"), Cell(m, "role"), leader ? "yes" : "no", applied});
  }
  table.Fit(rows);
  table.PrintHeader();
  for (const auto& r : rows) table.PrintRow(r);
  return 0;
}

int RunRemove(const std::string& id_text, const ClientFlags& flags) {
  uint64_t id = ParseMemberId(id_text);
  if (id == 0) return Fail("members remove", "\"" + id_text + "\" is not a member id (a number > 0; see `bosun members`)");
  auto client = MakeClient(flags);
  if (!client) return Fail("members remove", client.error().message());
  if (auto st = (*client)->RemoveMember(id); !st) return Fail("members remove", st.error().message());
  std::printf("member %llu removed\n", static_cast<unsigned long long>(id));
  return 0;
}

}  // namespace

void AddMembers(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<MembersOptions>();
  CLI::App* cmd =
      app.add_subcommand("members",
                         "List the cluster's state members: their Raft and API addresses, role, the leader, and\n"
                         "(for the member that answers) the last applied log index.");
  cmd->add_option("-o,--output", opt->output, "Output format: json (default: a table)")
      ->check(CLI::IsMember({"", "json"}));
  AddClientFlags(cmd, &opt->client);

  auto remove_id = std::make_shared<std::string>();
  auto remove_flags = std::make_shared<ClientFlags>();
  CLI::App* rm = cmd->add_subcommand(
      "remove",
      "Remove member ID from the cluster (admins only). Stop its `bosun server` first or right after; to\n"
      "bring it back, start it again with an empty --data and --join. Removing the leader is allowed: it\n"
      "steps down and the others elect a new one.");
  rm->add_option("ID", *remove_id, "The member's id, as `bosun members` lists it")->required();
  AddClientFlags(rm, remove_flags.get());
  rm->callback([remove_id, remove_flags, exit_code] { *exit_code = RunRemove(*remove_id, *remove_flags); });
  cmd->callback([cmd, rm, opt, exit_code] {
    if (cmd->got_subcommand(rm)) return;
    *exit_code = RunMembers(*opt);
  });
}

}  // namespace bosun::cli
