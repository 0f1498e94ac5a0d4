#pragma once
// Checks every string of a step before any output sees it (docs/run-directory.md#keys-and-text).
#include <string>

#include "trainscope/run/record.h"

namespace trainscope::detail {

// Non-empty, UTF-8, not starting with '_' (reserved: _step, _runtime, _timestamp).
void check_user_key(const std::string& key, const char* where);
void check_cell(const TableCell& cell, const std::string& where, const std::string& what);
// Keys (each once across the kinds), texts, captions, table columns and cells; throws Error
// naming the key (and column/row/caption) with bad bytes escaped.
void check_record(const StepRecord& record, const char* where);

}  // namespace trainscope::detail
