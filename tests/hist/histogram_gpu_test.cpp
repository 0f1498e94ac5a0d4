// The CUDA histogram op, under each schedule (two passes; the L2-resident persistent kernel with
// the device's window and with a small window, which makes many windows and streams the larger
// tensors): identical counts to the CPU path, agreement with torch, 64-bit indexing, plan reuse
// with new pointers, and capture of a whole enqueue in a CUDA graph.
#include <gtest/gtest.h>

#include "hist/torch_reference.h"
#include "support/gpu.h"
#include "trainscope/torch.h"

#ifdef TRAINSCOPE_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

namespace trainscope {
namespace {

using torch::indexing::Slice;

struct ScheduleCase {
  std::string name;
  HistogramSchedule schedule;
  int64_t window_bytes;  // 0: the device's default
};

// The schedule's name as the parameter's printed value (stable ctest names).
void PrintTo(const ScheduleCase& c, std::ostream* os) { *os << c.name; }

// Every test below runs under each schedule: results must not depend on it.
class HistogramGpu : public ::testing::TestWithParam<ScheduleCase> {
 protected:
  HistogramOptions opts(int bins) const {
    HistogramOptions o;
    o.bins = bins;
    o.schedule = GetParam().schedule;
    o.l2_window_bytes = GetParam().window_bytes;
    return o;
  }
};

void expect_identical(const std::vector<HistogramResult>& gpu, const std::vector<HistogramResult>& cpu,
                      const std::string& what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    const std::string w = what + " tensor " + std::to_string(i);
    EXPECT_EQ(gpu[i].counts, cpu[i].counts) << w;
    EXPECT_EQ(gpu[i].edges, cpu[i].edges) << w;
    EXPECT_EQ(gpu[i].stats.count, cpu[i].stats.count) << w;
    EXPECT_EQ(gpu[i].stats.nan_count, cpu[i].stats.nan_count) << w;
    EXPECT_EQ(gpu[i].stats.pos_inf_count, cpu[i].stats.pos_inf_count) << w;
    EXPECT_EQ(gpu[i].stats.neg_inf_count, cpu[i].stats.neg_inf_count) << w;
    EXPECT_EQ(gpu[i].stats.min, cpu[i].stats.min) << w;
    EXPECT_EQ(gpu[i].stats.max, cpu[i].stats.max) << w;
    // Equal values (infinities included) are close; |Inf - Inf| would be NaN.
    const auto close = [](double a, double b) { return a == b || std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b)); };
    EXPECT_PRED2(close, gpu[i].stats.sum, cpu[i].stats.sum) << w;
    EXPECT_PRED2(close, gpu[i].stats.sum_squares, cpu[i].stats.sum_squares) << w;
    EXPECT_PRED2(close, gpu[i].stats.std, cpu[i].stats.std) << w;
  }
}

std::vector<torch::Tensor> to_cuda(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> out;
  for (const auto& t : ts) out.push_back(t.cuda());
  return out;
}

// Random data of every dtype, sizes that leave tails and span many chunks, unaligned starts.
std::vector<torch::Tensor> random_list() {
  torch::manual_seed(5);
  auto unaligned = torch::randn({100001}).index({Slice(1, torch::indexing::None)});  // 4-byte offset
  return {torch::randn({64, 3, 7, 7}),
          torch::randn({1 << 20}) * 0.01,
          torch::randn({123457}).to(torch::kHalf),
          torch::randn({77777}).to(torch::kBFloat16),
          torch::randn({4099}).to(torch::kDouble) * 1e100,
          torch::randint(-1000, 1000, {50001}, torch::kInt),
          torch::randint(0, 256, {16385}, torch::kByte),
          torch::randint(-(int64_t(1) << 50), int64_t(1) << 50, {999}, torch::kLong),
          torch::rand({3000}) > 0.3,
          torch::randint(-100, 100, {1000}, torch::kShort),
          torch::randint(-100, 100, {1001}, torch::kChar),
          unaligned,
          torch::randn({3}),
          torch::empty({0})};
}

