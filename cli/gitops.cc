#include "cli/gitops.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string_view>

#include "cli/client_flags.h"
#include "cli/member_settings.h"
#include "core/ascii.h"
#include "reconciler/history.h"

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
    // Members that disagree on the source hold the first sync, which writes
    // the GitRepository: that is why, not a missing --repo.
    if (auto members = client.Members()) {
      if (auto conflict = GitOpsSourceConflict(Object::Field(*members, "items"))) {
        return Error(Code::kNotFound, "the GitRepository is not written yet: " + *conflict);
      }
    }
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
  std::string out = r.empty() || r == p ? p : p + " (" + r + ")";
  // A force-push took its commit off the branch (status.droppedBy).
  if (const Json& dropped = Object::Field(revision.status(), "droppedBy"); dropped.is_object()) {
    const std::string by = StringField(dropped, "revision");
    out += ", force-pushed away";
    if (!by.empty()) out += " (" + reconciler::RevisionNumber(by) + ")";
  }
  // Skipped, but its changes went live with a later commit's revision.
  if (const Json& with = Object::Field(revision.status(), "appliedWith"); with.is_object()) {
    const std::string by = StringField(with, "revision");
    if (!by.empty()) out += ", applied with " + reconciler::RevisionNumber(by);
  }
  return out;
}

std::string DescribeRecord(const Object& rec) {
  std::string summary = StringField(rec.spec(), "message");
  summary = summary.substr(0, summary.find('\n'));
  std::string out = "revision " + SequenceOf(rec) + " (" + ShortSha(StringField(rec.spec(), "commit")) + " \"" +
                    summary + "\"): " + OutcomeOf(rec);
  if (const std::string msg = StringField(rec.status(), "message"); !msg.empty()) out += " — " + msg;
  return Printable(out);  // one line, safe for a terminal: the subject is the repository's
}

bool RecordFailed(const Object& rec) {
  const std::string p = StringField(rec.status(), "phase");
  return p == "Refused" || p == "Failed" || p == "Degraded";
}

