#include "trainscope/upload/uploader.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "run/file_io.h"
#include "upload/cancellation.h"
#include "upload/credentials.h"
#include "upload/history_reader.h"
#include "upload/run_files.h"
#include "upload/upload_state.h"
#include "upload/wandb_client.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using detail::UploadState;

constexpr size_t kMaxWarningsKept = 100;
constexpr size_t kFilesPerUrlRequest = 32;
constexpr double kHeartbeatSeconds = 30;  // W&B marks a silent live run as crashed after minutes
// Room in a file_stream request for everything but the history lines (keys, offset, braces).
constexpr int64_t kRequestOverheadBytes = 1024;


// The run id: "id" (or "run_id") of run.json / metadata.json when present, else the directory name.
std::string discover_run_id(const fs::path& run_dir) {
  for (const char* name : {"run.json", "metadata.json"}) {
    if (auto text = detail::read_file_if_present((run_dir / name).string())) {
      const auto j = nlohmann::json::parse(*text, nullptr, false);
      if (!j.is_object()) continue;
      for (const char* key : {"id", "run_id"})
        if (j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty())
          return j[key].get<std::string>();
    }
  }
  return run_dir.filename().string();
}

}  // namespace

struct Uploader::Impl {
  fs::path run_dir;
  UploadOptions options;
  detail::Credentials credentials;
  detail::RunTarget target;
  std::string state_path;
  detail::Cancellation cancellation;
  std::unique_ptr<detail::WandbClient> client;
  UploadState state;
  bool run_ready = false;
  std::string config_sent;   // config.json text last sent with UpsertBucket
  std::string summary_sent;  // summary line last acknowledged
  std::chrono::steady_clock::time_point last_request = std::chrono::steady_clock::now();

  mutable std::mutex mutex;  // guards progress and error
  UploadProgress progress;
  std::string error;

  int lock_fd = -1;  // flock on upload/wandb.lock: one uploader per run directory at a time
  std::string lock_path;

  std::thread thread;
  std::atomic<bool> stop_requested{false};
  std::atomic<int> exit_code{0};

