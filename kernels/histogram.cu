#include "histogram.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>
#include <cub/block/block_reduce.cuh>
#include <cuda/atomic>
#include <type_traits>

#include "cuda_check.cuh"
#include "dtype_dispatch.h"
#include "histogram_l2_schedule.h"
#include "histogram_schedule.h"
#include "resident_grid.cuh"
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

// Float-valued elements (float32, float16, bfloat16) as a float, exactly.
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(Float16Bits x) { return __half2float(__ushort_as_half(x.bits)); }
__device__ __forceinline__ float to_float(BFloat16Bits x) { return __uint_as_float(uint32_t(x.bits) << 16); }

template <typename T>
constexpr bool float_valued() {
  return std::is_same_v<T, float> || std::is_same_v<T, Float16Bits> || std::is_same_v<T, BFloat16Bits>;
}

// A visitor with a visit_float(float) member takes float-valued elements as floats (the binning
// pass's float shortcut); every other element, and every element of other visitors, arrives as
// a double.
template <typename V, typename = void>
struct takes_float : std::false_type {};
template <typename V>
struct takes_float<V, std::void_t<decltype(&V::visit_float)>> : std::true_type {};

template <typename T, typename Visit>
__device__ __forceinline__ void feed(Visit& visit, T x) {
  if constexpr (takes_float<Visit>::value && float_valued<T>()) {
    visit.visit_float(to_float(x));
  } else {
    visit(to_double(x));
  }
}

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
      for (int k = 0; k < kPerVector; ++k) feed(visit, values[k]);
    }
  }
  for (; j < vectors; j += kThreads) {
    const uint4 raw = __ldg(vec + j);
    T values[kPerVector];
    memcpy(values, &raw, 16);
#pragma unroll
    for (int k = 0; k < kPerVector; ++k) feed(visit, values[k]);
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
  for (int64_t i = scalar_from + threadIdx.x; i < end; i += kThreads) feed(visit, base[i]);
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

// kWarps × bins per-warp histograms.
extern __shared__ unsigned int shared_bins[];

// One increment of a shared-memory bin at a 32-bit shared address: the warp's base address is
// computed once per tensor (BinPartial::warp_address), so the loop spends one address add and
// one shared reduction per element, not a generic-to-shared conversion of a recomputed base.
__device__ __forceinline__ void shared_increment(uint32_t address) {
  asm volatile("red.shared.add.u32 [%0], 1;" ::"r"(address) : "memory");
}

struct BinPartial {
  hm::BinRule rule;
  hm::FastBinRule fast;
  double mean = 0, centered_squares = 0;
  uint32_t warp_address = 0;  // shared address of this warp's histogram (bins counters)

  __device__ __forceinline__ void set_warp(int bins) {
    warp_address = static_cast<uint32_t>(__cvta_generic_to_shared(shared_bins)) +
                   uint32_t((threadIdx.x / 32) * bins) * 4u;
  }
  __device__ __forceinline__ void set_tensor(const hm::BinRule& r, double m) {
    rule = r;
    fast = hm::make_fast_bin_rule(r);
    mean = m;
  }
  __device__ __forceinline__ void operator()(double v) {
    if (!hm::is_finite(v)) return;
    shared_increment(warp_address + uint32_t(hm::bin_of(rule, v)) * 4u);
    const double d = v - mean;
    centered_squares += d * d;
  }
  // Float-valued data: the bin from float arithmetic where hm::fast_bin_of proves it equal to
  // bin_of, the double rule only near a bin edge (about one element in 2000). A NaN or an Inf
  // fails the shortcut's range test too, so the common path carries no separate finiteness
  // test, and a disabled shortcut (FastBinRule's bins = 0) falls through for every element.
  __device__ __forceinline__ void visit_float(float v) {
    int bin = hm::fast_bin_of(fast, v);
    if (bin < 0) {
      if (!(fabsf(v) <= 3.402823466e38f)) return;  // NaN, ±Inf: not binned
      bin = hm::bin_of(rule, double(v));
    }
    shared_increment(warp_address + uint32_t(bin) * 4u);
    const double d = double(v) - mean;
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
  mine.set_warp(bins);
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
          mine.set_tensor(hm::make_bin_rule(lo, hi, bins), a.sum / double(a.count));
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

// ---- the L2-resident schedule: one persistent kernel for both passes -------------------------
//
// The grid claims tickets (kernels/histogram_l2_schedule.h) in increasing order from a global
// counter; a pass-2 ticket of a tensor follows its pass-1 tickets by about one L2 window, so its
// data is read the second time from the L2.
//
// Synchronisation, per tensor t: pass1_done[t] counts the chunks of t whose statistics have been
// added to acc[t]; pass 2 of t may start once it equals t's chunk count.
//  - Release: thread 0 of a block adds a pass-1 ticket's partials to acc (atomics), then, before
//    it writes anything else to global memory, executes a device-scope release fence and adds the
//    ticket's chunk counts to pass1_done (relaxed atomics after the fence). The fence is deferred
//    ("pending") until the block's next merge, wait or exit (whichever comes first, at most the
//    end of its next ticket), by which time the accumulator atomics have long completed, so the
//    fence costs no stall in the steady state.
//  - Acquire: thread 0 of a pass-2 block spins on an acquire load of pass1_done[t]; every
//    operation on that counter is a read-modify-write, so the value it finally reads lies in the
//    release sequence of every publisher's add and synchronises with each publisher's fence: all
//    atomics on acc[t] happen before its reads, which also bypass L1 (__ldcg). The rest of the
//    block gets the bin rule from shared memory after a __syncthreads. Only count, sum, min_key
//    and max_key are read; centered_squares, which other pass-2 blocks are adding to, is not.
//
// Forward progress (no deadlock, whether or not the grid is fully resident): claim. every claimed
// pass-1 ticket is eventually published. Suppose not, and let T be the smallest claimed pass-1
// ticket never published, held by block H. A block processes its tickets in claim order (it
// holds at most its current ticket and the next one, claimed ahead to hide the counter's
// latency) and only ever waits in one place, at a pass-2 ticket P of a tensor t, for the pass-1
// tickets of t. H claimed T, so H is running; if it never waited forever it would finish T and
// publish it (at its next merge, wait or exit). So H waits forever at some P. If P < T: the
// tickets P waits for all precede P (the schedule's hard rule, unit-tested), are smaller than T,
// hence published, and the wait ends. If P > T: H processed T before P and publishes pending work
// before any wait, so T was published. Both contradict the assumption. Pass-2 tickets only wait,
// so every claimed ticket completes and the kernel ends. The argument needs no residency of
// blocks that have claimed nothing (they hold no work anyone waits for); the grid is sized to
// the resident blocks (resident_grid) only so that no block starts after the work is gone.
//
// Counters are zeroed by the enqueue's memset node (stream-ordered, part of a captured graph).
union L2Temp {
  typename StatsReduce::TempStorage stats;
  typename SumReduce::TempStorage sum;
};

struct L2Shared {
  L2Temp temp;
  hm::BinRule rule;
  double mean;
  unsigned int ticket[2];  // the next ticket, double-buffered by iteration parity
  int has_finite;
};

// Words before the per-tensor counters: [0] is the ticket counter; the rest pads it to its own
// 128-byte line so that claims and publications do not contend for one line.
constexpr int kL2SyncHeaderWords = 32;

__device__ __forceinline__ unsigned int chunks_of(const HistogramTensor& t) {
  return static_cast<unsigned int>((t.numel + hm::kHistogramChunkElements - 1) / hm::kHistogramChunkElements);
}

// Thread 0: makes the pass-1 ticket `pending` visible to pass-2 waiters (see above).
__device__ __forceinline__ void publish_pass1(long long pending, const HistogramTicket* __restrict__ tickets,
                                              const HistogramChunk* __restrict__ chunks,
                                              unsigned int* pass1_done) {
  if (pending < 0) return;
  cuda::atomic_thread_fence(cuda::memory_order_release, cuda::thread_scope_device);
  const HistogramTicket tk = tickets[pending];
  int tensor = chunks[tk.first_chunk].tensor;
  unsigned int run = 0;
  for (int64_t c = tk.first_chunk; c < tk.first_chunk + tk.chunks; ++c) {
    const int t = chunks[c].tensor;
    if (t != tensor) {
      cuda::atomic_ref<unsigned int, cuda::thread_scope_device>(pass1_done[tensor]).fetch_add(run, cuda::memory_order_relaxed);
      tensor = t;
      run = 0;
    }
    ++run;
  }
  cuda::atomic_ref<unsigned int, cuda::thread_scope_device>(pass1_done[tensor]).fetch_add(run, cuda::memory_order_relaxed);
}

// Thread 0: waits until tensor t's statistics are complete, then derives its bin rule.
__device__ __forceinline__ void await_statistics(int t, const HistogramTensor* __restrict__ tensors,
                                                 unsigned int* pass1_done, const TensorAccumulators* acc,
                                                 int bins, L2Shared& sh) {
  const unsigned int need = chunks_of(tensors[t]);
  cuda::atomic_ref<unsigned int, cuda::thread_scope_device> done(pass1_done[t]);
  while (done.load(cuda::memory_order_acquire) < need) __nanosleep(100);
  const TensorAccumulators* a = acc + t;
  const unsigned long long count = __ldcg(&a->count);
  sh.has_finite = count > 0;
  if (count > 0) {
    const double lo = hm::from_order_key(~__ldcg(&a->min_key)), hi = hm::from_order_key(__ldcg(&a->max_key));
    sh.rule = hm::make_bin_rule(lo, hi, bins);
    sh.mean = __ldcg(&a->sum) / double(count);
  }
}

// Pass-1 merge of the L2 kernel: publishes the block's previous pass-1 ticket first (before this
// merge's atomics, so that the fence waits for nothing recent), then merges as merge_stats.
__device__ __forceinline__ void merge_stats_l2(StatsPartial& mine, L2Shared& sh, TensorAccumulators* acc,
                                               long long& pending, const HistogramTicket* __restrict__ tickets,
                                               const HistogramChunk* __restrict__ chunks, unsigned int* pass1_done) {
  if (threadIdx.x == 0) {
    publish_pass1(pending, tickets, chunks, pass1_done);
    pending = -1;
  }
  merge_stats(mine, sh.temp.stats, acc);
}

// Three blocks per SM, as the binning kernel: at 80 registers ptxas spills a few dozen bytes of
// per-ticket state (ticket, pending, counters), none of it inside the element loops.
__global__ void __launch_bounds__(kThreads, 3)
    histogram_l2_kernel(const HistogramTensor* __restrict__ tensors, const HistogramChunk* __restrict__ chunks,
                        const HistogramTicket* __restrict__ tickets, unsigned int num_tickets, unsigned int* sync,
                        TensorAccumulators* acc, unsigned long long* __restrict__ counts, int bins) {
  __shared__ L2Shared sh;
  unsigned int* next_ticket = sync;
  unsigned int* pass1_done = sync + kL2SyncHeaderWords;
  for (int i = threadIdx.x; i < kWarps * bins; i += kThreads) shared_bins[i] = 0;
  if (threadIdx.x == 0) sh.ticket[0] = atomicAdd(next_ticket, 1u);
  __syncthreads();
  unsigned int ticket = sh.ticket[0];
  int parity = 1;

  BinPartial mine_bins;
  mine_bins.set_warp(bins);
  int bins_tensor = -1;  // the tensor whose counts the shared histograms hold
  bool bins_finite = false;
  int64_t since_merge = 0;  // per-warp 32-bit bins: merged before 2^31 elements accumulate
  long long pending = -1;   // thread 0: the last pass-1 ticket, not yet published

  while (ticket < num_tickets) {
    // Claim the next ticket now; its number is needed only at the end of this one.
    unsigned int claimed = 0;
    if (threadIdx.x == 0) claimed = atomicAdd(next_ticket, 1u);
    const HistogramTicket tk = tickets[ticket];
    const int64_t last = tk.first_chunk + tk.chunks;
    if (tk.pass == 1) {
      StatsPartial mine;
      mine.reset();
      int current = chunks[tk.first_chunk].tensor;
      for (int64_t c = tk.first_chunk; c < last; ++c) {
        const HistogramChunk chunk = chunks[c];
        if (chunk.tensor != current) {
          merge_stats_l2(mine, sh, acc + current, pending, tickets, chunks, pass1_done);
          current = chunk.tensor;
        }
        visit_chunk(tensors[chunk.tensor], chunk.begin, chunk.end, mine);
      }
      merge_stats_l2(mine, sh, acc + current, pending, tickets, chunks, pass1_done);
      if (threadIdx.x == 0) pending = ticket;
    } else {
      for (int64_t c = tk.first_chunk; c < last; ++c) {
        const HistogramChunk chunk = chunks[c];
        const int64_t length = chunk.end - chunk.begin;
        if (chunk.tensor != bins_tensor || since_merge + length > (int64_t(1) << 31)) {
          if (bins_tensor >= 0) {
            merge_bins(bins, mine_bins, sh.temp.sum, acc + bins_tensor, counts + int64_t(bins_tensor) * bins);
          }
          since_merge = 0;
          if (chunk.tensor != bins_tensor) {
            bins_tensor = chunk.tensor;
            if (threadIdx.x == 0) {
              publish_pass1(pending, tickets, chunks, pass1_done);  // never wait holding work
              pending = -1;
              await_statistics(bins_tensor, tensors, pass1_done, acc, bins, sh);
            }
            __syncthreads();
            bins_finite = sh.has_finite != 0;
            if (bins_finite) mine_bins.set_tensor(sh.rule, sh.mean);
          }
        }
        if (!bins_finite) continue;
        since_merge += length;
        visit_chunk(tensors[chunk.tensor], chunk.begin, chunk.end, mine_bins);
      }
      // A pass-1 ticket left pending by the previous ticket goes out now (this ticket issued no
      // global writes from thread 0 unless it merged, so the fence is cheap).
      if (threadIdx.x == 0) {
        publish_pass1(pending, tickets, chunks, pass1_done);
        pending = -1;
      }
    }
    if (threadIdx.x == 0) sh.ticket[parity] = claimed;
    __syncthreads();
    ticket = sh.ticket[parity];
    parity ^= 1;
  }
  if (bins_tensor >= 0) merge_bins(bins, mine_bins, sh.temp.sum, acc + bins_tensor, counts + int64_t(bins_tensor) * bins);
  if (threadIdx.x == 0) publish_pass1(pending, tickets, chunks, pass1_done);
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
  // The L2-resident schedule: one kernel over the tickets instead of the two passes.
  bool l2_resident = false;
  unsigned int num_tickets = 0;
  int l2_blocks = 1;

  // One device allocation: [L2 sync counters | accumulators | counts | tag] (the counters and the
  // result region, zeroed by one memset), the eager tensor table, the captured tensor table, the
  // chunks, both kernels' block starts and the L2 schedule's tickets.
  void* device_memory = nullptr;
  unsigned int* device_sync = nullptr;
  std::size_t sync_bytes = 0;
  HistogramTicket* device_tickets = nullptr;
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
                                         const std::vector<HistogramChunk>& chunks,
                                         const HistogramRunnerOptions& options)
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
    std::vector<HistogramTicket> tickets;
    s.l2_resident = options.l2_resident;
    if (s.l2_resident) {
      int64_t window = options.l2_window_bytes;
      if (window <= 0) {
        int l2_bytes = 0;
        TS_CUDA_CHECK(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device));
        window = default_l2_window_bytes(l2_bytes);
      }
      // Windows are sized with the dtypes given at construction (later enqueues may change
      // dtypes: still correct, only the L2 reuse changes).
      std::vector<int64_t> tensor_bytes, tensor_numels;
      for (const auto& t : tensors) {
        tensor_numels.push_back(t.numel);
        tensor_bytes.push_back(t.numel * int64_t(element_size(static_cast<DType>(t.dtype))));
      }
      tickets = histogram_l2_tickets(chunks, tensor_bytes, tensor_numels, window);
      if (tickets.size() >= std::size_t(1) << 31) throw Error("HistogramPlan: too many chunks for the L2 schedule");
      s.num_tickets = static_cast<unsigned int>(tickets.size());
      s.l2_blocks = resident_grid(histogram_l2_kernel, kThreads, s.bins_shared_bytes, int64_t(s.num_tickets));
    }
    s.sync_bytes = round_up(sizeof(unsigned int) * (kL2SyncHeaderWords + s.num_tensors));

    const std::size_t acc_bytes = sizeof(TensorAccumulators) * s.num_tensors;
    const std::size_t counts_bytes = sizeof(unsigned long long) * s.num_tensors * std::size_t(bins);
    s.result_bytes = acc_bytes + counts_bytes + 16;  // acc_bytes is a multiple of 16: all aligned
    const std::size_t tensors_bytes = sizeof(HistogramTensor) * s.num_tensors;
    const std::size_t tensors_offset = round_up(s.result_bytes);
    const std::size_t captured_offset = tensors_offset + round_up(tensors_bytes);
    const std::size_t chunks_offset = captured_offset + round_up(tensors_bytes);
    const std::size_t stats_offset = chunks_offset + round_up(sizeof(HistogramChunk) * std::max<std::size_t>(chunks.size(), 1));
    const std::size_t bins_offset = stats_offset + round_up(sizeof(int64_t) * stats_starts.size());
    const std::size_t tickets_offset = round_up(bins_offset + sizeof(int64_t) * bins_starts.size());
    const std::size_t total = s.sync_bytes + tickets_offset + sizeof(HistogramTicket) * std::max<std::size_t>(tickets.size(), 1);

    TS_CUDA_CHECK(cudaMalloc(&s.device_memory, total));
    s.device_sync = static_cast<unsigned int*>(s.device_memory);
    auto* bytes = static_cast<char*>(s.device_memory) + s.sync_bytes;
    s.device_acc = reinterpret_cast<TensorAccumulators*>(bytes);
    s.device_counts = reinterpret_cast<unsigned long long*>(bytes + acc_bytes);
    s.device_tag = reinterpret_cast<uint8_t*>(bytes + acc_bytes + counts_bytes);
    s.device_tensors = reinterpret_cast<HistogramTensor*>(bytes + tensors_offset);
    s.device_captured_tensors = reinterpret_cast<HistogramTensor*>(bytes + captured_offset);
    s.device_chunks = reinterpret_cast<HistogramChunk*>(bytes + chunks_offset);
    s.device_stats_starts = reinterpret_cast<int64_t*>(bytes + stats_offset);
    s.device_bins_starts = reinterpret_cast<int64_t*>(bytes + bins_offset);
    s.device_tickets = reinterpret_cast<HistogramTicket*>(bytes + tickets_offset);
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
    if (!tickets.empty()) {
      TS_CUDA_CHECK(cudaMemcpy(s.device_tickets, tickets.data(), sizeof(HistogramTicket) * tickets.size(),
                               cudaMemcpyHostToDevice));
    }
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

  // The L2 schedule's counters sit just before the accumulators: one memset zeroes both, so
  // every enqueue (and every replay of a captured one) starts from zeroed counters.
  TS_CUDA_CHECK(cudaMemsetAsync(s.device_sync, 0, s.sync_bytes + s.result_bytes - 16, st));
  TS_CUDA_CHECK(cudaMemsetAsync(s.device_tag, capturing ? kGraphResults : kEagerResults, 1, st));
  if (s.num_chunks > 0 && s.l2_resident) {
    histogram_l2_kernel<<<s.l2_blocks, kThreads, s.bins_shared_bytes, st>>>(
        table, s.device_chunks, s.device_tickets, s.num_tickets, s.device_sync, s.device_acc, s.device_counts,
        s.bins);
    TS_CUDA_CHECK_LAUNCH();
  } else if (s.num_chunks > 0) {
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
