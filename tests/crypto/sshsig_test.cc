// SSH signatures (crypto/sshsig.h) against the real OpenSSH: signatures made
// by `ssh-keygen -Y sign -n git` verify here, and ours verify with
// `ssh-keygen -Y verify`; allowed-signers files.
#include "crypto/sshsig.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "crypto/tokens.h"
#include "tests/test_support.h"

namespace bosun::crypto {
namespace {

using test::RunCommand;
using test::TempDir;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An ed25519 key made by ssh-keygen, and a signature of `message` by it.
struct SshKeygen {
  TempDir dir{"bosun-sshsig"};
  std::string key;
  std::string pub;

  explicit SshKeygen(const std::string& name = "id") {
    key = dir.Sub(name);
    auto r = RunCommand("ssh-keygen -q -t ed25519 -N '' -C test@example.com -f " + key);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    pub = ReadAll(key + ".pub");
  }
  std::string Sign(const std::string& message, const std::string& ns = "git") {
    std::string file = dir.Write("msg", message);
    auto r = RunCommand("ssh-keygen -q -Y sign -n " + ns + " -f " + key + " " + file);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return ReadAll(file + ".sig");
  }
  std::string Fingerprint() {
    auto r = RunCommand("ssh-keygen -l -f " + key + ".pub");
    EXPECT_EQ(r.exit_code, 0) << r.out;
    std::istringstream ss(r.out);
    std::string bits, fp;
    ss >> bits >> fp;
    return fp;
  }
};

TEST(SshSigTest, VerifiesSshKeygenSignatures) {
  SshKeygen k;
  const std::string message = "tree 1234\nauthor A <a@b> 1 +0000\n\nhello\n";
  std::string armored = k.Sign(message);
  ASSERT_NE(armored.find("BEGIN SSH SIGNATURE"), std::string::npos);
  auto key = VerifyArmoredSshSignature(armored, message, "git");
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_EQ(key->type, "ssh-ed25519");
  EXPECT_EQ(key->Fingerprint(), k.Fingerprint());
  auto pub = ParseSshPublicKey(k.pub);
  ASSERT_TRUE(pub) << pub.error().message();
  EXPECT_TRUE(*pub == *key);
  EXPECT_EQ(key->ToString(), k.pub.substr(0, k.pub.find(" test@")));
  auto sig = ParseSshSignature(armored);
  ASSERT_TRUE(sig);
  EXPECT_EQ(sig->ns, "git");
  EXPECT_EQ(sig->hash_algorithm, "sha512");
}

TEST(SshSigTest, TamperedPayloadFails) {
  SshKeygen k;
  std::string armored = k.Sign("the message\n");
  auto r = VerifyArmoredSshSignature(armored, "the message!\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnauthorized);
  EXPECT_NE(r.error().message().find("does not match"), std::string::npos) << r.error().message();
}

TEST(SshSigTest, WrongNamespaceFails) {
  SshKeygen k;
  std::string armored = k.Sign("m\n", "file");
  auto r = VerifyArmoredSshSignature(armored, "m\n", "git");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "signed for namespace \"file\", not \"git\"");
}

TEST(SshSigTest, TruncatedAndGarbageFailClearly) {
  SshKeygen k;
  std::string armored = k.Sign("m\n");
  // Cut inside the base64 body (keeping the armor).
  std::string body = armored.substr(0, armored.find("-----END"));
  std::string cut = body.substr(0, body.size() / 2) + "\n-----END SSH SIGNATURE-----\n";
  auto r = ParseSshSignature(cut);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalid);
  EXPECT_NE(r.error().message().find("truncated"), std::string::npos) << r.error().message();

  auto no_end = ParseSshSignature(body);
  ASSERT_FALSE(no_end);
  EXPECT_NE(no_end.error().message().find("END SSH SIGNATURE"), std::string::npos);

  auto garbage = ParseSshSignature("-----BEGIN SSH SIGNATURE-----\n!!!notbase64\n-----END SSH SIGNATURE-----\n");
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message().find("base64"), std::string::npos);

