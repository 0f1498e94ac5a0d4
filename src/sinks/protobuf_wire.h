#pragma once
// The few pieces of the protocol buffers wire format that TensorBoard's messages need: an encoder
// that appends fields to a byte string, and a decoder that walks the top-level fields of a
// message. Fields are written in the order the caller gives (callers use field-number order, as
// protobuf's own serialisers do, so the bytes are the canonical encoding).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trainscope::detail {

enum class WireType : uint8_t { Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5 };

class ProtoWriter {
 public:
  // Varint fields (int32, int64, enum, bool). Negative values take ten bytes, as in protobuf.
  void add_varint(int field, uint64_t value);
  void add_int64(int field, int64_t value) { add_varint(field, static_cast<uint64_t>(value)); }
  void add_double(int field, double value);
  void add_float(int field, float value);
  void add_bytes(int field, std::string_view bytes);
  void add_bytes(int field, const std::vector<uint8_t>& bytes);
  // A nested message: the encoder's bytes, length-delimited.
  void add_message(int field, const ProtoWriter& message) { add_bytes(field, message.bytes()); }
  // A packed repeated double field; nothing is written for an empty list (proto3).
  void add_packed_doubles(int field, const std::vector<double>& values);

  // proto3 leaves scalar fields at their default value (all bits zero) out of the encoding.
  void add_varint_if_nonzero(int field, uint64_t value) {
    if (value != 0) add_varint(field, value);
  }
  void add_double_if_nonzero(int field, double value);

  const std::string& bytes() const { return bytes_; }
  std::string take() { return std::move(bytes_); }

 private:
  void put_tag(int field, WireType type);
  void put_varint(uint64_t value);
  void put_fixed64(uint64_t bits);
  void put_fixed32(uint32_t bits);
  std::string bytes_;
};

// One top-level field of an encoded message.
struct ProtoField {
  int number = 0;
  WireType type = WireType::Varint;
  uint64_t scalar = 0;     // varint value, or the raw bits of a fixed32/fixed64
  std::string_view bytes;  // contents of a length-delimited field
  double as_double() const;
};

// Walks the fields of one encoded message. next() returns false at the end; malformed input
// (truncated varint or field, unknown wire type) throws trainscope::Error.
class ProtoReader {
 public:
  explicit ProtoReader(std::string_view message) : rest_(message) {}
  bool next(ProtoField& field);

 private:
  uint64_t read_varint();
  std::string_view rest_;
};

}  // namespace trainscope::detail
