// The run's identity (run.json) and Run::define_metric's summaries (docs/run-directory.md#runjson,
// #metric-definitions), checked against run.json, summary.json and history.jsonl read back from disk
// and against statistics computed here from the logged values.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>

#include <nlohmann/json.hpp>

#include "run/helpers.h"
#include "run/metric_summaries.h"
#include "support/expect_error.h"
#include "trainscope/error.h"
#include "trainscope/run/run.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_support::expect_error;
using test_support::history_of;

fs::path fresh_dir(const std::string& name) { return test_support::fresh_dir("identity_test", name); }

json read_json(const fs::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

RunOptions options_for(const fs::path& dir) {
  RunOptions options;
  options.directory = dir.string();
  return options;
}

TEST(RunIdentity, RunJsonRecordsTheIdentityAndAResumeKeepsWhatItDoesNotReplace) {
  auto dir = fresh_dir("identity");
  {
    RunOptions o = options_for(dir);
    o.name = "resnet-baseline";
    o.tags = {"baseline", "résumé"};
    o.notes = "lr 0.1, cosine";
    o.group = "sweep-7";
    o.job_type = "train";
    trainscope::Run run(o);
    EXPECT_EQ(run.name(), "resnet-baseline");
    EXPECT_EQ(run.group(), "sweep-7");
    run.log({{"loss", 1.0}});
    run.finish();
  }
  json record = read_json(dir / "run.json");
  EXPECT_EQ(record["id"], dir.filename().string());
  EXPECT_EQ(record["name"], "resnet-baseline");
  EXPECT_EQ(record["tags"], json({"baseline", "résumé"}));
  EXPECT_EQ(record["notes"], "lr 0.1, cosine");
  EXPECT_EQ(record["group"], "sweep-7");
  EXPECT_EQ(record["job_type"], "train");
  {
    RunOptions o = options_for(dir);
    o.notes = "continued on 2 GPUs";
    trainscope::Run run(o);
    EXPECT_TRUE(run.resumed());
    EXPECT_EQ(run.name(), "resnet-baseline");
    run.finish();
  }
  record = read_json(dir / "run.json");
  EXPECT_EQ(record["name"], "resnet-baseline");
  EXPECT_EQ(record["tags"], json({"baseline", "résumé"}));
  EXPECT_EQ(record["notes"], "continued on 2 GPUs");
}

TEST(RunIdentity, BadIdentityFieldsAreErrorsNamingTheField) {
  auto dir = fresh_dir("bad_identity");
  RunOptions o = options_for(dir);
  o.tags = {"ok", ""};
  expect_error([&] { trainscope::Run run(o); }, "tags[1]");
  o.tags = {std::string(65, 't')};
  expect_error([&] { trainscope::Run run(o); }, "1..64 characters, got 65");
  o.tags = {std::string(64, 't')};  // 64 is allowed, and 64 two-byte characters count as 64
  EXPECT_NO_THROW({ trainscope::Run run(o); });
  std::string wide;
  for (int i = 0; i < 64; ++i) wide += "\xc3\xa9";
  o.tags = {wide};
  EXPECT_NO_THROW({ trainscope::Run run(o); });
  RunOptions bad = options_for(fresh_dir("bad_name2"));
  bad.name = std::string("bad\xff");
  expect_error([&] { trainscope::Run run(bad); }, "name");
}

TEST(MetricDefinitions, SummariesHoldTheStatisticsAskedForOverTheLoggedValues) {
  auto dir = fresh_dir("summaries");
  const std::vector<double> losses = {0.9, 0.4, 0.7, 0.2, 0.5};
  {
    trainscope::Run run(options_for(dir));
    MetricDefinition loss;
    loss.summary.min = loss.summary.mean = loss.summary.last = true;
    loss.goal = MetricGoal::Minimize;
    run.define_metric("loss", loss);
    MetricDefinition acc;
    acc.summary.max = acc.summary.first = true;
    run.define_metric("val/*", acc);
    MetricDefinition hidden;
    hidden.summary.none = true;
    run.define_metric("lr", hidden);
    ASSERT_TRUE(run.metric_definition("val/*"));
    EXPECT_TRUE(run.metric_definition("val/*")->summary.max);
    EXPECT_FALSE(run.metric_definition("val/acc")) << "only exact names, not what a pattern covers";
    for (std::size_t i = 0; i < losses.size(); ++i)
      run.log({{"loss", losses[i]}, {"val/acc", 0.1 * double(i)}, {"lr", 0.01}, {"other", double(i)}}, int64_t(i));
    run.finish();
  }
  json summary = read_json(dir / "summary.json");
  const double mean = std::accumulate(losses.begin(), losses.end(), 0.0) / double(losses.size());
  EXPECT_EQ(summary["loss"]["min"], 0.2);
  EXPECT_DOUBLE_EQ(summary["loss"]["mean"].get<double>(), mean);
  EXPECT_EQ(summary["loss"]["last"], 0.5);
  EXPECT_FALSE(summary["loss"].contains("max"));
  EXPECT_DOUBLE_EQ(summary["val/acc"]["max"].get<double>(), 0.4);
  EXPECT_EQ(summary["val/acc"]["first"], 0.0);
  EXPECT_FALSE(summary.contains("lr"));
  EXPECT_EQ(summary["other"], 4.0);  // undefined: the last value
  EXPECT_EQ(summary["_step"], 4);
  // history keeps every value as logged
  auto rows = history_of(dir);
  ASSERT_EQ(rows.size(), losses.size());
  EXPECT_EQ(rows[3]["loss"], 0.2);
  EXPECT_EQ(rows[3]["lr"], 0.01);
  // run.json records the definitions in order
  json metrics = read_json(dir / "run.json")["metrics"];
  ASSERT_EQ(metrics.size(), 3u);
  EXPECT_EQ(metrics[0]["name"], "loss");
  EXPECT_EQ(metrics[0]["summary"], json({"min", "mean", "last"}));
  EXPECT_EQ(metrics[0]["goal"], "minimize");
  EXPECT_EQ(metrics[1]["name"], "val/*");
  EXPECT_EQ(metrics[2]["summary"], json({"none"}));
}

TEST(MetricDefinitions, ADefinitionAfterValuesCoversTheWholeHistoryAndResumeContinuesIt) {
  auto dir = fresh_dir("late_and_resume");
  std::vector<double> values = {3, 1, 2};
  {
    trainscope::Run run(options_for(dir));
    for (double v : values) run.log({{"loss", v}});
    MetricDefinition d;
    d.summary.max = d.summary.mean = true;
    run.define_metric("loss", d);  // after three rows: the statistics include them
    run.log({{"loss", 0.5}});
    run.finish();
  }
  values.push_back(0.5);
  json summary = read_json(dir / "summary.json");
  EXPECT_EQ(summary["loss"]["max"], 3.0);
  EXPECT_DOUBLE_EQ(summary["loss"]["mean"].get<double>(), (3 + 1 + 2 + 0.5) / 4);
  {
    trainscope::Run run(options_for(dir));  // definitions come back from run.json
    run.log({{"loss", 7.5}});
    run.finish();
  }
  values.push_back(7.5);
  summary = read_json(dir / "summary.json");
  EXPECT_EQ(summary["loss"]["max"], 7.5);
  EXPECT_DOUBLE_EQ(summary["loss"]["mean"].get<double>(),
                   std::accumulate(values.begin(), values.end(), 0.0) / double(values.size()));
}

TEST(MetricDefinitions, NonFiniteValuesCountForLastButNotForMinMaxMean) {
  auto dir = fresh_dir("nonfinite");
  {
    trainscope::Run run(options_for(dir));
    MetricDefinition d;
    d.summary.min = d.summary.max = d.summary.last = true;
    run.define_metric("loss", d);
    run.log({{"loss", 2.0}});
    run.log({{"loss", std::numeric_limits<double>::quiet_NaN()}});
    run.finish();
  }
  json summary = read_json(dir / "summary.json");
  EXPECT_EQ(summary["loss"]["min"], 2.0);
  EXPECT_EQ(summary["loss"]["max"], 2.0);
  EXPECT_EQ(summary["loss"]["last"], "NaN");
}

TEST(MetricDefinitions, StepSyncCopiesTheStepMetricsLastValueIntoRowsWithout) {
  auto dir = fresh_dir("step_sync");
  {
    trainscope::Run run(options_for(dir));
    MetricDefinition d;
    d.step_metric = "epoch";
    d.step_sync = true;
    run.define_metric("val_loss", d);
    run.log({{"epoch", 0.0}, {"train_loss", 1.0}});
    run.log({{"val_loss", 0.9}});
    run.log({{"epoch", 1.0}});
    run.log({{"val_loss", 0.7}, {"note", std::string("x")}});
    run.log({{"train_loss", 0.5}});  // not synced: train_loss has no definition
    run.finish();
  }
  auto rows = history_of(dir);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[1]["epoch"], 0.0);
  EXPECT_EQ(rows[3]["epoch"], 1.0);
  EXPECT_FALSE(rows[4].contains("epoch"));
}

