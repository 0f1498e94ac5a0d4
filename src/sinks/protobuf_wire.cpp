#include "sinks/protobuf_wire.h"

#include <cstring>

#include "trainscope/error.h"

namespace trainscope::detail {

void ProtoWriter::put_varint(uint64_t value) {
  while (value >= 0x80) {
    bytes_.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  bytes_.push_back(static_cast<char>(value));
}

void ProtoWriter::put_tag(int field, WireType type) {
  put_varint((static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(type));
}

void ProtoWriter::put_fixed64(uint64_t bits) {
  for (int i = 0; i < 8; ++i) bytes_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

void ProtoWriter::put_fixed32(uint32_t bits) {
  for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

void ProtoWriter::add_varint(int field, uint64_t value) {
  put_tag(field, WireType::Varint);
  put_varint(value);
}

void ProtoWriter::add_double(int field, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  put_tag(field, WireType::Fixed64);
  put_fixed64(bits);
}

void ProtoWriter::add_double_if_nonzero(int field, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (bits != 0) add_double(field, value);  // -0.0 has a bit set and is kept, as in protobuf
}

void ProtoWriter::add_float(int field, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  put_tag(field, WireType::Fixed32);
  put_fixed32(bits);
}

void ProtoWriter::add_bytes(int field, std::string_view bytes) {
  put_tag(field, WireType::LengthDelimited);
  put_varint(bytes.size());
  bytes_.append(bytes.data(), bytes.size());
}

void ProtoWriter::add_bytes(int field, const std::vector<uint8_t>& bytes) {
  add_bytes(field, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void ProtoWriter::add_packed_doubles(int field, const std::vector<double>& values) {
  if (values.empty()) return;
  put_tag(field, WireType::LengthDelimited);
  put_varint(values.size() * 8);
  for (double v : values) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    put_fixed64(bits);
  }
}

double ProtoField::as_double() const {
  double value;
  std::memcpy(&value, &scalar, sizeof value);
  return value;
}

uint64_t ProtoReader::read_varint() {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (rest_.empty()) throw Error("protobuf: message: truncated varint");
    const auto byte = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  throw Error("protobuf: message: varint longer than 10 bytes");
}

bool ProtoReader::next(ProtoField& field) {
  if (rest_.empty()) return false;
  const uint64_t key = read_varint();
  field.number = static_cast<int>(key >> 3);
  field.bytes = {};
  field.scalar = 0;
  auto take_fixed = [&](size_t n) {
    if (rest_.size() < n) throw Error("protobuf: message: truncated fixed-width field");
    uint64_t bits = 0;
    for (size_t i = 0; i < n; ++i) bits |= static_cast<uint64_t>(static_cast<uint8_t>(rest_[i])) << (8 * i);
    rest_.remove_prefix(n);
    return bits;
  };
  switch (key & 7) {
    case 0:
      field.type = WireType::Varint;
      field.scalar = read_varint();
      return true;
    case 1:
      field.type = WireType::Fixed64;
      field.scalar = take_fixed(8);
      return true;
    case 2: {
      field.type = WireType::LengthDelimited;
      const uint64_t size = read_varint();
      if (size > rest_.size()) throw Error("protobuf: message: field longer than the message");
      field.bytes = rest_.substr(0, size);
      rest_.remove_prefix(size);
      return true;
    }
    case 5:
      field.type = WireType::Fixed32;
      field.scalar = take_fixed(4);
      return true;
    default:
      throw Error("protobuf: message: unsupported wire type " + std::to_string(key & 7));
  }
}

}  // namespace trainscope::detail
