#include "ops/histogram_cpu.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/parallel.h"
#include "common/strided.h"
#include "dtype_dispatch.h"  // kernels/
#include "ops/histogram_cpu_avx512.h"
#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

namespace hm = histogram_math;

// The per-element visitors must inline into the loops (they are the whole inner loop body).
#define TS_ALWAYS_INLINE inline __attribute__((always_inline))
using hm::HistogramChunk;
using hm::TensorAccumulators;

TS_ALWAYS_INLINE double to_double(float x) { return x; }
TS_ALWAYS_INLINE double to_double(double x) { return x; }
TS_ALWAYS_INLINE double to_double(kernels::Float16Bits x) { return hm::half_bits_to_double(x.bits); }
TS_ALWAYS_INLINE double to_double(kernels::BFloat16Bits x) { return hm::bfloat16_bits_to_double(x.bits); }
TS_ALWAYS_INLINE double to_double(uint8_t x) { return x; }
TS_ALWAYS_INLINE double to_double(int8_t x) { return x; }
TS_ALWAYS_INLINE double to_double(int16_t x) { return x; }
TS_ALWAYS_INLINE double to_double(int32_t x) { return x; }
TS_ALWAYS_INLINE double to_double(int64_t x) { return static_cast<double>(x); }
TS_ALWAYS_INLINE double to_double(bool x) { return x ? 1.0 : 0.0; }

// Calls visit(double) for elements [begin, end) (row-major order) of `t`.
template <typename T, typename Visit>
void for_each_element(const TensorView& t, const StridedIndexer& index, int64_t begin, int64_t end,
                      Visit& visit) {
  const T* data = static_cast<const T*>(t.data);
  if (!t.is_contiguous()) {
    Visit local = visit;  // accumulators in registers, not behind a reference the loop reloads
    for (int64_t i = begin; i < end; ++i) local(to_double(data[index.offset(i)]));
    visit = local;
    return;
  }
  // Four independent lanes: the sums' dependency chains (and, for bins, the increments of one
  // sub-histogram) overlap instead of waiting on each other.
  Visit l0 = visit, l1 = visit.lane(1), l2 = visit.lane(2), l3 = visit.lane(3);
  int64_t i = begin;
  for (; i + 4 <= end; i += 4) {
    l0(to_double(data[i]));
    l1(to_double(data[i + 1]));
    l2(to_double(data[i + 2]));
    l3(to_double(data[i + 3]));
  }
  for (; i < end; ++i) l0(to_double(data[i]));
  l0.absorb(l1);
  l0.absorb(l2);
  l0.absorb(l3);
  visit = l0;
}

template <typename Visit>
void visit_chunk(const TensorView& t, const StridedIndexer& index, int64_t begin, int64_t end,
                 Visit& visit) {
  dispatch<HistogramDTypes>(t.dtype, [&](auto tag) {
    for_each_element<typename decltype(tag)::type>(t, index, begin, end, visit);
  });
}

// Pass 1 of one worker for one tensor: the device's per-thread partial, with the CPU's lanes.
struct StatsWorker : hm::StatsPartial {
  StatsWorker() { reset(); }
  StatsWorker lane(int) const { return StatsWorker(); }
  void merge_into(TensorAccumulators& a) const {
    a.nan_count += nan_count;
    a.pos_inf_count += pos_inf_count;
    a.neg_inf_count += neg_inf_count;
    if (!count) return;
    a.count += count;
    a.sum += sum;
    a.sum_squares += sum_squares;
    a.min_key = std::max<unsigned long long>(a.min_key, ~hm::order_key(min));
    a.max_key = std::max<unsigned long long>(a.max_key, hm::order_key(max));
  }
};

// Pass 2 of one worker for one tensor.
struct BinPartial {
  hm::BinRule rule;
  double mean = 0, centered_squares = 0;
  unsigned long long* hist = nullptr;  // this lane's sub-histogram (bins entries)
  int bins = 0;                        // sub-histograms of a worker lie `bins` apart

