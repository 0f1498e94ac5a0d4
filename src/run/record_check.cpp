#include "run/record_check.h"

#include <set>

#include "common/utf8.h"
#include "trainscope/error.h"

namespace trainscope::detail {

void check_user_key(const std::string& key, const char* where) {
  if (key.empty()) throw Error(std::string(where) + ": key: expected a non-empty name");
  check_utf8(key, where, "key");
  if (key[0] == '_')
    throw Error(std::string(where) + ": key '" + key + "': names starting with '_' are reserved (_step, _runtime, _timestamp)");
}

void check_cell(const TableCell& cell, const std::string& where, const std::string& what) {
  if (const auto* text = std::get_if<std::string>(&cell)) check_utf8(*text, where, what);
}

// JSON, TensorBoard's protobuf strings and W&B all need UTF-8, and a replacement character would
// merge distinct keys, so nothing is repaired: the step is refused.
void check_record(const StepRecord& record, const char* where) {
  std::set<std::string> keys;
  auto check_keys = [&](const auto& map) {
    for (const auto& entry : map) {
      check_user_key(entry.first, where);
      if (!keys.insert(entry.first).second)
        throw Error(std::string(where) + ": key '" + entry.first + "': given twice in one step (as two kinds of value)");
    }
  };
  check_keys(record.scalars);
  check_keys(record.texts);
  check_keys(record.histograms);
  check_keys(record.images);
  check_keys(record.tables);
  for (const auto& [key, text] : record.texts) check_utf8(text, where, "text '" + key + "': value");
  for (const auto& [key, images] : record.images)
    for (std::size_t i = 0; i < images.size(); ++i)
    {
      check_utf8(images[i].caption, where, "images '" + key + "'[" + std::to_string(i) + "]: caption");
      for (const auto& [name, mask] : images[i].masks) {
        const std::string what = "images '" + key + "'[" + std::to_string(i) + "]: mask '" + name + "'";
        if (name.empty()) throw Error(std::string(where) + ": " + what + ": expected a mask name");
        check_utf8(name, where, what + ": name");
        for (const auto& entry : mask.class_labels) check_utf8(entry.second, where, what + ": class label");
      }
    }
  for (const auto& [key, table] : record.tables) {
    for (std::size_t c = 0; c < table.columns.size(); ++c)
      check_utf8(table.columns[c], where, "table '" + key + "': column " + std::to_string(c));
    for (std::size_t r = 0; r < table.rows.size(); ++r)
      for (std::size_t c = 0; c < table.rows[r].size(); ++c)
        check_cell(table.rows[r][c], where,
                   "table '" + key + "': row " + std::to_string(r) + " cell " + std::to_string(c));
  }
}

}  // namespace trainscope::detail
