// The CUDA histogram op: identical counts to the CPU path, agreement with torch, 64-bit indexing,
// plan reuse with new pointers, and capture of a whole enqueue in a CUDA graph.
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

TEST(HistogramGpu, IdenticalCountsToCpu) {
  TS_REQUIRE_CUDA();
  for (int bins : {1, 7, 64, 512}) {
    HistogramOptions o;
    o.bins = bins;
    for (const auto& list : {random_list(), adversarial_list()}) {
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
  expect_identical(histograms(offset), histograms({offset[0].cpu(), offset[1].cpu(), offset[2].cpu()}), "offset");
}

TEST(HistogramGpu, AgreesWithTorchHistcAndStatistics) {
  TS_REQUIRE_CUDA();
  const auto list = to_cuda(random_list());
  for (int bins : {64, 512}) {
    HistogramOptions o;
    o.bins = bins;
    const auto r = histograms(list, o);
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

TEST(HistogramGpu, ThousandsOfTinyTensorsInOneList) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(6);
  std::vector<torch::Tensor> list;
  for (int i = 0; i < 3000; ++i) list.push_back(torch::randn({i % 9}) * (i % 5 + 1));
  list.push_back(torch::randn({3, 1 << 18}));
  const auto cpu = histograms(list, {16});
  expect_identical(histograms(to_cuda(list), {16}), cpu, "tiny");
}

TEST(HistogramGpu, MoreThanTwoToThe31Elements) {
  TS_REQUIRE_CUDA();
  const int64_t n = (int64_t(1) << 31) + 4099;
  auto t = torch::zeros({n}, torch::TensorOptions().dtype(torch::kByte).device(torch::kCUDA));
  t.index_put_({Slice(n - 3, n)}, 255);             // beyond 2^31: needs 64-bit indexing
  t.index_put_({(int64_t(1) << 31) - 1}, 7);
  const auto r = histograms({t}, {64});
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

TEST(HistogramGpu, PlanFollowsNewDataPointers) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(7);
  std::vector<torch::Tensor> a = {torch::randn({1000}, torch::kCUDA), torch::randn({40000}, torch::kCUDA)};
  std::vector<torch::Tensor> b = {torch::rand({1000}, torch::kCUDA).to(torch::kDouble) + 5,
                                  torch::randn({40000}, torch::kCUDA).to(torch::kHalf)};
  HistogramPlan plan = histogram_plan(a, {32});
  for (const auto* list : {&a, &b, &a, &b, &b}) {
    enqueue_histograms(plan, *list);
    std::vector<torch::Tensor> on_cpu;
    for (const auto& t : *list) on_cpu.push_back(t.cpu());
    expect_identical(plan.results(), histograms(on_cpu, {32}), "refresh");
  }
}

TEST(HistogramGpu, NonContiguousTensorsGoThroughTheAdapter) {
  TS_REQUIRE_CUDA();
  auto base = torch::randn({256, 96}, torch::kCUDA);
  std::vector<torch::Tensor> views = {base.t(), base.index({Slice(), Slice(1, torch::indexing::None, 5)})};
  const auto gpu = histograms(views, {64});
  const auto cpu = histograms({views[0].cpu(), views[1].cpu()}, {64});
  expect_identical(gpu, cpu, "views");
  // The core API itself asks for contiguous CUDA data and names the tensor.
  try {
    histograms({view_of(base), view_of(views[0])});
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensors[1]"), std::string::npos) << e.what();
  }
}

TEST(HistogramGpu, WholeEnqueueCapturedInAGraph) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(8);
  std::vector<torch::Tensor> list = {torch::randn({64, 3, 7, 7}, torch::kCUDA), torch::randn({300000}, torch::kCUDA),
                                     torch::randn({5}, torch::kCUDA).to(torch::kBFloat16)};
  HistogramPlan plan = histogram_plan(list, {64});
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
TEST(HistogramGpu, CaptureThenEagerWithOtherDataThenReplays) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(9);
  std::vector<torch::Tensor> captured = {torch::randn({5000}, torch::kCUDA), torch::randn({70000}, torch::kCUDA)};
  std::vector<torch::Tensor> other = {torch::rand({5000}, torch::kCUDA) + 10,
                                      torch::randn({70000}, torch::kCUDA).to(torch::kHalf)};
  HistogramPlan plan = histogram_plan(captured, {32});
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
TEST(HistogramGpu, ReuseOnAnotherStreamIsOrdered) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(10);
  std::vector<torch::Tensor> big = {torch::randn({1 << 24}, torch::kCUDA)};
  std::vector<torch::Tensor> small = {torch::rand({1 << 24}, torch::kCUDA)};
  HistogramPlan plan = histogram_plan(big, {64});
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

}  // namespace
}  // namespace trainscope
#endif
