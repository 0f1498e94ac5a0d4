#pragma once
// The Callback's W&B side (docs/upload.md#upload-modes): the LiveUpload of CallbackOptions::upload,
// the software versions only this layer knows (libtorch, CUDA runtime) for wandb-metadata.json,
// and <run>/output.log, the console lines W&B shows in a run's Logs tab.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "trainscope/upload/live_upload.h"

namespace trainscope::detail {

// Appends lines to a file, each with one write (O_APPEND): never a torn line between two lines.
// Failures are ignored: the console line was shown; its copy is a courtesy.
class OutputLog {
 public:
  explicit OutputLog(const std::string& path);
  ~OutputLog();
  OutputLog(const OutputLog&) = delete;
  OutputLog& operator=(const OutputLog&) = delete;
  void append(const std::string& line);

 private:
  std::mutex mutex_;
  int fd_ = -1;
};

// {"libtorch": "2.11.0", "cuda_runtime": "12.8" (when libtorch has CUDA)}.
std::map<std::string, std::string> software_versions();

// A LiveUpload of `run_dir` per `options` (software versions added); a bad WANDB_MODE throws.
std::unique_ptr<LiveUpload> start_upload(const std::string& run_dir, LiveUploadOptions options,
                                         std::function<void(const std::string&)> warn);

// "; W&B: <url>" (online), "" otherwise: the end of the start line.
std::string upload_start_text(const LiveUpload& live);

// Finishes the upload; the end of the end line: "; W&B: <url>" when uploaded, the sync command
// when offline or when the upload did not finish, "" when disabled.
std::string finish_upload(LiveUpload& live, const std::string& run_dir);

}  // namespace trainscope::detail
