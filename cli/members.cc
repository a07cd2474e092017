// `bosun members`: the state members of the cluster and who leads;
// `bosun members remove ID` takes one out.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/client_flags.h"
#include "cli/member_routes.h"
#include "cli/member_settings.h"
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
  auto token = ReadTokenFile(opt.client.token_file);
  for (const Json& m : items) {
    bool leader = Object::Field(m, "isLeader") == Json(true);
    bool self = Object::Field(m, "isSelf") == Json(true);
    std::string role = Cell(m, "role");
    // Only a member knows its applied index: the one that answered, and each
    // other one asked in turn (2 s); one that does not answer is down, or
    // cut off, whatever its role in the configuration.
    std::string applied = self ? Cell(m, "appliedIndex") : "-";
    if (!self && Cell(m, "apiUrl") != "-" && token) {
      state::ClientOptions co;
      co.servers = {Cell(m, "apiUrl")};
      co.token = *token;
      co.timeout = std::chrono::seconds(2);
      auto other = state::Client::Create(co);
      auto view = other ? (*other)->Members() : Result<Json>(other.error());
      if (!view) {
        // No answer at all: down or cut off. Any other error (a token it
        // refuses) says nothing of whether it runs: its role stays.
        const Code code = view.error().code();
        if (code == Code::kUnavailable || code == Code::kTimeout || code == Code::kIo) role = "unreachable";
      } else if (const Json& its = Object::Field(*view, "items"); its.is_array()) {
        for (const Json& o : its) {
          // Only the member asked about (an address such as 0.0.0.0 may
          // reach another one).
          if (Object::Field(o, "isSelf") == Json(true) && Cell(o, "id") == Cell(m, "id")) {
            applied = Cell(o, "appliedIndex");
          }
        }
      }
    }
    rows.push_back({Cell(m, "id"), Cell(m, "raftAddress"), Cell(m, "apiUrl"), role, leader ? "yes" : "no", applied});
  }
  table.Fit(rows);
  table.PrintHeader();
  for (const auto& r : rows) table.PrintRow(r);
  // Settings every member must share (cli/member_settings.h).
  const std::vector<std::string> conflicts = MemberSettingConflicts(items);
  for (const std::string& c : conflicts) std::printf("\nWarning: %s\n", c.c_str());
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
                         "each one's last applied log index (each member is asked, 2 s; one that does not answer\n"
                         "is shown as unreachable).");
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
