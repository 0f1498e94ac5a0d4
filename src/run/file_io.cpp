#include "run/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

[[noreturn]] void fail_io(const char* what, const std::string& path, int error) {
  throw Error(std::string("run directory: ") + what + " '" + path + "' failed: " + std::strerror(error));
}

void write_all(int fd, const char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_io("write", path, errno);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void fsync_directory_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail_io("open directory", dir, errno);
  int rc = ::fsync(fd);
  int error = errno;
  ::close(fd);
  if (rc != 0 && error != EINVAL) fail_io("fsync directory", dir, error);
}

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_io("open", path, errno);
  int rc = ::fsync(fd);
  int error = errno;
  ::close(fd);
  if (rc != 0) fail_io("fsync", path, error);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes, bool durable) {
  std::string temp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_io("create", temp, errno);
  try {
    write_all(fd, bytes.data(), bytes.size(), temp);
    if (durable && ::fsync(fd) != 0) fail_io("fsync", temp, errno);
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    fail_io("close", temp, error);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    fail_io("rename to", path, error);
  }
  if (durable) fsync_directory_of(path);
}

void commit_file_atomic(const std::string& temp_path, const std::string& final_path) {
  fsync_path(temp_path);
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) fail_io("rename to", final_path, errno);
  fsync_directory_of(final_path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_io("open", path, errno ? errno : ENOENT);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

void make_directories(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw Error("run directory: create '" + path + "' failed: " + ec.message());
}

AppendFile::AppendFile(const std::string& path) { open(path); }

void AppendFile::open(const std::string& path) {
  close();
  path_ = path;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_io("open for append", path, errno);
}

AppendFile::~AppendFile() { close(); }

void AppendFile::append(const std::string& lines) {
  if (fd_ < 0) throw Error("run directory: append to closed file '" + path_ + "'");
  write_all(fd_, lines.data(), lines.size(), path_);
}

void AppendFile::sync() {
  if (fd_ >= 0 && ::fsync(fd_) != 0) fail_io("fsync", path_, errno);
}

void AppendFile::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

}  // namespace trainscope::detail
