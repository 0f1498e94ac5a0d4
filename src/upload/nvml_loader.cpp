#include "upload/nvml_loader.h"

#include <dlfcn.h>

namespace trainscope::detail {
namespace {

// The few NVML entry points used, with their C signatures (stable across driver versions).
using Device = void*;
struct Memory {
  unsigned long long total, free, used;
};
struct Utilization {
  unsigned int gpu, memory;
};
using InitFn = int (*)();
using CountFn = int (*)(unsigned int*);
using HandleFn = int (*)(unsigned int, Device*);
using StringFn = int (*)(Device, char*, unsigned int);
using MemoryFn = int (*)(Device, Memory*);
using UtilFn = int (*)(Device, Utilization*);
using TempFn = int (*)(Device, int, unsigned int*);
using UintFn = int (*)(Device, unsigned int*);
using DriverFn = int (*)(int*);
constexpr int kSuccess = 0;
constexpr int kTemperatureGpu = 0;

}  // namespace

struct Nvml::Api {
  void* lib = nullptr;
  CountFn count = nullptr;
  HandleFn handle = nullptr;
  StringFn name = nullptr;
  StringFn uuid = nullptr;
  MemoryFn memory = nullptr;
  UtilFn utilization = nullptr;
  TempFn temperature = nullptr;
  UintFn power = nullptr;
  UintFn power_limit = nullptr;
  DriverFn cuda_driver = nullptr;
};

Nvml& Nvml::instance() {
  static Nvml nvml;  // never unloaded: samplers may run until exit
  return nvml;
}

Nvml::Nvml() {
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return;
  auto sym = [lib](const char* name) { return dlsym(lib, name); };
  auto init = reinterpret_cast<InitFn>(sym("nvmlInit_v2"));
  api_ = new Api;
  api_->lib = lib;
  api_->count = reinterpret_cast<CountFn>(sym("nvmlDeviceGetCount_v2"));
  api_->handle = reinterpret_cast<HandleFn>(sym("nvmlDeviceGetHandleByIndex_v2"));
  api_->name = reinterpret_cast<StringFn>(sym("nvmlDeviceGetName"));
  api_->uuid = reinterpret_cast<StringFn>(sym("nvmlDeviceGetUUID"));
  api_->memory = reinterpret_cast<MemoryFn>(sym("nvmlDeviceGetMemoryInfo"));
  api_->utilization = reinterpret_cast<UtilFn>(sym("nvmlDeviceGetUtilizationRates"));
  api_->temperature = reinterpret_cast<TempFn>(sym("nvmlDeviceGetTemperature"));
  api_->power = reinterpret_cast<UintFn>(sym("nvmlDeviceGetPowerUsage"));
  api_->power_limit = reinterpret_cast<UintFn>(sym("nvmlDeviceGetEnforcedPowerLimit"));
  api_->cuda_driver = reinterpret_cast<DriverFn>(sym("nvmlSystemGetCudaDriverVersion"));
  ok_ = init && api_->count && api_->handle && init() == kSuccess;
}

std::vector<GpuInfo> Nvml::devices() const {
  std::vector<GpuInfo> out;
  unsigned int n = 0;
  if (!ok_ || api_->count(&n) != kSuccess) return out;
  for (unsigned int i = 0; i < n; ++i) {
    Device d = nullptr;
    if (api_->handle(i, &d) != kSuccess) continue;
    GpuInfo info;
    char text[96] = {0};
    if (api_->name && api_->name(d, text, sizeof text) == kSuccess) info.name = text;
    char id[96] = {0};
    if (api_->uuid && api_->uuid(d, id, sizeof id) == kSuccess) info.uuid = id;
    Memory m{};
    if (api_->memory && api_->memory(d, &m) == kSuccess) info.memory_total = m.total;
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<GpuSample> Nvml::sample() const {
  std::vector<GpuSample> out;
  unsigned int n = 0;
  if (!ok_ || api_->count(&n) != kSuccess) return out;
  for (unsigned int i = 0; i < n; ++i) {
    GpuSample s;
    Device d = nullptr;
    if (api_->handle(i, &d) == kSuccess) {
      Utilization u{};
      if (api_->utilization && api_->utilization(d, &u) == kSuccess) {
        s.utilization = u.gpu;
        s.memory_utilization = u.memory;
      }
      Memory m{};
      if (api_->memory && api_->memory(d, &m) == kSuccess) {
        s.memory_used = m.used;
        s.memory_total = m.total;
      }
      unsigned int v = 0;
      if (api_->temperature && api_->temperature(d, kTemperatureGpu, &v) == kSuccess) s.temperature = v;
      if (api_->power && api_->power(d, &v) == kSuccess) s.power_watts = v / 1000.0;
      if (api_->power_limit && api_->power_limit(d, &v) == kSuccess) s.power_limit_watts = v / 1000.0;
    }
    out.push_back(s);
  }
  return out;
}

std::string Nvml::cuda_driver_version() const {
  int v = 0;
  if (!ok_ || !api_->cuda_driver || api_->cuda_driver(&v) != kSuccess || v <= 0) return "";
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

}  // namespace trainscope::detail
