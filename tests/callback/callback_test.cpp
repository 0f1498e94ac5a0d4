#include <gtest/gtest.h>

#include "callback/helpers.h"
#include "run/png_codec.h"
#include "trainscope/error.h"
#include "trainscope/torch/callback.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::fresh_run_dir;
using testing::read_history;
using testing::read_json;

CallbackOptions options_in(const fs::path& dir) {
  CallbackOptions options;
  options.run.directory = dir.string();
  options.save_graph = false;
  options.predictions = 0;
  options.warn = [](const std::string&) {};
  return options;
}

// Runs `epochs` epochs of `batches` batches, reporting `monitored[e]` as val_loss; the model's
// weights are set to the epoch number so checkpoints can be told apart.
void train(Callback& callback, torch::nn::Linear& model, const std::vector<double>& monitored, int batches,
           const std::string& monitor = "val_loss", int64_t first_step = 0) {
  torch::optim::SGD optimizer(model->parameters(), 0.0);
  callback.set_model(model);
  callback.set_optimizer(&optimizer);
  callback.on_train_begin();
  int64_t step = first_step;
  for (size_t epoch = 0; epoch < monitored.size(); ++epoch) {
    {
      torch::NoGradGuard no_grad;
      model->weight.fill_(float(epoch));
    }
    for (int b = 0; b < batches; ++b, ++step) {
      optimizer.zero_grad();
      auto loss = model->forward(torch::ones({2, model->options.in_features()})).sum();
      loss.backward();
      callback.after_backward();
      optimizer.step();
      callback.on_batch_end(step, {{"loss", loss.detach()}, {"lr", 0.1}});
    }
    callback.on_epoch_end(int64_t(epoch), {{monitor, torch::tensor(monitored[epoch], torch::kDouble)}});
  }
  callback.on_train_end();
}

TEST(Callback, EpochRowsCarryTensorAndHostMetrics) {
  auto dir = fresh_run_dir("epoch_rows");
  Callback callback(options_in(dir));
  torch::nn::Linear model(3, 1);
  train(callback, model, {0.5, 0.25}, 3);
  auto rows = read_history(dir);
  ASSERT_EQ(rows.size(), 2u);  // log_batch_frequency none: epoch rows only
  EXPECT_EQ(rows[0]["_step"], 2);  // the step where the epoch ended: its last batch
  EXPECT_EQ(rows[1]["_step"], 5);
  EXPECT_EQ(rows[0]["epoch"], 0);
  EXPECT_EQ(rows[0]["val_loss"], 0.5);
  EXPECT_EQ(rows[1]["val_loss"], 0.25);
  // log_batch_frequency 0: the batch metrics arrive averaged over the epoch, in its row.
  ASSERT_TRUE(rows[0].contains("loss"));
  EXPECT_NEAR(rows[0]["lr"].get<double>(), 0.1, 1e-12);
}

TEST(Callback, LogBatchFrequencyLogsEveryNthBatch) {
  auto dir = fresh_run_dir("batch_frequency");
  auto options = options_in(dir);
  options.log_batch_frequency = 2;
  Callback callback(options);
  torch::nn::Linear model(3, 1);
  train(callback, model, {1.0}, 5);
  auto rows = read_history(dir);
  ASSERT_EQ(rows.size(), 3u);  // batches 1 and 3 (0-based steps), then the epoch at its last step
  EXPECT_EQ(rows[0]["_step"], 1);
  EXPECT_EQ(rows[1]["_step"], 3);
  EXPECT_EQ(rows[2]["_step"], 4);
  EXPECT_FALSE(rows[0].contains("batch"));  // _step is the batch step: no extra counter card
  EXPECT_EQ(rows[0]["lr"], 0.1);
  // loss = sum(W·1 + b) over 2 rows, W filled with epoch 0 → 2·b
  double bias = model->bias.item<double>();
  EXPECT_NEAR(rows[0]["loss"].get<double>(), 2 * bias, 1e-6);
  EXPECT_EQ(rows[2]["epoch"], 0);
}

