#pragma once
// The optional training progress line (docs/callback.md#console-output): epoch, batch, rate, ETA
// and the last written metrics. Metric values come from the rows the run's writer has written
// (a Sink), so showing a device metric never waits for the device; they lag by the writer queue.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "trainscope/run/record.h"

namespace trainscope::detail {

// Keeps the last value of every scalar written (runs on the writer thread).
class LastScalars final : public Sink {
 public:
  void write(const CommittedStep& step) override;
  std::map<std::string, double> snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, double> values_;
};

struct ProgressSettings {
  int64_t batches_per_epoch = 0;  // 0: unknown (no ETA within the epoch)
  int64_t epochs = 0;             // 0: unknown
  double interval_seconds = 1.0;  // at most one line per interval (and one at each epoch end)
};

class Progress {
 public:
  // `emit(line, transient)`: transient lines may be overwritten by the next one (a terminal).
  Progress(ProgressSettings settings, std::shared_ptr<LastScalars> scalars,
           std::function<void(const std::string& line, bool transient)> emit);
  void batch(int64_t step, const std::vector<std::string>& metric_keys);
  void epoch_end(int64_t epoch);

  // The line for the given state (exposed for tests).
  static std::string format(int64_t epoch, int64_t epochs, int64_t batch_in_epoch, int64_t batches_per_epoch,
                            double batches_per_second, std::optional<double> eta_seconds,
                            const std::map<std::string, double>& metrics);

 private:
  using Clock = std::chrono::steady_clock;
  ProgressSettings settings_;
  std::shared_ptr<LastScalars> scalars_;
  std::function<void(const std::string&, bool)> emit_;
  std::vector<std::string> keys_;
  int64_t epoch_ = 0, batch_in_epoch_ = 0, batches_total_ = 0;
  Clock::time_point start_ = Clock::now(), last_line_{};
  bool any_line_ = false;
  std::string line(bool final_line);
};

}  // namespace trainscope::detail
