// segmentation_to_rgb (declared in trainscope/ops/colorize.h): the fused logits → RGB path.
#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

#include "common/check.h"
#include "ops/element_readers.h"
#include "common/parallel.h"
#include "logit_math.h"  // kernels/: the argmax order shared with the CUDA kernels
#include "ops/simd/logits_cpu_simd.h"
#include "ops/simd/packed_of.h"
#include "trainscope/ops/colorize.h"

#ifdef TRAINSCOPE_WITH_CUDA
#include "ops/kernel_palette.h"
#include "segmentation.h"  // kernels/
#endif

namespace trainscope {
namespace {

constexpr const char* kOp = "segmentation_to_rgb";

int64_t target_at(const TensorView& target, int64_t offset) {
  int64_t id = 0;
  detail::dispatch<detail::MaskIdDTypes>(target.dtype, [&](auto tag) {
    id = static_cast<int64_t>(target.data_as<const typename decltype(tag)::type>()[offset]);
  });
  return id;
}

template <typename Reader>
void segmentation_cpu(const TensorView& logits, ChannelLayout layout, const Palette& palette, Rgb ignore,
                      uint8_t* rgb, const SegmentationStats& stats, const TensorView* target,
                      detail::logits_simd::Packed packed) {
  using Storage = typename Reader::Storage;
  const auto* base = logits.data_as<const Storage>();
  const bool first = layout == ChannelLayout::ChannelsFirst;
  const int64_t n_stride = logits.strides[0];
  const int64_t c_stride = logits.strides[first ? 1 : 3];
  const int64_t h_stride = logits.strides[first ? 2 : 1];
  const int64_t w_stride = logits.strides[first ? 3 : 2];
  const int64_t classes = logits.shape[first ? 1 : 3];
  const int64_t height = logits.shape[first ? 2 : 1], width = logits.shape[first ? 3 : 2];
  const int64_t pixels = logits.shape[0] * height * width;
  const int palette_size = palette.size();
  const bool want_iou = target && (stats.intersection.data || stats.union_counts.data);

  auto* counts = stats.class_counts.data_as<int64_t>();
  auto* intersection = stats.intersection.data_as<int64_t>();
  auto* union_counts = stats.union_counts.data_as<int64_t>();
  for (int64_t* out : {counts, intersection, union_counts}) {
    if (out) std::fill(out, out + classes, 0);
  }

  // Vector path (ops/simd/): channels first with unit stride along W. The argmax runs across a run
  // of pixels of one image row (lanes = consecutive x, a loop over channels); colours and counts
  // then go pixel by pixel from a palette table, the ignore colour at index palette_size.
  namespace simd = detail::logits_simd;
  const simd::Isa isa = simd::active_isa();
  if (isa != simd::Isa::Scalar && first && w_stride == 1) {
    const int shown = static_cast<int>(std::min<int64_t>(classes, palette_size));
    std::vector<uint32_t> table(std::size_t(shown) + 1);
    for (int c = 0; c <= shown; ++c) {
      const Rgb color = c < shown ? palette[c] : ignore;
      table[std::size_t(c)] = uint32_t(color.r) | uint32_t(color.g) << 8 | uint32_t(color.b) << 16;
    }
    std::mutex merge;
    detail::parallel_for(pixels, 4096, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> local_counts(counts ? 4 * classes : 0, 0);
      std::vector<int64_t> local_inter(want_iou ? classes : 0, 0), local_union(want_iou ? classes : 0, 0);
      std::vector<int32_t> classes_of(std::size_t(std::min<int64_t>(width, end - begin)));
      for (int64_t p = begin; p < end;) {
        const int64_t x0 = p % width, y = (p / width) % height, n = p / (width * height);
        const int64_t run = std::min(width - x0, end - p);
        simd::argmax_channels(isa, packed, base + n * n_stride + y * h_stride + x0, c_stride,
                              static_cast<int>(classes), run, classes_of.data());
        // Four-byte stores, each overwriting the next pixel's first byte before that pixel is
        // written; the run's last pixel, whose next byte may be another task's, stores three.
        uint8_t* out = rgb + 3 * p;
        for (int64_t i = 0; i + 1 < run; ++i) {
          const uint32_t color = table[std::size_t(std::min(classes_of[std::size_t(i)], shown))];
          std::memcpy(out + 3 * i, &color, 4);
        }
        const uint32_t last = table[std::size_t(std::min(classes_of[std::size_t(run - 1)], shown))];
        std::memcpy(out + 3 * (run - 1), &last, 3);
        if (counts) {  // four tables in turn: a run of one class does not wait on one counter
          int64_t* table4 = local_counts.data();
          const std::size_t cs = std::size_t(classes);
          int64_t i = 0;
          for (; i + 4 <= run; i += 4) {
            ++table4[std::size_t(classes_of[std::size_t(i)])];
            ++table4[cs + std::size_t(classes_of[std::size_t(i + 1)])];
            ++table4[2 * cs + std::size_t(classes_of[std::size_t(i + 2)])];
            ++table4[3 * cs + std::size_t(classes_of[std::size_t(i + 3)])];
          }
          for (; i < run; ++i) ++table4[std::size_t(classes_of[std::size_t(i)])];
        }
        if (want_iou) {
          for (int64_t i = 0; i < run; ++i) {
            const int cls = classes_of[std::size_t(i)];
            const int64_t t = target_at(*target, n * target->strides[0] + y * target->strides[1] +
                                                     (x0 + i) * target->strides[2]);
            if (t >= 0 && t < classes) {
              ++local_union[std::size_t(cls)];
              if (t == cls) {
                ++local_inter[std::size_t(cls)];
              } else {
                ++local_union[std::size_t(t)];
              }
            }
          }
        }
        p += run;
      }
      std::lock_guard<std::mutex> lock(merge);
      for (int64_t c = 0; c < classes; ++c) {
        if (counts) {
          for (int64_t j = 0; j < 4; ++j) counts[c] += local_counts[std::size_t(j * classes + c)];
        }
        if (want_iou && intersection) intersection[c] += local_inter[std::size_t(c)];
        if (want_iou && union_counts) union_counts[c] += local_union[std::size_t(c)];
      }
    });
    return;
  }

