#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "run/png_codec.h"
#include "run/file_io.h"
#include "run/sha256.h"
#include "trainscope/error.h"
#include "run/helpers.h"
#include "trainscope/run/run.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path fresh_dir(const std::string& name) { return test_support::fresh_dir("run_test", name); }
using test_support::history_of;

json summary_of(const fs::path& dir) { return json::parse(detail::read_file((dir / "summary.json").string())); }

RunOptions options_for(const fs::path& dir) {
  RunOptions options;
  options.directory = dir.string();
  return options;
}

ImageValue gradient_image(int width, int height, int channels, uint8_t seed) {
  ImageValue image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  for (int i = 0; i < width * height * channels; ++i) image.pixels.push_back(uint8_t(seed + i * 7));
  return image;
}

// The media file a history value points at exists, has the recorded size and SHA-256, and its
// name carries the key, step and hash prefix.
void expect_media_file(const fs::path& dir, const json& value, const std::string& name_prefix) {
  std::string path = value.at("path");
  std::string bytes = detail::read_file((dir / path).string());
  EXPECT_EQ(value.at("size").get<size_t>(), bytes.size());
  std::string sha = detail::sha256_hex(bytes);
  EXPECT_EQ(value.at("sha256").get<std::string>(), sha);
  if (!name_prefix.empty()) EXPECT_NE(path.find(name_prefix + sha.substr(0, 20)), std::string::npos) << path;
}

TEST(Run, CreatesTheDirectoryLayout) {
  auto dir = fresh_dir("layout");
  trainscope::Run run(options_for(dir));
  EXPECT_EQ(run.directory(), fs::absolute(dir).lexically_normal().string());
  EXPECT_EQ(run.id(), "layout");
  EXPECT_FALSE(run.resumed());
  for (const char* sub : {"media/images", "media/table", "checkpoints"}) EXPECT_TRUE(fs::is_directory(dir / sub)) << sub;
  run.set_config({{"lr", 0.01}, {"epochs", int64_t(3)}, {"optimizer", std::string("sgd")}});
  run.finish();
  json config = json::parse(detail::read_file((dir / "config.json").string()));
  EXPECT_EQ(config, json({{"lr", 0.01}, {"epochs", 3}, {"optimizer", "sgd"}}));
  EXPECT_TRUE(fs::exists(dir / "history.jsonl"));
}

TEST(Run, GeneratedIdsLiveUnderTheRoot) {
  auto root = fresh_dir("root");
  RunOptions options;
  options.root = root.string();
  trainscope::Run run(options);
  EXPECT_EQ(fs::path(run.directory()).parent_path(), fs::absolute(root).lexically_normal());
  EXPECT_EQ(sanitize_file_component(run.id()), run.id());
  RunOptions bad;
  bad.root = root.string();
  bad.run_id = "../escape";
  EXPECT_THROW(trainscope::Run{bad}, Error);
}

TEST(Run, ScalarRowsHaveStepRuntimeTimestampAndMetrics) {
  auto dir = fresh_dir("scalars");
  trainscope::Run run(options_for(dir));
  StepRecord a;
  a.scalars = {{"loss", 0.5}, {"acc", 0.75}};
  a.texts = {{"phase", "train"}};
  EXPECT_EQ(run.commit(a), 0);
  StepRecord b;
  b.scalars = {{"loss", std::nan("")}, {"val_loss", 0.25}};
  EXPECT_EQ(run.commit(b), 1);
  EXPECT_EQ(run.next_step(), 2);
  run.flush();
  auto rows = history_of(dir);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["_step"], 0);
  EXPECT_EQ(rows[0]["loss"], 0.5);
  EXPECT_EQ(rows[0]["acc"], 0.75);
  EXPECT_EQ(rows[0]["phase"], "train");
  EXPECT_TRUE(rows[0]["_runtime"].is_number());
  EXPECT_GT(rows[0]["_timestamp"].get<double>(), 1.7e9);
  EXPECT_LE(rows[0]["_runtime"].get<double>(), rows[1]["_runtime"].get<double>());
  EXPECT_EQ(rows[1]["_step"], 1);
  EXPECT_EQ(rows[1]["loss"], "NaN");  // strict JSON has no NaN; the uploader sends the token
  json summary = summary_of(dir);
  EXPECT_EQ(summary["acc"], 0.75);        // last value of each key
  EXPECT_EQ(summary["loss"], "NaN");
  EXPECT_EQ(summary["val_loss"], 0.25);
  EXPECT_EQ(summary["_step"], 1);
}

