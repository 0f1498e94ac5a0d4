#include "trainscope/sinks/tensorboard.h"

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "run/png_codec.h"
#include "sinks/event_file.h"
#include "sinks/event_proto.h"
#include "sinks/hparams_proto.h"
#include "sinks/markdown.h"
#include "trainscope/error.h"

namespace trainscope {
namespace {

using Clock = std::chrono::steady_clock;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string image_tag(const std::string& key, size_t index, size_t count) {
  return count == 1 ? key : key + "/" + std::to_string(index);
}

void add_images(detail::SummaryBuilder& summary, const std::string& key,
                const std::vector<ImageValue>& images, const std::vector<StoredImage>* stored) {
  TableValue captions{{"image", "caption"}, {}};
  for (size_t i = 0; i < images.size(); ++i) {
    const ImageValue& image = images[i];
    const std::string tag = image_tag(key, i, images.size());
    const bool have_png = stored && i < stored->size() && !(*stored)[i].png.empty();
    if (have_png && (image.width <= 0 || image.height <= 0 ||
                     (image.channels != 1 && image.channels != 3 && image.channels != 4)))
      throw Error("TensorBoardSink::write: images['" + key + "'][" + std::to_string(i) +
                  "]: expected width, height > 0 and 1, 3 or 4 channels, got " +
                  std::to_string(image.width) + "x" + std::to_string(image.height) + "x" +
                  std::to_string(image.channels));
    // The run normally hands over the PNG it stored; encode only when it did not.
    const std::vector<uint8_t> encoded = have_png ? std::vector<uint8_t>{} : detail::encode_png(image);
    summary.add_image(tag, image.height, image.width, image.channels,
                      have_png ? (*stored)[i].png : encoded);
    if (!image.caption.empty()) captions.rows.push_back({tag, image.caption});
  }
  if (!captions.rows.empty()) summary.add_text(key + "/captions", detail::table_to_markdown(captions));
}

detail::SummaryBuilder build_summary(const CommittedStep& step, const std::set<std::string>& omitted) {
  const StepRecord& record = *step.record;
  detail::SummaryBuilder summary;
  auto kept = [&](const std::string& key) { return omitted.count(key) == 0; };
  for (const auto& [key, value] : record.scalars)
    if (kept(key)) summary.add_scalar(key, static_cast<float>(value));
  for (const auto& [key, histogram] : record.histograms) {
    if (!kept(key)) continue;
    if (histogram.counts.empty() && histogram.num == 0) continue;  // no finite values: stats only
    summary.add_histogram(key, histogram);
  }
  for (const auto& [key, images] : record.images) {
    if (!kept(key)) continue;
    const auto stored = step.images.find(key);
    add_images(summary, key, images, stored == step.images.end() ? nullptr : &stored->second);
  }
  for (const auto& [key, text] : record.texts)
    if (kept(key)) summary.add_text(key, text);
  for (const auto& [key, table] : record.tables)
    if (kept(key)) summary.add_text(key, detail::table_to_markdown(table));
  return summary;
}

}  // namespace

std::string tensorboard_log_dir(const std::string& run_dir) {
  return (std::filesystem::path(run_dir) / "tb").string();
}

struct TensorBoardSink::Impl {
  TensorBoardOptions options;
  detail::PriorEvents prior;
  std::unique_ptr<detail::EventFileWriter> file;

  std::mutex mutex;  // guards everything below, and the file
  std::condition_variable wake_flusher;
  std::optional<int64_t> last_step;       // last step written by this sink
  std::optional<Clock::time_point> oldest_unflushed;
  std::string flush_error;                // from the background flush, thrown on the next call
  struct PendingHparams {
    std::map<std::string, TableCell> values;
    std::vector<std::string> metric_tags;
    std::string group_name;
  };
  std::optional<PendingHparams> hparams;  // set, not yet written
  bool hparams_written = false;           // a session end is due at close
  bool closing = false;
  std::thread flusher;

  void throw_flush_error_locked() {
    if (flush_error.empty()) return;
    std::string message = std::move(flush_error);
    flush_error.clear();
    throw Error("TensorBoardSink: background flush failed: " + message);
  }

  void flush_locked() {
    file->flush();
    oldest_unflushed.reset();
  }

  // Flushes pending events once they are flush_interval old; never throws.
  void run_flusher() {
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options.flush_interval_seconds));
    std::unique_lock<std::mutex> lock(mutex);
    while (!closing) {
      if (!oldest_unflushed) {
        wake_flusher.wait(lock);
        continue;
      }
      const auto due = *oldest_unflushed + interval;
      if (Clock::now() < due) {
        wake_flusher.wait_until(lock, due);
        continue;
      }
      try {
        flush_locked();
      } catch (const std::exception& e) {
        flush_error = e.what();
        oldest_unflushed.reset();  // reported once; the next write or flush() retries
      }
    }
  }
};

