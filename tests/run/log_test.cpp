// Run::log: W&B's wandb.log(values, step=, commit=) rules (docs/run-directory.md#logging), checked
// against history.jsonl as parsed back from disk.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "run/file_io.h"
#include "trainscope/error.h"
#include "run/helpers.h"
#include "support/expect_error.h"
#include "trainscope/run/run.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path fresh_dir(const std::string& name) { return test_support::fresh_dir("log_test", name); }
using test_support::history_of;

void expect_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  test_support::expect_error_all(fn, needles);
}

RunOptions options_for(const fs::path& dir) {
  RunOptions options;
  options.directory = dir.string();
  return options;
}

TEST(RunLog, WithoutStepEachCallIsTheNextRowAndCommitFalseJoinsTheNext) {
  auto dir = fresh_dir("no_step");
  {
    trainscope::Run run(options_for(dir));
    EXPECT_EQ(run.log({{"loss", 0.5}}), 0);
    EXPECT_EQ(run.log({{"acc", 0.25}}, std::nullopt, false), 1);
    EXPECT_EQ(run.next_step(), 1);  // the open row
    EXPECT_EQ(run.log({{"loss", 0.4}, {"note", std::string("second")}}), 1);
    EXPECT_EQ(run.log({{"loss", 3}}), 2);  // integers are numbers
    run.finish();
  }
  auto rows = history_of(dir);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["_step"], 0);
  EXPECT_EQ(rows[0]["loss"], 0.5);
  EXPECT_EQ(rows[1]["_step"], 1);
  EXPECT_EQ(rows[1]["acc"], 0.25);
  EXPECT_EQ(rows[1]["loss"], 0.4);
  EXPECT_EQ(rows[1]["note"], "second");
  EXPECT_EQ(rows[2]["loss"], 3.0);
}

TEST(RunLog, AGivenStepMergesUntilALaterStepArrives) {
  auto dir = fresh_dir("steps");
  {
    trainscope::Run run(options_for(dir));
    run.log({{"loss", 1.0}}, 10);
    run.log({{"lr", 0.1}}, 10);   // same step: one row
    run.log({{"loss", 0.9}}, 10); // a key again: the later value
    EXPECT_FALSE(fs::exists(dir / "history.jsonl") && fs::file_size(dir / "history.jsonl") > 0 &&
                 history_of(dir).size() > 0);  // still open: nothing written
    run.log({{"loss", 0.8}}, 25);  // gaps are fine: the x-axis is the user's step
    EXPECT_EQ(run.log({{"acc", 0.5}}), 25);  // no step: joins the open row and writes it
    EXPECT_EQ(run.next_step(), 26);
    run.log({{"loss", 0.7}}, 30, true);  // commit = true: written at once
    run.flush();
    EXPECT_EQ(history_of(dir).size(), 3u);
    run.log({{"loss", 0.6}}, 31);
    run.finish();  // writes the open row
  }
  auto rows = history_of(dir);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0]["_step"], 10);
  EXPECT_EQ(rows[0]["loss"], 0.9);
  EXPECT_EQ(rows[0]["lr"], 0.1);
  EXPECT_EQ(rows[1]["_step"], 25);
  EXPECT_EQ(rows[1]["loss"], 0.8);
  EXPECT_EQ(rows[1]["acc"], 0.5);
  EXPECT_EQ(rows[2]["_step"], 30);
  EXPECT_EQ(rows[3]["_step"], 31);
  EXPECT_EQ(rows[3]["loss"], 0.6);
}

TEST(RunLog, OlderNegativeAndWrittenStepsAreErrorsThatChangeNothing) {
  auto dir = fresh_dir("bad_steps");
  {
    trainscope::Run run(options_for(dir));
    run.log({{"loss", 1.0}}, 5);
    expect_error([&] { run.log({{"loss", 2.0}}, 4); }, {"Run::log", "step 4", "older than the current step 5"});
    expect_error([&] { run.log({{"loss", 2.0}}, -1); }, {"Run::log", "step", "expected ≥ 0, got -1"});
    run.log({{"acc", 0.5}}, 5);  // the row is still open and unchanged
    run.flush();                  // step 5 written
    expect_error([&] { run.log({{"loss", 2.0}}, 5); }, {"step 5 is already written"});
    expect_error([&] { run.log({{"_step", 2.0}}); }, {"key '_step'", "reserved"});
    expect_error([&] { run.log({{"", 2.0}}); }, {"key", "non-empty"});
    run.log({{"loss", 0.5}}, 6, true);
    run.finish();
  }
  auto rows = history_of(dir);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["_step"], 5);
  EXPECT_EQ(rows[0]["loss"], 1.0);
  EXPECT_EQ(rows[0]["acc"], 0.5);
  EXPECT_EQ(rows[1]["_step"], 6);
}

