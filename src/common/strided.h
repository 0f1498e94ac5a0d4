#pragma once
// Maps the linear (row-major) index of an element to its offset in a strided view, so CPU paths
// accept non-contiguous views (slices, transposes) without a copy.
#include <cstdint>
#include <vector>

#include "trainscope/tensor_view.h"

namespace trainscope::detail {

class StridedIndexer {
 public:
  explicit StridedIndexer(const TensorView& v)
      : contiguous_(v.is_contiguous()), shape_(v.shape), strides_(v.strides) {}

  int64_t offset(int64_t linear) const {
    if (contiguous_) return linear;
    int64_t off = 0;
    for (std::size_t d = shape_.size(); d-- > 0;) {
      const int64_t extent = shape_[d];
      off += (linear % extent) * strides_[d];
      linear /= extent;
    }
    return off;
  }

 private:
  bool contiguous_;
  std::vector<int64_t> shape_, strides_;
};

}  // namespace trainscope::detail
