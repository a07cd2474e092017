#include "reconciler/history.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "core/ascii.h"
#include "reconciler/informer.h"

namespace bosun::reconciler {
namespace {

Json PersonJson(const gitsync::Person& p) {
  // In the committer's own time zone, as git shows it (the instant is the same).
  return {{"name", p.name},
          {"email", p.email},
          {"time", FormatRfc3339At(WallTime(std::chrono::seconds(p.time)), p.offset_minutes)}};
}

Json& Status(Object& record) {
  Json& st = record.json()["status"];
  if (!st.is_object()) st = Json::object();
  return st;
}

size_t DumpSize(const Json& j) {
  return j.dump().size();
}

std::string DriftKey(const Json& e) {
  return e.value("apiVersion", "") + "/" + e.value("kind", "") + "/" + e.value("namespace", "") + "/" +
         e.value("name", "");
}

}  // namespace

bool IsAppliedPhase(const std::string& p) {
  return p == phase::kApplied || p == phase::kProgressing || p == phase::kHealthy || p == phase::kDegraded ||
         p == phase::kReverted || p == phase::kSuperseded;
}

bool Unsettled(const Json& status) {
  const std::string p = status.is_object() ? status.value("phase", "") : "";
  if (p == phase::kApplied || p == phase::kProgressing) return true;
  if (p != phase::kDegraded) return false;
  const Json& revert = Object::Field(status, "revert");
  return !Object::Field(status, "revertedBy").is_string() && !Object::Field(revert, "commit").is_string();
}

std::string RevisionName(int64_t sequence) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08lld", static_cast<long long>(sequence));
  return buf;
}

std::string RevisionNumber(const std::string& name) {
  if (name.empty() || name.size() > 18 || name.find_first_not_of("0123456789") != std::string::npos) return name;
  return std::to_string(std::stoll(name));
}

std::string ShortSha(const std::string& commit) {
  return commit.substr(0, 7);
}

std::string RedactUrl(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t host = scheme + 3;
  size_t end = url.find_first_of("/?#", host);
  if (end == std::string::npos) end = url.size();
  size_t at = url.rfind('@', end);
  if (at == std::string::npos || at < host) return url;
  return url.substr(0, host) + url.substr(at + 1);
}

std::string RecordedMessage(const std::string& message) {
  if (message.size() <= kMaxRecordedMessageBytes) return message;
  const size_t cut = Utf8CutPoint(message, kMaxRecordedMessageBytes);
  return message.substr(0, cut) + "\n[… the message goes on for " + std::to_string(message.size() - cut) +
         " more bytes; `git show` has all of it]\n";
}

std::string CommitSubject(const std::string& message) {
  std::string s = message.substr(0, message.find('\n'));
  if (s.size() > 200) s = s.substr(0, Utf8CutPoint(s, 200)) + "…";
  return s;
}

Object NewRevisionRecord(int64_t sequence, const gitsync::CommitInfo& commit, const std::string& trigger,
                         const RecordSource& source, const std::string& reverts) {
  Object rec(GroupVersionKind{"bosun.dev", "v1", "Revision"}, "", RevisionName(sequence));
  rec.set_label(kCommitLabel, commit.id);
  rec.set_label(kSequenceLabel, std::to_string(sequence));
  Json spec = {
      {"sequence", sequence},
      {"commit", commit.id},
      {"parents", commit.parents},
      {"author", PersonJson(commit.author)},
      {"committer", PersonJson(commit.committer)},
      {"message", RecordedMessage(commit.message)},
      // Verification arrives with the crypto issue: until then a signature is
      // reported as present but unverified.
      {"signature", {{"signed", !commit.signature.empty()}, {"status", "unverified"}, {"key", ""}}},
      {"trigger", trigger},
      {"source", {{"url", source.url}, {"ref", source.ref}, {"path", source.path}}},
  };
  if (!reverts.empty()) spec["reverts"] = reverts;
  rec.json()["spec"] = std::move(spec);
  rec.json()["status"] = Json::object();
  return rec;
}

