#include "histogram.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <type_traits>
#include <cub/block/block_reduce.cuh>
#include <cstring>

#include "cuda_check.cuh"
#include "dtype_dispatch.h"
#include "histogram_schedule.h"
#include "trainscope/error.h"

namespace trainscope::kernels {
namespace {

namespace hm = histogram_math;
using hm::TensorAccumulators;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
// 16-byte loads in flight per thread before any is consumed: 64 bytes, fewer for narrow types
// (each 16-byte load of 1-byte data already holds 16 values to convert and bin).
template <typename T>
constexpr int unroll_for() { return sizeof(T) >= 4 ? 4 : 2; }

// ---- element access ------------------------------------------------------------------------

__device__ __forceinline__ double to_double(float x) { return x; }
__device__ __forceinline__ double to_double(double x) { return x; }
__device__ __forceinline__ double to_double(Float16Bits x) {
  return __half2float(__ushort_as_half(x.bits));  // exact, as hm::half_bits_to_double
}
__device__ __forceinline__ double to_double(BFloat16Bits x) {
  return hm::bfloat16_bits_to_double(x.bits);
}
__device__ __forceinline__ double to_double(uint8_t x) { return x; }
__device__ __forceinline__ double to_double(int8_t x) { return x; }
__device__ __forceinline__ double to_double(int16_t x) { return x; }
__device__ __forceinline__ double to_double(int32_t x) { return x; }
__device__ __forceinline__ double to_double(int64_t x) { return static_cast<double>(x); }
__device__ __forceinline__ double to_double(bool x) { return x ? 1.0 : 0.0; }

// Floating-point data (parameters, gradients) takes 16-byte vector loads; integer and bool
// tensors, rare in histograms, read one element per load. That halves the kernels' instantiated
// code and with it histogram.cu's compile time, which every architecture pays.
template <typename T>
constexpr bool vectorized_type() {
  return std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, Float16Bits> ||
         std::is_same_v<T, BFloat16Bits>;
}

// Visits the 16-byte vectors of [begin, end) (data 16-byte aligned), kUnroll loads in flight per
// thread; returns where the scalar tail starts.
template <typename T, typename Visit>
__device__ __forceinline__ int64_t visit_vectors(const T* base, int64_t begin, int64_t end, Visit& visit) {
  constexpr int kPerVector = 16 / sizeof(T);
  constexpr int kUnroll = unroll_for<T>();
  // Chunk starts are multiples of the chunk size, itself a multiple of 16 elements, so
  // base + begin stays 16-byte aligned.
  const uint4* vec = reinterpret_cast<const uint4*>(base + begin);
  const int64_t vectors = (end - begin) / kPerVector;
  int64_t j = threadIdx.x;
  for (; j + int64_t(kUnroll - 1) * kThreads < vectors; j += int64_t(kUnroll) * kThreads) {
    uint4 raw[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) raw[u] = __ldg(vec + j + u * kThreads);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      T values[kPerVector];
      memcpy(values, &raw[u], 16);
#pragma unroll
      for (int k = 0; k < kPerVector; ++k) visit(to_double(values[k]));
    }
  }
  for (; j < vectors; j += kThreads) {
    const uint4 raw = __ldg(vec + j);
    T values[kPerVector];
    memcpy(values, &raw, 16);
#pragma unroll
    for (int k = 0; k < kPerVector; ++k) visit(to_double(values[k]));
  }
  return begin + vectors * kPerVector;
}

// Calls visit(double) for every element of [begin, end) of `data`, spread over the block.
template <typename T, typename Visit>
__device__ __forceinline__ void for_each_element(const void* data, int64_t begin, int64_t end,
                                                 bool vector_loads, Visit& visit) {
  const T* base = static_cast<const T*>(data);
  int64_t scalar_from = begin;
  if constexpr (vectorized_type<T>()) {
    if (vector_loads) scalar_from = visit_vectors(base, begin, end, visit);
  }
  for (int64_t i = scalar_from + threadIdx.x; i < end; i += kThreads) visit(to_double(base[i]));
}

// Dispatches on the tensor's dtype (uniform across the block).
template <typename Visit>
__device__ __forceinline__ void visit_chunk(const HistogramTensor& t, int64_t begin, int64_t end,
                                            Visit& visit) {
  const bool vec = t.vector_loads != 0;
  detail::dispatch<detail::HistogramDTypes>(static_cast<DType>(t.dtype), [&](auto tag) {
    for_each_element<typename decltype(tag)::type>(t.data, begin, end, vec, visit);
  });
}

// The contiguous range [first, last) of chunks this block works through: the host splits the
// chunk table by elements (balanced_block_starts), not by chunk count, so blocks that draw many
// short tail chunks do not finish early while others still read full ones.
__device__ __forceinline__ void block_chunk_range(const int64_t* __restrict__ block_starts, int64_t* first,
                                                  int64_t* last) {
  *first = block_starts[blockIdx.x];
  *last = block_starts[blockIdx.x + 1];
}

// ---- pass 1: counts, sums, min, max --------------------------------------------------------

using hm::StatsPartial;

struct MergeStats {
  __device__ StatsPartial operator()(const StatsPartial& a, const StatsPartial& b) const {
    StatsPartial r = a;
    r.absorb(b);
    return r;
  }
};

using StatsReduce = cub::BlockReduce<StatsPartial, kThreads>;

__device__ __forceinline__ void merge_stats(StatsPartial& mine, typename StatsReduce::TempStorage& temp,
                            TensorAccumulators* acc) {
  const StatsPartial total = StatsReduce(temp).Reduce(mine, MergeStats());
  if (threadIdx.x == 0) {
    if (total.count) {
      atomicAdd(&acc->count, total.count);
      atomicAdd(&acc->sum, total.sum);
      atomicAdd(&acc->sum_squares, total.sum_squares);
      atomicMax(&acc->min_key, ~hm::order_key(total.min));
      atomicMax(&acc->max_key, hm::order_key(total.max));
    }
    if (total.nan_count) atomicAdd(&acc->nan_count, total.nan_count);
    if (total.pos_inf_count) atomicAdd(&acc->pos_inf_count, total.pos_inf_count);
    if (total.neg_inf_count) atomicAdd(&acc->neg_inf_count, total.neg_inf_count);
  }
  __syncthreads();  // temp storage is reused by the next merge
  mine.reset();
}

__global__ void __launch_bounds__(kThreads)
    histogram_stats_kernel(const HistogramTensor* __restrict__ tensors,
                           const HistogramChunk* __restrict__ chunks,
                           const int64_t* __restrict__ block_starts, TensorAccumulators* __restrict__ acc) {
  __shared__ typename StatsReduce::TempStorage temp;
  int64_t first, last;
  block_chunk_range(block_starts, &first, &last);
  if (first >= last) return;
  StatsPartial mine;
  mine.reset();
  int current = chunks[first].tensor;
  for (int64_t c = first; c < last; ++c) {
    const HistogramChunk chunk = chunks[c];
    if (chunk.tensor != current) {
      merge_stats(mine, temp, acc + current);
      current = chunk.tensor;
    }
    const HistogramTensor t = tensors[chunk.tensor];
    visit_chunk(t, chunk.begin, chunk.end, mine);
  }
  merge_stats(mine, temp, acc + current);
}

// ---- pass 2: bins (and the centred sum of squares) -----------------------------------------

// kWarps × bins per-warp histograms. Indexed through the array (not a generic pointer kept in a
// struct) so the compiler emits shared-memory atomics on a known base, not a per-element
// generic-to-shared conversion.
extern __shared__ unsigned int shared_bins[];

struct BinPartial {
  hm::BinRule rule;
  double mean = 0, centered_squares = 0;
  int warp_base = 0;  // this warp's histogram: shared_bins[warp_base, warp_base + bins)

