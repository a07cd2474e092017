// Membership routes (cli/member_routes.h).
#include "cli/member_routes.h"

#include <memory>
#include <string>

#include "cli/member_settings.h"
#include "cli/route_status.h"
#include "core/log.h"

namespace bosun::cli {
namespace {

constexpr const char* kMembersPath = "/bosun/v1/members/";

// nullopt when this member leads; else the 503 that points at the leader.
std::optional<state::HttpResponse> NotLeader(state::ReplicatedService* svc) {
  if (svc->IsLeader()) return std::nullopt;
  Json details = Json::object();
  if (auto url = svc->LeaderApiUrl()) details["leader"] = *url;
  return StatusResponse(503, "ServiceUnavailable", "not the leader; membership changes go through the leader",
                        details);
}

// Deletes the member's registry entry (its API URL), if there is one.
void ForgetRecord(state::ReplicatedService* svc, uint64_t id, std::function<void(Status)> done) {
  const std::string key = state::MemberRecordKey(id);
  if (!svc->store().Get(key)) return done(Ok());
  state::Txn txn;
  txn.ops.push_back(state::Op{state::Op::Kind::kDelete, key, ""});
  svc->Write(std::move(txn), [done = std::move(done)](Result<state::TxnResult> r) {
    done(r ? Ok() : Status(r.error()));
  });
}

void Join(state::ReplicatedService* svc, const state::HttpRequest& req, const state::Responder& reply) {
  if (req.method != "POST") return reply(StatusResponse(405, "MethodNotAllowed", "POST a member to join"));
  auto j = Json::parse(req.body, nullptr, false);
  if (!j.is_object() || !j["id"].is_number_unsigned() || j["id"].get<uint64_t>() == 0 || !j["raftAddress"].is_string()) {
    return reply(StatusResponse(400, "BadRequest",
                                "body must be {\"id\": N (> 0), \"raftAddress\": \"HOST:PORT\", \"apiUrl\": URL}"));
  }
  if (auto r = NotLeader(svc)) return reply(*r);
  state::Member m{j["id"].get<uint64_t>(), j["raftAddress"].get<std::string>(), true};
  std::string api_url = j.value("apiUrl", "");
  svc->replicator().AddMember(m, [m, api_url, reply](Status st) {
    if (!st) return reply(StatusResponseFor(st.error()));
    log::Info("server", "member added", {{"member", std::to_string(m.id)}, {"raft", m.address}, {"api", api_url}});
    reply(StatusResponse(200, "", "member " + std::to_string(m.id) + " added"));
  });
}

void Remove(state::ReplicatedService* svc, const std::string& id_text, const state::HttpRequest& req,
            const state::Responder& reply) {
  if (req.method != "DELETE") {
    return reply(StatusResponse(405, "MethodNotAllowed", "DELETE " + req.path + " removes the member, PUT publishes it"));
  }
  uint64_t id = ParseMemberId(id_text);
  if (id == 0) return reply(StatusResponse(400, "BadRequest", "\"" + id_text + "\" is not a member id (a number > 0)"));
  if (auto r = NotLeader(svc)) return reply(*r);
  bool found = false;
  int voters = 0;
  for (const state::MemberStatus& m : svc->replicator().Members()) {
    found = found || m.member.id == id;
    voters += m.member.voter ? 1 : 0;
  }
  const std::string name = "member " + std::to_string(id);
  if (!found) return reply(StatusResponse(404, "NotFound", name + " is not in the cluster (see `bosun members`)"));
  if (voters <= 1) {
    return reply(StatusResponse(409, "Conflict", name + " is the cluster's only voting member; it cannot be removed"));
  }
  auto remove = [svc, id, name, reply](std::function<void()> then) {
    svc->replicator().RemoveMember(id, [id, name, reply, then = std::move(then)](Status st) {
      if (!st) return reply(StatusResponseFor(st.error()));
      log::Info("server", "member removed", {{"member", std::to_string(id)}});
      then();
    });
  };
  auto removed = [reply, name] { reply(StatusResponse(200, "", name + " removed")); };
  if (id == svc->replicator().Id()) {
    // The leader removes itself: it will not lead the write that forgets its
    // record afterwards, so that goes first.
    return ForgetRecord(svc, id, [remove, removed, reply, name](Status st) {
      if (!st) return reply(StatusResponseFor(st.error().Wrap("forgetting the API address of " + name)));
      remove(removed);
    });
  }
  remove([svc, id, removed] {
    // A stale record is harmless (members are listed from the Raft
    // configuration), so a failure here is only logged.
    ForgetRecord(svc, id, [id, removed](Status forgot) {
      if (!forgot) {
        log::Warn("server", "removed member's API address not forgotten",
                  {{"member", std::to_string(id)}, {"error", forgot.error().message()}});
      }
      removed();
    });
  });
}

// A member publishes its API URL: {"raftAddress": "HOST:PORT", "apiUrl": URL},
// with its settings the others must share ("encryptionKeyId", "gitops").
void Publish(state::ReplicatedService* svc, uint64_t id, const state::HttpRequest& req, const state::Responder& reply) {
  auto j = Json::parse(req.body, nullptr, false);
  if (!j.is_object() || !j["raftAddress"].is_string() || !j["apiUrl"].is_string()) {
    return reply(StatusResponse(400, "BadRequest", "body must be {\"raftAddress\": \"HOST:PORT\", \"apiUrl\": URL}"));
  }
  if (auto r = NotLeader(svc)) return reply(*r);
  bool found = false;
  for (const state::MemberStatus& m : svc->replicator().Members()) found = found || m.member.id == id;
  const std::string name = "member " + std::to_string(id);
  if (!found) return reply(StatusResponse(404, "NotFound", name + " is not in the cluster"));
  Json settings = Json::object();
  state::AddMemberSettings(j.dump(), &settings);
  state::Txn txn;
  txn.ops.push_back(
      state::Op{state::Op::Kind::kPut, state::MemberRecordKey(id),
                state::MemberRecord(id, j["raftAddress"].get<std::string>(), j["apiUrl"].get<std::string>(),
                                    settings.empty() ? "" : settings.dump())});
  svc->Write(std::move(txn), [svc, reply, name](Result<state::TxnResult> r) {
    if (!r) return reply(StatusResponseFor(r.error()));
    for (const std::string& c : MemberSettingConflicts(MemberItems(svc->Members()))) {
      log::Warn("server", "members disagree", {{"problem", c}});
    }
    reply(StatusResponse(200, "", name + " published"));
  });
}

}  // namespace

uint64_t ParseMemberId(const std::string& text) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return 0;
  try {
    size_t used = 0;
    uint64_t id = std::stoull(text, &used);
    return used == text.size() ? id : 0;
  } catch (...) {
    return 0;
  }
}

void AddMemberRoutes(state::ApiServer* api, state::ReplicatedService* svc) {
  api->AddRoute(kMembersPath, false, [svc](const state::HttpRequest& req, state::Responder reply) {
    if (!IsAdmin(req)) {
      return reply(StatusResponse(403, "Forbidden", req.path + " needs an admin token (group system:masters)"));
    }
    std::string rest = req.path.substr(std::string(kMembersPath).size());
    if (rest == "join") return Join(svc, req, reply);
    if (rest.empty() || rest.find('/') != std::string::npos) {
      return reply(StatusResponse(404, "NotFound", "no route " + req.path + "; DELETE /bosun/v1/members/ID"));
    }
    if (req.method == "PUT") {
      uint64_t id = ParseMemberId(rest);
      if (id == 0) return reply(StatusResponse(400, "BadRequest", "\"" + rest + "\" is not a member id (a number > 0)"));
      return Publish(svc, id, req, reply);
    }
    Remove(svc, rest, req, reply);
  });
}

}  // namespace bosun::cli
