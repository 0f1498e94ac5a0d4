#pragma once
// Upload as an option of a run (docs/upload.md#upload-modes): W&B's WANDB_MODE for a run directory.
// Online: an Uploader tails the directory while training writes it and finishes with the run,
// within a bounded wait; offline: only the run directory (plus the process metadata and system
// metrics), uploaded later with `trainscope sync`; disabled: nothing for W&B. The Callback does
// this itself (CallbackOptions::upload); users of a bare Run hold one of these next to it:
//
//   trainscope::Run run(run_options);
//   trainscope::LiveUploadOptions upload;  upload.mode = trainscope::UploadMode::Online;
//   upload.project = "mnist";
//   trainscope::LiveUpload live(run.directory(), upload);
//   ... run.log(...) ...
//   run.finish();  live.finish();
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "trainscope/upload/uploader.h"

namespace trainscope {

enum class UploadMode {
  Environment,  // WANDB_MODE: online | offline | disabled | dryrun (= offline); unset: offline
  Online,
  Offline,
  Disabled,
};

// The upload options plus the mode; the endpoint, key, entity and project come from the
// environment when empty (WANDB_BASE_URL, WANDB_API_KEY / netrc, WANDB_ENTITY, WANDB_PROJECT).
struct LiveUploadOptions : UploadOptions {
  UploadMode mode = UploadMode::Environment;
  // finish() waits at most this long for the final pass; then the upload is cancelled (about a
  // second more at most) and the run is left for `trainscope sync`.
  double finish_timeout_seconds = 60;
};

// Environment → WANDB_MODE (case-insensitive; unset or empty: Offline). Throws Error naming
// WANDB_MODE for any other value.
UploadMode resolve_upload_mode(UploadMode mode);
const char* to_string(UploadMode mode);

// The W&B web page of run `entity/project/run` on the server of `base_url` (empty: the
// environment's, else W&B's cloud): $WANDB_APP_URL, else the base URL without its "api." host
// prefix (https://api.wandb.ai → https://wandb.ai).
std::string wandb_run_url(const std::string& base_url, const std::string& run_path);

class LiveUpload {
 public:
  using Warn = std::function<void(const std::string&)>;
  // Online: starts an Uploader of `run_dir` (no request is made on this thread). Resolving fails
  // only for a bad WANDB_MODE (Error); an online upload that cannot start (no API key, the
  // directory being uploaded by another process) is a warning and the run continues offline.
  LiveUpload(const std::string& run_dir, LiveUploadOptions options, Warn warn = {});
  ~LiveUpload();  // finish(0), or finish(1) while an exception unwinds the stack
  LiveUpload(const LiveUpload&) = delete;
  LiveUpload& operator=(const LiveUpload&) = delete;

  UploadMode mode() const;  // as resolved; Offline when online could not start
  bool online() const { return mode() == UploadMode::Online; }
  // The run's W&B page while online and after a successful finish() ("" otherwise, or while the
  // entity is still unknown: the server names it in its first answer).
  std::string url() const;

  // Online: the final pass and completion, bounded by finish_timeout_seconds. Never throws: a
  // failed or timed-out upload is a warning naming `trainscope sync`; nullopt then, and in the
  // other modes. Idempotent.
  std::optional<UploadProgress> finish(int exit_code = 0);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainscope
