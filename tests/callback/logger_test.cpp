// trainscope::Logger / Callback::log (docs/callback.md#logging) from CPU tensors: every value kind
// as history.jsonl holds it and as TensorBoard's own EventAccumulator reads it back
// (tests/support/read_tensorboard.py --full), against values computed by hand here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "callback/helpers.h"
#include "run/png_codec.h"
#include "run/file_io.h"
#include "support/expect_error.h"
#include "trainscope/error.h"
#include "trainscope/sinks/tensorboard.h"
#include "trainscope/torch/callback.h"
#include "trainscope/torch/log.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// TensorBoard's reader over <dir>/tb; skips (with the reason) where ctest did not configure Python.
bool read_tensorboard_full(const fs::path& dir, json& out) {
  const char* python = std::getenv("TRAINSCOPE_PYTHON");
  const char* source = std::getenv("TRAINSCOPE_SOURCE_DIR");
  if (!python || !*python || !source || !*source) return false;
  std::string command = std::string("'") + python + "' '" + source + "/tests/support/read_tensorboard.py' --full '" +
                        (dir / "tb").string() + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  EXPECT_EQ(::pclose(pipe), 0) << output;
  out = json::parse(output.substr(output.rfind("\n{") == std::string::npos ? 0 : output.rfind("\n{") + 1));
  return true;
}

std::shared_ptr<Run> run_with_tensorboard(const fs::path& dir) {
  RunOptions options;
  options.directory = dir.string();
  auto run = std::make_shared<trainscope::Run>(options);
  TensorBoardOptions tb;
  tb.flush_interval_seconds = 0;
  run->add_sink(std::make_shared<TensorBoardSink>(tensorboard_log_dir(run->directory()), tb));
  return run;
}

std::vector<uint8_t> png_pixels(const fs::path& dir, const json& value) {
  std::string bytes = detail::read_file((dir / value.at("path").get<std::string>()).string());
  return detail::decode_png(std::vector<uint8_t>(bytes.begin(), bytes.end())).pixels;
}

void expect_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  test_support::expect_error_all(fn, needles);
}

