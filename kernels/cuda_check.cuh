#pragma once
// Every CUDA call is checked; failures become trainscope::Error with the call and its location.
#include <cuda_runtime.h>

#include <string>

#include "trainscope/error.h"

namespace trainscope::kernels {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* what, const char* file,
                                          int line) {
  throw Error(std::string("CUDA error: ") + what + " failed with " + cudaGetErrorName(err) + " (" +
              cudaGetErrorString(err) + ") at " + file + ":" + std::to_string(line));
}

// Makes `device` current for the scope and restores the caller's device afterwards.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace trainscope::kernels

#define TS_CUDA_CHECK(call)                                                              \
  do {                                                                                   \
    cudaError_t ts_err_ = (call);                                                        \
    if (ts_err_ != cudaSuccess)                                                          \
      ::trainscope::kernels::throw_cuda_error(ts_err_, #call, __FILE__, __LINE__);       \
  } while (0)

// After every launch: configuration errors surface here, not at the next unrelated call.
#define TS_CUDA_CHECK_LAUNCH() TS_CUDA_CHECK(cudaGetLastError())