TEST(MetricDefinitions, BadDefinitionsAreErrors) {
  trainscope::Run run(options_for(fresh_dir("bad_defs")));
  expect_error([&] { run.define_metric(""); }, "name");
  expect_error([&] { run.define_metric("_step"); }, "'_'");
  MetricDefinition glob_step;
  glob_step.step_metric = "epoch*";
  expect_error([&] { run.define_metric("loss", glob_step); }, "step_metric");
  MetricDefinition none_and_min;
  none_and_min.summary.none = none_and_min.summary.min = true;
  expect_error([&] { run.define_metric("loss", none_and_min); }, "none");
  run.finish();
}

TEST(GlobMatch, StarsMatchAnyRunOfCharacters) {
  using detail::glob_match;
  EXPECT_TRUE(glob_match("val/*", "val/acc"));
  EXPECT_TRUE(glob_match("val/*", "val/"));
  EXPECT_FALSE(glob_match("val/*", "train/acc"));
  EXPECT_TRUE(glob_match("*loss", "val_loss"));
  EXPECT_TRUE(glob_match("a*b*c", "axxbyyc"));
  EXPECT_FALSE(glob_match("a*b*c", "axxbyy"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_FALSE(glob_match("loss", "loss2"));
}

}  // namespace
}  // namespace trainscope