  auto magic = ParseSshSignature("-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\nAAAA\n-----END SSH SIGNATURE-----");
  ASSERT_FALSE(magic);

  auto wrong = ParseSshSignature("-----BEGIN SSH SIGNATURE-----\naGVsbG8gd29ybGQ=\n-----END SSH SIGNATURE-----\n");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("SSHSIG"), std::string::npos);

  auto pgp = ParseSshSignature("-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----\n");
  ASSERT_FALSE(pgp);
  EXPECT_NE(pgp.error().message().find("PGP"), std::string::npos);

  EXPECT_EQ(ParseSshSignature(std::string(kMaxArmoredSignatureBytes + 1, 'A')).error().code(), Code::kTooLarge);
}

TEST(SshSigTest, UnsupportedKeyTypeIsReportedWithItsFingerprint) {
  TempDir dir("bosun-sshsig");
  std::string key = dir.Sub("ecdsa");
  auto made = RunCommand("ssh-keygen -q -t ecdsa -N '' -f " + key);
  ASSERT_EQ(made.exit_code, 0) << made.out;
  std::string file = dir.Write("msg", "m\n");
  auto r = RunCommand("ssh-keygen -q -Y sign -n git -f " + key + " " + file);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto v = VerifyArmoredSshSignature(ReadAll(file + ".sig"), "m\n");
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message().find("unsupported key type ecdsa-sha2-nistp256"), std::string::npos)
      << v.error().message();
  EXPECT_NE(v.error().message().find("SHA256:"), std::string::npos);
}

TEST(SshSigTest, OurSignaturesVerifyWithSshKeygen) {
  TempDir dir("bosun-sshsig");
  Ed25519KeyPair kp = GenerateEd25519KeyPair();
  auto pub = Ed25519PublicOf(kp.secret_key);
  ASSERT_TRUE(pub);
  EXPECT_EQ(*pub, kp.public_key);
  auto key = Ed25519PublicKey(kp.public_key);
  ASSERT_TRUE(key);
  const std::string message = "a commit\n";
  auto armored = SignSsh(kp.secret_key, message);
  ASSERT_TRUE(armored) << armored.error().message();
  ASSERT_TRUE(VerifyArmoredSshSignature(*armored, message));
  EXPECT_FALSE(VerifyArmoredSshSignature(*armored, message + "x"));

  dir.Write("allowed", "bosun@cluster " + key->ToString() + "\n");
  std::string msg = dir.Write("msg", message);
  dir.Write("msg.sig", *armored);
  auto r = RunCommand("ssh-keygen -Y verify -f " + dir.Sub("allowed") + " -I bosun@cluster -n git -s " +
                      dir.Sub("msg.sig") + " < " + msg);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto fp = RunCommand("echo '" + key->ToString() + "' | ssh-keygen -l -f -");
  EXPECT_NE(fp.out.find(key->Fingerprint()), std::string::npos) << fp.out;

  std::string bad = kp.secret_key;
  bad[40] ^= 1;
  EXPECT_FALSE(Ed25519PublicOf(bad));
  EXPECT_FALSE(SignSsh("short", message));
}