std::string StringField(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string RevertSummary(const Json& revert) {
  if (!revert.is_object() || revert.empty()) return "";
  const bool automatic = Object::Field(revert, "automatic") == true;
  const std::string how = automatic ? "automatic" : "by hand";
  const std::string reason = StringField(revert, "reason");
  if (!StringField(revert, "commit").empty()) {
    if (const Json& no = Object::Field(revert, "notApplied"); no.is_object()) {
      // Pushed, but its own revision was refused or failed.
      return how + ", pushed " + ShortSha(StringField(revert, "commit")) + ", but revision " +
             reconciler::RevisionNumber(StringField(no, "revision")) + " of it was not applied (" +
             StringField(no, "reason") + "): the cluster is NOT rolled back (needs a human)";
    }
    std::string back;
    if (const Json& to = Object::Field(revert, "backTo"); to.is_object()) {
      // A revert of several commits, back to a revision's state.
      const Json& n = Object::Field(to, "commits");
      const int64_t commits = n.is_number_integer() ? n.get<int64_t>() : 0;
      const std::string rev = StringField(to, "revision");
      back = ", undoing " + (commits > 0 ? std::to_string(commits) + " commits" : std::string("the commits")) +
             " back to " + ShortSha(StringField(to, "commit")) +
             (rev.empty() ? "" : " (revision " + reconciler::RevisionNumber(rev) + ")");
    }
    return how + ", pushed " + ShortSha(StringField(revert, "commit")) + back +
           (reason.empty() ? "" : " (" + reason + ")");
  }
  // The branch head already undid it: nothing was needed.
  if (Object::Field(revert, "notNeeded") == true) return how + ", not needed: " + StringField(revert, "message");
  // Not the newest applied revision when it turned Degraded: none was made.
  if (!automatic && !revert.contains("request")) return "none (needs a human): " + StringField(revert, "error");
  return how + ", failed" + (Object::Field(revert, "needsHuman") == true ? " (needs a human)" : "") + ": " +
         StringField(revert, "error");
}

std::string PollIntervalOf(const Object& repo) {
  const std::string in_force = StringField(Object::Field(repo.status(), "syncConfig"), "interval");
  return in_force.empty() ? StringField(repo.spec(), "interval") : in_force;
}

std::string RevertLineOf(const Json& status) {
  // A revert being retried is what happens now (a request by hand may
  // follow an earlier note); it goes once the revert is recorded.
  const Json& pending = Object::Field(status, "revertPending");
  if (pending.is_object()) {
    return std::string(Object::Field(pending, "automatic") == true ? "automatic" : "by hand") +
           ", not pushed yet (retrying since " + StringField(pending, "since") + "): " + StringField(pending, "error");
  }
  return RevertSummary(Object::Field(status, "revert"));
}

std::string DegradedSummary(const Json& degraded) {
  if (!degraded.is_object() || degraded.empty()) return "";
  std::string out = StringField(degraded, "reason");
  if (!StringField(degraded, "at").empty()) out += " at " + StringField(degraded, "at");
  if (!StringField(degraded, "message").empty()) out += ": " + StringField(degraded, "message");
  const std::string revert = RevertSummary(Object::Field(degraded, "revert"));
  if (!revert.empty()) out += "; revert: " + revert;
  return out;
}

Result<std::vector<Object>> RecordsOfCommit(state::Client& client, const std::string& commit) {
  auto list = client.List(RevisionKind(), "", std::string(reconciler::kCommitLabel) + "=" + commit);
  if (!list) return list.error();
  return std::move(list->items);
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

std::string RemovedRecordsNote(const std::vector<Object>& records) {
  if (records.empty()) return "";
  // Newest first: the runs of sequence numbers missing below the newest. A
  // record the limit held (still rolling out, or left to a person) leaves
  // the ones around it removed, so there may be several.
  std::vector<std::pair<int64_t, int64_t>> gaps;  // oldest first
  int64_t next = 1;
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    const int64_t seq = Sequence(*it);
    if (seq > next) gaps.push_back({next, seq - 1});
    next = std::max(next, seq + 1);
  }
  if (gaps.empty()) return "";
  int64_t removed = 0;
  std::string list;
  for (size_t i = 0; i < gaps.size(); ++i) {
    const auto [from, to] = gaps[i];
    removed += to - from + 1;
    if (i < 6) {
      list += i == 0 ? "" : (i + 1 == gaps.size() ? " and " : ", ");
      list += from == to ? std::to_string(from) : std::to_string(from) + "–" + std::to_string(to);
    } else if (i == 6) {
      list += " and " + std::to_string(gaps.size() - 6) + " more runs";
    }
  }
  std::string note = (removed == 1 ? "Revision " + list + " was" : "Revisions " + list + " were") +
                     std::string(" removed by the history limit");
  if (gaps.size() > 1) note += " (the records between were held: still rolling out, or left to a person)";
  return note + "; the oldest kept is revision " + std::to_string(Sequence(records.back()));
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
  std::string removed;  // a sequence number before the oldest kept: removed, not never made
  std::optional<std::vector<Object>> all;  // every record, newest first, once listed
  if (rev.size() == 40) {
    auto list = RecordsOfCommit(client, rev);
    if (!list) return list.error();
    matches = std::move(*list);
  } else {
    auto list = ListRevisions(client);
    if (!list) return list.error();
    all = std::move(*list);
    if (AllDigits(rev) && rev.size() <= 18 && !all->empty() && std::stoll(rev) > 0 &&
        std::stoll(rev) < Sequence(all->front())) {
      removed =
          "revision " + std::to_string(std::stoll(rev)) + " is no longer in the history: " + RemovedRecordsNote(*all);
    }
    // A short number is a sequence number, never a commit prefix.
    for (const Object& o : *all) {
      if (rev.size() >= 4 && AsciiLower(CommitOf(o)).rfind(rev, 0) == 0) matches.push_back(o);
    }
  }
  if (matches.empty() && removed.empty() && rev.size() >= 7) {
    // A commit with no record of its own (a merged branch's, or one of a
    // push that was not recorded Skipped): the revision that brought it.
    if (!all) {
      auto list = ListRevisions(client);
      if (!list) return list.error();
      all = std::move(*list);
    }
    for (Object& o : *all) {  // newest first
      const Json& brings = Object::Field(o.spec(), "brings");
      if (std::any_of(brings.begin(), brings.end(),
                      [&](const Json& c) { return AsciiLower(StringField(c, "commit")).rfind(rev, 0) == 0; })) {
        return std::move(o);
      }
    }
  }
  if (matches.empty()) return removed.empty() ? NoSuchRevision(raw) : Error(Code::kNotFound, removed);
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
  const bool last_applied = field == std::string("metadata.annotations[") + kLastAppliedAnnotation + "]";
  if (kind == "Secret") return under("data") || under("stringData") || last_applied;
  if (kind == "SealedSecret") return under("spec.encryptedData") || last_applied;
  return false;
}

void ScrubSecretValues(Json* revision) {
  if (!revision->is_object()) return;
  auto status = revision->find("status");
  if (status == revision->end() || !status->is_object()) return;
  // The objects' diffs, and the fields the cluster owns.
  for (auto [list, changes] : {std::pair{"objects", "diff"}, {"ignoredDifferences", "fields"}}) {
    auto it = status->find(list);
    if (it == status->end() || !it->is_array()) continue;
    for (Json& o : *it) {
      if (!o.is_object()) continue;
      std::string kind = o.value("kind", "");
      if (!o.contains(changes) || !o[changes].is_array()) continue;
      for (Json& d : o[changes]) {
        if (!d.is_object()) continue;
        if (IsSecretField(kind, d.value("field", ""))) {
          d.erase("from");
          d.erase("to");
        }
      }
    }
  }
}

std::string ShortValue(const Json& value, size_t max) {
  std::string s = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > max) {
    s = s.substr(0, Utf8CutPoint(s, max)) + "…";
  }
  return s;
}

