#include "torch/callback/upload_hook.h"

#include <fcntl.h>
#include <unistd.h>

#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

namespace trainscope::detail {

OutputLog::OutputLog(const std::string& path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

OutputLog::~OutputLog() {
  if (fd_ >= 0) ::close(fd_);
}

void OutputLog::append(const std::string& line) {
  if (fd_ < 0) return;
  std::string text = line + "\n";
  std::lock_guard<std::mutex> lock(mutex_);
  if (::write(fd_, text.data(), text.size()) < 0) {
    // ignored: see the class comment
  }
}

std::map<std::string, std::string> software_versions() {
  std::map<std::string, std::string> versions;
  versions["libtorch"] = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                         std::to_string(TORCH_VERSION_PATCH);
  try {
    const auto& cuda = at::detail::getCUDAHooks();
    if (cuda.hasCUDA()) {
      const long v = cuda.versionCUDART();  // e.g. 12080
      versions["cuda_runtime"] = std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
    }
  } catch (...) {
    // libtorch without CUDA: no runtime to name
  }
  return versions;
}

std::unique_ptr<LiveUpload> start_upload(const std::string& run_dir, LiveUploadOptions options,
                                         std::function<void(const std::string&)> warn) {
  for (const auto& [name, version] : software_versions()) options.software.emplace(name, version);
  return std::make_unique<LiveUpload>(run_dir, std::move(options), std::move(warn));
}

std::string upload_start_text(const LiveUpload& live) {
  if (!live.online()) return "";
  const std::string url = live.url();
  return url.empty() ? "; W&B: online (the run's URL once the server names its entity)" : "; W&B: " + url;
}

std::string finish_upload(LiveUpload& live, const std::string& run_dir) {
  const UploadMode mode = live.mode();
  if (mode == UploadMode::Disabled) return "";
  if (mode != UploadMode::Online) return "; upload to W&B: trainscope sync " + run_dir;
  const auto done = live.finish(0);
  if (!done || !done->complete) return "; W&B upload unfinished: trainscope sync " + run_dir;
  const std::string url = live.url();
  return "; W&B: " + (url.empty() ? done->run_path : url);
}

}  // namespace trainscope::detail
