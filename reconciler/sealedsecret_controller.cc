// The SealedSecret controller (sealedsecret_controller.h).
#include "reconciler/sealedsecret_controller.h"

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/log.h"
#include "crypto/sshsig.h"
#include "crypto/tokens.h"
#include "reconciler/sealing_keys.h"

namespace bosun::reconciler {
namespace {

using namespace std::chrono_literals;

constexpr const char* kComponent = "sealedsecret-controller";
// The work-queue key of "make sure the cluster has a sealing key": not an
// object key ('@' is in no object name).
constexpr const char* kKeysItem = "@sealing-keys";

std::string Str(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

const char* ReasonFor(Code code) {
  switch (code) {
    case Code::kInvalid: return "MalformedValue";
    case Code::kNotFound: return "UnknownKey";
    case Code::kUnauthorized: return "DecryptFailed";
    case Code::kForbidden: return "ScopeMismatch";
    default: return "UnsealFailed";
  }
}

// Sets condition `type` on `status`, keeping lastTransitionTime while the
// status stays the same.
void SetCondition(Json& status, const std::string& type, const std::string& value, const std::string& reason,
                  const std::string& message, const std::string& now) {
  Json& conds = status["conditions"];
  if (!conds.is_array()) conds = Json::array();
  for (auto& c : conds) {
    if (Str(c, "type") != type) continue;
    if (Str(c, "status") != value) c["lastTransitionTime"] = now;
    c["status"] = value;
    c["reason"] = reason;
    c["message"] = message;
    return;
  }
  conds.push_back(
      {{"type", type}, {"status", value}, {"reason", reason}, {"message", message}, {"lastTransitionTime", now}});
}

class SealedSecretController {
 public:
  SealedSecretController(ControllerManager& mgr, const SealedSecretOptions& o)
      : mgr_(mgr), options_(o), sealed_(mgr.Informer("SealedSecret")), secrets_(mgr.Informer("Secret")),
        secret_kind_(*KindRegistry::Builtin().FindKind("Secret")) {}

  static void Register(const std::shared_ptr<SealedSecretController>& self) {
    self->controller_ = &self->mgr_.Add(std::make_unique<Controller>(
        "sealedsecret-controller", self->options_.workers,
        [self](const std::string& key) { return self->Reconcile(key); }));
    self->controller_->Enqueue(kKeysItem);
    self->sealed_.AddHandler([self](const Object*, const Object* cur) {
      if (cur != nullptr) self->controller_->Enqueue(*cur);
    });
    self->secrets_.AddHandler([self](const Object* old, const Object* cur) {
      for (const Object* s : {old, cur}) {
        if (s == nullptr) continue;
        if (s->namespace_() == kSealingKeysNamespace && s->name() == kSealingKeysName) {
          if (s == cur) self->EnqueueAll();
          continue;
        }
        auto ref = s->controller_ref();
        if (ref && ref->kind == "SealedSecret") self->controller_->Enqueue(ObjectKey(s->namespace_(), ref->name));
      }
    });
  }

 private:
  void EnqueueAll() {
    for (const auto& s : sealed_.List()) controller_->Enqueue(*s);
  }
  Result<Reconciled> Reconcile(const std::string& key);
  Result<Reconciled> EnsureKeys();
  std::shared_ptr<const crypto::Keyring> Keyring(std::string* why);
  Status WriteStatus(const Object& sealed, bool ok, const std::string& reason, const std::string& message);
  Result<Reconciled> Fail(const Object& sealed, const std::string& reason, const std::string& message);

  ControllerManager& mgr_;
  const SealedSecretOptions options_;
  SharedInformer& sealed_;
  SharedInformer& secrets_;
  const KindInfo& secret_kind_;
  Controller* controller_ = nullptr;
  std::mutex mu_;
  std::string keyring_rv_;                          // guarded by mu_
  std::shared_ptr<const crypto::Keyring> keyring_;  // guarded by mu_
};

Result<Reconciled> SealedSecretController::EnsureKeys() {
  auto ring = EnsureSealingKeys(*mgr_.client(), mgr_.clock(), options_.import_key.get());
  if (!ring) {
    log::Warn(kComponent, "cannot make sure the cluster has a sealing key", {{"error", ring.error().message()}});
    return ring.error();
  }
  EnqueueAll();
  return Reconciled::Done();
}

// The keys, from the informer's copy of the key Secret (decoded again only
// when its resourceVersion changes).
std::shared_ptr<const crypto::Keyring> SealedSecretController::Keyring(std::string* why) {
  ObjectPtr secret = secrets_.Get(kSealingKeysNamespace, kSealingKeysName);
  if (!secret) {
    *why = "the cluster has no sealing key yet";
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (keyring_ && keyring_rv_ == secret->resource_version()) return keyring_;
  auto ring = KeyringFromSecret(*secret);
  if (!ring) {
    *why = ring.error().message();
    return nullptr;
  }
  if (ring->size() == 0) {
    *why = "the cluster has no sealing key yet";
    return nullptr;
  }
  keyring_ = std::make_shared<const crypto::Keyring>(std::move(*ring));
  keyring_rv_ = secret->resource_version();
  return keyring_;
}

Status SealedSecretController::WriteStatus(const Object& sealed, bool ok, const std::string& reason,
                                           const std::string& message) {
  Json status = sealed.status().is_object() ? sealed.status() : Json::object();
  const Json before = status;
  SetCondition(status, "Synced", ok ? "True" : "False", reason, message, FormatRfc3339(mgr_.clock().Now()));
  status["observedGeneration"] = sealed.generation();
  if (status == before) return Ok();
  Object updated = sealed;
  updated.json()["status"] = status;
  auto r = mgr_.client()->UpdateStatus(updated);
  if (!r) return r.error().Wrap("writing the status of SealedSecret " + sealed.Key());
  sealed_.Store(*r);
  return Ok();
}

Result<Reconciled> SealedSecretController::Fail(const Object& sealed, const std::string& reason,
                                                const std::string& message) {
  // Recorded once per change: the Event recorder aggregates repeats.
  mgr_.events().Warning(sealed, reason, message);
  log::Warn(kComponent, "cannot unseal", {{"sealedsecret", sealed.Key()}, {"reason", reason}, {"message", message}});
  if (Status s = WriteStatus(sealed, false, reason, message); !s) return s.error();
  return Reconciled::Done();
}

Result<Reconciled> SealedSecretController::Reconcile(const std::string& key) {
  if (key == kKeysItem) return EnsureKeys();
  auto [ns, name] = SplitKey(key);
  ObjectPtr sealed = sealed_.Get(ns, name);
  if (!sealed || sealed->deletion_timestamp()) return Reconciled::Done();  // the GC removes its Secret

  std::string why;
  auto ring = Keyring(&why);
  if (!ring) {
    if (auto s = WriteStatus(*sealed, false, "NoSealingKey", why); !s) return s.error();
    return Reconciled::After(2s);  // the key Secret's arrival enqueues it too
  }

  // Open every value first: nothing is written unless all of them open.
  const Json& encrypted = Object::Field(sealed->spec(), "encryptedData");
  if (!encrypted.is_object() || encrypted.empty()) {
    return Fail(*sealed, "MalformedValue", "spec.encryptedData: required: the sealed values (make them with `bosun seal`)");
  }
  Json data = Json::object();
  std::vector<std::string> problems;
  std::string first_reason;
  for (auto it = encrypted.begin(); it != encrypted.end(); ++it) {
    std::string field = "spec.encryptedData." + it.key();
    if (!it.value().is_string()) {
      problems.push_back(field + ": must be a string");
      if (first_reason.empty()) first_reason = "MalformedValue";
      continue;
    }
    auto opened = crypto::Open(*ring, ns, name, it.value().get_ref<const std::string&>());
    if (!opened) {
      problems.push_back(field + ": " + opened.error().message());
      if (first_reason.empty()) first_reason = ReasonFor(opened.error().code());
      continue;
    }
    std::string b64 = crypto::EncodeBase64(opened->value);
    data[it.key()] = b64;
    crypto::Wipe(b64);
  }
  if (!problems.empty()) {
    std::string message;
    for (const auto& p : problems) message += (message.empty() ? "" : "; ") + p;
    message += " (the Secret is left as it was)";
    // What to do about it: the key is another cluster's (or the demo's).
    if (first_reason == "UnknownKey") {
      message +=
          "; import the key pair it was sealed with: bosun server --sealing-key-file FILE (bosun's bundled "
          "examples are sealed with scripts/DEMO-ONLY-sealing-key), or seal it again with `bosun seal`";
    }
    return Fail(*sealed, first_reason, message);
  }

  // The Secret it makes.
  const Json& tmpl = Object::Field(sealed->spec(), "template");
  const Json& tmeta = Object::Field(tmpl, "metadata");
  Object want(GroupVersionKind{"", "v1", "Secret"}, ns, name);
  if (Object::Field(tmeta, "labels").is_object()) want.json()["metadata"]["labels"] = tmeta["labels"];
  if (Object::Field(tmeta, "annotations").is_object()) want.json()["metadata"]["annotations"] = tmeta["annotations"];
  std::string type = Str(tmpl, "type");
  want.json()["type"] = type.empty() ? "Opaque" : type;
  want.json()["data"] = std::move(data);
  OwnerReference ref;
  ref.api_version = "bosun.dev/v1";
  ref.kind = "SealedSecret";
  ref.name = name;
  ref.uid = sealed->uid();
  ref.controller = true;
  ref.block_owner_deletion = true;

  ObjectPtr current = secrets_.Get(ns, name);
  std::string verb;
  if (current) {
    auto cref = current->controller_ref();
    if (!cref || cref->kind != "SealedSecret" || cref->name != name) {
      return Fail(*sealed, "SecretNotOwned",
                  "Secret " + ns + "/" + name +
                      " exists and is not managed by this SealedSecret; delete it (or rename one of them) "
                      "so the SealedSecret can own it");
    }
    const Json& cm = Object::Field(current->json(), "metadata");
    bool same = Object::Field(current->json(), "data") == want.json()["data"] &&
                Str(current->json(), "type") == Str(want.json(), "type") &&
                Object::Field(cm, "labels") == Object::Field(want.json()["metadata"], "labels") &&
                Object::Field(cm, "annotations") == Object::Field(want.json()["metadata"], "annotations") &&
                cref->uid == sealed->uid();
    if (!same) {
      Object updated = *current;
      Json& meta = updated.json()["metadata"];
      for (const char* f : {"labels", "annotations"}) {
        if (want.json()["metadata"].contains(f)) {
          meta[f] = want.json()["metadata"][f];
        } else {
          meta.erase(f);
        }
      }
      updated.json()["type"] = want.json()["type"];
      updated.json()["data"] = want.json()["data"];
      updated.json().erase("stringData");
      updated.set_owner_references({ref});
      auto r = mgr_.client()->Update(updated);
      if (!r) return r.error().Wrap("updating Secret " + ns + "/" + name);
      secrets_.Store(*r);
      verb = "updated";
    }
  } else {
    want.set_owner_references({ref});
    auto r = mgr_.client()->Create(want);
    if (!r) return r.error().Wrap("creating Secret " + ns + "/" + name);
    secrets_.Store(*r);
    verb = "created";
  }
  std::string keys = std::to_string(encrypted.size()) + (encrypted.size() == 1 ? " key" : " keys");
  if (!verb.empty()) {
    mgr_.events().Normal(*sealed, "Unsealed", verb + " Secret " + name + " (" + keys + ")");
    log::Info(kComponent, "unsealed", {{"sealedsecret", sealed->Key()}, {"secret", verb}, {"keys", keys}});
  }
  if (auto s = WriteStatus(*sealed, true, "Unsealed", "Secret " + ns + "/" + name + " holds " + keys); !s) {
    return s.error();
  }
  return Reconciled::Done();
}

}  // namespace

Status AddSealedSecretController(ControllerManager& mgr, const SealedSecretOptions& options) {
  if (mgr.client() == nullptr) return Error(Code::kInvalid, "the SealedSecret controller needs an API client");
  SealedSecretController::Register(std::make_shared<SealedSecretController>(mgr, options));
  return Ok();
}

}  // namespace bosun::reconciler