TEST(Logger, EveryValueKindMatchesHistoryAndTensorBoard) {
  auto dir = testing::fresh_run_dir("logger_kinds");
  auto run = run_with_tensorboard(dir);
  Logger logger(run);
  // CHW float image in [0, 1] (values outside are clamped): 3 channels, 1 × 2 pixels.
  auto chw = torch::tensor({0.0f, 1.0f, 0.5f, 2.0f, 0.2f, -1.0f}).reshape({3, 1, 2});
  const std::vector<uint8_t> chw_pixels = {0, 128, 51, 255, 255, 0};  // round(255·v), HWC order
  auto grey = torch::tensor({10, 20, 30, 40}, torch::kByte).reshape({2, 2, 1});  // HWC uint8
  auto batch = torch::zeros({2, 1, 1, 2}, torch::kFloat);                      // NCHW, two images
  batch[1].fill_(1.0f);
  auto ids = torch::tensor({0, 1, 2, 7}, torch::kLong).reshape({2, 2});
  Palette palette({{0, 0, 0}, {255, 0, 0}, {0, 0, 255}});
  TableValue table{{"k"}, {{int64_t(4)}}};
  logger.log({{"loss", torch::tensor(0.25f)},
              {"lr", 0.5},
              {"note", "first"},
              {"weights", Histogram(torch::tensor({0.0, 1.0, 2.0, 3.0}), 4)},
              {"chw", Image(chw, "rgb")},
              {"grey", Image(grey)},
              {"batch", Images(batch, {"zero", "one"})},
              {"mask", Mask(ids, palette)},
              {"table", table}},
             5);
  logger.log({{"loss", torch::tensor(0.125, torch::kDouble)}}, 5);  // same step: replaces
  logger.log({{"loss", 1.5}}, 9, true);
  run->finish();

  auto rows = testing::read_history(dir);
  ASSERT_EQ(rows.size(), 2u);
  const json& row = rows[0];
  EXPECT_EQ(row["_step"], 5);
  EXPECT_EQ(row["loss"], 0.125);
  EXPECT_EQ(row["lr"], 0.5);
  EXPECT_EQ(row["note"], "first");
  EXPECT_EQ(row["weights"]["values"], json({1, 1, 1, 1}));
  EXPECT_EQ(row["weights"]["bins"], json({0.0, 0.75, 1.5, 2.25, 3.0}));
  EXPECT_EQ(row["chw"]["width"], 2);
  EXPECT_EQ(row["chw"]["height"], 1);
  EXPECT_EQ(row["chw"]["caption"], "rgb");
  EXPECT_EQ(png_pixels(dir, row["chw"]), chw_pixels);
  EXPECT_EQ(png_pixels(dir, row["grey"]), std::vector<uint8_t>({10, 20, 30, 40}));
  EXPECT_EQ(row["batch"]["_type"], "images/separated");
  EXPECT_EQ(row["batch"]["count"], 2);
  EXPECT_EQ(row["batch"]["captions"], json({"zero", "one"}));
  const std::vector<uint8_t> mask_pixels = {0, 0, 0, 255, 0, 0, 0, 0, 255, 0, 0, 0};  // id 7: ignore colour
  EXPECT_EQ(png_pixels(dir, row["mask"]), mask_pixels);
  EXPECT_EQ(row["table"]["nrows"], 1);
  EXPECT_EQ(rows[1]["_step"], 9);

  json tb;
  if (!read_tensorboard_full(dir, tb)) GTEST_SKIP() << "TRAINSCOPE_PYTHON / TRAINSCOPE_SOURCE_DIR not set (run through ctest)";
  EXPECT_EQ(tb["scalars"]["loss"], json::parse("[[5, 0.125], [9, 1.5]]"));
  EXPECT_EQ(tb["scalars"]["lr"], json::parse("[[5, 0.5]]"));
  const json& h = tb["histograms"]["weights"].at(0);
  EXPECT_EQ(h["step"], 5);
  EXPECT_EQ(h["min"], 0.0);
  EXPECT_EQ(h["max"], 3.0);
  EXPECT_EQ(h["num"], 4.0);
  EXPECT_EQ(h["sum"], 6.0);
  EXPECT_EQ(h["sum_squares"], 14.0);
  EXPECT_EQ(h["bucket_limit"], json({0.75, 1.5, 2.25, 3.0}));
  EXPECT_EQ(h["bucket"], json({1.0, 1.0, 1.0, 1.0}));
  const json& image = tb["images"]["chw"].at(0);
  EXPECT_EQ(image["step"], 5);
  EXPECT_EQ(image["mode"], "RGB");
  EXPECT_EQ(image["pixels"].get<std::vector<uint8_t>>(), chw_pixels);
  EXPECT_EQ(tb["images"]["grey"].at(0)["mode"], "L");
  EXPECT_EQ(tb["images"]["grey"].at(0)["pixels"].get<std::vector<uint8_t>>(), std::vector<uint8_t>({10, 20, 30, 40}));
  EXPECT_EQ(tb["images"]["batch/1"].at(0)["pixels"].get<std::vector<uint8_t>>(), std::vector<uint8_t>({255, 255}));
  EXPECT_EQ(tb["images"]["mask"].at(0)["pixels"].get<std::vector<uint8_t>>(), mask_pixels);
  EXPECT_EQ(tb["texts"]["note"].at(0)["text"], "first");
}

TEST(Logger, BadValuesAreErrorsNamingTheKeyAndLogNothing) {
  auto dir = testing::fresh_run_dir("logger_errors");
  RunOptions options;
  options.directory = dir.string();
  auto run = std::make_shared<trainscope::Run>(options);
  Logger logger(run);
  torch::Tensor undefined;
  expect_error([&] { logger.log({{"loss", undefined}}); }, {"metric 'loss'", "undefined"});
  expect_error([&] { logger.log({{"loss", torch::ones({3})}}); }, {"metric 'loss'", "scalar", "[3]"});
  expect_error([&] { logger.log({{"h", Histogram(undefined)}}); }, {"histogram 'h'", "undefined"});
  expect_error([&] { logger.log({{"h", Histogram(torch::ones({3}), 0)}}); }, {"histogram 'h'", "bins", "1..512"});
  expect_error([&] { logger.log({{"img", Image(torch::ones({5, 6, 7}))}}); }, {"image 'img'", "[5, 6, 7]"});
  expect_error([&] { logger.log({{"img", Image(torch::ones({1, 2, 3, 4, 5}))}}); }, {"image 'img'", "rank 5"});
  expect_error([&] { logger.log({{"img", Image(torch::ones({3, 4, 4}, torch::kInt))}}); }, {"image 'img'", "uint8", "Int"});
  expect_error([&] { logger.log({{"img", Images(torch::ones({2, 3, 4, 4}), {"a", "b", "c"})}}); },
               {"images 'img'", "captions", "3"});
  expect_error([&] { logger.log({{"m", Mask(torch::ones({4, 4}), Palette::default_for(2))}}); },
               {"mask 'm'", "uint8, int32 or int64"});
  expect_error([&] { logger.log({{"m", Mask(torch::ones({1, 1, 4, 4}, torch::kLong), Palette::default_for(2))}}); },
               {"mask 'm'", "[1, 1, 4, 4]"});
  expect_error([&] { logger.log({{"_x", torch::tensor(1.0)}}); }, {"'_x'", "reserved"});
  logger.log({{"ok", 1.0}}, 3);
  expect_error([&] { logger.log({{"ok", 2.0}}, 2); }, {"step 2", "older than the current step 3"});
  run->finish();
  auto rows = testing::read_history(dir);
  ASSERT_EQ(rows.size(), 1u);  // nothing of the refused calls was logged
  EXPECT_EQ(rows[0]["_step"], 3);
  EXPECT_EQ(rows[0].size(), 4u);  // _step, _runtime, _timestamp, ok
}

