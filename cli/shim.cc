// bosun shim — the per-container monitor the runtime starts (node/shim.h).
// Internal: hidden from --help; users never run it by hand.
#include "cli/verbs.h"
#include "node/shim.h"
#include "node/shim_zygote.h"

namespace bosun::cli {

void AddShim(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<node::ShimOptions>();
  CLI::App* cmd = app.add_subcommand("shim", "monitor one container (internal, started by the node daemon)");
  cmd->group("");
  cmd->add_option("--id", opts->id, "runc container id")->required();
  cmd->add_option("--bundle", opts->bundle, "bundle directory")->required();
  cmd->add_option("--runc", opts->runc, "runc binary");
  cmd->add_option("--root", opts->root, "runc state root")->required();
  cmd->add_option("--log", opts->log_path, "container log file")->required();
  cmd->add_option("--spec-dir", opts->spec_dir, "where config.json is (default: the bundle directory)");
  cmd->callback([opts, exit_code] { *exit_code = node::RunShim(*opts); });
  // The helper that forks shims for the runtime (node/shim_zygote.h).
  auto fd = std::make_shared<int>(-1);
  CLI::App* zygote = app.add_subcommand("shim-zygote", "fork container monitors (internal, started by the node daemon)");
  zygote->group("");
  zygote->add_option("--fd", *fd, "the runtime's socket")->required();
  zygote->callback([fd, exit_code] { *exit_code = node::RunShimZygote(*fd); });
}

}  // namespace bosun::cli
