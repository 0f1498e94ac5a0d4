// What TensorBoardSink writes, read back by TensorBoard itself (the `tensorboard` Python package:
// EventAccumulator keeping everything, and the accumulator behind `tensorboard --logdir`), value
// by value against what was logged. Needs TRAINSCOPE_PYTHON with tensorboard and pillow.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "run/png_codec.h"
#include "trainscope/sinks/tensorboard.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// What the test logged, in check_events.py's format.
class Expected {
 public:
  void scalar(const std::string& tag, int64_t step, double v) { at("scalars", tag).push_back({step, v}); }
  void histogram(const std::string& tag, int64_t step, const HistogramValue& h) {
    at("histograms", tag).push_back(
        {step,
         {{"min", h.min}, {"max", h.max}, {"num", static_cast<double>(h.num)}, {"sum", h.sum},
          {"sum_squares", h.sum_squares},
          {"bucket_limit", std::vector<double>(h.edges.begin() + 1, h.edges.end())},
          {"bucket", std::vector<double>(h.counts.begin(), h.counts.end())}}});
  }
  void image(const std::string& tag, int64_t step, const ImageValue& image) {
    at("images", tag).push_back({step,
                                 {{"width", image.width}, {"height", image.height},
                                  {"channels", image.channels}, {"pixels", image.pixels}}});
  }
  void text(const std::string& tag, int64_t step, const std::string& text) { at("texts", tag).push_back({step, text}); }
  void add(const char* kind, const std::string& tag, const json& point) { at(kind, tag).push_back(point); }
  const json& doc() const { return doc_; }

 private:
  json& at(const char* kind, const std::string& tag) {
    json& list = doc_[kind][tag];
    if (list.is_null()) list = json::array();
    return list;
  }
  json doc_ = json::object();
};

struct CheckResult {
  int exit_code = -1;
  std::string output;
};

// Runs tests/tboard/<script> on `log_dir` with the expectations `doc` (as JSON).
CheckResult run_checker(const char* script, const fs::path& log_dir, const json& doc) {
  const char* python = std::getenv("TRAINSCOPE_PYTHON");
  const char* source = std::getenv("TRAINSCOPE_SOURCE_DIR");
  if (!python || !*python) python = TRAINSCOPE_CONFIGURED_PYTHON;
  if (!source || !*source) source = TRAINSCOPE_CONFIGURED_SOURCE_DIR;
  CheckResult result;
  if (!*python) {
    result.output = "no Python: set TRAINSCOPE_PYTHON to a python with tensorboard and pillow";
    return result;
  }
  const fs::path expected_path = log_dir.parent_path() / "expected.json";
  std::ofstream(expected_path) << doc.dump();
  const std::string command = std::string("\"") + python + "\" \"" + source +
                              "/tests/tboard/" + script + "\" \"" + log_dir.string() + "\" \"" +
                              expected_path.string() + "\" 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    result.output = "cannot run " + command;
    return result;
  }
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}
CheckResult run_checker(const char* script, const fs::path& log_dir, const Expected& expected) {
  return run_checker(script, log_dir, expected.doc());
}

// TensorBoard's readers (check_events.py) find exactly the expected values in log_dir.
#define EXPECT_TENSORBOARD_READS(log_dir, expected)                                 \
  do {                                                                              \
    const CheckResult check = run_checker("check_events.py", log_dir, expected);    \
    EXPECT_EQ(check.exit_code, 0) << check.output;                                  \
    std::cout << check.output;                                                      \
  } while (0)

// A histogram of `values` per docs/ops.md (B bins between min and max), computed here directly.
HistogramValue histogram_of(const std::vector<double>& values, int bins) {
  HistogramValue h;
  h.min = *std::min_element(values.begin(), values.end());
  h.max = *std::max_element(values.begin(), values.end());
  if (h.min == h.max) bins = 1;
  h.counts.assign(bins, 0);
  for (int i = 0; i <= bins; ++i) h.edges.push_back(h.min + (h.max - h.min) * i / bins);
  for (double v : values) {
    int b = h.max == h.min ? 0 : static_cast<int>(std::floor((v - h.min) * (bins / (h.max - h.min))));
    h.counts[std::clamp(b, 0, bins - 1)]++;
    h.sum += v;
    h.sum_squares += v * v;
  }
  h.num = static_cast<int64_t>(values.size());
  return h;
}

ImageValue pattern_image(int width, int height, int channels, int seed) {
  ImageValue image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) image.pixels.push_back(uint8_t(x * 31 + y * 17 + c * 85 + seed * 7));
  return image;
}

class TensorBoardReader : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("trainscope_tbreader_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override {
    if (!HasFailure() && !std::getenv("TRAINSCOPE_KEEP_TEST_DIRS")) fs::remove_all(root_);  // kept for inspection when something differs
  }
  fs::path log_dir() const { return root_ / "tb"; }
  fs::path root_;
};

