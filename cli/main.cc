// The `bosun` executable: argument parsing and dispatch to the verbs.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "bosun_git_describe.h"  // generated at build time: cli/CMakeLists.txt
#include "cli/verbs.h"
#include "core/crash.h"
#include "core/log.h"

namespace {

// A command line the parser refuses exits 2, as `bosun validate` documents,
// except where 2 already means something else: `bosun diff` exits 2 when
// something would change, so a CI job must never read a typo as "changes".
// There a usage error exits 1, like every other error of diff.
constexpr int kUsage = 2;
constexpr int kDiffUsage = 1;

// The verb of the command line: its first word that is not a global flag
// (or the value of one).
std::string Verb(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--log-level") == 0) {
      ++i;
      continue;
    }
    if (argv[i][0] != '-') return argv[i];
  }
  return "";
}

// CLI11's help, without what means nothing to a reader: a flag's value
// when given bare (`--wait,--no-wait{false}`) is left out of its name, and
// an option text of the form "[=VALUES]" follows the name without a space
// (`--field-validation[=strict|warn|ignore]`).
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_name(const CLI::Option* opt, bool is_positional) const override {
    std::string name = CLI::Formatter::make_option_name(opt, is_positional);
    std::string out;
    int depth = 0;
    for (char c : name) {
      if (c == '{') {
        ++depth;
      } else if (c == '}') {
        depth = depth > 0 ? depth - 1 : 0;
      } else if (depth == 0) {
        out += c;
      }
    }
    return out;
  }
  std::string make_option_opts(const CLI::Option* opt) const override {
    const std::string& text = opt->get_option_text();
    if (text.rfind("[=", 0) == 0) return text;
    return CLI::Formatter::make_option_opts(opt);
  }
};

}  // namespace

int main(int argc, char** argv) {
  bosun::crash::InstallTerminateHandler();
  bosun::crash::InstallFatalSignalHandlers();
  CLI::App app{"bosun — a GitOps cluster in one binary.\n"
               "A Git repository of Kubernetes manifests is the desired state; bosun validates it,\n"
               "applies it, runs it, and records every revision as the cluster's changelog."};
  app.name("bosun");
  app.formatter(std::make_shared<HelpFormatter>());
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every verb");

  std::string log_level = "info";
  app.add_option("--log-level", log_level, "Log level: debug, info, warn, error")->capture_default_str();

  int exit_code = 0;
  CLI::App* version = app.add_subcommand("version", "Print bosun's version");
  version->callback([&] {
    std::printf("bosun %s (%s)\n", BOSUN_VERSION, BOSUN_GIT_DESCRIBE);
  });
  bosun::cli::AddValidate(app, &exit_code);
  bosun::cli::AddGet(app, &exit_code);
  bosun::cli::AddApply(app, &exit_code);
  bosun::cli::AddDelete(app, &exit_code);
  bosun::cli::AddMembers(app, &exit_code);
  bosun::cli::AddApiResources(app, &exit_code);
  bosun::cli::AddUp(app, &exit_code);
  bosun::cli::AddServer(app, &exit_code);
  bosun::cli::AddStatus(app, &exit_code);
  bosun::cli::AddSync(app, &exit_code);
  bosun::cli::AddSuspend(app, &exit_code);
  bosun::cli::AddHistory(app, &exit_code);
  bosun::cli::AddDiff(app, &exit_code);
  bosun::cli::AddNode(app, &exit_code);
  bosun::cli::AddImage(app, &exit_code);
  bosun::cli::AddLogsExec(app, &exit_code);
  bosun::cli::AddShim(app, &exit_code);
  bosun::cli::AddRollout(app, &exit_code);
  bosun::cli::AddRevert(app, &exit_code);
  bosun::cli::AddDescribe(app, &exit_code);
  bosun::cli::AddSeal(app, &exit_code);
  bosun::cli::AddKeys(app, &exit_code);

  app.parse_complete_callback([&] {
    bosun::log::Level l;
    if (!bosun::log::ParseLevel(log_level, &l)) throw CLI::ValidationError("--log-level", "unknown level " + log_level);
    bosun::log::SetLevel(l);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and a hint to use --help
    return Verb(argc, argv) == "diff" ? kDiffUsage : kUsage;
  }
  return exit_code;
}
