#pragma once
// Image and mask tensors of the logger → uint8 [N, H, W, C] on their device (docs/callback.md#logging).
// Only shapes and dtypes are checked on the host (metadata): nothing here waits for the device.
#include <string>

#include "trainscope/torch/log.h"

namespace trainscope::detail {

// `tensor` as contiguous uint8 [N, H, W, C], C in {1, 3, 4}; `batch` says whether dim 0 of a
// rank-4 tensor is the image count (else rank 2–3 is one image). Error names `key`.
torch::Tensor image_batch_nhwc(const torch::Tensor& tensor, ImageLayout layout, const std::string& key);
// Class ids [H, W] / [N, H, W] → uint8 RGB [N, H, W, 3] through `palette` on the ids' device.
torch::Tensor mask_batch_nhwc(const torch::Tensor& ids, const Palette& palette, const std::string& key);

std::string shape_text(const torch::Tensor& t);

}  // namespace trainscope::detail
