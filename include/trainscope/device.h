#pragma once
// Where a tensor lives and on which queue device work is ordered. No CUDA types appear here: a
// CUDA stream travels as an opaque handle (a cudaStream_t cast to void*).
#include <string>

namespace trainscope {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;  // CUDA ordinal; 0 for the CPU

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

// A CUDA stream handle (cudaStream_t), or nullptr for the legacy default stream. Ignored by CPU ops.
struct Stream {
  void* handle = nullptr;
};

// True when this build has the CUDA kernels compiled in.
bool built_with_cuda();

// Number of usable CUDA devices: 0 when built without CUDA, when there is no driver or no device.
int cuda_device_count();

}  // namespace trainscope