  __device__ __forceinline__ void operator()(double v) {
    if (!hm::is_finite(v)) return;
    atomicAdd(&shared_bins[warp_base + hm::bin_of(rule, v)], 1u);
    const double d = v - mean;
    centered_squares += d * d;
  }
};

using SumReduce = cub::BlockReduce<double, kThreads>;

// Adds the block's shared histograms of tensor `t` into its global counts and clears them.
__device__ __forceinline__ void merge_bins(int bins, BinPartial& mine,
                           typename SumReduce::TempStorage& temp, TensorAccumulators* acc,
                           unsigned long long* counts) {
  __syncthreads();
  for (int b = threadIdx.x; b < bins; b += kThreads) {
    unsigned long long total = 0;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      total += shared_bins[w * bins + b];
      shared_bins[w * bins + b] = 0;
    }
    if (total) atomicAdd(counts + b, total);
  }
  const double centered = SumReduce(temp).Sum(mine.centered_squares);
  if (threadIdx.x == 0) atomicAdd(&acc->centered_squares, centered);
  mine.centered_squares = 0;
  __syncthreads();
}

// Three blocks per SM: the loop fits in 80 registers without spilling (ptxas -v).
__global__ void __launch_bounds__(kThreads, 3)
    histogram_bins_kernel(const HistogramTensor* __restrict__ tensors,
                          const HistogramChunk* __restrict__ chunks,
                          const int64_t* __restrict__ block_starts, TensorAccumulators* __restrict__ acc,
                          unsigned long long* __restrict__ counts, int bins) {
  __shared__ typename SumReduce::TempStorage temp;
  int64_t first, last;
  block_chunk_range(block_starts, &first, &last);
  if (first >= last) return;
  for (int i = threadIdx.x; i < kWarps * bins; i += kThreads) shared_bins[i] = 0;
  __syncthreads();

  BinPartial mine;
  mine.warp_base = (threadIdx.x / 32) * bins;
  int current = -1;
  bool has_finite = false;
  // Per-warp 32-bit bins cannot overflow: the block merges before 2^31 elements accumulate.
  int64_t since_merge = 0;
  for (int64_t c = first; c < last; ++c) {
    const HistogramChunk chunk = chunks[c];
    const int64_t length = chunk.end - chunk.begin;
    if (chunk.tensor != current || since_merge + length > (int64_t(1) << 31)) {
      if (current >= 0) merge_bins(bins, mine, temp, acc + current, counts + int64_t(current) * bins);
      since_merge = 0;
      if (chunk.tensor != current) {
        current = chunk.tensor;
        const TensorAccumulators& a = acc[current];
        has_finite = a.count > 0;
        if (has_finite) {
          const double lo = hm::from_order_key(~a.min_key), hi = hm::from_order_key(a.max_key);
          mine.rule = hm::make_bin_rule(lo, hi, bins);
          mine.mean = a.sum / double(a.count);
        }
      }
    }
    if (!has_finite) continue;
    since_merge += length;
    const HistogramTensor t = tensors[chunk.tensor];
    visit_chunk(t, chunk.begin, chunk.end, mine);
  }
  if (current >= 0) merge_bins(bins, mine, temp, acc + current, counts + int64_t(current) * bins);
}

