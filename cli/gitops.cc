#include "cli/gitops.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>

#include "cli/client_flags.h"
#include "core/ascii.h"

namespace bosun::cli {
namespace {

const KindInfo& MustFind(const char* kind) {
  const KindInfo* k = KindRegistry::Builtin().Find(GroupVersionKind{"bosun.dev", "v1", kind});
  // Both kinds are in core/kinds.cc's registry; a build without them is a bug.
  if (k == nullptr) {
    std::fprintf(stderr, "bosun: the kind %s is not registered (a bug in this build)\n", kind);
    std::abort();
  }
  return *k;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

bool AllHex(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

int64_t Sequence(const Object& o) {
  const Json& s = Object::Field(o.spec(), "sequence");
  if (s.is_number_integer()) return s.get<int64_t>();
  const std::string name = o.name();
  if (AllDigits(name) && name.size() < 19) return std::stoll(name);
  return -1;
}

std::string CommitOf(const Object& o) {
  const Json& c = Object::Field(o.spec(), "commit");
  if (c.is_string()) return c.get<std::string>();
  return o.label("bosun.dev/commit").value_or("");
}

Error NoSuchRevision(const std::string& rev) {
  return Error(Code::kNotFound, "no revision \"" + rev +
                                    "\" in the history (give a sequence number, a record name or a commit id; "
                                    "`bosun history` lists them)");
}

}  // namespace

const KindInfo& GitRepositoryKind() {
  static const KindInfo& k = MustFind("GitRepository");
  return k;
}

const KindInfo& RevisionKind() {
  static const KindInfo& k = MustFind("Revision");
  return k;
}

Result<Object> GetGitRepository(state::Client& client) {
  auto repo = client.Get(GitRepositoryKind(), "", kGitRepositoryName);
  if (!repo && repo.error().code() == Code::kNotFound) {
    return Error(Code::kNotFound,
                 "this cluster follows no Git repository (there is no GitRepository \"default\"): start `bosun "
                 "server` with --repo URL [--branch B] [--path P] (docs/GITOPS.md); if it was just started, its "
                 "first sync may still be under way");
  }
  return repo;
}

std::string Ago(const std::string& ts) {
  if (ts.empty()) return "";
  std::string age = Age(ts);
  if (age == "<unknown>" || age == "<invalid>") return ts;
  return age + " ago";
}

std::string ShortSha(const std::string& sha) {
  return sha.size() > 7 ? sha.substr(0, 7) : sha;
}

std::string SequenceOf(const Object& revision) {
  int64_t s = Sequence(revision);
  return s >= 0 ? std::to_string(s) : revision.name();
}

std::string OutcomeOf(const Object& revision) {
  const Json& phase = Object::Field(revision.status(), "phase");
  const Json& reason = Object::Field(revision.status(), "reason");
  std::string p = phase.is_string() ? phase.get<std::string>() : "";
  std::string r = reason.is_string() ? reason.get<std::string>() : "";
  if (p.empty()) p = "Pending";
  if (r.empty() || r == p) return p;
  return p + " (" + r + ")";
}

Result<std::vector<Object>> ListRevisions(state::Client& client) {
  std::vector<Object> out;
  std::string cont;
  do {
    auto page = client.List(RevisionKind(), "", "", 500, cont);
    if (!page) return page.error();
    for (Object& o : page->items) out.push_back(std::move(o));
    cont = page->continue_token;
  } while (!cont.empty());
  std::stable_sort(out.begin(), out.end(), [](const Object& a, const Object& b) {
    int64_t sa = Sequence(a), sb = Sequence(b);
    if (sa != sb) return sa > sb;
    return a.name() > b.name();
  });
  return out;
}

Result<Object> FindRevision(state::Client& client, const std::string& raw) {
  std::string rev = AsciiLower(raw);
  if (rev.empty()) return Error(Code::kInvalid, "give a revision: a sequence number, a record name or a commit id");
  if (AllDigits(rev) && rev.size() <= 18) {
    // A record name as written ("00000042"), then the sequence number.
    std::vector<std::string> names = {rev};
    char padded[32];
    std::snprintf(padded, sizeof padded, "%08lld", std::stoll(rev));
    if (padded != rev) names.push_back(padded);
    for (const auto& name : names) {
      auto o = client.Get(RevisionKind(), "", name);
      if (o) return o;
      if (o.error().code() != Code::kNotFound) return o.error();
    }
  }
  if (AllHex(rev) && !AllDigits(rev) && rev.size() < 4) {
    return Error(Code::kInvalid, "\"" + raw +
                                     "\" is too short for a commit id: give at least 4 hex digits (or a "
                                     "sequence number; `bosun history` lists them)");
  }
  if (!AllHex(rev)) return NoSuchRevision(raw);
  std::vector<Object> matches;
  if (rev.size() == 40) {
    auto list = client.List(RevisionKind(), "", "bosun.dev/commit=" + rev);
    if (!list) return list.error();
    matches = std::move(list->items);
  } else {
    auto all = ListRevisions(client);
    if (!all) return all.error();
    for (Object& o : *all) {
      if (AsciiLower(CommitOf(o)).rfind(rev, 0) == 0) matches.push_back(std::move(o));
    }
  }
  if (matches.empty()) return NoSuchRevision(raw);
  std::set<std::string> commits;
  for (const Object& o : matches) commits.insert(CommitOf(o));
  if (commits.size() > 1) {
    std::string list;
    for (const auto& c : commits) list += (list.empty() ? "" : ", ") + ShortSha(c);
    return Error(Code::kInvalid, "\"" + raw + "\" matches " + std::to_string(commits.size()) + " commits (" + list +
                                     "): give more digits");
  }
  // One commit acted on more than once (skipped, then applied): the newest.
  std::stable_sort(matches.begin(), matches.end(),
                   [](const Object& a, const Object& b) { return Sequence(a) > Sequence(b); });
  return matches.front();
}

bool IsSecretField(const std::string& kind, const std::string& field) {
  auto under = [&](const char* prefix) {
    std::string p = prefix;
    return field == p || field.rfind(p + ".", 0) == 0 || field.rfind(p + "[", 0) == 0;
  };
  if (kind == "Secret") return under("data") || under("stringData");
  if (kind == "SealedSecret") return under("spec.encryptedData");
  return false;
}

void ScrubSecretValues(Json* revision) {
  if (!revision->is_object()) return;
  auto status = revision->find("status");
  if (status == revision->end() || !status->is_object()) return;
  auto objects_it = status->find("objects");
  if (objects_it == status->end() || !objects_it->is_array()) return;
  Json& objects = *objects_it;
  for (Json& o : objects) {
    if (!o.is_object()) continue;
    std::string kind = o.value("kind", "");
    if (!o.contains("diff") || !o["diff"].is_array()) continue;
    for (Json& d : o["diff"]) {
      if (!d.is_object()) continue;
      if (IsSecretField(kind, d.value("field", ""))) {
        d.erase("from");
        d.erase("to");
      }
    }
  }
}

std::string ShortValue(const Json& value, size_t max) {
  std::string s = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > max) {
    size_t cut = max;
    // Do not cut a UTF-8 sequence in half.
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    s = s.substr(0, cut) + "…";
  }
  return s;
}

std::string FormatFieldChange(const std::string& kind, const Json& change) {
  std::string field = change.value("field", "?");
  std::string op = change.value("op", "changed");
  bool hidden = IsSecretField(kind, field);
  bool has_from = change.contains("from") && !hidden;
  bool has_to = change.contains("to") && !hidden;
  if (op == "added") {
    if (!has_to) return "+ " + field + " (added, value hidden)";
    return "+ " + field + ": " + ShortValue(change["to"]);
  }
  if (op == "removed") {
    if (!has_from) return "- " + field + " (removed, value hidden)";
    return "- " + field + ": " + ShortValue(change["from"]);
  }
  if (!has_from && !has_to) return "~ " + field + " (changed, value hidden)";
  return "~ " + field + ": " + (has_from ? ShortValue(change["from"]) : "?") + " → " +
         (has_to ? ShortValue(change["to"]) : "?");
}

}  // namespace bosun::cli
