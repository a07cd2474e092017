// core/labels.h — Kubernetes name, label and key syntax.
//
// Each Check* function tests one of the string formats of
// k8s.io/apimachinery (util/validation and api/validate/content) and returns
// the list of problems Kubernetes would report, worded as Kubernetes words
// them (so a user searching for the message finds the Kubernetes docs). An
// empty list means the string is valid. The checks work on bytes, as
// Kubernetes does: any non-ASCII byte is simply not an allowed character.
// They are pure functions, safe to call from any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bosun {

// The labels (or annotations) of an object: key → value, ordered by key.
using Labels = std::map<std::string, std::string>;

// An RFC 1123 label, e.g. a namespace or most object names' single segment:
// at most 63 characters of [a-z0-9-], starting and ending alphanumeric.
std::vector<std::string> CheckDns1123Label(std::string_view value);

// An RFC 1123 subdomain, e.g. most object names: at most 253 characters,
// dot-separated RFC 1123 labels.
std::vector<std::string> CheckDns1123Subdomain(std::string_view value);

// An RFC 1035 label, e.g. a Service name: like an RFC 1123 label but must
// start with a letter.
std::vector<std::string> CheckDns1035Label(std::string_view value);

// A label or annotation key ("qualified name"): an optional DNS-subdomain
// prefix and "/", then a name of at most 63 characters of [A-Za-z0-9-_.]
// starting and ending alphanumeric ("app", "app.kubernetes.io/name").
std::vector<std::string> CheckQualifiedName(std::string_view value);

// A label value: empty, or at most 63 characters of [A-Za-z0-9-_.] starting
// and ending alphanumeric.
std::vector<std::string> CheckLabelValue(std::string_view value);

// An IANA service name, i.e. a named container port: at most 15 characters of
// [a-z0-9-], at least one letter, no leading, trailing or doubled '-'.
std::vector<std::string> CheckIanaSvcName(std::string_view value);

// A C identifier: [A-Za-z_][A-Za-z0-9_]* (no length limit).
std::vector<std::string> CheckCIdentifier(std::string_view value);

// An environment variable name: [-._a-zA-Z][-._a-zA-Z0-9]*, and not ".",
// ".." or anything starting with "..".
std::vector<std::string> CheckEnvVarName(std::string_view value);

// A ConfigMap or Secret data key: at most 253 characters of [-._a-zA-Z0-9],
// and not ".", ".." or anything starting with "..".
std::vector<std::string> CheckConfigMapKey(std::string_view value);

}  // namespace bosun
