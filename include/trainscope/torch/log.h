#pragma once
// wandb.log / SummaryWriter for libtorch (docs/callback.md#logging): log numbers, device scalar
// tensors, histograms, images, class-id masks, texts and tables at the user's step, without ever
// waiting for the device. Link trainscope::torch.
//
//   trainscope::Logger logger(run);                       // or callback.log(...)
//   logger.log({{"loss", loss},                            // scalar tensor, any device
//               {"weights", trainscope::Histogram(w)},     // multi-tensor histogram op
//               {"input", trainscope::Image(x[0])},        // uint8 or float in [0,1], CHW/HWC
//               {"pred", trainscope::Mask(ids, palette)}}, // class ids → RGB (palette op)
//              step);
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainscope/ops/colorize.h"
#include "trainscope/ops/histogram.h"
#include "trainscope/run/run.h"
#include "trainscope/torch.h"

namespace trainscope {

// How an image tensor's dimensions are read. Auto: rank 3 is CHW when dim 0 has 1, 3 or 4
// channels, else HWC when the last dim has (torch's and TensorBoard's default is CHW).
enum class ImageLayout { Auto, CHW, HWC };

// One value of a logged row. Numbers, texts and tables convert implicitly; a tensor converts to a
// scalar metric (one element, any device); Histogram(), Image(), Images() and Mask() make the rest.
class LogValue {
 public:
  enum class Kind { Host, Scalar, Histogram, Image, Mask };

  LogValue(double value) : host_(value) {}
  LogValue(float value) : host_(static_cast<double>(value)) {}
  LogValue(int value) : host_(static_cast<double>(value)) {}
  LogValue(int64_t value) : host_(static_cast<double>(value)) {}
  LogValue(const char* text) : host_(std::string(text)) {}
  LogValue(std::string text) : host_(std::move(text)) {}
  LogValue(TableValue table) : host_(std::move(table)) {}
  LogValue(HistogramValue histogram) : host_(std::move(histogram)) {}
  LogValue(ImageValue image) : host_(std::move(image)) {}
  LogValue(std::vector<ImageValue> images) : host_(std::move(images)) {}
  LogValue(torch::Tensor scalar) : kind_(Kind::Scalar), tensor_(std::move(scalar)) {}

  Kind kind() const { return kind_; }
  const RowValue& host() const { return host_; }
  const torch::Tensor& tensor() const { return tensor_; }
  int bins() const { return bins_; }
  ImageLayout layout() const { return layout_; }
  const std::vector<std::string>& captions() const { return captions_; }
  bool batch() const { return batch_; }
  const std::optional<Palette>& palette() const { return palette_; }

 private:
  friend LogValue Histogram(torch::Tensor, int);
  friend LogValue Image(torch::Tensor, std::string, ImageLayout);
  friend LogValue Images(torch::Tensor, std::vector<std::string>, ImageLayout);
  friend LogValue Mask(torch::Tensor, Palette, std::string);
  LogValue(Kind kind, torch::Tensor tensor) : kind_(kind), tensor_(std::move(tensor)) {}

  Kind kind_ = Kind::Host;
  RowValue host_{0.0};
  torch::Tensor tensor_;
  int bins_ = kDefaultHistogramBins;
  ImageLayout layout_ = ImageLayout::Auto;
  std::vector<std::string> captions_;
  bool batch_ = false;
  std::optional<Palette> palette_;
};
using LogValues = std::map<std::string, LogValue>;

// wandb.Histogram(t) / add_histogram: the finite values of `tensor` (any dtype the histogram op
// takes, any device) in `bins` bins (1..kMaxHistogramBins), with min, max, sum, sum of squares.
LogValue Histogram(torch::Tensor tensor, int bins = kDefaultHistogramBins);
// wandb.Image(t) / add_image: uint8 (0..255) or floating point (clamped to [0, 1], × 255,
// rounded); [H, W], [C, H, W] or [H, W, C] with C = 1 (grey), 3 (RGB) or 4 (RGBA). A rank-4
// tensor is a batch [N, ...] logged as an image list, every image with `caption`.
LogValue Image(torch::Tensor tensor, std::string caption = {}, ImageLayout layout = ImageLayout::Auto);
// A batch [N, ...] (or one image) as an image list with one caption per image (or none).
LogValue Images(torch::Tensor batch, std::vector<std::string> captions = {}, ImageLayout layout = ImageLayout::Auto);
// Class ids [H, W] or [N, H, W] (uint8, int32, int64) → RGB through `palette` (mask_to_rgb);
// ids outside the palette get black. [N, H, W] is an image list.
LogValue Mask(torch::Tensor ids, Palette palette, std::string caption = {});

// Logs rows into a run with Run::log's step rules (trainscope/run/run.h). Device work (the float64
// copies of scalar tensors, histogram plans, image conversion, the palette op) is enqueued on
// libtorch's current stream of the tensor's device and copied into pinned memory with an event;
// the run's writer thread waits on the event and encodes PNGs. log() never waits for the device.
class Logger {
 public:
  // `warn` receives the one warning the logger gives (histograms skipped while the run's writer is
  // behind); default: stderr.
  explicit Logger(std::shared_ptr<Run> run, std::function<void(const std::string&)> warn = {});
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Returns the step the values joined. Throws Error naming the key for an undefined tensor, a
  // scalar metric with more than one element, an unsupported image or mask shape or dtype, bins
  // outside 1..kMaxHistogramBins; and Run::log's errors (older step, reserved key, UTF-8).
  int64_t log(const LogValues& values, std::optional<int64_t> step = std::nullopt,
              std::optional<bool> commit = std::nullopt);
  Run& run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainscope
