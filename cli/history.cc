// `bosun history` and `bosun history show REV`: the cluster's changelog, one
// Revision record per commit bosun acted on (docs/GITOPS.md).
#include "reconciler/history.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cli/client_flags.h"
#include "cli/gitops.h"
#include "cli/policy_line.h"
#include "cli/verbs.h"
#include "core/clock.h"
#include "core/duration.h"
#include "core/yaml_emit.h"
#include "reconciler/plan.h"

namespace bosun::cli {
namespace {

struct HistoryOptions {
  int limit = 20;
  std::string output;
  std::string rev;
  std::string object;  // KIND/NAME: only the records that touched it
  std::string ns;
  std::string since, until;  // when bosun recorded it: RFC 3339, a date, or how long ago
  std::string author;        // part of the author's or committer's name or email
  std::string outcome;       // a phase or reason: Degraded, Refused, ImagePullFailed
  ClientFlags client;
};

// A time for --since and --until: an RFC 3339 time (…Z, or with its offset:
// …+02:00), a date (midnight UTC; for --until, `end_of_day`, the midnight
// after, so the day is in), or how long ago (90m, 24h, 7d).
Result<WallTime> ParseWhen(const std::string& text, WallTime now, bool end_of_day) {
  const bool zoned =
      text.size() > 10 && (text.back() == 'Z' || text.back() == 'z' ||
                           (text.size() > 16 && (text[text.size() - 6] == '+' || text[text.size() - 6] == '-') &&
                            text[text.size() - 3] == ':'));
  if (zoned && (text[10] == 'T' || text[10] == 't')) {
    if (auto t = ParseRfc3339(text)) return *t;
  }
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    if (auto t = ParseRfc3339(text + "T00:00:00Z")) return end_of_day ? *t + std::chrono::hours(24) : *t;
  }
  std::string go = text;
  if (text.size() > 1 && text.size() <= 7 && text.back() == 'd' &&
      text.find_first_not_of("0123456789") == text.size() - 1) {
    go = std::to_string(std::stoll(text.substr(0, text.size() - 1)) * 24) + "h";
  }
  auto ago = ParseDuration(go);
  if (ago && ago->count() >= 0) return now - std::chrono::duration_cast<WallTime::duration>(*ago);
  return Error(Code::kInvalid, "\"" + text +
                                   "\" is not a time: give an RFC 3339 time with its zone (2026-11-01T09:00:00Z or "
                                   "2026-11-01T10:00:00+01:00), a date (2026-11-01, UTC), or how long ago (90m, "
                                   "24h, 7d)");
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Whether `who` (an author or committer) has `part` in its name or email,
// ignoring case.
bool PersonHas(const Json& who, const std::string& part) {
  for (const char* field : {"name", "email"}) {
    const Json& v = Object::Field(who, field);
    if (v.is_string() && Lower(v.get<std::string>()).find(part) != std::string::npos) return true;
  }
  return false;
}

// One object as records name it (status.objects[], status.drift[]).
struct TrackedObject {
  const KindInfo* kind = nullptr;
  std::string ns;  // "" for cluster-scoped kinds
  std::string name;

