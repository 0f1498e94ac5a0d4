#include "ops/histogram_cpu.h"

#include <algorithm>
#include <limits>
#include <mutex>

#include "common/parallel.h"
#include "common/strided.h"
#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

namespace hm = histogram_math;

// The per-element visitors must inline into the loops (they are the whole inner loop body).
#define TS_ALWAYS_INLINE inline __attribute__((always_inline))
using hm::HistogramChunk;
using hm::TensorAccumulators;

struct Half { uint16_t bits; };
struct BFloat16 { uint16_t bits; };

TS_ALWAYS_INLINE double to_double(float x) { return x; }
TS_ALWAYS_INLINE double to_double(double x) { return x; }
TS_ALWAYS_INLINE double to_double(Half x) { return hm::half_bits_to_double(x.bits); }
TS_ALWAYS_INLINE double to_double(BFloat16 x) { return hm::bfloat16_bits_to_double(x.bits); }
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
  switch (t.dtype) {
    case DType::Float32: for_each_element<float>(t, index, begin, end, visit); break;
    case DType::Float16: for_each_element<Half>(t, index, begin, end, visit); break;
    case DType::BFloat16: for_each_element<BFloat16>(t, index, begin, end, visit); break;
    case DType::Float64: for_each_element<double>(t, index, begin, end, visit); break;
    case DType::UInt8: for_each_element<uint8_t>(t, index, begin, end, visit); break;
    case DType::Int8: for_each_element<int8_t>(t, index, begin, end, visit); break;
    case DType::Int16: for_each_element<int16_t>(t, index, begin, end, visit); break;
    case DType::Int32: for_each_element<int32_t>(t, index, begin, end, visit); break;
    case DType::Int64: for_each_element<int64_t>(t, index, begin, end, visit); break;
    case DType::Bool: for_each_element<bool>(t, index, begin, end, visit); break;
  }
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

// Runs work(first_chunk, last_chunk) over contiguous ranges of chunks on the pool.
template <typename Work>
void over_chunk_ranges(std::size_t num_chunks, const Work& work) {
  parallel_for(static_cast<int64_t>(num_chunks), 8, [&](int64_t first, int64_t last) { work(first, last); });
}

}  // namespace

void histogram_cpu(const std::vector<TensorView>& tensors, const std::vector<HistogramChunk>& chunks,
                   int bins, TensorAccumulators* acc, unsigned long long* counts) {
  std::vector<StridedIndexer> indexers;
  indexers.reserve(tensors.size());
  for (const auto& t : tensors) indexers.emplace_back(t);
  std::mutex merge_mutex;

  // Pass 1: counts, sums, min and max.
  over_chunk_ranges(chunks.size(), [&](int64_t first, int64_t last) {
    StatsWorker mine;
    int current = chunks[std::size_t(first)].tensor;
    auto merge = [&] {
      std::lock_guard<std::mutex> lock(merge_mutex);
      mine.merge_into(acc[current]);
      mine = StatsWorker();
    };
    for (int64_t c = first; c < last; ++c) {
      const HistogramChunk& chunk = chunks[std::size_t(c)];
      if (chunk.tensor != current) {
        merge();
        current = chunk.tensor;
      }
      visit_chunk(tensors[std::size_t(chunk.tensor)], indexers[std::size_t(chunk.tensor)], chunk.begin,
                  chunk.end, mine);
    }
    merge();
  });

  // Pass 2: bins, with each tensor's rule from pass 1.
  std::vector<hm::BinRule> rules(tensors.size());
  std::vector<double> means(tensors.size(), 0.0);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (acc[i].count == 0) continue;
    rules[i] = hm::make_bin_rule(hm::from_order_key(~acc[i].min_key), hm::from_order_key(acc[i].max_key), bins);
    means[i] = acc[i].sum / double(acc[i].count);
  }
  over_chunk_ranges(chunks.size(), [&](int64_t first, int64_t last) {
    constexpr int kLanes = 4;
    std::vector<unsigned long long> hist(std::size_t(kLanes * bins), 0);
    BinPartial mine;
    mine.hist = hist.data();
    mine.bins = bins;
    int current = -1;
    auto merge = [&] {
      if (current < 0) return;
      std::lock_guard<std::mutex> lock(merge_mutex);
      unsigned long long* dst = counts + std::size_t(current) * std::size_t(bins);
      for (int k = 0; k < kLanes; ++k)
        for (int b = 0; b < bins; ++b) dst[b] += hist[std::size_t(k * bins + b)];
      acc[current].centered_squares += mine.centered_squares;
      std::fill(hist.begin(), hist.end(), 0ull);
      mine.centered_squares = 0;
    };
    for (int64_t c = first; c < last; ++c) {
      const HistogramChunk& chunk = chunks[std::size_t(c)];
      if (chunk.tensor != current) {
        merge();
        current = chunk.tensor;
        mine.rule = rules[std::size_t(current)];
        mine.mean = means[std::size_t(current)];
      }
      if (acc[current].count == 0) continue;
      visit_chunk(tensors[std::size_t(chunk.tensor)], indexers[std::size_t(chunk.tensor)], chunk.begin,
                  chunk.end, mine);
    }
    merge();
  });
}

}  // namespace trainscope::detail