// The adversarial inputs of the CPU tests, now through both devices.
std::vector<torch::Tensor> adversarial_list() {
  const float fmax = std::numeric_limits<float>::max();
  const float dmin = std::numeric_limits<float>::denorm_min();
  auto mixed = torch::randn({50000});
  mixed.index_put_({Slice(0, 1000)}, NAN);
  mixed.index_put_({Slice(1000, 1500)}, INFINITY);
  mixed.index_put_({Slice(40000, 40100)}, -INFINITY);
  auto half_bits = torch::tensor({0x7bff, -1025 /*0xfbff*/, 0x0001, 0x3c00, 0x7e00, 0x7c00, -1024 /*0xfc00*/, -32768 /*0x8000*/},
                                 torch::kShort).view(torch::kHalf);
  auto bf16_bits = torch::tensor({0x7f7f, -129 /*0xff7f*/, 0x0001, 0x7fc0, 0x7f80}, torch::kShort).view(torch::kBFloat16);
  return {torch::full({20000}, NAN),
          mixed,
          torch::full({40000}, 2.5f),
          torch::empty({5, 0}),
          torch::tensor({-7.f}),
          torch::tensor({0.f, dmin, 2 * dmin, -0.f, 3 * dmin}),
          torch::tensor({-fmax, fmax, 0.f, fmax / 2, -fmax / 3}),
          torch::tensor({-std::numeric_limits<double>::max(), std::numeric_limits<double>::max(), 0.0, 1.0}),
          half_bits,
          bf16_bits,
          torch::randn({70000}) * 1e-40};  // mostly float subnormals and zeros
}

// Values on and next to the bin edges (a few float ulps either side), in float32, float16 and
// bfloat16: where the kernels' float shortcut of the bin rule must hand over to the double rule.
std::vector<torch::Tensor> edge_list(int bins) {
  std::vector<float> values;
  for (const auto& [lo, hi] : std::vector<std::pair<float, float>>{{-1.f, 1.f}, {-3.7f, 2.1f}, {0.f, 255.f}}) {
    for (int i = 0; i <= bins; ++i) {
      float v = float(double(lo) + (double(hi) - double(lo)) * i / bins);
      for (int k = 0; k < 4; ++k) v = std::nextafter(v, -INFINITY);
      for (int k = 0; k < 9; ++k, v = std::nextafter(v, INFINITY)) values.push_back(std::clamp(v, lo, hi));
    }
  }
  auto t = torch::tensor(values);
  // One tensor per range, so each has its own lo/hi; and the 16-bit copies round onto their grids.
  const int64_t per = int64_t(values.size()) / 3;
  std::vector<torch::Tensor> out;
  for (int r = 0; r < 3; ++r) {
    auto part = t.index({Slice(r * per, (r + 1) * per)}).contiguous();
    out.push_back(part);
    out.push_back(part.to(torch::kHalf));
    out.push_back(part.to(torch::kBFloat16));
  }
  return out;
}

TEST_P(HistogramGpu, IdenticalCountsToCpu) {
  TS_REQUIRE_CUDA();
  for (int bins : {1, 7, 64, 512}) {
    const HistogramOptions o = opts(bins);
    for (const auto& list : {random_list(), adversarial_list(), edge_list(bins)}) {
      const auto cpu = histograms(list, o);
      const auto gpu = histograms(to_cuda(list), o);
      expect_identical(gpu, cpu, "bins " + std::to_string(bins));
    }
  }
  // Device data that does not start 16-byte aligned takes the scalar-load path.
  auto base = torch::randn({100003}, torch::kCUDA);
  auto halves = torch::randn({5003}, torch::kCUDA).to(torch::kHalf);
  std::vector<torch::Tensor> offset = {base.index({Slice(1, torch::indexing::None)}), base.index({Slice(3, 99999)}),
                                       halves.index({Slice(1, torch::indexing::None)})};
  expect_identical(histograms(offset, opts(64)), histograms({offset[0].cpu(), offset[1].cpu(), offset[2].cpu()}),
                   "offset");
}

TEST_P(HistogramGpu, AgreesWithTorchHistcAndStatistics) {
  TS_REQUIRE_CUDA();
  const auto list = to_cuda(random_list());
  for (int bins : {64, 512}) {
    const auto r = histograms(list, opts(bins));
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string what = "tensor " + std::to_string(i) + " bins " + std::to_string(bins);
      // histc runs on float data: float64 beyond float's range and int64 beyond 2^24 do not
      // survive that conversion, so only their statistics are compared with torch.
      const auto type = list[i].scalar_type();
      if (type != torch::kDouble && type != torch::kLong) testing::expect_agrees_with_histc(list[i], r[i], what);
      testing::expect_stats_match_torch(list[i], r[i], what);
    }
  }
}

TEST_P(HistogramGpu, ThousandsOfTinyTensorsInOneList) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(6);
  std::vector<torch::Tensor> list;
  for (int i = 0; i < 3000; ++i) list.push_back(torch::randn({i % 9}) * (i % 5 + 1));
  list.push_back(torch::randn({3, 1 << 18}));
  const auto cpu = histograms(list, {16});
  expect_identical(histograms(to_cuda(list), opts(16)), cpu, "tiny");
  // Tiny tensors between larger ones of every float dtype: tickets that hold several tensors
  // next to full-chunk tickets, in windows of mixed dtypes.
  std::vector<torch::Tensor> mixed;
  for (int i = 0; i < 600; ++i) {
    mixed.push_back(torch::randn({i % 7 + 1}));
    if (i % 50 == 0) mixed.push_back(torch::randn({70000 + i}).to(i % 100 == 0 ? torch::kHalf : torch::kBFloat16));
    if (i % 75 == 0) mixed.push_back(torch::randn({30001}).to(torch::kDouble));
  }
  expect_identical(histograms(to_cuda(mixed), opts(64)), histograms(mixed, {64}), "tiny mixed");
}