  bool Is(const Json& entry) const {
    const Json& entry_ns = Object::Field(entry, "namespace");
    return Object::Field(entry, "kind") == kind->gvk.kind && Object::Field(entry, "name") == name &&
           (entry_ns.is_string() ? entry_ns.get_ref<const std::string&>() : std::string()) == ns &&
           Object::Field(entry, "apiVersion") == kind->gvk.ApiVersion();
  }
};

const Json& F(const Json& j, const char* key) {
  return Object::Field(j, key);
}

std::string Str(const Json& j, const std::string& fallback = "") {
  if (j.is_string()) return j.get<std::string>().empty() ? fallback : j.get<std::string>();
  if (j.is_number()) return j.dump();
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  return fallback;
}

void Print(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
}

std::string Json4(const Json& j) {
  return j.dump(4, ' ', false, Json::error_handler_t::replace) + "\n";
}

// "+2 ~1 -0" (and " -/+1" when objects were deleted and created again), or
// "-" for a record that changed nothing (refused, skipped).
std::string Changes(const Object& r) {
  const Json& c = F(r.status(), "changes");
  if (!c.is_object()) return "-";
  auto n = [&](const char* k) { return F(c, k).is_number_integer() ? F(c, k).get<int64_t>() : 0; };
  std::string out =
      "+" + std::to_string(n("created")) + " ~" + std::to_string(n("updated")) + " -" + std::to_string(n("deleted"));
  if (n("replaced") > 0) out += " -/+" + std::to_string(n("replaced"));
  return out;
}

std::string Subject(const Object& r) {
  std::string m = Str(F(r.spec(), "message"));
  std::string first = m.substr(0, m.find('\n'));
  if (first.size() > 60) first = first.substr(0, 57) + "...";
  return first;
}

std::string PersonLine(const Json& p) {
  if (!p.is_object()) return "";
  std::string s = Str(F(p, "name"), "(unknown)");
  std::string email = Str(F(p, "email"));
  if (!email.empty()) s += " <" + email + ">";
  std::string when = Str(F(p, "time"));
  if (!when.empty()) s += ", " + when + " (" + Ago(when) + ")";
  return s;
}

std::string SignatureLine(const Json& sig) {
  if (!sig.is_object()) return "unknown";
  if (F(sig, "signed") != Json(true)) return "not signed";
  std::string s = "signed, " + Str(F(sig, "status"), "unverified");
  std::string key = Str(F(sig, "key"));
  if (!key.empty()) s += ", key " + key;
  return s;
}

// Who signed, from the verification in status.signature: the principal, or
// "unsigned" / "unverified" (with the head's signer when only other commits
// failed); "-" for records made before verification.
std::string SignedBy(const Object& r) {
  const Json& sig = F(r.status(), "signature");
  if (!sig.is_object()) return "-";
  const Json& head = F(sig, "head");
  std::string who = Str(F(head, "signer"));
  if (who.size() > 28) who = who.substr(0, 25) + "...";
  // A revision is signed only when every commit checked was: a refused
  // range says so even when its head carries a good signature.
  if (F(sig, "verified") == Json(true) && F(head, "verified") == Json(true)) return who;
  if (F(head, "verified") == Json(true)) return "unverified (head: " + who + ")";
  return F(head, "signed") == Json(true) ? "unverified" : "unsigned";
}

// "verified (verify=all from …, 3 commits checked); signed by P (SHA256:…)".
std::string VerificationLine(const Json& sig) {
  if (!sig.is_object()) return "";
  std::string s = F(sig, "verified") == Json(true) ? "verified" : "NOT verified";
  s += " (verify=" + Str(F(sig, "level"), "?") + " from " + Str(F(sig, "levelFrom"), "?") + ", " +
       Str(F(sig, "commitsChecked"), "?") + " commit(s) checked" +
       (F(sig, "enforced") == Json(false) ? ", not enforced" : "") + ")";
  const Json& head = F(sig, "head");
  if (!Str(F(head, "signer")).empty()) s += "; head signed by " + Str(F(head, "signer"));
  if (!Str(F(head, "key")).empty()) s += ", key " + Str(F(head, "key"));
  if (!Str(F(head, "problem")).empty()) s += "; head: " + Str(F(head, "problem"));
  return s;
}

void Line(const char* label, const std::string& value) {
  if (value.empty()) return;
  std::printf("%-13s%s\n", label, Printable(value).c_str());
}

void PrintList(const char* title, const Json& items) {
  if (!items.is_array() || items.empty()) return;
  std::printf("\n%s (%zu):\n", title, items.size());
  // Each line as `bosun validate` prints it ("warning: " included), so the
  // two can be compared and grepped alike.
  for (const Json& e : items) std::printf("  %s\n", Printable(Str(e, e.dump())).c_str());
}

// The whole record, for a person.
// `live_before`: the record of spec.liveBefore's commit, when found.
void PrintRecord(const Object& r, const std::optional<Object>& live_before, const std::vector<Object>& same_commit) {
  const Json& spec = r.spec();
  const Json& st = r.status();
  std::printf("Revision %s (%s)\n", SequenceOf(r).c_str(), r.name().c_str());
  std::string commit = Str(F(spec, "commit"), "(unknown)");
  const Json& parents = F(spec, "parents");
  if (parents.is_array() && !parents.empty()) {
    std::string ps;
    for (const Json& p : parents) ps += (ps.empty() ? "" : ", ") + ShortSha(Str(p));
    commit += "  (parent " + ps + ")";
  }
  Line("Commit:", commit);
  // The same commit acted on more than once (skipped then applied, or back
  // after a force-push): the others, so `history show SHA` does not hide one.
  std::string also;
  for (const Object& o : same_commit) {
    if (o.name() == r.name()) continue;
    also += (also.empty() ? "revision " : ", revision ") + SequenceOf(o) + " (" + OutcomeOf(o) + ")";
  }
  if (!also.empty()) Line("Also:", "this commit's other records: " + also);
  Line("Author:", PersonLine(F(spec, "author")));
  Line("Committer:", PersonLine(F(spec, "committer")));
  Line("Signature:", SignatureLine(F(spec, "signature")));
  Line("Verified:", VerificationLine(F(st, "signature")));
  Line("Trigger:", Str(F(spec, "trigger")));
  auto source_text = [](const Json& source) {
    std::string s = Str(F(source, "url"));
    if (!Str(F(source, "ref")).empty()) s += " @ " + Str(F(source, "ref"));
    if (!Str(F(source, "path")).empty()) s += ", path " + Str(F(source, "path"));
    return s;
  };
  if (const Json& source = F(spec, "source"); source.is_object()) Line("Source:", source_text(source));
  if (const Json& from = F(spec, "sourceChangedFrom"); from.is_object()) {
    Line("Source was:", source_text(from) + " (the server was pointed elsewhere; this revision reads the new source)");
  }
  Line("Outcome:", OutcomeOf(r));
  Line("Policy:", PolicyLine(F(st, "policy")));
  Line("Message:", Str(F(st, "message")));
  std::string applied = Str(F(st, "appliedAt"));
  if (!applied.empty()) Line("Applied at:", applied + " (" + Ago(applied) + ")");
  if (const std::string before = Str(F(spec, "liveBefore")); !before.empty()) {
    std::string s = ShortSha(before);
    if (live_before) s += " (revision " + SequenceOf(*live_before) + ")";
    if (const Json& n = F(spec, "commitsSinceLive"); n.is_number_integer()) {
      const int64_t k = n.get<int64_t>();
      s += "; this revision brings " + std::to_string(k) + " commit" + (k == 1 ? "" : "s") + " (git log " +
           ShortSha(before) + ".." + ShortSha(Str(F(spec, "commit"))) + ")";
    }
    Line("Live before:", s);
  }
  // The commits it brought besides its own (newest first), with their authors.
  if (const Json& brings = F(spec, "brings"); brings.is_array() && !brings.empty()) {
    const int64_t more = F(spec, "bringsMore").is_number_integer() ? F(spec, "bringsMore").get<int64_t>() : 0;
    Line("Brings:", std::to_string(brings.size() + more) + " commit" + (brings.size() + more == 1 ? "" : "s") +
                        " besides its own, newest first:");
    for (const Json& c : brings) {
      std::printf("               %s %s: %s\n", ShortSha(Str(F(c, "commit"))).c_str(),
                  Printable(Str(F(F(c, "author"), "name"), "?")).c_str(), Printable(Str(F(c, "subject"))).c_str());
    }
    if (more > 0) std::printf("               … and %lld more\n", static_cast<long long>(more));
  }
  std::string reverts = Str(F(spec, "reverts"));
  if (const std::string to = Str(F(spec, "revertsTo")); !reverts.empty() && !to.empty()) {
    reverts += " and every commit before it back to " + to;  // a revert of several commits
  }
  Line("Reverts:", reverts);
  const std::string rewrites = Str(F(spec, "rewrites"));
  if (!rewrites.empty()) {
    Line("Rewrites:", rewrites + " (the branch was force-pushed: the commit live before is no longer on it)");
  }
  Line("Reverted by:", Str(F(st, "revertedBy")));
  if (const Json& dropped = F(st, "droppedBy"); dropped.is_object()) {
    const std::string by = Str(F(dropped, "revision"));
    Line("Dropped:", "no longer on the branch: a force-push to " + ShortSha(Str(F(dropped, "commit"))) +
                         (by.empty() ? "" : " (revision " + reconciler::RevisionNumber(by) + ")") + " left it out" +
                         (Str(F(dropped, "at")).empty() ? "" : ", at " + Str(F(dropped, "at"))));
  }
  // bosun's revert of it: pushed, failed, or none (needs a human); and a
  // Degraded verdict it recovered from or was superseded after.
  const std::string revert = RevertLineOf(st);
  if (!revert.empty()) Line("Revert:", revert);
  const std::string degraded = DegradedSummary(F(st, "degraded"));
  if (!degraded.empty()) Line("Degraded:", degraded);
  Line("Recorded:",
       r.creation_timestamp().empty() ? "" : r.creation_timestamp() + " (" + Ago(r.creation_timestamp()) + ")");

  std::string message = Str(F(spec, "message"));
  if (!message.empty()) {
    std::printf("\n");
    size_t start = 0;
    while (start <= message.size()) {
      size_t end = message.find('\n', start);
      std::string line = message.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (end == std::string::npos && line.empty()) break;
      std::printf("    %s\n", Printable(line, /*keep_tabs=*/true).c_str());
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }

  const Json& phases = F(st, "phases");
  if (phases.is_array() && !phases.empty()) {
    std::printf("\nPhases:\n");
    TablePrinter t({"", "", ""});
    std::vector<std::vector<std::string>> rows;
    for (const Json& p : phases) {
      std::string ms = F(p, "durationMs").is_number() ? F(p, "durationMs").dump() + " ms" : "";
      rows.push_back({"  " + Str(F(p, "name"), "?"), Str(F(p, "startedAt")), ms});
    }
    t.Fit(rows);
    for (const auto& row : rows) t.PrintRow(row);
  }

  PrintList("Errors", F(st, "errors"));
  PrintList("Warnings", F(st, "warnings"));
  PrintList("Signed by", F(F(st, "signature"), "signers"));

  const Json& changes = F(st, "changes");
  const Json& objects = F(st, "objects");
  if (changes.is_object() || (objects.is_array() && !objects.empty())) {
    std::string unchanged = Str(F(changes, "unchanged"));
    std::printf("\nChanges (%s%s):\n", Changes(r).c_str(),
                unchanged.empty() ? "" : (", " + unchanged + " unchanged").c_str());
    if (!objects.is_array() || objects.empty()) std::printf("  none\n");
    if (objects.is_array()) {
      // Kinds in the order they first come in the record (the apply's:
      // Namespaces, ConfigMaps, …; deletes after), and within a kind by
      // namespace and name, so an object is found where a reader looks (the
      // record keeps the order the files were read in).
      std::vector<const Json*> sorted;
      std::map<std::string, size_t> kind_rank;
      for (const Json& o : objects) {
        sorted.push_back(&o);
        kind_rank.emplace(Str(F(o, "kind")), kind_rank.size());
      }
      std::stable_sort(sorted.begin(), sorted.end(), [&](const Json* a, const Json* b) {
        return std::make_tuple(kind_rank[Str(F(*a, "kind"))], Str(F(*a, "namespace")), Str(F(*a, "name"))) <
               std::make_tuple(kind_rank[Str(F(*b, "kind"))], Str(F(*b, "namespace")), Str(F(*b, "name")));
      });
      for (const Json* op : sorted) {
        const Json& o = *op;
        std::string action = Str(F(o, "action"));
        std::string path = Str(F(o, "path"));
        std::printf("  %s %s%s%s\n", ChangeMark(action), ObjectName(o).c_str(),
                    path.empty() ? "" : (" (" + Printable(path) + ")").c_str(),
                    F(o, "driftPutBack") == Json(true)
                        ? ": drift put back (changed by hand; this revision's commits did not change it)"
                        : "");
        if (action == "replaced") {
          std::vector<std::string> fields;
          for (const Json& f : F(o, "immutable")) fields.push_back(Str(f));
          std::printf("      %s (force)\n", ReplacedBecause(fields).c_str());
        }
        const Json& diff = F(o, "diff");
        if (!diff.is_array()) continue;
        std::string kind = Str(F(o, "kind"));
        for (const Json& d : diff) {
          for (const std::string& line : FormatFieldChangeLines(kind, d)) std::printf("      %s\n", line.c_str());
        }
      }
    }
    if (F(st, "truncated") == Json(true)) {
      std::printf("  (the record was cut to stay under 512 KiB: some objects or field changes are not listed)\n");
    }
  }
  // What left the repository and still runs, and why.
  const Json& kept = F(st, "kept");
  if (kept.is_array() && !kept.empty()) {
    std::string total = Str(F(changes, "kept"), std::to_string(kept.size()).c_str());
    std::printf("\nKept (%s, no longer in the repository):\n", total.c_str());
    for (const Json& o : kept) {
      std::string path = Str(F(o, "path"));
      // Records from before the reason was written kept objects only with
      // prune off, and Namespaces also for the reasons of today.
      std::string reason = Str(F(o, "reason"), Str(F(o, "kind")) == "Namespace" ? "" : "pruneOff");
      std::string why = reconciler::KeptBecause(reason);
      std::printf("  = %s%s%s\n", ObjectName(o).c_str(), path.empty() ? "" : (" (was " + Printable(path) + ")").c_str(),
                  why.empty() ? "" : (": " + why).c_str());
    }
  }

  // Fields the cluster owns whose live value differs from the repository's.
  const Json& ignored = F(st, "ignoredDifferences");
  if (ignored.is_array() && !ignored.empty()) {
    std::string total = Str(F(changes, "ignoring"), std::to_string(ignored.size()).c_str());
    std::printf("\nFields the cluster owns (%s %s, the live value kept):\n", total.c_str(),
                total == "1" ? "object" : "objects");
    for (const Json& o : ignored) {
      std::string path = Str(F(o, "path"));
      std::printf("  = %s%s\n", ObjectName(o).c_str(), path.empty() ? "" : (" (" + Printable(path) + ")").c_str());
      for (const Json& f : F(o, "fields")) {
        std::printf("      kept %s\n", FormatIgnoredChange(Str(F(o, "kind")), f).c_str());
      }
    }
    if (F(st, "ignoredDifferencesTruncated") == Json(true)) {
      std::printf("  (the list was cut to keep the record under 512 KiB: `bosun diff` shows them all)\n");
    }
  }

  const Json& drift = F(st, "drift");
  if (drift.is_array() && !drift.empty()) {
    std::printf("\nDrift (%zu):\n", drift.size());
    for (const Json& d : drift) {
      std::string fields;
      if (F(d, "fields").is_array()) {
        for (const Json& f : F(d, "fields")) fields += (fields.empty() ? "" : ", ") + Str(f);
      }
      std::string line = ObjectName(d);
      if (!fields.empty()) line += ": " + fields;
      std::string detected = Str(F(d, "detectedAt"));
      line += F(d, "deleted") == Json(true) ? " — deleted by hand" : " — changed by hand";
      if (!detected.empty()) line += ", detected " + Ago(detected);
      std::string error = Str(F(d, "error"));
      if (F(d, "healed") == Json(true)) {
        std::string healed = Str(F(d, "healedAt"));
        const std::string by = Str(F(d, "healedBy"));
        line += by == "hand" ? ", undone by hand"
                : by.starts_with("revision ")
                    ? ", put back by the apply of revision " + reconciler::RevisionNumber(by.substr(9))
                    : ", put back";
        if (!healed.empty()) line += " " + Ago(healed);
      } else if (!error.empty()) {
        line += ", could not be put back: " + error;
      } else {
        line += ", not put back";
      }
      std::printf("  %s\n", line.c_str());
    }
    std::string dropped = Str(F(st, "driftDropped"));
    if (!dropped.empty() && dropped != "0") std::printf("  (%s more not recorded)\n", dropped.c_str());
  }

  // `bosun suspend` while this revision was live: when, why, for how long.
  const Json& suspensions = F(st, "suspensions");
  if (suspensions.is_array() && !suspensions.empty()) {
    std::printf("\nSuspended (%zu):\n", suspensions.size());
    for (const Json& e : suspensions) {
      const std::string at = Str(F(e, "suspendedAt")), resumed = Str(F(e, "resumedAt")), why = Str(F(e, "reason"));
      std::string line = at;
      if (resumed.empty()) {
        line += " until now";
      } else {
        auto from = ParseRfc3339(at), to = ParseRfc3339(resumed);
        line += " to " + resumed;
        if (from && to && *to >= *from) {
          line += " (" + FormatDuration(std::chrono::duration_cast<std::chrono::seconds>(*to - *from)) + ")";
        }
      }
      if (!why.empty()) line += ": " + why;
      std::printf("  %s\n", line.c_str());
    }
  }
  std::fflush(stdout);
}

int RunShow(const HistoryOptions& opt) {
  auto client = MakeClient(opt.client);
  if (!client) return Fail("history show", client.error().message());
  auto rec = FindRevision(**client, opt.rev);
  if (!rec) return Fail("history show", rec.error().message());
  // A commit it brought, not its own: said first.
  const std::string asked = Lower(opt.rev);
  const std::string own = Lower(Str(F(rec->spec(), "commit")));
  const Json& brings = F(rec->spec(), "brings");
  const bool brought = own.rfind(asked, 0) != 0 && asked.size() >= 7 &&
                       std::any_of(brings.begin(), brings.end(),
                                   [&](const Json& c) { return Lower(Str(F(c, "commit"))).rfind(asked, 0) == 0; });
  if (opt.output != "json" && opt.output != "yaml" && brought) {
    std::printf("Commit %s has no record of its own: revision %s brought it (see Brings:).\n\n",
                Printable(opt.rev).c_str(), SequenceOf(*rec).c_str());
  }
  Json doc = rec->json();
  ScrubSecretValues(&doc);
  if (opt.output == "json") {
    Print(Json4(doc));
  } else if (opt.output == "yaml") {
    Print(EmitYaml(doc));
  } else {
    // The record of the commit live before: the newest one of that commit
    // older than this record (a commit can have several records).
    std::optional<Object> live_before;
    if (const std::string before = Str(F(rec->spec(), "liveBefore")); !before.empty()) {
      if (auto list = RecordsOfCommit(**client, before)) {
        for (Object& o : *list) {
          if (o.name() < rec->name() && (!live_before || o.name() > live_before->name())) live_before = std::move(o);
        }
      }
    }
    std::vector<Object> same_commit;
    if (auto list = RecordsOfCommit(**client, Str(F(rec->spec(), "commit")))) same_commit = std::move(*list);
    PrintRecord(Object(doc), live_before, same_commit);
  }
  return 0;
}

// The entry of record `r`'s kept list (left the repository, stays) for
// `obj`, or null.
const Json* KeptEntry(const Object& r, const TrackedObject& obj) {
  for (const Json& k : F(r.status(), "kept")) {
    if (obj.Is(k)) return &k;
  }
  return nullptr;
}

// What record `r` says happened to `obj`: "updated (spec.replicas,
// spec.template.spec.containers[0].image)", "drift: spec.replicas, healed";
// `left`: its kept entry when this is the revision its file left the
// repository in; "" when it does not name it.
std::string WhatHappenedTo(const Object& r, const TrackedObject& obj, const Json* left) {
  std::vector<std::string> parts;
  if (left != nullptr) {
    const std::string why = reconciler::KeptBecause(Str(F(*left, "reason"), "pruneOff"));
    parts.push_back("left the repository, kept" + (why.empty() ? "" : " (" + why + ")"));
  }
  for (const Json& o : F(r.status(), "objects")) {
    if (!obj.Is(o)) continue;
    std::string fields;
    for (const Json& d : F(o, "diff")) {
      if (!fields.empty()) fields += ", ";
      fields += Str(F(d, "field"));
    }
    parts.push_back(Str(F(o, "action"), "changed") + (fields.empty() ? "" : " (" + fields + ")") +
                    (F(o, "driftPutBack") == Json(true) ? ", drift put back" : ""));
  }
  for (const Json& o : F(r.status(), "ignoredDifferences")) {
    if (!obj.Is(o)) continue;
    std::string fields;
    for (const Json& f : F(o, "fields")) fields += (fields.empty() ? "" : ", ") + Str(F(f, "field"));
    parts.push_back("kept " + fields + " (the cluster owns)");
  }
  for (const Json& d : F(r.status(), "drift")) {
    if (!obj.Is(d)) continue;
    std::string fields;
    for (const Json& f : F(d, "fields")) fields += (fields.empty() ? "" : ", ") + Str(f);
    if (F(d, "deleted") == true) fields = "deleted";
    parts.push_back("drift: " + fields + (F(d, "healed") == true ? ", healed" : ", not healed"));
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

int RunHistory(const HistoryOptions& opt) {
  if (opt.limit < 0) {
    std::fprintf(stderr, "bosun history: -n must be 0 (all) or more\n");
    return 2;
  }
  std::optional<TrackedObject> only;
  if (!opt.object.empty()) {
    const size_t slash = opt.object.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == opt.object.size() ||
        opt.object.find('/', slash + 1) != std::string::npos) {
      std::fprintf(stderr, "bosun history: --object takes KIND/NAME (e.g. deployment/web), not \"%s\"\n",
                   opt.object.c_str());
      return 2;
    }
    auto kind = ResolveKind(opt.object.substr(0, slash));
    if (!kind) {
      std::fprintf(stderr, "bosun history: --object: %s\n", kind.error().message().c_str());
      return 2;  // a usage error
    }
    only = TrackedObject{*kind, (*kind)->namespaced ? (opt.ns.empty() ? "default" : opt.ns) : "",
                         opt.object.substr(slash + 1)};
  } else if (!opt.ns.empty()) {
    std::fprintf(stderr, "bosun history: --namespace goes with --object KIND/NAME\n");
    return 2;
  }
  auto client = MakeClient(opt.client);
  if (!client) return Fail("history", client.error().message());
  auto records = ListRevisions(**client);
  if (!records) return Fail("history", records.error().message());
  // Before any filter: what the history limit removed.
  const std::string removed = RemovedRecordsNote(*records);
  // The auditor's filters: when bosun recorded it, who wrote it, how it
  // ended.
  // With --object: the revisions its file left the repository in. Every
  // applied record after that lists it as kept (refused and skipped ones
  // list nothing): the oldest of each run, over the whole history.
  std::set<std::string> left_in;
  if (only) {
    bool kept_before = false;
    for (auto r = records->rbegin(); r != records->rend(); ++r) {
      if (!reconciler::IsAppliedPhase(Str(F(r->status(), "phase")))) continue;
      const bool kept = KeptEntry(*r, *only) != nullptr;
      if (!kept && F(r->status(), "truncated") == true) continue;  // its kept list may be cut
      if (kept && !kept_before) left_in.insert(r->name());
      kept_before = kept;
    }
  }
  const bool filtered = !opt.since.empty() || !opt.until.empty() || !opt.author.empty() || !opt.outcome.empty();
  std::set<std::string> outcomes;
  if (filtered) {
    const WallTime now = std::chrono::system_clock::now();
    std::optional<WallTime> since, until;
    for (auto [text, out, flag] : {std::tuple{&opt.since, &since, "--since"}, {&opt.until, &until, "--until"}}) {
      if (text->empty()) continue;
      auto t = ParseWhen(*text, now, text == &opt.until);
      if (!t) {
        std::fprintf(stderr, "bosun history: %s: %s\n", flag, t.error().message().c_str());
        return 2;
      }
      *out = *t;
    }
    const std::string author = Lower(opt.author);
    const std::string outcome = Lower(opt.outcome);
    // What --outcome could have matched, for a filter that matches nothing.
    for (const Object& r : *records) {
      outcomes.insert(Str(F(r.status(), "phase"), "Pending"));
      if (const std::string reason = Str(F(r.status(), "reason")); !reason.empty()) outcomes.insert(reason);
      if (const std::string was = Str(F(F(r.status(), "degraded"), "reason")); !was.empty()) {
        outcomes.insert("Degraded");
        outcomes.insert(was);
      }
    }
    std::erase_if(*records, [&](const Object& r) {
      if (since || until) {
        auto at = ParseRfc3339(r.creation_timestamp());
        if (!at || (since && *at < *since) || (until && *at > *until)) return true;  // a date's end: its next midnight
      }
      if (!author.empty() && !PersonHas(F(r.spec(), "author"), author) &&
          !PersonHas(F(r.spec(), "committer"), author) &&
          std::none_of(F(r.spec(), "brings").begin(), F(r.spec(), "brings").end(),
                       [&](const Json& c) { return PersonHas(F(c, "author"), author); })) {
        return true;  // neither its commit nor one it brought (a merged branch's) is theirs
      }
      if (!outcome.empty() && Lower(Str(F(r.status(), "phase"), "Pending")) != outcome &&
          Lower(Str(F(r.status(), "reason"))) != outcome) {
        // An incident is a revision that was Degraded, whatever came after
        // (a revert, a fix that superseded it, a recovery): its verdict's
        // time or record (status.degraded) says so, with the reason.
        const Json& st = r.status();
        const bool was_degraded = !Str(F(st, "degradedAt")).empty() || F(st, "degraded").is_object();
        const bool matches =
            was_degraded && (outcome == "degraded" || Lower(Str(F(F(st, "degraded"), "reason"))) == outcome);
        if (!matches) return true;
      }
      return false;
    });
  }
  // Records cut to fit may not name every object they changed (counted
  // among those the other filters keep).
  size_t truncated = 0;
  std::vector<std::string> what;  // with --object: what each record did to it
  if (only) {
    std::vector<Object> named;
    for (Object& r : *records) {
      std::string w = WhatHappenedTo(r, *only, left_in.count(r.name()) ? KeptEntry(r, *only) : nullptr);
      if (w.empty()) {
        if (F(r.status(), "truncated") == true || F(r.status(), "ignoredDifferencesTruncated") == true) ++truncated;
        continue;
      }
      what.push_back(std::move(w));
      named.push_back(std::move(r));
    }
    *records = std::move(named);
  }
  if (opt.limit > 0 && records->size() > static_cast<size_t>(opt.limit))
    records->resize(static_cast<size_t>(opt.limit));

  if (opt.output == "json" || opt.output == "yaml") {
    Json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"metadata", {{"resourceVersion", ""}}}};
    list["items"] = Json::array();
    if (!removed.empty()) list["metadata"]["removedByHistoryLimit"] = removed;
    for (const Object& r : *records) {
      Json doc = r.json();
      ScrubSecretValues(&doc);
      list["items"].push_back(std::move(doc));
    }
    Print(opt.output == "json" ? Json4(list) : EmitYaml(list));
    return 0;
  }
  std::string about;
  if (only) {
    about = only->kind->singular + "/" + only->name + (only->ns.empty() ? "" : " in namespace " + only->ns);
  }
  auto note_truncated = [&] {
    // The trail is cut: said wherever the answer is read as all there is.
    if (!removed.empty()) std::fprintf(stderr, "%s%s.\n", removed.c_str(), only ? " (those are not searched)" : "");
    if (truncated == 0) return;
    std::fprintf(stderr,
                 "%zu record%s cut to fit the record size may have changed %s without naming it (`bosun history "
                 "show REV` shows what each kept).\n",
                 truncated, truncated == 1 ? " was" : "s were", about.c_str());
  };
  if (records->empty()) {
    if (filtered) {
      std::fprintf(stderr, "No revision in the history matches%s%s%s%s%s.\n", only ? (" " + about).c_str() : "",
                   opt.since.empty() ? "" : (" --since " + opt.since).c_str(),
                   opt.until.empty() ? "" : (" --until " + opt.until).c_str(),
                   opt.author.empty() ? "" : (" --author " + opt.author).c_str(),
                   opt.outcome.empty() ? "" : (" --outcome " + opt.outcome).c_str());
      if (!opt.outcome.empty()) {
        std::string seen;
        for (const std::string& o : outcomes) seen += (seen.empty() ? "" : ", ") + o;
        std::fprintf(stderr, "--outcome takes a phase or reason; the history has: %s.\n", seen.c_str());
      }
      note_truncated();
      return 0;
    }
    if (only) {
      std::fprintf(stderr, "No revision in the history changed %s or found it drifted.\n", about.c_str());
      note_truncated();
      return 0;
    }
    std::fprintf(stderr,
                 "No revisions yet: bosun records one for each commit it acts on (`bosun status` shows the "
                 "repository it follows).\n");
    return 0;
  }
  bool wide = opt.output == "wide";
  std::vector<std::string> header = {"REVISION", "COMMIT", "AUTHOR", "WHEN", "TRIGGER", "CHANGES", "OUTCOME"};
  if (wide) header.insert(header.end(), {"SIGNED BY", "SUBJECT"});
  // For one object: what each revision did to it, in place of the counts,
  // last (a long description pads no other column).
  if (only) {
    header.erase(header.begin() + 5);
    header.push_back("THIS OBJECT");
  }
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < records->size(); ++i) {
    const Object& r = (*records)[i];
    std::vector<std::string> row = {SequenceOf(r),
                                    ShortSha(Str(F(r.spec(), "commit"), "-")),
                                    Str(F(F(r.spec(), "author"), "name"), "-"),
                                    r.creation_timestamp().empty() ? "-" : Ago(r.creation_timestamp()),
                                    Str(F(r.spec(), "trigger"), "-"),
                                    only ? what[i] : Changes(r),
                                    OutcomeOf(r)};
    if (wide) row.insert(row.end(), {SignedBy(r), Subject(r)});
    if (only) {
      std::string mine = std::move(row[5]);
      row.erase(row.begin() + 5);
      row.push_back(std::move(mine));
    }
    rows.push_back(std::move(row));
  }
  TablePrinter printer(header);
  printer.Fit(rows);
  printer.PrintHeader();
  for (const auto& row : rows) printer.PrintRow(row);
  note_truncated();
  return 0;
}

}  // namespace

