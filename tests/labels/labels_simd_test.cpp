// The CPU vector paths of labels_from_logits and segmentation_to_rgb (src/ops/simd/) against the
// scalar path and against a reference written here from docs/ops.md alone: every ISA this machine
// runs, on random, adversarial and odd-shaped inputs. Labels, classes, colours and counts must be
// identical; confidences within the documented bound (relative 2^-20).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "ops/simd/logits_cpu_simd.h"  // src/
#include "trainscope/ops/colorize.h"
#include "trainscope/ops/labels.h"

namespace trainscope {
namespace {

namespace simd = detail::logits_simd;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
// docs/ops.md, "CPU vector paths": |confidence − reference| ≤ 2^-20 · reference.
const double kRelativeBound = std::ldexp(1.0, -20);

// Selects a path for the op calls in its scope through the documented variable.
// Selects a path for the op calls in its scope through the documented variables (null: none set),
// restoring what the environment had.
struct IsaScope {
  std::string saved_isa, saved_simd;
  bool had_isa, had_simd;
  explicit IsaScope(const char* isa) {
    const char* a = std::getenv("TRAINSCOPE_CPU_ISA");
    const char* b = std::getenv("TRAINSCOPE_CPU_SIMD");
    had_isa = a != nullptr;
    had_simd = b != nullptr;
    saved_isa = a ? a : "";
    saved_simd = b ? b : "";
    unsetenv("TRAINSCOPE_CPU_SIMD");
    if (isa) {
      setenv("TRAINSCOPE_CPU_ISA", isa, 1);
    } else {
      unsetenv("TRAINSCOPE_CPU_ISA");
    }
  }
  explicit IsaScope(simd::Isa isa) : IsaScope(simd::isa_name(isa)) {}
  ~IsaScope() {
    if (had_isa) setenv("TRAINSCOPE_CPU_ISA", saved_isa.c_str(), 1);
    else unsetenv("TRAINSCOPE_CPU_ISA");
    if (had_simd) setenv("TRAINSCOPE_CPU_SIMD", saved_simd.c_str(), 1);
  }
};

std::vector<simd::Isa> vector_isas() {
  std::vector<simd::Isa> isas;
  for (simd::Isa isa : {simd::Isa::Avx2, simd::Isa::Avx512}) {
    if (simd::supported(isa)) isas.push_back(isa);
  }
  return isas;
}

// ---- element encodings, decoded independently of the library --------------------------------

uint16_t bf16_bits(float f) {  // truncation: any bf16 value will do
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t(u >> 16);
}
uint16_t fp16_bits(float f) {  // NaN, ±Inf, ±0 and normal halves (truncated); tiny → ±0
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  if (std::isnan(f)) return uint16_t(sign | 0x7E00u);
  const float a = std::fabs(f);
  if (a >= 65520.f) return uint16_t(sign | 0x7C00u);
  if (a < 6.103515625e-05f) return sign;
  const int e = int((u >> 23) & 0xFF) - 127 + 15;
  return uint16_t(sign | (e << 10) | ((u >> 13) & 0x3FFu));
}
float decode_fp16(uint16_t h) {
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const float s = (h & 0x8000) ? -1.f : 1.f;
  if (e == 31) return m ? kNaN : s * kInf;
  if (e == 0) return s * std::ldexp(float(m), -24);
  return s * std::ldexp(float(1024 + m), e - 25);
}
float decode_bf16(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Logits in one of the three dtypes, kept also as the floats they decode to.
struct Matrix {
  DType dtype;
  int64_t rows, cols, row_stride;
  std::vector<float> f32;
  std::vector<uint16_t> f16;
  std::vector<float> value;  // decoded, row-major with row_stride
  Matrix(DType d, int64_t n, int64_t c, int64_t stride, const std::vector<float>& v)
      : dtype(d), rows(n), cols(c), row_stride(stride), value(v) {
    if (dtype == DType::Float32) {
      f32 = v;
    } else {
      f16.resize(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) {
        f16[i] = dtype == DType::Float16 ? fp16_bits(v[i]) : bf16_bits(v[i]);
        value[i] = dtype == DType::Float16 ? decode_fp16(f16[i]) : decode_bf16(f16[i]);
      }
    }
  }
  TensorView view() {
    TensorView t;
    t.data = dtype == DType::Float32 ? static_cast<void*>(f32.data()) : static_cast<void*>(f16.data());
    t.dtype = dtype;
    t.shape = {rows, cols};
    t.strides = {row_stride, 1};
    return t;
  }
};

// docs/ops.md: the first NaN, else the first largest; confidence 1 / Σ exp(v − max) with v − max
// rounded to float as the op computes it, NaN for rows with a NaN, a +Inf or only −Inf.
void reference_row(const float* v, int64_t c, int64_t& label, double& confidence) {
  for (int64_t i = 0; i < c; ++i) {
    if (std::isnan(v[i])) {
      label = i;
      confidence = std::nan("");
      return;
    }
  }
  label = 0;
  for (int64_t i = 1; i < c; ++i) {
    if (v[i] > v[label]) label = i;
  }
  const float max = v[label];
  if (!std::isfinite(max)) {
    confidence = std::nan("");
    return;
  }
  long double sum = 0;
  for (int64_t i = 0; i < c; ++i) sum += std::exp(static_cast<long double>(static_cast<float>(v[i] - max)));
  confidence = static_cast<double>(1.0L / sum);
}

struct LabelResult {
  std::vector<int64_t> labels;
  std::vector<float> confidence;
};

LabelResult run_labels(Matrix& m, simd::Isa isa) {
  LabelResult r{std::vector<int64_t>(std::size_t(m.rows), -7), std::vector<float>(std::size_t(m.rows), -7.f)};
  LabelOutputs out;
  out.labels = TensorView::contiguous(r.labels.data(), DType::Int64, {m.rows});
  out.confidence = TensorView::contiguous(r.confidence.data(), DType::Float32, {m.rows});
  IsaScope scope(isa);
  EXPECT_EQ(simd::active_isa(), isa);
  labels_from_logits(m.view(), out);
  return r;
}

double worst_relative_error = 0;  // over all checks, printed for docs/ops.md

bool close(double got, double want) {
  if (std::isnan(want)) return std::isnan(got);
  const double relative = std::fabs(got - want) / std::fabs(want);
  if (relative > worst_relative_error) worst_relative_error = relative;
  return relative <= kRelativeBound;
}

// Every vector path against the scalar path and the reference, row by row.
void check_labels(Matrix& m, const std::string& what) {
  const LabelResult scalar = run_labels(m, simd::Isa::Scalar);
  for (simd::Isa isa : vector_isas()) {
    const LabelResult got = run_labels(m, isa);
    int failures = 0;
    for (int64_t r = 0; r < m.rows && failures < 5; ++r) {
      int64_t label;
      double conf;
      reference_row(m.value.data() + r * m.row_stride, m.cols, label, conf);
      const std::size_t i = std::size_t(r);
      const bool ok = got.labels[i] == label && got.labels[i] == scalar.labels[i] && close(got.confidence[i], conf) &&
                      close(got.confidence[i], scalar.confidence[i]);
      if (!ok) {
        ++failures;
        ADD_FAILURE() << what << " " << simd::isa_name(isa) << " row " << r << ": label " << got.labels[i]
                      << " (scalar " << scalar.labels[i] << ", reference " << label << "), confidence "
                      << got.confidence[i] << " (scalar " << scalar.confidence[i] << ", reference " << conf << ")";
      }
    }
  }
}

const char* dtype_tag(DType d) { return d == DType::Float32 ? "fp32" : d == DType::Float16 ? "fp16" : "bf16"; }

TEST(LabelsSimd, TheSelectionFollowsTheEnvironment) {
  {
    IsaScope none(nullptr);  // unset: the best this machine runs
    EXPECT_EQ(simd::active_isa(), simd::supported(simd::Isa::Avx512) ? simd::Isa::Avx512
                                  : simd::supported(simd::Isa::Avx2)  ? simd::Isa::Avx2
                                                                      : simd::Isa::Scalar);
  }
  {
    IsaScope scalar("scalar");
    EXPECT_EQ(simd::active_isa(), simd::Isa::Scalar);
  }
  {
    IsaScope avx2("avx2");  // a cap: AVX-512 is not taken
    EXPECT_EQ(simd::active_isa(), simd::supported(simd::Isa::Avx2) ? simd::Isa::Avx2 : simd::Isa::Scalar);
  }
  {
    IsaScope off(nullptr);
    setenv("TRAINSCOPE_CPU_SIMD", "0", 1);  // the histogram switch turns these paths off too
    EXPECT_EQ(simd::active_isa(), simd::Isa::Scalar);
    unsetenv("TRAINSCOPE_CPU_SIMD");
  }
  if (vector_isas().empty()) GTEST_SKIP() << "no AVX2 / AVX-512 here (or a build without SLEEF): scalar only";
}

TEST(LabelsSimd, RandomRowsEveryWidthAndDtype) {
  if (vector_isas().empty()) GTEST_SKIP();
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 3.f);
  for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
    for (int64_t c : {2, 3, 7, 8, 9, 10, 15, 16, 17, 21, 31, 32, 33, 63, 64, 65, 100, 129, 1000, 1001}) {
      for (int64_t n : {1, 37}) {
        for (int64_t pad : {0, 3}) {  // pad: strided rows
          const int64_t stride = c + pad;
          std::vector<float> v(std::size_t(n * stride), 1e30f);  // padding would win if read
          for (int64_t r = 0; r < n; ++r)
            for (int64_t i = 0; i < c; ++i) v[std::size_t(r * stride + i)] = normal(rng);
          Matrix m(dtype, n, c, stride, v);
          check_labels(m, std::string(dtype_tag(dtype)) + " C=" + std::to_string(c) + " N=" + std::to_string(n) +
                              " stride=" + std::to_string(stride));
        }
      }
    }
  }
}

TEST(LabelsSimd, LargeVocabularyRows) {
  if (vector_isas().empty()) GTEST_SKIP();
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.f, 2.f);
  for (DType dtype : {DType::Float32, DType::BFloat16}) {
    const int64_t n = 3, c = 50257;
    std::vector<float> v(std::size_t(n * c));
    for (float& x : v) x = normal(rng);
    v[std::size_t(1 * c + 50256)] = 40.f;  // the label in the last (partial) vector
    Matrix m(dtype, n, c, c, v);
    check_labels(m, std::string("C=50257 ") + dtype_tag(dtype));
  }
}

