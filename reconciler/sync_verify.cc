// Signature verification of a revision before anything of it is trusted
// (docs/GITOPS.md "Signed commits"; TRUST HOOK 1 in sync_pass.cc).
//
// The effective level is the strictest of the server's --verify-commits, the
// live revision's SyncConfig (already verified) and the new revision's own
// SyncConfig: a revision can raise the level it is checked at, never lower
// it. "head" checks the head commit; "all" every commit reachable from the
// head and not from the live commit (merges included), or the head alone
// when nothing is live. A commit passes when it carries an SSH signature
// (namespace git, ssh-ed25519) that matches its content, by a key in the
// allowed-signers file (valid at the commit's committer time) or the
// cluster's own key. One failing commit refuses the whole revision
// ("Unverified", one diagnostic per bad commit). At level "none" the head's
// signature is still checked and recorded, never enforced.
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "core/log.h"
#include "crypto/sshsig.h"
#include "crypto/tokens.h"
#include "reconciler/signing_key.h"
#include "reconciler/sync_internal.h"

namespace bosun::reconciler {
namespace {

// Commits listed one by one in status.signature.commits, at most.
constexpr size_t kMaxListedCommits = 20;
// Bad commits given a diagnostic each, at most (the last one counts the rest).
constexpr size_t kMaxDiagnostics = 50;

int LevelRank(const std::string& level) {
  if (level == "none") return 0;
  if (level == "head") return 1;
  return 2;  // "all", and anything unknown (the strictest reading)
}

const char* LevelName(int rank) {
  return rank == 0 ? "none" : rank == 1 ? "head" : "all";
}

struct CommitCheck {
  std::string commit;
  bool signed_ = false;
  bool ok = false;
  std::string signer;  // the allowed-signers principals, or the cluster's
  std::string key;     // fingerprint, when a signature could be read
  std::string problem;
};

std::string Subject(const gitsync::CommitInfo& c) {
  std::string s = c.summary.empty() ? c.message.substr(0, c.message.find('\n')) : c.summary;
  if (s.size() > 50) s = s.substr(0, 47) + "...";
  return s;
}

// On an Unverified refusal: what was trusted then (TrustDigest).
constexpr const char* kTrustAnnotation = "bosun.dev/trust-digest";

// A digest of the server's trust configuration: the allowed-signers file as
// it is now and the server's verify level (the cluster key never changes).
std::string TrustDigest(const SyncOptions& opt) {
  std::string content;
  if (!opt.allowed_signers_file.empty()) {
    std::ifstream in(opt.allowed_signers_file, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    content = ss.str();
  }
  return crypto::HashToken(opt.verify + "\n" + opt.allowed_signers_file + "\n" + content);
}

}  // namespace

bool SyncController::Impl::TrustChangedSince(const Object& refused) {
  if (refused.status().value("reason", "") != "Unverified") return false;
  auto then = refused.annotation(kTrustAnnotation);
  if (!then || *then == TrustDigest(opt)) return false;
  log::Info(kSyncComponent, "the trusted signers changed: checking a refused revision again",
            {{"rev", ShortSha(refused.spec().value("commit", ""))}, {"revision", refused.name()}});
  return true;
}

struct SyncController::Impl::Trust {
  std::string file_content;  // as last read
  std::optional<crypto::AllowedSigners> signers;
  std::optional<crypto::SshPublicKey> cluster_key;
};

void SetSignatureStatus(Object& record, const Json& signature) {
  if (!signature.is_object()) return;
  record.json()["status"]["signature"] = signature;
  Json& spec_sig = record.json()["spec"]["signature"];
  if (!spec_sig.is_object()) return;
  const Json& head = Object::Field(signature, "head");
  if (!head.is_object()) return;
  bool ok = Object::Field(head, "verified") == Json(true);
  std::string key = Object::Field(head, "key").is_string() ? Object::Field(head, "key").get<std::string>() : "";
  spec_sig["status"] = ok ? "verified" : Object::Field(head, "signed") == Json(true) ? "unverified" : "unsigned";
  spec_sig["key"] = key;
  if (ok) spec_sig["signer"] = Object::Field(head, "signer");
}

std::optional<Result<std::string>> SyncController::Impl::VerifySignatures(PassContext& ctx,
                                                                          const SyncSettings& settings) {
  if (!trust) trust = std::make_shared<Trust>();
  std::string live_level;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    live_level = ctx.live_commit.empty() ? "none" : live_settings.verify;
  }
  int rank = LevelRank(opt.verify);
  std::string from = "the server's --verify-commits";
  if (LevelRank(live_level) > rank) {
    rank = LevelRank(live_level);
    from = "the live revision's SyncConfig (" + ShortSha(ctx.live_commit) + ")";
  }
  if (LevelRank(settings.verify) > rank) {
    rank = LevelRank(settings.verify);
    from = "this revision's " + settings.from;
  }
  const bool enforce = rank > 0;
  const std::string rev = ShortSha(ctx.head);

