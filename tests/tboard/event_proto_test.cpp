#include "sinks/event_proto.h"

#include <gtest/gtest.h>

#include <string>

#include "support/hex.h"  // tests/
#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// Expected bytes below are derived by hand from the field numbers of TensorBoard's protos:
// a key byte is (field << 3) | wire type; doubles are 8 bytes LE, floats 4 bytes LE.

TEST(EventProto, FileVersionEvent) {
  // 09 = field 1 (wall_time) fixed64: 1.5 = 0x3ff8000000000000; 1a = field 3 (file_version) bytes.
  EXPECT_EQ(test_support::hex_bytes(encode_file_version_event(1.5)),
            "09000000000000f83f" "1a0d" + test_support::hex_bytes("brain.Event:2"));
}

TEST(EventProto, ScalarEvent) {
  SummaryBuilder summary;
  summary.add_scalar("loss", 0.5f);
  // Event{wall_time 2.0, step 3 (10 03), summary (2a, 13 bytes)
  //   Summary{value (0a, 11 bytes) Value{tag (0a 04 "loss"), simple_value (15, 0.5f = 0x3f000000)}}}
  EXPECT_EQ(test_support::hex_bytes(encode_summary_event(2.0, 3, summary)),
            "090000000000000040" "1003" "2a0d" "0a0b" "0a046c6f7373" "150000003f");
}

TEST(EventProto, DefaultsAreOmittedExceptOneofMembers) {
  SummaryBuilder summary;
  summary.add_scalar("a", 0.0f);  // simple_value is in a oneof: written even when zero
  // wall_time 0 and step 0 are proto3 defaults: left out.
  EXPECT_EQ(test_support::hex_bytes(encode_summary_event(0.0, 0, summary)), "2a0a" "0a08" "0a0161" "1500000000");
  // A negative step is a ten-byte varint (two's complement), as protobuf writes int64.
  EXPECT_EQ(test_support::hex_bytes(encode_summary_event(0.0, -1, summary)),
            "10ffffffffffffffffff01" "2a0a" "0a08" "0a0161" "1500000000");
}

TEST(EventProto, HistogramValue) {
  HistogramValue h;
  h.edges = {-1.0, 0.0, 1.0};
  h.counts = {1, 3};
  h.num = 4;
  h.min = -1.0;
  h.max = 1.0;
  h.sum = 0.5;
  h.sum_squares = 2.0;
  SummaryBuilder summary;
  summary.add_histogram("h", h);
  const std::string histo =
      "09000000000000f0bf"  // min -1.0
      "11000000000000f03f"  // max 1.0
      "190000000000001040"  // num 4.0
      "21000000000000e03f"  // sum 0.5
      "290000000000000040"  // sum_squares 2.0
      "3210" "0000000000000000" "000000000000f03f"   // bucket_limit: right edges 0, 1 (packed)
      "3a10" "000000000000f03f" "0000000000000840";  // bucket: counts 1, 3 (packed)
  ASSERT_EQ(histo.size() / 2, 81u);
  EXPECT_EQ(test_support::hex_bytes(summary.message().bytes()), "0a56" "0a0168" "2a51" + histo);
}

TEST(EventProto, HistogramNeedsOneEdgeMoreThanCounts) {
  HistogramValue h;
  h.counts = {1, 2};
  h.edges = {0.0, 1.0};
  SummaryBuilder summary;
  try {
    summary.add_histogram("weights", h);
    FAIL() << "expected trainscope::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weights"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("edges"), std::string::npos) << e.what();
  }
  h.counts.clear();
  h.edges = {0.0};
  EXPECT_THROW(summary.add_histogram("empty", h), Error);
  EXPECT_TRUE(summary.empty());
}

TEST(EventProto, ImageValue) {
  SummaryBuilder summary;
  summary.add_image("m", 2, 3, 3, {'P', 'N', 'G'});
  // Image{height 2 (08 02), width 3 (10 03), colorspace 3 (18 03), encoded (22 03 "PNG")}
  EXPECT_EQ(test_support::hex_bytes(summary.message().bytes()), "0a10" "0a016d" "220b" "080210031803" "2203504e47");
}

TEST(EventProto, TextValueForTheTextPlugin) {
  SummaryBuilder summary;
  summary.add_text("t", "hi");
  // Value{tag "t",
  //   tensor (42) TensorProto{dtype DT_STRING (08 07), tensor_shape {} (12 00), string_val (42 "hi")},
  //   metadata (4a) SummaryMetadata{plugin_data (0a) {plugin_name "text"}, data_class TENSOR (20 02)}}
  EXPECT_EQ(test_support::hex_bytes(summary.message().bytes()),
            "0a19" "0a0174" "4208" "0807" "1200" "42026869" "4a0a" "0a06" "0a0474657874" "2002");
}

TEST(EventProto, SessionStartEvent) {
  // session_log (3a) SessionLog{status START (08 01)}
  EXPECT_EQ(test_support::hex_bytes(encode_session_start_event(2.0, 5)), "090000000000000040" "1005" "3a020801");
}

TEST(EventProto, HeaderDecodesWhatWasEncoded) {
  SummaryBuilder summary;
  summary.add_scalar("x", 1.0f);
  EventHeader h = decode_event_header(encode_summary_event(1234.25, 77, summary));
  EXPECT_EQ(h.wall_time, 1234.25);
  EXPECT_EQ(h.step, 77);
  EXPECT_TRUE(h.has_summary);
  EXPECT_FALSE(h.is_session_start);

  h = decode_event_header(encode_session_start_event(9.0, 12));
  EXPECT_EQ(h.step, 12);
  EXPECT_TRUE(h.is_session_start);
  EXPECT_FALSE(h.has_summary);

  h = decode_event_header(encode_file_version_event(3.0));
  EXPECT_EQ(h.file_version, "brain.Event:2");
  EXPECT_EQ(h.wall_time, 3.0);

  // Fields this decoder does not know (source_metadata = 10, a varint 99, a fixed32 98) are skipped.
  h = decode_event_header(unhex("1007" "5203616263" "9806" "2a" "950601020304" "3a020802"));
  EXPECT_EQ(h.step, 7);
  EXPECT_FALSE(h.is_session_start);  // status 2 is STOP
}

TEST(EventProto, MalformedBytesAreAnError) {
  EXPECT_THROW(decode_event_header(unhex("10")), Error);          // varint missing
  EXPECT_THROW(decode_event_header(unhex("090000")), Error);      // fixed64 cut short
  EXPECT_THROW(decode_event_header(unhex("2a05" "0a01")), Error);  // length beyond the end
  EXPECT_THROW(decode_event_header(unhex("0b")), Error);          // wire type 3 (groups)
}

}  // namespace
}  // namespace trainscope::detail
