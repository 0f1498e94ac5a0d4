#include <iostream>

#include "run/record_check.h"
#include "run/step_rows.h"
#include "torch/histogram_pool.h"
#include "torch/host_copy.h"
#include "torch/log/image_tensors.h"
#include "trainscope/error.h"
#include "trainscope/torch/log.h"

namespace trainscope {

LogValue Histogram(torch::Tensor tensor, int bins) {
  LogValue value(LogValue::Kind::Histogram, std::move(tensor));
  value.bins_ = bins;
  return value;
}

LogValue Image(torch::Tensor tensor, std::string caption, ImageLayout layout) {
  LogValue value(LogValue::Kind::Image, std::move(tensor));
  value.layout_ = layout;
  value.batch_ = value.tensor_.defined() && value.tensor_.dim() == 4;
  if (!caption.empty()) value.captions_.push_back(std::move(caption));
  return value;
}

LogValue Images(torch::Tensor batch, std::vector<std::string> captions, ImageLayout layout) {
  LogValue value(LogValue::Kind::Image, std::move(batch));
  value.layout_ = layout;
  value.batch_ = true;
  value.captions_ = std::move(captions);
  return value;
}

LogValue Mask(torch::Tensor ids, Palette palette, std::string caption) {
  LogValue value(LogValue::Kind::Mask, std::move(ids));
  value.palette_ = std::move(palette);
  if (!caption.empty()) value.captions_.push_back(std::move(caption));
  return value;
}

namespace {

// uint8 [N, H, W, C] on the host → one ImageValue per image; one caption for all or one each.
std::vector<ImageValue> image_values(const torch::Tensor& nhwc, const std::vector<std::string>& captions) {
  auto n = nhwc.size(0), h = nhwc.size(1), w = nhwc.size(2), c = nhwc.size(3);
  const uint8_t* data = nhwc.data_ptr<uint8_t>();
  std::vector<ImageValue> images;
  for (int64_t i = 0; i < n; ++i) {
    ImageValue image;
    image.width = static_cast<int>(w);
    image.height = static_cast<int>(h);
    image.channels = static_cast<int>(c);
    image.pixels.assign(data + i * h * w * c, data + (i + 1) * h * w * c);
    if (captions.size() == 1) image.caption = captions[0];
    else if (static_cast<int64_t>(captions.size()) == n) image.caption = captions[i];
    images.push_back(std::move(image));
  }
  return images;
}

std::string tensor_kind(LogValue::Kind kind) {
  switch (kind) {
    case LogValue::Kind::Scalar: return "metric";
    case LogValue::Kind::Histogram: return "histogram";
    case LogValue::Kind::Image: return "image";
    case LogValue::Kind::Mask: return "mask";
    default: return "value";
  }
}

}  // namespace

struct Logger::Impl {
  std::shared_ptr<Run> run;
  std::function<void(const std::string&)> warn;
  std::map<std::string, std::shared_ptr<detail::PlanPool>> pools;  // per histogram list
  bool skip_warned = false;

  void say_warning(const std::string& message) {
    if (warn) warn(message);
    else std::cerr << "[trainscope] warning: " << message << "\n";
  }