void AddHistory(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<HistoryOptions>();
  CLI::App* cmd = app.add_subcommand(
      "history",
      "The cluster's changelog: one record per commit bosun acted on (applied, refused or skipped),\n"
      "newest first, with who wrote it, what triggered the sync, what changed (+created ~updated -deleted)\n"
      "and how it ended. `bosun history show REV` prints one record in full.");
  cmd->add_option("-n,--limit", opt->limit, "How many records, newest first (0: all)")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](const std::string& v) -> std::string {
            if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos) return "";
            if (v.size() > 1 && v[0] == '-' && v.find_first_not_of("0123456789", 1) == std::string::npos) {
              return "must be 0 (all) or more, not " + v;
            }
            return "takes how many revisions to show (as git log -n), not \"" + v +
                   "\"; the namespace of --object is --namespace";
          },
          "N"));
  cmd->add_option("--object", opt->object,
                  "Only the revisions that created, updated, replaced or deleted this object, found it drifted,\n"
                  "kept a field the cluster owns or saw its file leave, as KIND/NAME (deployment/web), with what\n"
                  "each did to it");
  cmd->add_option("--namespace", opt->ns, "The namespace of --object (default: default)");
  cmd->add_option("--since", opt->since,
                  "Only revisions bosun recorded at or after this time: RFC 3339 with its zone\n"
                  "(2026-11-01T09:00:00Z, 2026-11-01T10:00:00+01:00), a date (2026-11-01, UTC), or how long ago\n"
                  "(90m, 24h, 7d)");
  cmd->add_option("--until", opt->until,
                  "Only revisions recorded at or before this time (as --since; a date takes in that day)");
  cmd->add_option("--author", opt->author,
                  "Only commits whose author or committer has this in their name or email (any case)");
  cmd->add_option("--outcome", opt->outcome,
                  "Only revisions that ended so: a phase (Healthy, Degraded, Reverted, Refused, Failed,\n"
                  "Skipped) or a reason (ImagePullFailed, InvalidManifests), any case. Degraded also finds\n"
                  "those that were Degraded and then reverted, superseded or recovered");
  cmd->add_option("-o,--output", opt->output,
                  "Output format: json, yaml, or wide (adds who signed, as verified, and the commit subject)")
      ->check(CLI::IsMember({"", "json", "yaml", "wide"}));
  AddClientFlags(cmd, &opt->client);

  CLI::App* show = cmd->add_subcommand(
      "show",
      "One revision in full: commit, author, committer, message, signature, trigger, the phases with their\n"
      "timings, the outcome with every error, each object change with its field diff (Secret values are\n"
      "never shown), drift found while it was live, and links (reverts / reverted by).\n"
      "REV is a sequence number (42), a record name (00000042) or a commit id or prefix (1a2b3c4).");
  show->add_option("rev", opt->rev, "The revision: sequence number, record name, or commit id (prefix)")->required();
  show->add_option("-o,--output", opt->output, "Output format: json or yaml (default: text)")
      ->check(CLI::IsMember({"", "json", "yaml"}));
  AddClientFlags(show, &opt->client);
  show->callback([opt, exit_code] { *exit_code = RunShow(*opt); });
  cmd->callback([cmd, show, opt, exit_code] {
    if (cmd->got_subcommand(show)) return;
    *exit_code = RunHistory(*opt);
  });
}

}  // namespace bosun::cli
