#include "ops/histogram_parts.h"

#include <algorithm>
#include <mutex>
#include <string>

#include "common/check.h"
#include "common/parallel.h"
#include "common/strided.h"
#include "histogram_math.h"  // kernels/

namespace trainscope::detail {
namespace {

namespace hm = histogram_math;
constexpr const char* kOp = "histogram_parts";

// Element → double exactly as the op converts it (kernels/histogram_math.h).
template <typename T>
double to_double(T x) { return static_cast<double>(x); }
struct Bits16 { uint16_t bits; };
double half(Bits16 x) { return hm::half_bits_to_double(x.bits); }
double bfloat(Bits16 x) { return hm::bfloat16_bits_to_double(x.bits); }

template <typename T, typename Convert, typename Visit>
void each(const TensorView& t, const StridedIndexer& index, int64_t begin, int64_t end, Convert convert,
          Visit& visit) {
  const T* data = static_cast<const T*>(t.data);
  for (int64_t i = begin; i < end; ++i) visit(convert(data[index.offset(i)]));
}

template <typename Visit>
void visit_range(const TensorView& t, const StridedIndexer& index, int64_t begin, int64_t end, Visit& visit) {
  switch (t.dtype) {
    case DType::Float32: each<float>(t, index, begin, end, to_double<float>, visit); break;
    case DType::Float16: each<Bits16>(t, index, begin, end, half, visit); break;
    case DType::BFloat16: each<Bits16>(t, index, begin, end, bfloat, visit); break;
    case DType::Float64: each<double>(t, index, begin, end, to_double<double>, visit); break;
    case DType::UInt8: each<uint8_t>(t, index, begin, end, to_double<uint8_t>, visit); break;
    case DType::Int8: each<int8_t>(t, index, begin, end, to_double<int8_t>, visit); break;
    case DType::Int16: each<int16_t>(t, index, begin, end, to_double<int16_t>, visit); break;
    case DType::Int32: each<int32_t>(t, index, begin, end, to_double<int32_t>, visit); break;
    case DType::Int64: each<int64_t>(t, index, begin, end, to_double<int64_t>, visit); break;
    case DType::Bool: each<bool>(t, index, begin, end, [](bool b) { return b ? 1.0 : 0.0; }, visit); break;
    default: fail(kOp, "tensors", "unsupported dtype (enum value ", static_cast<int>(t.dtype), ")");
  }
}

void check_views(const std::vector<TensorView>& tensors) {
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::string arg = "tensors[" + std::to_string(i) + "]";
    check_not_null(tensors[i], kOp, arg.c_str());
    if (tensors[i].device.is_cuda()) fail(kOp, arg.c_str(), "expected a CPU view, got ", tensors[i].device.str());
  }
}

// The op's chunk table: runs of kHistogramChunkElements elements, ordered by tensor.
std::vector<hm::HistogramChunk> chunk_table(const std::vector<TensorView>& tensors) {
  std::vector<hm::HistogramChunk> chunks;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const int64_t n = tensors[i].numel();
    for (int64_t b = 0; b < n; b += hm::kHistogramChunkElements)
      chunks.push_back({b, std::min(n, b + hm::kHistogramChunkElements), static_cast<int32_t>(i), 0});
  }
  return chunks;
}

HistogramPass1 from_partial(const hm::StatsPartial& p) {
  HistogramPass1 r;
  r.count = p.count;
  r.nan_count = p.nan_count;
  r.pos_inf_count = p.pos_inf_count;
  r.neg_inf_count = p.neg_inf_count;
  r.sum = p.sum;
  r.sum_squares = p.sum_squares;
  r.min = p.min;
  r.max = p.max;
  return r;
}

hm::StatsPartial to_partial(const HistogramPass1& s) {
  hm::StatsPartial p;
  p.count = s.count;
  p.nan_count = s.nan_count;
  p.pos_inf_count = s.pos_inf_count;
  p.neg_inf_count = s.neg_inf_count;
  p.sum = s.sum;
  p.sum_squares = s.sum_squares;
  p.min = s.min;
  p.max = s.max;
  return p;
}

}  // namespace