TEST(Callback, BestIsTrackedSavedAndNeverNan) {
  auto dir = fresh_run_dir("best");
  Callback callback(options_in(dir));
  torch::nn::Linear model(3, 1);
  train(callback, model, {1.0, 0.5, std::nan(""), 0.7, 0.4, 0.45}, 1);
  EXPECT_DOUBLE_EQ(*callback.best(), 0.4);
  EXPECT_EQ(callback.best_epoch(), 4);
  json summary = read_json(dir / "summary.json");
  EXPECT_DOUBLE_EQ(summary["best_val_loss"].get<double>(), 0.4);
  EXPECT_EQ(summary["best_epoch"], 4);
  // The checkpoint holds epoch 4's weights (filled with 4.0) and its training state.
  torch::nn::Linear restored(3, 1);
  auto state = load_checkpoint(callback.best_checkpoint_path(), *restored.ptr());
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->epoch, 4);
  EXPECT_DOUBLE_EQ(state->best, 0.4);
  EXPECT_EQ(state->step, 4);
  EXPECT_TRUE(torch::all(restored->weight == 4.0f).item<bool>());
}

TEST(Callback, AllNanNeverSavesACheckpoint) {
  auto dir = fresh_run_dir("all_nan");
  Callback callback(options_in(dir));
  torch::nn::Linear model(3, 1);
  train(callback, model, {std::nan(""), std::nan("")}, 1);
  EXPECT_FALSE(callback.best().has_value());
  EXPECT_FALSE(fs::exists(dir / "checkpoints/model-best.pt"));
  EXPECT_FALSE(read_json(dir / "summary.json").contains("best_val_loss"));
}

TEST(Callback, SaveWeightsOnlyAndSaveModelOff) {
  auto dir = fresh_run_dir("weights_only");
  auto options = options_in(dir);
  options.save_weights_only = true;
  Callback callback(options);
  torch::nn::Linear model(3, 1);
  train(callback, model, {1.0, 2.0}, 1);
  torch::nn::Linear restored(3, 1);
  torch::load(restored, (dir / "checkpoints/model-best.pt").string());  // plain torch format
  EXPECT_TRUE(torch::all(restored->weight == 0.0f).item<bool>());     // epoch 0 was best
  EXPECT_FALSE(load_checkpoint((dir / "checkpoints/model-best.pt").string(), *restored.ptr()).has_value());

  auto dir2 = fresh_run_dir("no_save");
  auto no_save = options_in(dir2);
  no_save.save_model = false;
  Callback callback2(no_save);
  torch::nn::Linear model2(3, 1);
  train(callback2, model2, {1.0, 0.5}, 1);
  EXPECT_FALSE(fs::exists(dir2 / "checkpoints/model-best.pt"));
  EXPECT_DOUBLE_EQ(read_json(dir2 / "summary.json")["best_val_loss"].get<double>(), 0.5);
}

TEST(Callback, ModeAutoMaximisesAccuracyAndPrefixIsConfigurable) {
  auto dir = fresh_run_dir("mode_prefix");
  auto options = options_in(dir);
  options.monitor = "val_acc";
  options.log_best_prefix = std::string("top_");
  Callback callback(options);
  torch::nn::Linear model(3, 1);
  train(callback, model, {0.5, 0.9, 0.7}, 1, "val_acc");
  json summary = read_json(dir / "summary.json");
  EXPECT_DOUBLE_EQ(summary["top_val_acc"].get<double>(), 0.9);
  EXPECT_EQ(summary["top_epoch"], 1);
  EXPECT_FALSE(summary.contains("best_val_acc"));

  auto dir2 = fresh_run_dir("no_prefix");
  auto none = options_in(dir2);
  none.log_best_prefix = std::nullopt;
  none.mode = MonitorMode::Max;
  Callback callback2(none);
  torch::nn::Linear model2(3, 1);
  train(callback2, model2, {0.5, 0.9}, 1);
  json summary2 = read_json(dir2 / "summary.json");
  for (auto& [key, value] : summary2.items()) EXPECT_EQ(key.find("best"), std::string::npos) << key;
  EXPECT_DOUBLE_EQ(*callback2.best(), 0.9);  // max mode: 0.9 is best even for a "loss"
}

