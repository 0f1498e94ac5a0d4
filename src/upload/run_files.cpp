#include "upload/run_files.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "run/file_io.h"

namespace trainscope::detail {
namespace {

namespace fs = std::filesystem;

FileIdentity from_stat(const struct stat& st) {
  FileIdentity id;
  id.size = int64_t(st.st_size);
  id.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000LL + int64_t(st.st_mtim.tv_nsec);
  id.inode = uint64_t(st.st_ino);
  id.device = uint64_t(st.st_dev);
  return id;
}

bool is_temporary(const std::string& file_name) {
  auto ends_with = [&](const std::string& suffix) {
    return file_name.size() >= suffix.size() &&
           file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return file_name.empty() || file_name[0] == '.' || ends_with(".tmp") || ends_with("~") ||
         ends_with(".partial") || file_name.find(".tmp.") != std::string::npos ||
         is_atomic_temp_name(file_name);  // "<name>.tmp-<pid>": what trainscope's own writers leave
}

void add_tree(const fs::path& root, const std::string& sub, std::vector<RunFile>& out) {
  std::error_code ec;
  const fs::path top = root / sub;
  if (!fs::is_directory(top, ec)) return;
  for (fs::recursive_directory_iterator it(top, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    if (is_temporary(it->path().filename().string())) continue;
    RunFile file;
    file.path = it->path().string();
    file.name = it->path().lexically_relative(root).generic_string();
    if (identity_of_path(file.path, file.identity)) out.push_back(std::move(file));
  }
}

}  // namespace

FileIdentity identity_of_fd(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {};
  return from_stat(st);
}

bool identity_of_path(const std::string& path, FileIdentity& identity) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  identity = from_stat(st);
  return true;
}

std::vector<RunFile> list_run_files(const std::string& run_dir) {
  std::vector<RunFile> files;
  const fs::path root(run_dir);
  add_tree(root, "media", files);
  add_tree(root, "checkpoints", files);
  for (const char* name : {"graph.json", "wandb-metadata.json", "output.log", "upload/config.yaml"}) {
    RunFile file{name, (root / name).string(), {}};
    if (identity_of_path(file.path, file.identity)) files.push_back(file);
  }
  std::sort(files.begin(), files.end(),
            [](const RunFile& a, const RunFile& b) { return a.name < b.name; });
  return files;
}

}  // namespace trainscope::detail
