#pragma once
// The Callback's option enums (docs/callback.md#arguments) and their documented names, for programs
// that read them from text (a config file, the environment). No torch here.
#include <string>

namespace trainscope {

// WandbCallback's `mode`: Auto is max if the monitor contains "acc" or starts with "fmeasure".
enum class MonitorMode { Auto, Min, Max };
// WandbCallback's `input_type` / `output_type`; Auto guesses from the batch shape.
enum class DataType { Auto, Image, Images, SegmentationMask, Label };

// "auto", "min", "max"; any other text gives Auto and sets `*warning` (when given) saying why,
// as WandbCallback warns for an unknown mode.
MonitorMode monitor_mode_from_string(const std::string& text, std::string* warning = nullptr);
// "image", "images", "segmentation_mask", "label", "auto" ("" = auto); else Error naming `what`.
DataType data_type_from_string(const std::string& text, const std::string& what = "data type");
const char* to_string(MonitorMode mode);
const char* to_string(DataType type);

}  // namespace trainscope