TEST(SshSigTest, AllowedSignersParsesGitsFormat) {
  SshKeygen a("a"), b("b");
  auto ka = ParseSshPublicKey(a.pub);
  auto kb = ParseSshPublicKey(b.pub);
  ASSERT_TRUE(ka && kb);
  std::string text = "# team keys\n\n" + std::string("alice@example.com,al@example.com ") + ka->ToString() +
                     " alice laptop\n" + "\"bob@example.com\" namespaces=\"git,file\",valid-after=\"20200101Z\" " +
                     kb->ToString() + "\n" + "carol@example.com ssh-rsa AAAAB3NzaC1yc2E=\n";
  auto s = ParseAllowedSigners(text, "allowed_signers");
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_EQ(s->entries.size(), 2u);
  EXPECT_EQ(s->entries[0].principals, "alice@example.com,al@example.com");
  EXPECT_EQ(s->entries[0].where, "allowed_signers:3");
  EXPECT_EQ(s->entries[1].principals, "bob@example.com");
  EXPECT_EQ(s->entries[1].namespaces, (std::vector<std::string>{"git", "file"}));
  ASSERT_TRUE(s->entries[1].valid_after);
  EXPECT_EQ(*s->entries[1].valid_after, 1577836800);
  ASSERT_EQ(s->warnings.size(), 1u);
  EXPECT_NE(s->warnings[0].find("allowed_signers:5"), std::string::npos);

  const int64_t now = 1800000000;
  EXPECT_EQ(s->Find(*ka, "git", now), &s->entries[0]);
  EXPECT_EQ(s->Find(*kb, "git", now), &s->entries[1]);
  std::string why;
  EXPECT_EQ(s->Find(*kb, "git", 1000, &why), nullptr);
  EXPECT_NE(why.find("only valid after 2020-01-01"), std::string::npos) << why;
  EXPECT_EQ(s->Find(*kb, "ssh", now, &why), nullptr);
  EXPECT_NE(why.find("namespace"), std::string::npos);
  SshKeygen c("c");
  EXPECT_EQ(s->Find(*ParseSshPublicKey(c.pub), "git", now, &why), nullptr);
  EXPECT_EQ(why, "");
}

TEST(SshSigTest, AllowedSignersErrorsNameFileAndLine) {
  SshKeygen a;
  auto ka = ParseSshPublicKey(a.pub);
  ASSERT_TRUE(ka);
  auto expect_error = [](const std::string& text, const std::string& want) {
    auto s = ParseAllowedSigners(text, "signers");
    ASSERT_FALSE(s) << text;
    EXPECT_NE(s.error().message().find(want), std::string::npos) << s.error().message();
  };
  expect_error("\nx@y cert-authority " + ka->ToString() + "\n", "signers:2: cert-authority is not supported");
  expect_error("x@y bogus=1 " + ka->ToString() + "\n", "signers:1: unknown option \"bogus\"");
  expect_error("x@y valid-before=\"tomorrow\" " + ka->ToString() + "\n", "signers:1: valid-before=");
  expect_error("x@y\n", "signers:1: want");
  expect_error("x@y ssh-ed25519 !!!\n", "signers:1: the ssh-ed25519 key is not valid base64");
  expect_error("x@y ssh-ed25519\n", "signers:1: the ssh-ed25519 key has no base64 data");
  expect_error("\"x@y " + ka->ToString() + "\n", "signers:1: a quote is not closed");
  EXPECT_EQ(LoadAllowedSigners("/nonexistent/signers").error().code(), Code::kIo);
}

// git itself accepts what ssh-keygen accepts with this file.
TEST(SshSigTest, AllowedSignersAgreeWithSshKeygen) {
  SshKeygen a;
  std::string msg = "payload\n";
  std::string sig = a.Sign(msg);
  auto ka = ParseSshPublicKey(a.pub);
  ASSERT_TRUE(ka);
  std::string file = a.dir.Write("allowed", "dev@example.com namespaces=\"git\" " + ka->ToString() + "\n");
  auto loaded = LoadAllowedSigners(file);
  ASSERT_TRUE(loaded) << loaded.error().message();
  auto key = VerifyArmoredSshSignature(sig, msg);
  ASSERT_TRUE(key);
  const AllowedSigner* who = loaded->Find(*key, "git", 1800000000);
  ASSERT_NE(who, nullptr);
  EXPECT_EQ(who->principals, "dev@example.com");
  a.dir.Write("m", msg);
  a.dir.Write("m.sig", sig);
  auto r = RunCommand("ssh-keygen -Y find-principals -f " + file + " -s " + a.dir.Sub("m.sig"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("dev@example.com"), std::string::npos);
}

}  // namespace
}  // namespace bosun::crypto
