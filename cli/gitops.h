// cli/gitops.h — what the GitOps verbs (history, diff, sync, status) and the
// server wiring share: the GitRepository and Revision kinds of
// docs/GITOPS.md, finding a Revision record by what a person types, and
// printing field diffs without ever showing a Secret's value.
#pragma once

#include <string>
#include <vector>

#include "core/kinds.h"
#include "core/object.h"
#include "core/result.h"
#include "reconciler/sync_controller.h"
#include "state/client.h"

namespace bosun::cli {

// The annotation `bosun sync` (and a webhook on a follower) sets on the
// GitRepository to ask the leader for a fetch and sync.
inline constexpr const char* kSyncRequestedAtAnnotation = "bosun.dev/sync-requested-at";
// The one GitRepository a server follows.
inline constexpr const char* kGitRepositoryName = "default";
// `bosun suspend` (reconciler/sync_controller.h).
using reconciler::kSuspendedAtAnnotation;
using reconciler::kSuspendReasonAnnotation;
using reconciler::RepositorySuspended;

const KindInfo& GitRepositoryKind();
const KindInfo& RevisionKind();

// The GitRepository "default", or kNotFound with a message saying that the
// server follows no repository and how to make it follow one.
Result<Object> GetGitRepository(state::Client& client);

// "3m ago" (kubectl's AGE format), "" for an empty timestamp.
std::string Ago(const std::string& rfc3339);
// The first 7 characters of a commit id ("" stays "").
std::string ShortSha(const std::string& sha);
// A record's sequence number (spec.sequence, else its name), as text.
std::string SequenceOf(const Object& revision);
// "Applied", "Refused (InvalidManifests)": the phase, and the reason when it
// says more than the phase.
std::string OutcomeOf(const Object& revision);
// A record on one line, as `bosun sync` and `bosun revert` report it:
// "revision 7 (1a2b3c4 \"web: 1.1\"): Refused (InvalidManifests) — message".
std::string DescribeRecord(const Object& revision);
// Whether the record says its revision failed: Refused, Failed or Degraded.
bool RecordFailed(const Object& revision);

// The Revision record a person means by `rev`: a sequence number ("42"), a
// record name ("00000042"), or a commit id or a prefix of one (at least 4 hex
// digits). kNotFound ("no revision … in the history; `bosun history` lists
// them"), kInvalid when a prefix matches several commits (naming them).
Result<Object> FindRevision(state::Client& client, const std::string& rev);

// j[key] when it is a string, else "".
std::string StringField(const Json& j, const char* key);

// A record's status.revert for a person: "automatic: pushed 1a2b3c4
// (reason)", "none (needs a human): why", "by hand, failed: why"; "" when
// there is none.
std::string RevertSummary(const Json& revert);
// How often the repository is polled now: the interval in force
// (status.syncConfig, the repository's SyncConfig's where it sets one), else
// the server's (spec.interval); "" when neither is known.
std::string PollIntervalOf(const Object& repo);

// A record's Revert line from its whole status: RevertSummary of
// status.revert, else a revert still being retried (status.revertPending:
// the remote down) as "automatic, not pushed yet (retrying since T): ERROR".
std::string RevertLineOf(const Json& status);

// A record's status.degraded (what a Degraded verdict said before the
// revision recovered or was superseded): "ImagePullFailed at T: message";
// "" when there is none.
std::string DegradedSummary(const Json& degraded);

// Every Revision record, newest (highest sequence) first.
Result<std::vector<Object>> ListRevisions(state::Client& client);
// Sequences are dense from 1, so records before the oldest one kept were
// removed by the history limit: "Revisions 1–11 were removed by the history
// limit; the oldest kept is revision 12", or "" when none were. `records`
// newest first, as ListRevisions gives them.
std::string RemovedRecordsNote(const std::vector<Object>& records);
// The Revision records of one commit (a full id; a commit may have several:
// refused, then synced again), in no order.
Result<std::vector<Object>> RecordsOfCommit(state::Client& client, const std::string& commit);

// Removes from/to of any diff entry of a Secret's data or stringData (or a
// SealedSecret's encryptedData) in a Revision record, so nothing bosun prints
// can show a secret value even if a record held one.
void ScrubSecretValues(Json* revision);

// True when `field` ("data.password") of an object of `kind` holds a secret
// value.
bool IsSecretField(const std::string& kind, const std::string& field);

// A diff entry ({"field","op","from","to"}, as docs/GITOPS.md and
// reconciler::FieldChangeToJson write it) as one line for a person:
// "~ spec.replicas: 3 → 5", "+ metadata.labels.tier: \"web\"",
// "- spec.paused: true", "~ data.password (changed, value hidden)".
std::string FormatFieldChange(const std::string& kind, const Json& change);

// The same, and for a change of a multi-line text (a config file in a
// ConfigMap) the lines that changed, each with one line of context, as
// `git diff` shows them: the first line is the summary ("~ data.nginx.conf:
// 1 line removed, 1 line added (of 12):"), the rest are indented by four
// spaces ("    @@ line 3", "    - listen 80;", "    + listen 8080;").
std::vector<std::string> FormatFieldChangeLines(const std::string& kind, const Json& change);
// A field the cluster owns (bosun.dev/ignore-fields, ignoreDifferences) whose
// live value the sync keeps: "spec.replicas: live 5, repository 3" (Secret
// values hidden).
std::string FormatIgnoredChange(const std::string& kind, const Json& change);
// The mark of one object's change, by its action's name (reconciler::
// ActionName, a record's "action"): "+" created, "-" deleted, "-/+"
// replaced, "~" updated.
const char* ChangeMark(const std::string& action);
// Why an object was replaced: "deleted and created again: spec.template is
// immutable", its immutable fields named.
std::string ReplacedBecause(const std::vector<std::string>& immutable_fields);

// An object of a Revision record (objects[], drift[]) for a person:
// "Deployment shop/web", "Namespace shop".
std::string ObjectName(const Json& o);

// A JSON value compact on one line, cut at about `max` characters with "…".
std::string ShortValue(const Json& value, size_t max = 120);

}  // namespace bosun::cli