// The callback's rows sit at the user's steps; Callback::log at the same step merges into them.
TEST(Logger, CallbackLogMergesWithTheHookRowsAtTheUsersStep) {
  auto dir = testing::fresh_run_dir("callback_log");
  CallbackOptions options;
  options.run.directory = dir.string();
  options.predictions = 0;
  options.log_batch_frequency = 2;
  options.log = [](const std::string&) {};
  Callback callback(options);
  callback.on_train_begin();
  for (int64_t step = 100; step < 104; ++step) {
    callback.on_batch_end(step, {{"loss", torch::tensor(double(step))}});
    callback.log({{"extra", double(step)}}, step);
  }
  callback.on_epoch_end(0, {{"val_loss", 0.5}});
  callback.log({{"val_image", Image(torch::zeros({1, 2, 2}))}}, 103);  // still the epoch's step
  callback.on_train_end();
  auto rows = testing::read_history(dir);
  ASSERT_EQ(rows.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(rows[i]["_step"], 100 + i);
    EXPECT_EQ(rows[i]["extra"], 100.0 + i);
  }
  EXPECT_FALSE(rows[0].contains("loss"));  // (step + 1) % 2 == 0 only for 101 and 103
  EXPECT_EQ(rows[1]["loss"], 101.0);
  EXPECT_EQ(rows[3]["loss"], 103.0);
  EXPECT_EQ(rows[3]["epoch"], 0);
  EXPECT_EQ(rows[3]["val_loss"], 0.5);
  EXPECT_EQ(rows[3]["val_image"]["_type"], "image-file");
  expect_error([&] { Callback other(options); other.on_train_begin(); other.on_batch_end(5, {}); },
               {"step 5 is already written", "resumed run"});
}

TEST(CallbackConsole, ProgressLinesThroughTheLogHook) {
  auto dir = testing::fresh_run_dir("progress");
  CallbackOptions options;
  options.run.directory = dir.string();
  options.predictions = 0;
  options.log_batch_frequency = 1;
  options.progress.enabled = true;
  options.progress.batches_per_epoch = 3;
  options.progress.epochs = 2;
  options.progress.interval_seconds = 0;  // every batch
  std::vector<std::string> lines;
  options.log = [&](const std::string& line) { lines.push_back(line); };
  Callback callback(options);
  callback.on_train_begin();
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    for (int b = 0; b < 3; ++b, ++step) {
      callback.on_batch_end(step, {{"loss", torch::tensor(0.5)}});
      callback.run().flush();  // the line shows written values: wait for them here
    }
    callback.on_epoch_end(epoch, {{"val_loss", 0.5}});
  }
  callback.on_train_end();
  // start line, 3 batch lines + 1 epoch line per epoch, end line
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_NE(lines[1].find("epoch 1/2 batch 1/3"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("batch/s"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("ETA"), std::string::npos) << lines[1];
  EXPECT_NE(lines[3].find("loss 0.5"), std::string::npos) << lines[3];
  EXPECT_NE(lines[5].find("epoch 2/2 batch 1/3"), std::string::npos) << lines[5];
  EXPECT_NE(lines[8].find("epoch 2/2 batch 3/3"), std::string::npos) << lines[8];
  EXPECT_NE(lines[8].find("ETA 0:00"), std::string::npos) << lines[8];
}

}  // namespace
}  // namespace trainscope