  Impl(std::string dir, UploadOptions opts) : run_dir(std::move(dir)), options(std::move(opts)) {
    std::error_code ec;
    detail::check(fs::is_directory(run_dir, ec), "Uploader", "run_dir",
                  "expected an existing run directory, got '", run_dir.string(), "'");
    detail::check(options.max_request_bytes > kRequestOverheadBytes * 2, "Uploader",
                  "max_request_bytes", "expected > ", kRequestOverheadBytes * 2, ", got ",
                  options.max_request_bytes);
    detail::check(options.max_line_bytes > 0, "Uploader", "max_line_bytes", "expected > 0, got ",
                  options.max_line_bytes);
    detail::check(options.poll_interval_seconds > 0, "Uploader", "poll_interval_seconds",
                  "expected > 0, got ", options.poll_interval_seconds);
    credentials = detail::resolve_credentials(options);
    if (options.ca_bundle.empty()) {
      if (const char* bundle = std::getenv("CURL_CA_BUNDLE")) options.ca_bundle = bundle;
    }
    target.entity = credentials.entity;
    target.project = credentials.project;
    target.run_id = options.run_id.empty() ? discover_run_id(run_dir) : options.run_id;
    detail::check(!target.run_id.empty(), "Uploader", "run_id", "expected a non-empty run id");
    fs::create_directories(run_dir / "upload", ec);
    if (ec) throw Error("Uploader: cannot create '" + (run_dir / "upload").string() + "': " + ec.message());
    state_path = (run_dir / "upload" / "wandb-state.json").string();
    // Two uploaders of one directory would race on the state file; the lock dies with its process.
    lock_path = (run_dir / "upload" / "wandb.lock").string();
    lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) throw Error("Uploader: cannot open '" + lock_path + "'");
    // The holder removes the file before releasing it (~Impl), so a lock taken on a file that is
    // no longer at lock_path was just released by another uploader: not ours to use.
    struct stat locked {}, current {};
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0 || ::fstat(lock_fd, &locked) != 0 ||
        ::stat(lock_path.c_str(), &current) != 0 || locked.st_ino != current.st_ino ||
        locked.st_dev != current.st_dev) {
      ::close(lock_fd);
      throw Error("Uploader: run_dir: another uploader is already uploading '" + run_dir.string() + "'");
    }
    try {
      client = std::make_unique<detail::WandbClient>(credentials, options, cancellation);
    } catch (...) {
      release_lock();
      throw;
    }
  }

  ~Impl() { release_lock(); }

  // Removes upload/wandb.lock while still holding it, then releases the flock: no lock file is
  // left behind, whether the upload succeeded or failed.
  void release_lock() {
    if (lock_fd < 0) return;
    ::unlink(lock_path.c_str());
    ::close(lock_fd);
    lock_fd = -1;
  }

  void warn(const std::string& message) {
    std::lock_guard<std::mutex> lock(mutex);
    if (progress.warnings.size() < kMaxWarningsKept) progress.warnings.push_back(message);
  }

  void publish() {
    UploadProgress snapshot;
    {
      std::lock_guard<std::mutex> lock(mutex);
      progress.run_path = target.path();
      progress.history_lines_sent = state.server_lines;
      progress.history_lines_dropped = state.dropped_lines;
      progress.files_uploaded = int64_t(state.files.size());
      progress.complete = state.complete;
      snapshot = progress;
    }
    last_request = std::chrono::steady_clock::now();
    if (options.on_progress) {
      try {
        options.on_progress(snapshot);
      } catch (...) {
        // A progress printer must not be able to stop the upload.
      }
    }
  }

  nlohmann::json read_config(std::string& text) {
    text = detail::read_file_if_present((run_dir / "config.json").string()).value_or("{}");
    auto config = nlohmann::json::parse(text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      warn("config.json is not a JSON object; the run is created without config");
      config = nlohmann::json::object();
    }
    return config;
  }

  // Creates or resumes the run, and (re)sends the config whenever config.json changed.
  void sync_config() {
    std::string text;
    const auto config = read_config(text);
    if (run_ready && text == config_sent) return;
    const detail::RunTarget resolved = client->upsert_run(target, config);
    config_sent = text;
    if (!run_ready) {
      target = resolved;
      state = UploadState::load(state_path);
      if (!state.run_path.empty() && state.run_path != target.path()) {
        warn("upload state was for " + state.run_path + "; uploading to " + target.path() +
             " from the start");
        state = UploadState();
      }
      state.run_path = target.path();
      state.complete = false;
      state.save(state_path);
      run_ready = true;
    }
    publish();
  }

  // Sends the next batch of history lines; false when there was nothing new.
  bool send_history_batch() {
    const auto history = (run_dir / "history.jsonl").string();
    detail::HistoryBatch batch = detail::read_history_batch(
        history, state.history_bytes, options.max_request_bytes - kRequestOverheadBytes,
        options.max_line_bytes, state.history_lines);
    if (batch.empty()) return false;
    for (const auto& why : batch.dropped) warn(why);
    if (!batch.lines.empty()) {
      nlohmann::json body;
      body["files"]["wandb-history.jsonl"] = {{"offset", state.server_lines},
                                              {"content", batch.lines}};
      client->file_stream(target, body);
    }
    // Acknowledged: only now may the state claim these lines.
    state.history_bytes = batch.end_bytes;
    state.history_lines += batch.consumed_lines;
    state.server_lines += int64_t(batch.lines.size());
    state.dropped_lines += int64_t(batch.dropped.size());
    state.save(state_path);
    publish();
    return true;
  }

  void send_summary() {
    auto text = detail::read_file_if_present((run_dir / "summary.json").string());
    if (!text) return;
    const auto summary = nlohmann::json::parse(*text, nullptr, false);
    if (summary.is_discarded() || !summary.is_object()) {
      warn("summary.json is not a JSON object; summary not uploaded");
      return;
    }
    std::string line = summary.dump();
    if (line == summary_sent) return;
    if (int64_t(line.size()) > options.max_line_bytes ||
        int64_t(nlohmann::json(line).dump().size()) > options.max_request_bytes - kRequestOverheadBytes) {
      warn("summary.json is " + std::to_string(line.size()) + " bytes, over W&B's limits; not uploaded");
      summary_sent = line;
      return;
    }
    nlohmann::json body;
    body["files"]["wandb-summary.json"] = {{"offset", 0}, {"content", {line}}};
    client->file_stream(target, body);
    summary_sent = std::move(line);
    {
      std::lock_guard<std::mutex> lock(mutex);
      progress.summary_sent = true;
    }
    publish();
  }

  void upload_files() {
    if (!options.upload_files) return;
    std::vector<detail::RunFile> pending;
    for (auto& file : detail::list_run_files(run_dir.string())) {
      auto known = state.files.find(file.name);
      if (known == state.files.end() || known->second != file.identity) pending.push_back(std::move(file));
    }
    for (size_t first = 0; first < pending.size(); first += kFilesPerUrlRequest) {
      const size_t last = std::min(pending.size(), first + kFilesPerUrlRequest);
      std::vector<std::string> names;
      for (size_t i = first; i < last; ++i) names.push_back(pending[i].name);
      const auto slots = client->create_run_files(target, names);
      for (size_t i = first; i < last; ++i) {
        if (cancellation.cancelled()) throw Error("upload: cancelled");
        const auto slot = std::find_if(slots.begin(), slots.end(),
                                       [&](const auto& s) { return s.name == pending[i].name; });
        if (slot == slots.end()) {
          warn("the server gave no upload URL for " + pending[i].name + "; not uploaded");
          continue;
        }
        upload_one(pending[i], *slot);
      }
    }
  }

  // PUTs one file from an open descriptor: a writer replacing the file by rename meanwhile cannot
  // tear what is sent, and the state records exactly the version that was sent.
  void upload_one(const detail::RunFile& file, const detail::UploadSlot& slot) {
    const int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;  // replaced or removed since the scan: the next pass sees the new one
    const detail::FileIdentity sent = detail::identity_of_fd(fd);
    try {
      client->put_file(slot, fd, sent.size);
    } catch (...) {
      ::close(fd);
      throw;
    }
    const detail::FileIdentity after = detail::identity_of_fd(fd);
    ::close(fd);
    if (after != sent) return;  // written in place during the upload: send it again next pass
    state.files[file.name] = sent;
    state.save(state_path);
    {
      std::lock_guard<std::mutex> lock(mutex);
      progress.bytes_uploaded += sent.size;
    }
    publish();
  }

  // Everything written so far: history (in request-sized batches), summary, files.
  void pass() {
    sync_config();
    while (send_history_batch()) {
      if (cancellation.cancelled()) throw Error("upload: cancelled");
    }
    send_summary();
    upload_files();
  }

  void complete(int code) {
    pass();
    // The last request: everything is acknowledged, so the run can be marked finished.
    nlohmann::json body = {{"complete", true}, {"exitcode", code}};
    client->file_stream(target, body);
    state.complete = true;
    state.save(state_path);
    publish();
  }

  void run_live() {
    try {
      for (;;) {
        const bool stopping = stop_requested.load();
        pass();
        if (stopping) {
          complete(exit_code.load());
          return;
        }
        const double since =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - last_request).count();
        if (since >= kHeartbeatSeconds) {
          client->file_stream(target, nlohmann::json{{"files", nlohmann::json::object()}});
          last_request = std::chrono::steady_clock::now();
        }
        if (!cancellation.wait_for(options.poll_interval_seconds, [&] { return stop_requested.load(); }))
          return;
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mutex);
      error = e.what();
    }
  }

  UploadProgress snapshot() const {
    std::lock_guard<std::mutex> lock(mutex);
    return progress;
  }

  void throw_if_failed() const {
    std::lock_guard<std::mutex> lock(mutex);
    if (!error.empty()) throw Error(error);
  }
};

