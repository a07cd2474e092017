// reconciler/sealedsecret_controller.h — the SealedSecret controller: turns
// each bosun.dev/v1 SealedSecret into the v1 Secret it seals
// (docs/SECRETS.md).
//
// For a SealedSecret NS/NAME it opens every spec.encryptedData value with
// the cluster's sealing keys (reconciler/sealing_keys.h), checking that each
// was sealed for NS/NAME (crypto/sealed.h scopes), and writes the Secret
// NS/NAME: data = the opened values, type and metadata labels/annotations
// from spec.template, owned by the SealedSecret (ownerReferences
// controller: true, so the garbage collector deletes it with its owner). A
// Secret changed by hand is put back; a SealedSecret changed is applied.
//
// When a value cannot be opened, nothing is written: the previous Secret
// stays as it was. The SealedSecret's status says why, condition Synced
// False with a reason — MalformedValue, UnknownKey, DecryptFailed,
// ScopeMismatch, SecretNotOwned (a Secret of that name exists that this
// SealedSecret does not own), NoSealingKey — and a message naming each
// field ("spec.encryptedData.password: sealed for namespace \"prod\" name
// \"db\", not for namespace \"dev\""); a Warning Event with the same reason
// and message is recorded. Success: Synced True, reason Unsealed, and a
// Normal Event Unsealed when the Secret was created or changed. Values never
// appear in a status, an Event or a log line.
//
// At start the controller makes sure the cluster has a sealing key
// (EnsureSealingKeys, importing options.import_key when given); when the
// keys change (rotation, import) every SealedSecret is reconciled again, so
// one that failed for want of a key opens once the key arrives.
//
// Thread-safety: the controller's reconciles run on the manager's workers.
#pragma once

#include <memory>

#include "core/result.h"
#include "crypto/sealed.h"
#include "reconciler/controller.h"

namespace bosun::reconciler {

inline constexpr const char* kSealedScopeAnnotation = "bosun.dev/sealed-scope";

struct SealedSecretOptions {
  int workers = 2;
  // A key pair to import at start (bosun server --sealing-key-file); null:
  // a random key is created when the cluster has none.
  std::shared_ptr<const crypto::SealingKeyPair> import_key;
};

// Registers the controller (and its SealedSecret and Secret informer
// handlers) with `mgr`; call before mgr.Start. `mgr` needs a client.
Status AddSealedSecretController(ControllerManager& mgr, const SealedSecretOptions& options = {});

}  // namespace bosun::reconciler