TEST(RunLog, EveryHostValueKindLandsInTheRow) {
  auto dir = fresh_dir("kinds");
  {
    trainscope::Run run(options_for(dir));
    HistogramValue histogram;
    histogram.counts = {1, 2};
    histogram.edges = {0.0, 0.5, 1.0};
    histogram.num = 3;
    ImageValue image;
    image.width = 2;
    image.height = 1;
    image.channels = 1;
    image.pixels = {0, 255};
    ImageValue other = image;
    other.pixels = {255, 0};
    other.caption = "flipped";
    TableValue table{{"a", "b"}, {{int64_t(1), std::string("x")}, {2.5, std::monostate{}}}};
    run.log({{"number", 1.5}, {"text", std::string("hello")}, {"histogram", histogram}, {"image", image},
             {"images", std::vector<ImageValue>{image, other}}, {"table", table}},
            7);
    run.finish();
  }
  auto rows = history_of(dir);
  ASSERT_EQ(rows.size(), 1u);
  const json& row = rows[0];
  EXPECT_EQ(row["_step"], 7);
  EXPECT_EQ(row["number"], 1.5);
  EXPECT_EQ(row["text"], "hello");
  EXPECT_EQ(row["histogram"]["values"], json({1, 2}));
  EXPECT_EQ(row["histogram"]["bins"], json({0.0, 0.5, 1.0}));
  EXPECT_EQ(row["image"]["_type"], "image-file");
  EXPECT_EQ(row["image"]["width"], 2);
  EXPECT_EQ(row["images"]["_type"], "images/separated");
  EXPECT_EQ(row["images"]["count"], 2);
  EXPECT_EQ(row["images"]["captions"], json({"", "flipped"}));
  EXPECT_EQ(row["table"]["nrows"], 2);
  json table = json::parse(detail::read_file((dir / row["table"]["path"].get<std::string>()).string()));
  EXPECT_EQ(table["columns"], json({"a", "b"}));
  EXPECT_EQ(table["data"], json::parse(R"([[1,"x"],[2.5,null]])"));
}

TEST(RunLog, AKeyLoggedAgainAsAnotherKindReplacesIt) {
  auto dir = fresh_dir("replace_kind");
  {
    trainscope::Run run(options_for(dir));
    run.log({{"value", 1.0}}, 0);
    run.log({{"value", std::string("now text")}}, 0);
    run.finish();
  }
  auto rows = history_of(dir);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["value"], "now text");
}

TEST(RunLog, CommitStillWritesOneRowAndTakesTheOpenRowsValues) {
  auto dir = fresh_dir("commit");
  {
    trainscope::Run run(options_for(dir));
    run.log({{"joined", 1.0}}, std::nullopt, false);
    StepRecord record;
    record.scalars["loss"] = 0.5;
    EXPECT_EQ(run.commit(record), 0);
    EXPECT_EQ(run.commit(record), 1);
    run.finish();
  }
  auto rows = history_of(dir);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["joined"], 1.0);
  EXPECT_EQ(rows[0]["loss"], 0.5);
  EXPECT_FALSE(rows[1].contains("joined"));
}

TEST(RunLog, AResumedRunContinuesItsStepsAndRefusesOlderOnes) {
  auto dir = fresh_dir("resume");
  {
    trainscope::Run run(options_for(dir));
    run.log({{"loss", 1.0}}, 40);
    run.finish();
  }
  {
    trainscope::Run run(options_for(dir));
    EXPECT_TRUE(run.resumed());
    EXPECT_EQ(run.next_step(), 41);
    expect_error([&] { run.log({{"loss", 0.5}}, 3); }, {"step 3 is already written", "resumed run"});
    EXPECT_EQ(run.log({{"loss", 0.5}}), 41);
    run.log({{"loss", 0.25}}, 50);
    run.finish();
  }
  auto rows = history_of(dir);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["_step"], 40);
  EXPECT_EQ(rows[1]["_step"], 41);
  EXPECT_EQ(rows[2]["_step"], 50);
}

TEST(RunLog, LoggingAfterFinishIsAnError) {
  auto dir = fresh_dir("finished");
  trainscope::Run run(options_for(dir));
  run.finish();
  expect_error([&] { run.log({{"loss", 1.0}}); }, {"Run::log", "finished"});
}

}  // namespace
}  // namespace trainscope
