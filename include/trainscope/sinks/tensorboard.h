#pragma once
// TensorBoardSink: writes what a run commits as TensorBoard event files, natively (no TensorFlow,
// no protobuf library). Open the run with `tensorboard --logdir runs/<run-id>/tb`.
//
// Per committed step, one event holding:
//   scalars     -> scalars (simple_value, float precision)
//   histograms  -> histograms (HistogramProto: min, max, num, sum, sum_squares, the right edges
//                  as bucket limits and the counts, as history.jsonl holds them)
//   images      -> images (PNG); tag <key> for one image, <key>/<i> for several; the non-empty
//                  captions as a markdown table under the text tag <key>/captions
//   texts       -> text (markdown)
//   tables      -> text, as a markdown table
//   set_hparams -> the HParams plugin (experiment, session start; session end at close)
//
// Sessions and resuming: each sink writes a new file, and its first step is preceded by a
// SessionLog START at that step. When the directory already holds event files (a resumed run),
// TensorBoard takes that START as a restart and drops the earlier files' steps from there on, so
// it shows the resumed run's values instead (steps stay monotonic). A last record cut short by a
// crash is tolerated, by TensorBoard and by this sink.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "trainscope/run/record.h"

namespace trainscope {

struct TensorBoardOptions {
  // Events reach the file (so TensorBoard sees them) at most this many seconds after write();
  // a background thread flushes. 0 flushes on every write.
  double flush_interval_seconds = 5.0;
  // Buffered events beyond this many bytes are flushed at once (images can be large).
  size_t max_buffered_bytes = size_t{8} << 20;
  // Keys not written at all, e.g. bookkeeping counters that would each get a card of their own
  // (the Callback leaves out its "epoch" counter: TensorBoard's x-axis is the step).
  std::set<std::string> omitted_keys;
};

// The TensorBoard log directory of a run directory: <run_dir>/tb.
std::string tensorboard_log_dir(const std::string& run_dir);

class TensorBoardSink final : public Sink {
 public:
  // Creates `log_dir` if needed and a new event file in it. Reads the event files already there
  // (checking CRCs, tolerating a truncated last record) to know whether this is a resume.
  // Throws trainscope::Error if the directory or file cannot be created or a file not read.
  explicit TensorBoardSink(const std::string& log_dir, TensorBoardOptions options = {});
  ~TensorBoardSink() override;  // closes; errors are dropped here, call close() to see them
  TensorBoardSink(const TensorBoardSink&) = delete;
  TensorBoardSink& operator=(const TensorBoardSink&) = delete;

  // Steps must increase from one write to the next. Throws trainscope::Error for a step that does
  // not, a malformed value (histogram edges, table rows, image size), a closed sink, or a write or
  // flush error of the background flush.
  void write(const CommittedStep& step) override;
  // Hyperparameters and the metrics that judge them, for TensorBoard's HParams tab: written with
  // the next step (the plugin's experiment and session start), and the session end at close().
  // Thread-safe: may be called while the run's writer thread writes. A later call replaces what
  // an earlier one gave, if that was not written yet. Empty cells are left out.
  void set_hparams(std::map<std::string, TableCell> hparams, std::vector<std::string> metric_tags,
                   std::string group_name = {});
  // Hands everything written so far to the file.
  void flush() override;
  // Flushes, syncs the file to disk and closes it; later writes throw. Idempotent.
  void close() override;

  // The event file this sink writes.
  const std::string& file_path() const;
  // True when the directory held event files before this sink opened it.
  bool resumed() const;
  // The last step those files showed (after their own restarts), if any.
  std::optional<int64_t> last_step_before_open() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainscope
