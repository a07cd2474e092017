// Signed commits (docs/GITOPS.md "Signed commits"): the sync controller
// verifies commits the real git CLI signed with ssh-keygen-made ed25519 keys
// (gpg.format=ssh) against an allowed-signers file and the cluster's key,
// and refuses a revision whole when any commit it must check is not signed
// by a trusted key.
#include <gtest/gtest.h>

#include <fstream>

#include "crypto/sshsig.h"
#include "gitsync/revert.h"
#include "reconciler/signing_key.h"
#include "tests/reconciler/sync_test_support.h"

namespace bosun::reconciler::synctest {
namespace {

class SyncVerifyTest : public SyncFixture {
 protected:
  SyncVerifyTest() {
    trusted_key_ = MakeKey("trusted");
    stranger_key_ = MakeKey("stranger");
    signers_file_ = tmp_.Write("allowed_signers", "dev@example.com " + PublicOf(trusted_key_) + "\n");
  }

  std::string MakeKey(const std::string& name) {
    std::string key = tmp_.Sub(name);
    auto r = RunCommand("ssh-keygen -q -t ed25519 -N '' -C " + name + " -f " + key);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return key;
  }
  std::string PublicOf(const std::string& key) {
    std::ifstream in(key + ".pub");
    std::string type, b64;
    in >> type >> b64;
    return type + " " + b64;
  }
  std::string FingerprintOf(const std::string& key) {
    auto k = crypto::ParseSshPublicKey(PublicOf(key));
    EXPECT_TRUE(k);
    return k ? k->Fingerprint() : "";
  }

  // Commits files signed by `key` with the real git CLI ("" = unsigned).
  std::string SignedCommit(const std::map<std::string, std::optional<std::string>>& files, const std::string& key,
                           const std::string& message = "change") {
    if (key.empty()) return repo_.Commit(files, message);
    for (const auto& [path, content] : files) tmp_.Write("repo/" + path, content.value_or(""));
    repo_.Git("add -A");
    std::ofstream(tmp_.Sub("commit-msg.txt")) << message;
    repo_.Git("-c gpg.format=ssh -c user.signingkey=" + key + " commit -q -S --allow-empty -F " +
              tmp_.Sub("commit-msg.txt"));
    return repo_.Head();
  }

  void Controller(const std::string& verify) {
    MakeController([&](SyncOptions& o) {
      o.verify = verify;
      o.allowed_signers_file = signers_file_;
    });
  }

  std::string Phase(const Object& r) { return r.json().value("/status/phase"_json_pointer, ""); }
  std::string Reason(const Object& r) { return r.json().value("/status/reason"_json_pointer, ""); }
  std::string Errors(const Object& r) { return Object::Field(r.status(), "errors").dump(); }

