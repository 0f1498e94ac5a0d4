#pragma once
// Samples system metrics while training runs and appends them to <run>/wandb-events.jsonl, one
// JSON object per sample in W&B's shape (docs/upload.md#system-metrics): "_wandb": true,
// "_timestamp", "_runtime" and "system.*" keys (process and per-core CPU, RAM, disk, network,
// and per GPU utilisation, memory, temperature and power when NVML sees GPUs). The uploader
// streams that file like history. Lines are appended whole with one write each, so a reader
// never sees a torn line except at the end of a crashed write.
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

namespace trainscope::detail {

class SystemMetricsSampler {
 public:
  // Starts a thread that writes a row every `interval_seconds`; `started_at` (Unix seconds)
  // is the run's start, from which "_runtime" counts.
  SystemMetricsSampler(std::string run_dir, double interval_seconds, double started_at);
  ~SystemMetricsSampler();  // writes one last row and joins
  SystemMetricsSampler(const SystemMetricsSampler&) = delete;
  SystemMetricsSampler& operator=(const SystemMetricsSampler&) = delete;

  struct Counters;  // previous readings, for rates and percentages

 private:
  void loop();
  void write_row();

  std::string path_;
  double interval_;
  double started_at_;
  Counters* previous_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// One sample relative to `previous` (updated); exposed for tests.
nlohmann::json sample_system_metrics(SystemMetricsSampler::Counters& previous, double started_at);

double unix_now();

}  // namespace trainscope::detail
