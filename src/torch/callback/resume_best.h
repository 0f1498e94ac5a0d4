#pragma once
// Best tracking across a resume: where the best value of an interrupted run comes from.
#include "torch/callback/policy.h"
#include "trainscope/torch/callback.h"

namespace trainscope::detail {

// Restores `best` for a resumed `run` from every record that holds it: summary.json's
// best_<monitor>/best_epoch (when a prefix is set), the rows of `monitor` in history.jsonl and
// the metadata of checkpoints/model-best.pt. Each holds values the model really reached, so the
// best of them is what a new checkpoint must beat; taking it keeps a damaged summary from
// resetting the best and letting a worse model overwrite the best checkpoint. Throws Error when a
// best checkpoint exists but no record tells its value.
void restore_best(Run& run, const CallbackOptions& options, BestTracker& best);

}  // namespace trainscope::detail
