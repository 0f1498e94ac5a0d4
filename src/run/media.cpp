#include "run/media.h"

#include <cmath>
#include <map>

#include "run/png_codec.h"
#include "run/file_io.h"
#include "run/sha256.h"
#include "trainscope/error.h"
#include "trainscope/limits.h"
#include "trainscope/run/run.h"

namespace trainscope::detail {

nlohmann::json number_json(double value) {
  if (std::isfinite(value)) return value;
  if (std::isnan(value)) return "NaN";
  return value > 0 ? "Infinity" : "-Infinity";
}

nlohmann::json finite_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

nlohmann::json cell_json(const TableCell& cell) {
  struct Visitor {
    nlohmann::json operator()(std::monostate) const { return nullptr; }
    nlohmann::json operator()(bool v) const { return v; }
    nlohmann::json operator()(int64_t v) const { return v; }
    nlohmann::json operator()(double v) const { return finite_or_null(v); }
    nlohmann::json operator()(const std::string& v) const { return v; }
  };
  return std::visit(Visitor{}, cell);
}

nlohmann::json histogram_json(const HistogramValue& histogram, const std::string& key) {
  if (histogram.counts.empty()) return nullptr;
  if (histogram.counts.size() > static_cast<std::size_t>(kMaxHistogramBins) || histogram.edges.size() != histogram.counts.size() + 1)
    throw Error("run: histogram '" + key + "': expected 1.." + std::to_string(kMaxHistogramBins) + " counts and counts + 1 edges, got " +
                std::to_string(histogram.counts.size()) + " counts and " +
                std::to_string(histogram.edges.size()) + " edges");
  nlohmann::json bins = nlohmann::json::array();
  for (double edge : histogram.edges) bins.push_back(finite_or_null(edge));
  return {{"_type", "histogram"}, {"values", histogram.counts}, {"bins", std::move(bins)}};
}

namespace {

std::string media_name(const std::string& key, int64_t step, const std::string& sha, const char* suffix) {
  return sanitize_file_component(key) + "_" + std::to_string(step) + "_" + sha.substr(0, 20) + suffix;
}

// The class names of a mask as W&B keeps them: {"<id>": name}; unnamed: "class_<id>" per id present.
nlohmann::json class_labels_json(const MaskValue& mask) {
  nlohmann::json labels = nlohmann::json::object();
  if (!mask.class_labels.empty()) {
    for (const auto& [id, name] : mask.class_labels) labels[std::to_string(id)] = name;
    return labels;
  }
  bool present[256] = {};
  for (uint8_t id : mask.class_ids) present[id] = true;
  for (int id = 0; id < 256; ++id)
    if (present[id]) labels[std::to_string(id)] = "class_" + std::to_string(id);
  return labels;
}

// <run>/class_labels.json gathers the class names of every (image key, mask name), under W&B's
// "<key>_wandb_delimeter_<name>" keys; the uploader sends them in the config's "_wandb" entry.
// Rewritten only when an entry changes.
void record_class_labels(const std::string& run_dir, const std::string& key,
                         const std::map<std::string, nlohmann::json>& labels, bool durable) {
  if (labels.empty()) return;
  const std::string path = run_dir + "/class_labels.json";
  nlohmann::json all = nlohmann::json::parse(read_file_if_present(path).value_or("{}"), nullptr, false);
  if (!all.is_object()) all = nlohmann::json::object();
  bool changed = false;
  for (const auto& [name, value] : labels) {
    auto& entry = all[key + "_wandb_delimeter_" + name];
    if (entry != value) entry = value, changed = true;
  }
  if (changed) write_file_atomic(path, all.dump() + "\n", durable);
}

// One mask as a class-index PNG (8-bit grey, pixel = class id) under media/images/mask/.
nlohmann::json store_mask(const std::string& run_dir, const std::string& key, int64_t step,
                          const ImageValue& image, const std::string& name, const MaskValue& mask,
                          bool durable) {
  const std::size_t pixels = std::size_t(image.width) * std::size_t(image.height);
  if (mask.class_ids.size() != pixels)
    throw Error("run: image '" + key + "': mask '" + name + "': expected " + std::to_string(pixels) +
                " class ids (the image's " + std::to_string(image.width) + "×" + std::to_string(image.height) +
                " pixels), got " + std::to_string(mask.class_ids.size()));
  ImageValue grey;
  grey.width = image.width;
  grey.height = image.height;
  grey.channels = 1;
  grey.pixels = mask.class_ids;
  const std::vector<uint8_t> png = encode_png(grey);
  const std::string sha = sha256_hex(png.data(), png.size());
  const std::string path = "media/images/mask/" + media_name(key, step, sha, ".png");
  make_directories(run_dir + "/media/images/mask");
  write_file_atomic(run_dir + "/" + path, std::string(reinterpret_cast<const char*>(png.data()), png.size()), durable);
  return {{"_type", "mask"}, {"path", path}, {"sha256", sha}, {"size", png.size()}};
}

}  // namespace

nlohmann::json store_images(const std::string& run_dir, const std::string& key, int64_t step,
                            const std::vector<ImageValue>& images, std::vector<StoredImage>& stored,
                            bool durable) {
  if (images.empty()) return nullptr;
  nlohmann::json files = nlohmann::json::array();
  std::vector<nlohmann::json> masks(images.size());  // per image: {name: mask file} or null
  std::map<std::string, nlohmann::json> labels;
  bool any_mask = false;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const ImageValue& image = images[i];
    StoredImage out;
    out.image = &image;
    out.png = encode_png(image);
    std::string sha = sha256_hex(out.png.data(), out.png.size());
    // Images of one key and step are told apart by content; equal images share one file.
    out.path = "media/images/" + media_name(key, step, sha, ".png");
    write_file_atomic(run_dir + "/" + out.path,
                      std::string(reinterpret_cast<const char*>(out.png.data()), out.png.size()),
                      durable);
    nlohmann::json file = {{"_type", "image-file"}, {"path", out.path}, {"sha256", sha},
                           {"size", out.png.size()}, {"format", "png"},
                           {"width", image.width}, {"height", image.height}};
    if (!image.caption.empty()) file["caption"] = image.caption;
    for (const auto& [name, mask] : image.masks) {
      masks[i][name] = store_mask(run_dir, key, step, image, name, mask, durable);
      labels[name] = class_labels_json(mask);
      any_mask = true;
    }
    if (!image.masks.empty()) file["masks"] = masks[i];
    files.push_back(std::move(file));
    stored.push_back(std::move(out));
  }
  record_class_labels(run_dir, key, labels, durable);
  if (images.size() == 1) return files[0];
  nlohmann::json filenames = nlohmann::json::array(), captions = nlohmann::json::array();
  bool any_caption = false;
  for (std::size_t i = 0; i < images.size(); ++i) {
    filenames.push_back(files[i]["path"]);
    captions.push_back(images[i].caption);
    any_caption = any_caption || !images[i].caption.empty();
  }
  nlohmann::json value = {{"_type", "images/separated"}, {"width", images[0].width},
                          {"height", images[0].height}, {"format", "png"},
                          {"count", images.size()}, {"filenames", std::move(filenames)}};
  if (any_caption) value["captions"] = std::move(captions);
  if (any_mask) value["all_masks"] = std::move(masks);  // null for an image without masks
  return value;
}

nlohmann::json store_table(const std::string& run_dir, const std::string& key, int64_t step,
                           const TableValue& table, bool durable) {
  nlohmann::json data = nlohmann::json::array();
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    if (row.size() != table.columns.size())
      throw Error("run: table '" + key + "': row " + std::to_string(r) + " has " +
                  std::to_string(row.size()) + " cells, expected " + std::to_string(table.columns.size()));
    nlohmann::json cells = nlohmann::json::array();
    for (const auto& cell : row) cells.push_back(cell_json(cell));
    data.push_back(std::move(cells));
  }
  std::string text = nlohmann::json{{"columns", table.columns}, {"data", std::move(data)}}.dump();
  std::string sha = sha256_hex(text);
  std::string path = "media/table/" + media_name(key, step, sha, ".table.json");
  write_file_atomic(run_dir + "/" + path, text, durable);
  return {{"_type", "table-file"}, {"path", path}, {"sha256", sha}, {"size", text.size()},
          {"ncols", table.columns.size()}, {"nrows", table.rows.size()},
          {"log_mode", "IMMUTABLE"}};  // W&B's default mode: each logged table is a new, whole table
}

}  // namespace trainscope::detail