TEST_P(HistogramGpu, MoreThanTwoToThe31Elements) {
  TS_REQUIRE_CUDA();
  const int64_t n = (int64_t(1) << 31) + 4099;
  auto t = torch::zeros({n}, torch::TensorOptions().dtype(torch::kByte).device(torch::kCUDA));
  t.index_put_({Slice(n - 3, n)}, 255);             // beyond 2^31: needs 64-bit indexing
  t.index_put_({(int64_t(1) << 31) - 1}, 7);
  const auto r = histograms({t}, opts(64));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].stats.count, n);
  EXPECT_EQ(r[0].stats.min, 0);
  EXPECT_EQ(r[0].stats.max, 255);
  EXPECT_EQ(r[0].stats.sum, 3 * 255 + 7);
  ASSERT_EQ(r[0].counts.size(), 64u);
  EXPECT_EQ(r[0].counts[0], n - 4);
  EXPECT_EQ(r[0].counts[1], 1);  // floor(7 · 64 / 255) = 1
  EXPECT_EQ(r[0].counts[63], 3);
}

TEST_P(HistogramGpu, PlanFollowsNewDataPointers) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(7);
  std::vector<torch::Tensor> a = {torch::randn({1000}, torch::kCUDA), torch::randn({40000}, torch::kCUDA)};
  std::vector<torch::Tensor> b = {torch::rand({1000}, torch::kCUDA).to(torch::kDouble) + 5,
                                  torch::randn({40000}, torch::kCUDA).to(torch::kHalf)};
  HistogramPlan plan = histogram_plan(a, opts(32));
  for (const auto* list : {&a, &b, &a, &b, &b}) {
    enqueue_histograms(plan, *list);
    std::vector<torch::Tensor> on_cpu;
    for (const auto& t : *list) on_cpu.push_back(t.cpu());
    expect_identical(plan.results(), histograms(on_cpu, {32}), "refresh");
  }
}

TEST_P(HistogramGpu, NonContiguousTensorsGoThroughTheAdapter) {
  TS_REQUIRE_CUDA();
  auto base = torch::randn({256, 96}, torch::kCUDA);
  std::vector<torch::Tensor> views = {base.t(), base.index({Slice(), Slice(1, torch::indexing::None, 5)})};
  const auto gpu = histograms(views, opts(64));
  const auto cpu = histograms({views[0].cpu(), views[1].cpu()}, {64});
  expect_identical(gpu, cpu, "views");
  // The core API itself asks for contiguous CUDA data and names the tensor.
  try {
    histograms({view_of(base), view_of(views[0])}, opts(64));
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensors[1]"), std::string::npos) << e.what();
  }
}

TEST_P(HistogramGpu, WholeEnqueueCapturedInAGraph) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(8);
  std::vector<torch::Tensor> list = {torch::randn({64, 3, 7, 7}, torch::kCUDA), torch::randn({300000}, torch::kCUDA),
                                     torch::randn({5}, torch::kCUDA).to(torch::kBFloat16)};
  HistogramPlan plan = histogram_plan(list, opts(64));
  auto stream = c10::cuda::getStreamFromPool();
  c10::cuda::CUDAStreamGuard guard(stream);
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  ASSERT_EQ(cudaStreamBeginCapture(stream.stream(), cudaStreamCaptureModeGlobal), cudaSuccess);
  enqueue_histograms(plan, list);
  ASSERT_EQ(cudaStreamEndCapture(stream.stream(), &graph), cudaSuccess);
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  for (int replay = 0; replay < 3; ++replay) {
    // New values in the same memory: each replay must see them.
    for (auto& t : list) t.copy_(torch::randn_like(t.to(torch::kFloat)).mul(replay + 1).to(t.dtype()));
    ASSERT_EQ(cudaGraphLaunch(exec, stream.stream()), cudaSuccess);
    const auto got = plan.results();  // waits on the event the graph records
    std::vector<torch::Tensor> on_cpu;
    for (const auto& t : list) on_cpu.push_back(t.cpu());
    expect_identical(got, histograms(on_cpu, {64}), "replay " + std::to_string(replay));
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}


std::vector<torch::Tensor> on_cpu(const std::vector<torch::Tensor>& list) {
  std::vector<torch::Tensor> out;
  for (const auto& t : list) out.push_back(t.cpu());
  return out;
}

