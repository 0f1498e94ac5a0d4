#pragma once
// The callback's decisions that need no tensor library (docs/callback.md): mode rules, best tracking,
// logging frequencies, prediction clamping and input/output type guessing.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "trainscope/torch/callback_types.h"

namespace trainscope::detail {

enum class Mode { Min, Max };

// Min / Max as given; Auto: max if `monitor` contains "acc" or starts with "fmeasure", else min.
Mode resolve_mode(MonitorMode mode, const std::string& monitor);
// The same from the documented names; any other text: auto, and `warning` (when given) receives why.
Mode resolve_mode(const std::string& mode, const std::string& monitor, std::string* warning = nullptr);

// The best monitored value so far. NaN (and ±Inf in the wrong direction) never improves it.
class BestTracker {
 public:
  explicit BestTracker(Mode mode = Mode::Min) : mode_(mode) {}
  // True when `value` improves on the best (which it then becomes, with `epoch`).
  bool update(double value, int64_t epoch);
  // Restores a best from a resumed run.
  void restore(double value, int64_t epoch);
  std::optional<double> best() const { return best_; }
  int64_t best_epoch() const { return best_epoch_; }
  Mode mode() const { return mode_; }

 private:
  Mode mode_;
  std::optional<double> best_;
  int64_t best_epoch_ = -1;
};

constexpr int kMaxPredictions = 100;
// Number of validation examples visualised: clamped to [0, 100].
int clamp_predictions(int predictions);

// Batch-level logging: `frequency` ≤ 0 means per epoch only; else every `frequency`-th batch
// (batches counted from 1 within the run).
bool batch_is_due(int64_t batch, int frequency);
// Evaluation tables every `frequency` epochs (epochs counted from 1); 0: end of training only.
bool evaluation_is_due(int64_t epoch, int frequency);

using trainscope::DataType;
// "image", "images", "segmentation_mask", "label", "auto" (empty = auto); else Error naming `arg`.
DataType parse_data_type(const std::string& text, const char* arg);
// Guess from a batch's shape (batch dimension first): rank 1–2 label, rank 3 image,
// rank 4 with channels (dim 1 or dim 3) in {1, 3, 4} image, else segmentation mask.
DataType guess_data_type(const std::vector<int64_t>& batch_shape);
const char* data_type_name(DataType type);

}  // namespace trainscope::detail
