#include "trainscope/upload/uploader.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "run/file_io.h"
#include "upload/cancellation.h"
#include "upload/credentials.h"
#include "upload/history_reader.h"
#include "upload/run_files.h"
#include "upload/system_metrics.h"
#include "upload/upload_state.h"
#include "upload/wandb_client.h"
#include "upload/wandb_format.h"

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

// Our graph.json is not W&B's graph format, so it travels under a name that does not claim to be.
constexpr const char* kGraphRemoteName = "trainscope-graph.json";
// config.yaml is made by the uploader (from config.json), so it lives in upload/ locally.
constexpr const char* kConfigYaml = "upload/config.yaml";
std::string remote_name(const std::string& local) {
  if (local == "graph.json") return kGraphRemoteName;
  if (local == kConfigYaml) return "config.yaml";
  return local;
}
// output.log grows with every console line: while live it is sent at most this often.
constexpr double kOutputLogSeconds = 30;

// When the run started: _timestamp - _runtime of the first history line, else now.
double run_start_time(const fs::path& run_dir) {
  std::ifstream in(run_dir / "history.jsonl");
  std::string line;
  if (std::getline(in, line)) {
    const auto row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_object() && row.value("_timestamp", nlohmann::json()).is_number() &&
        row.value("_runtime", nlohmann::json()).is_number())
      return row["_timestamp"].get<double>() - row["_runtime"].get<double>();
  }
  return detail::unix_now();
}

const char* resume_name(ResumeMode mode) {
  switch (mode) {
    case ResumeMode::Allow: return "allow";
    case ResumeMode::Must: return "must";
    default: return "never";
  }
}

}  // namespace

struct Uploader::Impl {
  fs::path run_dir;
  UploadOptions options;
  detail::Credentials credentials;
  detail::RunTarget target;
  std::string initial_path;  // target.path() before the server answered (read by run_path())
  std::string state_path;
  detail::Cancellation cancellation;
  std::unique_ptr<detail::WandbClient> client;
  std::vector<std::unique_ptr<detail::WandbClient>> put_clients;  // one per parallel PUT
  std::unique_ptr<detail::SystemMetricsSampler> sampler;
  std::mutex state_mutex;  // guards state while PUTs run in parallel
  UploadState state;
  bool run_ready = false;
  std::string config_sent;   // config.json text last sent with UpsertBucket
  std::string summary_sent;  // summary line last acknowledged
  std::chrono::steady_clock::time_point last_request = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> output_log_sent;
  bool final_pass = false;

  mutable std::mutex mutex;  // guards progress and error
  UploadProgress progress;
  std::string error;

  int lock_fd = -1;  // flock on upload/wandb.lock: one uploader per run directory at a time
  std::string lock_path;

  std::thread thread;
  std::mutex done_mutex;  // the live thread says when it has returned (bounded stop)
  std::condition_variable done_cv;
  bool done = false;
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
    initial_path = target.path();
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

  // UpsertBucket's host and program (wandb-metadata.json) and the run's identity (run.json).
  detail::RunInfo run_info(const nlohmann::json& run_record) const {
    detail::RunInfo info;
    auto text_of = [](const nlohmann::json& object, const char* key) {
      const auto value = object.is_object() ? object.value(key, nlohmann::json()) : nlohmann::json();
      return value.is_string() ? value.get<std::string>() : std::string();
    };
    info.display_name = text_of(run_record, "name");
    info.notes = text_of(run_record, "notes");
    info.group = text_of(run_record, "group");
    info.job_type = text_of(run_record, "job_type");
    if (run_record.is_object() && run_record.contains("tags") && run_record["tags"].is_array()) {
      std::vector<std::string> tags;
      for (const auto& tag : run_record["tags"])
        if (tag.is_string()) tags.push_back(tag);
      info.tags = std::move(tags);
    }
    const auto text = detail::read_file_if_present((run_dir / "wandb-metadata.json").string());
    if (!text) return info;
    const auto meta = nlohmann::json::parse(*text, nullptr, false);
    info.host = text_of(meta, "host");
    info.program = text_of(meta, "program");
    return info;
  }