  std::mutex merge;
  detail::parallel_for(pixels, 4096, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> local_counts(counts ? classes : 0, 0);
    std::vector<int64_t> local_inter(want_iou ? classes : 0, 0), local_union(want_iou ? classes : 0, 0);
    for (int64_t p = begin; p < end; ++p) {
      const int64_t x = p % width, y = (p / width) % height, n = p / (width * height);
      const Storage* pixel = base + n * n_stride + y * h_stride + x * w_stride;
      kernels::ArgmaxState best;
      best.reset();
      for (int64_t c = 0; c < classes; ++c) best.add(Reader::load(pixel + c * c_stride), static_cast<int>(c));
      const int cls = best.index;
      const Rgb color = cls < palette_size ? palette[cls] : ignore;
      rgb[3 * p + 0] = color.r;
      rgb[3 * p + 1] = color.g;
      rgb[3 * p + 2] = color.b;
      if (counts) ++local_counts[std::size_t(cls)];
      if (want_iou) {
        const int64_t t = target_at(*target, n * target->strides[0] + y * target->strides[1] +
                                                 x * target->strides[2]);
        if (t >= 0 && t < classes) {  // pixels with a target outside [0, C) are left out of IoU
          ++local_union[std::size_t(cls)];
          if (t == cls) {
            ++local_inter[std::size_t(cls)];
          } else {
            ++local_union[std::size_t(t)];
          }
        }
      }
    }
    std::lock_guard<std::mutex> lock(merge);
    for (int64_t c = 0; c < classes; ++c) {
      if (counts) counts[c] += local_counts[std::size_t(c)];
      if (want_iou && intersection) intersection[c] += local_inter[std::size_t(c)];
      if (want_iou && union_counts) union_counts[c] += local_union[std::size_t(c)];
    }
  });
}

void check_count_output(const TensorView& t, const char* arg, int64_t classes, const TensorView& logits) {
  detail::check_not_null(t, kOp, arg);
  detail::check(t.dtype == DType::Int64 && t.shape == std::vector<int64_t>{classes}, kOp, arg,
                "expected int64 of shape [", classes, "], got ", t.describe());
  detail::check(t.is_contiguous(), kOp, arg, "must be contiguous, got ", t.describe());
  detail::check_same_device(logits, t, kOp, arg);
}

}  // namespace

