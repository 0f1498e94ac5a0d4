#pragma once
// Run ids (docs/run-directory.md#run-options). sanitize_file_component is public (trainscope/run/run.h).
#include <string>

namespace trainscope::detail {

// "run-<UTC yyyymmdd_hhmmss>-<6 random hex digits>".
std::string new_run_id();

}  // namespace trainscope::detail
