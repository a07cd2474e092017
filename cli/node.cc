// Placeholder until issue 5's part lands: registers nothing yet.
#include "cli/verbs.h"

namespace bosun::cli {

void AddNode(CLI::App& /*app*/, int* /*exit_code*/) {}

}  // namespace bosun::cli
