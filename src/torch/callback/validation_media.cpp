#include "torch/callback/validation_media.h"

#include <algorithm>
#include <cmath>

#include "torch/host_copy.h"
#include "trainscope/error.h"

namespace trainscope::detail {

std::string label_caption(int64_t index, const std::vector<std::string>& labels) {
  if (index >= 0 && index < static_cast<int64_t>(labels.size())) return labels[index];
  return std::to_string(index);
}

torch::Tensor predicted_labels(const torch::Tensor& outputs) {
  auto logits = outputs.reshape({outputs.size(0), -1});
  auto type = logits.scalar_type();
  if (type != torch::kFloat && type != torch::kHalf && type != torch::kBFloat16) logits = logits.to(torch::kFloat);
  // The labels op: argmax (C ≥ 2) or value > 0.5 (C == 1) on the outputs' device, no host sync.
  return labels_from_logits(logits).labels;
}

namespace {

bool is_channel_count(int64_t c) { return c == 1 || c == 3 || c == 4; }

Palette palette_for(const CallbackOptions& options, int64_t classes) {
  if (!options.class_colors.empty()) return Palette::from_class_colors(options.class_colors);
  int64_t k = std::max<int64_t>({classes, static_cast<int64_t>(options.labels.size()), 2});
  return Palette::default_for(static_cast<int>(std::min<int64_t>(k, 256)));
}

// Class ids [N, H, W] from logits / one-hot [N, C, H, W] or a mask [N, H, W] / [N, 1, H, W].
torch::Tensor class_ids(const torch::Tensor& batch) {
  if (batch.dim() == 3) return batch.to(torch::kLong);
  if (batch.dim() == 4 && batch.size(1) == 1) return batch.select(1, 0).to(torch::kLong);
  if (batch.dim() == 4) return batch.argmax(1);
  throw Error("Callback: segmentation_mask: expected [N, H, W] ids or [N, C, H, W] scores, got rank " +
              std::to_string(batch.dim()));
}

torch::Tensor three_channels(const torch::Tensor& nhwc) {
  if (nhwc.size(3) == 3) return nhwc;
  if (nhwc.size(3) == 1) return nhwc.expand({-1, -1, -1, 3});
  return nhwc.narrow(3, 0, 3);  // RGBA → RGB
}

// The "<key>_masks" images: each input image with its "predictions" (and "ground_truth") mask.
void add_mask_examples(const HostTensors& host, const std::vector<std::string>& labels, const std::string& key,
                       StepRecord& record) {
  const auto& images = host.at("mask_images");
  const int64_t n = images.size(0), h = images.size(1), w = images.size(2);
  std::map<int, std::string> names;
  for (size_t c = 0; c < labels.size() && c < 256; ++c) names[int(c)] = labels[c];
  std::vector<ImageValue> values;
  for (int64_t i = 0; i < n; ++i) {
    ImageValue image;
    image.width = int(w);
    image.height = int(h);
    image.channels = 3;
    const uint8_t* rgb = images.data_ptr<uint8_t>() + i * h * w * 3;
    image.pixels.assign(rgb, rgb + h * w * 3);
    for (const char* name : {"predictions", "ground_truth"}) {
      auto found = host.find(std::string("mask_") + name);
      if (found == host.end()) continue;
      const uint8_t* ids = found->second.data_ptr<uint8_t>() + i * h * w;
      MaskValue mask;
      mask.class_ids.assign(ids, ids + h * w);
      mask.class_labels = names;
      image.masks[name] = std::move(mask);
    }
    values.push_back(std::move(image));
  }
  record.images[key] = std::move(values);
}

}  // namespace

torch::Tensor to_rgb_images(const torch::Tensor& batch, DataType type, const Palette& palette) {
  if (type == DataType::SegmentationMask) {
    bool scores = batch.dim() == 4 && batch.size(1) > 1 && batch.is_floating_point();
    if (scores && batch.size(1) <= palette.size() && batch.scalar_type() != torch::kDouble)
      return segmentation_to_rgb(batch, ChannelLayout::ChannelsFirst, palette).rgb;  // fused argmax → RGB
    auto ids = class_ids(batch);
    return mask_to_rgb(ids.contiguous(), palette).first;
  }
  torch::Tensor nhwc;
  if (batch.dim() == 3) {
    nhwc = batch.unsqueeze(-1);
  } else if (batch.dim() == 4) {
    bool channels_last = is_channel_count(batch.size(3)) && !is_channel_count(batch.size(1));
    nhwc = channels_last ? batch : batch.permute({0, 2, 3, 1});
  } else {
    throw Error("Callback: image: expected a batch of rank 3 [N, H, W] or 4, got rank " + std::to_string(batch.dim()));
  }
  if (nhwc.scalar_type() != torch::kByte) {
    auto x = nhwc.to(torch::kFloat);
    auto lo = x.amin({1, 2, 3}, true), hi = x.amax({1, 2, 3}, true);
    nhwc = ((x - lo) / (hi - lo).clamp_min(1e-12) * 255.0).round().clamp(0, 255).to(torch::kByte);
  }
  return three_channels(nhwc).contiguous();
}

std::unique_ptr<PendingPart> prediction_examples(const torch::Tensor& inputs, const torch::Tensor& targets,
                                                 const torch::Tensor& outputs, DataType input_type,
                                                 DataType output_type, const CallbackOptions& options,
                                                 const std::string& key) {
  auto is_image = [](DataType t) { return t == DataType::Image || t == DataType::Images || t == DataType::SegmentationMask; };
  int64_t classes = outputs.dim() >= 2 ? outputs.size(1) : 2;
  Palette palette = palette_for(options, classes);
  HostTensors device;
  if (is_image(input_type) && output_type == DataType::Label) {
    device["images"] = to_rgb_images(inputs, input_type, palette);
    device["labels"] = predicted_labels(outputs);
  } else if (is_image(output_type)) {
    std::vector<torch::Tensor> strip;
    if (is_image(input_type)) strip.push_back(to_rgb_images(inputs, input_type, palette));
    strip.push_back(to_rgb_images(outputs, output_type, palette));
    if (targets.defined()) strip.push_back(to_rgb_images(targets, output_type, palette));
    for (const auto& part : strip)
      if (part.size(1) != strip[0].size(1) || part.size(0) != strip[0].size(0))
        throw Error("Callback: examples: input, output and target images differ in count or height");
    device["images"] = torch::cat(strip, 2).contiguous();  // side by side: input | output | target
  } else {
    return nullptr;
  }
  // Image → segmentation: also the input images with class-index masks W&B overlays (key
  // "<key>_masks"), when the masks have the images' size.
  if (is_image(input_type) && output_type == DataType::SegmentationMask) {
    auto images = to_rgb_images(inputs, input_type, palette);
    auto ids = [](const torch::Tensor& t) { return class_ids(t).clamp(0, 255).to(torch::kByte).contiguous(); };
    auto predicted = ids(outputs);
    if (predicted.sizes() == images.sizes().slice(0, 3)) {
      device["mask_images"] = images;
      device["mask_predictions"] = predicted;
      if (targets.defined()) {
        auto truth = ids(targets);
        if (truth.sizes() == predicted.sizes()) device["mask_ground_truth"] = truth;
      }
    }
  }
  auto labels = options.labels;
  return std::make_unique<HostCopyPart>(device, [labels, key](const HostTensors& host, StepRecord& record) {
    if (host.count("mask_images")) add_mask_examples(host, labels, key + "_masks", record);
    const auto& images = host.at("images");
    auto n = images.size(0), h = images.size(1), w = images.size(2);
    std::vector<ImageValue> values;
    const uint8_t* data = images.data_ptr<uint8_t>();
    auto found = host.find("labels");
    for (int64_t i = 0; i < n; ++i) {
      ImageValue image;
      image.width = static_cast<int>(w);
      image.height = static_cast<int>(h);
      image.channels = 3;
      image.pixels.assign(data + i * h * w * 3, data + (i + 1) * h * w * 3);
      if (found != host.end()) image.caption = label_caption(found->second[i].item<int64_t>(), labels);
      values.push_back(std::move(image));
    }
    record.images[key] = std::move(values);
  });
}

namespace {

TableRow inferred_validation_row(const std::map<std::string, torch::Tensor>& row, const std::vector<std::string>& labels) {
  TableRow cells;
  auto it = row.find("target");
  if (it != row.end() && it->second.defined()) {
    const auto& t = it->second;
    int64_t index;
    if (t.numel() == 1) {
      double v = t.to(torch::kDouble).item<double>();
      // An integral value is a class id; a fraction is a binary probability.
      index = v == std::floor(v) ? static_cast<int64_t>(v) : (v > 0.5 ? 1 : 0);
    } else {
      index = t.reshape({-1}).argmax().item<int64_t>();  // one-hot or scores
    }
    cells["target"] = label_caption(index, labels);
  }
  return cells;
}

TableRow inferred_output_row(const std::map<std::string, torch::Tensor>& row, const std::vector<std::string>& labels) {
  TableRow cells;
  const auto& out = row.at("output").to(torch::kDouble).reshape({-1});
  int64_t index;
  double confidence;
  if (out.numel() == 1) {
    double p = out.item<double>();
    index = p > 0.5 ? 1 : 0;
    confidence = index ? p : 1 - p;
  } else {
    auto probabilities = out.softmax(0);
    index = probabilities.argmax().item<int64_t>();
    confidence = probabilities[index].item<double>();
  }
  cells["output"] = label_caption(index, labels);
  cells["confidence"] = confidence;
  return cells;
}

TableRow default_row(const std::map<std::string, torch::Tensor>& row) {
  TableRow cells;
  for (const auto& [name, tensor] : row)
    if (tensor.defined() && tensor.numel() == 1) cells[name] = tensor.to(torch::kDouble).item<double>();
  return cells;
}

}  // namespace

std::unique_ptr<PendingPart> evaluation_table(const torch::Tensor& inputs, const torch::Tensor& targets,
                                              const torch::Tensor& outputs, const CallbackOptions& options,
                                              const std::string& key) {
  int64_t n = outputs.size(0);
  if (!options.validation_indexes.empty() && static_cast<int64_t>(options.validation_indexes.size()) != n)
    throw Error("Callback: validation_indexes: expected one row key per validation example (" +
                std::to_string(n) + "), got " + std::to_string(options.validation_indexes.size()));
  HostTensors device{{"outputs", outputs}};
  bool linked = !options.validation_indexes.empty();
  if (!linked) device["inputs"] = inputs;
  if (targets.defined()) device["targets"] = targets;
  bool infer = options.infer_missing_processors && !options.labels.empty();
  RowProcessor validation = options.validation_row_processor, output = options.output_row_processor;
  auto labels = options.labels;
  if (!validation && infer) validation = [labels](int64_t, const auto& row) { return inferred_validation_row(row, labels); };
  if (!output && infer) output = [labels](int64_t, const auto& row) { return inferred_output_row(row, labels); };
  if (!validation) validation = [](int64_t, const auto& row) { return default_row(row); };
  if (!output) output = [](int64_t, const auto& row) {
    std::map<std::string, torch::Tensor> only{{"output", row.at("output")}};
    return default_row(only);
  };
  auto indexes = options.validation_indexes;
  return std::make_unique<HostCopyPart>(device, [=](const HostTensors& host, StepRecord& record) {
    TableValue table;
    table.columns.push_back(linked ? "val_row" : "index");
    std::vector<TableRow> rows;
    auto target_of = [&](int64_t i) {
      auto it = host.find("targets");
      return it == host.end() ? torch::Tensor() : it->second[i];
    };
    auto add_columns = [&table](const TableRow& cells) {  // validation columns first, then outputs
      for (const auto& entry : cells)
        if (std::find(table.columns.begin(), table.columns.end(), entry.first) == table.columns.end())
          table.columns.push_back(entry.first);
    };
    for (int64_t i = 0; i < n; ++i) {
      TableRow row;
      if (!linked) row = validation(i, {{"input", host.at("inputs")[i]}, {"target", target_of(i)}});
      add_columns(row);
      TableRow predicted = output(i, {{"output", host.at("outputs")[i]}, {"target", target_of(i)}});
      add_columns(predicted);
      for (auto& [name, cell] : predicted) row[name] = cell;
      rows.push_back(std::move(row));
    }
    for (int64_t i = 0; i < n; ++i) {
      std::vector<TableCell> cells;
      cells.push_back(linked ? TableCell(indexes[i]) : TableCell(i));
      for (size_t c = 1; c < table.columns.size(); ++c) {
        auto it = rows[i].find(table.columns[c]);
        cells.push_back(it == rows[i].end() ? TableCell() : it->second);
      }
      table.rows.push_back(std::move(cells));
    }
    record.tables[key] = std::move(table);
  });
}

}  // namespace trainscope::detail
