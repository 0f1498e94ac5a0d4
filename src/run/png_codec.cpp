#include "run/png_codec.h"

#include <png.h>

#include <cstring>
#include <string>

#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

// libpng reports errors through longjmp by default; these callbacks turn them into exceptions
// thrown out of C frames, which is safe only because libpng keeps no C++ state. To stay clear of
// that, errors are recorded and a longjmp returns control to the setjmp in the caller.
struct ErrorState {
  std::string message;
};

void on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<ErrorState*>(png_get_error_ptr(png));
  state->message = message;
  png_longjmp(png, 1);
}
void on_warning(png_structp, png_const_charp) {}

int color_type_for(int channels) {
  switch (channels) {
    case 1: return PNG_COLOR_TYPE_GRAY;
    case 3: return PNG_COLOR_TYPE_RGB;
    case 4: return PNG_COLOR_TYPE_RGB_ALPHA;
    default: return -1;
  }
}

}  // namespace

std::vector<uint8_t> encode_png(const ImageValue& image) {
  const int color_type = color_type_for(image.channels);
  if (color_type < 0) throw Error("encode_png: channels: expected 1, 3 or 4, got " + std::to_string(image.channels));
  if (image.width <= 0 || image.height <= 0)
    throw Error("encode_png: expected a positive width and height, got " + std::to_string(image.width) + "x" +
                std::to_string(image.height));
  const std::size_t row_bytes = std::size_t(image.width) * std::size_t(image.channels);
  if (image.pixels.size() != row_bytes * std::size_t(image.height))
    throw Error("encode_png: pixels: expected " + std::to_string(row_bytes * std::size_t(image.height)) +
                " bytes, got " + std::to_string(image.pixels.size()));

  ErrorState state;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_write_struct(&png, &info);
    throw Error("encode_png: out of memory");
  }
  std::vector<uint8_t> out;
  std::vector<png_bytep> rows(static_cast<std::size_t>(image.height));
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw Error("encode_png: libpng: " + state.message);
  }
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t n) {
        auto* buf = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(p));
        buf->insert(buf->end(), data, data + n);
      },
      nullptr);
  png_set_IHDR(png, info, png_uint_32(image.width), png_uint_32(image.height), 8, color_type,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  // Speed over size: images are logged from a training loop's writer thread.
  png_set_compression_level(png, 3);
  for (int y = 0; y < image.height; ++y)
    rows[std::size_t(y)] = const_cast<png_bytep>(image.pixels.data() + std::size_t(y) * row_bytes);
  png_set_rows(png, info, rows.data());
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

ImageValue decode_png(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < 8 || png_sig_cmp(bytes.data(), 0, 8) != 0) throw Error("decode_png: not a PNG");
  ErrorState state;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw Error("decode_png: out of memory");
  }
  struct Reader {
    const std::vector<uint8_t>* bytes;
    std::size_t pos;
  } reader{&bytes, 0};
  ImageValue image;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw Error("decode_png: libpng: " + state.message);
  }
  png_set_read_fn(png, &reader, [](png_structp p, png_bytep data, png_size_t n) {
    auto* r = static_cast<Reader*>(png_get_io_ptr(p));
    if (r->pos + n > r->bytes->size()) png_error(p, "truncated data");
    std::memcpy(data, r->bytes->data() + r->pos, n);
    r->pos += n;
  });
  png_read_png(png, info, PNG_TRANSFORM_STRIP_16 | PNG_TRANSFORM_PACKING | PNG_TRANSFORM_EXPAND, nullptr);
  image.width = int(png_get_image_width(png, info));
  image.height = int(png_get_image_height(png, info));
  image.channels = int(png_get_channels(png, info));
  const std::size_t row_bytes = png_get_rowbytes(png, info);
  png_bytepp rows = png_get_rows(png, info);
  image.pixels.resize(row_bytes * std::size_t(image.height));
  for (int y = 0; y < image.height; ++y)
    std::memcpy(image.pixels.data() + std::size_t(y) * row_bytes, rows[y], row_bytes);
  png_destroy_read_struct(&png, &info, nullptr);
  return image;
}

}  // namespace trainscope::detail