Uploader::Uploader(std::string run_dir, UploadOptions options)
    : impl_(std::make_unique<Impl>(std::move(run_dir), std::move(options))) {}

Uploader::~Uploader() {
  if (impl_ && impl_->thread.joinable()) {
    impl_->cancellation.cancel();
    impl_->thread.join();
  }
}

void Uploader::start() {
  if (impl_->thread.joinable()) throw Error("Uploader::start: already started");
  impl_->thread = std::thread([impl = impl_.get()] { impl->run_live(); });
}

UploadProgress Uploader::stop(int exit_code) {
  if (!impl_->thread.joinable()) return sync(exit_code);
  impl_->exit_code = exit_code;
  impl_->stop_requested = true;
  impl_->cancellation.nudge();
  impl_->thread.join();
  impl_->throw_if_failed();
  return impl_->snapshot();
}

UploadProgress Uploader::check() const {
  impl_->throw_if_failed();
  return impl_->snapshot();
}

UploadProgress Uploader::progress() const { return impl_->snapshot(); }

UploadProgress Uploader::sync(int exit_code) {
  if (impl_->thread.joinable()) throw Error("Uploader::sync: the live uploader is running; call stop()");
  impl_->complete(exit_code);
  return impl_->snapshot();
}

UploadProgress sync_run(const std::string& run_dir, UploadOptions options, int exit_code) {
  Uploader uploader(run_dir, std::move(options));
  return uploader.sync(exit_code);
}

}  // namespace trainscope