std::vector<HistogramPass1> histogram_pass1(const std::vector<TensorView>& tensors) {
  check_views(tensors);
  const std::vector<hm::HistogramChunk> chunks = chunk_table(tensors);
  std::vector<hm::StatsPartial> partial(chunks.size());
  std::vector<StridedIndexer> index;
  for (const auto& t : tensors) index.emplace_back(t);
  parallel_for(static_cast<int64_t>(chunks.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const hm::HistogramChunk& k = chunks[std::size_t(c)];
      hm::StatsPartial& p = partial[std::size_t(c)];
      p.reset();
      visit_range(tensors[std::size_t(k.tensor)], index[std::size_t(k.tensor)], k.begin, k.end, p);
    }
  });
  std::vector<hm::StatsPartial> merged(tensors.size());
  for (auto& m : merged) m.reset();
  for (std::size_t c = 0; c < chunks.size(); ++c) merged[std::size_t(chunks[c].tensor)].absorb(partial[c]);
  std::vector<HistogramPass1> out;
  for (const auto& m : merged) out.push_back(from_partial(m));
  return out;
}

void merge_pass1(HistogramPass1& a, const HistogramPass1& b) {
  hm::StatsPartial p = to_partial(a);
  p.absorb(to_partial(b));
  a = from_partial(p);
}

void histogram_pass2(const std::vector<TensorView>& tensors, const std::vector<HistogramPass1>& global, int bins,
                     uint64_t* counts, double* centered_squares) {
  check_views(tensors);
  check(global.size() == tensors.size(), kOp, "global", "expected ", tensors.size(), " records, got ", global.size());
  check(bins >= 1 && bins <= kMaxHistogramBins, kOp, "bins", "expected 1..", kMaxHistogramBins, ", got ", bins);
  std::fill(counts, counts + tensors.size() * std::size_t(bins), uint64_t(0));
  std::vector<hm::BinRule> rules(tensors.size());
  std::vector<double> means(tensors.size(), 0.0);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!global[i].count) continue;
    rules[i] = hm::make_bin_rule(global[i].min, global[i].max, bins);  // the op's rule for these lo, hi
    means[i] = global[i].sum / double(global[i].count);
  }
  const std::vector<hm::HistogramChunk> chunks = chunk_table(tensors);
  std::vector<double> centered(chunks.size(), 0.0);  // per chunk: merged in chunk order below
  std::vector<StridedIndexer> index;
  for (const auto& t : tensors) index.emplace_back(t);
  std::mutex merge;
  parallel_for(static_cast<int64_t>(chunks.size()), 1, [&](int64_t b, int64_t e) {
    std::vector<uint64_t> hist(static_cast<std::size_t>(bins), 0);
    for (int64_t c = b; c < e; ++c) {
      const hm::HistogramChunk& k = chunks[std::size_t(c)];
      const std::size_t t = std::size_t(k.tensor);
      if (!global[t].count) continue;
      std::fill(hist.begin(), hist.end(), uint64_t(0));
      struct {
        const hm::BinRule* rule;
        double mean, centered;
        uint64_t* hist;
        void operator()(double v) {
          if (!hm::is_finite(v)) return;
          ++hist[hm::bin_of(*rule, v)];
          const double d = v - mean;
          centered += d * d;
        }
      } visit{&rules[t], means[t], 0.0, hist.data()};
      visit_range(tensors[t], index[t], k.begin, k.end, visit);
      centered[std::size_t(c)] = visit.centered;
      std::lock_guard<std::mutex> lock(merge);
      uint64_t* dst = counts + t * std::size_t(bins);
      for (int i = 0; i < bins; ++i) dst[i] += hist[std::size_t(i)];
    }
  });
  for (std::size_t i = 0; i < tensors.size(); ++i) centered_squares[i] = 0;
  for (std::size_t c = 0; c < chunks.size(); ++c) centered_squares[std::size_t(chunks[c].tensor)] += centered[c];
}

HistogramResult histogram_result(const HistogramPass1& global, const uint64_t* counts, double centered_squares,
                                 int bins) {
  hm::TensorAccumulators a{};
  a.count = global.count;
  a.nan_count = global.nan_count;
  a.pos_inf_count = global.pos_inf_count;
  a.neg_inf_count = global.neg_inf_count;
  if (global.count) {
    a.min_key = ~hm::order_key(global.min);
    a.max_key = hm::order_key(global.max);
    a.sum = global.sum;
    a.sum_squares = global.sum_squares;
    a.centered_squares = centered_squares;
  }
  static_assert(sizeof(unsigned long long) == sizeof(uint64_t), "counts are passed through as they are");
  return decode_histogram(a, reinterpret_cast<const unsigned long long*>(counts), bins);
}

}  // namespace trainscope::detail
