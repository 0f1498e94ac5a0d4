// Colours a 2×2 mask through the installed library and checks the bytes.
#include <trainscope/trainscope.h>

#include <cstdio>
#include <vector>

int main() {
  using namespace trainscope;
  std::vector<uint8_t> ids = {0, 1, 2, 9};
  std::vector<uint8_t> rgb(12);
  int64_t ignored = 0;
  auto count = TensorView::contiguous(&ignored, DType::Int64, {1});
  mask_to_rgb(TensorView::contiguous(ids.data(), DType::UInt8, {2, 2}), Palette::default_for(3),
              TensorView::contiguous(rgb.data(), DType::UInt8, {2, 2, 3}), &count);
  const bool ok = rgb[3] == 255 && rgb[4] == 0 && rgb[7] == 255 && ignored == 1;
  std::printf("consumer: %s (cuda build: %d)\n", ok ? "ok" : "WRONG", built_with_cuda());
  return ok ? 0 : 1;
}
