#include <ATen/ATen.h>

#include "common/check.h"
#include "trainscope/torch.h"

#ifdef TRAINSCOPE_WITH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace trainscope {

DType dtype_of(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Float: return DType::Float32;
    case c10::ScalarType::Half: return DType::Float16;
    case c10::ScalarType::BFloat16: return DType::BFloat16;
    case c10::ScalarType::Double: return DType::Float64;
    case c10::ScalarType::Byte: return DType::UInt8;
    case c10::ScalarType::Char: return DType::Int8;
    case c10::ScalarType::Short: return DType::Int16;
    case c10::ScalarType::Int: return DType::Int32;
    case c10::ScalarType::Long: return DType::Int64;
    case c10::ScalarType::Bool: return DType::Bool;
    default:
      throw Error(std::string("view_of: tensor: dtype ") + c10::toString(type) +
                  " has no trainscope equivalent (expected a float, integer or bool type)");
  }
}

c10::ScalarType scalar_type_of(DType dtype) {
  switch (dtype) {
    case DType::Float32: return c10::ScalarType::Float;
    case DType::Float16: return c10::ScalarType::Half;
    case DType::BFloat16: return c10::ScalarType::BFloat16;
    case DType::Float64: return c10::ScalarType::Double;
    case DType::UInt8: return c10::ScalarType::Byte;
    case DType::Int8: return c10::ScalarType::Char;
    case DType::Int16: return c10::ScalarType::Short;
    case DType::Int32: return c10::ScalarType::Int;
    case DType::Int64: return c10::ScalarType::Long;
    case DType::Bool: return c10::ScalarType::Bool;
  }
  throw Error("scalar_type_of: unknown dtype");
}

Device device_of(const c10::Device& device) {
  if (device.is_cpu()) return Device::cpu();
  if (device.is_cuda()) return Device::cuda(device.has_index() ? device.index() : 0);
  throw Error("view_of: tensor: device " + device.str() + " is not supported (expected cpu or cuda)");
}

c10::Device torch_device_of(const Device& device) {
  return device.is_cuda() ? c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(device.index))
                          : c10::Device(c10::DeviceType::CPU);
}

TensorView view_of(const torch::Tensor& tensor) {
  detail::check(tensor.defined(), "view_of", "tensor", "is undefined");
  TensorView v;
  v.data = tensor.data_ptr();
  v.dtype = dtype_of(tensor.scalar_type());
  v.shape.assign(tensor.sizes().begin(), tensor.sizes().end());
  v.strides.assign(tensor.strides().begin(), tensor.strides().end());
  v.device = device_of(tensor.device());
  return v;
}

Stream current_stream(const c10::Device& device) {
#ifdef TRAINSCOPE_WITH_CUDA
  if (device.is_cuda()) {
    return Stream{c10::cuda::getCurrentCUDAStream(device.has_index() ? device.index() : -1).stream()};
  }
#endif
  (void)device;
  return Stream{};
}

std::pair<torch::Tensor, torch::Tensor> mask_to_rgb(const torch::Tensor& mask, const Palette& palette,
                                                    const MaskToRgbOptions& options) {
  detail::check(mask.defined(), "mask_to_rgb", "mask", "is undefined");
  // CUDA needs a contiguous mask; the CPU path reads any strides in place.
  const torch::Tensor ids = mask.is_cuda() ? mask.contiguous() : mask;
  std::vector<int64_t> shape(ids.sizes().begin(), ids.sizes().end());
  shape.push_back(3);
  auto rgb = torch::empty(shape, ids.options().dtype(torch::kUInt8));
  auto ignored = torch::empty({}, ids.options().dtype(torch::kLong));
  const TensorView ignored_view = view_of(ignored);
  mask_to_rgb(view_of(ids), palette, view_of(rgb), &ignored_view, options, current_stream(ids.device()));
  return {rgb, ignored};
}

}  // namespace trainscope
