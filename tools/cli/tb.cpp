// trainscope tb <run-dir|root>: the TensorBoard command that shows a run (or every run in a root).
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "cli/run_dir.h"
#include "trainscope/error.h"

namespace trainscope::cli {
namespace {

const char* const kUsage = R"(usage: trainscope tb <run-dir|root>

Prints the TensorBoard command for a run directory (its tb/ folder) or for a folder of runs
(TensorBoard then shows each run's tb/ side by side).
)";

// Single quotes unless the path is plain, so the line can be pasted into a shell.
std::string shell_quote(const std::string& text) {
  if (text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@") ==
      std::string::npos)
    return text;
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int tb(const Args& args) {
  namespace fs = std::filesystem;
  const std::string dir = existing_directory(single_path_argument(args), "directory");
  std::error_code ec;
  if (fs::is_directory(fs::path(dir) / "tb", ec)) {
    std::cout << "tensorboard --logdir " << shell_quote(dir + "/tb") << "\n";
    return 0;
  }
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (fs::is_directory(entry.path() / "tb", ec)) {
      std::cout << "tensorboard --logdir " << shell_quote(dir) << "\n";
      return 0;
    }
  }
  throw Error("'" + dir + "' has no tb/ folder and holds no run with one");
}

}  // namespace

const Command kTbCommand = {"tb", "print the TensorBoard command for a run or a folder of runs",
                            kUsage, tb};

}  // namespace trainscope::cli
