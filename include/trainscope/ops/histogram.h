#pragma once
// Histograms and statistics of many tensors at once (docs/ops.md#histograms).
//
// Exact semantics: only finite values are binned; NaN, +Inf, −Inf are counted apart.
// lo = min F, hi = max F, edges lo + (hi − lo)·i/B; the bin of v is
// floor((v − lo) · (B / (hi − lo))) in double precision, clamped to [0, B − 1]. lo == hi gives one
// bin holding |F|; no finite value gives no histogram (statistics only). CPU and CUDA produce
// identical counts.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "trainscope/device.h"
#include "trainscope/limits.h"
#include "trainscope/tensor_view.h"

namespace trainscope {

struct TensorStats {
  int64_t count = 0;  // finite values
  int64_t nan_count = 0, pos_inf_count = 0, neg_inf_count = 0;
  double sum = 0, sum_squares = 0;        // over finite values
  double min = 0, max = 0;                // over finite values (0 when there are none)
  double mean = 0, std = 0, l2_norm = 0;  // std: population (divides by count)
};

struct HistogramResult {
  TensorStats stats;
  std::vector<int64_t> counts;  // empty when there are no finite values; 1 bin when lo == hi
  std::vector<double> edges;    // counts.size() + 1 edges (empty with counts)
};

// How the CUDA path schedules its two passes over the data (docs/ops.md#schedules). Results are
// the same either way (counts exactly, sums up to summation order); the CPU path ignores it.
enum class HistogramSchedule {
  TwoPass,     // statistics of the whole list, then bins of the whole list: two launches, each
               // tensor read twice from memory
  L2Resident,  // one persistent kernel: each tensor's bins right after its statistics, while its
               // data is still in the L2 (tensors larger than a window are read twice)
};

struct HistogramOptions {
  int bins = kDefaultHistogramBins;  // 1..512
  // TwoPass stays the default until a GPU run measures L2Resident faster (bench/histogram_bench).
  HistogramSchedule schedule = HistogramSchedule::TwoPass;
  // L2Resident only: the most bytes of tensors whose two passes are in flight together (two
  // windows are live at once); 0: a third of the device's L2. Tests set it small to exercise many
  // windows and the streamed fallback.
  int64_t l2_window_bytes = 0;
};

// Reusable histogram work for a list of tensors on one device. Construction allocates everything
// the work needs (device workspace, pinned host results, an event) once; enqueue() then never
// allocates and never blocks the host, so a training step can call it every step and it can be
// captured in a CUDA graph. On the CPU, enqueue() computes at once on the CPU pool.
class HistogramPlan {
 public:
  // `tensors` fixes the number of tensors, their element counts and the device; dtypes, strides
  // and data pointers may differ between calls to enqueue().
  HistogramPlan(const std::vector<TensorView>& tensors, HistogramOptions options = {});
  ~HistogramPlan();
  HistogramPlan(HistogramPlan&&) noexcept;
  HistogramPlan& operator=(HistogramPlan&&) noexcept;

  // Enqueues all passes for `tensors` on `stream` (one launch per pass for the whole list, or one
  // launch for both under HistogramSchedule::L2Resident) and
  // the asynchronous copy of the results into pinned host memory, then records the plan's event.
  // CUDA views must be contiguous (the histogram functions of trainscope/torch.h make CUDA tensors
  // contiguous first); CPU views may have any strides. The plan holds one set of results: a later
  // enqueue() overwrites them, so harvest before enqueuing again (or keep a ring of plans).
  // Captured in a CUDA graph, each replay reads the data pointers given at capture time (the
  // graph owns its copy of the tensor table: eager enqueues with other tensors between replays
  // do not change what a replay reads). One captured tensor list per plan. Successive calls on
  // different streams are ordered (the later waits for the earlier); a replay is ordered only
  // by the stream it is launched on.
  void enqueue(const std::vector<TensorView>& tensors, Stream stream = {});
  // True once the results of the last enqueue() are in host memory (never blocks).
  bool ready() const;
  // Blocks until ready() (only the thread that harvests results should call this).
  void wait() const;
  // Decodes the results of the last enqueue() or, after a capture, of the last completed replay;
  // waits first if they are not ready. An Error after a capture that has not been replayed.
  std::vector<HistogramResult> results() const;

  std::size_t size() const;  // number of tensors
  Device device() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot convenience: plan, enqueue, wait and decode (blocks on CUDA).
std::vector<HistogramResult> histograms(const std::vector<TensorView>& tensors,
                                        HistogramOptions options = {}, Stream stream = {});

}  // namespace trainscope
