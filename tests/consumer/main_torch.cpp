// Uses the installed libtorch adapter on a torch tensor.
#include <trainscope/torch.h>

#include <cstdio>

int main() {
  auto mask = torch::tensor({0, 1, 2, 7}, torch::kLong).reshape({2, 2});
  auto [rgb, ignored] = trainscope::mask_to_rgb(mask, trainscope::Palette::default_for(3));
  const bool ok = rgb.sizes() == torch::IntArrayRef({2, 2, 3}) && ignored.item<int64_t>() == 1 &&
                  rgb[0][1][0].item<int>() == 255;
  std::printf("consumer_torch: %s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
