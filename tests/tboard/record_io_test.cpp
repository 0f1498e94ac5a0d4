#include "sinks/record_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/hex.h"  // tests/
#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

namespace fs = std::filesystem;

// Event{wall_time: 1.5, file_version: "brain.Event:2"}, encoded by hand: 24 bytes.
const std::string kFileVersionEvent =
    std::string("\x09\x00\x00\x00\x00\x00\x00\xf8\x3f", 9) + "\x1a\x0d" "brain.Event:2";

TEST(RecordFraming, KnownRecordByteForByte) {
  ASSERT_EQ(kFileVersionEvent.size(), 24u);
  std::string framed;
  append_record(framed, kFileVersionEvent);
  // length 24 (LE) | masked CRC of le64(24) = 0x224b7fa3 (docs/tensorboard.md) | data | masked CRC of the data
  // = 0x6c64282a (as TensorBoard's Python CRC computes it), each CRC little-endian.
  const std::string expected = "1800000000000000" "a37f4b22" + test_support::hex_bytes(kFileVersionEvent) + "2a28646c";
  EXPECT_EQ(test_support::hex_bytes(framed), expected);
  EXPECT_EQ(framed.size(), kRecordHeaderBytes + 24 + kRecordFooterBytes);
}

TEST(RecordFraming, EmptyRecord) {
  std::string framed;
  append_record(framed, "");
  // CRC-32C of nothing is 0, masked: 0xa282ead8.
  EXPECT_EQ(test_support::hex_bytes(framed.substr(12)), "d8ea82a2");
  EXPECT_EQ(framed.size(), 16u);
}

class RecordFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("trainscope_records_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write_file(const std::string& bytes) {
    const std::string path = (dir_ / "records").string();
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
  }
  fs::path dir_;
};

std::vector<std::string> read_all(const std::string& path, RecordsRead* info) {
  std::vector<std::string> records;
  *info = read_records(path, [&](std::string_view d) { records.emplace_back(d); });
  return records;
}

TEST_F(RecordFile, ReadsBackWhatWasFramed) {
  const std::vector<std::string> payloads = {"a", "", std::string(1000, 'x'), kFileVersionEvent};
  std::string bytes;
  for (const auto& p : payloads) append_record(bytes, p);
  RecordsRead info;
  EXPECT_EQ(read_all(write_file(bytes), &info), payloads);
  EXPECT_EQ(info.end, RecordsEnd::Clean);
  EXPECT_EQ(info.records, payloads.size());
  EXPECT_EQ(info.valid_bytes, bytes.size());
}

// A writer killed mid-record leaves any prefix of the last record: every cut is tolerated and
// every whole record before it is read.
TEST_F(RecordFile, EveryTruncationOfTheLastRecordIsTolerated) {
  std::string bytes;
  append_record(bytes, "first");
  append_record(bytes, "second");
  const size_t whole = bytes.size();
  append_record(bytes, "third record");
  for (size_t cut = whole + 1; cut < bytes.size(); ++cut) {
    RecordsRead info;
    const auto records = read_all(write_file(bytes.substr(0, cut)), &info);
    ASSERT_EQ(records, (std::vector<std::string>{"first", "second"})) << "cut at " << cut;
    EXPECT_EQ(info.end, RecordsEnd::Truncated) << "cut at " << cut;
    EXPECT_EQ(info.valid_bytes, whole);
  }
}

TEST_F(RecordFile, CorruptionStopsReading) {
  std::string bytes;
  append_record(bytes, "first");
  const size_t whole = bytes.size();
  append_record(bytes, "second");
  append_record(bytes, "third");
  for (size_t at : {whole + 3, whole + 9, whole + 13, whole + 12 + 6 + 1}) {
    std::string damaged = bytes;
    damaged[at] ^= 0x01;
    RecordsRead info;
    const auto records = read_all(write_file(damaged), &info);
    EXPECT_EQ(records, std::vector<std::string>{"first"}) << "flipped byte " << at;
    EXPECT_EQ(info.end, RecordsEnd::Corrupt) << "flipped byte " << at;
    EXPECT_FALSE(info.problem.empty());
  }
}

TEST_F(RecordFile, MissingFileIsAnError) {
  EXPECT_THROW(read_records((dir_ / "absent").string(), [](std::string_view) {}), Error);
}

}  // namespace
}  // namespace trainscope::detail
