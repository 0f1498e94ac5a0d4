// CUDA labels and fused segmentation against the CPU path (identical labels, RGB and counts;
// confidences within a tight float tolerance) and against torch on the GPU.
#include <gtest/gtest.h>

#include <limits>

#include "support/gpu.h"
#include "trainscope/torch.h"

#ifdef TRAINSCOPE_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

namespace trainscope {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

void expect_close_with_nan(const torch::Tensor& actual, const torch::Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  EXPECT_TRUE(torch::equal(actual.isnan(), expected.isnan())) << what;
  EXPECT_TRUE(torch::allclose(actual, expected, 1e-5, 1e-7, /*equal_nan=*/true))
      << what << ": max difference " << (actual - expected).abs().nan_to_num(0).max();
}

// Random logits with NaN, ±Inf, all-equal rows, −Inf rows and exact ties sprinkled in.
torch::Tensor adversarial_logits(int64_t n, int64_t c, uint64_t seed) {
  torch::manual_seed(seed);
  auto x = torch::randn({n, c}) * 3;
  auto u = torch::rand({n, c});
  x.masked_fill_(u < 0.002, kNaN);
  x.masked_fill_((u >= 0.002) & (u < 0.004), kInf);
  x.masked_fill_((u >= 0.004) & (u < 0.01), -kInf);
  x = torch::where(torch::rand({n, c}) < 0.1, x.round(), x);  // many exact ties
  if (n > 4) {
    x[1].fill_(1.f);
    x[2].fill_(-kInf);
    x[3].fill_(0.f);
    x[3][c - 1] = 1.f;  // the maximum in the tail of the row
  }
  return x;
}

void expect_same_labels(const torch::Tensor& logits, const LabelOptions& opt, const std::string& what) {
  auto cpu = labels_from_logits(logits.cpu(), opt);
  auto gpu = labels_from_logits(logits.cuda(), opt);
  EXPECT_TRUE(torch::equal(cpu.labels, gpu.labels.cpu())) << what;
  expect_close_with_nan(gpu.confidence.cpu(), cpu.confidence, what + " confidence");
  if (opt.top_k) {
    EXPECT_TRUE(torch::equal(cpu.top_k_labels, gpu.top_k_labels.cpu())) << what;
    expect_close_with_nan(gpu.top_k_confidence.cpu(), cpu.top_k_confidence, what + " top-k");
  }
}

TEST(LabelsGpu, IdenticalToCpuOnRandomAndAdversarialData) {
  TS_REQUIRE_CUDA();
  uint64_t seed = 1;
  for (auto dtype : {torch::kFloat, torch::kHalf, torch::kBFloat16}) {
    for (auto shape : std::vector<std::pair<int64_t, int64_t>>{{8192, 1000}, {37, 3}, {100, 4099}, {5, 2}, {64, 33}}) {
      const auto what = std::string(c10::toString(dtype)) + " " + std::to_string(shape.first) + "x" +
                        std::to_string(shape.second);
      auto logits = adversarial_logits(shape.first, shape.second, seed++).to(dtype);
      expect_same_labels(logits, {}, what);
      LabelOptions top;
      top.top_k = std::min<int>(5, int(shape.second));
      expect_same_labels(logits, top, what + " top-k");
    }
  }
}

TEST(LabelsGpu, UnalignedAndStridedRowsMatchCpu) {
  TS_REQUIRE_CUDA();
  auto wide = adversarial_logits(300, 1003, 42);
  auto sliced = wide.cuda().slice(1, 1, 1001);  // rows start one element in: a scalar head, then vectors
  auto cpu = labels_from_logits(wide.slice(1, 1, 1001));
  auto gpu = labels_from_logits(sliced);
  EXPECT_TRUE(torch::equal(cpu.labels, gpu.labels.cpu()));
  expect_close_with_nan(gpu.confidence.cpu(), cpu.confidence, "sliced");
}

TEST(LabelsGpu, AgreesWithTorchArgmaxAndSoftmaxOnTheGpu) {
  TS_REQUIRE_CUDA();
  for (auto dtype : {torch::kFloat, torch::kHalf, torch::kBFloat16}) {
    auto logits = adversarial_logits(2048, 1000, 7).to(dtype).cuda();
    auto out = labels_from_logits(logits);
    EXPECT_TRUE(torch::equal(out.labels, logits.argmax(1))) << c10::toString(dtype);
    auto expected = torch::softmax(logits.to(torch::kFloat), 1).gather(1, out.labels.view({-1, 1})).view({-1});
    expect_close_with_nan(out.confidence.cpu(), expected.cpu(), c10::toString(dtype));
  }
}

TEST(LabelsGpu, BinaryAndConfusionMatchCpu) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(11);
  for (int64_t c : {1, 10}) {
    auto logits = torch::randn({4000, c});
    logits[5][0] = kNaN;
    LabelOptions opt;
    opt.apply_sigmoid = c == 1;
    opt.top_k = 2;
    const int64_t cc = std::max<int64_t>(c, 2);
    auto cpu_conf = torch::zeros({cc, cc}, torch::kLong), cpu_ignored = torch::zeros({}, torch::kLong);
    auto gpu_conf = cpu_conf.cuda(), gpu_ignored = cpu_ignored.cuda();
    for (int call = 0; call < 2; ++call) {
      auto targets = torch::randint(-1, cc + 1, {4000}, torch::kLong);
      auto cpu = labels_from_logits(logits, targets, cpu_conf, cpu_ignored, opt);
      auto gpu = labels_from_logits(logits.cuda(), targets.cuda(), gpu_conf, gpu_ignored, opt);
      EXPECT_TRUE(torch::equal(cpu.labels, gpu.labels.cpu()));
      EXPECT_TRUE(torch::equal(cpu.top_k_labels, gpu.top_k_labels.cpu()));
      expect_close_with_nan(gpu.confidence.cpu(), cpu.confidence, "C=" + std::to_string(c));
    }
    EXPECT_TRUE(torch::equal(cpu_conf, gpu_conf.cpu()));
    EXPECT_EQ(cpu_ignored.item<int64_t>(), gpu_ignored.item<int64_t>());
    EXPECT_EQ(cpu_conf.sum().item<int64_t>() + cpu_ignored.item<int64_t>(), 8000);
  }
}