namespace {

// Two long values that differ: each shown from a little before where they
// first differ ("…" says what was cut), so a digest bumped at the end of a
// long image name, or one parameter of a long URL, is seen.
std::pair<std::string, std::string> ShortPair(const Json& from, const Json& to, size_t max = 120) {
  std::string a = from.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string b = to.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (a.size() <= max && b.size() <= max) return {a, b};
  size_t same = 0;
  while (same < a.size() && same < b.size() && a[same] == b[same]) ++same;
  constexpr size_t kBefore = 40;  // context kept before the first difference
  size_t start = same > kBefore ? same - kBefore : 0;
  while (start > 0 && (static_cast<unsigned char>(a[start]) & 0xC0) == 0x80) --start;  // a character's start
  auto cut = [&](const std::string& s) {
    std::string out = start > 0 ? "…" + s.substr(start) : s;
    const size_t limit = max + (start > 0 ? 3 : 0);
    if (out.size() > limit) out = out.substr(0, Utf8CutPoint(out, limit)) + "…";
    return out;
  };
  return {cut(a), cut(b)};
}

}  // namespace

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
  if (has_from && has_to) {
    const auto [from, to] = ShortPair(change["from"], change["to"]);
    return "~ " + field + ": " + from + " → " + to;
  }
  return "~ " + field + ": " + (has_from ? ShortValue(change["from"]) : "?") + " → " +
         (has_to ? ShortValue(change["to"]) : "?");
}

std::string FormatIgnoredChange(const std::string& kind, const Json& change) {
  const std::string field = change.value("field", "?");
  const std::string op = change.value("op", "changed");
  if (IsSecretField(kind, field) || (!change.contains("from") && !change.contains("to"))) {
    return field + ": the live value differs from the repository's (value hidden)";
  }
  const std::string live = op == "added" ? "none" : ShortValue(change.value("from", Json()));
  const std::string repo = op == "removed" ? "none" : ShortValue(change.value("to", Json()));
  return field + ": live " + live + ", repository " + repo;
}

std::string ObjectName(const Json& o) {
  auto str = [&](const char* key, const char* missing) {
    return o.is_object() && o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : std::string(missing);
  };
  std::string ns = str("namespace", "");
  return str("kind", "?") + " " + (ns.empty() ? "" : ns + "/") + str("name", "?");
}

