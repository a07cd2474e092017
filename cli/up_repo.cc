// The example repository of `bosun up` (cli/up_repo.h).
#include "cli/up_repo.h"

#include <unistd.h>

#include <filesystem>
#include <vector>

#include "core/process.h"
#include "node/sandbox.h"

namespace bosun::cli {
namespace {

namespace fs = std::filesystem;

Result<process::Output> Git(const std::string& dir, std::vector<std::string> args) {
  process::Options o;
  o.argv = {"git"};
  if (!dir.empty()) {
    o.argv.push_back("-C");
    o.argv.push_back(dir);
  }
  for (auto& a : args) o.argv.push_back(std::move(a));
  o.timeout = std::chrono::seconds(60);
  auto out = process::Run(o);
  if (!out && out.error().code() == Code::kNotFound) {
    return Error(Code::kNotFound, "git is not installed (apt-get install git; scripts/setup does)");
  }
  return out;
}

Status MustGit(const std::string& dir, std::vector<std::string> args) {
  std::string what = "git";
  for (const auto& a : args) what += " " + a;
  auto out = Git(dir, std::move(args));
  if (!out) return out.error();
  if (!out->ok()) return Error(Code::kIo, what + " in " + dir + ": " + out->Describe());
  return Ok();
}

// The bundled examples: the folder bosun was built from, else beside the
// binary (BIN/../share/bosun/examples-repo, BIN/../../examples-repo).
std::string FindExamples() {
  std::vector<fs::path> candidates;
#ifdef BOSUN_EXAMPLES_DIR
  candidates.emplace_back(BOSUN_EXAMPLES_DIR);
#endif
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / "../share/bosun/examples-repo");
    candidates.push_back(exe.parent_path() / "../../examples-repo");
  }
  for (const auto& c : candidates) {
    if (fs::is_directory(c, ec)) return fs::weakly_canonical(c, ec).string();
  }
  return "";
}

}  // namespace

Result<ExampleRepo> EnsureExampleRepo(const std::string& data, const std::string& examples) {
  ExampleRepo r;
  r.origin = data + "/origin.git";
  r.clone = data + "/repo";
  std::error_code ec;
  if (fs::exists(r.origin + "/HEAD", ec)) return r;

  r.source = examples.empty() ? FindExamples() : examples;
  if (r.source.empty() || !fs::is_directory(r.source, ec)) {
    return Error(Code::kNotFound, "no examples folder to make the repository from" +
                                      (examples.empty() ? std::string(" (the bundled examples-repo is not there)")
                                                        : " (--examples " + examples + " is not a folder)") +
                                      "; give one with --examples DIR or a repository with --repo");
  }
  if (fs::exists(r.clone, ec)) {
    return Error(Code::kInvalid, r.clone + " exists but " + r.origin +
                                     " does not: move it away (bosun up makes both from the examples)");
  }
  // Made aside, renamed into place once whole.
  std::string tmp = data + "/.example-repo.tmp";
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return Error(Code::kIo, "cannot create " + tmp + ": " + ec.message());
  std::string work = tmp + "/repo";
  if (auto st = MustGit("", {"init", "-q", "-b", "main", work}); !st) return st.error();
  fs::copy(r.source, work, fs::copy_options::recursive | fs::copy_options::skip_symlinks, ec);
  if (ec) return Error(Code::kIo, "cannot copy " + r.source + " to " + work + ": " + ec.message());
  if (auto st = MustGit(work, {"add", "-A"}); !st) return st.error();
  if (auto st = MustGit(work, {"-c", "user.name=bosun up", "-c", "user.email=bosun@localhost", "commit", "-q", "-m",
                               "examples-repo: the example system\n\nMade by `bosun up` from " + r.source + "."});
      !st) {
    return st.error();
  }
  if (auto st = MustGit("", {"clone", "-q", "--bare", work, tmp + "/origin.git"}); !st) return st.error();
  if (auto st = MustGit(work, {"remote", "add", "origin", r.origin}); !st) return st.error();
  // A commit needs an identity: give the clone one when git has none.
  auto email = Git(work, {"config", "user.email"});
  if (email && !email->ok()) {
    (void)MustGit(work, {"config", "user.name", "bosun demo"});
    (void)MustGit(work, {"config", "user.email", "demo@bosun.local"});
  }
  fs::rename(tmp + "/origin.git", r.origin, ec);
  if (ec) return Error(Code::kIo, "cannot move the repository to " + r.origin + ": " + ec.message());
  fs::rename(work, r.clone, ec);
  if (ec) return Error(Code::kIo, "cannot move the clone to " + r.clone + ": " + ec.message());
  fs::remove_all(tmp, ec);
  // The clone tracks origin/main, as after `git clone`.
  if (auto st = MustGit(r.clone, {"fetch", "-q", "origin"}); !st) return st.error();
  if (auto st = MustGit(r.clone, {"branch", "-q", "-u", "origin/main", "main"}); !st) return st.error();
  r.created = true;
  return r;
}

std::string InstallDemoSealingKey(const std::string& data) {
  std::string examples = FindExamples();
  if (examples.empty()) return "";
  std::error_code ec;
  fs::path key = fs::path(examples) / "../scripts/DEMO-ONLY-sealing-key";
  if (!fs::is_regular_file(key, ec)) return "";
  auto text = node::sandbox::ReadFile(key.string());
  if (!text) return "";
  std::string dest = data + "/server/DEMO-ONLY-sealing-key";
  if (!node::sandbox::WriteAtomic(dest, *text, 0600)) return "";
  return dest;
}

Status WriteSyncHook(const std::string& origin, const std::string& api_url, const std::string& token_file) {
  std::error_code ec;
  std::string bosun = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) return Error(Code::kIo, "cannot find the bosun binary for the push hook: " + ec.message());
  auto quote = [](const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  std::string hook =
      "#!/bin/sh\n"
      "# Written by `bosun up` at each start: a push asks the cluster to sync at once\n"
      "# (bosun also polls this repository every few seconds).\n"
      "# What stops it (syncing suspended, the cluster down) is said to the pusher.\n"
      "if out=$(BOSUN_SERVER=" +
      quote(api_url) + " BOSUN_TOKEN_FILE=" + quote(token_file) + " " + quote(bosun) +
      " sync --no-wait --trigger push 2>&1); then\n"
      "  echo \"bosun: sync requested; watch it with: bosun status, bosun history\"\n"
      "else\n"
      "  echo \"$out\"\n"
      "fi\n"
      "exit 0\n";
  fs::create_directories(origin + "/hooks", ec);
  if (auto st = node::sandbox::WriteAtomic(origin + "/hooks/post-receive", hook, 0755); !st) {
    return st.error().Wrap("cannot write the push hook");
  }
  return Ok();
}

}  // namespace bosun::cli
