#pragma once
// File writes that never leave a torn file: whole files through temp + fsync + rename, lines
// appended with one write() each. Failures throw trainscope::Error naming the path and errno.
#include <cstdint>
#include <optional>
#include <string>

namespace trainscope::detail {

// Replaces `path` with `bytes`: writes "<path>.tmp-<pid>", fsyncs it (when `durable`), renames it
// over `path` and fsyncs the directory (when `durable`). A kill at any moment leaves either the
// old or the new file.
void write_file_atomic(const std::string& path, const std::string& bytes, bool durable = true);

// True for the names atomic writers give their temp files ("<name>.tmp-<pid>", as above and as
// checkpoints are saved); `pid` receives the writer's process id.
bool is_atomic_temp_name(const std::string& file_name, long* pid = nullptr);

// Makes `path` durable after an external writer produced it (e.g. torch::save to a temp file),
// then renames it to `final_path` and fsyncs the directory.
void commit_file_atomic(const std::string& temp_path, const std::string& final_path);

std::string read_file(const std::string& path);
// The file's bytes, or nothing when it cannot be opened (absent, unreadable).
std::optional<std::string> read_file_if_present(const std::string& path);
bool file_exists(const std::string& path);
void make_directories(const std::string& path);

// An append-only text file (history.jsonl). append() is all-or-nothing: a failed or short write
// (disk full, I/O error) is cut off again, so the file always ends after the last good append and
// the next line can never be glued to a fragment. When even that cut fails the file refuses
// further appends.
class AppendFile {
 public:
  AppendFile() = default;
  explicit AppendFile(const std::string& path);
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;
  void open(const std::string& path);
  void append(const std::string& lines);
  void sync();
  void close();
  int64_t size() const { return good_size_; }  // bytes up to the end of the last good append

 private:
  std::string path_;
  int fd_ = -1;
  int64_t good_size_ = 0;
  std::string broken_;  // why appends are refused (the file could not be cut back)
};

// Test seam: makes the process's file writes (appends and atomic replaces) behave as if the disk
// filled up after `bytes` more bytes: a write that reaches the limit is short, the next one fails
// with `error` (ENOSPC by default). A negative `bytes` turns the injection off.
void inject_write_limit(int64_t bytes, int error = 28 /* ENOSPC */);

}  // namespace trainscope::detail
