#include "torch/log/image_tensors.h"

#include "trainscope/error.h"

namespace trainscope::detail {

namespace {

bool is_channel_count(int64_t c) { return c == 1 || c == 3 || c == 4; }

[[noreturn]] void bad_image(const std::string& key, const torch::Tensor& t, const std::string& why) {
  throw Error("log: image '" + key + "': expected [H, W], [C, H, W] or [H, W, C] with C in {1, 3, 4}, or a batch "
              "[N, C, H, W] / [N, H, W, C]; " + why + ", got shape " + shape_text(t));
}

}  // namespace

std::string shape_text(const torch::Tensor& t) {
  std::string text = "[";
  for (int64_t d = 0; d < t.dim(); ++d) text += (d ? ", " : "") + std::to_string(t.size(d));
  return text + "]";
}

torch::Tensor image_batch_nhwc(const torch::Tensor& tensor, ImageLayout layout, const std::string& key) {
  if (!tensor.defined()) throw Error("log: image '" + key + "': the tensor is undefined; expected an image tensor");
  auto type = tensor.scalar_type();
  if (type != torch::kByte && type != torch::kBool && !tensor.is_floating_point())
    throw Error("log: image '" + key + "': expected uint8 (0..255), bool or floating point in [0, 1], got " +
                std::string(c10::toString(type)));
  torch::Tensor batch;  // [N, d1, d2, d3]
  if (tensor.dim() == 2) batch = tensor.unsqueeze(0).unsqueeze(-1);
  else if (tensor.dim() == 3) batch = tensor.unsqueeze(0);
  else if (tensor.dim() == 4) batch = tensor;
  else bad_image(key, tensor, "rank " + std::to_string(tensor.dim()));
  if (tensor.dim() == 2) {
    // [H, W]: already NHWC with one channel
  } else {
    bool chw;
    switch (layout) {
      case ImageLayout::CHW: chw = true; break;
      case ImageLayout::HWC: chw = false; break;
      default:
        if (is_channel_count(batch.size(1))) chw = true;
        else if (is_channel_count(batch.size(3))) chw = false;
        else bad_image(key, tensor, "no dimension holds 1, 3 or 4 channels");
    }
    if (!is_channel_count(chw ? batch.size(1) : batch.size(3)))
      bad_image(key, tensor, std::string("the ") + (chw ? "CHW" : "HWC") + " channel dimension is not 1, 3 or 4");
    if (chw) batch = batch.permute({0, 2, 3, 1});
  }
  if (batch.numel() == 0) bad_image(key, tensor, "an empty image");
  if (batch.size(1) > 65535 || batch.size(2) > 65535) bad_image(key, tensor, "at most 65535 pixels a side");
  if (type == torch::kBool) batch = batch.to(torch::kByte) * 255;
  else if (type != torch::kByte) batch = (batch.to(torch::kFloat).clamp(0.0, 1.0) * 255.0).round().to(torch::kByte);
  return batch.contiguous();
}

torch::Tensor mask_batch_nhwc(const torch::Tensor& ids, const Palette& palette, const std::string& key) {
  if (!ids.defined()) throw Error("log: mask '" + key + "': the tensor is undefined; expected class ids [H, W] or [N, H, W]");
  auto type = ids.scalar_type();
  if (type != torch::kByte && type != torch::kInt && type != torch::kLong)
    throw Error("log: mask '" + key + "': expected class ids of dtype uint8, int32 or int64, got " +
                std::string(c10::toString(type)));
  if (ids.dim() != 2 && ids.dim() != 3)
    throw Error("log: mask '" + key + "': expected class ids [H, W] or [N, H, W], got shape " + shape_text(ids));
  if (ids.numel() == 0) throw Error("log: mask '" + key + "': expected a non-empty mask, got shape " + shape_text(ids));
  auto batch = ids.dim() == 2 ? ids.unsqueeze(0) : ids;
  return mask_to_rgb(batch.contiguous(), palette).first;
}

}  // namespace trainscope::detail
