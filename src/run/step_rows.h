#pragma once
// The step rules of Run::log (docs/run-directory.md#steps), W&B's `_step` semantics, kept apart
// from the writer so they can be tested alone:
// - no step given: the values join the open row (or open one at the next step); commit defaults
//   to true, so the row is written now; commit = false leaves it open for the next call;
// - a step given: a later step first closes the open row, the same step merges into it, an older
//   one (or one already written) is an Error; commit defaults to false (the row stays open until a
//   later step, flush or finish), commit = true closes it now.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "trainscope/run/run.h"

namespace trainscope::detail {

struct OpenRow {
  int64_t step = 0;
  StepRecord record;
  std::vector<std::unique_ptr<PendingPart>> pending;
};

// Later values replace earlier ones of the same key, whatever their kind.
void merge_record(StepRecord& into, StepRecord&& from);
// A LogRow as record fields.
StepRecord record_of(const LogRow& values);

class StepRows {
 public:
  explicit StepRows(int64_t next_step = 0) : next_step_(next_step) {}
  // Applies one log call; returns the rows it closes, in step order, and sets `landed` to the
  // step the values joined. Throws Error (naming `where`) for a negative or older step, leaving
  // the state as it was.
  std::vector<OpenRow> log(StepRecord values, std::vector<std::unique_ptr<PendingPart>> pending,
                           std::optional<int64_t> step, std::optional<bool> commit, int64_t& landed,
                           const char* where);
  // Closes the open row, if any (flush, finish).
  std::optional<OpenRow> close();
  // The step values logged without a step would join.
  int64_t current_step() const { return open_ ? open_->step : next_step_; }
  bool has_open_row() const { return open_.has_value(); }

 private:
  int64_t next_step_;              // the first step not yet closed
  std::optional<OpenRow> open_;
};

}  // namespace trainscope::detail