TEST(Callback, UnknownModeAndMissingMonitorWarnOnce) {
  auto dir = fresh_run_dir("warnings");
  auto options = options_in(dir);
  std::vector<std::string> warnings;
  options.warn = [&](const std::string& w) { warnings.push_back(w); };
  std::string warning;  // the documented names, read from text: an unknown one warns and is auto
  options.mode = monitor_mode_from_string("largest", &warning);
  EXPECT_EQ(options.mode, MonitorMode::Auto);
  EXPECT_NE(warning.find("largest"), std::string::npos);
  EXPECT_EQ(monitor_mode_from_string("max"), MonitorMode::Max);
  Callback callback(options);
  torch::nn::Linear model(3, 1);
  train(callback, model, {1.0, 0.5, 0.2}, 1, "val_other");  // val_loss never reported
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("val_loss"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "checkpoints/model-best.pt"));
}

TEST(Callback, HistogramsFollowTheirOwnFrequency) {
  auto dir = fresh_run_dir("histograms");
  auto options = options_in(dir);
  options.log_weights = true;
  options.log_gradients = true;
  options.histogram_frequency = 2;
  options.histogram_bins = 4;
  Callback callback(options);
  torch::nn::Linear model(4, 1);
  train(callback, model, {1.0}, 4);
  auto rows = read_history(dir);
  // Batches 1 and 3 carry the histograms; the epoch row lands on the epoch's last step (3) and
  // joins that row (docs/callback.md#steps).
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["_step"], 1);
  EXPECT_EQ(rows[1]["_step"], 3);
  EXPECT_FALSE(rows[0].contains("val_loss"));
  EXPECT_TRUE(rows[1].contains("val_loss"));
  EXPECT_TRUE(rows[1].contains("loss"));  // the epoch's batch average, with the epoch row
  for (int i : {0, 1}) {
    const json& row = rows[i];
    if (i == 0) EXPECT_FALSE(row.contains("loss"));  // metrics are not due (log_batch_frequency none)
    // weight filled with 0 → one bin of 4 values at [0, 0]
    EXPECT_EQ(row["parameters/weight"], json({{"_type", "histogram"}, {"values", {4}}, {"bins", {0.0, 0.0}}}));
    // d(sum(W·1 + b))/dW over 2 rows of ones = 2 everywhere; d/db = 2
    EXPECT_EQ(row["gradients/weight"]["values"], json({4}));
    EXPECT_EQ(row["gradients/weight"]["bins"], json({2.0, 2.0}));
    EXPECT_EQ(row["gradients/bias"]["values"], json({1}));
    EXPECT_EQ(row["parameters/bias"]["_type"], "histogram");
  }
}

TEST(Callback, EpochHistogramsUseTheConfiguredBins) {
  auto dir = fresh_run_dir("epoch_histograms");
  auto options = options_in(dir);
  options.log_weights = true;
  options.histogram_bins = 4;
  Callback callback(options);
  torch::nn::Linear model(4, 1);
  callback.set_model(model);
  callback.on_train_begin();
  {
    torch::NoGradGuard no_grad;
    model->weight.copy_(torch::tensor({{0.0f, 1.0f, 2.0f, 3.0f}}));
  }
  callback.on_epoch_end(0, {{"val_loss", 1.0}});
  callback.on_train_end();
  auto rows = read_history(dir);
  // lo 0, hi 3, width 0.75: 0 → bin 0, 1 → bin 1, 2 → bin 2, 3 → last bin
  EXPECT_EQ(rows[0]["parameters/weight"]["values"], json({1, 1, 1, 1}));
  EXPECT_EQ(rows[0]["parameters/weight"]["bins"], json({0.0, 0.75, 1.5, 2.25, 3.0}));
}

// A classifier over 1×4×4 "images": the output is the logits; captions come from labels.
struct TinyClassifier : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x) { return x.reshape({x.size(0), -1}).narrow(1, 0, 3) * 10; }
};

