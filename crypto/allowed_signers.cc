// Allowed-signers files (ssh-keygen(1) ALLOWED SIGNERS; git's
// gpg.ssh.allowedSignersFile): parsing and look-up (crypto/sshsig.h).
#include <cctype>
#include <ctime>
#include <fstream>
#include <sstream>

#include "crypto/printable.h"
#include "crypto/sshsig.h"
#include "core/ascii.h"

namespace bosun::crypto {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

// The next white-space separated token; double quotes group (and are kept).
// false when a quote is not closed.
bool NextToken(std::string_view* line, std::string* token) {
  while (!line->empty() && IsSpace(line->front())) line->remove_prefix(1);
  token->clear();
  bool quoted = false;
  size_t i = 0;
  for (; i < line->size(); ++i) {
    char c = (*line)[i];
    if (c == '"') quoted = !quoted;
    if (!quoted && IsSpace(c)) break;
  }
  token->assign(line->substr(0, i));
  line->remove_prefix(i);
  return !quoted;
}

std::string Unquote(const std::string& s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

// Splits at commas outside double quotes.
std::vector<std::string> SplitOptions(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char c : s) {
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

// User text as it may appear in a message: printable ASCII, at most 60 bytes.
std::string Shown(std::string_view s) { return PrintableExcerpt(s, 60); }

bool LooksLikeKeyType(const std::string& t) {
  return t.rfind("ssh-", 0) == 0 || t.rfind("ecdsa-", 0) == 0 || t.rfind("sk-", 0) == 0 ||
         t.find("@openssh.com") != std::string::npos;
}

// YYYYMMDD[HHMM[SS]][Z] as ssh-keygen reads it: UTC with Z, local time without.
std::optional<int64_t> ParseSshTime(std::string s) {
  bool utc = !s.empty() && (s.back() == 'Z' || s.back() == 'z');
  if (utc) s.pop_back();
  if (s.size() != 8 && s.size() != 12 && s.size() != 14) return std::nullopt;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = std::stoi(s.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(s.substr(4, 2)) - 1;
  tm.tm_mday = std::stoi(s.substr(6, 2));
  if (s.size() >= 12) {
    tm.tm_hour = std::stoi(s.substr(8, 2));
    tm.tm_min = std::stoi(s.substr(10, 2));
  }
  if (s.size() == 14) tm.tm_sec = std::stoi(s.substr(12, 2));
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_isdst = -1;
  time_t t = utc ? timegm(&tm) : mktime(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return static_cast<int64_t>(t);
}

std::string FormatTime(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Status ParseOptions(const std::string& text, const std::string& where, AllowedSigner* e) {
  for (const std::string& opt : SplitOptions(text)) {
    std::string name = opt.substr(0, opt.find('='));
    std::string value = opt.find('=') == std::string::npos ? "" : Unquote(opt.substr(opt.find('=') + 1));
    std::string lower = AsciiLower(name);
    if (lower == "cert-authority") {
      return Error(Code::kInvalid, where + ": cert-authority is not supported: list each signer's own key");
    }
    if (lower == "namespaces") {
      for (const std::string& n : SplitOptions(value)) {
        if (!n.empty()) e->namespaces.push_back(n);
      }
      if (e->namespaces.empty()) return Error(Code::kInvalid, where + ": namespaces= lists no namespace");
    } else if (lower == "valid-after" || lower == "valid-before") {
      auto t = ParseSshTime(value);
      if (!t) {
        return Error(Code::kInvalid, where + ": " + lower + "=\"" + Shown(value) +
                                         "\" is not a time (want YYYYMMDD[HHMM[SS]][Z], e.g. 20260101Z)");
      }
      (lower == "valid-after" ? e->valid_after : e->valid_before) = *t;
    } else {
      return Error(Code::kInvalid, where + ": unknown option \"" + Shown(name) +
                                       "\" (known: namespaces, valid-after, valid-before)");
    }
  }
  return Ok();
}

}  // namespace

Result<AllowedSigners> ParseAllowedSigners(std::string_view text, const std::string& file) {
  AllowedSigners out;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    std::string where = file + ":" + std::to_string(line_no);
    while (!line.empty() && IsSpace(line.front())) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;

    AllowedSigner e;
    e.where = where;
    std::string token;
    if (!NextToken(&line, &token)) return Error(Code::kInvalid, where + ": a quote is not closed");
    e.principals = Unquote(token);
    if (e.principals.empty()) return Error(Code::kInvalid, where + ": no principals");
    if (!NextToken(&line, &token) || token.empty()) {
      return Error(Code::kInvalid, where + ": want \"PRINCIPALS [OPTIONS] KEY-TYPE BASE64-KEY\", found no key");
    }
    if (!LooksLikeKeyType(token)) {
      if (Status s = ParseOptions(token, where, &e); !s) return s.error();
      if (!NextToken(&line, &token) || token.empty()) {
        return Error(Code::kInvalid, where + ": want \"PRINCIPALS [OPTIONS] KEY-TYPE BASE64-KEY\", found no key");
      }
    }
    std::string type = token;
    if (!NextToken(&line, &token) || token.empty()) {
      return Error(Code::kInvalid, where + ": the " + Shown(type) + " key has no base64 data");
    }
    if (type != kSshEd25519) {
      if (!LooksLikeKeyType(type)) {
        return Error(Code::kInvalid, where + ": \"" + Shown(type) + "\" is neither an option nor a key type");
      }
      out.warnings.push_back(where + ": skipped: key type " + Shown(type) +
                             " is not supported (bosun verifies ssh-ed25519)");
      continue;
    }
    auto key = ParseSshPublicKey(type + " " + token);
    if (!key) return key.error().Wrap(where);
    e.key = std::move(*key);
    out.entries.push_back(std::move(e));
  }
  return out;
}

Result<AllowedSigners> LoadAllowedSigners(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Code::kIo, "cannot read the allowed signers file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Error(Code::kIo, "cannot read the allowed signers file " + path);
  return ParseAllowedSigners(ss.str(), path);
}

const AllowedSigner* AllowedSigners::Find(const SshPublicKey& key, std::string_view ns, int64_t when,
                                          std::string* why_not) const {
  if (why_not != nullptr) why_not->clear();
  for (const AllowedSigner& e : entries) {
    if (!(e.key == key)) continue;
    std::string reason;
    if (!e.namespaces.empty()) {
      bool found = false;
      for (const std::string& n : e.namespaces) found = found || n == ns || n == "*";
      if (!found) reason = "listed at " + e.where + " but not for namespace \"" + std::string(ns) + "\"";
    }
    if (reason.empty() && e.valid_after && when < *e.valid_after) {
      reason = "listed at " + e.where + " but only valid after " + FormatTime(*e.valid_after);
    }
    if (reason.empty() && e.valid_before && when > *e.valid_before) {
      reason = "listed at " + e.where + " but only valid before " + FormatTime(*e.valid_before);
    }
    if (reason.empty()) return &e;
    if (why_not != nullptr && why_not->empty()) *why_not = reason;
  }
  return nullptr;
}

}  // namespace bosun::crypto