CommittedStep committed(int64_t step, const StepRecord& record) {
  CommittedStep c;
  c.step = step;
  c.wall_time = 1.75e9 + 2.5 * static_cast<double>(step);
  c.record = &record;
  return c;
}

// Four steps of every kind of value a run logs; returns what was logged.
Expected write_run_with_every_kind(const fs::path& log_dir) {
  Expected expected;
  {
    TensorBoardSink sink(log_dir.string());
    for (int64_t step = 0; step < 4; ++step) {
      StepRecord record;
      record.scalars = {{"loss", 1.0 / (step + 1)}, {"accuracy", 0.1 * step}, {"lr", 1e-3 * std::pow(0.5, step)},
                        {"epoch/val_loss", 2.0 - 0.3 * step}};
      for (const auto& [tag, v] : record.scalars) expected.scalar(tag, step, v);

      std::vector<double> weights;
      for (int i = 0; i < 1000; ++i) weights.push_back(std::sin(i * 0.37 + step) * (1.0 + 0.1 * step));
      record.histograms["parameters/fc.weight"] = histogram_of(weights, 64);
      record.histograms["gradients/fc.bias"] = histogram_of({0.5, -0.25, 0.125, 3.0 + step}, 7);
      record.histograms["parameters/const"] = histogram_of({2.0, 2.0, 2.0, 2.0, 2.0}, 64);  // one bin
      for (const auto& [tag, h] : record.histograms) expected.histogram(tag, step, h);

      // Three example images with captions, an RGB mask, a grey and an RGBA image.
      for (int i = 0; i < 3; ++i) {
        ImageValue example = pattern_image(8, 6, 3, int(step) * 3 + i);
        example.caption = i == 1 ? "dog | 0.75" : "cat " + std::to_string(step);
        record.images["examples"].push_back(example);
        expected.image("examples/" + std::to_string(i), step, example);
      }
      expected.text("examples/captions", step,
                    "| image | caption |\n| --- | --- |\n"
                    "| examples/0 | cat " + std::to_string(step) + " |\n"
                    "| examples/1 | dog \\| 0.75 |\n"
                    "| examples/2 | cat " + std::to_string(step) + " |\n");
      record.images["masks"] = {pattern_image(5, 4, 3, 40 + int(step))};
      record.images["grey"] = {pattern_image(7, 3, 1, 50 + int(step))};
      record.images["rgba"] = {pattern_image(4, 4, 4, 60 + int(step))};
      expected.image("masks", step, record.images["masks"][0]);
      expected.image("grey", step, record.images["grey"][0]);
      expected.image("rgba", step, record.images["rgba"][0]);

      record.texts["notes"] = "step **" + std::to_string(step) + "**: ünïcode ✓";
      expected.text("notes", step, record.texts["notes"]);
      record.tables["evaluation"] = TableValue{
          {"index", "label", "confidence", "correct"},
          {{int64_t{0}, std::string("cat"), 0.5, true}, {int64_t{1}, std::string("dog"), 0.25 * step, false}}};
      expected.text("evaluation", step,
                    "| index | label | confidence | correct |\n| --- | --- | --- | --- |\n"
                    "| 0 | cat | 0.5 | true |\n| 1 | dog | " +
                        std::string(step == 0 ? "0" : step == 1 ? "0.25" : step == 2 ? "0.5" : "0.75") +
                        " | false |\n");

      // The run hands over the PNGs it stored for masks; the others the sink encodes itself.
      CommittedStep c = committed(step, record);
      c.images["masks"] = {StoredImage{&record.images["masks"][0], "media/images/masks.png",
                                       detail::encode_png(record.images["masks"][0])}};
      sink.write(c);
    }
    sink.close();
  }
  return expected;
}

TEST_F(TensorBoardReader, EveryScalarHistogramImageAndTextAsLogged) {
  EXPECT_TENSORBOARD_READS(log_dir(), write_run_with_every_kind(log_dir()));
}

// `tensorboard --logdir`: the server itself, asked over HTTP as its dashboards ask.
TEST_F(TensorBoardReader, TheTensorBoardServerShowsEveryDashboard) {
  const Expected expected = write_run_with_every_kind(log_dir());
  const CheckResult check = run_checker("serve_check.py", log_dir(), expected);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  std::cout << check.output;
}