void expect_same_segmentation(const torch::Tensor& logits, ChannelLayout layout, const Palette& p,
                              const torch::Tensor& target, const std::string& what) {
  MaskToRgbOptions opt;
  opt.ignore_color = {1, 2, 3};
  auto cpu = segmentation_to_rgb(logits.cpu(), layout, p, target.defined() ? target.cpu() : target, opt);
  auto gpu = segmentation_to_rgb(logits.cuda(), layout, p, target.defined() ? target.cuda() : target, opt);
  EXPECT_TRUE(torch::equal(cpu.rgb, gpu.rgb.cpu())) << what;
  EXPECT_TRUE(torch::equal(cpu.class_counts, gpu.class_counts.cpu())) << what;
  if (target.defined()) {
    EXPECT_TRUE(torch::equal(cpu.intersection, gpu.intersection.cpu())) << what;
    EXPECT_TRUE(torch::equal(cpu.union_counts, gpu.union_counts.cpu())) << what;
  }
}

TEST(SegmentationGpu, IdenticalToCpuInBothLayouts) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(12);
  for (auto dtype : {torch::kFloat, torch::kHalf, torch::kBFloat16}) {
    // {N, C, H, W}: vector paths, odd H·W (scalar path), one pixel, C beyond the shared counters.
    for (auto s : std::vector<std::vector<int64_t>>{{8, 21, 64, 64}, {2, 5, 7, 9}, {1, 3, 1, 1}, {1, 3000, 4, 8}, {3, 16, 8, 8}}) {
      auto logits = adversarial_logits(s[0] * s[2] * s[3], s[1], uint64_t(s[1] + s[2])).view({s[0], s[2], s[3], s[1]});
      auto last = logits.to(dtype).contiguous();
      auto first = last.permute({0, 3, 1, 2}).contiguous();
      const Palette p = Palette::default_for(int(std::min<int64_t>(s[1] - 1 > 0 ? s[1] - 1 : 1, Palette::kMaxClasses)));
      for (auto tdtype : {torch::kByte, torch::kInt, torch::kLong}) {
        // Ids up to C + 1: out-of-range targets are left out of IoU (uint8 saturates at 255).
        auto target = torch::randint(0, s[1] + 2, {s[0], s[2], s[3]}, torch::kLong).clamp_max(255).to(tdtype);
        const std::string what = std::string(c10::toString(dtype)) + " C=" + std::to_string(s[1]) + " H·W=" +
                                 std::to_string(s[2] * s[3]) + " target " + c10::toString(tdtype);
        expect_same_segmentation(first, ChannelLayout::ChannelsFirst, p, target, what + " first");
        expect_same_segmentation(last, ChannelLayout::ChannelsLast, p, target, what + " last");
      }
      expect_same_segmentation(first, ChannelLayout::ChannelsFirst, p, {}, "no target");
    }
  }
}

