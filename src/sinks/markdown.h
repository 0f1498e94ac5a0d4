#pragma once
// Tables as markdown text, the form TensorBoard's text plugin renders as an HTML table.
#include <string>

#include "trainscope/run/record.h"

namespace trainscope::detail {

// One cell as text: empty, true/false, the integer, the shortest decimal that reads back as the
// same double (nan, inf, -inf included), or the string.
std::string table_cell_text(const TableCell& cell);

// "| a | b |\n| --- | --- |\n| 1 | x |\n": a header row, a separator and one line per row, with
// '|' escaped and line breaks turned into spaces so every cell stays on its line. Throws
// trainscope::Error if a row's length differs from the number of columns.
std::string table_to_markdown(const TableValue& table);

}  // namespace trainscope::detail