namespace {

// `text`'s lines; a final newline does not start another line.
std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// One line of a value for a terminal: control characters (an escape
// sequence in a commit must not drive the auditor's terminal) as \xNN, cut at
// about `max` bytes with "…".
std::string PrintableLine(std::string_view line, size_t max = 160) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (out.size() >= max) {
      while (i < line.size() && (static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) out.push_back(line[i++]);
      return out + "…";
    }
    const auto c = static_cast<unsigned char>(line[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

}  // namespace

const char* ChangeMark(const std::string& action) {
  if (action == "created") return "+";
  if (action == "deleted") return "-";
  if (action == "replaced") return "-/+";
  if (action == "unchanged") return "=";
  return "~";
}

std::string ReplacedBecause(const std::vector<std::string>& immutable_fields) {
  std::string fields;
  for (const std::string& f : immutable_fields) fields += (fields.empty() ? "" : ", ") + f;
  return "deleted and created again: " + fields + (immutable_fields.size() == 1 ? " is" : " are") + " immutable";
}

std::vector<std::string> FormatFieldChangeLines(const std::string& kind, const Json& change) {
  const std::string field = change.value("field", "?");
  const bool text = change.value("op", "changed") == "changed" && !IsSecretField(kind, field) &&
                    change.contains("from") && change.contains("to") && change["from"].is_string() &&
                    change["to"].is_string();
  if (!text) return {FormatFieldChange(kind, change)};
  const std::string& from = change["from"].get_ref<const std::string&>();
  const std::string& to = change["to"].get_ref<const std::string&>();
  if (from.find('\n') == std::string::npos && to.find('\n') == std::string::npos) {
    return {FormatFieldChange(kind, change)};
  }
  const std::vector<std::string_view> a = SplitLines(from), b = SplitLines(to);
  const size_t n = a.size(), m = b.size();
  size_t pre = 0;
  while (pre < n && pre < m && a[pre] == b[pre]) ++pre;
  size_t suf = 0;
  while (suf < n - pre && suf < m - pre && a[n - 1 - suf] == b[m - 1 - suf]) ++suf;
  const size_t rows = n - pre - suf, cols = m - pre - suf;
  // A longest common subsequence of the lines that differ; past ~4M cells
  // (two 2,000-line texts rewritten whole) the one-line form is shown.
  if ((rows + 1) * (cols + 1) > 4'000'000) return {FormatFieldChange(kind, change)};
  std::vector<uint32_t> lcs((rows + 1) * (cols + 1), 0);
  auto at = [&](size_t i, size_t j) -> uint32_t& { return lcs[i * (cols + 1) + j]; };
  for (size_t i = rows; i-- > 0;) {
    for (size_t j = cols; j-- > 0;) {
      at(i, j) = a[pre + i] == b[pre + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
    }
  }
  struct Edit {
    char mark;  // ' ', '-', '+'
    std::string_view line;
    size_t new_line;  // 1-based line of the new text it is at or before
  };
  std::vector<Edit> edits;
  for (size_t k = 0; k < pre; ++k) edits.push_back({' ', a[k], k + 1});
  size_t i = 0, j = 0, removed = 0, added = 0;
  while (i < rows || j < cols) {
    if (i < rows && j < cols && a[pre + i] == b[pre + j]) {
      edits.push_back({' ', a[pre + i], pre + j + 1});
      ++i;
      ++j;
    } else if (i < rows && (j == cols || at(i + 1, j) >= at(i, j + 1))) {
      // Removals first, as git shows them.
      edits.push_back({'-', a[pre + i], pre + j + 1});
      ++i;
      ++removed;
    } else {
      edits.push_back({'+', b[pre + j], pre + j + 1});
      ++j;
      ++added;
    }
  }
  for (size_t k = 0; k < suf; ++k) edits.push_back({' ', a[n - suf + k], m - suf + k + 1});

  // Only a final newline came or went: no line differs, and the one-line
  // form shows the "\n" that does.
  if (removed + added == 0) return {FormatFieldChange(kind, change)};
  auto count = [](size_t k, const char* what) { return std::to_string(k) + (k == 1 ? " line " : " lines ") + what; };
  std::string summary = removed > 0 && added > 0 ? count(removed, "removed") + ", " + count(added, "added")
                        : removed > 0            ? count(removed, "removed")
                                                 : count(added, "added");
  std::vector<std::string> out{"~ " + field + ": " + summary + " (of " + std::to_string(m) + "):"};
  // Each change with one line of context around it, as `git diff -U1`.
  constexpr size_t kContext = 1;
  size_t printed = 0;  // edits before this index are printed
  for (size_t k = 0; k < edits.size();) {
    if (edits[k].mark == ' ') {
      ++k;
      continue;
    }
    const size_t first = std::max(k >= kContext ? k - kContext : 0, printed);
    // Through the run of changes and the context after it; changes closer
    // than twice the context join into one hunk.
    size_t last = k;
    for (size_t e = k + 1; e < edits.size(); ++e) {
      if (edits[e].mark != ' ') {
        last = e;
      } else if (e - last > 2 * kContext) {
        break;
      }
    }
    const size_t end = std::min(edits.size(), last + kContext + 1);
    if (printed == 0 || first > printed) out.push_back("    @@ line " + std::to_string(edits[first].new_line));
    for (size_t e = first; e < end; ++e) {
      out.push_back("    " + std::string(1, edits[e].mark) + " " + PrintableLine(edits[e].line));
    }
    printed = end;
    k = end;
  }
  return out;
}

}  // namespace bosun::cli