// The graph owns its tensor table: eager enqueues with other tensors between replays (and a
// capture whose list equals the last eager one) must not change what a replay reads.
TEST_P(HistogramGpu, CaptureThenEagerWithOtherDataThenReplays) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(9);
  std::vector<torch::Tensor> captured = {torch::randn({5000}, torch::kCUDA), torch::randn({70000}, torch::kCUDA)};
  std::vector<torch::Tensor> other = {torch::rand({5000}, torch::kCUDA) + 10,
                                      torch::randn({70000}, torch::kCUDA).to(torch::kHalf)};
  HistogramPlan plan = histogram_plan(captured, opts(32));
  torch::cuda::synchronize();  // the data was made on the default stream
  auto stream = c10::cuda::getStreamFromPool();
  c10::cuda::CUDAStreamGuard guard(stream);
  enqueue_histograms(plan, captured);  // eager, the same list the capture will take
  expect_identical(plan.results(), histograms(on_cpu(captured), {32}), "eager before capture");

  cudaGraph_t graph;
  cudaGraphExec_t exec;
  ASSERT_EQ(cudaStreamBeginCapture(stream.stream(), cudaStreamCaptureModeGlobal), cudaSuccess);
  enqueue_histograms(plan, captured);
  ASSERT_EQ(cudaStreamEndCapture(stream.stream(), &graph), cudaSuccess);
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  // Captured but not replayed: the pinned results are an earlier call's, so results() refuses.
  EXPECT_THROW(plan.results(), Error);

  enqueue_histograms(plan, other);  // eager with other pointers and dtypes
  expect_identical(plan.results(), histograms(on_cpu(other), {32}), "eager after capture");
  for (int replay = 0; replay < 2; ++replay) {
    for (auto& t : captured) t.mul_(2);
    ASSERT_EQ(cudaGraphLaunch(exec, stream.stream()), cudaSuccess);
    expect_identical(plan.results(), histograms(on_cpu(captured), {32}), "replay " + std::to_string(replay));
  }
  enqueue_histograms(plan, other);
  expect_identical(plan.results(), histograms(on_cpu(other), {32}), "eager after replays");

  // One captured list per plan: capturing other tensors is an error, not a silent overwrite.
  ASSERT_EQ(cudaStreamBeginCapture(stream.stream(), cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_THROW(enqueue_histograms(plan, other), Error);
  cudaGraph_t discarded;
  cudaStreamEndCapture(stream.stream(), &discarded);
  if (discarded) cudaGraphDestroy(discarded);
  cudaGetLastError();
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

// A plan reused on another stream: the second enqueue's memset must wait for the first's kernels.
TEST_P(HistogramGpu, ReuseOnAnotherStreamIsOrdered) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(10);
  std::vector<torch::Tensor> big = {torch::randn({1 << 24}, torch::kCUDA)};
  std::vector<torch::Tensor> small = {torch::rand({1 << 24}, torch::kCUDA)};
  HistogramPlan plan = histogram_plan(big, opts(64));
  torch::cuda::synchronize();  // the data was made on the default stream
  auto first = c10::cuda::getStreamFromPool();
  auto second = c10::cuda::getStreamFromPool();
  for (int round = 0; round < 3; ++round) {
    {
      c10::cuda::CUDAStreamGuard guard(first);
      enqueue_histograms(plan, big);
    }
    {
      c10::cuda::CUDAStreamGuard guard(second);
      enqueue_histograms(plan, small);
    }
    expect_identical(plan.results(), histograms(on_cpu(small), {64}), "round " + std::to_string(round));
  }
}

// The schedules against each other on the same device data: counts, extremes and non-finite
// counts bit-identical, sums up to summation order.
TEST(HistogramGpuSchedules, L2ResidentEqualsTwoPass) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(11);
  std::vector<torch::Tensor> list = to_cuda(random_list());
  for (int i = 0; i < 40; ++i) list.push_back(torch::randn({int64_t(1) << (8 + i % 12)}, torch::kCUDA) * (i + 1));
  HistogramOptions two, l2, l2_small;
  two.schedule = HistogramSchedule::TwoPass;
  l2.schedule = l2_small.schedule = HistogramSchedule::L2Resident;
  l2_small.l2_window_bytes = 100000;
  const auto reference = histograms(list, two);
  expect_identical(histograms(list, l2), reference, "l2");
  expect_identical(histograms(list, l2_small), reference, "l2 small window");
}

INSTANTIATE_TEST_SUITE_P(Schedules, HistogramGpu,
                         ::testing::Values(ScheduleCase{"TwoPass", HistogramSchedule::TwoPass, 0},
                                         ScheduleCase{"L2Resident", HistogramSchedule::L2Resident, 0},
                                         ScheduleCase{"L2ResidentSmallWindow", HistogramSchedule::L2Resident, 256 << 10}),
                         [](const ::testing::TestParamInfo<ScheduleCase>& info) { return info.param.name; });

}  // namespace
}  // namespace trainscope
#endif