void AddPhase(Object& record, const std::string& name, WallTime started, std::chrono::milliseconds duration) {
  Json& st = Status(record);
  if (!st["phases"].is_array()) st["phases"] = Json::array();
  st["phases"].push_back(
      {{"name", name}, {"startedAt", FormatRfc3339Millis(started)}, {"durationMs", duration.count()}});
}

void SetPhase(Object& record, const std::string& p, const std::string& reason, const std::string& message) {
  Json& st = Status(record);
  st["phase"] = p;
  st["reason"] = reason;
  st["message"] = message;
}

// Which object a record's entry is about, and its file.
static Json EntryOf(const PlannedChange& c) {
  return {{"apiVersion", c.kind != nullptr ? c.kind->gvk.ApiVersion() : c.object.api_version()},
          {"kind", c.kind != nullptr ? c.kind->gvk.kind : c.object.kind()},
          {"namespace", c.ns},
          {"name", c.name},
          {"path", c.path}};
}

void SetChanges(Object& record, const Plan& plan, int extra_unchanged, size_t max_bytes) {
  Json& st = Status(record);
  st["changes"] = {{"created", plan.created},
                   {"updated", plan.updated},
                   {"deleted", plan.deleted},
                   {"unchanged", plan.unchanged + extra_unchanged}};
  if (plan.replaced > 0) st["changes"]["replaced"] = plan.replaced;
  st["objects"] = Json::array();
  st["truncated"] = false;
  size_t used = DumpSize(record.json());
  bool truncated = false;
  Json& objects = st["objects"];
  for (const PlannedChange& c : plan.changes) {
    if (c.action == PlannedChange::Action::kUnchanged) continue;
    Json e = {{"action", ActionName(c.action)}};
    e.update(EntryOf(c));
    if (c.action == PlannedChange::Action::kReplace) {
      // Why it was deleted and created again rather than updated.
      Json fields = Json::array();
      for (const Diagnostic& d : c.immutable) fields.push_back(d.field);
      e["immutable"] = std::move(fields);
    }
    size_t bare = DumpSize(e) + 1;
    if (!c.diff.empty()) {
      Json diff = Json::array();
      for (const FieldChange& f : c.diff) diff.push_back(FieldChangeToJson(f));
      Json with = e;
      with["diff"] = std::move(diff);
      size_t n = DumpSize(with) + 1;
      if (used + n <= max_bytes) {
        objects.push_back(std::move(with));
        used += n;
        continue;
      }
      truncated = true;
    }
    if (used + bare > max_bytes) {
      truncated = true;
      continue;
    }
    objects.push_back(std::move(e));
    used += bare;
  }
  // What left the repository and stays (prune off, bosun.dev/prune: "false",
  // a Namespace in use), so the changelog says what the cluster still runs
  // that no commit describes any more, and why.
  st.erase("kept");
  if (!plan.kept.empty()) {
    st["changes"]["kept"] = plan.kept.size();
    Json kept = Json::array();
    for (const PlannedChange& c : plan.kept) {
      Json e = EntryOf(c);
      e["reason"] = KeptName(c.kept);
      size_t n = DumpSize(e) + 1;
      if (used + n + 16 > max_bytes) {
        truncated = true;
        break;
      }
      used += n;
      kept.push_back(std::move(e));
    }
    st["kept"] = std::move(kept);
  }
  // Where the cluster keeps its own value of a field the repository also
  // writes (bosun.dev/ignore-fields, ignoreDifferences), for the objects this
  // revision compared: what the commit asked for that the cluster did not
  // take. A Secret's values are never written (FieldChange::redacted).
  // A list cut here says so on its own (ignoredDifferencesTruncated): the
  // objects list is whole, and revision health reads it as such.
  st.erase("ignoredDifferences");
  st.erase("ignoredDifferencesTruncated");
  st["changes"].erase("ignoring");
  size_t ignoring = 0;
  bool ignored_cut = truncated;
  Json ignored = Json::array();
  for (const PlannedChange& c : plan.changes) {
    if (c.ignored.empty()) continue;
    ++ignoring;
    if (ignored_cut) continue;
    Json fields = Json::array();
    for (const FieldChange& f : c.ignored) fields.push_back(FieldChangeToJson(f));
    Json e = EntryOf(c);
    e["fields"] = std::move(fields);
    size_t n = DumpSize(e) + 1;
    if (used + n + 80 > max_bytes) {
      ignored_cut = true;
      continue;
    }
    used += n;
    ignored.push_back(std::move(e));
  }
  if (ignoring > 0) {
    st["changes"]["ignoring"] = ignoring;
    st["ignoredDifferences"] = std::move(ignored);
    if (ignored_cut && !truncated) st["ignoredDifferencesTruncated"] = true;
  }
  st["truncated"] = truncated;
  // A cut list no longer says which objects were written: how many of each
  // kind were, so revision health knows how many to wait for in its cache.
  st.erase("writtenByKind");
  if (truncated) {
    std::map<std::string, int> by_kind;
    for (const PlannedChange& c : plan.changes) {
      if (c.action == PlannedChange::Action::kUnchanged || c.action == PlannedChange::Action::kDelete) continue;
      ++by_kind[c.kind != nullptr ? c.kind->gvk.kind : c.object.kind()];
    }
    st["writtenByKind"] = by_kind;
  }
}

