// tests/gitsync/mirror_fixture.h — real Git repositories for the mirror
// tests, made with the git CLI: a working clone that commits and pushes to a
// bare "remote", the way a team changes the repository bosun follows.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace bosun::gitsync::test {

using bosun::test::Outcome;
using bosun::test::RunCommand;
using bosun::test::TempDir;

// git with a fixed identity and no user or system configuration, so the
// tests do not depend on the machine's ~/.gitconfig.
inline std::string GitCommand(const std::string& dir, const std::string& args) {
  return "cd " + dir +
         " && GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null "
         "GIT_AUTHOR_NAME='Ada Author' GIT_AUTHOR_EMAIL=ada@example.com "
         "GIT_COMMITTER_NAME='Cy Committer' GIT_COMMITTER_EMAIL=cy@example.com "
         "git -c init.defaultBranch=main -c commit.gpgsign=false -c protocol.file.allow=always " +
         args;
}

inline std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

class GitRepos {
 public:
  GitRepos() : tmp_("bosun-gitsync") {
    work_ = tmp_.Sub("work");
    remote_ = tmp_.Sub("remote.git");
    std::filesystem::create_directories(work_);
    Must(RunCommand(GitCommand(tmp_.path(), "init -q --bare remote.git")));
    Git("init -q");
    Git("remote add origin " + remote_);
  }

  const TempDir& tmp() const { return tmp_; }
  const std::string& work() const { return work_; }
  // The bare repository the mirror fetches from.
  const std::string& remote() const { return remote_; }
  std::string MirrorDir(const std::string& name = "mirror") const { return tmp_.Sub(name); }

  // Runs git in the working clone; a failure fails the test. Returns its
  // output without the trailing newline.
  std::string Git(const std::string& args) const { return Trim(Must(RunCommand(GitCommand(work_, args)))); }

  // Writes (or, for nullopt, deletes) files in the working clone, commits
  // everything, and returns the new commit's id. Does not push.
  std::string Commit(const std::map<std::string, std::optional<std::string>>& files, const std::string& message,
                     const std::string& extra_args = "") const {
    for (const auto& [path, content] : files) {
      std::filesystem::path p = std::filesystem::path(work_) / path;
      if (content) {
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << *content;
      } else {
        std::filesystem::remove(p);
      }
    }
    Git("add -A");
    Git("commit -q --allow-empty " + extra_args + " -m '" + message + "'");
    return Git("rev-parse HEAD");
  }

  // Pushes the working clone's HEAD to `branch` of the remote, forced.
  void Push(const std::string& branch = "main") const { Git("push -q -f origin HEAD:refs/heads/" + branch); }

  std::string CommitAndPush(const std::map<std::string, std::optional<std::string>>& files,
                            const std::string& message) const {
    std::string id = Commit(files, message);
    Push();
    return id;
  }

 private:
  static std::string Must(const Outcome& o) {
    EXPECT_EQ(o.exit_code, 0) << o.out;
    return o.out;
  }

  TempDir tmp_;
  std::string work_;
  std::string remote_;
};

}  // namespace bosun::gitsync::test
