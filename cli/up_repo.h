// cli/up_repo.h — the example repository `bosun up` follows when it is given
// no --repo (cli/up.cc): a bare repository DATA/origin.git, as a Git server
// would hold it, made from the bundled examples-repo/ with one commit on
// branch main, and its clone DATA/repo for the user to edit, commit and push.
// Made with the git command (the user needs it anyway to edit).
#pragma once

#include <string>

#include "core/result.h"

namespace bosun::cli {

struct ExampleRepo {
  std::string origin;  // DATA/origin.git: what bosun follows
  std::string clone;   // DATA/repo: where the user works
  std::string source;  // the examples folder it was made from (when created)
  bool created = false;
};

// Makes DATA/origin.git and DATA/repo unless origin.git exists (then returns
// them as they are: a restart resumes). `examples` is the folder to copy; ""
// finds the bundled one (the examples-repo bosun was built from, or beside
// the binary). The two are made in a temporary folder and renamed into
// place, so an interrupted first start leaves nothing half-made. The clone
// gets a commit identity of its own only when git has none configured. kIo
// / kNotFound with a message for the terminal (git missing, no examples).
Result<ExampleRepo> EnsureExampleRepo(const std::string& data, const std::string& examples);

// The public DEMO ONLY sealing key shipped beside the bundled examples
// (scripts/DEMO-ONLY-sealing-key), copied to DATA/server/DEMO-ONLY-sealing-key
// with mode 0600 (key files are refused otherwise); "" when there is none.
// `bosun up` imports it when it follows the bundled examples, so that their
// SealedSecret opens.
std::string InstallDemoSealingKey(const std::string& data);

// (Re)writes ORIGIN/hooks/post-receive: a push asks the cluster at `api_url`
// to sync at once (`bosun sync --no-wait`, with the token in `token_file`;
// the hook holds the file's path, never the token).
Status WriteSyncHook(const std::string& origin, const std::string& api_url, const std::string& token_file);

}  // namespace bosun::cli
