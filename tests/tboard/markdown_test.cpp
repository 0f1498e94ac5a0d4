#include "sinks/markdown.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

TEST(Markdown, TableWithEveryCellKind) {
  TableValue table;
  table.columns = {"id", "label", "confidence", "ok", "note"};
  table.rows = {{int64_t{0}, std::string("cat"), 0.75, true, std::monostate{}},
                {int64_t{-12}, std::string("a|b"), 0.1, false, std::string("two\nlines")}};
  EXPECT_EQ(table_to_markdown(table),
            "| id | label | confidence | ok | note |\n"
            "| --- | --- | --- | --- | --- |\n"
            "| 0 | cat | 0.75 | true |  |\n"
            "| -12 | a\\|b | 0.1 | false | two lines |\n");
}

TEST(Markdown, DoublesUseTheShortestExactForm) {
  EXPECT_EQ(table_cell_text(0.1), "0.1");
  EXPECT_EQ(table_cell_text(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(table_cell_text(1e300), "1e+300");
  EXPECT_EQ(table_cell_text(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(table_cell_text(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(table_cell_text(std::nan("")), "nan");
}

TEST(Markdown, RowLengthMustMatchColumns) {
  TableValue table;
  table.columns = {"a", "b"};
  table.rows = {{int64_t{1}}};
  try {
    table_to_markdown(table);
    FAIL() << "expected trainscope::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rows[0]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace trainscope::detail