TEST(Callback, PredictionExamplesAreCaptionedAndClampedToHundred) {
  auto dir = fresh_run_dir("predictions");
  auto options = options_in(dir);
  options.predictions = 150;  // clamped to 100
  options.labels = {"cat", "dog"};  // index 2 has no name: caption "2"
  auto inputs = torch::zeros({120, 1, 4, 4});
  for (int i = 0; i < 120; ++i) inputs[i][0][0][i % 3] = 1.0;  // class i % 3
  options.validation_inputs = inputs;
  options.validation_targets = torch::arange(120) % 3;
  Callback callback(options);
  auto model = std::make_shared<TinyClassifier>();
  callback.set_model(model);
  callback.on_train_begin();
  callback.on_epoch_end(0, {{"val_loss", 1.0}});
  callback.on_train_end();
  json examples = read_history(dir)[0]["examples"];
  EXPECT_EQ(examples["_type"], "images/separated");
  EXPECT_EQ(examples["count"], 100);
  EXPECT_EQ(examples["captions"][0], "cat");
  EXPECT_EQ(examples["captions"][1], "dog");
  EXPECT_EQ(examples["captions"][2], "2");
  EXPECT_EQ(examples["width"], 4);
  std::ifstream png(dir / examples["filenames"][1].get<std::string>(), std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(png)), {});
  ImageValue image = detail::decode_png(bytes);
  EXPECT_EQ(image.channels, 3);
  // min–max normalised grey: the single 1 at (0, 1) is white, the rest black
  EXPECT_EQ(image.pixels[3 * 1], 255);
  EXPECT_EQ(image.pixels[0], 0);
}

TEST(Callback, GeneratorSuppliesValidationStepsBatches) {
  auto dir = fresh_run_dir("generator");
  auto options = options_in(dir);
  options.predictions = 36;
  options.labels = {"a", "b", "c"};
  int calls = 0;
  options.generator = [&calls]() {
    auto x = torch::zeros({4, 1, 4, 4});
    for (int i = 0; i < 4; ++i) x[i][0][0][(calls + i) % 3] = 1.0;
    ++calls;
    return std::make_pair(x, torch::Tensor());
  };
  options.validation_steps = 3;
  Callback callback(options);
  callback.set_model(std::make_shared<TinyClassifier>());
  callback.on_train_begin();
  callback.on_epoch_end(0, {{"val_loss", 1.0}});
  callback.on_train_end();
  EXPECT_EQ(calls, 3);
  json examples = read_history(dir)[0]["examples"];
  EXPECT_EQ(examples["count"], 12);  // 3 batches of 4
  EXPECT_EQ(examples["captions"][4], "b");  // second batch starts at class 1
}

// Segmentation: the output's argmax and the target mask are drawn with class_colors.
struct TinySegmenter : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x) {
    // two classes: channel 1 wins where the input is positive
    return torch::cat({torch::zeros_like(x), x}, 1);
  }
};

TEST(Callback, SegmentationTripletsUseClassColors) {
  auto dir = fresh_run_dir("segmentation");
  auto options = options_in(dir);
  options.predictions = 2;
  options.output_type = DataType::SegmentationMask;
  options.class_colors = {{0.f, 0.f, 1.f}, {1.f, 1.f, 0.f}};  // blue background, yellow object
  auto inputs = torch::full({3, 1, 2, 2}, -1.0f);
  inputs.index_put_({torch::indexing::Slice(), 0, 0, 0}, 1.0f);  // top-left pixel: class 1
  options.validation_inputs = inputs;
  options.validation_targets = torch::ones({3, 2, 2}, torch::kLong);  // target: all class 1
  Callback callback(options);
  callback.set_model(std::make_shared<TinySegmenter>());
  callback.on_train_begin();
  callback.on_epoch_end(0, {{"val_loss", 1.0}});
  callback.on_train_end();
  json examples = read_history(dir)[0]["examples"];
  EXPECT_EQ(examples["count"], 2);
  EXPECT_EQ(examples["width"], 6);  // input | output | target
  EXPECT_EQ(examples["height"], 2);
  std::ifstream png(dir / examples["filenames"][0].get<std::string>(), std::ios::binary);
  ImageValue image = detail::decode_png(std::vector<uint8_t>((std::istreambuf_iterator<char>(png)), {}));
  auto pixel = [&](int x, int y) {
    const uint8_t* p = &image.pixels[(y * image.width + x) * 3];
    return std::vector<int>{p[0], p[1], p[2]};
  };
  EXPECT_EQ(pixel(0, 0), (std::vector<int>{255, 255, 255}));  // input max → white
  EXPECT_EQ(pixel(1, 0), (std::vector<int>{0, 0, 0}));        // input min → black
  EXPECT_EQ(pixel(2, 0), (std::vector<int>{255, 255, 0}));    // output class 1
  EXPECT_EQ(pixel(3, 0), (std::vector<int>{0, 0, 255}));      // output class 0
  EXPECT_EQ(pixel(5, 1), (std::vector<int>{255, 255, 0}));    // target class 1
}

