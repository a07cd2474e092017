// bench_trust — what trust costs: verifying signed commits, and Secrets
// encrypted at rest.
//
//   bench_trust [--bosun PATH] [--commits N] [--secrets N] [--dir DIR] [--keep]
//
//   verify     N commits (default 200) signed by the git CLI with an ed25519
//              SSH key (gpg.format=ssh). bosun's check of all of them
//              (crypto/sshsig.h: parse the SSHSIG armor, look the key up in
//              an allowed-signers file, verify ed25519 with libsodium) vs. the
//              git CLI checking the same range with the same allowed-signers
//              file (`git log --format=%G?`, which runs `ssh-keygen -Y
//              verify` per commit) — the baseline a Flux or Argo CD user has.
//              Reading the commit objects is not timed on either side.
//   at rest    one `bosun server` (Secrets encrypted with XChaCha20-Poly1305
//              through state's ValueCodec); N Secrets (default 1,000, 1 KiB
//              of data each) created through the API, one request at a
//              time, then listed (5 times, averaged); against the same for
//              N ConfigMaps of the same size, which are stored plain
//              (interleaved with the Secrets): the ratio is the cost of
//              encryption at rest as a user of the API sees it. Afterwards
//              every file under the member's data folder is searched for the
//              Secrets' plaintext, so the figure is known to be of encrypted
//              writes.
//
// Progress goes to stderr; the figures to stdout. Everything it starts is
// stopped, and DIR removed, at the end (unless --keep).

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_cluster.h"
#include "bench/bench_http.h"
#include "bench/bench_shell.h"
#include "crypto/sshsig.h"

#ifndef BOSUN_BENCH_BOSUN_BINARY
#define BOSUN_BENCH_BOSUN_BINARY "bosun"
#endif

