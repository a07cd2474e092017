// cli/verbs.h — each verb of the `bosun` command registers itself on the app.
//
// A verb adds a subcommand with its own --help and sets *exit_code when it
// runs: 0 success, 1 the operation found problems (invalid manifests), 2 a usage
// error or an unexpected failure.
#pragma once

#include <CLI/CLI.hpp>

namespace bosun::cli {

void AddValidate(CLI::App& app, int* exit_code);
void AddGet(CLI::App& app, int* exit_code);
void AddApply(CLI::App& app, int* exit_code);
void AddDelete(CLI::App& app, int* exit_code);
void AddMembers(CLI::App& app, int* exit_code);
void AddServer(CLI::App& app, int* exit_code);

}  // namespace bosun::cli