int blocks_for(const void* kernel, int device, std::size_t shared_bytes, int64_t chunks) {
  int sms = 0, per_sm = 0;
  TS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  TS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, shared_bytes));
  const int64_t resident = int64_t(sms) * std::max(per_sm, 1);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(resident, chunks)));
}

// Who produced the pinned results: written by the enqueue's own memset node, copied to the host
// with the results, so results() can tell a captured-but-never-replayed graph from a replay.
enum ResultTag : uint8_t { kNoResults = 0, kEagerResults = 1, kGraphResults = 2 };

std::size_t round_up(std::size_t n) { return (n + 255) / 256 * 256; }

}  // namespace

// ---- the runner ------------------------------------------------------------------------------

struct CudaHistogramRunner::State {
  int device = 0, bins = 0;
  std::size_t num_tensors = 0;
  int64_t num_chunks = 0;
  int stats_blocks = 1, bins_blocks = 1;
  std::size_t bins_shared_bytes = 0;

  // One device allocation: [accumulators | counts | tag] (the result region), the eager tensor
  // table, the captured tensor table, the chunks, and both kernels' block starts.
  void* device_memory = nullptr;
  TensorAccumulators* device_acc = nullptr;
  unsigned long long* device_counts = nullptr;
  uint8_t* device_tag = nullptr;
  HistogramTensor* device_tensors = nullptr;           // read by eager enqueues
  HistogramTensor* device_captured_tensors = nullptr;  // read by replays of a captured enqueue
  HistogramChunk* device_chunks = nullptr;
  int64_t* device_stats_starts = nullptr;
  int64_t* device_bins_starts = nullptr;
  std::size_t result_bytes = 0;  // accumulators + counts + tag, copied to the host as one