TEST(Callback, EvaluationTablesFollowTheFrequencyAndProcessors) {
  auto dir = fresh_run_dir("evaluation");
  auto options = options_in(dir);
  options.log_evaluation = true;
  options.log_evaluation_frequency = 2;
  options.labels = {"a", "b", "c"};
  auto inputs = torch::zeros({4, 1, 4, 4});
  for (int i = 0; i < 4; ++i) inputs[i][0][0][i % 3] = 1.0;
  options.validation_inputs = inputs;
  options.validation_targets = torch::tensor({0, 1, 1, 0});
  options.validation_row_processor = [](int64_t index, const std::map<std::string, torch::Tensor>& row) {
    return TableRow{{"input_sum", row.at("input").sum().item<double>()}, {"twice", int64_t(2 * index)}};
  };
  Callback callback(options);
  callback.set_model(std::make_shared<TinyClassifier>());
  callback.on_train_begin();
  for (int epoch = 0; epoch < 4; ++epoch) callback.on_epoch_end(epoch, {{"val_loss", 1.0}});
  callback.on_train_end();
  auto rows = read_history(dir);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_FALSE(rows[0].contains("evaluation"));
  EXPECT_TRUE(rows[1].contains("evaluation"));  // after 2 epochs
  EXPECT_FALSE(rows[2].contains("evaluation"));
  EXPECT_TRUE(rows[3].contains("evaluation"));
  json table = read_json(dir / rows[1]["evaluation"]["path"].get<std::string>());
  // output processor inferred from labels: output label name and softmax confidence
  EXPECT_EQ(table["columns"], json({"index", "input_sum", "twice", "confidence", "output"}));
  ASSERT_EQ(table["data"].size(), 4u);
  EXPECT_EQ(table["data"][1][0], 1);
  EXPECT_EQ(table["data"][1][1], 1.0);
  EXPECT_EQ(table["data"][1][2], 2);
  EXPECT_EQ(table["data"][1][4], "b");
  double expected = std::exp(10.0) / (std::exp(10.0) + 2.0);  // logits (0, 10, 0)
  EXPECT_NEAR(table["data"][1][3].get<double>(), expected, 1e-12);
}

TEST(Callback, EvaluationAtTrainEndWithValidationIndexes) {
  auto dir = fresh_run_dir("evaluation_end");
  auto options = options_in(dir);
  options.log_evaluation = true;  // frequency 0: end of training only
  options.labels = {"a", "b", "c"};
  options.validation_inputs = torch::zeros({2, 1, 4, 4});
  options.validation_targets = torch::tensor({2, 0});
  options.validation_indexes = {"row-7", "row-9"};
  Callback callback(options);
  callback.set_model(std::make_shared<TinyClassifier>());
  callback.on_train_begin();
  callback.on_epoch_end(0, {{"val_loss", 1.0}});
  callback.on_train_end();
  auto rows = read_history(dir);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows[0].contains("evaluation"));
  json table = read_json(dir / rows[1]["evaluation"]["path"].get<std::string>());
  EXPECT_EQ(table["columns"][0], "val_row");
  EXPECT_EQ(table["data"][0][0], "row-7");
  EXPECT_EQ(table["data"][1][0], "row-9");
  for (const auto& column : table["columns"]) EXPECT_NE(column, "target");  // linked, not rewritten

  auto dir2 = fresh_run_dir("evaluation_bad_indexes");
  auto bad = options;
  bad.run.directory = dir2.string();
  bad.validation_indexes = {"only-one"};
  Callback callback2(bad);
  callback2.set_model(std::make_shared<TinyClassifier>());
  callback2.on_train_begin();
  EXPECT_THROW(callback2.on_train_end(), Error);
}

TEST(Callback, BadOptionsAndMetricsAreErrors) {
  auto dir = fresh_run_dir("bad");
  auto options = options_in(dir);
  auto with = [&](auto change) {
    auto o = options;
    change(o);
    return o;
  };
  EXPECT_THROW(Callback(with([](CallbackOptions& o) { o.histogram_bins = 0; })), Error);
  EXPECT_THROW(Callback(with([](CallbackOptions& o) { o.histogram_bins = 513; })), Error);
  EXPECT_THROW(data_type_from_string("picture", "input_type"), Error);
  EXPECT_EQ(data_type_from_string("segmentation_mask"), DataType::SegmentationMask);
  EXPECT_THROW(Callback(with([](CallbackOptions& o) { o.monitor = ""; })), Error);
  EXPECT_THROW(Callback(with([](CallbackOptions& o) { o.class_colors = {{2.f, 0.f, 0.f}}; })), Error);
  Callback callback(options);
  torch::nn::Linear model(3, 1);
  callback.set_model(model);
  callback.on_train_begin();
  EXPECT_THROW(callback.on_epoch_end(0, {{"val_loss", torch::ones({3})}}), Error);
  EXPECT_THROW(callback.on_epoch_end(0, {{"other", torch::ones({2})}}), Error);
  EXPECT_THROW(callback.get_flops(), Error);  // no input to count with
}

