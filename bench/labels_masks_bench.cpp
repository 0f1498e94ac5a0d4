// Labels from logits, mask → RGB and fused segmentation logits → RGB: trainscope's ops against
// what PyTorch users do today (the anchors: argmax + softmax-max, palette[mask],
// palette[argmax(logits)]).
#include <cstdlib>

#include "harness.h"
#include "ops/simd/logits_cpu_simd.h"  // src/
#include "trainscope/torch.h"

namespace trainscope::bench {
namespace {

// The input and clones of it to cycle through, so repeated runs do not find it in the L2 cache.
std::vector<torch::Tensor> rotated(const Context& ctx, const torch::Tensor& t) {
  std::vector<torch::Tensor> copies = {t};
  const double bytes = double(t.numel()) * double(t.element_size());
  for (int i = 1; i < ctx.rotations(bytes); ++i) copies.push_back(t.clone());
  return copies;
}

// On the CPU: the vector path the subject takes (TRAINSCOPE_CPU_ISA caps it), and a run of `fn`
// on the scalar path, the reference the vector paths replace.
void note_cpu_path(const Context& ctx, CaseResult& r) {
  if (!ctx.on_cuda()) r.about["cpu_path"] = detail::logits_simd::isa_name(detail::logits_simd::active_isa());
}
void add_scalar_variant(const Context& ctx, CaseResult& r, const std::function<void()>& fn, int reps) {
  if (ctx.on_cuda() || detail::logits_simd::active_isa() == detail::logits_simd::Isa::Scalar) return;
  const char* before = std::getenv("TRAINSCOPE_CPU_ISA");
  const std::string saved = before ? before : "";
  setenv("TRAINSCOPE_CPU_ISA", "scalar", 1);
  r.add("trainscope_scalar_path", ctx.time_ms(fn, reps, 1));
  if (before) {
    setenv("TRAINSCOPE_CPU_ISA", saved.c_str(), 1);
  } else {
    unsetenv("TRAINSCOPE_CPU_ISA");
  }
}

torch::Tensor palette_table(const Palette& p, const Context& ctx) {
  auto table = torch::empty({p.size(), 3}, torch::kUInt8);
  for (int i = 0; i < p.size(); ++i) {
    table[i][0] = p[i].r;
    table[i][1] = p[i].g;
    table[i][2] = p[i].b;
  }
  return table.to(ctx.device());
}

void run_labels_case(Context& ctx, torch::ScalarType dtype, const std::string& tag, int64_t n, int64_t c) {
  if (ctx.small()) {  // tiny, but each shape keeps its kind (many rows, few classes, odd row length)
    n = n > 8192 ? 512 : 256;
    c = c > 1000 ? 101 : std::min<int64_t>(c, 100);
  }
  const std::string name = "labels_" + std::to_string(n) + "x" + std::to_string(c) + "_" + tag;
  if (!ctx.on_cuda() && !ctx.small() && !ctx.options().all_sets && double(n) * double(c) > 1e8) {
    ctx.note(name, "skipped on the CPU (over 10^8 logits); pass --all-sets to run it");
    return;
  }
  const auto inputs = rotated(ctx, torch::randn({n, c}, ctx.tensor_options()).to(dtype));
  // Moved: the logits read, one int64 label and one fp32 confidence written per row.
  const double bytes = double(n * c) * double(inputs[0].element_size()) + double(n) * 12;
  CaseResult r = ctx.new_case(name, bytes);
  r.about = {{"shape", {n, c}}, {"dtype", tag}, {"rotations", inputs.size()}, {"outputs", "label int64 + confidence fp32"}};

  auto labels = torch::empty({n}, ctx.tensor_options().dtype(torch::kLong));
  auto confidence = torch::empty({n}, ctx.tensor_options().dtype(torch::kFloat));
  LabelOutputs outputs;
  outputs.labels = view_of(labels);
  outputs.confidence = view_of(confidence);
  const Stream stream = current_stream(ctx.device());
  std::size_t turn = 0;
  auto next = [&]() -> const torch::Tensor& { return inputs[turn++ % inputs.size()]; };
  const int reps = ctx.small() ? 3 : 50;

  const auto subject = [&] { labels_from_logits(view_of(next()), outputs, nullptr, {}, stream); };
  r.add("trainscope", ctx.device_time_ms(subject, reps, 3), ctx.time_ms(subject, reps, 3));
  r.add("torch_argmax_plus_softmax_max", ctx.time_ms([&] {
          const auto& x = next();
          auto l = x.argmax(1);
          auto m = torch::softmax(x.to(torch::kFloat), 1).max(1);
        }, reps, 3));
  r.add("torch_argmax", ctx.time_ms([&] { next().argmax(1); }, reps, 3));
  note_cpu_path(ctx, r);
  add_scalar_variant(ctx, r, subject, std::max(3, reps / 5));

  // The subject did the whole job: its labels are torch's, its confidences torch's softmax.
  labels_from_logits(view_of(inputs[0]), outputs, nullptr, {}, stream);
  const auto expected = torch::softmax(inputs[0].to(torch::kFloat), 1).max(1);
  r.about["labels_match_torch_argmax"] = torch::equal(labels, inputs[0].argmax(1));
  r.about["max_confidence_error"] = (confidence - std::get<0>(expected)).abs().max().item<double>();
  ctx.report(std::move(r));
}

}  // namespace

// The issue-#16 grid, N ∈ {8192, 1M} × C ∈ {10, 1000, 50257}, fp32 (and bf16 for C = 1000): each
// C takes a different CUDA mapping (docs/ops.md: lanes, a warp or a block per row), and 50257
// rows are not a multiple of 16 bytes (scalar head and tail around 16-byte loads).
TRAINSCOPE_BENCH_CASE(labels_fp32) { run_labels_case(ctx, torch::kFloat, "fp32", 8192, 1000); }
TRAINSCOPE_BENCH_CASE(labels_bf16) { run_labels_case(ctx, torch::kBFloat16, "bf16", 8192, 1000); }
TRAINSCOPE_BENCH_CASE(labels_fp32_c10_8192) { run_labels_case(ctx, torch::kFloat, "fp32", 8192, 10); }
TRAINSCOPE_BENCH_CASE(labels_fp32_c10) { run_labels_case(ctx, torch::kFloat, "fp32", 1 << 20, 10); }
TRAINSCOPE_BENCH_CASE(labels_fp32_c1000_1M) { run_labels_case(ctx, torch::kFloat, "fp32", 1 << 20, 1000); }
TRAINSCOPE_BENCH_CASE(labels_bf16_c1000_1M) { run_labels_case(ctx, torch::kBFloat16, "bf16", 1 << 20, 1000); }
TRAINSCOPE_BENCH_CASE(labels_fp32_c50257) { run_labels_case(ctx, torch::kFloat, "fp32", 8192, 50257); }
// 1M × 50257 fp32 would be 211 GB, beyond the card; 40000 rows (8.0 GB) stand in for "many rows".
TRAINSCOPE_BENCH_CASE(labels_fp32_c50257_40000) { run_labels_case(ctx, torch::kFloat, "fp32", 40000, 50257); }
TRAINSCOPE_BENCH_CASE(labels_fp32_c50257_1M) {
  ctx.note("labels_1048576x50257_fp32", "not run: 211 GB of fp32 logits exceed the device's memory; "
                                        "labels_40000x50257_fp32 (8.0 GB) stands in");
}

TRAINSCOPE_BENCH_CASE(mask_to_rgb_int64) {
  const int64_t b = ctx.small() ? 2 : 16, h = ctx.small() ? 64 : 512, w = h;
  const std::string name = "mask_to_rgb_" + std::to_string(b) + "x" + std::to_string(h) + "x" + std::to_string(w) + "_int64";
  const Palette palette = Palette::default_for(21);
  const auto table = palette_table(palette, ctx);
  const auto masks = rotated(ctx, torch::randint(0, 21, {b, h, w}, ctx.tensor_options().dtype(torch::kLong)));
  const double pixels = double(b * h * w);
  CaseResult r = ctx.new_case(name, pixels * 8 + pixels * 3);  // ids read + RGB written, as the anchor
  r.about = {{"shape", {b, h, w}}, {"classes", 21}, {"rotations", masks.size()}};

  auto rgb = torch::empty({b, h, w, 3}, ctx.tensor_options().dtype(torch::kUInt8));
  auto ignored = torch::empty({}, ctx.tensor_options().dtype(torch::kLong));
  const TensorView rgb_view = view_of(rgb), ignored_view = view_of(ignored);
  const Stream stream = current_stream(ctx.device());
  std::size_t turn = 0;
  auto next = [&]() -> const torch::Tensor& { return masks[turn++ % masks.size()]; };
  const int reps = ctx.small() ? 3 : 50;
  const auto subject = [&] { mask_to_rgb(view_of(next()), palette, rgb_view, &ignored_view, {}, stream); };
  r.add("trainscope", ctx.device_time_ms(subject, reps, 3), ctx.time_ms(subject, reps, 3));
  r.add("torch_palette_index", ctx.time_ms([&] { table.index({next()}); }, reps, 3));

  mask_to_rgb(view_of(masks[0]), palette, rgb_view, &ignored_view, {}, stream);
  r.about["rgb_matches_torch"] = torch::equal(rgb, table.index({masks[0]}));
  ctx.report(std::move(r));
}

TRAINSCOPE_BENCH_CASE(segmentation_to_rgb_fp32) {
  const int64_t b = ctx.small() ? 1 : 8, c = 21, h = ctx.small() ? 64 : 512, w = h;
  const std::string name = "seg_logits_to_rgb_" + std::to_string(b) + "x" + std::to_string(c) + "x" + std::to_string(h) +
                           "x" + std::to_string(w) + "_fp32";
  const Palette palette = Palette::default_for(int(c));
  const auto table = palette_table(palette, ctx);
  const auto inputs = rotated(ctx, torch::randn({b, c, h, w}, ctx.tensor_options()));
  const double pixels = double(b * h * w);
  CaseResult r = ctx.new_case(name, pixels * double(c) * 4 + pixels * 3);  // logits read + RGB written
  r.about = {{"shape", {b, c, h, w}}, {"layout", "channels_first"}, {"rotations", inputs.size()},
             {"trainscope_outputs", "rgb + per-class pixel counts, on the device"}};

  auto rgb = torch::empty({b, h, w, 3}, ctx.tensor_options().dtype(torch::kUInt8));
  auto counts = torch::empty({c}, ctx.tensor_options().dtype(torch::kLong));
  SegmentationStats stats;
  stats.class_counts = view_of(counts);
  const TensorView rgb_view = view_of(rgb);
  const Stream stream = current_stream(ctx.device());
  std::size_t turn = 0;
  auto next = [&]() -> const torch::Tensor& { return inputs[turn++ % inputs.size()]; };
  const int reps = ctx.small() ? 3 : 50;
  const auto subject = [&] {
    segmentation_to_rgb(view_of(next()), ChannelLayout::ChannelsFirst, palette, rgb_view, stats, nullptr, {}, stream);
  };
  r.add("trainscope", ctx.device_time_ms(subject, reps, 3), ctx.time_ms(subject, reps, 3));
  r.add("torch_argmax_palette_index", ctx.time_ms([&] { table.index({next().argmax(1)}); }, reps, 3));
  r.add("torch_argmax_palette_index_bincount", ctx.time_ms([&] {
          auto classes = next().argmax(1);
          auto colours = table.index({classes});
          auto per_class = torch::bincount(classes.flatten(), {}, c);
        }, reps, 3));
  note_cpu_path(ctx, r);
  add_scalar_variant(ctx, r, subject, std::max(3, reps / 5));

  segmentation_to_rgb(view_of(inputs[0]), ChannelLayout::ChannelsFirst, palette, rgb_view, stats, nullptr, {}, stream);
  const auto classes = inputs[0].argmax(1);
  r.about["rgb_matches_torch"] = torch::equal(rgb, table.index({classes}));
  r.about["counts_match_torch"] = torch::equal(counts, torch::bincount(classes.flatten(), {}, c));
  ctx.report(std::move(r));
}

}  // namespace trainscope::bench
