#pragma once
// Reads the next batch of complete lines from history.jsonl (docs/run-directory.md): a line counts only once its
// '\n' is on disk (a crash may leave a torn last line), a batch never exceeds the request budget,
// and lines W&B would refuse (longer than the line limit, or not JSON) are dropped and reported.
// Reads in fixed chunks, so memory is bounded by the budget whatever the file holds.
#include <cstdint>
#include <string>
#include <vector>

namespace trainscope::detail {

struct HistoryBatch {
  std::vector<std::string> lines;     // to send, in file order, without '\n'
  std::vector<std::string> dropped;   // one reason per dropped line
  int64_t end_bytes = 0;              // file offset just after the last line consumed
  int64_t consumed_lines = 0;         // lines.size() + dropped.size()
  int64_t encoded_bytes = 0;          // size of the lines as a JSON array of strings
  bool empty() const { return consumed_lines == 0; }
};

// Lines starting at byte `from_bytes` (a line start). `budget_bytes` bounds the JSON-encoded
// lines; a single line that alone exceeds it, or whose raw length exceeds `max_line_bytes`, is
// dropped. Throws Error when the file shrank below `from_bytes` or `from_bytes` is not a line start. A missing file is an empty batch.
HistoryBatch read_history_batch(const std::string& path, int64_t from_bytes, int64_t budget_bytes,
                                int64_t max_line_bytes, int64_t first_line_number);

}  // namespace trainscope::detail