  // Decides, before anything is written to the server, whether this directory may write to the
  // run (docs/upload.md#run-ids-and-resume): its own run (the state names it) always; an existing
  // run of someone else only with resume allow/must; a new run unless resume is must.
  void claim_run() {
    const detail::RunStatus status = client->run_status(target);
    detail::RunTarget resolved = target;
    if (!status.entity.empty()) resolved.entity = status.entity;
    if (!status.project.empty()) resolved.project = status.project;
    state = UploadState::load(state_path);
    if (!state.run_path.empty() && state.run_path == resolved.path()) return;  // ours
    if (!state.run_path.empty()) {
      warn("upload state was for " + state.run_path + "; uploading to " + resolved.path() +
           " from the start");
    }
    state = UploadState();
    state.run_path = resolved.path();
    if (status.exists) {
      if (options.resume == ResumeMode::Never)
        throw Error("upload: run " + resolved.path() +
                    " already exists on the server and this run directory ('" + run_dir.string() +
                    "') did not create it; nothing was sent. Use another run id (--run-id), or "
                    "resume allow (--resume allow) to append to that run");
      // Appending to a run someone else created: our lines go after the server's.
      state.created = false;
      state.server_lines = status.history_lines;
      state.events_server_lines = status.events_lines;
    } else {
      if (options.resume == ResumeMode::Must)
        throw Error("upload: run " + resolved.path() + " does not exist on the server and resume is " +
                    resume_name(options.resume) + "; nothing was sent");
      state.created = true;
    }
    state.save(state_path);  // the claim comes first: a crash after the upsert still knows it
  }