  // Histograms grouped by device and bins: one multi-tensor op launch per group.
  void add_histograms(const std::map<std::string, std::vector<std::pair<std::string, torch::Tensor>>>& groups,
                      const std::map<std::string, int>& group_bins,
                      std::vector<std::unique_ptr<PendingPart>>& parts) {
    for (const auto& [group, named] : groups) {
      std::string signature = group;
      for (const auto& entry : named) signature += "\n" + entry.first;
      auto& pool = pools[signature];
      if (!pool) pool = std::make_shared<detail::PlanPool>(group_bins.at(group));
      bool skipped = false;
      auto part = detail::enqueue_histograms(pool, named, &skipped);
      if (skipped && !skip_warned) {
        say_warning("the run's writer is behind; skipping logged histograms until it catches up");
        skip_warned = true;
      }
      if (part) parts.push_back(std::move(part));
    }
  }
};

Logger::Logger(std::shared_ptr<Run> run, std::function<void(const std::string&)> warn)
    : impl_(std::make_unique<Impl>()) {
  if (!run) throw Error("Logger: run: expected a run");
  impl_->run = std::move(run);
  impl_->warn = std::move(warn);
}

Logger::~Logger() = default;

Run& Logger::run() { return *impl_->run; }

int64_t Logger::log(const LogValues& values, std::optional<int64_t> step, std::optional<bool> commit) {
  Impl& s = *impl_;
  LogRow host;
  std::map<std::string, detail::HostTensors> scalars;  // per device: one copy and one event
  std::map<std::string, std::vector<std::pair<std::string, torch::Tensor>>> histograms;
  std::map<std::string, int> histogram_bins;
  std::vector<std::unique_ptr<PendingPart>> parts;
  for (const auto& [key, value] : values) {
    detail::check_user_key(key, "log");  // also for values that only exist after the writer resolves them
    if (value.kind() == LogValue::Kind::Host) {
      host.insert_or_assign(key, value.host());
      continue;
    }
    const torch::Tensor& t = value.tensor();
    if (!t.defined())
      throw Error("log: " + tensor_kind(value.kind()) + " '" + key + "': the tensor is undefined (never computed?)");
    switch (value.kind()) {
      case LogValue::Kind::Scalar: {
        if (t.numel() != 1)
          throw Error("log: metric '" + key + "': expected a scalar tensor (one element), got shape " + detail::shape_text(t) +
                      "; log a histogram with trainscope::Histogram(t) or an image with trainscope::Image(t)");
        if (t.is_complex()) throw Error("log: metric '" + key + "': expected a real number, got a complex tensor");
        scalars[t.device().str()][key] = t.detach().reshape({}).to(torch::kDouble);
        break;
      }
      case LogValue::Kind::Histogram: {
        if (value.bins() < 1 || value.bins() > kMaxHistogramBins)
          throw Error("log: histogram '" + key + "': bins: expected 1.." + std::to_string(kMaxHistogramBins) + ", got " +
                      std::to_string(value.bins()));
        std::string group = t.device().str() + "/" + std::to_string(value.bins());
        histograms[group].emplace_back(key, t);
        histogram_bins[group] = value.bins();
        break;
      }
      case LogValue::Kind::Image:
      case LogValue::Kind::Mask: {
        torch::Tensor nhwc;
        if (value.kind() == LogValue::Kind::Image) {
          nhwc = detail::image_batch_nhwc(t, value.layout(), key);
        } else {
          nhwc = detail::mask_batch_nhwc(t, *value.palette(), key);
        }
        const auto& captions = value.captions();
        if (captions.size() > 1 && static_cast<int64_t>(captions.size()) != nhwc.size(0))
          throw Error("log: images '" + key + "': captions: expected one per image (" + std::to_string(nhwc.size(0)) +
                      ") or a single one, got " + std::to_string(captions.size()));
        parts.push_back(std::make_unique<detail::HostCopyPart>(
            detail::HostTensors{{"images", nhwc}},
            [key, captions](const detail::HostTensors& copied, StepRecord& record) {
              record.images[key] = image_values(copied.at("images"), captions);
            }));
        break;
      }
      default:
        break;
    }
  }
  for (auto& [device, tensors] : scalars) {
    parts.push_back(std::make_unique<detail::HostCopyPart>(tensors, [](const detail::HostTensors& copied, StepRecord& r) {
      for (const auto& [key, v] : copied) r.scalars[key] = v.item<double>();
    }));
  }
  try {
    s.add_histograms(histograms, histogram_bins, parts);
  } catch (const Error& e) {
    throw Error(std::string("log: histograms: ") + e.what());
  }
  return s.run->log(detail::record_of(host), std::move(parts), step, commit);
}

}  // namespace trainscope
