#pragma once
// File writes that never leave a torn file: whole files through temp + fsync + rename, lines
// appended with one write() each. Failures throw trainscope::Error naming the path and errno.
#include <cstdint>
#include <string>

namespace trainscope::detail {

// Replaces `path` with `bytes`: writes "<path>.tmp-<pid>", fsyncs it (when `durable`), renames it
// over `path` and fsyncs the directory (when `durable`). A kill at any moment leaves either the
// old or the new file.
void write_file_atomic(const std::string& path, const std::string& bytes, bool durable = true);

// Makes `path` durable after an external writer produced it (e.g. torch::save to a temp file),
// then renames it to `final_path` and fsyncs the directory.
void commit_file_atomic(const std::string& temp_path, const std::string& final_path);

std::string read_file(const std::string& path);
bool file_exists(const std::string& path);
void make_directories(const std::string& path);

// An append-only text file (history.jsonl): each append() is a single write() of whole lines.
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

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace trainscope::detail