  // Pinned: the results, two staging copies of the eager table, and the captured table.
  void* host_results = nullptr;
  HistogramTensor* staging[2] = {nullptr, nullptr};
  cudaEvent_t staging_uploaded[2] = {nullptr, nullptr};
  bool staging_in_flight[2] = {false, false};
  int next_staging = 0;
  std::vector<HistogramTensor> uploaded;  // the eager table once the enqueued work has run
  // A captured graph owns this table: its memcpy node re-reads captured_staging at every replay,
  // and eager enqueues between replays never write it.
  HistogramTensor* captured_staging = nullptr;
  std::vector<HistogramTensor> captured;  // empty until a capture
  bool last_was_capture = false;

  cudaStream_t last_stream = nullptr;
  bool has_enqueued = false;
  cudaEvent_t done = nullptr;

  void release() noexcept {
    if (done) cudaEventDestroy(done);
    for (auto& e : staging_uploaded)
      if (e) cudaEventDestroy(e);
    for (auto* st : staging)
      if (st) cudaFreeHost(st);
    if (captured_staging) cudaFreeHost(captured_staging);
    if (host_results) cudaFreeHost(host_results);
    if (device_memory) cudaFree(device_memory);
  }

  uint8_t host_tag() const {
    return static_cast<const uint8_t*>(host_results)[result_bytes - 16];
  }
};