TEST(Callback, ResumeContinuesStepsAndKeepsTheBest) {
  auto dir = fresh_run_dir("resume");
  {
    Callback callback(options_in(dir));
    torch::nn::Linear model(3, 1);
    train(callback, model, {1.0, 0.3}, 1);
  }
  Callback resumed(options_in(dir));
  torch::nn::Linear model(3, 1);
  // The loop continues its global step (a resumed run refuses older steps).
  train(resumed, model, {0.5, 0.2}, 1, "val_loss", resumed.run().next_step());  // 0.5 is worse than 0.3
  auto rows = read_history(dir);
  ASSERT_EQ(rows.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(rows[i]["_step"], i);
  EXPECT_DOUBLE_EQ(*resumed.best(), 0.2);
  EXPECT_EQ(resumed.best_epoch(), 1);
  torch::nn::Linear restored(3, 1);
  auto state = load_checkpoint(resumed.best_checkpoint_path(), *restored.ptr());
  EXPECT_DOUBLE_EQ(state->best, 0.2);
  EXPECT_TRUE(torch::all(restored->weight == 1.0f).item<bool>());
}

TEST(Callback, ResumedBestBlocksAWorseCheckpoint) {
  auto dir = fresh_run_dir("resume_best");
  {
    Callback callback(options_in(dir));
    torch::nn::Linear model(3, 1);
    train(callback, model, {0.1}, 1);
  }
  auto before = fs::last_write_time(dir / "checkpoints/model-best.pt");
  Callback resumed(options_in(dir));
  torch::nn::Linear model(3, 1);
  train(resumed, model, {0.5}, 1, "val_loss", resumed.run().next_step());
  EXPECT_DOUBLE_EQ(*resumed.best(), 0.1);
  EXPECT_EQ(fs::last_write_time(dir / "checkpoints/model-best.pt"), before);
  EXPECT_DOUBLE_EQ(read_json(dir / "summary.json")["best_val_loss"].get<double>(), 0.1);
}

TEST(Callback, GraphAndConfigAreWritten) {
  auto dir = fresh_run_dir("graph");
  auto options = options_in(dir);
  options.save_graph = true;
  Callback callback(options);
  callback.set_params({{"epochs", int64_t(2)}, {"batch_size", int64_t(8)}});
  torch::nn::Linear model(3, 2);
  train(callback, model, {1.0}, 1);
  json graph = read_json(dir / "graph.json");
  EXPECT_EQ(graph["total_parameters"], 8);
  EXPECT_EQ(read_json(dir / "summary.json")["graph"]["path"], "graph.json");
  json config = read_json(dir / "config.json");
  EXPECT_EQ(config["epochs"], 2);
  EXPECT_EQ(config["batch_size"], 8);
  EXPECT_EQ(config["trainscope.monitor"], "val_loss");
  EXPECT_EQ(config["trainscope.mode"], "min");
}

}  // namespace
}  // namespace trainscope

