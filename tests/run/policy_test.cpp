#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "torch/callback/policy.h"
#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

TEST(Mode, AutoRulesFollowTheMonitorName) {
  EXPECT_EQ(resolve_mode("auto", "val_loss"), Mode::Min);
  EXPECT_EQ(resolve_mode("auto", "val_acc"), Mode::Max);
  EXPECT_EQ(resolve_mode("auto", "accuracy"), Mode::Max);
  EXPECT_EQ(resolve_mode("auto", "fmeasure_macro"), Mode::Max);
  EXPECT_EQ(resolve_mode("auto", "val_fmeasure"), Mode::Min);  // must start with fmeasure
  EXPECT_EQ(resolve_mode("min", "val_acc"), Mode::Min);
  EXPECT_EQ(resolve_mode("max", "val_loss"), Mode::Max);
}

TEST(Mode, UnknownModeWarnsAndFallsBackToAuto) {
  std::string warning;
  EXPECT_EQ(resolve_mode("biggest", "val_acc", &warning), Mode::Max);
  EXPECT_NE(warning.find("biggest"), std::string::npos);
  warning.clear();
  EXPECT_EQ(resolve_mode("auto", "val_acc", &warning), Mode::Max);
  EXPECT_TRUE(warning.empty());
}

TEST(BestTracker, MinModeImprovesOnlyOnStrictlyLowerValues) {
  BestTracker best(Mode::Min);
  EXPECT_TRUE(best.update(1.0, 1));
  EXPECT_FALSE(best.update(1.0, 2));
  EXPECT_FALSE(best.update(2.0, 3));
  EXPECT_TRUE(best.update(0.5, 4));
  EXPECT_EQ(*best.best(), 0.5);
  EXPECT_EQ(best.best_epoch(), 4);
}

TEST(BestTracker, NanNeverImproves) {
  BestTracker best(Mode::Max);
  EXPECT_FALSE(best.update(std::nan(""), 1));
  EXPECT_FALSE(best.best().has_value());
  EXPECT_TRUE(best.update(0.25, 2));
  EXPECT_FALSE(best.update(std::nan(""), 3));
  EXPECT_EQ(*best.best(), 0.25);
  EXPECT_TRUE(best.update(std::numeric_limits<double>::infinity(), 4));  // a real, if odd, maximum
  BestTracker restored(Mode::Min);
  restored.restore(0.1, 7);
  EXPECT_FALSE(restored.update(0.2, 8));
  EXPECT_EQ(restored.best_epoch(), 7);
}

TEST(Predictions, ClampedToHundred) {
  EXPECT_EQ(clamp_predictions(36), 36);
  EXPECT_EQ(clamp_predictions(100), 100);
  EXPECT_EQ(clamp_predictions(1000), 100);
  EXPECT_EQ(clamp_predictions(-3), 0);
}

TEST(Frequencies, BatchAndEvaluation) {
  EXPECT_FALSE(batch_is_due(5, 0));  // none: per epoch only
  EXPECT_TRUE(batch_is_due(5, 5));
  EXPECT_FALSE(batch_is_due(6, 5));
  EXPECT_TRUE(batch_is_due(10, 5));
  EXPECT_FALSE(evaluation_is_due(3, 0));  // 0: end of training only
  EXPECT_TRUE(evaluation_is_due(4, 2));
  EXPECT_FALSE(evaluation_is_due(3, 2));
}

TEST(DataTypes, GuessFromShape) {
  EXPECT_EQ(guess_data_type({8}), DataType::Label);
  EXPECT_EQ(guess_data_type({8, 10}), DataType::Label);
  EXPECT_EQ(guess_data_type({8, 28, 28}), DataType::Image);
  EXPECT_EQ(guess_data_type({8, 3, 32, 32}), DataType::Image);
  EXPECT_EQ(guess_data_type({8, 32, 32, 1}), DataType::Image);
  EXPECT_EQ(guess_data_type({8, 4, 32, 32}), DataType::Image);
  EXPECT_EQ(guess_data_type({8, 21, 64, 64}), DataType::SegmentationMask);
  EXPECT_EQ(guess_data_type({8, 2, 64, 64, 2}), DataType::SegmentationMask);
}

TEST(DataTypes, ParseNamesAndRejectOthers) {
  EXPECT_EQ(parse_data_type("", "input_type"), DataType::Auto);
  EXPECT_EQ(parse_data_type("segmentation_mask", "input_type"), DataType::SegmentationMask);
  EXPECT_EQ(parse_data_type("images", "output_type"), DataType::Images);
  try {
    parse_data_type("picture", "output_type");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("output_type"), std::string::npos);
  }
}

}  // namespace
}  // namespace trainscope::detail