// Rows that go wrong in a vector path first: the label in every lane and in the tail, ties
// across vectors, NaN / ±Inf anywhere, signed zeros, extreme magnitudes, equal rows.
TEST(LabelsSimd, AdversarialRows) {
  if (vector_isas().empty()) GTEST_SKIP();
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
    for (int64_t c : {2, 5, 16, 17, 40, 67}) {
      std::vector<std::vector<float>> rows;
      auto random_row = [&] {
        std::vector<float> r(static_cast<std::size_t>(c));
        for (float& x : r) x = uniform(rng);
        return r;
      };
      for (int64_t at = 0; at < c; ++at) {
        for (float special : {kNaN, kInf, -kInf, 5.f, 0.f, -0.f}) {
          auto r = random_row();
          r[std::size_t(at)] = special;
          rows.push_back(r);
        }
        auto tie = random_row();  // ties: the first copy wins
        tie[std::size_t(at)] = 2.f;
        tie[std::size_t(c - 1)] = 2.f;
        rows.push_back(tie);
        auto nan_late = random_row();  // NaN after a +Inf: the NaN wins
        nan_late[std::size_t(at)] = kInf;
        nan_late[std::size_t(c - 1)] = kNaN;
        rows.push_back(nan_late);
        auto zeros = std::vector<float>(std::size_t(c), -1.f);  // −0 and +0 tie as the maximum
        zeros[std::size_t(at)] = -0.f;
        zeros[std::size_t(c - 1)] = 0.f;
        rows.push_back(zeros);
      }
      rows.push_back(std::vector<float>(std::size_t(c), 0.25f));  // all equal
      rows.push_back(std::vector<float>(std::size_t(c), -kInf));  // only −Inf
      rows.push_back(std::vector<float>(std::size_t(c), kNaN));   // only NaN
      rows.push_back(std::vector<float>(std::size_t(c), 3e38f));  // huge, equal
      rows.push_back(std::vector<float>(std::size_t(c), -3e38f));
      {
        std::vector<float> r(std::size_t(c), 1e-40f);  // subnormals (fp32; fp16 / bf16 flush or keep)
        r[0] = -1e-40f;
        rows.push_back(r);
        std::vector<float> h(static_cast<std::size_t>(c));
        for (int64_t i = 0; i < c; ++i) h[std::size_t(i)] = (i % 2 ? 3e38f : -3e38f);  // v − max = −Inf
        rows.push_back(h);
        std::vector<float> mix(std::size_t(c), -kInf);  // −Inf beside one finite value: p = 1
        mix[std::size_t(c / 2)] = -7.f;
        rows.push_back(mix);
      }
      std::vector<float> flat;
      for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
      Matrix m(dtype, int64_t(rows.size()), c, c, flat);
      check_labels(m, std::string("adversarial ") + dtype_tag(dtype) + " C=" + std::to_string(c));
    }
  }
}