  // Who is trusted: the allowed-signers file (read again each pass, parsed
  // again when it changed) and the cluster's own key.
  if (!opt.allowed_signers_file.empty()) {
    std::ifstream in(opt.allowed_signers_file, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string error;
    if (!in.is_open() || in.bad()) {
      error = "cannot read the allowed signers file " + opt.allowed_signers_file;
    } else if (!trust->signers || ss.str() != trust->file_content) {
      auto parsed = crypto::ParseAllowedSigners(ss.str(), opt.allowed_signers_file);
      if (!parsed) {
        error = parsed.error().message();
      } else {
        for (const std::string& w : parsed->warnings) log::Warn(kSyncComponent, "allowed signers", {{"warning", w}});
        log::Info(kSyncComponent, trust->signers ? "allowed signers reloaded" : "allowed signers loaded",
                  {{"file", opt.allowed_signers_file}, {"keys", std::to_string(parsed->entries.size())}});
        trust->signers = std::move(*parsed);
        trust->file_content = ss.str();
      }
    }
    if (!error.empty()) {
      // A broken file is the server's configuration, not the revision's
      // fault: nothing is applied or recorded; the pass is retried.
      trust->signers.reset();
      if (enforce) {
        SetRepositoryStatus([&](Json& st) { st["lastSyncError"] = "signature verification: " + error; });
        WriteRepositoryStatus();
        return Result<std::string>(Error(Code::kInvalid, "cannot verify " + rev + ": " + error));
      }
    }
  }
  if (!trust->cluster_key) {
    auto k = ReadClusterSigningKey(*client);
    if (k) {
      trust->cluster_key = *k;
    } else if (k.error().code() != Code::kNotFound && enforce) {
      return Result<std::string>(k.error().Wrap("cannot read the cluster signing key"));
    }
  }

  // Which commits.
  std::vector<std::string> ids = {ctx.head};
  if (rank == 2 && !ctx.live_commit.empty()) {
    auto between = mirror->CommitsBetween(ctx.live_commit, ctx.head);
    if (!between) return Result<std::string>(between.error().Wrap("cannot list the commits of " + rev));
    ids = std::move(*between);
    if (ids.empty()) ids = {ctx.head};
  }

  auto check = [&](const gitsync::CommitInfo& c) {
    CommitCheck r;
    r.commit = c.id;
    r.signed_ = !c.signature.empty();
    if (!r.signed_) {
      r.problem = "not signed";
      return r;
    }
    auto sig = crypto::ParseSshSignature(c.signature);
    if (!sig) {
      r.problem = "its signature cannot be read: " + sig.error().message();
      return r;
    }
    r.key = sig->key.Fingerprint();
    std::string why_not;
    const crypto::AllowedSigner* who =
        trust->signers ? trust->signers->Find(sig->key, "git", c.committer.time, &why_not) : nullptr;
    if (who != nullptr) {
      r.signer = who->principals;
    } else if (trust->cluster_key && *trust->cluster_key == sig->key) {
      r.signer = std::string(kClusterPrincipal) + " (the cluster's signing key)";
    }
    if (Status s = crypto::VerifySshSignature(*sig, c.signed_payload, "git"); !s) {
      r.problem = "bad signature by " + sig->key.type + " key " + r.key +
                  (r.signer.empty() ? "" : " (" + r.signer + ")") + ": " + s.error().message();
      return r;
    }
    if (r.signer.empty()) {
      r.problem = "signed by " + sig->key.type + " key " + r.key + ", which is not trusted (" +
                  (!why_not.empty()                      ? why_not
                   : opt.allowed_signers_file.empty()    ? "no --allowed-signers file: only the cluster's own key is"
                                                           " trusted"
                                                         : "not in " + opt.allowed_signers_file) +
                  ")";
      return r;
    }
    r.ok = true;
    return r;
  };

  std::vector<CommitCheck> checks;
  std::vector<Diagnostic> diags;
  size_t bad = 0;
  for (const std::string& id : ids) {
    gitsync::CommitInfo info;
    if (id == ctx.head) {
      info = ctx.commit;
    } else {
      auto c = mirror->Commit(id);
      if (!c) return Result<std::string>(c.error().Wrap("cannot read commit " + ShortSha(id)));
      info = std::move(*c);
    }
    CommitCheck r = check(info);
    if (!r.ok) {
      ++bad;
      if (diags.size() < kMaxDiagnostics) {
        Diagnostic d;
        d.file = "commit " + ShortSha(id) + " (\"" + Subject(info) + "\")";
        d.message = r.problem;
        diags.push_back(std::move(d));
      }
    }
    checks.push_back(std::move(r));
  }
  if (bad > diags.size()) {
    Diagnostic d;
    d.file = "commits";
    d.message = std::to_string(bad - diags.size()) + " more unverified commits not listed";
    diags.push_back(std::move(d));
  }

  // status.signature.
  auto head_it = std::find_if(checks.begin(), checks.end(), [&](const CommitCheck& r) { return r.commit == ctx.head; });
  const CommitCheck& head = head_it != checks.end() ? *head_it : checks.back();
  Json sig = {{"level", LevelName(rank)},
              {"levelFrom", from},
              {"enforced", enforce},
              {"verified", bad == 0},
              {"signer", head.signer},
              {"key", head.key},
              {"commitsChecked", checks.size()},
              {"unverifiedCommits", bad}};
  auto entry = [](const CommitCheck& r) {
    Json e = {{"commit", r.commit}, {"signed", r.signed_}, {"verified", r.ok}};
    if (!r.signer.empty()) e["signer"] = r.signer;
    if (!r.key.empty()) e["key"] = r.key;
    if (!r.problem.empty()) e["problem"] = r.problem;
    return e;
  };
  sig["head"] = entry(head);
  std::set<std::string> signers;
  Json listed = Json::array();
  for (const CommitCheck& r : checks) {
    if (r.ok) signers.insert(r.signer + " " + r.key);
    if (listed.size() < kMaxListedCommits && (!r.ok || checks.size() <= kMaxListedCommits)) listed.push_back(entry(r));
  }
  sig["signers"] = Json(std::vector<std::string>(signers.begin(), signers.end()));
  if (checks.size() > 1) sig["commits"] = std::move(listed);
  ctx.signature = std::move(sig);

  if (!enforce) return std::nullopt;
  if (bad == 0) {
    log::Info(kSyncComponent, "signatures verified",
              {{"rev", rev}, {"level", LevelName(rank)}, {"commits", std::to_string(checks.size())},
               {"signer", head.signer}, {"key", head.key}});
    return std::nullopt;
  }
  std::string what = std::to_string(bad) + " of " + std::to_string(checks.size()) + " commit" +
                     (checks.size() == 1 ? "" : "s") + " not signed by a trusted key (verify: " + LevelName(rank) +
                     ", from " + from + ")";
  std::string digest = TrustDigest(opt);
  return WriteRefusal(ctx, "Unverified", what, diags, [&](Object& r) { r.set_annotation(kTrustAnnotation, digest); });
}

}  // namespace bosun::reconciler
