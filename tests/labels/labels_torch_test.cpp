// CPU labels and fused segmentation against torch's own argmax / softmax / topk / palette indexing.
#include <gtest/gtest.h>

#include <limits>

#include "trainscope/torch.h"

namespace trainscope {
namespace {

// Equal, with NaN equal to NaN, within a tight float tolerance.
void expect_close_with_nan(const torch::Tensor& actual, const torch::Tensor& expected) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_TRUE(torch::equal(actual.isnan(), expected.isnan()));
  EXPECT_TRUE(torch::allclose(actual, expected, /*rtol=*/1e-5, /*atol=*/1e-7, /*equal_nan=*/true))
      << (actual - expected).abs().nan_to_num(0).max();
}

// The softmax probability torch gives each label (computed in float32).
torch::Tensor softmax_of(const torch::Tensor& logits, const torch::Tensor& labels) {
  return torch::softmax(logits.to(torch::kFloat), 1).gather(1, labels.view({-1, 1})).view({-1});
}

TEST(LabelsTorch, RandomLogitsMatchArgmaxSoftmaxAndTopk) {
  torch::manual_seed(3);
  for (auto dtype : {torch::kFloat, torch::kHalf, torch::kBFloat16}) {
    auto logits = (torch::randn({257, 37}) * 4).to(dtype);
    LabelOptions opt;
    opt.top_k = 5;
    auto out = labels_from_logits(logits, opt);
    EXPECT_TRUE(torch::equal(out.labels, logits.argmax(1))) << c10::toString(dtype);
    expect_close_with_nan(out.confidence, softmax_of(logits, out.labels));
    // Half types have ties (whose order torch.topk leaves open): compare the rows whose six
    // largest values are distinct, so the fifth is unambiguous too.
    auto [values, indices] = logits.to(torch::kFloat).topk(6, 1);
    auto distinct = (values.slice(1, 0, 5) != values.slice(1, 1, 6)).all(1);
    EXPECT_GT(distinct.sum().item<int64_t>(), 100);
    EXPECT_TRUE(torch::equal(out.top_k_labels.index({distinct}), indices.slice(1, 0, 5).index({distinct})));
    expect_close_with_nan(out.top_k_confidence,
                          torch::softmax(logits.to(torch::kFloat), 1).gather(1, out.top_k_labels));
  }
}

TEST(LabelsTorch, AdversarialRowsMatchTorch) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  torch::manual_seed(4);
  auto logits = torch::randn({64, 9});
  logits.index_put_({3, 4}, nan);
  logits.index_put_({3, 7}, nan);
  logits.index_put_({5, 2}, inf);
  logits.index_put_({6}, -inf);
  logits.index_put_({7}, 2.5f);  // all equal
  logits.index_put_({8, 0}, -inf);
  logits.index_put_({9, 1}, inf);
  logits.index_put_({9, 5}, inf);
  logits.index_put_({10, 8}, nan);
  logits.index_put_({10, 0}, inf);
  logits.index_put_({11}, 1e30f);
  logits.index_put_({12}, -1e30f);
  logits.index_put_({12, 3}, 0.f);
  auto out = labels_from_logits(logits);
  EXPECT_TRUE(torch::equal(out.labels, logits.argmax(1)));
  expect_close_with_nan(out.confidence, softmax_of(logits, out.labels));
  EXPECT_EQ(out.labels[3].item<int64_t>(), 4);
  EXPECT_TRUE(std::isnan(out.confidence[6].item<float>()));
}

TEST(LabelsTorch, StridedLogitsReadInPlace) {
  torch::manual_seed(5);
  auto wide = torch::randn({12, 40});
  auto logits = wide.t();  // [40, 12] with strides {1, 40}
  auto out = labels_from_logits(logits);
  EXPECT_TRUE(torch::equal(out.labels, logits.argmax(1)));
  expect_close_with_nan(out.confidence, softmax_of(logits, out.labels));
}

TEST(LabelsTorch, BinaryMatchesSigmoidThreshold) {
  torch::manual_seed(6);
  auto logits = torch::randn({500, 1}) * 3;
  LabelOptions opt;
  opt.apply_sigmoid = true;
  opt.threshold = 0.3;
  auto out = labels_from_logits(logits, opt);
  auto p = torch::sigmoid(logits.view({-1}));
  EXPECT_TRUE(torch::equal(out.labels, (p > 0.3).to(torch::kLong)));
  expect_close_with_nan(out.confidence, torch::where(p > 0.3, p, 1 - p));
}