TEST(SegmentationGpu, AgreesWithTorchArgmaxAndPaletteIndexing) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(13);
  const Palette p = Palette::default_for(21);
  auto logits = torch::randn({8, 21, 128, 128}, torch::kCUDA);
  auto out = segmentation_to_rgb(logits, ChannelLayout::ChannelsFirst, p);
  auto table = torch::empty({21, 3}, torch::kUInt8);
  for (int i = 0; i < 21; ++i) {
    table[i][0] = p[i].r;
    table[i][1] = p[i].g;
    table[i][2] = p[i].b;
  }
  auto classes = logits.argmax(1);
  EXPECT_TRUE(torch::equal(out.rgb, table.cuda().index({classes})));
  EXPECT_TRUE(torch::equal(out.class_counts, torch::bincount(classes.flatten(), {}, 21)));
  // The same logits in torch's channels_last memory format (read in place as channels-last).
  auto memory_last = segmentation_to_rgb(logits.contiguous(at::MemoryFormat::ChannelsLast),
                                         ChannelLayout::ChannelsFirst, p);
  EXPECT_TRUE(torch::equal(memory_last.rgb, out.rgb));
  EXPECT_TRUE(torch::equal(memory_last.class_counts, out.class_counts));
}

// Both ops enqueue only stream work (no allocation, no host sync): they record into a CUDA graph,
// and replaying the graph gives the CPU results.
TEST(LabelsGpu, LabelsAndSegmentationRecordIntoACudaGraph) {
  TS_REQUIRE_CUDA();
  auto logits = adversarial_logits(1024, 100, 21).cuda();
  auto targets = torch::randint(-1, 101, {1024}, torch::TensorOptions().dtype(torch::kLong).device(torch::kCUDA));
  auto labels = torch::empty({1024}, targets.options());
  auto confidence = torch::empty({1024}, logits.options());
  auto confusion = torch::zeros({100, 100}, targets.options());
  auto ignored = torch::zeros({}, targets.options());
  auto seg_logits = torch::randn({2, 21, 32, 32}, logits.options());
  auto seg_target = torch::randint(0, 21, {2, 32, 32}, targets.options());
  auto rgb = torch::empty({2, 32, 32, 3}, logits.options().dtype(torch::kUInt8));
  auto counts = torch::full({21}, -5, targets.options()), inter = counts.clone(), uni = counts.clone();
  const Palette p = Palette::default_for(21);

  LabelOutputs outputs;
  outputs.labels = view_of(labels);
  outputs.confidence = view_of(confidence);
  LabelTargets t;
  t.targets = view_of(targets);
  t.confusion = view_of(confusion);
  t.ignored = view_of(ignored);
  SegmentationStats stats;
  stats.class_counts = view_of(counts);
  stats.intersection = view_of(inter);
  stats.union_counts = view_of(uni);
  const TensorView target_view = view_of(seg_target);

  auto stream = c10::cuda::getStreamFromPool();
  c10::cuda::CUDAStreamGuard guard(stream);
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  ASSERT_EQ(cudaStreamBeginCapture(stream.stream(), cudaStreamCaptureModeThreadLocal), cudaSuccess);
  labels_from_logits(view_of(logits), outputs, &t, {}, current_stream(logits.device()));
  segmentation_to_rgb(view_of(seg_logits), ChannelLayout::ChannelsFirst, p, view_of(rgb), stats, &target_view, {},
                      current_stream(logits.device()));
  ASSERT_EQ(cudaStreamEndCapture(stream.stream(), &graph), cudaSuccess);
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream.stream()), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream.stream()), cudaSuccess);  // confusion accumulates twice
  stream.synchronize();

  auto cpu_conf = torch::zeros({100, 100}, torch::kLong), cpu_ignored = torch::zeros({}, torch::kLong);
  labels_from_logits(logits.cpu(), targets.cpu(), cpu_conf, cpu_ignored);
  auto cpu = labels_from_logits(logits.cpu(), targets.cpu(), cpu_conf, cpu_ignored);
  EXPECT_TRUE(torch::equal(labels.cpu(), cpu.labels));
  expect_close_with_nan(confidence.cpu(), cpu.confidence, "graph");
  EXPECT_TRUE(torch::equal(confusion.cpu(), cpu_conf));
  EXPECT_EQ(ignored.item<int64_t>(), cpu_ignored.item<int64_t>());
  auto seg = segmentation_to_rgb(seg_logits.cpu(), ChannelLayout::ChannelsFirst, p, seg_target.cpu());
  EXPECT_TRUE(torch::equal(rgb.cpu(), seg.rgb));
  EXPECT_TRUE(torch::equal(counts.cpu(), seg.class_counts));  // overwritten, not accumulated
  EXPECT_TRUE(torch::equal(inter.cpu(), seg.intersection));
  EXPECT_TRUE(torch::equal(uni.cpu(), seg.union_counts));
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

