// The NaN/±Inf tokens the uploader writes into history lines and the summary, checked against an
// independent JSON reader that knows those tokens (Python's json module, as W&B's backend reads
// lines), and the byte-exactness of everything else.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "upload/wandb_format.h"

namespace trainscope::detail {
namespace {

TEST(NonFiniteTokens, TopLevelStringsBecomeTokens) {
  EXPECT_EQ(nonfinite_tokens(R"({"a":"NaN","b":"Infinity","c":"-Infinity","d":1})"),
            R"({"a":NaN,"b":Infinity,"c":-Infinity,"d":1})");
  EXPECT_EQ(nonfinite_tokens(R"({"a": "NaN" , "b":2})"), R"({"a": NaN , "b":2})");
  EXPECT_EQ(nonfinite_tokens(R"({"z":"NaN"})"), R"({"z":NaN})");
}

TEST(NonFiniteTokens, EverythingElseIsLeftByteForByte) {
  for (const std::string line : {
           R"({"NaN":1,"x":"NaNa","y":"nan","z":" NaN"})",                 // keys, other strings
           R"({"h":{"_type":"histogram","bins":["NaN"]},"l":["Infinity"]})",  // nested values
           R"({"t":"say \"NaN\"","u":"a\\","v":"NaN\u0000"})",                 // escapes
           R"({"_step":1,"loss":0.25})"}) {
    EXPECT_EQ(nonfinite_tokens(line), line);
  }
}

TEST(NonFiniteTokens, PythonReadsTheTokensAsNumbers) {
  const std::string line = nonfinite_tokens(R"({"loss":"NaN","up":"Infinity","down":"-Infinity","s":"x\"NaN"})");
  const std::string dir = ::testing::TempDir();
  const std::string line_path = dir + "/nonfinite_line.json", script_path = dir + "/nonfinite_check.py";
  auto write = [](const std::string& path, const std::string& text) {
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  };
  write(line_path, line);
  write(script_path,
        "import json, math, sys\n"
        "r = json.load(open(sys.argv[1]))\n"
        "ok = math.isnan(r['loss']) and r['up'] == float('inf') and r['down'] == -float('inf')\n"
        "sys.exit(0 if ok and r['s'] == 'x\"NaN' else 1)\n");
  const char* python = std::getenv("TRAINSCOPE_PYTHON");
  const std::string command =
      std::string(python && *python ? python : "python3") + " " + script_path + " " + line_path;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

TEST(WandbSummary, RuntimeInWholeSeconds) {
  EXPECT_EQ(wandb_summary(nlohmann::json{{"_runtime", 61.9}, {"a", 1}}),
            (nlohmann::json{{"_runtime", 61.9}, {"a", 1}, {"_wandb", {{"runtime", 61}}}}));
  EXPECT_EQ(wandb_summary(nlohmann::json{{"a", 1}}), (nlohmann::json{{"a", 1}}));
}

TEST(WandbConfig, MinimisedMonitorFromNestedConfig) {
  const auto value = wandb_config_value({{"trainscope", {{"monitor", "val_loss"}, {"mode", "min"}}}});
  EXPECT_EQ(value["m"], nlohmann::json::parse(R"([{"1": "val_loss", "6": [3], "7": [1, 5], "8": 1}])"));
  EXPECT_TRUE(wandb_config_value(nlohmann::json::object())["m"].empty());
}

// config.yaml in the layout of W&B's run files ("wandb_version: 1", a blank line, then each key
// with its fields); values as JSON flow, which every YAML reader takes.
TEST(ConfigYaml, KeysWithTheirValues) {
  const nlohmann::json config = nlohmann::json::parse(
      R"({"lr": 0.01, "name": "a: \"b\"", "_wandb": {"cli_version": "1", "m": []}})");
  EXPECT_EQ(config_yaml(config),
            "wandb_version: 1\n\n"
            "\"_wandb\":\n  value: {\"cli_version\":\"1\",\"m\":[]}\n"
            "\"lr\":\n  value: 0.01\n"
            "\"name\":\n  value: \"a: \\\"b\\\"\"\n");
  EXPECT_EQ(config_yaml(nlohmann::json::object()), "wandb_version: 1\n");
}

TEST(MaskClassLabels, IntoTheWandbEntryUnderWandbsKeys) {
  nlohmann::json value = {{"cli_version", "1"}};
  add_mask_class_labels(value, nlohmann::json::parse(R"({"seg_wandb_delimeter_predictions": {"0": "sky"}, "bad": 3})"));
  EXPECT_EQ(value["mask/class_labels"], nlohmann::json::parse(R"({"seg_wandb_delimeter_predictions":
      {"type": "mask/class_labels", "key": "seg_wandb_delimeter_predictions", "value": {"0": "sky"}}})"));
  nlohmann::json untouched = {{"cli_version", "1"}};
  add_mask_class_labels(untouched, nlohmann::json());  // no class_labels.json
  EXPECT_FALSE(untouched.contains("mask/class_labels"));
}

TEST(ProcessMetadata, SoftwareVersionsNextToTrainscopes) {
  const auto meta = process_metadata(0, {{"libtorch", "2.11.0"}, {"version", "spoof"}, {"empty", ""}});
  EXPECT_EQ(meta["trainscope"]["libtorch"], "2.11.0");
  EXPECT_EQ(meta["trainscope"]["version"], trainscope_version());
  EXPECT_FALSE(meta["trainscope"].contains("empty"));
}

}  // namespace
}  // namespace trainscope::detail