namespace {

namespace fs = std::filesystem;
using bosun::Code;
using bosun::Error;
using bosun::Result;
using bosun::Status;
using bosun::bench::HttpConnection;
using bosun::bench::Ms;
using bosun::bench::Sh;
using bosun::bench::ShOutput;
using bosun::bench::WriteFile;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

struct Args {
  std::string bosun = BOSUN_BENCH_BOSUN_BINARY;
  int commits = 200;
  int secrets = 1000;
  fs::path dir;
  bool keep = false;
};

// A raw commit object split as Git signs it: the signature (the gpgsig
// header's value, continuation lines unfolded) and the payload (the object
// without that header).
struct SignedCommit {
  std::string signature;
  std::string payload;
};

SignedCommit SplitCommit(const std::string& raw) {
  SignedCommit out;
  std::istringstream in(raw);
  std::string line;
  bool in_sig = false, in_headers = true;
  while (std::getline(in, line)) {
    if (in_headers && line.empty()) in_headers = false;
    if (in_headers && line.rfind("gpgsig ", 0) == 0) {
      in_sig = true;
      out.signature += line.substr(7) + "\n";
      continue;
    }
    if (in_sig && !line.empty() && line[0] == ' ') {
      out.signature += line.substr(1) + "\n";
      continue;
    }
    in_sig = false;
    out.payload += line + "\n";
  }
  if (!raw.empty() && raw.back() != '\n' && !out.payload.empty()) out.payload.pop_back();
  return out;
}

Status BenchVerify(const Args& a) {
  fs::path dir = a.dir / "verify";
  fs::path log = a.dir / "git.log";
  fs::create_directories(dir);
  std::fprintf(stderr, "verify: making %d signed commits with the git CLI…\n", a.commits);
  if (Status s = Sh("ssh-keygen -q -t ed25519 -N '' -C bench -f " + (dir / "key").string(), log); !s) return s;
  auto pub = ShOutput("cat " + (dir / "key.pub").string());
  if (!pub) return pub.error();
  std::string pub_line = *pub;
  while (!pub_line.empty() && pub_line.back() == '\n') pub_line.pop_back();
  // "ssh-ed25519 AAAA… bench" → principal, type, key.
  std::istringstream pl(pub_line);
  std::string type, b64;
  pl >> type >> b64;
  WriteFile(dir / "allowed_signers", "bench@example.com " + type + " " + b64 + "\n");
  fs::path work = dir / "repo";
  std::string git = "git -C " + work.string() +
                    " -c user.name=bench -c user.email=bench@example.com -c gpg.format=ssh -c user.signingkey=" +
                    (dir / "key.pub").string() + " -c gpg.ssh.allowedSignersFile=" +
                    (dir / "allowed_signers").string();
  if (Status s = Sh("git init -q -b main " + work.string(), log); !s) return s;
  for (int i = 0; i < a.commits; ++i) {
    WriteFile(work / "app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  version: \"" +
                                     std::to_string(i) + "\"\n");
    if (Status s = Sh(git + " add -A && " + git + " commit -q -S -m 'v" + std::to_string(i) + "'", log); !s) return s;
  }
  auto ids = ShOutput("git -C " + work.string() + " rev-list HEAD");
  if (!ids) return ids.error();
  std::vector<SignedCommit> commits;
  std::istringstream idl(*ids);
  for (std::string id; std::getline(idl, id);) {
    auto raw = ShOutput("git -C " + work.string() + " cat-file commit " + id);
    if (!raw) return raw.error();
    commits.push_back(SplitCommit(*raw));
  }

  // bosun: the allowed-signers file is read once, as the server does.
  auto t0 = SteadyClock::now();
  auto signers = bosun::crypto::LoadAllowedSigners((dir / "allowed_signers").string());
  if (!signers) return signers.error();
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  int good = 0;
  for (const SignedCommit& c : commits) {
    auto key = bosun::crypto::VerifyArmoredSshSignature(c.signature, c.payload);
    if (key && signers->Find(*key, "git", now) != nullptr) ++good;
  }
  double bosun_ms = Ms(SteadyClock::now() - t0);
  if (good != static_cast<int>(commits.size())) {
    return Error(Code::kInternal, "bosun verified " + std::to_string(good) + " of " + std::to_string(commits.size()) +
                                      " signed commits; the bench's commit parsing or the verifier is wrong");
  }

  auto t1 = SteadyClock::now();
  auto marks = ShOutput(git + " log --format=%G? HEAD");
  double git_ms = Ms(SteadyClock::now() - t1);
  if (!marks) return marks.error();
  int git_good = static_cast<int>(std::count(marks->begin(), marks->end(), 'G'));
  if (git_good != static_cast<int>(commits.size())) {
    return Error(Code::kInternal, "git verified " + std::to_string(git_good) + " of " +
                                      std::to_string(commits.size()) + " commits (is ssh-keygen installed?)");
  }
  std::printf("verify   %d signed commits   bosun %.1f ms (%.3f ms/commit)   git log %%G? %.1f ms (%.2f ms/commit)   "
              "ratio bosun/git %.4f\n",
              a.commits, bosun_ms, bosun_ms / a.commits, git_ms, git_ms / a.commits, bosun_ms / git_ms);
  return Status();
}

struct Timed {
  double create_ms = 0;
  double list_ms = 0;
};

// One object of `kind` ("Secret" or "ConfigMap") with 1 KiB of data that
// starts with `marker`.
Status CreateOne(HttpConnection& c, const std::string& kind, int i, const std::string& marker, Timed* t) {
  std::string plain = marker + "-" + std::to_string(i) + "-" + std::string(1024, 'x');
  plain.resize(1024);
  std::string resource = kind == "Secret" ? "secrets" : "configmaps";
  Json obj = {{"apiVersion", "v1"}, {"kind", kind}, {"metadata", {{"name", resource + "-" + std::to_string(i)}}}};
  obj["data"]["value"] = kind == "Secret" ? bosun::bench::Base64(plain) : plain;
  auto t0 = SteadyClock::now();
  auto r = c.Request("POST", "/api/v1/namespaces/bench/" + resource, obj.dump());
  t->create_ms += Ms(SteadyClock::now() - t0);
  if (!r) return r.error();
  if (r->status != 201) {
    return Error(Code::kInternal, "creating " + kind + " " + std::to_string(i) + ": HTTP " +
                                      std::to_string(r->status) + " " + r->body.substr(0, 300));
  }
  return Status();
}

Status List(HttpConnection& c, const std::string& resource, int n, Timed* t) {
  auto t0 = SteadyClock::now();
  auto r = c.Request("GET", "/api/v1/namespaces/bench/" + resource);
  t->list_ms += Ms(SteadyClock::now() - t0);
  if (!r) return r.error();
  auto list = Json::parse(r->body, nullptr, false);
  if (r->status != 200 || !list.is_object() || list["items"].size() != static_cast<size_t>(n)) {
    return Error(Code::kInternal, "listing " + resource + ": HTTP " + std::to_string(r->status));
  }
  return Status();
}

// Files under `dir` holding `needle`.
int FilesContaining(const fs::path& dir, const std::string& needle) {
  int found = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec || !it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) ++found;
  }
  return found;
}