CudaHistogramRunner::CudaHistogramRunner(int device, int bins,
                                         const std::vector<HistogramTensor>& tensors,
                                         const std::vector<HistogramChunk>& chunks)
    : state_(std::make_unique<State>()) {
  DeviceGuard guard(device);
  State& s = *state_;
  s.device = device;
  s.bins = bins;
  s.num_tensors = tensors.size();
  s.num_chunks = static_cast<int64_t>(chunks.size());
  s.uploaded = tensors;

  try {
    s.bins_shared_bytes = sizeof(unsigned int) * kWarps * std::size_t(bins);
    s.stats_blocks = blocks_for(reinterpret_cast<const void*>(histogram_stats_kernel), device, 0, s.num_chunks);
    s.bins_blocks = blocks_for(reinterpret_cast<const void*>(histogram_bins_kernel), device,
                               s.bins_shared_bytes, s.num_chunks);
    const std::vector<int64_t> stats_starts = balanced_block_starts(chunks, s.stats_blocks);
    const std::vector<int64_t> bins_starts = balanced_block_starts(chunks, s.bins_blocks);

    const std::size_t acc_bytes = sizeof(TensorAccumulators) * s.num_tensors;
    const std::size_t counts_bytes = sizeof(unsigned long long) * s.num_tensors * std::size_t(bins);
    s.result_bytes = acc_bytes + counts_bytes + 16;  // acc_bytes is a multiple of 16: all aligned
    const std::size_t tensors_bytes = sizeof(HistogramTensor) * s.num_tensors;
    const std::size_t tensors_offset = round_up(s.result_bytes);
    const std::size_t captured_offset = tensors_offset + round_up(tensors_bytes);
    const std::size_t chunks_offset = captured_offset + round_up(tensors_bytes);
    const std::size_t stats_offset = chunks_offset + round_up(sizeof(HistogramChunk) * std::max<std::size_t>(chunks.size(), 1));
    const std::size_t bins_offset = stats_offset + round_up(sizeof(int64_t) * stats_starts.size());
    const std::size_t total = bins_offset + sizeof(int64_t) * bins_starts.size();

    TS_CUDA_CHECK(cudaMalloc(&s.device_memory, total));
    auto* bytes = static_cast<char*>(s.device_memory);
    s.device_acc = reinterpret_cast<TensorAccumulators*>(bytes);
    s.device_counts = reinterpret_cast<unsigned long long*>(bytes + acc_bytes);
    s.device_tag = reinterpret_cast<uint8_t*>(bytes + acc_bytes + counts_bytes);
    s.device_tensors = reinterpret_cast<HistogramTensor*>(bytes + tensors_offset);
    s.device_captured_tensors = reinterpret_cast<HistogramTensor*>(bytes + captured_offset);
    s.device_chunks = reinterpret_cast<HistogramChunk*>(bytes + chunks_offset);
    s.device_stats_starts = reinterpret_cast<int64_t*>(bytes + stats_offset);
    s.device_bins_starts = reinterpret_cast<int64_t*>(bytes + bins_offset);
    TS_CUDA_CHECK(cudaMallocHost(&s.host_results, s.result_bytes));
    std::memset(s.host_results, 0, s.result_bytes);
    for (int i = 0; i < 2; ++i) {
      TS_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&s.staging[i]), std::max<std::size_t>(tensors_bytes, 1)));
      TS_CUDA_CHECK(cudaEventCreateWithFlags(&s.staging_uploaded[i], cudaEventDisableTiming));
    }
    TS_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&s.captured_staging), std::max<std::size_t>(tensors_bytes, 1)));
    TS_CUDA_CHECK(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
    // The tables go up once, synchronously (construction may block; enqueue never allocates).
    TS_CUDA_CHECK(cudaMemcpy(s.device_tensors, tensors.data(), tensors_bytes, cudaMemcpyHostToDevice));
    if (!chunks.empty()) {
      TS_CUDA_CHECK(cudaMemcpy(s.device_chunks, chunks.data(), sizeof(HistogramChunk) * chunks.size(),
                               cudaMemcpyHostToDevice));
    }
    TS_CUDA_CHECK(cudaMemcpy(s.device_stats_starts, stats_starts.data(), sizeof(int64_t) * stats_starts.size(),
                             cudaMemcpyHostToDevice));
    TS_CUDA_CHECK(cudaMemcpy(s.device_bins_starts, bins_starts.data(), sizeof(int64_t) * bins_starts.size(),
                             cudaMemcpyHostToDevice));
  } catch (...) {
    s.release();
    throw;
  }
}

CudaHistogramRunner::~CudaHistogramRunner() {
  if (!state_) return;
  int previous = -1;
  if (cudaGetDevice(&previous) == cudaSuccess && previous != state_->device) cudaSetDevice(state_->device);
  cudaEventSynchronize(state_->done);  // the device may still write into the pinned results
  state_->release();
  if (previous >= 0 && previous != state_->device) cudaSetDevice(previous);
}