// Top-k, the binary case and the confusion matrix keep their scalar behaviour under every path.
TEST(LabelsSimd, TopKBinaryAndConfusionAgreeAcrossPaths) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  const int64_t n = 500, c = 23;
  std::vector<float> v(std::size_t(n * c));
  for (float& x : v) x = normal(rng);
  std::vector<int64_t> targets(static_cast<std::size_t>(n));
  for (auto& t : targets) t = int64_t(rng() % (c + 2)) - 1;  // some outside [0, C)
  auto run = [&](simd::Isa isa) {
    IsaScope scope(isa);
    std::vector<int64_t> labels(static_cast<std::size_t>(n)), top(std::size_t(n * 3));
    std::vector<int64_t> confusion(std::size_t(c * c), 0), ignored(1, 0);
    std::vector<float> conf(static_cast<std::size_t>(n)), top_conf(std::size_t(n * 3));
    LabelOutputs out;
    out.labels = TensorView::contiguous(labels.data(), DType::Int64, {n});
    out.confidence = TensorView::contiguous(conf.data(), DType::Float32, {n});
    out.top_k_labels = TensorView::contiguous(top.data(), DType::Int64, {n, 3});
    out.top_k_confidence = TensorView::contiguous(top_conf.data(), DType::Float32, {n, 3});
    LabelTargets t;
    t.targets = TensorView::contiguous(targets.data(), DType::Int64, {n});
    t.confusion = TensorView::contiguous(confusion.data(), DType::Int64, {c, c});
    t.ignored = TensorView::contiguous(ignored.data(), DType::Int64, {});
    LabelOptions options;
    options.top_k = 3;
    labels_from_logits(TensorView::contiguous(v.data(), DType::Float32, {n, c}), out, &t, options);
    // Without top-k the vector path runs; its labels and confusion must match too.
    std::vector<int64_t> labels2(static_cast<std::size_t>(n)), confusion2(std::size_t(c * c), 0);
    LabelOutputs out2;
    out2.labels = TensorView::contiguous(labels2.data(), DType::Int64, {n});
    t.confusion = TensorView::contiguous(confusion2.data(), DType::Int64, {c, c});
    t.ignored = TensorView();
    labels_from_logits(TensorView::contiguous(v.data(), DType::Float32, {n, c}), out2, &t);
    EXPECT_EQ(labels2, labels);
    EXPECT_EQ(confusion2, confusion);
    // C == 1, with a sigmoid.
    std::vector<int64_t> bl(static_cast<std::size_t>(n));
    std::vector<float> bc(static_cast<std::size_t>(n));
    LabelOutputs bout;
    bout.labels = TensorView::contiguous(bl.data(), DType::Int64, {n});
    bout.confidence = TensorView::contiguous(bc.data(), DType::Float32, {n});
    LabelOptions sig;
    sig.apply_sigmoid = true;
    labels_from_logits(TensorView::contiguous(v.data(), DType::Float32, {n, 1}), bout, nullptr, sig);
    return std::make_tuple(labels, conf, top, top_conf, confusion, ignored, bl, bc);
  };
  const auto scalar = run(simd::Isa::Scalar);
  for (simd::Isa isa : vector_isas()) {
    const auto got = run(isa);
    EXPECT_EQ(std::get<0>(got), std::get<0>(scalar)) << simd::isa_name(isa);
    EXPECT_EQ(std::get<2>(got), std::get<2>(scalar));
    EXPECT_EQ(std::get<3>(got), std::get<3>(scalar));
    EXPECT_EQ(std::get<4>(got), std::get<4>(scalar));
    EXPECT_EQ(std::get<5>(got), std::get<5>(scalar));
    EXPECT_EQ(std::get<6>(got), std::get<6>(scalar));
    EXPECT_EQ(std::get<7>(got), std::get<7>(scalar));
  }
}

