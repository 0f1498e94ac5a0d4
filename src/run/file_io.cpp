#include "run/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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

std::atomic<int64_t> injected_limit{-1};
std::atomic<int> injected_error{ENOSPC};

// ::write, except that an injected limit (tests) makes it short or fail like a full disk.
ssize_t limited_write(int fd, const char* data, std::size_t size) {
  int64_t left = injected_limit.load();
  if (left < 0) return ::write(fd, data, size);
  if (left == 0) {
    errno = injected_error.load();
    return -1;
  }
  std::size_t allowed = std::min<std::size_t>(size, static_cast<std::size_t>(left));
  ssize_t n = ::write(fd, data, allowed);
  if (n > 0) injected_limit.fetch_sub(n);
  return n;
}

void write_all(int fd, const char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = limited_write(fd, data, size);
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

void inject_write_limit(int64_t bytes, int error) {
  injected_error.store(error);
  injected_limit.store(bytes);
}

bool is_atomic_temp_name(const std::string& file_name, long* pid) {
  const std::size_t at = file_name.rfind(".tmp-");
  if (at == std::string::npos || at + 5 == file_name.size()) return false;
  long value = 0;
  for (std::size_t i = at + 5; i < file_name.size(); ++i) {
    const char c = file_name[i];
    if (c < '0' || c > '9' || value > 100000000L) return false;
    value = value * 10 + (c - '0');
  }
  if (pid) *pid = value;
  return true;
}

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

std::optional<std::string> read_file_if_present(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
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
  broken_.clear();
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_io("open for append", path, errno);
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    int error = errno;
    close();
    fail_io("stat", path, error);
  }
  good_size_ = static_cast<int64_t>(st.st_size);
}

AppendFile::~AppendFile() { close(); }

void AppendFile::append(const std::string& lines) {
  if (fd_ < 0) throw Error("run directory: append to closed file '" + path_ + "'");
  if (!broken_.empty()) throw Error(broken_);
  try {
    write_all(fd_, lines.data(), lines.size(), path_);
  } catch (const Error& e) {
    // Cut the partial bytes off: the file ends after the last complete append again.
    if (::ftruncate(fd_, static_cast<off_t>(good_size_)) != 0) {
      broken_ = "run directory: '" + path_ + "' holds a partial line that could not be removed (" +
                std::strerror(errno) + ") after: " + e.what() + "; no further lines are appended";
      throw Error(broken_);
    }
    throw Error(std::string(e.what()) + " (the partial line was removed)");
  }
  good_size_ += static_cast<int64_t>(lines.size());
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
