// gitsync/revert.h — undoing a commit the GitOps way: a `git revert` commit
// on top of the followed branch, pushed to the remote fast-forward only
// (DESIGN.md §4; the Git half of automated rollback, issue 6).
//
// Mirror::Revert(commit, options):
//  1. fetches the followed branch. A mirror that follows a tag, another ref
//     or a fixed commit has no branch to push to: kInvalid "cannot push a
//     revert: bosun follows tag v1, not a branch".
//  2. makes, on top of the branch head, the commit that reverts `commit`
//     (an in-memory three-way merge, as `git revert --no-edit` does it, with
//     no working tree), with the message
//
//       Revert "<subject of commit>"
//
//       This reverts commit <40-hex sha>.
//
//       Bosun-Reverts: <40-hex sha>
//       Bosun-Reason: <options.reason, on one line, at most 200 bytes>
//
//     (a merge commit reverted with `mainline`: "This reverts commit <sha>,
//     reversing\nchanges made to <parent>." as git writes it; no
//     Bosun-Reason line when the reason is empty), authored and committed by
//     options.author_name/email, now, and signed by options.signer when one
//     is given.
//     With options.back_to (an ancestor of `commit` further back than its
//     parent), one commit reverts every commit after back_to up to `commit`:
//     the three-way merge of the head with back_to's tree over `commit`'s,
//     so the followed files return to back_to's and later commits' changes
//     stay (`git revert --no-commit back_to..commit` in one commit):
//
//       Revert "<subject of commit>" and 2 earlier commits
//
//       This reverts commit <sha> and the commits before it, back to
//       <back_to sha>:
//         <short sha> <subject>        (first-parent, newest first, at most 20)
//         …
//
//       Bosun-Reverts: <sha>
//       Bosun-Reverts-To: <back_to sha>
//       Bosun-Reason: …
//
//     A back_to that is not an ancestor of `commit`, or that the mirror does
//     not have (the branch was rewritten) is not used: `commit` alone is
//     reverted, and RevertResult::back_to is empty;
//  3. pushes it to refs/heads/<branch> of the remote, never forced: only
//     when the remote branch is still at the head the revert was made on.
//     When someone pushed in between, it fetches and makes the revert again
//     on the new head, up to max_attempts times in all.
// Credentials, TLS and SSH host keys, and the no-progress timeout are those
// of Fetch. A local remote (path, file://) is updated by bosun itself: the
// objects copied as for a fetch, the ref moved with a compare-and-swap under
// git's lock file (libgit2's local transport would overwrite the ref without
// looking). The remote's hooks run for smart HTTP and SSH (git receive-pack),
// not for a local remote.
//
// On success the mirror's copy of the branch and Head() are the revert
// commit: the next sync sees it without waiting for a fetch.
//
// Outcomes — check `conflicts` first:
//  - pushed: {commit, base, attempts}.
//  - the revert conflicts with a later commit that changed the same lines:
//    `conflicts` lists the paths and `conflict_message` says so for a
//    person; nothing was pushed (a human has to revert by hand).
//  - an error, nothing pushed; each message names the commit, the remote URL
//    (never credentials) and the branch: "cannot push the revert of 1a2b3c4
//    to file:///srv/app.git (branch main): …".
//      kInvalid      not a branch (above); a merge commit without mainline,
//                    a mainline it does not have; max_attempts < 1; an
//                    author the commit format cannot hold
//      kNotFound     no such commit in the mirror, or it is not in the
//                    history of the branch head (rewritten away?); the
//                    branch is gone from the remote
//      kAlreadyExists  the branch head already undoes it: the revert would
//                    change nothing
//      kConflict     "the branch kept moving": every attempt lost the race
//      kForbidden    the remote refused the update though the branch had
//                    not moved (a protected branch, a hook)
//      kUnauthorized, kUnavailable, kIo  as for Fetch (the push's too)
//      the signer's error, with its code
//
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/result.h"
#include "gitsync/mirror.h"

namespace bosun::gitsync {

// Signs a commit: given the commit object exactly as it will be written
// (without the signature header), returns the armored signature for its
// gpgsig header ("-----BEGIN SSH SIGNATURE-----…" or a PGP block), or "" to
// leave the commit unsigned. An error stops the revert; nothing is pushed.
// Called without the mirror's lock held, once per attempt.
using Signer = std::function<Result<std::string>(const std::string& commit_content)>;

struct RevertOptions {
  // Why (recorded as Bosun-Reason): white space and control characters
  // become single spaces, and it is cut to 200 bytes (with "…").
  std::string reason;
  std::string author_name = "bosun";
  std::string author_email = "bosun@cluster.local";
  Signer signer;
  // For a merge commit: the parent (1-based) whose side is kept, as
  // `git revert -m`. 0 for an ordinary commit.
  unsigned mainline = 0;
  // Revert back to this commit (id or prefix): every commit after it up to
  // the reverted one (above). "" or the reverted commit's parent: that
  // commit alone.
  std::string back_to;
  int max_attempts = 3;
};

struct RevertResult {
  std::string commit;  // the revert commit, now the remote branch's head
  std::string base;    // the branch head it was made on (its parent)
  int attempts = 0;    // 1 when nobody raced it
  // A revert back to options.back_to was made (its full id), undoing
  // `commits` commits on the first-parent line; "" and 1 when the commit
  // alone was reverted.
  std::string back_to;
  size_t commits = 1;
  // A revert of the commit (its Bosun-Reverts trailer) was already on the
  // branch, pushed by an earlier leader: `commit` is that one, nothing new
  // was pushed.
  bool pushed_before = false;
  // Non-empty: the revert does not apply to the head cleanly, these paths
  // conflict, and nothing was pushed (`commit` is empty, `base` is the head
  // it was tried on).
  std::vector<std::string> conflicts;
  std::string conflict_message;
};

// A reason as it goes into the Bosun-Reason trailer (exposed for tests).
std::string RevertReasonLine(const std::string& reason);

// The commit a message says it reverts: a "Bosun-Reverts: <sha>" trailer
// wins over git revert's "This reverts commit <sha>."; "" when neither. The
// id is lower-cased, 7 to 40 hex digits as written.
std::string ParseReverts(const std::string& message);
// Whether a message is that of a revert bosun made (its Bosun-Reverts
// trailer), not a person's `git revert`.
bool IsBosunRevert(const std::string& message);
// The commit a revert of several commits goes back to: its
// "Bosun-Reverts-To: <sha>" trailer; "" when none.
std::string ParseRevertsTo(const std::string& message);

}  // namespace bosun::gitsync