TEST(LabelsSimd, ZZWorstConfidenceErrorSeen) {
  std::printf("worst relative confidence error seen: %.3g (bound %.3g = 2^-20)\n", worst_relative_error,
              kRelativeBound);
  EXPECT_LE(worst_relative_error, kRelativeBound);
}

// ---- fused segmentation ------------------------------------------------------------------------

struct SegResult {
  std::vector<uint8_t> rgb;
  std::vector<int64_t> counts, inter, uni;
};

// logits: [N, C, H, W] decoded values with row padding `pad` (strides C·H·Wp, H·Wp, Wp, 1).
SegResult run_segmentation(Matrix& storage, int64_t n, int64_t c, int64_t h, int64_t w, int64_t wp,
                           const Palette& palette, std::vector<int32_t>& target, simd::Isa isa) {
  SegResult r{std::vector<uint8_t>(std::size_t(n * h * w * 3), 7), std::vector<int64_t>(std::size_t(c), -1),
              std::vector<int64_t>(std::size_t(c), -1), std::vector<int64_t>(std::size_t(c), -1)};
  TensorView logits = storage.view();
  logits.shape = {n, c, h, w};
  logits.strides = {c * h * wp, h * wp, wp, 1};
  SegmentationStats stats;
  stats.class_counts = TensorView::contiguous(r.counts.data(), DType::Int64, {c});
  stats.intersection = TensorView::contiguous(r.inter.data(), DType::Int64, {c});
  stats.union_counts = TensorView::contiguous(r.uni.data(), DType::Int64, {c});
  const TensorView t = TensorView::contiguous(target.data(), DType::Int32, {n, h, w});
  IsaScope scope(isa);
  segmentation_to_rgb(logits, ChannelLayout::ChannelsFirst, palette,
                      TensorView::contiguous(r.rgb.data(), DType::UInt8, {n, h, w, 3}), stats, &t, {{9, 8, 7}});
  return r;
}

