#pragma once
// The files of a run directory that are uploaded as run files (docs/run-directory.md): media/**, checkpoints/**,
// graph.json and wandb-metadata.json, by run-relative path. Temporary files of atomic writers ("*.tmp-<pid>", ".tmp",
// "~", names starting with '.') are skipped: they are about to be renamed into place.
#include <string>
#include <vector>

#include "upload/upload_state.h"

namespace trainscope::detail {

struct RunFile {
  std::string name;  // run-relative, '/'-separated, e.g. "checkpoints/model-best.pt"
  std::string path;  // on disk
  FileIdentity identity;
};

std::vector<RunFile> list_run_files(const std::string& run_dir);

// The identity of an open file (what is being uploaded) or of a path (what is there now).
FileIdentity identity_of_fd(int fd);
bool identity_of_path(const std::string& path, FileIdentity& identity);

}  // namespace trainscope::detail