Status BenchAtRest(const Args& a) {
  std::fprintf(stderr, "at rest: starting bosun server…\n");
  bosun::bench::ClusterOptions co;
  co.binary = a.bosun;
  co.dir = a.dir / "cluster";
  co.keep = a.keep;
  auto cluster = bosun::bench::StartBosun(co);
  if (!cluster) return cluster.error();
  HttpConnection c((*cluster)->leader(), (*cluster)->token());
  const std::string marker = "plaintext-marker-7f3a";
  // Interleaved, one Secret then one ConfigMap, so that both see the same
  // store size and the same machine load.
  std::fprintf(stderr, "at rest: %d Secrets and %d ConfigMaps…\n", a.secrets, a.secrets);
  Timed secrets_t, maps_t;
  Timed* secrets = &secrets_t;
  Timed* maps = &maps_t;
  for (int i = 0; i < a.secrets; ++i) {
    if (Status s = CreateOne(c, "Secret", i, marker, secrets); !s) return s;
    if (Status s = CreateOne(c, "ConfigMap", i, "configmap-marker", maps); !s) return s;
  }
  for (int round = 0; round < 5; ++round) {
    if (Status s = List(c, "secrets", a.secrets, secrets); !s) return s;
    if (Status s = List(c, "configmaps", a.secrets, maps); !s) return s;
  }
  secrets->list_ms /= 5;
  maps->list_ms /= 5;
  int leaked = FilesContaining(co.dir, marker);
  int plain_maps = FilesContaining(co.dir, "configmap-marker");
  std::printf("at rest  %d objects of 1 KiB   create: Secrets %.1f ms (%.2f ms each), ConfigMaps %.1f ms (%.2f ms each), "
              "ratio %.3f   list: Secrets %.1f ms, ConfigMaps %.1f ms, ratio %.3f\n",
              a.secrets, secrets->create_ms, secrets->create_ms / a.secrets, maps->create_ms,
              maps->create_ms / a.secrets, secrets->create_ms / maps->create_ms, secrets->list_ms, maps->list_ms,
              secrets->list_ms / maps->list_ms);
  std::printf("at rest  files under the data folder holding a Secret's plaintext: %d (ConfigMaps' plaintext: in %d "
              "files, as expected)\n",
              leaked, plain_maps);
  if (leaked != 0) return Error(Code::kInternal, "a Secret's plaintext is on disk: encryption at rest is not working");
  return Status();
}

Status Run(const Args& a) {
  fs::create_directories(a.dir);
  if (Status s = BenchVerify(a); !s) return s;
  return BenchAtRest(a);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  a.dir = fs::temp_directory_path() / ("bench-trust-" + std::to_string(::getpid()));
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_trust: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--bosun") a.bosun = next();
    else if (arg == "--commits") a.commits = std::stoi(next());
    else if (arg == "--secrets") a.secrets = std::stoi(next());
    else if (arg == "--dir") a.dir = next();
    else if (arg == "--keep") a.keep = true;
    else {
      std::fprintf(stderr, "usage: bench_trust [--bosun PATH] [--commits N] [--secrets N] [--dir DIR] [--keep]\n");
      return 2;
    }
  }
  Status s = Run(a);
  if (!a.keep) {
    std::error_code ec;
    fs::remove_all(a.dir, ec);
  }
  if (!s) {
    std::fprintf(stderr, "bench_trust: %s\n", s.error().message().c_str());
    return 1;
  }
  return 0;
}
