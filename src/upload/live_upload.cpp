#include "trainscope/upload/live_upload.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <iostream>

#include "trainscope/error.h"
#include "upload/system_metrics.h"
#include "upload/wandb_format.h"

namespace trainscope {
namespace {

std::string lower(std::string text) {
  for (char& c : text) c = char(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

UploadMode resolve_upload_mode(UploadMode mode) {
  if (mode != UploadMode::Environment) return mode;
  const std::string value = lower(env("WANDB_MODE"));
  if (value.empty() || value == "offline" || value == "dryrun") return UploadMode::Offline;
  if (value == "online" || value == "run") return UploadMode::Online;
  if (value == "disabled") return UploadMode::Disabled;
  throw Error("upload: WANDB_MODE: expected online, offline, disabled or dryrun, got '" + env("WANDB_MODE") + "'");
}

const char* to_string(UploadMode mode) {
  switch (mode) {
    case UploadMode::Online: return "online";
    case UploadMode::Offline: return "offline";
    case UploadMode::Disabled: return "disabled";
    default: return "environment";
  }
}

std::string wandb_run_url(const std::string& base_url, const std::string& run_path) {
  std::string app = env("WANDB_APP_URL");
  if (app.empty()) {
    app = !base_url.empty() ? base_url : env("WANDB_BASE_URL");
    if (app.empty()) app = "https://api.wandb.ai";
    const auto api = app.find("://api.");
    if (api != std::string::npos) app.erase(api + 3, 4);
  }
  while (!app.empty() && app.back() == '/') app.pop_back();
  // entity/project/run → <app>/entity/project/runs/run
  const auto first = run_path.find('/'), last = run_path.rfind('/');
  if (first == std::string::npos || first == last || first == 0) return "";
  return app + "/" + run_path.substr(0, last) + "/runs/" + run_path.substr(last + 1);
}

struct LiveUpload::Impl {
  std::string run_dir;
  LiveUploadOptions options;
  Warn warn;
  UploadMode mode = UploadMode::Offline;
  std::unique_ptr<Uploader> uploader;
  std::unique_ptr<detail::SystemMetricsSampler> sampler;  // offline: recorded for a later sync
  bool finished = false;
  std::string final_path;  // the run path the finished upload went to (url() after finish())

  void say(const std::string& message) {
    if (warn) warn(message);
    else std::cerr << "[trainscope] warning: " << message << "\n";
  }
};

LiveUpload::LiveUpload(const std::string& run_dir, LiveUploadOptions options, Warn warn)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.run_dir = run_dir;
  s.options = std::move(options);
  s.warn = std::move(warn);
  s.mode = resolve_upload_mode(s.options.mode);
  if (s.mode == UploadMode::Online) {
    try {
      s.uploader = std::make_unique<Uploader>(run_dir, s.options);
      s.uploader->start();
      return;
    } catch (const std::exception& e) {
      s.uploader.reset();
      s.mode = UploadMode::Offline;
      s.say(std::string("online upload not started (") + e.what() + "); the run is recorded offline: trainscope sync " + run_dir);
    }
  }
  if (s.mode == UploadMode::Offline) {
    // What the live uploader would have recorded about this process, for `trainscope sync`.
    const double started = detail::unix_now();
    if (s.options.write_metadata) detail::write_run_metadata(run_dir, started, s.options.software);
    if (s.options.system_metrics_interval_seconds > 0) {
      try {
        s.sampler = std::make_unique<detail::SystemMetricsSampler>(run_dir, s.options.system_metrics_interval_seconds, started);
      } catch (const std::exception& e) {
        s.say(std::string("system metrics not recorded: ") + e.what());
      }
    }
  }
}

LiveUpload::~LiveUpload() {
  try {
    finish(std::uncaught_exceptions() > 0 ? 1 : 0);
  } catch (...) {
  }
}

UploadMode LiveUpload::mode() const { return impl_->mode; }

std::string LiveUpload::url() const {
  const std::string path = impl_->uploader ? impl_->uploader->run_path() : impl_->final_path;
  return path.empty() ? "" : wandb_run_url(impl_->options.base_url, path);
}

std::optional<UploadProgress> LiveUpload::finish(int exit_code) {
  Impl& s = *impl_;
  if (s.finished) return std::nullopt;
  s.finished = true;
  s.sampler.reset();  // writes its last row
  if (!s.uploader) return std::nullopt;
  std::optional<UploadProgress> done;
  try {
    done = s.uploader->stop(exit_code, std::max(0.0, s.options.finish_timeout_seconds));
    s.final_path = done->run_path;
    for (const auto& w : done->warnings) s.say("upload: " + w);
  } catch (const std::exception& e) {
    std::string message = e.what();
    if (message.find("trainscope sync") == std::string::npos) message += "; finish it with: trainscope sync " + s.run_dir;
    s.say(message);
  }
  s.uploader.reset();
  return done;
}

}  // namespace trainscope
