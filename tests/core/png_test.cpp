#include <gtest/gtest.h>

#include "run/png_codec.h"
#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

TEST(Png, RoundTripsEveryChannelCount) {
  for (int channels : {1, 3, 4}) {
    ImageValue img;
    img.width = 7;
    img.height = 5;
    img.channels = channels;
    for (int i = 0; i < 7 * 5 * channels; ++i) img.pixels.push_back(uint8_t(i * 37 + 11));
    auto png = encode_png(img);
    ASSERT_GT(png.size(), 8u);
    EXPECT_EQ(png[1], 'P');
    auto back = decode_png(png);
    EXPECT_EQ(back.width, 7);
    EXPECT_EQ(back.height, 5);
    EXPECT_EQ(back.channels, channels);
    EXPECT_EQ(back.pixels, img.pixels);
  }
}

TEST(Png, BadInputIsAnError) {
  ImageValue img;
  img.width = 2;
  img.height = 2;
  img.channels = 2;
  img.pixels.resize(8);
  EXPECT_THROW(encode_png(img), Error);
  img.channels = 3;
  EXPECT_THROW(encode_png(img), Error);  // 8 bytes for 12 needed
  EXPECT_THROW(decode_png({1, 2, 3}), Error);
  img.pixels.resize(12);
  auto png = encode_png(img);
  png.resize(png.size() / 2);
  EXPECT_THROW(decode_png(png), Error);
}

}  // namespace
}  // namespace trainscope::detail
