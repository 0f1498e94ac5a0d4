#include "torch/callback/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace trainscope::detail {

void LastScalars::write(const CommittedStep& step) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [key, value] : step.record->scalars) values_[key] = value;
}

std::map<std::string, double> LastScalars::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return values_;
}

Progress::Progress(ProgressSettings settings, std::shared_ptr<LastScalars> scalars,
                   std::function<void(const std::string&, bool)> emit)
    : settings_(settings), scalars_(std::move(scalars)), emit_(std::move(emit)) {}

namespace {

std::string duration_text(double seconds) {
  long total = std::lround(std::max(0.0, seconds));
  char text[32];
  if (total >= 3600) std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
  else std::snprintf(text, sizeof text, "%ld:%02ld", total / 60, total % 60);
  return text;
}

}  // namespace

std::string Progress::format(int64_t epoch, int64_t epochs, int64_t batch_in_epoch, int64_t batches_per_epoch,
                             double batches_per_second, std::optional<double> eta_seconds,
                             const std::map<std::string, double>& metrics) {
  std::string text = "epoch " + std::to_string(epoch + 1) + (epochs > 0 ? "/" + std::to_string(epochs) : "");
  text += " batch " + std::to_string(batch_in_epoch) + (batches_per_epoch > 0 ? "/" + std::to_string(batches_per_epoch) : "");
  char rate[48];
  std::snprintf(rate, sizeof rate, " %.3g batch/s", batches_per_second);
  text += rate;
  if (eta_seconds) text += " ETA " + duration_text(*eta_seconds);
  for (const auto& [key, value] : metrics) {
    char number[48];
    std::snprintf(number, sizeof number, "%.4g", value);
    text += " " + key + " " + number;
  }
  return text;
}

std::string Progress::line(bool final_line) {
  double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  double rate = elapsed > 0 ? batches_total_ / elapsed : 0;
  std::optional<double> eta;
  if (rate > 0 && settings_.batches_per_epoch > 0) {
    int64_t left = settings_.batches_per_epoch - batch_in_epoch_;
    if (settings_.epochs > 0) left += (settings_.epochs - epoch_ - 1) * settings_.batches_per_epoch;
    if (final_line && settings_.epochs == 0) left = 0;
    eta = std::max<int64_t>(0, left) / rate;
  }
  std::map<std::string, double> shown;
  auto last = scalars_ ? scalars_->snapshot() : std::map<std::string, double>{};
  for (const auto& key : keys_) {
    auto it = last.find(key);
    if (it != last.end()) shown[key] = it->second;
  }
  return format(epoch_, settings_.epochs, batch_in_epoch_, settings_.batches_per_epoch, rate, eta, shown);
}

void Progress::batch(int64_t, const std::vector<std::string>& metric_keys) {
  ++batch_in_epoch_;
  ++batches_total_;
  for (const auto& key : metric_keys)
    if (std::find(keys_.begin(), keys_.end(), key) == keys_.end()) keys_.push_back(key);
  auto now = Clock::now();
  if (any_line_ && std::chrono::duration<double>(now - last_line_).count() < settings_.interval_seconds) return;
  any_line_ = true;
  last_line_ = now;
  emit_(line(false), true);
}

void Progress::epoch_end(int64_t epoch) {
  epoch_ = epoch;
  emit_(line(true), false);  // one line that stays per epoch
  epoch_ = epoch + 1;
  batch_in_epoch_ = 0;
}

}  // namespace trainscope::detail
