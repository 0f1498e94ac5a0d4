#pragma once
// NVIDIA's management library, loaded at run time (dlopen of libnvidia-ml.so.1), so trainscope
// needs neither the driver nor NVML's headers to build or run: without them there are no GPUs.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trainscope::detail {

struct GpuInfo {
  std::string name;
  std::string uuid;
  uint64_t memory_total = 0;  // bytes
};

struct GpuSample {
  std::optional<double> utilization;        // %
  std::optional<double> memory_utilization;  // % of time the memory was read or written
  std::optional<uint64_t> memory_used;       // bytes
  std::optional<uint64_t> memory_total;
  std::optional<double> temperature;         // °C
  std::optional<double> power_watts;
  std::optional<double> power_limit_watts;
};

class Nvml {
 public:
  // The process-wide instance; available() is false without a driver.
  static Nvml& instance();
  bool available() const { return ok_; }
  std::vector<GpuInfo> devices() const;
  std::vector<GpuSample> sample() const;
  std::string cuda_driver_version() const;  // "12.4", empty when unknown

 private:
  Nvml();
  struct Api;
  Api* api_ = nullptr;
  bool ok_ = false;
};

}  // namespace trainscope::detail
