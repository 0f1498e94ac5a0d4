#pragma once
// One subcommand of the `trainscope` tool: its name, a one-line summary for the command list, its
// usage text, and the function that runs it. main.cpp dispatches; each command lives in its own
// file and is listed in commands().
#include <stdexcept>
#include <string>
#include <vector>

namespace trainscope::cli {

using Args = std::vector<std::string>;  // the arguments after the command's name

struct Command {
  const char* name;
  const char* summary;
  const char* usage;
  int (*run)(const Args& args);  // the exit status
};

// A wrong invocation: printed with the command's usage, exit status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every command, in the order `trainscope help` lists them.
const std::vector<Command>& commands();

extern const Command kSyncCommand;
extern const Command kLsCommand;
extern const Command kShowCommand;
extern const Command kVerifyCommand;
extern const Command kTbCommand;

// True when `args` asks for the command's help (-h / --help anywhere).
bool wants_help(const Args& args);

// Exactly one positional argument (options are rejected), or `fallback` when there is none and
// the fallback is non-empty.
std::string single_path_argument(const Args& args, const std::string& fallback = "");

}  // namespace trainscope::cli
