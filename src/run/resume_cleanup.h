#pragma once
// What a resumed run removes before it continues: files that a killed process left behind and
// that no reader may ever see as part of the run.
#include <cstdint>
#include <string>

namespace trainscope::detail {

// Removes atomic writers' temp files ("*.tmp-<pid>") in the run directory, media/ and
// checkpoints/ (not upload/: the uploader is a separate process with its own lock) whose writer
// process is gone. Returns how many were removed.
int remove_stale_temporaries(const std::string& run_dir);

// Removes media files of steps ≥ `next_step`: they belong to a step whose history line was never
// written (media are stored before the line), and a row only references its own step's media
// (the step is part of every media file name). Returns how many were removed.
int remove_unreferenced_media(const std::string& run_dir, int64_t next_step);

// The step encoded in a media file name "<key>_<step>_<sha256[:20]><suffix>", or −1.
int64_t media_file_step(const std::string& file_name);

}  // namespace trainscope::detail