void SetDiagnostics(Object& record, const std::vector<Diagnostic>& diagnostics, size_t max_bytes) {
  Json& st = Status(record);
  st["errors"] = Json::array();
  st["warnings"] = Json::array();
  size_t used = DumpSize(record.json());
  // Room for the "... and N more" line.
  const size_t tail = 96;
  size_t dropped_errors = 0, dropped_warnings = 0;
  // Errors first: they are why a revision is refused, and every one counts.
  for (int pass = 0; pass < 2; ++pass) {
    const Severity want = pass == 0 ? Severity::kError : Severity::kWarning;
    Json& list = st[pass == 0 ? "errors" : "warnings"];
    size_t& dropped = pass == 0 ? dropped_errors : dropped_warnings;
    for (const Diagnostic& d : diagnostics) {
      if (d.severity != want) continue;
      std::string s = d.ToString();
      size_t n = s.size() + 4;
      if (dropped > 0 || used + n + tail > max_bytes) {
        ++dropped;
        continue;
      }
      used += n;
      list.push_back(std::move(s));
    }
    if (dropped > 0) {
      list.push_back("... and " + std::to_string(dropped) + " more " + (pass == 0 ? "errors" : "warnings") +
                     " (the record is limited to " + std::to_string(max_bytes / 1024) + " KiB)");
      used += tail;
    }
  }
  if (dropped_errors + dropped_warnings > 0) st["truncated"] = true;
}