TEST(Run, HistogramRowsMatchTheWandbShape) {
  auto dir = fresh_dir("histograms");
  trainscope::Run run(options_for(dir));
  StepRecord record;
  HistogramValue h;
  h.counts = {1, 0, 3};
  h.edges = {-1.0, 0.0, 1.0, 2.0};
  record.histograms["parameters/fc.weight"] = h;
  record.histograms["gradients/empty"] = HistogramValue{};  // no finite values: no entry
  run.commit(record);
  run.flush();
  auto rows = history_of(dir);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["parameters/fc.weight"],
            json({{"_type", "histogram"}, {"values", {1, 0, 3}}, {"bins", {-1.0, 0.0, 1.0, 2.0}}}));
  EXPECT_FALSE(rows[0].contains("gradients/empty"));

  StepRecord bad;
  HistogramValue wrong;
  wrong.counts = {1, 2};
  wrong.edges = {0.0, 1.0};  // needs 3
  bad.histograms["h"] = wrong;
  run.commit(bad);
  EXPECT_THROW(run.flush(), Error);  // kept on the writer thread, surfaced here
}

TEST(Run, SingleImageIsAnImageFileWithItsPng) {
  auto dir = fresh_dir("image");
  trainscope::Run run(options_for(dir));
  StepRecord record;
  ImageValue image = gradient_image(5, 4, 3, 9);
  image.caption = "cat";
  record.images["examples"] = {image};
  run.commit(StepRecord{});
  run.commit(record);
  run.flush();
  auto rows = history_of(dir);
  const json& value = rows[1]["examples"];
  EXPECT_EQ(value["_type"], "image-file");
  EXPECT_EQ(value["format"], "png");
  EXPECT_EQ(value["width"], 5);
  EXPECT_EQ(value["height"], 4);
  EXPECT_EQ(value["caption"], "cat");
  EXPECT_EQ(value["path"].get<std::string>().rfind("media/images/examples_1_", 0), 0u);
  expect_media_file(dir, value, "examples_1_");
  std::string bytes = detail::read_file((dir / value["path"].get<std::string>()).string());
  ImageValue back = detail::decode_png(std::vector<uint8_t>(bytes.begin(), bytes.end()));
  EXPECT_EQ(back.pixels, image.pixels);
}

TEST(Run, ImageListsAreSeparatedImagesWithCaptions) {
  auto dir = fresh_dir("images");
  trainscope::Run run(options_for(dir));
  StepRecord record;
  auto a = gradient_image(3, 3, 1, 1), b = gradient_image(3, 3, 1, 50);
  a.caption = "one";
  b.caption = "two";
  record.images["examples"] = {a, b};
  run.commit(record);
  run.flush();
  json value = history_of(dir)[0]["examples"];
  EXPECT_EQ(value["_type"], "images/separated");
  EXPECT_EQ(value["count"], 2);
  EXPECT_EQ(value["width"], 3);
  EXPECT_EQ(value["height"], 3);
  EXPECT_EQ(value["format"], "png");
  EXPECT_EQ(value["captions"], json({"one", "two"}));
  ASSERT_EQ(value["filenames"].size(), 2u);
  for (const auto& name : value["filenames"]) EXPECT_TRUE(fs::exists(dir / name.get<std::string>())) << name;
}

TEST(Run, TablesAreTableFilesWithColumnsAndData) {
  auto dir = fresh_dir("table");
  trainscope::Run run(options_for(dir));
  StepRecord record;
  TableValue table;
  table.columns = {"id", "label", "confidence", "correct", "note"};
  table.rows = {{int64_t(0), std::string("cat"), 0.875, true, std::monostate{}},
                {int64_t(1), std::string("dog"), 0.5, false, std::string("x")}};
  record.tables["evaluation"] = table;
  run.commit(record);
  run.flush();
  json value = history_of(dir)[0]["evaluation"];
  EXPECT_EQ(value["_type"], "table-file");
  EXPECT_EQ(value["ncols"], 5);
  EXPECT_EQ(value["nrows"], 2);
  EXPECT_EQ(value["path"].get<std::string>().rfind("media/table/evaluation_0_", 0), 0u);
  EXPECT_NE(value["path"].get<std::string>().find(".table.json"), std::string::npos);
  expect_media_file(dir, value, "evaluation_0_");
  json file = json::parse(detail::read_file((dir / value["path"].get<std::string>()).string()));
  EXPECT_EQ(file["columns"], json({"id", "label", "confidence", "correct", "note"}));
  EXPECT_EQ(file["data"], json::parse(R"([[0,"cat",0.875,true,null],[1,"dog",0.5,false,"x"]])"));

  StepRecord ragged;
  table.rows.push_back({int64_t(2)});
  ragged.tables["t"] = table;
  run.commit(ragged);
  EXPECT_THROW(run.flush(), Error);
}

