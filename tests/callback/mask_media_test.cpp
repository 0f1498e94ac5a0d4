// Segmentation masks as W&B masks (docs/run-directory.md#masks): an image's "masks" hold class-index
// PNGs under media/images/mask/ with W&B's fields, pixels equal to the class ids; the class labels
// reach <run>/class_labels.json under W&B's config keys. The callback adds them to image →
// segmentation examples.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "callback/helpers.h"
#include "run/png_codec.h"
#include "run/sha256.h"
#include "trainscope/torch/callback.h"

namespace trainscope::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), {});
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// The mask object as W&B writes it: exactly _type "mask", path, sha256, size — of the file there.
void expect_mask_file(const fs::path& dir, const json& mask, const std::vector<uint8_t>& ids, int width) {
  ASSERT_TRUE(mask.is_object()) << mask;
  std::set<std::string> fields;
  for (const auto& item : mask.items()) fields.insert(item.key());
  EXPECT_EQ(fields, (std::set<std::string>{"_type", "path", "sha256", "size"}));
  EXPECT_EQ(mask["_type"], "mask");
  const std::string path = mask["path"];
  EXPECT_EQ(path.rfind("media/images/mask/", 0), 0u) << path;
  const auto png = read_bytes(dir / path);
  EXPECT_EQ(mask["size"], png.size());
  EXPECT_EQ(mask["sha256"], detail::sha256_hex(png.data(), png.size()));
  const ImageValue decoded = detail::decode_png(png);
  EXPECT_EQ(decoded.channels, 1) << "a class-index PNG is 8-bit grey";
  EXPECT_EQ(decoded.width, width);
  EXPECT_EQ(decoded.pixels, ids) << "pixels must be the class ids";
}

TEST(MaskMedia, ImageWithMasksAsWandbWritesThem) {
  auto dir = fresh_run_dir("mask_media");
  RunOptions options;
  options.directory = dir.string();
  trainscope::Run run(options);
  ImageValue image;
  image.width = 3;
  image.height = 2;
  image.channels = 3;
  image.pixels.assign(3 * 2 * 3, 7);
  MaskValue predicted{{0, 1, 2, 2, 1, 0}, {{0, "sky"}, {1, "cat"}, {2, "dog"}}};
  MaskValue truth{{0, 0, 5, 5, 0, 0}, {}};  // unnamed: W&B's "class_<id>" per id present
  image.masks["predictions"] = predicted;
  image.masks["ground_truth"] = truth;
  ImageValue plain = image;
  plain.masks.clear();
  run.log({{"seg", image}, {"segs", std::vector<ImageValue>{plain, image}}});
  run.finish();

  const json row = read_history(dir)[0];
  expect_mask_file(dir, row["seg"]["masks"]["predictions"], predicted.class_ids, 3);
  expect_mask_file(dir, row["seg"]["masks"]["ground_truth"], truth.class_ids, 3);
  EXPECT_EQ(row["seg"]["_type"], "image-file");
  // A list: "all_masks" holds one entry per image, null where an image has none.
  ASSERT_TRUE(row["segs"]["all_masks"].is_array()) << row["segs"];
  ASSERT_EQ(row["segs"]["all_masks"].size(), 2u);
  EXPECT_TRUE(row["segs"]["all_masks"][0].is_null());
  expect_mask_file(dir, row["segs"]["all_masks"][1]["predictions"], predicted.class_ids, 3);

  const json labels = read_json(dir / "class_labels.json");
  EXPECT_EQ(labels["seg_wandb_delimeter_predictions"], json::parse(R"({"0":"sky","1":"cat","2":"dog"})"));
  EXPECT_EQ(labels["seg_wandb_delimeter_ground_truth"], json::parse(R"({"0":"class_0","5":"class_5"})"));
  EXPECT_TRUE(labels.contains("segs_wandb_delimeter_predictions"));
}

TEST(MaskMedia, MaskOfTheWrongSizeIsAnError) {
  auto dir = fresh_run_dir("mask_size");
  RunOptions options;
  options.directory = dir.string();
  trainscope::Run run(options);
  ImageValue image;
  image.width = 2;
  image.height = 2;
  image.channels = 1;
  image.pixels.assign(4, 0);
  image.masks["predictions"].class_ids = {0, 1, 2};
  run.log({{"seg", image}});
  EXPECT_THROW(run.finish(), Error);
}

struct TwoClassSegmenter : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x) { return torch::cat({torch::zeros_like(x), x}, 1); }
};

TEST(MaskMedia, CallbackLogsSegmentationExamplesWithMasks) {
  auto dir = fresh_run_dir("callback_masks");
  CallbackOptions options;
  options.run.directory = dir.string();
  options.save_graph = false;
  options.tensorboard = false;
  options.warn = [](const std::string&) {};
  options.log = [](const std::string&) {};
  options.predictions = 2;
  options.output_type = DataType::SegmentationMask;
  options.labels = {"background", "object"};
  auto inputs = torch::full({3, 1, 2, 2}, -1.0f);
  inputs.index_put_({torch::indexing::Slice(), 0, 0, 0}, 1.0f);  // top-left pixel: class 1
  options.validation_inputs = inputs;
  auto targets = torch::zeros({3, 2, 2}, torch::kLong);
  targets.index_put_({torch::indexing::Slice(), 1, 1}, 1);  // bottom-right: class 1
  options.validation_targets = targets;
  Callback callback(options);
  callback.set_model(std::make_shared<TwoClassSegmenter>());
  callback.on_train_begin();
  callback.on_epoch_end(0, {{"val_loss", 1.0}});
  callback.on_train_end();
  const json row = read_history(dir)[0];
  EXPECT_EQ(row["examples"]["width"], 6) << "the coloured triplets stay";
  const json masks = row["examples_masks"];
  EXPECT_EQ(masks["_type"], "images/separated");
  EXPECT_EQ(masks["count"], 2);
  EXPECT_EQ(masks["width"], 2);
  ASSERT_EQ(masks["all_masks"].size(), 2u);
  expect_mask_file(dir, masks["all_masks"][0]["predictions"], {1, 0, 0, 0}, 2);
  expect_mask_file(dir, masks["all_masks"][0]["ground_truth"], {0, 0, 0, 1}, 2);
  const json labels = read_json(dir / "class_labels.json");
  EXPECT_EQ(labels["examples_masks_wandb_delimeter_predictions"], json::parse(R"({"0":"background","1":"object"})"));
}

}  // namespace
}  // namespace trainscope::testing
