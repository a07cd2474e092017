// The object verbs: get, list, create, update, patch, delete, and the /status
// subresource (docs/API.md "Verbs"). Every write is one transaction with a
// precondition on the key's mod_revision; an update or patch reads the
// current object, computes the new one and writes it only if nobody wrote in
// between, retrying a few times when the client did not pin a
// resourceVersion itself. The rules of one write (type checks, server-set
// fields, generation, validation) are declared in api_internal.h because the
// batch (api_batch.cc) applies the same ones to each of its operations.
#include <algorithm>
#include <cctype>
#include <set>
#include <variant>

#include "core/ascii.h"
#include "core/clock.h"
#include "core/immutable.h"
#include "core/labels.h"
#include "core/log.h"
#include "core/selector.h"
#include "state/api_internal.h"

namespace bosun::state::api_internal {
namespace {

constexpr int kWriteAttempts = 5;
constexpr int kGenerateNameAttempts = 5;

using Mutator = std::function<Mutation(const Stored&)>;

std::optional<ApiError> ParseBody(const CallPtr& call, Json* out) {
  *out = Json::parse(call->body(), nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) return BadRequest("the request body is not valid JSON");
  return std::nullopt;
}

}  // namespace

Json& Meta(Json& obj) {
  Json& m = obj["metadata"];
  if (!m.is_object()) m = Json::object();
  return m;
}

std::string MetaString(const Json& obj, const char* field) {
  const Json& v = Object::Field(Object::Field(obj, "metadata"), field);
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::optional<ApiError> CheckTypeMeta(Json& obj, const KindInfo& kind) {
  if (!obj.is_object()) return BadRequest("the object must be a JSON object");
  const Json& meta = Object::Field(obj, "metadata");
  if (!meta.is_null() && !meta.is_object()) return BadRequest("metadata must be a JSON object");
  const std::string want = kind.gvk.ApiVersion();
  Json& av = obj["apiVersion"];
  if (av.is_null()) av = want;
  if (!av.is_string() || av.get<std::string>() != want) {
    return BadRequest("the API version in the data (" + (av.is_string() ? av.get<std::string>() : av.dump()) +
                      ") does not match the expected API version (" + want + ")");
  }
  Json& k = obj["kind"];
  if (k.is_null()) k = kind.gvk.kind;
  if (!k.is_string() || k.get<std::string>() != kind.gvk.kind) {
    return BadRequest("the kind in the data (" + (k.is_string() ? k.get<std::string>() : k.dump()) +
                      ") does not match the expected kind (" + kind.gvk.kind + ")");
  }
  return std::nullopt;
}

std::optional<ApiError> CheckNamespace(Json& obj, const Target& t) {
  Json& meta = Meta(obj);
  if (!t.kind->namespaced) {
    meta.erase("namespace");
    return std::nullopt;
  }
  std::string ns = MetaString(obj, "namespace");
  if (ns.empty()) {
    meta["namespace"] = t.ns;
  } else if (ns != t.ns) {
    return BadRequest("the namespace of the provided object (" + ns +
                      ") does not match the namespace sent on the request (" + t.ns + ")");
  }
  return std::nullopt;
}

namespace {

std::optional<ApiError> CheckName(Json& obj, const Target& t) {
  std::string name = MetaString(obj, "name");
  if (name.empty()) {
    Meta(obj)["name"] = t.name;
  } else if (name != t.name) {
    return BadRequest("the name of the object (" + name + ") does not match the name on the URL (" + t.name + ")");
  }
  return std::nullopt;
}

}  // namespace

// Errors, and unknown fields as `mode` says; other warnings (a plain Secret)
// do not refuse a write.
std::vector<FieldError> Validate(Json& obj, const KindInfo& kind, FieldValidation mode,
                                 std::vector<std::string>* warnings, const Json* before) {
  std::vector<FieldError> errors;
  if (kind.gvk.kind == "Revision" || kind.gvk.kind == "GitRepository") {
    // Manifests may not carry these (NotFromManifests); through the API
    // bosun itself writes them, so check only what the store key needs.
    std::string name = MetaString(obj, "name");
    for (const auto& m : CheckDns1123Subdomain(name)) {
      errors.push_back({Severity::kError, FieldPath("metadata.name"), m});
    }
    // `bosun suspend` (docs/GITOPS.md "Suspending"): a word the sync
    // would not understand must not look like a pause that is not one.
    const Json& suspend = Object::Field(Object::Field(obj, "spec"), "suspend");
    if (kind.gvk.kind == "GitRepository" && !suspend.is_null() && !suspend.is_boolean()) {
      errors.push_back({Severity::kError, FieldPath("spec.suspend"), "must be true or false"});
    }
    return errors;
  }
  // Moved in and back: a copy of each object cost a batch of 10,000 creates
  // a tenth of its planning.
  struct Lend {
    Json& owner;
    Object object;
    explicit Lend(Json& j) : owner(j), object(std::move(j)) {}
    ~Lend() { owner = std::move(object.json()); }
  } lend(obj);
  std::vector<FieldError> found = ValidateObject(lend.object);
  if (before != nullptr && mode != FieldValidation::kIgnore &&
      std::any_of(found.begin(), found.end(), [](const FieldError& fe) { return fe.unknown_field; })) {
    std::set<std::string> had;
    for (const FieldError& fe : ValidateObject(Object(*before))) {
      if (fe.unknown_field) had.insert(fe.path.str());
    }
    std::erase_if(found, [&](const FieldError& fe) { return fe.unknown_field && had.count(fe.path.str()) > 0; });
  }
  for (auto& fe : found) {
    if (fe.unknown_field && mode == FieldValidation::kStrict) fe.severity = Severity::kError;
    if (fe.severity == Severity::kError) {
      errors.push_back(std::move(fe));
    } else if (fe.unknown_field && mode == FieldValidation::kWarn && warnings != nullptr) {
      warnings->push_back(fe.path.str() + ": " + fe.message);
    }
  }
  return errors;
}

namespace {

// Kubernetes' rule: generation counts changes of spec, or for kinds without
// spec of anything but metadata and status.
bool GenerationChanged(const Json& before, const Json& after) {
  if (before.contains("spec") || after.contains("spec")) {
    return Object::Field(before, "spec") != Object::Field(after, "spec");
  }
  // Field by field, without copying the objects: a batch compares thousands.
  auto counts = [](const std::string& field) { return field != "metadata" && field != "status"; };
  for (const auto& [field, value] : before.items()) {
    if (counts(field) && (!after.contains(field) || after[field] != value)) return true;
  }
  for (const auto& [field, value] : after.items()) {
    if (counts(field) && !before.contains(field)) return true;
  }
  return false;
}

std::optional<int64_t> ParseRevision(const std::string& s, std::optional<ApiError>* err, const char* what) {
  if (s.empty()) return std::nullopt;
  auto v = ParseInt(s);
  if (!v) *err = BadRequest(std::string(what) + " must be a non-negative integer, not \"" + s + "\"");
  return v;
}

}  // namespace

std::optional<ApiError> PrepareCreate(Json& obj, const KindInfo& kind, Clock& clock) {
  if (MetaString(obj, "name").empty() && MetaString(obj, "generateName").empty()) {
    return Invalid(kind, "", {{Severity::kError, FieldPath("metadata.name"), "name or generateName is required"}});
  }
  Json& meta = Meta(obj);
  meta.erase("resourceVersion");
  meta.erase("deletionTimestamp");
  meta["uid"] = NewUid();
  meta["creationTimestamp"] = FormatRfc3339(clock.Now());
  meta["generation"] = 1;
  return std::nullopt;
}

Mutation ComputeUpdate(const Target& t, const Stored& cur, Json next, bool pinned) {
  const KindInfo& kind = *t.kind;
  if (auto e = CheckTypeMeta(next, kind)) return *e;
  if (auto e = CheckName(next, t)) return *e;
  if (auto e = CheckNamespace(next, t)) return *e;
  std::optional<ApiError> err;
  auto rv = ParseRevision(MetaString(next, "resourceVersion"), &err, "metadata.resourceVersion");
  if (err) return *err;
  if (rv && *rv != cur.revision) return Modified(kind, t.name);
  std::string uid = MetaString(next, "uid");
  std::string cur_uid = MetaString(cur.object, "uid");
  if (!uid.empty() && uid != cur_uid) {
    return Conflict(kind, t.name,
                    "Precondition failed: UID in precondition: " + uid + ", UID in object meta: " + cur_uid);
  }
  Json before = cur.object;
  Meta(before).erase("resourceVersion");
  Json out;
  if (t.finalize) {
    if (auto e = NamespaceFinalizers(before, next, /*finalize=*/true, &out)) return *e;
  } else if (t.status) {
    // Only status changes through /status.
    out = before;
    if (next.contains("status")) {
      out["status"] = next["status"];
    } else {
      out.erase("status");
    }
  } else {
    out = std::move(next);
    Json& meta = Meta(out);
    meta.erase("resourceVersion");
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp"}) {
      const Json& v = Object::Field(before["metadata"], f);
      if (v.is_null()) {
        meta.erase(f);
      } else {
        meta[f] = v;
      }
    }
    if (kind.has_status) {
      if (before.contains("status")) {
        out["status"] = before["status"];
      } else {
        out.erase("status");
      }
    }
    if (IsNamespace(kind)) {
      if (auto e = NamespaceFinalizers(before, next, /*finalize=*/false, &out)) return *e;
    }
    int64_t gen = Object(before).generation();
    meta["generation"] = GenerationChanged(before, out) ? gen + 1 : gen;
  }
  if (out == before) return Change{Change::Kind::kNoop, cur.object, pinned, {}};
  if (IsNamespace(kind) && NamespaceReleased(before, out)) return Change{Change::Kind::kDelete, Json(), pinned, {}};
  std::vector<std::string> warnings;
  auto errors = Validate(out, kind, t.field_validation, &warnings, &before);
  if (!t.status) {
    for (auto& e : ImmutableChanges(before, out, kind)) errors.push_back(std::move(e));
  }
  if (!errors.empty()) return Invalid(kind, t.name, errors);
  return Change{Change::Kind::kPut, std::move(out), pinned || rv.has_value(), std::move(warnings)};
}

ApiError WriteError(Core& core, const Error& e, const Target& t) {
  if (e.code() == Code::kUnavailable) return Unavailable(e.message(), core.service().LeaderApiUrl());
  return FromError(e, t.kind, t.name);
}

Mutation DeleteChange(const Target& t, const Stored& cur, std::optional<int64_t> rv, const std::string& uid,
                      const std::string& now) {
  if (rv && *rv != cur.revision) {
    return Conflict(*t.kind, t.name,
                    "Precondition failed: ResourceVersion in precondition: " + std::to_string(*rv) +
                        ", ResourceVersion in object meta: " + std::to_string(cur.revision));
  }
  std::string cur_uid = MetaString(cur.object, "uid");
  if (!uid.empty() && uid != cur_uid) {
    return Conflict(*t.kind, t.name,
                    "Precondition failed: UID in precondition: " + uid + ", UID in object meta: " + cur_uid);
  }
  const bool pinned = rv.has_value() || !uid.empty();
  if (IsNamespace(*t.kind)) return TerminateNamespace(t, cur, pinned, now);
  return Change{Change::Kind::kDelete, Json(), pinned, {}};
}

namespace {

void ReadModifyWrite(Core& core, const CallPtr& call, const Target& t, Mutator mutate, int attempts) {
  core.AfterBarrier(call, ReadConsistency::kLinearizable, [&core, call, t, mutate, attempts] {
    const std::string key = t.Key();
    auto kv = core.service().store().Get(key);
    if (!kv) return call->ReplyError(FromError(kv.error(), t.kind, t.name));
    auto obj = core.DecodeKv(*t.kind, *kv);
    if (!obj) return call->ReplyError(Internal("cannot read the stored object"));
    Stored cur{std::move(*obj), kv->mod_revision};
    Mutation m = mutate(cur);
    if (auto* e = std::get_if<ApiError>(&m)) return call->ReplyError(*e);
    Change change = std::get<Change>(std::move(m));
    call->AddWarnings(change.warnings);
    if (change.kind == Change::Kind::kNoop) return call->Reply(200, cur.object);

    Txn txn;
    txn.preconditions.push_back({key, Precondition::Kind::kModRevisionEquals, cur.revision});
    if (change.kind == Change::Kind::kPut) {
      auto bytes = core.EncodeObject(*t.kind, key, change.object);
      if (!bytes) return call->ReplyError(Internal("cannot encode the object for the store"));
      txn.ops.push_back({Op::Kind::kPut, key, std::move(*bytes)});
    } else {
      txn.ops.push_back({Op::Kind::kDelete, key, ""});
    }
    if (core.stopped()) return call->ReplyError(Unavailable("the server is shutting down", std::nullopt));
    core.service().Write(std::move(txn), [&core, call, t, mutate, attempts, change = std::move(change),
                                          cur = std::move(cur)](Result<TxnResult> r) mutable {
      if (!r) return call->ReplyError(WriteError(core, r.error(), t));
      if (!r->succeeded) {
        if (!r->current) return call->ReplyError(NotFound(*t.kind, t.name));
        if (change.pinned || attempts <= 1 || core.stopped()) return call->ReplyError(Modified(*t.kind, t.name));
        return ReadModifyWrite(core, call, t, mutate, attempts - 1);
      }
      Json out = change.kind == Change::Kind::kPut ? std::move(change.object) : std::move(cur.object);
      Meta(out)["resourceVersion"] = std::to_string(r->revision);
      call->Reply(200, out);
    });
  });
}

// One try at a create; with generateName, a name already taken gets a
// new random suffix, a few times. A Namespace that changed between the
// check and the commit is checked again, a few times (`ns_left`).
void CreateAttempt(Core& core, const CallPtr& call, Target t, Json obj, std::string generate, int left,
                   int ns_left = kWriteAttempts) {
  if (!generate.empty()) Meta(obj)["name"] = generate + RandomSuffix(5);
  t.name = MetaString(obj, "name");
  std::vector<std::string> warnings;
  auto errors = Validate(obj, *t.kind, t.field_validation, &warnings);
  if (!errors.empty()) return call->ReplyError(Invalid(*t.kind, t.name, errors));
  call->AddWarnings(warnings);
  const std::string key = t.Key();
  auto bytes = core.EncodeObject(*t.kind, key, obj);
  if (!bytes) return call->ReplyError(Internal("cannot encode the object for the store"));
  if (core.stopped()) return call->ReplyError(Unavailable("the server is shutting down", std::nullopt));
  Txn txn;
  txn.preconditions.push_back({key, Precondition::Kind::kMustNotExist, 0});
  const std::string ns_key = NamespaceKeyFor(t);
  if (!ns_key.empty()) {
    auto open = CheckNamespaceOpen(core, t, ns_key);
    if (auto* e = std::get_if<ApiError>(&open)) return call->ReplyError(*e);
    txn.preconditions.push_back(std::get<Precondition>(std::move(open)));
  }
  txn.ops.push_back({Op::Kind::kPut, key, std::move(*bytes)});
  core.service().Write(std::move(txn), [&core, call, t, obj = std::move(obj), generate, left, ns_left,
                                        ns_key](Result<TxnResult> r) {
    if (!r) return call->ReplyError(WriteError(core, r.error(), t));
    if (!r->succeeded && r->failed_key == ns_key) {
      if (ns_left <= 1 || core.stopped()) return call->ReplyError(Modified(NamespaceKindOf(), t.ns));
      // Not on the service's callback thread (Raft's loop).
      return core.Post([&core, call, t, obj, generate, left, ns_left] {
        CreateAttempt(core, call, t, obj, generate, left, ns_left - 1);
      });
    }
    if (!r->succeeded) {
      if (!generate.empty() && left > 1) {
        // Not on the service's callback thread (Raft's loop): validation
        // and encoding run again.
        return core.Post(
            [&core, call, t, obj, generate, left] { CreateAttempt(core, call, t, obj, generate, left - 1); });
      }
      return call->ReplyError(AlreadyExists(*t.kind, t.name));
    }
    Json out = obj;
    Meta(out)["resourceVersion"] = std::to_string(r->revision);
    call->Reply(201, out);
  });
}

enum class PatchType { kMerge, kJson };

std::optional<PatchType> PatchTypeOf(std::string ct) {
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  ct = AsciiLower(ct);
  if (ct == "application/merge-patch+json" || ct == "application/strategic-merge-patch+json") return PatchType::kMerge;
  if (ct == "application/json-patch+json") return PatchType::kJson;
  return std::nullopt;
}

// True when the patch itself sets metadata.resourceVersion: the client pinned
// the version it patched.
bool PatchPinsVersion(const Json& patch, PatchType type) {
  if (type == PatchType::kMerge) {
    return Object::Field(Object::Field(patch, "metadata"), "resourceVersion").is_string();
  }
  for (const auto& op : patch) {
    const Json& path = Object::Field(op, "path");
    if (path.is_string() && path.get<std::string>() == "/metadata/resourceVersion") return true;
  }
  return false;
}

}  // namespace

Result<Json> Core::DecodeKv(const KindInfo& kind, const KeyValue& kv) const {
  auto obj = codec_->Decode(kind, kv.key, kv.value);
  if (!obj) {
    log::Warn("api", "cannot decode a stored value", {{"key", kv.key}, {"error", obj.error().message()}});
    return obj.error();
  }
  Meta(*obj)["resourceVersion"] = std::to_string(kv.mod_revision);
  return obj;
}

Result<std::string> Core::EncodeObject(const KindInfo& kind, const std::string& key, const Json& object) const {
  // A copy only when there is a resourceVersion to leave out: a batch
  // encodes thousands of objects that have none.
  auto without_rv = [&]() -> Result<std::string> {
    Json copy = object;
    copy["metadata"].erase("resourceVersion");
    return codec_->Encode(kind, key, copy);
  };
  const Json& meta = Object::Field(object, "metadata");
  auto bytes = meta.is_object() && meta.contains("resourceVersion") ? without_rv() : codec_->Encode(kind, key, object);
  if (!bytes) log::Warn("api", "cannot encode a value", {{"key", key}, {"error", bytes.error().message()}});
  return bytes;
}

void Core::Get(const CallPtr& call, const Target& t) {
  auto c = call->Query("resourceVersion") == "0" ? ReadConsistency::kSerializable : ReadConsistency::kLinearizable;
  AfterBarrier(call, c, [this, call, t] {
    auto kv = service_->store().Get(t.Key());
    if (!kv) return call->ReplyError(FromError(kv.error(), t.kind, t.name));
    auto obj = DecodeKv(*t.kind, *kv);
    if (!obj) return call->ReplyError(Internal("cannot read the stored object"));
    call->Reply(200, *obj);
  });
}

void Core::List(const CallPtr& call, const Target& t) {
  auto selector = Selector::Parse(call->Query("labelSelector"));
  if (!selector) return call->ReplyError(BadRequest("labelSelector: " + selector.error().message()));
  auto fields = FieldSelector::Parse(call->Query("fieldSelector"));
  if (!fields) return call->ReplyError(BadRequest("fieldSelector: " + fields.error().message()));
  std::optional<ApiError> err;
  auto limit = ParseRevision(call->Query("limit"), &err, "limit");
  if (err) return call->ReplyError(*err);
  // The continue token: the revision of the first page and the last key
  // returned, so every page reads the same snapshot.
  int64_t revision = 0;
  std::string cursor;
  if (std::string token = call->Query("continue"); !token.empty()) {
    auto raw = Base64UrlDecode(token);
    Json j = raw ? Json::parse(*raw, nullptr, false) : Json();
    if (!j.is_object() || !j["rv"].is_number_integer() || !j["start"].is_string() ||
        j["start"].get<std::string>().rfind(t.Prefix(), 0) != 0) {
      return call->ReplyError(BadRequest("continue: not a token from a previous list of this collection"));
    }
    revision = j["rv"].get<int64_t>();
    cursor = j["start"].get<std::string>();
  }
  auto c = call->Query("resourceVersion") == "0" ? ReadConsistency::kSerializable : ReadConsistency::kLinearizable;
  const size_t want = limit ? static_cast<size_t>(*limit) : 0;
  AfterBarrier(call, c, [this, call, t, sel = std::move(*selector), fsel = std::move(*fields), want, revision,
                         cursor]() mutable {
    Json items = Json::array();
    bool more = false;
    while (true) {
      auto page = service_->store().Range(t.Prefix(), revision, want, cursor);
      if (!page) {
        if (page.error().code() == Code::kCompacted) {
          return call->ReplyError(Expired(
              "The provided continue parameter is too old to display a consistent list result. You can start a new "
              "list without the continue parameter."));
        }
        return call->ReplyError(FromError(page.error(), t.kind, ""));
      }
      revision = page->revision;
      bool full = false;
      for (size_t i = 0; i < page->kvs.size(); ++i) {
        const KeyValue& kv = page->kvs[i];
        cursor = kv.key;
        auto obj = DecodeKv(*t.kind, kv);
        if (!obj) return call->ReplyError(Internal("cannot read a stored object"));
        if (!sel.Matches(Object(*obj).labels()) || !fsel.Matches(*obj)) continue;
        items.push_back(std::move(*obj));
        if (want != 0 && items.size() == want) {
          full = true;
          more = i + 1 < page->kvs.size() || page->more;
          break;
        }
      }
      if (full || !page->more) break;
    }
    Json meta = {{"resourceVersion", std::to_string(revision)}};
    if (more) meta["continue"] = Base64UrlEncode(Dump({{"rv", revision}, {"start", cursor}}));
    call->Reply(200, {{"apiVersion", t.kind->gvk.ApiVersion()},
                      {"kind", t.kind->gvk.kind + "List"},
                      {"metadata", meta},
                      {"items", std::move(items)}});
  });
}

void Core::Create(const CallPtr& call, const Target& t) {
  Json obj;
  if (auto e = ParseBody(call, &obj)) return call->ReplyError(*e);
  if (auto e = CheckTypeMeta(obj, *t.kind)) return call->ReplyError(*e);
  if (auto e = CheckNamespace(obj, t)) return call->ReplyError(*e);
  std::string generate = MetaString(obj, "generateName");
  if (auto e = PrepareCreate(obj, *t.kind, clock())) return call->ReplyError(*e);

  bool generated = MetaString(obj, "name").empty();
  CreateAttempt(*this, call, t, std::move(obj), generated ? generate : "", generated ? kGenerateNameAttempts : 1);
}

void Core::Update(const CallPtr& call, const Target& t) {
  Json body;
  if (auto e = ParseBody(call, &body)) return call->ReplyError(*e);
  if (auto e = CheckTypeMeta(body, *t.kind)) return call->ReplyError(*e);
  bool pinned = !MetaString(body, "resourceVersion").empty();
  ReadModifyWrite(
      *this, call, t, [t, body, pinned](const Stored& cur) { return ComputeUpdate(t, cur, body, pinned); },
      kWriteAttempts);
}

void Core::Patch(const CallPtr& call, const Target& t) {
  std::string ct = call->Header("Content-Type");
  auto type = PatchTypeOf(ct);
  if (!type) return call->ReplyError(UnsupportedMediaType(ct));
  Json patch;
  if (auto e = ParseBody(call, &patch)) return call->ReplyError(*e);
  if (*type == PatchType::kJson && !patch.is_array()) {
    return call->ReplyError(BadRequest("a JSON patch (application/json-patch+json) must be an array of operations"));
  }
  bool pinned = PatchPinsVersion(patch, *type);
  auto mutate = [t, patch, type = *type, pinned](const Stored& cur) -> Mutation {
    Json doc = cur.object;
    if (type == PatchType::kMerge) {
      doc.merge_patch(patch);
    } else {
      try {
        doc = doc.patch(patch);
      } catch (const Json::exception& e) {
        ApiError err = BadRequest(std::string("the JSON patch could not be applied: ") + e.what());
        err.code = 422;
        err.reason = "Invalid";
        return err;
      }
    }
    // The document patched carried the stored resourceVersion; unless the
    // patch itself named one, it is no precondition of the client's.
    if (!pinned && doc.is_object() && doc.contains("metadata") && doc["metadata"].is_object()) {
      doc["metadata"].erase("resourceVersion");
    }
    return ComputeUpdate(t, cur, std::move(doc), pinned);
  };
  ReadModifyWrite(*this, call, t, mutate, kWriteAttempts);
}

void Core::Delete(const CallPtr& call, const Target& t) {
  std::optional<int64_t> rv;
  std::string uid;
  if (!call->body().empty()) {
    Json body;
    if (auto e = ParseBody(call, &body)) return call->ReplyError(*e);
    const Json& pre = Object::Field(body, "preconditions");
    const Json& prv = Object::Field(pre, "resourceVersion");
    const Json& puid = Object::Field(pre, "uid");
    std::optional<ApiError> err;
    if (prv.is_string()) rv = ParseRevision(prv.get<std::string>(), &err, "preconditions.resourceVersion");
    if (err) return call->ReplyError(*err);
    if (puid.is_string()) uid = puid.get<std::string>();
  }
  auto mutate = [this, t, rv, uid](const Stored& cur) {
    return DeleteChange(t, cur, rv, uid, FormatRfc3339(clock().Now()));
  };
  ReadModifyWrite(*this, call, t, mutate, kWriteAttempts);
}

}  // namespace bosun::state::api_internal