  std::string trusted_key_, stranger_key_, signers_file_;
};

TEST_F(SyncVerifyTest, SignedByTrustedKeyIsAppliedAndRecordsTheSigner) {
  std::string c = SignedCommit({{"ns.yaml", NamespaceYaml("shop")}}, trusted_key_, "add shop");
  Controller("head");
  Object r = Record(Sync());
  EXPECT_EQ(Phase(r), "Applied") << r.json().dump();
  EXPECT_TRUE(Live("namespaces", "", "shop"));
  const Json& sig = Object::Field(r.status(), "signature");
  EXPECT_EQ(sig.value("verified", false), true) << sig.dump();
  EXPECT_EQ(sig.value("signer", ""), "dev@example.com");
  EXPECT_EQ(sig.value("key", ""), FingerprintOf(trusted_key_));
  EXPECT_EQ(sig.value("level", ""), "head");
  EXPECT_EQ(sig.value("commitsChecked", 0), 1);
  EXPECT_EQ(Object::Field(r.spec(), "signature").value("status", ""), "verified");
  // git itself agrees with the same allowed-signers file.
  auto v = RunCommand("cd " + repo_.dir() + " && git -c gpg.ssh.allowedSignersFile=" + signers_file_ +
                      " verify-commit " + c);
  EXPECT_EQ(v.exit_code, 0) << v.out;
}

TEST_F(SyncVerifyTest, UnsignedAndUnknownKeyAreRefusedWithTheSignerFound) {
  SignedCommit({{"ns.yaml", NamespaceYaml("shop")}}, "", "unsigned change");
  Controller("head");
  Object r = Record(Sync());
  EXPECT_EQ(Phase(r), "Refused");
  EXPECT_EQ(Reason(r), "Unverified");
  EXPECT_NE(Errors(r).find("not signed"), std::string::npos) << Errors(r);
  EXPECT_FALSE(Live("namespaces", "", "shop"));

  SignedCommit({{"ns.yaml", NamespaceYaml("shop2")}}, stranger_key_, "stranger's change");
  Object r2 = Record(Sync());
  EXPECT_EQ(Phase(r2), "Refused");
  EXPECT_EQ(Reason(r2), "Unverified");
  EXPECT_NE(Errors(r2).find(FingerprintOf(stranger_key_)), std::string::npos) << Errors(r2);
  EXPECT_NE(Errors(r2).find("not trusted"), std::string::npos) << Errors(r2);
  EXPECT_NE(Errors(r2).find("stranger's change"), std::string::npos) << Errors(r2);
  EXPECT_EQ(Object::Field(r2.status(), "signature").value("key", ""), FingerprintOf(stranger_key_));
  EXPECT_FALSE(Live("namespaces", "", "shop2"));
}

TEST_F(SyncVerifyTest, TamperedCommitIsRefused) {
  std::string c = SignedCommit({{"ns.yaml", NamespaceYaml("shop")}}, trusted_key_, "add shop");
  // The same commit object, gpgsig kept, message altered.
  repo_.Git("cat-file commit " + c + " > " + tmp_.Sub("c.txt"));
  RunCommand("sed -i 's/^add shop$/add shop and more/' " + tmp_.Sub("c.txt"));
  std::string forged = repo_.Git("hash-object -t commit -w " + tmp_.Sub("c.txt"));
  ASSERT_NE(forged, c);
  repo_.Git("update-ref refs/heads/main " + forged);
  ASSERT_NE(repo_.Git("cat-file commit " + forged).find("gpgsig"), std::string::npos);
  Controller("head");
  Object r = Record(Sync());
  EXPECT_EQ(Phase(r), "Refused");
  EXPECT_EQ(Reason(r), "Unverified");
  EXPECT_NE(Errors(r).find("bad signature"), std::string::npos) << Errors(r);
  EXPECT_NE(Errors(r).find("dev@example.com"), std::string::npos) << Errors(r);
  EXPECT_FALSE(Live("namespaces", "", "shop"));
}

TEST_F(SyncVerifyTest, VerifyAllFindsAnUnsignedCommitInTheMiddle) {
  SignedCommit({{"ns.yaml", NamespaceYaml("shop")}}, trusted_key_, "first");
  Controller("all");
  ASSERT_EQ(Phase(Record(Sync())), "Applied");
  std::string hidden = SignedCommit({{"a.yaml", ConfigMapYaml("a", "shop", "1")}}, "", "sneaky unsigned");
  SignedCommit({{"b.yaml", ConfigMapYaml("b", "shop", "2")}}, trusted_key_, "signed on top");
  Object r = Record(Sync());
  EXPECT_EQ(Phase(r), "Refused");
  EXPECT_EQ(Reason(r), "Unverified");
  EXPECT_NE(Errors(r).find(hidden.substr(0, 7)), std::string::npos) << Errors(r);
  EXPECT_NE(Errors(r).find("sneaky unsigned"), std::string::npos) << Errors(r);
  EXPECT_EQ(Object::Field(r.status(), "signature").value("commitsChecked", 0), 2);
  EXPECT_FALSE(Live("configmaps", "shop", "a"));
  EXPECT_FALSE(Live("configmaps", "shop", "b"));

  // Under "head" only the head would have been checked: the same range
  // passes, which is why "all" exists.
  Controller("head");
  SignedCommit({{"c.yaml", ConfigMapYaml("c", "shop", "3")}}, trusted_key_, "newer head");
  EXPECT_EQ(Phase(Record(Sync())), "Applied");
}

TEST_F(SyncVerifyTest, ARevisionCannotLowerTheLevel) {
  // The live revision asks for verify: all (the server says none).
  SignedCommit({{"ns.yaml", NamespaceYaml("shop")}, {"sync.yaml", SyncConfigYaml("  verify: all\n")}}, trusted_key_,
               "verify all");
  Controller("none");
  ASSERT_EQ(Phase(Record(Sync())), "Applied");
  // An unsigned revision that turns verification off is still checked.
  SignedCommit({{"sync.yaml", SyncConfigYaml("  verify: none\n")}, {"x.yaml", ConfigMapYaml("x", "shop", "1")}}, "",
               "turn verification off");
  Object r = Record(Sync());
  EXPECT_EQ(Phase(r), "Refused");
  EXPECT_EQ(Reason(r), "Unverified");
  EXPECT_NE(Object::Field(r.status(), "signature").value("levelFrom", "").find("live revision"), std::string::npos);
  EXPECT_FALSE(Live("configmaps", "shop", "x"));
}

TEST_F(SyncVerifyTest, ARevisionCanRaiseTheLevelAndNoneStillRecords) {
  SignedCommit({{"ns.yaml", NamespaceYaml("shop")}}, "", "unsigned, verify none");
  Controller("none");
  Object r = Record(Sync());
  EXPECT_EQ(Phase(r), "Applied");
  EXPECT_EQ(Object::Field(r.status(), "signature").value("verified", true), false);
  EXPECT_EQ(Object::Field(r.status(), "signature").value("enforced", true), false);
  SignedCommit({{"sync.yaml", SyncConfigYaml("  verify: head\n")}}, "", "unsigned, raising to head");
  Object r2 = Record(Sync());
  EXPECT_EQ(Phase(r2), "Refused");
  EXPECT_NE(Object::Field(r2.status(), "signature").value("levelFrom", "").find("this revision"), std::string::npos);
}

TEST_F(SyncVerifyTest, AllowedSignersAreReadAgainWhenTheyChange) {
  SignedCommit({{"ns.yaml", NamespaceYaml("shop")}}, stranger_key_, "by stranger");
  Controller("head");
  EXPECT_EQ(Phase(Record(Sync())), "Refused");
  EXPECT_EQ(Sync(), "");  // refused stays refused while nothing changes
  // Trusting the key checks the same head again: no new commit needed.
  std::ofstream(signers_file_, std::ios::app) << "stranger@example.com " << PublicOf(stranger_key_) << "\n";
  Object r = Record(Sync());
  EXPECT_EQ(Phase(r), "Applied") << Errors(r);
  EXPECT_EQ(Object::Field(r.status(), "signature").value("signer", ""), "stranger@example.com");
  EXPECT_TRUE(Live("namespaces", "", "shop"));

  // A broken file stops syncing (an error, retried) rather than trusting less or more.
  std::ofstream(signers_file_, std::ios::app) << "x@y cert-authority " << PublicOf(stranger_key_) << "\n";
  SignedCommit({{"cm.yaml", ConfigMapYaml("a", "shop", "2")}}, stranger_key_, "another");
  auto failed = ctl_->SyncOnce(SyncTrigger::kPoll);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message().find("allowed_signers:3: cert-authority"), std::string::npos)
      << failed.error().message();
}

TEST_F(SyncVerifyTest, ClusterRevertCommitsVerify) {
  auto key = EnsureClusterSigningKey(api_.client());
  ASSERT_TRUE(key) << key.error().message();
  auto again = EnsureClusterSigningKey(api_.client());
  ASSERT_TRUE(again);
  EXPECT_TRUE(*again == *key);  // one key, however often a leader starts
  auto cm = api_.client().Get(Kind("configmaps"), kSystemNamespace, kSigningKeyName);
  ASSERT_TRUE(cm);
  EXPECT_EQ(Object::Field(cm->json(), "data").value("fingerprint", ""), key->Fingerprint());

  SignedCommit({{"ns.yaml", NamespaceYaml("shop")}}, trusted_key_, "shop");
  std::string bad = SignedCommit({{"cm.yaml", ConfigMapYaml("a", "shop", "bad")}}, trusted_key_, "bad change");
  Controller("all");
  ASSERT_EQ(Phase(Record(Sync())), "Applied");
  repo_.Git("checkout -q --detach");  // bosun pushes only to a branch nobody has checked out
  gitsync::RevertOptions ro;
  ro.reason = "Degraded";
  ro.signer = ClusterCommitSigner(&api_.client());
  auto reverted = mirror_->Revert(bad, ro);
  ASSERT_TRUE(reverted) << reverted.error().message();
  Object r = Record(Sync());
  EXPECT_EQ(Phase(r), "Applied") << Errors(r);
  const Json& sig = Object::Field(r.status(), "signature");
  EXPECT_EQ(sig.value("key", ""), key->Fingerprint());
  EXPECT_NE(sig.value("signer", "").find("cluster"), std::string::npos);

  // `git verify-commit` accepts it with the ConfigMap's allowed-signers line.
  std::string file = tmp_.Write("cluster_signers", Object::Field(cm->json(), "data").value("allowedSigners", ""));
  auto v = RunCommand("cd " + repo_.dir() + " && git -c gpg.ssh.allowedSignersFile=" + file + " verify-commit " +
                      reverted->commit);
  EXPECT_EQ(v.exit_code, 0) << v.out;
  EXPECT_NE(v.out.find("Good \"git\" signature"), std::string::npos) << v.out;
}

}  // namespace
}  // namespace bosun::reconciler::synctest