TEST_F(TensorBoardReader, StepsAreVisibleWhileTheRunIsOpen) {
  Expected expected;
  TensorBoardSink sink(log_dir().string(), TensorBoardOptions{0.2});
  StepRecord record;
  for (int64_t step = 0; step < 3; ++step) {
    record.scalars["loss"] = 0.5 * step;
    expected.scalar("loss", step, 0.5 * step);
    sink.write(committed(step, record));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the background flush is due
  EXPECT_TENSORBOARD_READS(log_dir(), expected);
  sink.close();
}

// omitted_keys: those keys reach no dashboard (TensorBoard's reader sees exactly the others).
TEST_F(TensorBoardReader, OmittedKeysAreNotWritten) {
  Expected expected;
  TensorBoardOptions options;
  options.omitted_keys = {"epoch", "note"};
  TensorBoardSink sink(log_dir().string(), options);
  StepRecord record;
  for (int64_t step = 0; step < 2; ++step) {
    record.scalars["loss"] = 1.0 + step;
    record.scalars["epoch"] = double(step);
    record.texts["note"] = "hidden";
    record.texts["kept"] = "shown";
    expected.scalar("loss", step, 1.0 + step);
    expected.text("kept", step, "shown");
    sink.write(committed(step, record));
  }
  sink.close();
  EXPECT_TENSORBOARD_READS(log_dir(), expected);
}

// A run killed while writing step 9, resumed from its checkpoint at step 6: TensorBoard shows
// steps 0..5 of the first session and 6..12 of the second, each tag's steps increasing.
TEST_F(TensorBoardReader, TruncatedLastRecordAndResumeWithPurge) {
  auto log_step = [](TensorBoardSink& sink, int64_t step, double base, Expected* expected) {
    StepRecord record;
    record.scalars["loss"] = base + step;
    record.histograms["parameters/w"] = histogram_of({base, base + step, base + 2.0 * step + 1.0}, 4);
    record.images["input"] = {pattern_image(3, 2, 1, int(base) + int(step))};
    record.texts["status"] = "session " + std::to_string(int(base)) + " step " + std::to_string(step);
    if (expected) {
      expected->scalar("loss", step, record.scalars["loss"]);
      expected->histogram("parameters/w", step, record.histograms["parameters/w"]);
      expected->image("input", step, record.images["input"][0]);
      expected->text("status", step, record.texts["status"]);
    }
    sink.write(committed(step, record));
  };

  Expected first_session_as_read, resumed_as_read;
  std::string first_file;
  {
    TensorBoardSink sink(log_dir().string());
    first_file = sink.file_path();
    for (int64_t step = 0; step < 10; ++step) {
      log_step(sink, step, 0.0, step < 9 ? &first_session_as_read : nullptr);
    }
    sink.close();
  }
  fs::resize_file(first_file, fs::file_size(first_file) - 7);  // step 9 cut short
  EXPECT_TENSORBOARD_READS(log_dir(), first_session_as_read);

  // What the resumed run should look like: the first session's steps 0..5, then its own.
  for (const char* kind : {"scalars", "histograms", "images", "texts"})
    for (const auto& [tag, points] : first_session_as_read.doc()[kind].items())
      for (const auto& point : points)
        if (point[0].get<int64_t>() < 6) resumed_as_read.add(kind, tag, point);
  {
    TensorBoardSink sink(log_dir().string());
    EXPECT_TRUE(sink.resumed());
    EXPECT_EQ(sink.last_step_before_open(), 8);
    for (int64_t step = 6; step <= 12; ++step) log_step(sink, step, 100.0, &resumed_as_read);
    sink.close();
  }
  EXPECT_TENSORBOARD_READS(log_dir(), resumed_as_read);
}

// set_hparams → the HParams tab: TensorBoard's accumulator and the hparams plugin's parsers find
// the experiment (hparam names and types, the metric), this session's values and its end.
TEST_F(TensorBoardReader, HparamsReachTheHparamsPlugin) {
  {
    TensorBoardSink sink(log_dir().string());
    sink.set_hparams({{"lr", 0.1}, {"optimizer", std::string("sgd")}, {"batch_norm", true},
                      {"layers", int64_t(3)}, {"unset", std::monostate{}}},
                     {"val_acc"}, "sweep-1");
    for (int64_t step = 0; step < 3; ++step) {
      StepRecord record;
      record.scalars["val_acc"] = 0.5 + 0.1 * double(step);
      sink.write(committed(step, record));
    }
    sink.close();
  }
  json doc = {{"hparams", {{"lr", 0.1}, {"optimizer", "sgd"}, {"batch_norm", true}, {"layers", 3}}},
              {"metrics", {"val_acc"}}, {"group", "sweep-1"}};
  const auto run = [&](const json& want) { return run_checker("check_hparams.py", log_dir(), want); };
  const CheckResult as_given = run(doc);
  EXPECT_EQ(as_given.exit_code, 0) << as_given.output;
  std::cout << as_given.output;
  // The checker tells a different value apart (it is not blind to what was written).
  json other = doc;
  other["hparams"]["lr"] = 0.2;
  const CheckResult different = run(other);
  EXPECT_NE(different.exit_code, 0) << different.output;
  EXPECT_NE(different.output.find("session hparams"), std::string::npos) << different.output;
}

}  // namespace
}  // namespace trainscope