void AddDrift(Object& record, const DriftEntry& entry, size_t max_bytes) {
  Json& st = Status(record);
  if (!st["drift"].is_array()) st["drift"] = Json::array();
  Json& drift = st["drift"];
  Json e = {{"apiVersion", entry.kind != nullptr ? entry.kind->gvk.ApiVersion() : ""},
            {"kind", entry.kind != nullptr ? entry.kind->gvk.kind : ""},
            {"namespace", entry.ns},
            {"name", entry.name},
            {"detectedAt", FormatRfc3339(entry.detected_at)},
            {"fields", entry.fields},
            {"healed", entry.healed}};
  if (entry.deleted) e["deleted"] = true;
  if (entry.healed) e["healedAt"] = FormatRfc3339(entry.healed_at);
  if (entry.healed_on_request) e["healedBy"] = "sync request";
  if (entry.undone_by_hand) e["healedBy"] = "hand";
  if (!entry.healed_by_revision.empty()) e["healedBy"] = "revision " + entry.healed_by_revision;
  if (entry.replaced) e["replaced"] = true;
  if (!entry.error.empty()) e["error"] = entry.error;

  // An unhealed entry of the same object is the same drift, seen again.
  const std::string key = DriftKey(e);
  for (auto it = drift.rbegin(); it != drift.rend(); ++it) {
    if (DriftKey(*it) != key) continue;
    if (!it->value("healed", false)) {
      std::set<std::string> fields;
      for (const auto& f : (*it)["fields"]) fields.insert(f.get<std::string>());
      for (const auto& f : entry.fields) fields.insert(f);
      e["fields"] = std::vector<std::string>(fields.begin(), fields.end());
      e["detectedAt"] = (*it)["detectedAt"];
      if (it->value("deleted", false)) e["deleted"] = true;
      *it = std::move(e);
      return;
    }
    break;
  }
  if (entry.undone_by_hand || !entry.healed_by_revision.empty()) return;  // nothing open to close
  drift.push_back(std::move(e));
  size_t dropped = 0;
  while (drift.size() > kMaxDriftEntries) {
    drift.erase(drift.begin());
    ++dropped;
  }
  while (drift.size() > 1 && DumpSize(record.json()) > max_bytes) {
    drift.erase(drift.begin());
    ++dropped;
  }
  if (dropped > 0) st["driftDropped"] = st.value("driftDropped", 0) + static_cast<int64_t>(dropped);
}

void AddSuspension(Json& status, const std::string& suspended_at, const std::string& reason,
                   const std::string& resumed_at) {
  Json& list = status["suspensions"];
  if (!list.is_array()) list = Json::array();
  for (Json& e : list) {
    if (e.is_object() && e.value("suspendedAt", "") == suspended_at) {
      if (!resumed_at.empty()) e["resumedAt"] = resumed_at;
      return;
    }
  }
  Json e = {{"suspendedAt", suspended_at}};
  if (!reason.empty()) e["reason"] = reason;
  if (!resumed_at.empty()) e["resumedAt"] = resumed_at;
  list.push_back(std::move(e));
  while (list.size() > kMaxSuspensionEntries) list.erase(list.begin());
}

std::vector<std::string> OpenDriftKeys(const Object& record) {
  const Json& drift = Object::Field(record.status(), "drift");
  if (!drift.is_array()) return {};
  // The newest entry of each object decides (an object drifts again after
  // a heal: a new entry).
  std::map<std::string, const Json*> newest;
  for (const Json& e : drift) {
    if (e.is_object()) newest[DriftKey(e)] = &e;
  }
  std::vector<std::string> keys;
  const KindRegistry& reg = KindRegistry::Builtin();
  for (const auto& [id, e] : newest) {
    if (e->value("healed", false)) continue;
    const KindInfo* kind = reg.Find(GroupVersionKind::From(e->value("apiVersion", ""), e->value("kind", "")));
    if (kind == nullptr) continue;
    keys.push_back(Informer::Key(*kind, e->value("namespace", ""), e->value("name", "")));
  }
  return keys;
}

RecordInfo InfoOf(const Object& record) {
  RecordInfo info;
  info.name = record.name();
  const Json& spec = record.spec();
  info.sequence = spec.is_object() && spec.contains("sequence") && spec["sequence"].is_number_integer()
                      ? spec["sequence"].get<int64_t>()
                      : 0;
  if (info.sequence == 0) {
    // Fall back on the name (records are named by their sequence).
    info.sequence = std::atoll(info.name.c_str());
  }
  info.commit = spec.is_object() ? spec.value("commit", "") : "";
  const Json& st = record.status();
  info.phase = st.is_object() ? st.value("phase", "") : "";
  info.resource_version = record.resource_version();
  info.bytes = DumpSize(record.json());
  info.applied_marker = record.annotation(kAppliedAtAnnotation).has_value();
  if (const Json* src = spec.is_object() && spec.contains("source") ? &spec["source"] : nullptr;
      src != nullptr && src->is_object()) {
    info.has_source = true;
    info.source.url = src->value("url", "");
    info.source.ref = src->value("ref", "");
    info.source.path = src->value("path", "");
  }
  return info;
}

