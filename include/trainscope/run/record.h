#pragma once
// What one committed step of a run holds, and the Sink interface through which the run's writer
// thread hands each committed step to further outputs (TensorBoard event files, ...).
// Plain std types only: this is the contract between the callback, the run and every sink.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "trainscope/limits.h"

namespace trainscope {

// A histogram as logged: B counts over B+1 edges (docs/ops.md#histograms), with the statistics of the finite
// values that TensorBoard's HistogramProto also carries.
struct HistogramValue {
  std::vector<int64_t> counts;  // B ≤ kMaxHistogramBins (trainscope/limits.h)
  std::vector<double> edges;    // B + 1, ascending
  int64_t num = 0;              // finite values
  double min = 0, max = 0, sum = 0, sum_squares = 0;
};

// A segmentation mask over an image, as W&B overlays it (docs/run-directory.md#masks): one class id
// per pixel of the image, and the class names. Stored as an 8-bit class-index PNG.
struct MaskValue {
  std::vector<uint8_t> class_ids;  // height · width ids of the image it belongs to, rows top to bottom
  // id → name; empty: "class_<id>" for each id present, as W&B names unlabelled classes.
  std::map<int, std::string> class_labels;
};

// An 8-bit image, rows top to bottom, channels interleaved (1 = grey, 3 = RGB, 4 = RGBA).
struct ImageValue {
  int width = 0, height = 0, channels = 3;
  std::vector<uint8_t> pixels;  // height · width · channels bytes
  std::string caption;
  std::map<std::string, MaskValue> masks;  // by name, e.g. "predictions", "ground_truth"
};

using TableCell = std::variant<std::monostate, bool, int64_t, double, std::string>;
struct TableValue {
  std::vector<std::string> columns;
  std::vector<std::vector<TableCell>> rows;
};

// Everything logged for one step. Keys are metric names as the user wrote them ("val_loss",
// "parameters/conv1.weight"); the run sanitises them wherever they become file names.
struct StepRecord {
  std::map<std::string, double> scalars;
  std::map<std::string, std::string> texts;
  std::map<std::string, HistogramValue> histograms;
  std::map<std::string, std::vector<ImageValue>> images;  // one or more images per key
  std::map<std::string, TableValue> tables;
};

// One value of Run::log (docs/run-directory.md#logging): a number, a text, a histogram, an image,
// an image list (one key, several images) or a table — like the values of wandb.log's dict.
class RowValue {
 public:
  using Variant = std::variant<double, std::string, HistogramValue, ImageValue, std::vector<ImageValue>, TableValue>;
  RowValue(double v) : value_(v) {}
  RowValue(float v) : value_(static_cast<double>(v)) {}
  RowValue(int v) : value_(static_cast<double>(v)) {}
  RowValue(long v) : value_(static_cast<double>(v)) {}
  RowValue(long long v) : value_(static_cast<double>(v)) {}
  RowValue(const char* text) : value_(std::string(text)) {}
  RowValue(std::string text) : value_(std::move(text)) {}
  RowValue(HistogramValue v) : value_(std::move(v)) {}
  RowValue(ImageValue v) : value_(std::move(v)) {}
  RowValue(std::vector<ImageValue> v) : value_(std::move(v)) {}
  RowValue(TableValue v) : value_(std::move(v)) {}
  const Variant& get() const { return value_; }

 private:
  Variant value_;
};
using LogRow = std::map<std::string, RowValue>;

// An image as the run stored it: the PNG bytes (so sinks need not re-encode) and its path.
struct StoredImage {
  const ImageValue* image = nullptr;
  std::string path;  // relative to the run directory, e.g. "media/images/examples_3_ab12....png"
  std::vector<uint8_t> png;
};

// A step after the run has written it to history.jsonl.
struct CommittedStep {
  int64_t step = 0;         // _step
  double wall_time = 0;     // seconds since the Unix epoch (_timestamp)
  double runtime = 0;       // seconds since the run started (_runtime)
  const StepRecord* record = nullptr;
  std::map<std::string, std::vector<StoredImage>> images;  // per key, in the record's order
};

// Receives committed steps on the run's writer thread, in step order. Exceptions thrown here are
// kept by the run and surfaced on the caller's next call or at finish, never across threads.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const CommittedStep& step) = 0;
  virtual void flush() {}
  virtual void close() {}
};

}  // namespace trainscope