  TS_ALWAYS_INLINE void operator()(double v) {
    if (!hm::is_finite(v)) return;
    ++hist[hm::bin_of(rule, v)];
    const double d = v - mean;
    centered_squares += d * d;
  }
  BinPartial lane(int k) const {
    BinPartial r = *this;
    r.centered_squares = 0;
    r.hist = hist + k * bins;
    return r;
  }
  void absorb(const BinPartial& o) { centered_squares += o.centered_squares; }
};

// Whether the AVX-512 kernels run: the CPU has them, and TRAINSCOPE_CPU_SIMD is not "0" (a switch
// for comparing against the scalar path and for ruling the kernels out when debugging).
bool use_avx512() {
  if (!avx512::available()) return false;
  const char* env = std::getenv("TRAINSCOPE_CPU_SIMD");
  return !(env && std::string(env) == "0");
}

// The packed layout the AVX-512 kernels read, if this tensor has one.
bool packed_kind(const TensorView& t, avx512::Packed& kind) {
  if (!t.is_contiguous()) return false;
  switch (t.dtype) {
    case DType::Float32: kind = avx512::Packed::Float32; return true;
    case DType::Float16: kind = avx512::Packed::Float16; return true;
    case DType::BFloat16: kind = avx512::Packed::BFloat16; return true;
    default: return false;
  }
}

// Whether Σ(v − mean)² may be taken from the moments, Σv² − mean·Σv, instead of a third sum in
// pass 2 (a fifth of the AVX-512 pass-2 work). When mean² ≤ 1e-4 · Σv²/n the subtraction removes
// at most 1e-4 of Σv², so the result keeps the relative accuracy of the sums themselves: as good as
// the centred sum. Weights and gradients, centred near zero, take this path; a tensor with a large
// offset keeps the centred sum, which has no cancellation.
bool moments_suffice(const TensorAccumulators& a) {
  const double n = double(a.count);
  const double mean = a.sum / n;
  return std::isfinite(a.sum_squares) && mean * mean <= 1e-4 * (a.sum_squares / n);
}

// A unit of work: both passes over the chunks [first, last), about kItemElements elements (tiny
// chunks are grouped).
struct WorkItem {
  int64_t first, last;
};

std::vector<WorkItem> work_items(const std::vector<HistogramChunk>& chunks) {
  constexpr int64_t kItemElements = hm::kHistogramChunkElements;
  std::vector<WorkItem> items;
  int64_t first = 0, elements = 0;
  const int64_t n = static_cast<int64_t>(chunks.size());
  for (int64_t c = 0; c < n; ++c) {
    elements += chunks[std::size_t(c)].end - chunks[std::size_t(c)].begin;
    if (elements >= kItemElements || c + 1 == n) {
      items.push_back({first, c + 1});
      first = c + 1;
      elements = 0;
    }
  }
  return items;
}

// Waits until `flag` is set by another worker: spins briefly (the wait is usually one chunk's
// work), then yields so an oversubscribed machine still makes progress.
void wait_for(const std::atomic<int>& flag) {
  for (int spins = 0; !flag.load(std::memory_order_acquire); ++spins) {
    if (spins > 256) std::this_thread::yield();
  }
}

}  // namespace