void CudaHistogramRunner::enqueue(const std::vector<HistogramTensor>& tensors, Stream stream) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  auto st = static_cast<cudaStream_t>(stream.handle);
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  TS_CUDA_CHECK(cudaStreamIsCapturing(st, &capture));
  const bool capturing = capture != cudaStreamCaptureStatusNone;
  const std::size_t table_bytes = sizeof(HistogramTensor) * tensors.size();

  HistogramTensor* table = s.device_tensors;
  if (capturing) {
    // The graph reads its own table, uploaded by a node of its own at every replay; eager
    // enqueues between replays use the other table and never touch this one.
    if (!s.captured.empty() && tensors != s.captured) {
      throw Error("HistogramPlan::enqueue: this plan is already captured in a CUDA graph with other tensors; "
                  "a plan holds one captured tensor list, so capture other tensors with another plan");
    }
    std::copy(tensors.begin(), tensors.end(), s.captured_staging);
    s.captured = tensors;
    TS_CUDA_CHECK(cudaMemcpyAsync(s.device_captured_tensors, s.captured_staging, table_bytes,
                                  cudaMemcpyHostToDevice, st));
    table = s.device_captured_tensors;
  } else {
    // A different stream than the last enqueue: the memset below must not overtake the previous
    // enqueue's kernels, which still read the table and write the accumulators.
    if (s.has_enqueued && st != s.last_stream) TS_CUDA_CHECK(cudaStreamWaitEvent(st, s.done, 0));
    if (tensors != s.uploaded) {
      // New data pointers (or dtypes): refresh the eager table from a pinned staging copy that
      // stays untouched until its upload has run (two slots, so a refresh rarely waits).
      const int slot = s.next_staging;
      s.next_staging ^= 1;
      if (s.staging_in_flight[slot]) {
        TS_CUDA_CHECK(cudaEventSynchronize(s.staging_uploaded[slot]));
        s.staging_in_flight[slot] = false;
      }
      std::copy(tensors.begin(), tensors.end(), s.staging[slot]);
      TS_CUDA_CHECK(cudaMemcpyAsync(s.device_tensors, s.staging[slot], table_bytes, cudaMemcpyHostToDevice, st));
      TS_CUDA_CHECK(cudaEventRecord(s.staging_uploaded[slot], st));
      s.staging_in_flight[slot] = true;
      s.uploaded = tensors;
    }
    s.last_stream = st;
    s.has_enqueued = true;
  }
  s.last_was_capture = capturing;

  TS_CUDA_CHECK(cudaMemsetAsync(s.device_acc, 0, s.result_bytes - 16, st));
  TS_CUDA_CHECK(cudaMemsetAsync(s.device_tag, capturing ? kGraphResults : kEagerResults, 1, st));
  if (s.num_chunks > 0) {
    histogram_stats_kernel<<<s.stats_blocks, kThreads, 0, st>>>(table, s.device_chunks, s.device_stats_starts,
                                                                s.device_acc);
    TS_CUDA_CHECK_LAUNCH();
    histogram_bins_kernel<<<s.bins_blocks, kThreads, s.bins_shared_bytes, st>>>(
        table, s.device_chunks, s.device_bins_starts, s.device_acc, s.device_counts, s.bins);
    TS_CUDA_CHECK_LAUNCH();
  }
  TS_CUDA_CHECK(cudaMemcpyAsync(s.host_results, s.device_acc, s.result_bytes, cudaMemcpyDeviceToHost, st));
  // Inside a capture the record becomes a graph node that records the event at each replay.
  TS_CUDA_CHECK(cudaEventRecordWithFlags(s.done, st, capturing ? cudaEventRecordExternal : cudaEventRecordDefault));
}

bool CudaHistogramRunner::ready() const {
  const cudaError_t err = cudaEventQuery(state_->done);
  if (err == cudaErrorNotReady) return false;
  TS_CUDA_CHECK(err);
  return true;
}

void CudaHistogramRunner::wait() const { TS_CUDA_CHECK(cudaEventSynchronize(state_->done)); }

void CudaHistogramRunner::check_results() const {
  const State& s = *state_;
  if (s.last_was_capture && s.host_tag() != kGraphResults) {
    throw Error("HistogramPlan::results: the last enqueue was captured in a CUDA graph that has not been "
                "replayed yet (results exist after the first replay completes)");
  }
}

const histogram_math::TensorAccumulators* CudaHistogramRunner::accumulators() const {
  return static_cast<const TensorAccumulators*>(state_->host_results);
}

const unsigned long long* CudaHistogramRunner::counts() const {
  return reinterpret_cast<const unsigned long long*>(static_cast<const char*>(state_->host_results) +
                                                     sizeof(TensorAccumulators) * state_->num_tensors);
}

}  // namespace trainscope::kernels