TEST(Run, HostileKeysNeverEscapeTheRunDirectory) {
  auto dir = fresh_dir("hostile");
  trainscope::Run run(options_for(dir));
  StepRecord record;
  for (const char* key : {"../../escape", "/etc/passwd", "..", "a/../../b", "x\\..\\y", "\n"}) {
    record.images[key] = {gradient_image(2, 2, 3, 3)};
    TableValue t;
    t.columns = {"c"};
    record.tables[std::string("table") + key] = t;
  }
  run.commit(record);
  run.flush();
  json row = history_of(dir)[0];
  std::string root = fs::canonical(dir).string() + "/";
  int files = 0;
  for (auto& [key, value] : row.items()) {
    if (!value.is_object()) continue;
    fs::path file = fs::weakly_canonical(dir / value["path"].get<std::string>());
    EXPECT_EQ(file.string().rfind(root + "media/", 0), 0u) << key << " → " << file;
    EXPECT_TRUE(fs::exists(file));
    ++files;
  }
  EXPECT_EQ(files, 12);
  EXPECT_EQ(sanitize_file_component(".."), "_..");
  EXPECT_EQ(sanitize_file_component("a/b"), "a_b");
  EXPECT_EQ(sanitize_file_component(""), "_");
  EXPECT_EQ(sanitize_file_component(std::string(300, 'k')).size(), 120u);
}

TEST(Run, ReservedAndEmptyKeysAreRejected) {
  auto dir = fresh_dir("reserved");
  trainscope::Run run(options_for(dir));
  StepRecord record;
  record.scalars["_step"] = 3;
  EXPECT_THROW(run.commit(record), Error);
  StepRecord empty;
  empty.scalars[""] = 1;
  EXPECT_THROW(run.commit(empty), Error);
  StepRecord twice;
  twice.scalars["x"] = 1;
  twice.texts["x"] = "one";  // one row key, two values
  EXPECT_THROW(run.commit(twice), Error);
  EXPECT_EQ(run.next_step(), 0);
}

TEST(Run, ResumeContinuesStepsAndKeepsTheSummary) {
  auto dir = fresh_dir("resume");
  {
    trainscope::Run run(options_for(dir));
    for (int i = 0; i < 3; ++i) {
      StepRecord r;
      r.scalars["loss"] = 1.0 / (i + 1);
      run.commit(r);
    }
    run.set_summary("best_loss", 1.0 / 3);
    run.set_summary("best_epoch", int64_t(2));
    run.finish();
  }
  // A kill in the middle of a line: the torn tail is cut off on resume.
  { std::ofstream(dir / "history.jsonl", std::ios::app) << R"({"_step":3,"lo)"; }
  trainscope::Run run(options_for(dir));
  EXPECT_TRUE(run.resumed());
  EXPECT_EQ(run.next_step(), 3);
  EXPECT_DOUBLE_EQ(*run.summary_number("best_loss"), 1.0 / 3);
  EXPECT_EQ(*run.summary_number("best_epoch"), 2);
  StepRecord r;
  r.scalars["loss"] = 0.1;
  EXPECT_EQ(run.commit(r), 3);
  run.finish();
  auto rows = history_of(dir);
  ASSERT_EQ(rows.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(rows[i]["_step"], i);
  EXPECT_GE(rows[3]["_runtime"].get<double>(), rows[2]["_runtime"].get<double>());
  json summary = summary_of(dir);
  EXPECT_EQ(summary["loss"], 0.1);
  EXPECT_DOUBLE_EQ(summary["best_loss"].get<double>(), 1.0 / 3);

  RunOptions no_resume = options_for(dir);
  no_resume.resume = false;
  EXPECT_THROW(trainscope::Run{no_resume}, Error);
}

TEST(Run, WriteFailuresSurfaceAsErrors) {
  auto dir = fresh_dir("failures");
  trainscope::Run run(options_for(dir));
  // Root ignores permissions, so make the media folder a plain file: every image write fails.
  fs::remove_all(dir / "media/images");
  { std::ofstream(dir / "media/images") << "not a folder"; }
  StepRecord record;
  record.images["img"] = {gradient_image(2, 2, 3, 1)};
  run.commit(record);
  try {
    run.flush();
    FAIL() << "expected the write failure";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("media/images"), std::string::npos) << e.what();
  }
  // The error is surfaced once; later steps are written again.
  StepRecord ok;
  ok.scalars["x"] = 1;
  run.commit(ok);
  run.flush();
  // summary.json replaced by a non-empty folder: the atomic rename fails.
  fs::remove(dir / "summary.json");
  fs::create_directories(dir / "summary.json/blocker");
  run.commit(ok);
  EXPECT_THROW(run.flush(), Error);
  EXPECT_THROW(detail::write_file_atomic("/nonexistent-dir/x.json", "{}"), Error);
}