TEST(LabelsGpu, RejectsNonUnitClassStrideAndMixedDevices) {
  TS_REQUIRE_CUDA();
  auto logits = torch::randn({16, 8}, torch::kCUDA);
  auto labels = torch::empty({16}, torch::TensorOptions().dtype(torch::kLong));  // on the CPU
  LabelOutputs outputs;
  outputs.labels = view_of(labels);
  EXPECT_THROW(labels_from_logits(view_of(logits), outputs), Error);
  auto gpu_labels = labels.cuda();
  outputs.labels = view_of(gpu_labels);
  EXPECT_THROW(labels_from_logits(view_of(logits.t().contiguous().t()), outputs), Error);  // class stride 16
}

// mask_to_rgb reads groups of four ids with one vector load when the mask is aligned, and falls
// back to scalar loads for views that start inside a buffer; both agree with the CPU.
TEST(MaskToRgbGpu, AlignedAndUnalignedMasksMatchCpu) {
  TS_REQUIRE_CUDA();
  torch::manual_seed(14);
  const Palette p = Palette::default_for(21);
  for (auto dtype : {torch::kByte, torch::kInt, torch::kLong}) {
    auto storage = torch::randint(-1, 23, {16 * 512 * 512 + 3}, torch::kLong).clamp_min(0).to(dtype);
    for (int64_t offset : {0, 1, 3}) {
      auto mask = storage.slice(0, offset, offset + 16 * 512 * 512).view({16, 512, 512});
      auto [cpu_rgb, cpu_ignored] = mask_to_rgb(mask, p);
      auto [gpu_rgb, gpu_ignored] = mask_to_rgb(mask.cuda(), p);  // a fresh, aligned copy
      auto gpu_storage = storage.cuda();
      auto gpu_view = gpu_storage.slice(0, offset, offset + 16 * 512 * 512 - 5);  // unaligned, tail of 3
      auto [view_rgb, view_ignored] = mask_to_rgb(gpu_view.view({1, -1}), p);
      EXPECT_TRUE(torch::equal(cpu_rgb.view({-1, 3}), gpu_rgb.cpu().view({-1, 3}))) << c10::toString(dtype);
      EXPECT_EQ(cpu_ignored.item<int64_t>(), gpu_ignored.item<int64_t>());
      auto [ref_rgb, ref_ignored] = mask_to_rgb(storage.slice(0, offset, offset + 16 * 512 * 512 - 5).view({1, -1}), p);
      EXPECT_TRUE(torch::equal(ref_rgb, view_rgb.cpu())) << c10::toString(dtype) << " offset " << offset;
      EXPECT_EQ(ref_ignored.item<int64_t>(), view_ignored.item<int64_t>());
    }
  }
}

}  // namespace
}  // namespace trainscope
#endif
