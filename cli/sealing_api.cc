// The /bosun/v1/sealing routes (cli/sealing_api.h).
#include "cli/sealing_api.h"

#include <memory>
#include <thread>

#include "cli/route_status.h"
#include "core/clock.h"
#include "core/log.h"
#include "crypto/sealed.h"
#include "reconciler/sealing_keys.h"
#include "state/client.h"

namespace bosun::cli {
namespace {

constexpr const char* kPrefix = "/bosun/v1/sealing";

// A SealedSecret sealed for another scope (kForbidden from crypto/sealed.cc)
// is an invalid object for this cluster, not a caller without rights.
state::HttpResponse ErrorResponse(const Error& e) {
  if (e.code() == Code::kForbidden) return StatusResponse(422, "Invalid", e.message());
  return StatusResponseFor(e);
}

Json KeyJson(const reconciler::SealingKeyInfo& k) {
  return {{"id", k.id}, {"created", k.created}, {"publicKey", k.public_key}, {"active", k.active}};
}

// Every value of a SealedSecret sealed again under the active key.
Result<Json> Reencrypt(state::Client& client, const std::string& body) {
  Json doc = Json::parse(body, nullptr, false);
  if (!doc.is_object() || doc.value("kind", "") != "SealedSecret") {
    return Error(Code::kInvalid, "the body must be a SealedSecret (JSON)");
  }
  Object sealed(doc);
  std::string ns = sealed.namespace_().empty() ? "default" : sealed.namespace_();
  std::string name = sealed.name();
  if (name.empty()) return Error(Code::kInvalid, "metadata.name: required");
  const Json& encrypted = Object::Field(sealed.spec(), "encryptedData");
  if (!encrypted.is_object() || encrypted.empty()) return Error(Code::kInvalid, "spec.encryptedData: required");
  auto ring = reconciler::ReadSealingKeys(client);
  if (!ring) return ring.error();
  const crypto::SealingPublicKey& to = ring->Active()->public_key();
  Json out = Json::object();
  for (auto it = encrypted.begin(); it != encrypted.end(); ++it) {
    std::string field = "spec.encryptedData." + it.key();
    if (!it.value().is_string()) return Error(Code::kInvalid, field + ": must be a string");
    auto resealed = crypto::Reseal(*ring, to, ns, name, it.value().get_ref<const std::string&>());
    if (!resealed) return Error(resealed.error().code(), field + ": " + resealed.error().message());
    out[it.key()] = *resealed;
  }
  doc["spec"]["encryptedData"] = out;
  return doc;
}

void Serve(state::Client& client, const state::HttpRequest& req, const state::Responder& reply) {
  std::string what = req.path.size() > std::string(kPrefix).size() ? req.path.substr(std::string(kPrefix).size()) : "";
  if (what == "/keys") {
    if (req.method != "GET") return reply(StatusResponse(405, "MethodNotAllowed", "GET the sealing keys"));
    auto keys = reconciler::ListSealingKeys(client);
    if (!keys) return reply(ErrorResponse(keys.error()));
    Json items = Json::array();
    for (const auto& k : *keys) items.push_back(KeyJson(k));
    return reply({200, "application/json", {}, Json{{"kind", "SealingKeyList"}, {"items", items}}.dump()});
  }
  if (what == "/rotate" || what == "/reencrypt") {
    if (req.method != "POST") return reply(StatusResponse(405, "MethodNotAllowed", "POST to " + req.path));
    if (!IsAdmin(req)) {
      return reply(StatusResponse(403, "Forbidden", req.path + " needs an admin token (group system:masters)"));
    }
    if (what == "/rotate") {
      auto k = reconciler::RotateSealingKey(client, Clock::System());
      if (!k) return reply(ErrorResponse(k.error()));
      log::Info("sealing-api", "sealing key rotated", {{"key", k->id}, {"by", req.user->name}});
      return reply({200, "application/json", {}, Json{{"kind", "SealingKeyList"}, {"items", {KeyJson(*k)}}}.dump()});
    }
    auto doc = Reencrypt(client, req.body);
    if (!doc) return reply(ErrorResponse(doc.error()));
    return reply({200, "application/json", {}, doc->dump()});
  }
  reply(StatusResponse(404, "NotFound", "no such path: " + req.path));
}

}  // namespace

void AddSealingRoutes(state::ApiServer* api, const std::string& api_url, const std::string& admin_token) {
  state::ClientOptions co;
  co.servers = {api_url};
  co.token = admin_token;
  auto made = state::Client::Create(co);
  if (!made) {
    log::Error("sealing-api", "cannot make a client for the sealing routes", {{"error", made.error().message()}});
    return;
  }
  std::shared_ptr<state::Client> client(std::move(*made));
  api->AddRoute(kPrefix, false, [client](const state::HttpRequest& req, state::Responder reply) {
    // The store is read through the API: never on the API's own threads.
    std::thread([client, req, reply] { Serve(*client, req, reply); }).detach();
  });
}

}  // namespace bosun::cli