namespace trainscope {
namespace {

// log_batch_frequency 0 (the default): the batch metrics are not dropped but averaged over the
// epoch and logged with the epoch's row, as Keras's epoch logs are.
TEST(CallbackBatchMetrics, AveragedIntoTheEpochRowByDefault) {
  auto dir = testing::fresh_run_dir("batch_average");
  CallbackOptions options;
  options.run.directory = dir.string();
  options.predictions = 0;
  options.save_model = false;
  options.tensorboard = false;
  options.monitor = "val_loss";
  Callback callback(options);
  callback.on_train_begin();
  const std::vector<double> losses = {0.9, 0.5, 0.4, 0.2};
  for (int64_t step = 0; step < 4; ++step) {
    callback.on_batch_end(step, {{"loss", torch::tensor(losses[step])}, {"lr", 0.1 * double(step + 1)}});
  }
  callback.on_epoch_end(0, {{"val_loss", 0.7}});
  for (int64_t step = 4; step < 6; ++step) callback.on_batch_end(step, {{"loss", 1.0}, {"lr", 1.0}});
  callback.on_epoch_end(1, {{"val_loss", 0.6}, {"lr", 5.0}});  // an epoch metric wins over the average
  callback.on_train_end();
  const auto rows = testing::read_history(dir);
  ASSERT_EQ(rows.size(), 2u);
  double expected = 0;  // the tensors are float32: their values, summed in double
  for (double l : losses) expected += double(float(l));
  EXPECT_NEAR(rows[0]["loss"].get<double>(), expected / 4, 1e-12);
  EXPECT_NEAR(rows[0]["lr"].get<double>(), 0.25, 1e-12);
  EXPECT_NEAR(rows[1]["loss"].get<double>(), 1.0, 1e-12);  // the second epoch's batches only
  EXPECT_EQ(rows[1]["lr"].get<double>(), 5.0);
}

TEST(CallbackBatchMetrics, UndefinedTensorIsAnErrorNamingTheKey) {
  auto dir = testing::fresh_run_dir("undefined_metric");
  CallbackOptions options;
  options.run.directory = dir.string();
  options.predictions = 0;
  options.tensorboard = false;
  options.monitor = "val_acc";
  Callback callback(options);
  callback.on_train_begin();
  torch::Tensor never_computed;
  for (int frequency_case = 0; frequency_case < 2; ++frequency_case) {
    try {
      if (frequency_case == 0) callback.on_batch_end(0, {{"loss", never_computed}});
      else callback.on_epoch_end(0, {{"val_acc", never_computed}});
      ADD_FAILURE() << "expected an Error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(frequency_case == 0 ? "'loss'" : "'val_acc'"), std::string::npos) << what;
      EXPECT_NE(what.find("undefined"), std::string::npos) << what;
    }
  }
  callback.on_train_end();
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoints/model-best.pt"));
}

}  // namespace
}  // namespace trainscope

namespace trainscope {
namespace {

// A program using the callback says where its run is, how to view it and how to upload it, through
// the log hook (so a program can silence or redirect it).
TEST(CallbackConsole, StartAndEndLinesThroughTheLogHook) {
  auto dir = testing::fresh_run_dir("console");
  CallbackOptions options;
  options.run.directory = dir.string();
  options.predictions = 0;
  options.monitor = "val_loss";
  std::vector<std::string> lines;
  options.log = [&](const std::string& line) { lines.push_back(line); };
  torch::nn::Linear model(2, 1);
  Callback callback(options);
  callback.set_model(model);
  callback.on_train_begin();
  callback.on_epoch_end(0, {{"val_loss", 0.5}});
  callback.on_epoch_end(1, {{"val_loss", 0.25}});
  callback.on_train_end();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(fs::canonical(dir).string()), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("tensorboard --logdir"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("best val_loss 0.25"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("epoch 1"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("model-best.pt"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("trainscope sync"), std::string::npos) << lines[1];
}

// Label → label validation data has no image to show: one warning says why, not silence.
TEST(CallbackConsole, ValidationDataWithoutImagesWarnsOnce) {
  auto dir = testing::fresh_run_dir("no_examples");
  CallbackOptions options;
  options.run.directory = dir.string();
  options.monitor = "val_loss";
  options.log = [](const std::string&) {};
  options.labels = {"a", "b", "c"};
  options.validation_inputs = torch::randn({10, 4});
  options.validation_targets = torch::randint(0, 3, {10});
  std::vector<std::string> warnings;
  options.warn = [&](const std::string& w) { warnings.push_back(w); };
  torch::nn::Linear model(4, 3);
  Callback callback(options);
  callback.set_model(model);
  callback.on_train_begin();
  callback.on_epoch_end(0, {{"val_loss", 0.5}});
  callback.on_epoch_end(1, {{"val_loss", 0.4}});
  callback.on_train_end();
  int about_examples = 0;
  for (const auto& w : warnings) about_examples += w.find("no prediction examples") != std::string::npos;
  EXPECT_EQ(about_examples, 1);
}

}  // namespace
}  // namespace trainscope
