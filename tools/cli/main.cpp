// `trainscope`: the dispatcher. Finds the subcommand, answers help and --version, and turns
// exceptions into one error line and an exit status (2: wrong usage, 1: the command failed).
#include <algorithm>
#include <iostream>

#include "cli/command.h"

namespace trainscope::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {kSyncCommand, kLsCommand, kShowCommand, kVerifyCommand,
                                           kTbCommand};
  return all;
}

bool wants_help(const Args& args) {
  for (const auto& arg : args)
    if (arg == "-h" || arg == "--help") return true;
  return false;
}

std::string single_path_argument(const Args& args, const std::string& fallback) {
  std::string path;
  for (const auto& arg : args) {
    if (!arg.empty() && arg[0] == '-') throw UsageError("unknown option " + arg);
    if (!path.empty()) throw UsageError("one path expected, got also " + arg);
    path = arg;
  }
  if (path.empty()) path = fallback;
  if (path.empty()) throw UsageError("a run directory is required");
  return path;
}

namespace {

void print_overview(std::ostream& out) {
  out << "usage: trainscope <command> [arguments]\n\n"
         "Inspects, checks and uploads trainscope run directories (runs/<run-id>/).\n\ncommands:\n";
  for (const auto& command : commands()) {
    std::string name = command.name;
    name.resize(8, ' ');
    out << "  " << name << command.summary << "\n";
  }
  out << "\n`trainscope help <command>` or `trainscope <command> --help` shows a command's usage.\n"
         "`trainscope --version` prints the version.\n";
}

const Command* find_command(const std::string& name) {
  for (const auto& command : commands())
    if (name == command.name) return &command;
  return nullptr;
}

int help(const Args& args) {
  if (args.empty()) {
    print_overview(std::cout);
    return 0;
  }
  const Command* command = find_command(args[0]);
  if (!command) {
    std::cerr << "trainscope help: unknown command '" << args[0] << "'\n\n";
    print_overview(std::cerr);
    return 2;
  }
  std::cout << command->usage;
  return 0;
}

}  // namespace
}  // namespace trainscope::cli

int main(int argc, char** argv) {
  using namespace trainscope::cli;
  const std::string first = argc >= 2 ? argv[1] : "";
  const Args rest(argv + std::min(argc, 2), argv + argc);
  if (first.empty() || first == "-h" || first == "--help" || first == "help") {
    if (first.empty()) {
      print_overview(std::cout);
      return 0;
    }
    return help(rest);
  }
  if (first == "--version" || first == "-V") {
    std::cout << "trainscope " << TRAINSCOPE_VERSION << "\n";
    return 0;
  }
  const Command* command = find_command(first);
  if (!command) {
    std::cerr << "trainscope: unknown command '" << first << "'\n\n";
    print_overview(std::cerr);
    return 2;
  }
  if (wants_help(rest)) {
    std::cout << command->usage;
    return 0;
  }
  try {
    return command->run(rest);
  } catch (const UsageError& e) {
    std::cerr << "trainscope " << command->name << ": " << e.what() << "\n\n" << command->usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "trainscope " << command->name << ": " << e.what() << "\n";
    return 1;
  }
}
