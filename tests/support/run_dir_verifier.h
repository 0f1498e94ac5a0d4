#pragma once
// One checker for every run directory a fault test leaves behind: whatever was injected (a kill,
// a full disk, bad input, a lying server), the directory must still be a valid record.
//  - history.jsonl: every line a JSON object ending in '\n' (a torn last line only where allowed),
//    `_step` strictly increasing (optionally 0, 1, 2, ...);
//  - every media file a row references exists with the recorded size and SHA-256, and no media
//    file is unreferenced;
//  - summary.json parses, and (for a finished run) holds the last value of every history key;
//  - no temporary file ("*.tmp-<pid>", "*.tmp") anywhere;
//  - TensorBoard's own reader (tests/support/read_tensorboard.py through TRAINSCOPE_PYTHON) reads
//    every event file, and each scalar's points are history values at history steps.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trainscope::testing {

struct VerifyOptions {
  bool allow_torn_tail = false;      // a killed directory not yet resumed (also allows leftovers)
  bool contiguous_steps = true;      // _step must be 0, 1, 2, ... (no step lost)
  bool finished = true;              // the run was finished: summary = last value of every key
  bool check_tensorboard = true;     // when <dir>/tb exists
  int64_t tensorboard_complete_from = 0;  // TensorBoard must hold every history scalar from this step
};

struct RunDirContents {
  std::vector<nlohmann::json> rows;  // history rows, in file order
  nlohmann::json summary;
  nlohmann::json tensorboard;        // {"scalars": {tag: [[step, value], ...]}, "tags": {...}}
  bool tensorboard_read = false;
  int temporaries = 0;       // temp files found (problems unless allow_torn_tail)
  int unreferenced_media = 0;
};

// Every problem found (empty: the directory is valid). `contents` receives what was read.
std::vector<std::string> verify_run_dir(const std::string& dir, const VerifyOptions& options = {},
                                        RunDirContents* contents = nullptr);

// The problems as one message for a gtest assertion.
std::string describe(const std::vector<std::string>& problems);

}  // namespace trainscope::testing