  // Creates or resumes the run, and (re)sends the config whenever config.json changed.
  void sync_config() {
    std::string text;
    const auto config = read_config(text);
    const std::string labels_text =
        detail::read_file_if_present((run_dir / "class_labels.json").string()).value_or("");
    const std::string record_text = detail::read_file_if_present((run_dir / "run.json").string()).value_or("");
    text += '\n' + labels_text + '\n' + record_text;
    if (run_ready && text == config_sent) return;
    if (!run_ready) claim_run();
    const auto run_record = nlohmann::json::parse(record_text, nullptr, false);
    nlohmann::json sent = config;
    sent["_wandb"] = detail::wandb_config_value(config, run_record);
    detail::add_mask_class_labels(sent["_wandb"], nlohmann::json::parse(labels_text, nullptr, false));
    const detail::RunTarget resolved = client->upsert_run(target, sent, run_info(run_record));
    config_sent = text;
    try {
      detail::write_file_atomic((run_dir / kConfigYaml).string(), detail::config_yaml(sent));
    } catch (const std::exception& e) {
      warn(std::string("config.yaml not written: ") + e.what());
    }
    if (!run_ready) {
      target = resolved;
      if (state.run_path != target.path()) {  // the server named entity/project differently
        state.run_path = target.path();
      }
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
      for (auto& line : batch.lines) line = detail::nonfinite_tokens(line);
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

  // wandb-events.jsonl (system metrics rows) goes through file_stream like history.
  bool send_events_batch() {
    const auto events = (run_dir / "wandb-events.jsonl").string();
    detail::HistoryBatch batch = detail::read_history_batch(
        events, state.events_bytes, options.max_request_bytes - kRequestOverheadBytes,
        options.max_line_bytes, state.events_lines);
    if (batch.empty()) return false;
    if (!batch.lines.empty()) {
      nlohmann::json body;
      body["files"]["wandb-events.jsonl"] = {{"offset", state.events_server_lines},
                                             {"content", batch.lines}};
      client->file_stream(target, body);
    }
    state.events_bytes = batch.end_bytes;
    state.events_lines += batch.consumed_lines;
    state.events_server_lines += int64_t(batch.lines.size());
    state.save(state_path);
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
    nlohmann::json sent = detail::wandb_summary(summary);
    // The graph entry points at W&B's graph format; ours is uploaded as kGraphRemoteName.
    if (sent.contains("graph") && sent["graph"].is_object() &&
        sent["graph"].value("_type", std::string()) == "graph-file") {
      sent["graph"].erase("_type");
      sent["graph"]["path"] = kGraphRemoteName;
      sent["graph"]["format"] = "trainscope";
    }
    std::string line = detail::nonfinite_tokens(sent.dump());
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
    const auto now = std::chrono::steady_clock::now();
    for (auto& file : detail::list_run_files(run_dir.string())) {
      if (file.name == "output.log" && !final_pass && output_log_sent &&
          std::chrono::duration<double>(now - *output_log_sent).count() < kOutputLogSeconds)
        continue;
      auto known = state.files.find(file.name);
      if (known == state.files.end() || known->second != file.identity) pending.push_back(std::move(file));
    }
    for (size_t first = 0; first < pending.size(); first += kFilesPerUrlRequest) {
      const size_t last = std::min(pending.size(), first + kFilesPerUrlRequest);
      std::vector<std::string> names;
      for (size_t i = first; i < last; ++i) {
        names.push_back(remote_name(pending[i].name));
        if (pending[i].name == "output.log") output_log_sent = now;
      }
      const auto slots = client->create_run_files(target, names);
      std::vector<std::pair<const detail::RunFile*, detail::UploadSlot>> jobs;
      for (size_t i = first; i < last; ++i) {
        const auto slot = std::find_if(slots.begin(), slots.end(),
                                       [&](const auto& s) { return s.name == names[i - first]; });
        if (slot == slots.end()) {
          warn("the server gave no upload URL for " + pending[i].name + "; not uploaded");
          continue;
        }
        jobs.emplace_back(&pending[i], *slot);
      }
      put_in_parallel(jobs);
    }
  }

  // PUTs the jobs with up to max_parallel_uploads transfers in flight (one connection each), then
  // tells file_stream which files finished ("uploaded"), as W&B's own client does.
  void put_in_parallel(const std::vector<std::pair<const detail::RunFile*, detail::UploadSlot>>& jobs) {
    if (jobs.empty()) return;
    const size_t workers = std::min(jobs.size(), size_t(std::max(1, options.max_parallel_uploads)));
    while (put_clients.size() < workers)
      put_clients.push_back(std::make_unique<detail::WandbClient>(credentials, options, cancellation));
    std::atomic<size_t> next{0};
    std::mutex done_mutex;
    std::vector<std::string> finished;
    std::exception_ptr failure;
    auto work = [&](detail::WandbClient& put_client) {
      for (size_t i; (i = next++) < jobs.size();) {
        {
          std::lock_guard<std::mutex> lock(done_mutex);
          if (failure) return;
        }
        try {
          if (cancellation.cancelled()) throw Error("upload: cancelled");
          if (upload_one(put_client, *jobs[i].first, jobs[i].second)) {
            std::lock_guard<std::mutex> lock(done_mutex);
            finished.push_back(jobs[i].second.name);
          }
        } catch (...) {
          std::lock_guard<std::mutex> lock(done_mutex);
          if (!failure) failure = std::current_exception();
          return;
        }
      }
    };
    std::vector<std::thread> threads;
    for (size_t w = 1; w < workers; ++w) threads.emplace_back(work, std::ref(*put_clients[w]));
    work(*put_clients[0]);
    for (auto& t : threads) t.join();
    if (!finished.empty()) {
      std::sort(finished.begin(), finished.end());
      client->file_stream(target, nlohmann::json{{"uploaded", finished}});
    }
    if (failure) std::rethrow_exception(failure);
  }

  // PUTs one file from an open descriptor: a writer replacing the file by rename meanwhile cannot
  // tear what is sent, and the state records exactly the version that was sent. False when the
  // file changed during the PUT (sent again next pass) or vanished.
  bool upload_one(detail::WandbClient& put_client, const detail::RunFile& file,
                  const detail::UploadSlot& slot) {
    const int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;  // replaced or removed since the scan: the next pass sees the new one
    const detail::FileIdentity sent = detail::identity_of_fd(fd);
    try {
      put_client.put_file(slot, fd, sent.size);
    } catch (...) {
      ::close(fd);
      throw;
    }
    const detail::FileIdentity after = detail::identity_of_fd(fd);
    ::close(fd);
    if (after != sent) return false;  // written in place during the upload: send it again next pass
    {
      std::lock_guard<std::mutex> lock(state_mutex);
      state.files[file.name] = sent;
      state.save(state_path);
      {
        std::lock_guard<std::mutex> progress_lock(mutex);
        progress.bytes_uploaded += sent.size;
      }
      publish();
    }
    return true;
  }

  // Everything written so far: history (in request-sized batches), summary, files.
  void pass() {
    sync_config();
    while (send_history_batch()) {
      if (cancellation.cancelled()) throw Error("upload: cancelled");
    }
    while (send_events_batch()) {
      if (cancellation.cancelled()) throw Error("upload: cancelled");
    }
    send_summary();
    upload_files();
  }

  void complete(int code) {
    final_pass = true;
    pass();
    // The last request: everything is acknowledged, so the run can be marked finished.
    nlohmann::json body = {{"complete", true}, {"exitcode", code}};
    std::vector<std::string> uploaded;
    for (const auto& [name, identity] : state.files) uploaded.push_back(remote_name(name));
    if (!uploaded.empty()) body["uploaded"] = uploaded;
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
  if (impl_) impl_->sampler.reset();
  if (impl_ && impl_->thread.joinable()) {
    impl_->cancellation.cancel();
    impl_->thread.join();
  }
}

void Uploader::start() {
  if (impl_->thread.joinable()) throw Error("Uploader::start: already started");
  // Live mode runs inside the training process: describe it, and sample the machine.
  const double started = run_start_time(impl_->run_dir);
  if (impl_->options.write_metadata) detail::write_run_metadata(impl_->run_dir.string(), started, impl_->options.software);
  if (impl_->options.system_metrics_interval_seconds > 0)
    impl_->sampler = std::make_unique<detail::SystemMetricsSampler>(
        impl_->run_dir.string(), impl_->options.system_metrics_interval_seconds, started);
  impl_->thread = std::thread([impl = impl_.get()] {
    impl->run_live();
    {
      std::lock_guard<std::mutex> lock(impl->done_mutex);
      impl->done = true;
    }
    impl->done_cv.notify_all();
  });
}

UploadProgress Uploader::stop(int exit_code) { return stop(exit_code, -1); }

UploadProgress Uploader::stop(int exit_code, double timeout_seconds) {
  if (!impl_->thread.joinable()) return sync(exit_code);
  impl_->sampler.reset();  // its last row is written before the final pass reads the file
  impl_->exit_code = exit_code;
  impl_->stop_requested = true;
  impl_->cancellation.nudge();
  bool finished = true;
  if (timeout_seconds >= 0) {
    std::unique_lock<std::mutex> lock(impl_->done_mutex);
    finished = impl_->done_cv.wait_for(lock, std::chrono::duration<double>(timeout_seconds),
                                       [&] { return impl_->done; });
  }
  if (!finished) impl_->cancellation.cancel();  // interrupts transfers and retry waits
  impl_->thread.join();
  if (!finished) {
    std::ostringstream text;
    text << "upload: not finished within " << timeout_seconds
         << " s, cancelled; the run directory is complete: run `trainscope sync "
         << impl_->run_dir.string() << "` to finish the upload";
    throw Error(text.str());
  }
  impl_->throw_if_failed();
  return impl_->snapshot();
}

std::string Uploader::run_path() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->progress.run_path.empty() ? impl_->initial_path : impl_->progress.run_path;
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
