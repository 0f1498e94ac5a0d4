#include "torch/callback/policy.h"

#include <algorithm>
#include <cmath>

#include "trainscope/error.h"

namespace trainscope::detail {

Mode resolve_mode(MonitorMode mode, const std::string& monitor) {
  if (mode == MonitorMode::Min) return Mode::Min;
  if (mode == MonitorMode::Max) return Mode::Max;
  bool accuracy_like = monitor.find("acc") != std::string::npos || monitor.rfind("fmeasure", 0) == 0;
  return accuracy_like ? Mode::Max : Mode::Min;
}

Mode resolve_mode(const std::string& mode, const std::string& monitor, std::string* warning) {
  return resolve_mode(monitor_mode_from_string(mode, warning), monitor);
}

bool BestTracker::update(double value, int64_t epoch) {
  if (std::isnan(value)) return false;
  bool improved = !best_ || (mode_ == Mode::Min ? value < *best_ : value > *best_);
  if (improved) {
    best_ = value;
    best_epoch_ = epoch;
  }
  return improved;
}

void BestTracker::restore(double value, int64_t epoch) {
  if (std::isnan(value)) return;
  best_ = value;
  best_epoch_ = epoch;
}

int clamp_predictions(int predictions) { return std::clamp(predictions, 0, kMaxPredictions); }

bool batch_is_due(int64_t batch, int frequency) { return frequency > 0 && batch % frequency == 0; }

bool evaluation_is_due(int64_t epoch, int frequency) { return frequency > 0 && epoch % frequency == 0; }

DataType parse_data_type(const std::string& text, const char* arg) {
  if (text.empty() || text == "auto") return DataType::Auto;
  if (text == "image") return DataType::Image;
  if (text == "images") return DataType::Images;
  if (text == "segmentation_mask") return DataType::SegmentationMask;
  if (text == "label") return DataType::Label;
  throw Error(std::string(arg) + ": expected image, images, segmentation_mask, label or auto, got '" + text + "'");
}

DataType guess_data_type(const std::vector<int64_t>& shape) {
  auto rank = shape.size();
  if (rank == 1 || rank == 2) return DataType::Label;
  if (rank == 3) return DataType::Image;
  auto is_channels = [](int64_t c) { return c == 1 || c == 3 || c == 4; };
  if (rank == 4 && (is_channels(shape[1]) || is_channels(shape[3]))) return DataType::Image;
  return DataType::SegmentationMask;
}

const char* data_type_name(DataType type) { return to_string(type); }

}  // namespace trainscope::detail

namespace trainscope {

MonitorMode monitor_mode_from_string(const std::string& text, std::string* warning) {
  if (text == "min") return MonitorMode::Min;
  if (text == "max") return MonitorMode::Max;
  if (text != "auto" && warning) *warning = "mode '" + text + "' is unknown (expected auto, min or max); using auto";
  return MonitorMode::Auto;
}

DataType data_type_from_string(const std::string& text, const std::string& what) {
  return detail::parse_data_type(text, what.c_str());
}

const char* to_string(MonitorMode mode) {
  switch (mode) {
    case MonitorMode::Min: return "min";
    case MonitorMode::Max: return "max";
    default: return "auto";
  }
}

const char* to_string(DataType type) {
  switch (type) {
    case DataType::Auto: return "auto";
    case DataType::Image: return "image";
    case DataType::Images: return "images";
    case DataType::SegmentationMask: return "segmentation_mask";
    case DataType::Label: return "label";
  }
  return "auto";
}

}  // namespace trainscope