void check_segmentation(DType dtype, int64_t n, int64_t c, int64_t h, int64_t w, int64_t pad, int palette_size,
                        bool adversarial, std::mt19937& rng) {
  const int64_t wp = w + pad;
  std::normal_distribution<float> normal;
  std::vector<float> v(std::size_t(n * c * h * wp), 1e30f);
  for (int64_t i = 0; i < n * c * h; ++i)
    for (int64_t x = 0; x < w; ++x) {
      float value = normal(rng);
      if (adversarial) {
        const unsigned pick = rng() % 16;
        value = pick == 0 ? kNaN : pick == 1 ? kInf : pick == 2 ? -kInf : pick < 6 ? 1.f : pick == 6 ? -0.f
                : pick == 7 ? 0.f : value;
      }
      v[std::size_t(i * wp + x)] = value;
    }
  Matrix storage(dtype, int64_t(v.size()), 1, 1, v);
  std::vector<int32_t> target(std::size_t(n * h * w));
  for (auto& t : target) t = int32_t(rng() % (c + 2)) - 1;
  const Palette palette = Palette::default_for(palette_size);
  const std::string what = std::string(dtype_tag(dtype)) + " N=" + std::to_string(n) + " C=" + std::to_string(c) +
                           " H=" + std::to_string(h) + " W=" + std::to_string(w) + " pad=" + std::to_string(pad) +
                           (adversarial ? " adversarial" : "");

  // Reference: the argmax of docs/ops.md over the decoded values, then colours and counts.
  SegResult want{std::vector<uint8_t>(std::size_t(n * h * w * 3)), std::vector<int64_t>(std::size_t(c), 0),
                 std::vector<int64_t>(std::size_t(c), 0), std::vector<int64_t>(std::size_t(c), 0)};
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        int64_t best = 0;
        for (int64_t k = 1; k < c; ++k) {
          const float a = storage.value[std::size_t(((img * c + k) * h + y) * wp + x)];
          const float b = storage.value[std::size_t(((img * c + best) * h + y) * wp + x)];
          if (!std::isnan(b) && (std::isnan(a) || a > b)) best = k;
        }
        const int64_t p = (img * h + y) * w + x;
        const Rgb color = best < palette.size() ? palette[int(best)] : Rgb{9, 8, 7};
        want.rgb[std::size_t(3 * p)] = color.r;
        want.rgb[std::size_t(3 * p + 1)] = color.g;
        want.rgb[std::size_t(3 * p + 2)] = color.b;
        ++want.counts[std::size_t(best)];
        const int64_t t = target[std::size_t(p)];
        if (t >= 0 && t < c) {
          ++want.uni[std::size_t(best)];
          if (t == best) ++want.inter[std::size_t(best)];
          else ++want.uni[std::size_t(t)];
        }
      }
  for (simd::Isa isa : {simd::Isa::Scalar, simd::Isa::Avx2, simd::Isa::Avx512}) {
    if (!simd::supported(isa)) continue;
    const SegResult got = run_segmentation(storage, n, c, h, w, wp, palette, target, isa);
    EXPECT_EQ(got.rgb, want.rgb) << what << " " << simd::isa_name(isa);
    EXPECT_EQ(got.counts, want.counts) << what << " " << simd::isa_name(isa);
    EXPECT_EQ(got.inter, want.inter) << what << " " << simd::isa_name(isa);
    EXPECT_EQ(got.uni, want.uni) << what << " " << simd::isa_name(isa);
  }
}

TEST(SegmentationSimd, EveryPathMatchesTheReference) {
  std::mt19937 rng(13);
  for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16}) {
    for (int64_t w : {1, 5, 8, 15, 16, 17, 33, 64, 65, 100}) {
      for (int64_t c : {1, 2, 5, 21}) {
        check_segmentation(dtype, 2, c, 3, w, w % 3, 21, false, rng);
        check_segmentation(dtype, 1, c, 2, w, 0, 21, true, rng);
      }
    }
    check_segmentation(dtype, 1, 33, 4, 70, 2, 12, true, rng);  // classes beyond the palette
    check_segmentation(dtype, 3, 21, 17, 129, 0, 21, false, rng);  // pixel ranges split image rows
  }
}

}  // namespace
}  // namespace trainscope
