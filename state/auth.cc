#include "state/auth.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ascii.h"
#include "crypto/tokens.h"

namespace bosun::state {
namespace {

bool IsHexHash(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

Error Errno(const std::string& what, const std::string& path) {
  return Error(Code::kIo, what + " " + path + ": " + std::strerror(errno));
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Ok();
}

// The lines of a file; NotFound if it does not exist.
Result<std::vector<std::string>> ReadLines(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Error(Code::kNotFound, path + ": no such file");
    return Errno("cannot read", path);
  }
  std::ifstream in(path);
  if (!in) return Errno("cannot read", path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  if (in.bad()) return Errno("cannot read", path);
  return lines;
}

}  // namespace

bool User::InGroup(std::string_view group) const {
  for (const auto& g : groups) {
    if (g == group) return true;
  }
  return false;
}

Status TokenAuthenticator::Load(const std::string& path) {
  auto lines = ReadLines(path);
  if (!lines) return lines.error();
  std::map<std::string, User> parsed;
  int n = 0;
  for (const std::string& raw : *lines) {
    ++n;
    std::string_view line = TrimAscii(raw);
    if (line.empty() || line.front() == '#') continue;
    std::istringstream fields{std::string(line)};
    std::string hash, user, groups;
    fields >> hash >> user >> groups;
    std::string where = path + ":" + std::to_string(n) + ": ";
    if (!IsHexHash(hash)) {
      return Error(Code::kInvalid,
                   where + "the first field must be a token hash (64 hex digits: the BLAKE2b-256 hash of the token)");
    }
    if (user.empty()) return Error(Code::kInvalid, where + "missing user name after the hash");
    std::string rest;
    if (fields >> rest) return Error(Code::kInvalid, where + "unexpected field \"" + rest + "\" after the groups");
    parsed[AsciiLower(hash)] = User{user, SplitNonEmpty(groups, ',', /*trim=*/true)};
  }
  std::unique_lock lock(mu_);
  by_hash_ = std::move(parsed);
  return Ok();
}

void TokenAuthenticator::Add(const std::string& hash, User user) {
  std::unique_lock lock(mu_);
  by_hash_[AsciiLower(hash)] = std::move(user);
}

size_t TokenAuthenticator::size() const {
  std::shared_lock lock(mu_);
  return by_hash_.size();
}

Result<User> TokenAuthenticator::Authenticate(std::string_view authorization) const {
  authorization = TrimAscii(authorization);
  if (authorization.empty()) return Error(Code::kUnauthorized, "missing Authorization header (want: Bearer <token>)");
  size_t space = authorization.find(' ');
  if (space == std::string_view::npos || AsciiLower(authorization.substr(0, space)) != "bearer") {
    return Error(Code::kUnauthorized, "the Authorization header is not a bearer token (want: Bearer <token>)");
  }
  std::string_view token = TrimAscii(authorization.substr(space + 1));
  if (token.empty()) return Error(Code::kUnauthorized, "empty bearer token");
  // Looking the hash up in a map is not constant-time, but what it could leak
  // is how a guess's BLAKE2b hash compares to a stored hash, which says
  // nothing about the token; the final comparison is constant-time anyway.
  std::string hash = crypto::HashToken(token);
  std::shared_lock lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end() || !crypto::TokenMatches(token, it->first)) {
    return Error(Code::kUnauthorized, "invalid bearer token");
  }
  return it->second;
}

Result<std::string> EnsureToken(const std::string& tokens_path, const std::string& token_path, const std::string& user,
                                const std::string& groups) {
  if (Status s = crypto::Init(); !s) return s.error();
  std::string token;
  // Members started together may share one token file (--admin-token-file):
  // the first to publish its new token wins, and the others read it, so all
  // accept the same token.
  for (int attempt = 0; token.empty(); ++attempt) {
    if (auto existing = ReadLines(token_path); existing) {
      for (const auto& l : *existing) {
        if (!TrimAscii(l).empty()) {
          token = std::string(TrimAscii(l));
          break;
        }
      }
      if (token.empty())
        return Error(Code::kInvalid, token_path + ": the file holds no token; delete it to make a new one");
      break;
    } else if (existing.error().code() != Code::kNotFound || attempt > 0) {
      return existing.error();
    }
    std::string fresh = crypto::NewToken();
    // A random name: members in separate containers sharing the file may
    // all be pid 1.
    const std::string tmp = token_path + ".tmp." + crypto::NewToken().substr(0, 16);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("cannot create", tmp);
    Status w = WriteAll(fd, fresh + "\n", tmp);
    if (w && ::fsync(fd) != 0) w = Errno("cannot sync", tmp);
    ::close(fd);
    // link, unlike rename, never replaces a token another member published.
    bool lost = false;
    if (w && ::link(tmp.c_str(), token_path.c_str()) != 0) {
      if (errno == EEXIST) {
        lost = true;
      } else if (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP) {
        // A file system without hard links: rename (the last one wins).
        if (::rename(tmp.c_str(), token_path.c_str()) != 0) w = Errno("cannot rename to", token_path);
      } else {
        w = Errno("cannot create", token_path);
      }
    }
    ::unlink(tmp.c_str());
    if (!w) return w.error();
    if (!lost) token = std::move(fresh);
  }

  std::string hash = crypto::HashToken(token);
  if (auto lines = ReadLines(tokens_path); lines) {
    for (const auto& l : *lines) {
      std::istringstream fields(l);
      std::string h;
      fields >> h;
      if (AsciiLower(h) == hash) return token;
    }
  } else if (lines.error().code() != Code::kNotFound) {
    return lines.error();
  }
  int fd = ::open(tokens_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot open", tokens_path);
  std::string line = hash + " " + user;
  if (!groups.empty()) line += " " + groups;
  Status w = WriteAll(fd, line + "\n", tokens_path);
  if (w && ::fsync(fd) != 0) w = Errno("cannot sync", tokens_path);
  ::close(fd);
  if (!w) return w.error();
  return token;
}

Result<std::string> EnsureAdminToken(const std::string& tokens_path, const std::string& token_path) {
  return EnsureToken(tokens_path, token_path, "admin", "system:masters");
}

}  // namespace bosun::state
