// Every CUDA labels mapping (kernels/labels_mapping.h: a thread, lanes, a warp or a block per
// row) against the CPU path: identical labels, top-k labels and confusion counts, confidences
// within the float-summation tolerance, for C on each side of every strategy boundary, the three
// dtypes, and rows that start off a 16-byte boundary (odd C, a row stride > C, a view offset by
// one element).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "labels_mapping.h"  // kernels/
#include "support/gpu.h"
#include "trainscope/torch.h"

#ifdef TRAINSCOPE_WITH_CUDA

namespace trainscope {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Contiguous; row stride C + 3; row stride C + 3 and the view one element into its storage;
// contiguous rows from a base one element into a flat buffer.
enum class Layout { Contiguous, PaddedRows, OffsetByOne, ShiftedBase };

struct MappingCase {
  torch::ScalarType dtype;
  int64_t rows;
  int64_t classes;
  Layout layout;
  int top_k;
};

std::string describe(const MappingCase& p) {
  const char* layout = p.layout == Layout::Contiguous   ? "contiguous"
                       : p.layout == Layout::PaddedRows ? "padded"
                       : p.layout == Layout::OffsetByOne ? "offset"
                                                          : "shifted";
  const char* dtype = p.dtype == torch::kFloat ? "fp32" : p.dtype == torch::kHalf ? "fp16" : "bf16";
  return std::string(dtype) + "_N" + std::to_string(p.rows) + "_C" + std::to_string(p.classes) + "_" + layout + "_k" +
         std::to_string(p.top_k);
}
std::string case_name(const testing::TestParamInfo<MappingCase>& info) { return describe(info.param); }
void PrintTo(const MappingCase& p, std::ostream* os) { *os << describe(p); }

int element_bytes(torch::ScalarType dtype) { return dtype == torch::kFloat ? 4 : 2; }

// Random logits with NaN, ±Inf and ties in `storage` [n, c + pad]; the rows of the view x
// [n, c] then get −0.0 against 0.0, maxima in their first element (the scalar head of a
// misaligned row) and last element (the tail), and the other special rows.
torch::Tensor adversarial_storage(int64_t n, int64_t c, uint64_t seed) {
  torch::manual_seed(seed);
  auto x = torch::randn({n, c}) * 3;
  auto u = torch::rand({n, c});
  x.masked_fill_(u < 0.002, kNaN);
  x.masked_fill_((u >= 0.002) & (u < 0.004), kInf);
  x.masked_fill_((u >= 0.004) & (u < 0.01), -kInf);
  return torch::where(torch::rand({n, c}) < 0.1, x.round(), x);
}

void add_special_rows(torch::Tensor x) {
  const int64_t n = x.size(0), c = x.size(1);
  const std::vector<std::function<void(torch::Tensor)>> special = {
      [](torch::Tensor r) { r.fill_(1.f); },                       // all tied: label 0
      [](torch::Tensor r) { r.fill_(-kInf); },                     // only −Inf: NaN confidence
      [c](torch::Tensor r) { r.fill_(0.f); r[c - 1] = 1.f; },      // maximum in the tail
      [](torch::Tensor r) { r.fill_(-1.f); r[0] = 50.f; },         // maximum in the head
      [c](torch::Tensor r) { r.fill_(-0.f); r[c - 1] = 0.f; },     // −0.0 == 0.0: the lower index
      [c](torch::Tensor r) { r.fill_(2.f); r[c / 2] = kNaN; r[c - 1] = kNaN; },  // the first NaN
      [c](torch::Tensor r) { r.fill_(-3.f); r[c - 1] = kInf; },    // +Inf: label, NaN confidence
  };
  for (std::size_t i = 0; i < special.size() && int64_t(i) + 1 < n; ++i) special[i](x[int64_t(i) + 1]);
}

// The logits in the case's layout, on the device, and the same view on the CPU (which reads any
// strides).
std::pair<torch::Tensor, torch::Tensor> logits_for(const MappingCase& p, uint64_t seed) {
  if (p.layout == Layout::ShiftedBase) {
    auto flat = adversarial_storage(1, p.rows * p.classes + 1, seed).view({-1});
    add_special_rows(flat.slice(0, 1).view({p.rows, p.classes}));
    flat = flat.to(p.dtype);
    return {flat.slice(0, 1).view({p.rows, p.classes}), flat.cuda().slice(0, 1).view({p.rows, p.classes})};
  }
  const int64_t pad = p.layout == Layout::Contiguous ? 0 : 3;  // row stride C + 3: every row shifts
  const int64_t offset = p.layout == Layout::OffsetByOne ? 1 : 0;
  auto storage = adversarial_storage(p.rows, p.classes + pad, seed);
  add_special_rows(storage.slice(1, offset, offset + p.classes));
  storage = storage.to(p.dtype);
  auto cpu = storage.slice(1, offset, offset + p.classes);
  auto gpu = storage.cuda().slice(1, offset, offset + p.classes);
  if (p.layout == Layout::Contiguous) {
    cpu = cpu.contiguous();
    gpu = gpu.contiguous();
  }
  return {cpu, gpu};
}

void expect_close_with_nan(const torch::Tensor& actual, const torch::Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  EXPECT_TRUE(torch::equal(actual.isnan(), expected.isnan())) << what;
  EXPECT_TRUE(torch::allclose(actual, expected, 1e-5, 1e-7, /*equal_nan=*/true))
      << what << ": max difference " << (actual - expected).abs().nan_to_num(0).max();
}

class LabelsGpuMapping : public testing::TestWithParam<MappingCase> {};
class LabelsGpuMappingConfusion : public testing::TestWithParam<MappingCase> {};

TEST_P(LabelsGpuMapping, MatchesCpu) {
  TS_REQUIRE_CUDA();
  const auto& p = GetParam();
  const auto [cpu_logits, gpu_logits] = logits_for(p, uint64_t(p.classes * 7 + p.rows));
  LabelOptions opt;
  opt.top_k = p.top_k;
  opt.apply_sigmoid = p.classes == 1;
  auto cpu = labels_from_logits(cpu_logits, opt);
  auto gpu = labels_from_logits(gpu_logits, opt);
  EXPECT_TRUE(torch::equal(cpu.labels, gpu.labels.cpu()))
      << "first differing row: " << (cpu.labels != gpu.labels.cpu()).nonzero().slice(0, 0, 1);
  expect_close_with_nan(gpu.confidence.cpu(), cpu.confidence, "confidence");
  if (p.top_k) {
    EXPECT_TRUE(torch::equal(cpu.top_k_labels, gpu.top_k_labels.cpu()));
    expect_close_with_nan(gpu.top_k_confidence.cpu(), cpu.top_k_confidence, "top-k confidence");
  }
}

TEST_P(LabelsGpuMappingConfusion, MatchesCpu) {
  TS_REQUIRE_CUDA();
  const auto& p = GetParam();
  const auto [cpu_logits, gpu_logits] = logits_for(p, uint64_t(p.classes * 11 + p.rows));
  const int64_t cc = std::max<int64_t>(p.classes, 2);
  // Targets outside [0, C') are counted as ignored.
  auto targets = torch::randint(-1, cc + 1, {p.rows}, torch::kLong);
  auto cpu_conf = torch::zeros({cc, cc}, torch::kLong), cpu_ignored = torch::zeros({}, torch::kLong);
  auto gpu_conf = cpu_conf.cuda(), gpu_ignored = cpu_ignored.cuda();
  auto cpu = labels_from_logits(cpu_logits, targets, cpu_conf, cpu_ignored);
  auto gpu = labels_from_logits(gpu_logits, targets.cuda(), gpu_conf, gpu_ignored);
  EXPECT_TRUE(torch::equal(cpu.labels, gpu.labels.cpu()));
  EXPECT_TRUE(torch::equal(cpu_conf, gpu_conf.cpu()));
  EXPECT_EQ(cpu_ignored.item<int64_t>(), gpu_ignored.item<int64_t>());
  EXPECT_EQ(gpu_conf.sum().item<int64_t>() + gpu_ignored.item<int64_t>(), p.rows);
}

// C on both sides of every boundary of labels_mapping.h (per dtype: the block-per-row one is in
// bytes), the bench's shapes, and a vocabulary of 2^17.
std::vector<MappingCase> mapping_cases() {
  using kernels::kLabelsBlockPerRowMinBytes;
  using kernels::kLabelsMaxPerLane;
  using kernels::kLabelsRowsPerWarpMaxClasses;
  std::vector<MappingCase> cases;
  for (auto dtype : {torch::kFloat, torch::kHalf, torch::kBFloat16}) {
    const int64_t block_min = kLabelsBlockPerRowMinBytes / element_bytes(dtype);
    std::vector<int64_t> classes = {1, 2, 3, kLabelsMaxPerLane + 1, 10, 31, 32, 33, kLabelsRowsPerWarpMaxClasses,
                                    kLabelsRowsPerWarpMaxClasses + 1, 1000, 4099, block_min - 1, block_min, 50257,
                                    131072};
    for (int64_t c : classes) {
      // Rows: not a multiple of rows per warp or per block (the grid-stride turns are below).
      const int64_t rows = c <= kLabelsRowsPerWarpMaxClasses ? 20011 : c <= 4099 ? 2053 : c < 100000 ? 203 : 67;
      for (Layout layout : {Layout::Contiguous, Layout::PaddedRows, Layout::OffsetByOne, Layout::ShiftedBase}) {
        for (int k : {0, int(std::min<int64_t>(5, std::max<int64_t>(c, 2)))}) cases.push_back({dtype, rows, c, layout, k});
      }
    }
  }
  // More rows than one resident wave covers, so each kernel's grid-stride loop takes several
  // turns (about 10^5 rows per turn for C = 10, 5·10^3 for a warp per row, 600 for a block).
  cases.push_back({torch::kFloat, int64_t(1) << 20, 10, Layout::Contiguous, 0});  // the bench's 1M × 10
  cases.push_back({torch::kFloat, int64_t(1) << 20, 2, Layout::PaddedRows, 2});
  cases.push_back({torch::kHalf, 300007, 33, Layout::OffsetByOne, 5});
  cases.push_back({torch::kFloat, 20011, 1000, Layout::ShiftedBase, 5});
  cases.push_back({torch::kBFloat16, 1400, 50257, Layout::OffsetByOne, 5});
  cases.push_back({torch::kFloat, 1, 131072, Layout::OffsetByOne, 5});  // one row, one block
  return cases;
}

// Confusion counts do not depend on top-k: each shape and layout once.
std::vector<MappingCase> confusion_cases() {
  std::vector<MappingCase> cases;
  for (auto c : mapping_cases()) {
    c.top_k = 0;
    const bool seen = std::any_of(cases.begin(), cases.end(), [&](const MappingCase& o) {
      return o.dtype == c.dtype && o.rows == c.rows && o.classes == c.classes && o.layout == c.layout;
    });
    if (!seen) cases.push_back(c);
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Mappings, LabelsGpuMapping, testing::ValuesIn(mapping_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Mappings, LabelsGpuMappingConfusion, testing::ValuesIn(confusion_cases()), case_name);

}  // namespace
}  // namespace trainscope
#endif