void histogram_cpu(const std::vector<TensorView>& tensors, const std::vector<HistogramChunk>& chunks,
                   int bins, TensorAccumulators* acc, unsigned long long* counts) {
  const std::size_t num_tensors = tensors.size();
  std::vector<StridedIndexer> indexers;
  indexers.reserve(num_tensors);
  for (const auto& t : tensors) indexers.emplace_back(t);
  const bool simd = use_avx512();
  std::vector<avx512::Packed> kinds(num_tensors);
  std::vector<char> packed(num_tensors, 0);
  for (std::size_t i = 0; i < num_tensors; ++i) packed[i] = simd && packed_kind(tensors[i], kinds[i]);

  // Per tensor: pass-1 chunks still to merge, and once they are all in, the bin rule and mean
  // (written under merge_mutex by the worker that merged last, published through `ready`).
  std::vector<int64_t> stats_pending(num_tensors, 0);
  for (const HistogramChunk& c : chunks) ++stats_pending[std::size_t(c.tensor)];
  std::vector<hm::BinRule> rules(num_tensors);
  std::vector<double> means(num_tensors, 0.0);
  std::vector<char> centered_known(num_tensors, 0);  // Σ(v − mean)² set from the moments
  std::unique_ptr<std::atomic<int>[]> ready(new std::atomic<int>[num_tensors]);
  for (std::size_t i = 0; i < num_tensors; ++i) ready[i].store(0, std::memory_order_relaxed);
  std::mutex merge_mutex;

  const std::vector<WorkItem> items = work_items(chunks);
  std::atomic<std::size_t> next_item{0};

  auto merge_stats = [&](int tensor, const StatsWorker& partial, int64_t merged_chunks) {
    bool complete;
    {
      std::lock_guard<std::mutex> lock(merge_mutex);
      TensorAccumulators& a = acc[tensor];
      partial.merge_into(a);
      complete = (stats_pending[std::size_t(tensor)] -= merged_chunks) == 0;
      if (complete && a.count) {
        rules[std::size_t(tensor)] =
            hm::make_bin_rule(hm::from_order_key(~a.min_key), hm::from_order_key(a.max_key), bins);
        means[std::size_t(tensor)] = a.sum / double(a.count);
        if (packed[std::size_t(tensor)] && moments_suffice(a)) {
          a.centered_squares = std::max(0.0, a.sum_squares - a.sum * means[std::size_t(tensor)]);
          centered_known[std::size_t(tensor)] = 1;
        }
      }
    }
    if (complete) ready[std::size_t(tensor)].store(1, std::memory_order_release);
  };

  auto run_stats = [&](const WorkItem& item) {
    StatsWorker mine;
    int current = chunks[std::size_t(item.first)].tensor;
    int64_t merged_chunks = 0;
    for (int64_t c = item.first; c < item.last; ++c) {
      const HistogramChunk& chunk = chunks[std::size_t(c)];
      if (chunk.tensor != current) {
        merge_stats(current, mine, merged_chunks);
        mine = StatsWorker();
        merged_chunks = 0;
        current = chunk.tensor;
      }
      const std::size_t t = std::size_t(chunk.tensor);
      if (packed[t]) {
        avx512::accumulate_stats(kinds[t], tensors[t].data, chunk.begin, chunk.end, mine);
      } else {
        visit_chunk(tensors[t], indexers[t], chunk.begin, chunk.end, mine);
      }
      ++merged_chunks;
    }
    merge_stats(current, mine, merged_chunks);
  };

  // Whether pass 2 of the item can start: every tensor it touches has all its statistics.
  auto bins_ready = [&](const WorkItem& item) {
    return ready[std::size_t(chunks[std::size_t(item.first)].tensor)].load(std::memory_order_acquire) &&
           ready[std::size_t(chunks[std::size_t(item.last - 1)].tensor)].load(std::memory_order_acquire);
  };

  auto run_bins = [&](const WorkItem& item, std::vector<unsigned long long>& hist, avx512::Prefetch upcoming) {
    constexpr int kLanes = 4;  // sub-histograms of the scalar visitor
    std::fill(hist.begin(), hist.end(), 0ull);
    double centered = 0;
    int current = -1;
    auto merge = [&] {
      if (current < 0) return;
      std::lock_guard<std::mutex> lock(merge_mutex);
      unsigned long long* dst = counts + std::size_t(current) * std::size_t(bins);
      for (int k = 0; k < kLanes; ++k)
        for (int b = 0; b < bins; ++b) dst[b] += hist[std::size_t(k * bins + b)];
      if (!centered_known[std::size_t(current)]) acc[current].centered_squares += centered;
      std::fill(hist.begin(), hist.end(), 0ull);
      centered = 0;
    };
    for (int64_t c = item.first; c < item.last; ++c) {
      const HistogramChunk& chunk = chunks[std::size_t(c)];
      const std::size_t t = std::size_t(chunk.tensor);
      if (chunk.tensor != current) {
        merge();
        current = chunk.tensor;
        wait_for(ready[t]);
      }
      if (acc[t].count == 0) continue;  // no finite value: statistics only
      const hm::BinRule& rule = rules[t];
      if (packed[t] && !rule.wide && rule.bins <= avx512::kMaxBins) {
        const bool all_finite = acc[t].nan_count + acc[t].pos_inf_count + acc[t].neg_inf_count == 0;
        avx512::accumulate_bins(kinds[t], tensors[t].data, chunk.begin, chunk.end, rule, means[t], all_finite,
                                hist.data(), centered_known[t] ? nullptr : &centered, upcoming);
        upcoming = {};
      } else {
        BinPartial visitor;
        visitor.rule = rule;
        visitor.mean = means[t];
        visitor.hist = hist.data();
        visitor.bins = bins;
        visit_chunk(tensors[t], indexers[t], chunk.begin, chunk.end, visitor);
        centered += visitor.centered_squares;
      }
    }
    merge();
  };

  // The data of an item a worker is about to read in pass 1, for pass 2 to prefetch meanwhile.
  auto data_of = [&](std::size_t i) {
    avx512::Prefetch p;
    if (i >= items.size()) return p;
    const HistogramChunk& chunk = chunks[std::size_t(items[i].first)];
    const TensorView& t = tensors[std::size_t(chunk.tensor)];
    if (!t.is_contiguous()) return p;
    const int64_t element_bytes = static_cast<int64_t>(element_size(t.dtype));
    p.data = static_cast<const char*>(t.data) + chunk.begin * element_bytes;
    p.bytes = (chunk.end - chunk.begin) * element_bytes;
    return p;
  };

  // Each worker claims items in order and runs pass 1 on each; after each claim it runs pass 2
  // on its oldest own item whose tensors are complete. Pass 2 thus rereads data this core read
  // recently (in its cache), and its compute-bound work hides the memory latency of the next
  // claimed item, which it prefetches meanwhile (pass 1 alone is bound by memory, pass 2 alone by
  // arithmetic). Nothing waits before a worker's last claim, so any number of workers (one runs
  // everything in order) finishes; only the final pass-2 items wait for other workers' pass 1
  // of the same tensors.
  const int workers = std::max(1, std::min<int>(cpu_threads(), static_cast<int>(items.size())));
  parallel_for(workers, 1, [&](int64_t, int64_t) {
    std::vector<unsigned long long> hist(std::size_t(4 * bins), 0);
    std::vector<std::size_t> pending;  // this worker's items awaiting pass 2, in order
    std::size_t done = 0;              // pending[0, done) have had pass 2
    std::size_t next = next_item.fetch_add(1, std::memory_order_relaxed);
    while (next < items.size()) {
      const std::size_t current = next;
      run_stats(items[current]);
      pending.push_back(current);
      next = next_item.fetch_add(1, std::memory_order_relaxed);
      avx512::Prefetch upcoming = data_of(next);
      // One pass-2 item per claim at most: a large tensor's backlog (it becomes ready all at once)
      // is then spread over the following claims, so binning keeps overlapping new reads.
      if (done < pending.size() && bins_ready(items[pending[done]])) run_bins(items[pending[done++]], hist, upcoming);
    }
    for (; done < pending.size(); ++done) {
      const WorkItem& item = items[pending[done]];
      wait_for(ready[std::size_t(chunks[std::size_t(item.first)].tensor)]);
      wait_for(ready[std::size_t(chunks[std::size_t(item.last - 1)].tensor)]);
      run_bins(item, hist, {});
    }
  });
}

}  // namespace trainscope::detail
