// reconciler/signing_key.h — the cluster's own ed25519 signing key, which
// signs the revert commits bosun pushes (DESIGN.md §4) and which signature
// verification trusts by default (docs/GITOPS.md "Signed commits").
//
// The key pair lives in the state store as the v1 Secret
// bosun-system/signing-key (type bosun.dev/ssh-signing-key, data
// "ed25519": base64 of libsodium's 64-byte secret key), so it is encrypted
// at rest with every other Secret and readable only with an identity that
// may read Secret values. Its public half is copied into the ConfigMap
// bosun-system/signing-key for people and tools: publicKey ("ssh-ed25519
// AAAA… bosun-cluster"), fingerprint ("SHA256:…"), and allowedSigners (a
// line to paste into an allowed-signers file, git's
// gpg.ssh.allowedSignersFile, so `git verify-commit` accepts bosun's
// reverts).
//
// EnsureClusterSigningKey is called by the leader when it starts: the
// first one creates the key; creation is an atomic Create in the store, so
// two members racing (a leadership change) end with one key, the loser
// reading the winner's. The ConfigMap is rewritten when it does not match
// the Secret. The secret key never appears in logs, errors or records; every
// copy of it is wiped after use.
//
// Thread-safe: functions hold no state; the client is the caller's.
#pragma once

#include <string>

#include "core/result.h"
#include "crypto/sshsig.h"
#include "gitsync/revert.h"
#include "reconciler/system_namespace.h"
#include "state/client.h"

namespace bosun::reconciler {

inline constexpr const char* kSystemNamespace = kBosunSystemNamespace;
inline constexpr const char* kSigningKeyName = "signing-key";
inline constexpr const char* kSigningKeySecretType = "bosun.dev/ssh-signing-key";
// The principal the cluster key is listed under in allowed-signers lines.
inline constexpr const char* kClusterPrincipal = "bosun@cluster.local";

// Creates the key when there is none (and the bosun-system Namespace),
// makes the ConfigMap match, and returns the public key. Errors: the API
// cannot be reached (kUnavailable and friends), or the Secret exists but
// holds no valid key (kInvalid, naming the Secret — never its content).
Result<crypto::SshPublicKey> EnsureClusterSigningKey(state::Client& client);

// The public key, derived from the Secret (the ConfigMap is only a copy).
// kNotFound when no key was made yet.
Result<crypto::SshPublicKey> ReadClusterSigningKey(state::Client& client);

// A gitsync::Signer that signs with the cluster key (read from the Secret on
// each call, wiped after): SSH signature, namespace "git", as `git commit
// -S` with gpg.format=ssh makes it. `client` must outlive the signer.
gitsync::Signer ClusterCommitSigner(state::Client* client);

}  // namespace bosun::reconciler
