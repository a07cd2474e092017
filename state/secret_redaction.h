// state/secret_redaction.h — how a Secret's values are hidden where they must
// not be shown: API responses to users who may not read them, `bosun get` and
// `bosun describe` without --reveal.
//
// A redacted value is the string "<redacted N bytes>", N being the length of
// the value itself (the decoded length for base64 `data`, the string's length
// for `stringData`), so a person can still see which keys exist and whether a
// value is empty. Only the values of `data` and `stringData` are replaced;
// keys, metadata and `type` stay.
//
// Who reads values through the API (docs/SECURITY.md): members of
// system:masters (the admin token, the controllers inside `bosun server`) and
// system:nodes (node daemons mount Secrets into pods). Every other user gets
// Secrets redacted, from get, list, watch, writes and the batch endpoint.
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

// True for a `v1 Secret` object.
bool IsSecretObject(const Json& object);

// Replaces each value of data and stringData of a Secret with RedactedValue.
// Anything that is not a Secret is left alone. True when it changed something.
bool RedactSecret(Json& object);

// RedactSecret on an API body: one object, or every element of "items" (a
// list, a BatchResult), or the "object" of a watch event.
void RedactSecrets(Json& body);

// A copy of `body` with RedactSecrets applied, or nothing when `body` holds
// no Secret (the common case: no copy is made).
std::optional<Json> RedactedCopy(const Json& body);

// True when `user` may read Secret values (system:masters, system:nodes).
bool MaySeeSecretValues(const User& user);

}  // namespace bosun::state
