#pragma once
// GPU tests skip, with the reason, where no CUDA device can run them (they stay visible in ctest
// as "Skipped" rather than silently absent).
#include <gtest/gtest.h>

#include "trainscope/device.h"

#define TS_REQUIRE_CUDA()                                                                   \
  do {                                                                                      \
    if (!::trainscope::built_with_cuda())                                                   \
      GTEST_SKIP() << "trainscope was built without CUDA (TRAINSCOPE_CUDA=OFF or no nvcc)"; \
    if (::trainscope::cuda_device_count() == 0)                                             \
      GTEST_SKIP() << "no CUDA device on this machine";                                     \
  } while (0)
