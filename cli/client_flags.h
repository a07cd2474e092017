// cli/client_flags.h — what the verbs that talk to a cluster (get, apply,
// delete, members) share: the --server and --token-file flags and the client
// they make, kind names as a user types them, and kubectl-style tables.
//
// The token is read from a file, never taken on the command line, where it
// would show in `ps` and in shell history.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/kinds.h"
#include "core/result.h"
#include "state/client.h"

namespace bosun::cli {

inline constexpr const char* kDefaultServer = "http://127.0.0.1:6443";
inline constexpr const char* kDefaultTokenFile = "./bosun-data/admin.token";

struct ClientFlags {
  std::string server = kDefaultServer;  // comma-separated API URLs
  std::string token_file = kDefaultTokenFile;
};

// Adds --server (env BOSUN_SERVER) and --token-file (env BOSUN_TOKEN_FILE).
// `flags` must outlive parsing.
void AddClientFlags(CLI::App* cmd, ClientFlags* flags);

// The token in `path`: its first line, without surrounding blanks. kIo when
// the file cannot be read, kInvalid when it holds no token; the message names
// the file and how to point at another, never the token.
Result<std::string> ReadTokenFile(const std::string& path);

// Reads the token file and makes a client for the servers.
Result<std::unique_ptr<state::Client>> MakeClient(const ClientFlags& flags);
// The same with other time-outs (servers and token still come from `flags`).
Result<std::unique_ptr<state::Client>> MakeClient(const ClientFlags& flags, state::ClientOptions options);

// The kind a user means by `name` ("po", "deploy", "deployments.apps",
// "Service"), or kInvalid naming the kinds bosun knows.
Result<const KindInfo*> ResolveKind(const std::string& name);

// kubectl's KIND/NAME form ("deploy/web", "pod/web-1"): splits *kind into
// kind and *name when it holds a '/'. An error when a NAME was also given.
Status SplitKindName(std::string* kind, std::string* name);

// How kubectl names an object in its output: "deployment.apps/web",
// "configmap/settings".
std::string ObjectRef(const KindInfo& kind, const std::string& name);

// Prints "bosun VERB: MESSAGE" to stderr and returns 1.
int Fail(const char* verb, const std::string& message);

// `s` safe to print on a terminal: control characters (C0, DEL, and C1) written as \x1b, \n, \r… as the server's log
// does, so that text from a repository (a commit message, a file name) cannot clear the screen, overwrite a line or
// forge one. Everything else, UTF-8 included, as is. With `keep_tabs`, a tab stays one (a commit message's body);
// otherwise it is \x09 too (a table's columns would shift).
std::string Printable(std::string_view s, bool keep_tabs = false);

// Columns padded to their widest cell, three spaces apart, as kubectl prints.
// Widths grow as rows arrive (for streamed rows, earlier lines stay as they
// were printed).
class TablePrinter {
 public:
  explicit TablePrinter(std::vector<std::string> header) : header_(std::move(header)) {}
  // Fits the widths to these rows (and the header) before anything prints.
  void Fit(const std::vector<std::vector<std::string>>& rows);
  void PrintHeader();
  void PrintRow(const std::vector<std::string>& row);

 private:
  void Print(const std::vector<std::string>& cells);
  std::vector<std::string> header_;
  std::vector<size_t> widths_;
};

// "2d3h" for how long ago an RFC 3339 timestamp was, as kubectl's AGE;
// "<unknown>" when there is none.
std::string Age(const std::string& rfc3339);
// How long from one RFC 3339 time to another (to now when `to` is ""), the
// same way ("45s", "3m4s"); "" when `from` is not a time. kubectl's Job
// DURATION.
std::string DurationBetween(const std::string& from, const std::string& to);
// Seconds as kubectl prints an age (apimachinery's HumanDuration).
std::string HumanDuration(long long seconds);

}  // namespace bosun::cli
