// state/auth.h — who is calling: bearer tokens checked against a tokens file.
//
// The tokens file holds one token per line, as its hash (crypto::HashToken),
// never the token itself:
//
//   # comment
//   3f1c…64 hex digits…  admin  system:masters
//   9a0b…               node-1 system:nodes,bosun:workers
//
// i.e. `HASH USER [GROUP[,GROUP…]]`, fields separated by spaces or tabs;
// blank lines and lines starting with '#' are ignored.
//
// EnsureToken is what `bosun up` / `bosun server` run at start: it creates a
// token the first time (the admin token, the node join token), writes the
// plaintext to a file only its owner can read (mode 0600) and appends the
// hash to the tokens file; later starts reuse it.
//
// Thread-safety: a TokenAuthenticator may be used from any thread; Load and
// Add may run concurrently with Authenticate.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace bosun::state {

struct User {
  std::string name;
  std::vector<std::string> groups;
  bool InGroup(std::string_view group) const;
};

class TokenAuthenticator {
 public:
  // Accepts no token until Load or Add.
  TokenAuthenticator() = default;

  // Reads a tokens file (replacing what was loaded before, so it also serves
  // to reload). NotFound if the file does not exist; kInvalid naming
  // "path:line" for a malformed line (a hash that is not 64 hex digits, no
  // user). On failure the previous set of tokens stays in force.
  Status Load(const std::string& path);

  // Accepts the token whose hash is `hash` as `user`.
  void Add(const std::string& hash, User user);

  // `authorization` is the Authorization header's value ("Bearer <token>",
  // scheme case-insensitive). kUnauthorized when it is empty, not a bearer
  // token, or not a known token. The message never contains the token.
  Result<User> Authenticate(std::string_view authorization) const;

  size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, User> by_hash_;  // guarded by mu_
};

// Makes sure `token_path` holds a token whose hash is in `tokens_path`:
//  * if `token_path` exists, reads the token from it and appends
//    `HASH user groups` to `tokens_path` unless the hash is there already;
//  * else creates a new token (crypto::NewToken), writes it to `token_path`
//    (mode 0600, written to a temporary file and renamed, so a crash never
//    leaves half a token) and appends its line to `tokens_path` (created with
//    mode 0600 if absent).
// Returns the token. kIo when a file cannot be read or written; kInvalid when
// `token_path` exists but holds no token. `groups` is comma-separated.
Result<std::string> EnsureToken(const std::string& tokens_path, const std::string& token_path, const std::string& user,
                                const std::string& groups);

// EnsureToken for the cluster admin: user "admin", group "system:masters".
Result<std::string> EnsureAdminToken(const std::string& tokens_path, const std::string& token_path);

}  // namespace bosun::state
