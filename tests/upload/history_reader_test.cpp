#include "upload/history_reader.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "trainscope/error.h"
#include "upload/run_fixture.h"

namespace trainscope::detail {
namespace {

using trainscope::testing::append_file;
using trainscope::testing::write_file;

class HistoryReader : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = trainscope::testing::make_temp_dir("history");
    path_ = dir_ + "/history.jsonl";
  }
  void TearDown() override { trainscope::testing::remove_tree(dir_); }
  std::string dir_, path_;
};

TEST_F(HistoryReader, TornLastLineWaitsForItsNewline) {
  write_file(path_, "{\"a\":1}\n{\"a\":2}\n{\"a\":");
  HistoryBatch b = read_history_batch(path_, 0, 1 << 20, 1000, 0);
  EXPECT_EQ(b.lines, (std::vector<std::string>{"{\"a\":1}", "{\"a\":2}"}));
  EXPECT_EQ(b.end_bytes, 16);
  EXPECT_EQ(b.consumed_lines, 2);
  EXPECT_TRUE(read_history_batch(path_, b.end_bytes, 1 << 20, 1000, 2).empty());
  append_file(path_, "3}\n");
  b = read_history_batch(path_, b.end_bytes, 1 << 20, 1000, 2);
  EXPECT_EQ(b.lines, (std::vector<std::string>{"{\"a\":3}"}));
  EXPECT_EQ(b.end_bytes, 24);
}

TEST_F(HistoryReader, BatchesStayWithinTheBudgetAndCoverEveryLineInOrder) {
  std::string text;
  std::vector<std::string> expected;
  for (int i = 0; i < 500; ++i) {
    expected.push_back(nlohmann::json{{"_step", i}, {"pad", std::string(size_t(i % 50), 'p')}}.dump());
    text += expected.back() + "\n";
  }
  write_file(path_, text);
  std::vector<std::string> got;
  int64_t offset = 0, batches = 0;
  for (;;) {
    HistoryBatch b = read_history_batch(path_, offset, 1000, 10000, int64_t(got.size()));
    if (b.empty()) break;
    EXPECT_LE(b.encoded_bytes, 1000);
    int64_t encoded = 0;
    for (const auto& line : b.lines) encoded += int64_t(nlohmann::json(line).dump().size()) + 1;
    EXPECT_EQ(encoded, b.encoded_bytes);
    got.insert(got.end(), b.lines.begin(), b.lines.end());
    offset = b.end_bytes;
    ++batches;
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(offset, int64_t(text.size()));
  EXPECT_GT(batches, 20);
}

TEST_F(HistoryReader, OversizeEmptyAndInvalidLinesAreDroppedWithReasons) {
  const std::string big = "{\"x\":\"" + std::string(200000, 'x') + "\"}";  // spans chunks
  write_file(path_, "{\"a\":1}\n" + big + "\n\nnot json\n{\"a\":2}\n");
  HistoryBatch b = read_history_batch(path_, 0, 1 << 20, 1000, 10);
  EXPECT_EQ(b.lines, (std::vector<std::string>{"{\"a\":1}", "{\"a\":2}"}));
  ASSERT_EQ(b.dropped.size(), 3u);
  EXPECT_NE(b.dropped[0].find("history line 11 is 200008 bytes"), std::string::npos) << b.dropped[0];
  EXPECT_NE(b.dropped[1].find("line 12 is empty"), std::string::npos) << b.dropped[1];
  EXPECT_NE(b.dropped[2].find("line 13 is not valid JSON"), std::string::npos) << b.dropped[2];
  EXPECT_EQ(b.consumed_lines, 5);
}

TEST_F(HistoryReader, ALineTooBigForOneRequestIsDropped) {
  std::string escaped_quotes;
  for (int i = 0; i < 150; ++i) escaped_quotes += "\\\"";  // \" : 2 bytes raw, 4 encoded
  const std::string quoted = "{\"q\":\"" + escaped_quotes + "\"}";  // 308 bytes, ~610 encoded
  write_file(path_, quoted + "\n{\"a\":1}\n");
  HistoryBatch b = read_history_batch(path_, 0, 500, 100000, 0);
  EXPECT_EQ(b.lines, (std::vector<std::string>{"{\"a\":1}"}));
  ASSERT_EQ(b.dropped.size(), 1u);
  EXPECT_NE(b.dropped[0].find("more than one request may carry"), std::string::npos);
}

TEST_F(HistoryReader, MissingFileIsEmptyAndShrunkFileIsAnError) {
  EXPECT_TRUE(read_history_batch(path_, 0, 1000, 1000, 0).empty());
  write_file(path_, "{}\n");
  EXPECT_THROW(read_history_batch(path_, 100, 1000, 1000, 0), Error);
}

}  // namespace
}  // namespace trainscope::detail