TEST(LabelsTorch, ConfusionMatchesBincount) {
  torch::manual_seed(7);
  const int64_t c = 6;
  auto confusion = torch::zeros({c, c}, torch::kLong);
  auto ignored = torch::zeros({}, torch::kLong);
  auto expected = torch::zeros({c * c}, torch::kLong);
  int64_t expected_ignored = 0;
  for (int call = 0; call < 2; ++call) {
    auto logits = torch::randn({300, c});
    auto targets = torch::randint(-1, c + 1, {300}, torch::kLong);
    auto out = labels_from_logits(logits, targets, confusion, ignored);
    auto valid = (targets >= 0) & (targets < c);
    expected += torch::bincount((targets * c + out.labels).index({valid}), {}, c * c);
    expected_ignored += (~valid).sum().item<int64_t>();
  }
  EXPECT_TRUE(torch::equal(confusion.view({-1}), expected));
  EXPECT_EQ(ignored.item<int64_t>(), expected_ignored);
}

// Reference for the fused path: torch.argmax over C, then palette[class] (ignore colour beyond).
torch::Tensor palette_colours(const Palette& p, const torch::Tensor& classes, Rgb ignore) {
  auto table = torch::empty({p.size() + 1, 3}, torch::kUInt8);
  for (int i = 0; i <= p.size(); ++i) {
    const Rgb c = i < p.size() ? p[i] : ignore;
    table[i][0] = c.r;
    table[i][1] = c.g;
    table[i][2] = c.b;
  }
  return table.index({classes.clamp_max(p.size())});
}

TEST(SegmentationTorch, BothLayoutsMatchArgmaxPaletteAndIoU) {
  torch::manual_seed(8);
  const Palette p = Palette::default_for(5);  // classes 5 and 6 get the ignore colour
  MaskToRgbOptions opt;
  opt.ignore_color = {7, 8, 9};
  for (auto dtype : {torch::kFloat, torch::kHalf, torch::kBFloat16}) {
    auto logits = torch::randn({2, 7, 13, 11}).to(dtype);
    auto target = torch::randint(0, 8, {2, 13, 11}, torch::kByte);  // 7: outside [0, C)
    auto classes = logits.argmax(1);
    auto expected_rgb = palette_colours(p, classes, opt.ignore_color);
    auto expected_counts = torch::bincount(classes.flatten(), {}, 7);
    auto valid = target.to(torch::kLong) < 7;
    auto t = target.to(torch::kLong).index({valid});
    auto pred = classes.index({valid});
    auto expected_inter = torch::bincount(pred.index({pred == t}), {}, 7);
    auto expected_union = torch::bincount(pred, {}, 7) + torch::bincount(t, {}, 7) - expected_inter;

    auto first = segmentation_to_rgb(logits, ChannelLayout::ChannelsFirst, p, target, opt);
    auto last = segmentation_to_rgb(logits.permute({0, 2, 3, 1}).contiguous(), ChannelLayout::ChannelsLast, p,
                                    target, opt);
    auto strided = segmentation_to_rgb(logits.permute({0, 2, 3, 1}), ChannelLayout::ChannelsLast, p, target, opt);
    // torch's channels_last memory format: read in place as channels-last by the adapter.
    auto memory_last = segmentation_to_rgb(logits.contiguous(at::MemoryFormat::ChannelsLast),
                                           ChannelLayout::ChannelsFirst, p, target, opt);
    for (const auto* r : {&first, &last, &strided, &memory_last}) {
      EXPECT_TRUE(torch::equal(r->rgb, expected_rgb)) << c10::toString(dtype);
      EXPECT_TRUE(torch::equal(r->class_counts, expected_counts));
      EXPECT_TRUE(torch::equal(r->intersection, expected_inter));
      EXPECT_TRUE(torch::equal(r->union_counts, expected_union));
    }
  }
}

TEST(SegmentationTorch, NaNPixelsPickTheFirstNaNLikeArgmax) {
  torch::manual_seed(9);
  auto logits = torch::randn({1, 4, 8, 8});
  auto nan_mask = torch::rand({1, 4, 8, 8}) < 0.2;
  logits.masked_fill_(nan_mask, std::numeric_limits<float>::quiet_NaN());
  const Palette p = Palette::default_for(4);
  auto out = segmentation_to_rgb(logits, ChannelLayout::ChannelsFirst, p);
  EXPECT_TRUE(torch::equal(out.rgb, palette_colours(p, logits.argmax(1), Rgb{})));
  EXPECT_FALSE(out.intersection.defined());
}

}  // namespace
}  // namespace trainscope
