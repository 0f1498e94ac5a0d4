#include "trainscope/device.h"

#include "common/check.h"

#ifdef TRAINSCOPE_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace trainscope {

bool built_with_cuda() {
#ifdef TRAINSCOPE_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef TRAINSCOPE_WITH_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: clear the sticky error, report none
    return 0;
  }
  return n;
#else
  return 0;
#endif
}

namespace detail {

void check_device_usable(const Device& device, const char* op, const char* arg) {
  if (!device.is_cuda()) return;
  check(built_with_cuda(), op, arg, "is on ", device.str(),
        " but this trainscope build has no CUDA kernels (configure with -DTRAINSCOPE_CUDA=ON)");
  check(device.index >= 0 && device.index < cuda_device_count(), op, arg, "is on ", device.str(),
        " but only ", cuda_device_count(), " CUDA device(s) are available");
}

}  // namespace detail
}  // namespace trainscope
