// bosun shim — the per-container monitor the runtime starts (node/shim.h).
// Internal: hidden from --help; users never run it by hand.
#include "cli/verbs.h"
#include "node/shim.h"

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
  cmd->callback([opts, exit_code] { *exit_code = node::RunShim(*opts); });
}

}  // namespace bosun::cli
