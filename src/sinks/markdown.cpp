#include "sinks/markdown.h"

#include <charconv>

#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

std::string escape_cell(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

void append_row(std::string& out, const std::vector<std::string>& cells) {
  out += '|';
  for (const std::string& cell : cells) out += ' ' + escape_cell(cell) + " |";
  out += '\n';
}

}  // namespace

std::string table_cell_text(const TableCell& cell) {
  struct Text {
    std::string operator()(std::monostate) const { return ""; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      char buffer[32];
      const auto result = std::to_chars(buffer, buffer + sizeof buffer, d);
      return std::string(buffer, result.ptr);
    }
    std::string operator()(const std::string& s) const { return s; }
  };
  return std::visit(Text{}, cell);
}

std::string table_to_markdown(const TableValue& table) {
  std::string out;
  append_row(out, table.columns);
  out += '|';
  for (size_t i = 0; i < table.columns.size(); ++i) out += " --- |";
  out += '\n';
  std::vector<std::string> cells;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    if (row.size() != table.columns.size())
      throw Error("table_to_markdown: rows[" + std::to_string(r) + "]: expected " +
                  std::to_string(table.columns.size()) + " cells (one per column), got " +
                  std::to_string(row.size()));
    cells.clear();
    for (const TableCell& cell : row) cells.push_back(table_cell_text(cell));
    append_row(out, cells);
  }
  return out;
}

}  // namespace trainscope::detail
