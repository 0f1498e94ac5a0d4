#include "cuda_check.cuh"

namespace trainscope::kernels {

DeviceGuard::DeviceGuard(int device) {
  TS_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) {
    TS_CUDA_CHECK(cudaSetDevice(device));
  } else {
    previous_ = -1;  // nothing to restore
  }
}

DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0) cudaSetDevice(previous_);
}

}  // namespace trainscope::kernels
