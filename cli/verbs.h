// cli/verbs.h — each verb of the `bosun` command registers itself on the app.
//
// A verb adds a subcommand with its own --help and sets *exit_code when it
// runs: 0 success, 1 the operation found problems (invalid manifests), 2 a usage
// error or an unexpected failure. `bosun diff` differs: 0 nothing would change,
// 2 something would, 1 it could not tell (invalid manifests, no server).
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "core/validation.h"

namespace bosun::cli {

void AddValidate(CLI::App& app, int* exit_code);
// The flag `name` (--field-validation; kubectl's --validate for apply):
// how an unknown field is taken, `name`=strict|warn|ignore, bare meaning
// strict. Unset, the manifests' SyncConfig says (Strict without one), as
// for the sync.
void AddFieldValidationOption(CLI::App* cmd, const std::string& name, std::optional<FieldValidation>* out);
void AddGet(CLI::App& app, int* exit_code);
void AddApply(CLI::App& app, int* exit_code);
void AddDelete(CLI::App& app, int* exit_code);
void AddMembers(CLI::App& app, int* exit_code);
void AddApiResources(CLI::App& app, int* exit_code);
void AddServer(CLI::App& app, int* exit_code);
void AddHistory(CLI::App& app, int* exit_code);
void AddDiff(CLI::App& app, int* exit_code);
void AddSync(CLI::App& app, int* exit_code);
// `bosun suspend` and `bosun resume` (cli/sync.cc).
void AddSuspend(CLI::App& app, int* exit_code);
void AddStatus(CLI::App& app, int* exit_code);
// The node daemon and its verbs (issue 5).
void AddNode(CLI::App& app, int* exit_code);      // bosun node            (cli/node.cc)
void AddImage(CLI::App& app, int* exit_code);     // bosun image …         (cli/image.cc)
void AddLogsExec(CLI::App& app, int* exit_code);  // bosun logs, bosun exec (cli/logs_exec.cc)
void AddShim(CLI::App& app, int* exit_code);      // bosun shim (internal)  (cli/shim.cc)
void AddRollout(CLI::App& app, int* exit_code);   // bosun rollout status   (cli/rollout.cc)
void AddRevert(CLI::App& app, int* exit_code);    // bosun revert REV      (cli/revert.cc)
void AddDescribe(CLI::App& app, int* exit_code);  // bosun describe K N    (cli/describe.cc)
// Sealed secrets (issue 7).
void AddSeal(CLI::App& app, int* exit_code);      // bosun seal            (cli/seal.cc)
void AddKeys(CLI::App& app, int* exit_code);      // bosun keys …          (cli/seal.cc)
// Everything in one process (issue 8).
void AddUp(CLI::App& app, int* exit_code);        // bosun up              (cli/up.cc)

}  // namespace bosun::cli
