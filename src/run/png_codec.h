#pragma once
// PNG encoding and decoding through libpng (8-bit grey, RGB or RGBA).
#include <cstdint>
#include <vector>

#include "trainscope/run/record.h"

namespace trainscope::detail {

// Encodes `image` (channels 1, 3 or 4). Throws trainscope::Error on bad dimensions.
std::vector<uint8_t> encode_png(const ImageValue& image);

// Decodes an 8-bit PNG without palette expansion surprises: grey, RGB or RGBA as stored.
ImageValue decode_png(const std::vector<uint8_t>& png);

}  // namespace trainscope::detail
