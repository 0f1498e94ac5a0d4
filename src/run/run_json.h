#pragma once
// run.json (docs/run-directory.md#runjson): the run's id, its identity (RunOptions' name, tags,
// notes, group, job_type) and its metric definitions; the uploader sends them with the run.
#include <string>

#include <nlohmann/json.hpp>

#include "trainscope/run/run.h"

namespace trainscope::detail {

// Throws Error for identity fields W&B would refuse: text that is not UTF-8, a tag that is empty
// or longer than 64 characters.
void check_identity(const RunOptions& options);

// <dir>/run.json as an object; {} when absent or not a JSON object.
nlohmann::json read_run_json(const std::string& dir);

// `recorded` with "id" set and each non-empty identity field of `options` replacing its value.
nlohmann::json merge_identity(nlohmann::json recorded, const std::string& id, const RunOptions& options);

}  // namespace trainscope::detail
