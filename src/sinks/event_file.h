#pragma once
// Event files in a TensorBoard log directory: writing a new one, and reading what earlier ones
// hold. TensorBoard reads a directory's event files in name order, so every new file is named to
// sort after the files already there.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trainscope::detail {

// "events.out.tfevents.<10-digit seconds>.<host>.<pid>.<n>"
std::string event_file_name(int64_t seconds, std::string_view host, long pid, int n);
bool is_event_file_name(std::string_view file_name);

// What the event files already in a directory hold, as a reader would show it.
struct PriorEvents {
  std::vector<std::string> files;     // paths, in the order readers load them
  std::optional<int64_t> last_step;   // highest step with a summary after restart purges
  size_t events = 0;                  // whole events read
  bool has_session_start = false;     // a SessionLog START was among them
  bool damaged_tail = false;          // some file ends in an incomplete or corrupt record
  std::string problem;                // what that was, for messages
};

// Reads every event file of `dir` (none if it does not exist), checking CRCs and applying the
// purges of SessionLog START events. Throws trainscope::Error if a file cannot be read.
PriorEvents scan_event_directory(const std::string& dir);

// One event file, written through an in-memory buffer: append() frames events into the buffer,
// flush() hands it to the operating system (readers see it), close() also syncs it to disk.
class EventFileWriter {
 public:
  // Creates `dir` if needed and a new file in it, opened for appending, whose name sorts after
  // every event file already there; writes and flushes the file_version event.
  EventFileWriter(const std::string& dir, double wall_time);
  ~EventFileWriter();  // closes; errors are dropped here, call close() to see them
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  void append(std::string_view event);
  size_t buffered_bytes() const { return buffer_.size(); }
  void flush();
  void close();
  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string buffer_;
  int fd_ = -1;
};

}  // namespace trainscope::detail
