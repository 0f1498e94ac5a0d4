#pragma once
// Launcher of the labels-from-logits kernels. Plain C++ so that src/ops can call it without CUDA
// headers; arguments are already checked by the op layer.
#include <cstdint>

#include "trainscope/device.h"
#include "trainscope/tensor_view.h"

namespace trainscope::kernels {

struct LabelsLaunch {
  const void* logits = nullptr;  // [rows, classes], unit stride along classes
  DType dtype = DType::Float32;
  int64_t rows = 0;
  int classes = 0;
  int64_t row_stride = 0;        // elements between rows
  int64_t* labels = nullptr;     // [rows]
  float* confidence = nullptr;   // [rows] or null
  int top_k = 0;
  int64_t* top_k_labels = nullptr;      // [rows, top_k] or null
  float* top_k_confidence = nullptr;    // [rows, top_k] or null
  double binary_threshold = 0.5;        // C == 1: compared with the raw value
  bool apply_sigmoid = false;
  const int64_t* targets = nullptr;     // [rows] with `target_stride`, or null
  int64_t target_stride = 1;
  int64_t* confusion = nullptr;         // [confusion_classes, confusion_classes]
  int confusion_classes = 0;
  int64_t* ignored = nullptr;           // int64 scalar or null
};

void launch_labels_from_logits(const LabelsLaunch& args, int device, Stream stream);

}  // namespace trainscope::kernels
