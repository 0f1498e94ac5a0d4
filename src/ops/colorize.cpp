#include "trainscope/ops/colorize.h"

#include <atomic>
#include <cmath>

#include "common/check.h"
#include "common/parallel.h"
#include "common/strided.h"
#include "dtype_dispatch.h"  // kernels/

#ifdef TRAINSCOPE_WITH_CUDA
#include "colorize.h"  // kernels/
#include "ops/kernel_palette.h"
#endif

namespace trainscope {
namespace {

constexpr const char* kOp = "mask_to_rgb";

uint8_t channel_from_unit(float c, const char* op) {
  detail::check(std::isfinite(c) && c >= 0.f && c <= 1.f, op, "class_colors",
                "each channel must be in [0, 1], got ", c);
  return static_cast<uint8_t>(std::lround(255.0 * c));
}

template <typename Id>
int64_t mask_to_rgb_cpu(const TensorView& mask, const Palette& palette, Rgb ignore, uint8_t* rgb) {
  const detail::StridedIndexer index(mask);
  const Id* ids = mask.data_as<const Id>();
  const int64_t k = palette.size();
  std::atomic<int64_t> ignored{0};
  detail::parallel_for(mask.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    int64_t local = 0;
    for (int64_t i = begin; i < end; ++i) {
      const int64_t id = static_cast<int64_t>(ids[index.offset(i)]);
      Rgb c = ignore;
      if (id >= 0 && id < k) {
        c = palette[static_cast<int>(id)];
      } else {
        ++local;
      }
      rgb[3 * i + 0] = c.r;
      rgb[3 * i + 1] = c.g;
      rgb[3 * i + 2] = c.b;
    }
    ignored += local;
  });
  return ignored.load();
}

}  // namespace

Palette::Palette(std::vector<Rgb> colors) : colors_(std::move(colors)) {
  detail::check(!colors_.empty() && colors_.size() <= std::size_t(kMaxClasses), "Palette", "colors",
                "expected 1..", kMaxClasses, " colours, got ", colors_.size());
}

Palette Palette::from_class_colors(const std::vector<std::array<float, 3>>& class_colors) {
  detail::check(!class_colors.empty() && class_colors.size() <= std::size_t(kMaxClasses),
                "Palette::from_class_colors", "class_colors", "expected 1..", kMaxClasses,
                " colours, got ", class_colors.size());
  std::vector<Rgb> colors;
  colors.reserve(class_colors.size());
  for (const auto& c : class_colors) {
    colors.push_back({channel_from_unit(c[0], "Palette::from_class_colors"),
                      channel_from_unit(c[1], "Palette::from_class_colors"),
                      channel_from_unit(c[2], "Palette::from_class_colors")});
  }
  return Palette(std::move(colors));
}

Palette Palette::default_for(int num_classes) {
  detail::check(num_classes >= 1 && num_classes <= kMaxClasses, "Palette::default_for",
                "num_classes", "expected 1..", kMaxClasses, ", got ", num_classes);
  std::vector<Rgb> colors(static_cast<std::size_t>(num_classes));
  for (int i = 1; i < num_classes; ++i) {
    // HSV with s = v = 1: hue h in [0, 1) split into six sectors.
    const double h = double(i - 1) / double(num_classes - 1);
    const double sector = h * 6.0;
    const int s = static_cast<int>(std::floor(sector)) % 6;
    const double f = sector - std::floor(sector);
    const double rise = f, fall = 1.0 - f;
    double r = 0, g = 0, b = 0;
    switch (s) {
      case 0: r = 1; g = rise; break;
      case 1: r = fall; g = 1; break;
      case 2: g = 1; b = rise; break;
      case 3: g = fall; b = 1; break;
      case 4: r = rise; b = 1; break;
      default: r = 1; b = fall; break;
    }
    colors[std::size_t(i)] = {static_cast<uint8_t>(std::lround(255 * r)),
                              static_cast<uint8_t>(std::lround(255 * g)),
                              static_cast<uint8_t>(std::lround(255 * b))};
  }
  return Palette(std::move(colors));
}

void mask_to_rgb(const TensorView& mask, const Palette& palette, const TensorView& rgb,
                 const TensorView* ignored_count, const MaskToRgbOptions& options, Stream stream) {
  using detail::check;
  detail::check_not_null(mask, kOp, "mask");
  detail::check_not_null(rgb, kOp, "rgb");
  check(mask.rank() == 2 || mask.rank() == 3, kOp, "mask", "expected rank 2 [H, W] or 3 [N, H, W], got ",
        mask.describe());
  check(detail::accepts<detail::MaskIdDTypes>(mask.dtype), kOp, "mask", "expected dtype ",
        detail::names<detail::MaskIdDTypes>(), ", got ", mask.describe());
  std::vector<int64_t> expected = mask.shape;
  expected.push_back(3);
  check(rgb.shape == expected && rgb.dtype == DType::UInt8, kOp, "rgb",
        "expected uint8 with the mask's shape plus a trailing 3, got ", rgb.describe());
  check(rgb.is_contiguous(), kOp, "rgb", "must be contiguous");
  detail::check_same_device(mask, rgb, kOp, "rgb");
  if (ignored_count) {
    detail::check_not_null(*ignored_count, kOp, "ignored_count");
    check(ignored_count->dtype == DType::Int64 && ignored_count->numel() == 1, kOp, "ignored_count",
          "expected one int64, got ", ignored_count->describe());
    detail::check_same_device(mask, *ignored_count, kOp, "ignored_count");
  }
  detail::check_device_usable(mask.device, kOp, "mask");

  auto* out = rgb.data_as<uint8_t>();
  if (!mask.device.is_cuda()) {
    int64_t ignored = 0;
    detail::dispatch<detail::MaskIdDTypes>(mask.dtype, [&](auto tag) {
      ignored = mask_to_rgb_cpu<typename decltype(tag)::type>(mask, palette, options.ignore_color, out);
    });
    if (ignored_count) *ignored_count->data_as<int64_t>() = ignored;
    return;
  }
#ifdef TRAINSCOPE_WITH_CUDA
  check(mask.is_contiguous(), kOp, "mask", "must be contiguous on CUDA, got strides of ",
        mask.describe());
  kernels::launch_mask_to_rgb(mask.data, mask.dtype, mask.numel(),
                              detail::make_palette_param(palette, options.ignore_color), out, ignored_count ? ignored_count->data_as<int64_t>() : nullptr,
                              mask.device.index, stream);
#else
  (void)stream;
#endif
}

}  // namespace trainscope