TEST(Run, PendingPartsResolveOnTheWriterThread) {
  auto dir = fresh_dir("pending");
  trainscope::Run run(options_for(dir));
  struct Deferred : PendingPart {
    std::atomic<bool>* release;
    std::thread::id* resolved_on;
    void resolve(StepRecord& record) override {
      while (!release->load()) std::this_thread::yield();  // a device event still pending
      *resolved_on = std::this_thread::get_id();
      record.scalars["device_loss"] = 0.125;
    }
  };
  std::atomic<bool> release{false};
  std::thread::id resolved_on;
  auto part = std::make_unique<Deferred>();
  part->release = &release;
  part->resolved_on = &resolved_on;
  std::vector<std::unique_ptr<PendingPart>> parts;
  parts.push_back(std::move(part));
  StepRecord record;
  record.scalars["host"] = 1;
  run.commit(record, std::move(parts));  // returns although the part is not ready
  release = true;
  run.flush();
  EXPECT_NE(resolved_on, std::this_thread::get_id());
  json row = history_of(dir)[0];
  EXPECT_EQ(row["device_loss"], 0.125);
  EXPECT_EQ(row["host"], 1);
}

TEST(Run, SinksReceiveCommittedStepsInOrderWithStoredImages) {
  auto dir = fresh_dir("sinks");
  struct Recorder : Sink {
    std::vector<int64_t> steps;
    std::vector<std::string> image_paths;
    std::vector<size_t> png_sizes;
    int flushes = 0, closes = 0;
    void write(const CommittedStep& step) override {
      steps.push_back(step.step);
      EXPECT_NE(step.record, nullptr);
      for (auto& [key, images] : step.images)
        for (auto& stored : images) {
          image_paths.push_back(stored.path);
          png_sizes.push_back(stored.png.size());
          EXPECT_EQ(stored.image->width, 4);
        }
    }
    void flush() override { ++flushes; }
    void close() override { ++closes; }
  };
  auto sink = std::make_shared<Recorder>();
  {
    trainscope::Run run(options_for(dir));
    run.add_sink(sink);
    for (int i = 0; i < 5; ++i) {
      StepRecord r;
      r.scalars["i"] = i;
      if (i == 2) r.images["img"] = {gradient_image(4, 4, 3, 2)};
      run.commit(r);
    }
    run.finish();
    EXPECT_THROW(run.commit(StepRecord{}), Error);
  }
  EXPECT_EQ(sink->steps, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  ASSERT_EQ(sink->image_paths.size(), 1u);
  EXPECT_EQ(sink->png_sizes[0], fs::file_size(dir / sink->image_paths[0]));
  EXPECT_GE(sink->flushes, 1);
  EXPECT_EQ(sink->closes, 1);
}

TEST(Run, GraphIsWrittenAndReferencedFromTheSummary) {
  auto dir = fresh_dir("graph");
  trainscope::Run run(options_for(dir));
  run.write_graph(R"({"name":"Net","children":[]})");
  EXPECT_THROW(run.write_graph("{not json"), Error);
  run.finish();
  json graph = json::parse(detail::read_file((dir / "graph.json").string()));
  EXPECT_EQ(graph["name"], "Net");
  json ref = summary_of(dir)["graph"];
  EXPECT_EQ(ref["_type"], "graph-file");
  EXPECT_EQ(ref["path"], "graph.json");
  expect_media_file(dir, ref, "");
}

TEST(Run, AtomicWriteLeavesNoTempFiles) {
  auto dir = fresh_dir("atomic");
  fs::create_directories(dir);
  std::string path = (dir / "f.json").string();
  detail::write_file_atomic(path, "one");
  detail::write_file_atomic(path, "two");
  EXPECT_EQ(detail::read_file(path), "two");
  int entries = 0;
  for (auto& e : fs::directory_iterator(dir)) (void)e, ++entries;
  EXPECT_EQ(entries, 1);
}

}  // namespace
}  // namespace trainscope
