#include "sinks/event_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "sinks/event_proto.h"
#include "sinks/record_io.h"
#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPrefix = "events.out.tfevents.";

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') return "localhost";
  std::string host(buffer);
  // The name becomes part of a file name: keep it to characters that are safe there.
  for (char& c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  return host;
}

std::vector<std::string> event_file_names(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return names;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (is_event_file_name(name) && entry.is_regular_file(ec)) names.push_back(name);
  }
  if (ec) throw Error("TensorBoard log_dir: cannot list '" + dir + "': " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

// The seconds field of a name written as event_file_name() writes it, if it parses.
std::optional<int64_t> seconds_in_name(const std::string& name) {
  if (name.compare(0, kPrefix.size(), kPrefix) != 0) return std::nullopt;
  int64_t seconds = 0;
  size_t i = kPrefix.size(), digits = 0;
  for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i, ++digits)
    seconds = seconds * 10 + (name[i] - '0');
  if (digits == 0 || digits > 12) return std::nullopt;
  return seconds;
}

std::string system_error(const std::string& what, const std::string& path) {
  return "TensorBoard event file: " + what + " '" + path + "': " + std::strerror(errno);
}

}  // namespace

std::string event_file_name(int64_t seconds, std::string_view host, long pid, int n) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%010lld", static_cast<long long>(seconds));
  return std::string(kPrefix) + digits + "." + std::string(host) + "." + std::to_string(pid) +
         "." + std::to_string(n);
}

bool is_event_file_name(std::string_view file_name) {
  return file_name.find("tfevents") != std::string_view::npos;  // what TensorBoard matches
}

PriorEvents scan_event_directory(const std::string& dir) {
  PriorEvents prior;
  std::vector<int64_t> shown_steps;  // steps a reader still shows, after purges
  for (const std::string& name : event_file_names(dir)) {
    const std::string path = (fs::path(dir) / name).string();
    prior.files.push_back(path);
    const RecordsRead read = read_records(path, [&](std::string_view data) {
      EventHeader event;
      try {
        event = decode_event_header(data);
      } catch (const Error&) {
        return;  // a record with good CRCs but not an Event: readers skip it too
      }
      ++prior.events;
      if (event.is_session_start) {
        prior.has_session_start = true;
        shown_steps.erase(std::remove_if(shown_steps.begin(), shown_steps.end(),
                                         [&](int64_t s) { return s >= event.step; }),
                          shown_steps.end());
      } else if (event.has_summary) {
        shown_steps.push_back(event.step);
      }
    });
    if (read.end != RecordsEnd::Clean) {
      prior.damaged_tail = true;
      prior.problem = path + ": " + read.problem;
    }
  }
  if (!shown_steps.empty())
    prior.last_step = *std::max_element(shown_steps.begin(), shown_steps.end());
  return prior;
}

EventFileWriter::EventFileWriter(const std::string& dir, double wall_time) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("TensorBoard log_dir: cannot create '" + dir + "': " + ec.message());

  static std::atomic<int> files_this_process{0};
  const int n = files_this_process++;
  const std::string host = host_name();
  const long pid = static_cast<long>(getpid());
  const std::vector<std::string> existing = event_file_names(dir);
  int64_t seconds = static_cast<int64_t>(wall_time);
  std::string name = event_file_name(seconds, host, pid, n);
  // Readers move to the next file in name order and never return to earlier ones: a file written
  // in the same second by a process whose name sorts higher would hide this one. Step the
  // seconds just past the newest existing file instead.
  if (!existing.empty() && name <= existing.back()) {
    if (auto newest = seconds_in_name(existing.back())) seconds = std::max(seconds, *newest + 1);
    name = event_file_name(seconds, host, pid, n);
  }
  path_ = (fs::path(dir) / name).string();
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(system_error("cannot create", path_));
  append(encode_file_version_event(wall_time));
  flush();
}

EventFileWriter::~EventFileWriter() {
  if (fd_ >= 0) {
    try {
      close();
    } catch (const Error&) {
    }
  }
}

void EventFileWriter::append(std::string_view event) {
  if (fd_ < 0) throw Error("TensorBoard event file: '" + path_ + "' is closed");
  append_record(buffer_, event);
}

void EventFileWriter::flush() {
  if (fd_ < 0) throw Error("TensorBoard event file: '" + path_ + "' is closed");
  size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      buffer_.erase(0, done);  // what was written stays written; retry the rest later
      throw Error(system_error("cannot write", path_));
    }
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
}

void EventFileWriter::close() {
  if (fd_ < 0) return;
  flush();
  const int fd = fd_;
  fd_ = -1;
  const bool synced = ::fsync(fd) == 0;
  const int sync_errno = errno;
  if (::close(fd) != 0 || !synced) {
    errno = synced ? errno : sync_errno;
    throw Error(system_error(synced ? "cannot close" : "cannot sync", path_));
  }
}

}  // namespace trainscope::detail
