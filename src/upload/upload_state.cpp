#include "upload/upload_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

[[noreturn]] void fail_io(const std::string& what, const std::string& path) {
  throw Error("upload: " + what + " '" + path + "': " + std::strerror(errno));
}

std::string parent_directory(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp." + std::to_string(getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_io("cannot create", temp);
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      ::unlink(temp.c_str());
      fail_io("cannot write", temp);
    }
    written += size_t(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    ::unlink(temp.c_str());
    fail_io("cannot fsync", temp);
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    fail_io("cannot rename onto", path);
  }
  const int dir = ::open(parent_directory(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);  // makes the rename itself durable
    ::close(dir);
  }
}

UploadState UploadState::load(const std::string& path) {
  UploadState state;
  std::ifstream in(path, std::ios::binary);
  if (!in) return state;
  std::ostringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error("upload: state file '" + path + "' is not a JSON object; delete it to upload the run again");
  try {
    state.run_path = j.value("run_path", std::string());
    state.history_bytes = j.value("history_bytes", int64_t(0));
    state.history_lines = j.value("history_lines", int64_t(0));
    state.server_lines = j.value("server_lines", int64_t(0));
    state.dropped_lines = j.value("dropped_lines", int64_t(0));
    state.complete = j.value("complete", false);
    if (j.contains("files")) {
      for (auto it = j["files"].begin(); it != j["files"].end(); ++it) {
        FileIdentity id;
        id.size = it.value().at("size").get<int64_t>();
        id.mtime_ns = it.value().at("mtime_ns").get<int64_t>();
        id.inode = it.value().at("inode").get<uint64_t>();
        id.device = it.value().at("device").get<uint64_t>();
        state.files[it.key()] = id;
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("upload: state file '" + path + "' is malformed (" + e.what() +
                "); delete it to upload the run again");
  }
  if (state.history_bytes < 0 || state.server_lines < 0 || state.history_lines < 0)
    throw Error("upload: state file '" + path + "' holds negative offsets");
  return state;
}

void UploadState::save(const std::string& path) const {
  nlohmann::json j = {{"run_path", run_path},         {"history_bytes", history_bytes},
                      {"history_lines", history_lines}, {"server_lines", server_lines},
                      {"dropped_lines", dropped_lines}, {"complete", complete},
                      {"files", nlohmann::json::object()}};
  for (const auto& [name, id] : files) {
    j["files"][name] = {{"size", id.size}, {"mtime_ns", id.mtime_ns}, {"inode", id.inode},
                        {"device", id.device}};
  }
  write_file_atomically(path, j.dump(2) + "\n");
}

}  // namespace trainscope::detail
