#pragma once
// TensorView: the boundary between trainscope and any tensor library. A non-owning description of
// strided memory (pointer, dtype, shape, strides, device); ops take views, never framework types.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "trainscope/device.h"

namespace trainscope {

enum class DType { Float32, Float16, BFloat16, Float64, UInt8, Int8, Int16, Int32, Int64, Bool };

std::size_t element_size(DType dtype);
const char* dtype_name(DType dtype);
bool is_floating(DType dtype);

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // in elements, one per dimension
  Device device;

  // A contiguous (row-major) view of `shape`.
  static TensorView contiguous(void* data, DType dtype, std::vector<int64_t> shape,
                               Device device = Device::cpu());

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t numel() const;
  int64_t size(int64_t dim) const;  // negative dims count from the end
  bool is_contiguous() const;
  std::string describe() const;  // e.g. "float32[8, 3, 32, 32] on cuda:0"

  template <typename T>
  T* data_as() const { return static_cast<T*>(data); }
};

// Row-major strides of `shape`.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

}  // namespace trainscope