TensorBoardSink::TensorBoardSink(const std::string& log_dir, TensorBoardOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (log_dir.empty()) throw Error("TensorBoardSink: log_dir: expected a directory path, got \"\"");
  if (!(options.flush_interval_seconds >= 0))
    throw Error("TensorBoardSink: options.flush_interval_seconds: expected ≥ 0, got " +
                std::to_string(options.flush_interval_seconds));
  impl_->options = options;
  impl_->prior = detail::scan_event_directory(log_dir);
  impl_->file = std::make_unique<detail::EventFileWriter>(log_dir, now_seconds());
  if (options.flush_interval_seconds > 0) impl_->flusher = std::thread([this] { impl_->run_flusher(); });
}

TensorBoardSink::~TensorBoardSink() {
  try {
    close();
  } catch (...) {
  }
}

void TensorBoardSink::write(const CommittedStep& step) {
  if (step.record == nullptr) throw Error("TensorBoardSink::write: step.record: expected a record, got null");
  // Encode before taking the lock: PNG encoding may take a while and the flusher needs the lock.
  const detail::SummaryBuilder summary = build_summary(step, impl_->options.omitted_keys);
  const double wall_time = step.wall_time > 0 ? step.wall_time : now_seconds();

  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.throw_flush_error_locked();
  if (!s.file->is_open()) throw Error("TensorBoardSink::write: the sink is closed");
  if (s.last_step && step.step <= *s.last_step)
    throw Error("TensorBoardSink::write: step.step: expected steps to increase, got " +
                std::to_string(step.step) + " after " + std::to_string(*s.last_step));
  if (!s.last_step) {
    // Every session starts with a SessionLog START at its first step. TensorBoard takes a run's
    // first START as its beginning and every later one as a restart: it drops what it holds for
    // this step and later (earlier files of a run resumed from a checkpoint). Files from a writer
    // that wrote no START get one more, so that this one still counts as a restart.
    const auto start = detail::encode_session_start_event(wall_time, step.step);
    if (!s.prior.files.empty() && !s.prior.has_session_start) s.file->append(start);
    s.file->append(start);
  }
  if (s.hparams) {
    detail::SummaryBuilder hparams;
    hparams.add_plugin_content(detail::kHparamsExperimentTag, detail::kHparamsPluginName,
                               detail::encode_hparams_experiment(s.hparams->values, s.hparams->metric_tags, wall_time));
    hparams.add_plugin_content(detail::kHparamsSessionStartTag, detail::kHparamsPluginName,
                               detail::encode_hparams_session_start(s.hparams->values, s.hparams->group_name, wall_time));
    s.file->append(detail::encode_summary_event(wall_time, step.step, hparams));
    s.hparams.reset();
    s.hparams_written = true;
  }
  if (!summary.empty()) s.file->append(detail::encode_summary_event(wall_time, step.step, summary));
  s.last_step = step.step;

  if (s.options.flush_interval_seconds <= 0 || s.file->buffered_bytes() > s.options.max_buffered_bytes) {
    s.flush_locked();
  } else if (!s.oldest_unflushed) {
    s.oldest_unflushed = Clock::now();
    s.wake_flusher.notify_one();
  }
}

void TensorBoardSink::set_hparams(std::map<std::string, TableCell> hparams, std::vector<std::string> metric_tags,
                                  std::string group_name) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->hparams = Impl::PendingHparams{std::move(hparams), std::move(metric_tags), std::move(group_name)};
}

void TensorBoardSink::flush() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->throw_flush_error_locked();
  if (impl_->file->is_open()) impl_->flush_locked();
}

void TensorBoardSink::close() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.closing = true;
  }
  s.wake_flusher.notify_one();
  if (s.flusher.joinable()) s.flusher.join();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.oldest_unflushed.reset();
  if (s.hparams_written && s.file->is_open() && s.last_step) {  // the HParams tab marks the session done
    detail::SummaryBuilder end;
    end.add_plugin_content(detail::kHparamsSessionEndTag, detail::kHparamsPluginName,
                           detail::encode_hparams_session_end(now_seconds()));
    s.file->append(detail::encode_summary_event(now_seconds(), *s.last_step, end));
    s.hparams_written = false;
  }
  s.file->close();  // writes what an earlier failed flush left, then syncs
  s.throw_flush_error_locked();
}

const std::string& TensorBoardSink::file_path() const { return impl_->file->path(); }
bool TensorBoardSink::resumed() const { return !impl_->prior.files.empty(); }
std::optional<int64_t> TensorBoardSink::last_step_before_open() const { return impl_->prior.last_step; }

}  // namespace trainscope
