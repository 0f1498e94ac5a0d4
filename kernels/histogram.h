#pragma once
// The CUDA side of HistogramPlan: owns the device workspace, the pinned buffers and the events,
// and enqueues the passes. Plain C++ so that src/ops can hold one without CUDA headers; the op
// layer has already checked the arguments and built the chunk table.
#include <cstdint>
#include <memory>
#include <vector>

#include "histogram_math.h"
#include "trainscope/device.h"
#include "trainscope/tensor_view.h"

namespace trainscope::kernels {

// One tensor as the kernels read it (contiguous data).
struct HistogramTensor {
  const void* data = nullptr;
  int64_t numel = 0;
  int32_t dtype = 0;          // static_cast<int32_t>(DType)
  int32_t vector_loads = 0;   // 1 when data is 16-byte aligned: the kernels read 16 bytes at a time
  bool operator==(const HistogramTensor& o) const {
    return data == o.data && numel == o.numel && dtype == o.dtype && vector_loads == o.vector_loads;
  }
  bool operator!=(const HistogramTensor& o) const { return !(*this == o); }
};

using histogram_math::HistogramChunk;

// How the runner schedules the two passes (docs/ops.md#schedules).
struct HistogramRunnerOptions {
  bool l2_resident = false;     // false: two launches; true: one persistent kernel over tickets
  int64_t l2_window_bytes = 0;  // L2 schedule's window; 0: a third of the device's L2
};

class CudaHistogramRunner {
 public:
  CudaHistogramRunner(int device, int bins, const std::vector<HistogramTensor>& tensors,
                      const std::vector<HistogramChunk>& chunks, const HistogramRunnerOptions& options = {});
  ~CudaHistogramRunner();
  CudaHistogramRunner(const CudaHistogramRunner&) = delete;
  CudaHistogramRunner& operator=(const CudaHistogramRunner&) = delete;

  // Zeroes the accumulators (and the L2 schedule's counters), runs the statistics pass and the
  // binning pass (two launches, or the L2 schedule's one), copies the results
  // into pinned memory and records the completion event. Never allocates. Eager calls refresh
  // the eager tensor table when it changed (async copy from one of two pinned staging slots;
  // blocks only when both slots' uploads are still in flight) and, on a stream other than the
  // last call's, first wait for the last call's work. Inside a CUDA graph capture the graph gets
  // a table of its own, re-uploaded at each replay and never written by eager calls; a plan
  // holds one captured tensor list (another list in a later capture is an Error).
  void enqueue(const std::vector<HistogramTensor>& tensors, Stream stream);
  bool ready() const;
  void wait() const;
  // Throws if the pinned results cannot be those of the last enqueue: it was captured and no
  // replay has completed yet. Call after wait().
  void check_results() const;

  // Pinned host results of the last enqueue() (valid once ready()).
  const histogram_math::TensorAccumulators* accumulators() const;
  const unsigned long long* counts() const;  // tensors × bins

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace trainscope::kernels