Result<std::optional<Object>> ChangeRecordStatus(state::Client& client, const std::string& name,
                                                 const std::function<bool(Json&)>& change, int attempts) {
  const KindInfo& kind = *KindRegistry::Builtin().FindKind("Revision");
  for (int attempt = 0; attempt < attempts; ++attempt) {
    auto cur = client.Get(kind, "", name);
    if (!cur) return cur.error();
    Object next = std::move(*cur);
    if (!change(next.json()["status"])) return std::optional<Object>();
    auto w = client.UpdateStatus(next);
    if (w) return std::optional<Object>(std::move(*w));
    if (w.error().code() != Code::kConflict) return w.error();
  }
  return Error(Code::kConflict, "revision " + name + " kept changing (" + std::to_string(attempts) + " conflicts)");
}

void RevisionIndex::Put(const Object& record) {
  Put(InfoOf(record));
}

void RevisionIndex::Put(const RecordInfo& info) {
  by_seq_[info.sequence] = info;
}

void RevisionIndex::Remove(const std::string& name) {
  for (auto it = by_seq_.begin(); it != by_seq_.end(); ++it) {
    if (it->second.name == name) {
      by_seq_.erase(it);
      return;
    }
  }
}

int64_t RevisionIndex::NextSequence() const {
  return by_seq_.empty() ? 1 : by_seq_.rbegin()->first + 1;
}

const RecordInfo* RevisionIndex::Live() const {
  for (auto it = by_seq_.rbegin(); it != by_seq_.rend(); ++it) {
    const RecordInfo& r = it->second;
    if (IsAppliedPhase(r.phase) || r.applied_marker) return &r;
  }
  return nullptr;
}

const RecordInfo* RevisionIndex::LastAttempt() const {
  for (auto it = by_seq_.rbegin(); it != by_seq_.rend(); ++it) {
    if (it->second.phase != phase::kSkipped) return &it->second;
  }
  return nullptr;
}

std::vector<RecordInfo> RevisionIndex::Pending() const {
  std::vector<RecordInfo> out;
  for (const auto& [seq, r] : by_seq_) {
    if (r.phase == phase::kValidated && !r.applied_marker) out.push_back(r);
  }
  return out;
}

bool RevisionIndex::HasCommit(const std::string& commit) const {
  for (const auto& [seq, r] : by_seq_) {
    if (r.commit == commit) return true;
  }
  return false;
}

const RecordInfo* RevisionIndex::NewestOf(const std::string& commit) const {
  if (commit.empty()) return nullptr;
  for (auto it = by_seq_.rbegin(); it != by_seq_.rend(); ++it) {
    if (it->second.commit.compare(0, commit.size(), commit) == 0) return &it->second;
  }
  return nullptr;
}

std::vector<std::string> RevisionIndex::OverLimit(size_t max_count, size_t max_bytes,
                                                  const std::set<std::string>& keep) const {
  size_t count = 0;
  size_t bytes = 0;
  for (const auto& [seq, r] : by_seq_) {
    bytes += r.bytes;
    if (r.phase != phase::kSkipped) ++count;
  }
  std::vector<std::string> out;
  for (const auto& [seq, r] : by_seq_) {
    bool over = (max_count > 0 && count > max_count) || (max_bytes > 0 && bytes > max_bytes);
    if (!over) break;
    if (keep.count(r.name) > 0) continue;
    out.push_back(r.name);
    if (r.phase != phase::kSkipped) --count;
    bytes -= r.bytes;
  }
  return out;
}

}  // namespace bosun::reconciler
