#pragma once
// Builds run directories in the docs/run-directory.md layout for the upload tests, and checks what a fake W&B
// server received against them.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trainscope::testing {

std::string make_temp_dir(const std::string& tag);
void remove_tree(const std::string& path);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);
// Temp file + rename, as the run writer replaces summary.json and checkpoints.
void replace_file(const std::string& path, const std::string& bytes);
void append_file(const std::string& path, const std::string& bytes);
std::string random_bytes(size_t n, uint32_t seed);

// The JSON text of history line `step` (varied sizes, a histogram now and then).
std::string history_line(int step);

// A run directory with `lines` history lines (plus a torn last line when `torn_tail`), config,
// summary, two media files, a checkpoint of `checkpoint_bytes` and graph.json.
std::string make_run(const std::string& parent, const std::string& run_id, int lines,
                     size_t checkpoint_bytes = 300 * 1024, bool torn_tail = true);

// The complete lines of history.jsonl (the torn tail excluded), in order.
std::vector<std::string> complete_history_lines(const std::string& run_dir);

// Every run file that must be uploaded (media/**, checkpoints/**, graph.json), run-relative.
std::vector<std::string> run_file_names(const std::string& run_dir);

// True when `needle` occurs in any file under `dir` (recursively).
bool tree_contains(const std::string& dir, const std::string& needle);

}  // namespace trainscope::testing
