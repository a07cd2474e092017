// state/secret_redaction.h — how a Secret's values are hidden where they must
// not be shown: API responses to users who may not read them, `bosun get` and
// `bosun describe` without --reveal.
//
// A redacted value is the string "<redacted N bytes>", N being the length of
// the value itself (the decoded length for base64 `data`, the string's length
// for `stringData`), so a person can still see which keys exist and whether a
// value is empty. Only the values of `data` and `stringData` are replaced,
// and kubectl's last-applied-configuration annotation (it holds the data);
// keys, the rest of metadata and `type` stay.
//
// Who reads values through the API (docs/SECURITY.md): members of
// system:masters (the admin token, the controllers inside `bosun server`)
// all of them; system:nodes (node daemons mount Secrets into pods) those of
// every namespace but bosun-system, which holds the cluster's own keys (the
// sealing keys, the signing key), as Kubernetes' NodeRestriction keeps
// nodes from the control plane's Secrets. Every other user gets Secrets
// redacted, from get, list, watch, writes and the batch endpoint.
//
// Pure functions on JSON; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "core/object.h"
#include "state/auth.h"

namespace bosun::state {

// "<redacted 12 bytes>".
std::string RedactedValue(size_t bytes);

// The length of a Secret's value: decoded for base64 `data`, the string's
// own for `stringData` (as RedactedValue counts it).
size_t SecretValueLength(const Json& value, bool base64);

// True for a `v1 Secret` object.
bool IsSecretObject(const Json& object);

// The namespace of the cluster's own Secrets (keys), hidden from nodes.
inline constexpr const char* kSystemSecretsNamespace = "bosun-system";

// Whose Secret values a reader may see.
enum class SecretAccess {
  kNone,       // no values
  kWorkloads,  // every namespace but kSystemSecretsNamespace
  kAll,
};

// system:masters → kAll, system:nodes → kWorkloads, anyone else → kNone.
SecretAccess SecretAccessOf(const User& user);

// Replaces each value of data and stringData of a Secret with RedactedValue,
// unless `access` lets the reader see this Secret. Anything that is not a
// Secret is left alone. True when it changed something.
bool RedactSecret(Json& object, SecretAccess access = SecretAccess::kNone);

// RedactSecret on an API body: one object, or every element of "items" (a
// list, a BatchResult), or the "object" of a watch event.
void RedactSecrets(Json& body, SecretAccess access = SecretAccess::kNone);

// A copy of `body` with RedactSecrets applied, or nothing when `body` holds
// no Secret hidden from `access` (the common case: no copy is made).
std::optional<Json> RedactedCopy(const Json& body, SecretAccess access = SecretAccess::kNone);

}  // namespace bosun::state