void segmentation_to_rgb(const TensorView& logits, ChannelLayout layout, const Palette& palette,
                         const TensorView& rgb, const SegmentationStats& stats, const TensorView* target,
                         const MaskToRgbOptions& options, Stream stream) {
  using detail::check;
  detail::check_not_null(logits, kOp, "logits");
  detail::check_not_null(rgb, kOp, "rgb");
  const bool first = layout == ChannelLayout::ChannelsFirst;
  check(logits.rank() == 4, kOp, "logits", "expected rank 4 ", first ? "[N, C, H, W]" : "[N, H, W, C]",
        ", got ", logits.describe());
  check(detail::accepts<detail::FloatDTypes>(logits.dtype), kOp, "logits", "expected dtype ",
        detail::names<detail::FloatDTypes>(), ", got ", logits.describe());
  const int64_t n = logits.shape[0], classes = logits.shape[first ? 1 : 3];
  const int64_t height = logits.shape[first ? 2 : 1], width = logits.shape[first ? 3 : 2];
  check(classes >= 1 && classes <= std::numeric_limits<int32_t>::max(), kOp, "logits",
        "expected 1 ≤ C < 2^31 classes, got ", logits.describe());
  check(rgb.dtype == DType::UInt8 && rgb.shape == std::vector<int64_t>{n, height, width, 3}, kOp, "rgb",
        "expected uint8 of shape [", n, ", ", height, ", ", width, ", 3], got ", rgb.describe());
  check(rgb.is_contiguous(), kOp, "rgb", "must be contiguous, got ", rgb.describe());
  detail::check_same_device(logits, rgb, kOp, "rgb");
  if (stats.class_counts.data) check_count_output(stats.class_counts, "stats.class_counts", classes, logits);
  if (stats.intersection.data) check_count_output(stats.intersection, "stats.intersection", classes, logits);
  if (stats.union_counts.data) check_count_output(stats.union_counts, "stats.union_counts", classes, logits);
  if (stats.intersection.data || stats.union_counts.data) {
    check(target != nullptr, kOp, "target", "is required for stats.intersection and stats.union_counts");
  }
  if (target) {
    detail::check_not_null(*target, kOp, "target");
    check(detail::accepts<detail::MaskIdDTypes>(target->dtype), kOp, "target", "expected dtype ",
          detail::names<detail::MaskIdDTypes>(), ", got ", target->describe());
    check(target->shape == std::vector<int64_t>{n, height, width}, kOp, "target", "expected shape [", n, ", ",
          height, ", ", width, "] (the logits' N, H, W), got ", target->describe());
    detail::check_same_device(logits, *target, kOp, "target");
  }
  detail::check_device_usable(logits.device, kOp, "logits");

  auto* out = rgb.data_as<uint8_t>();
  if (!logits.device.is_cuda()) {
    detail::dispatch<detail::FloatDTypes>(logits.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      segmentation_cpu<typename detail::ReaderFor<T>::type>(logits, layout, palette, options.ignore_color, out, stats,
                                                            target, detail::logits_simd::packed_of<T>());
    });
    return;
  }
#ifdef TRAINSCOPE_WITH_CUDA
  check(logits.is_contiguous(), kOp, "logits", "must be contiguous on CUDA, got ", logits.describe());
  if (target) check(target->is_contiguous(), kOp, "target", "must be contiguous on CUDA, got ", target->describe());
  kernels::SegmentationLaunch args;
  args.logits = logits.data;
  args.dtype = logits.dtype;
  args.channels_last = !first;
  args.images = n;
  args.classes = static_cast<int>(classes);
  args.pixels_per_image = height * width;
  args.rgb = out;
  args.class_counts = stats.class_counts.data_as<int64_t>();
  args.intersection = target ? stats.intersection.data_as<int64_t>() : nullptr;
  args.union_counts = target ? stats.union_counts.data_as<int64_t>() : nullptr;
  args.target = target ? target->data : nullptr;
  args.target_dtype = target ? target->dtype : DType::Int64;
  kernels::launch_segmentation_to_rgb(args, detail::make_palette_param(palette, options.ignore_color),
                                      logits.device.index, stream);
#else
  (void)stream;
#endif
}

}  // namespace trainscope
