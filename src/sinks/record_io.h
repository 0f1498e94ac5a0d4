#pragma once
// TensorBoard's record framing (the TFRecord format) and a checking reader for it. A record is
//   u64 length (little-endian) | u32 masked CRC-32C of those 8 bytes | data | u32 masked CRC of data
// The reader lets trainscope find where its own event files end, tolerating a last record cut
// short by a crash.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace trainscope::detail {

inline constexpr size_t kRecordHeaderBytes = 12;  // length + its CRC
inline constexpr size_t kRecordFooterBytes = 4;   // CRC of the data

// Appends the framed record for `data` to `out`.
void append_record(std::string& out, std::string_view data);

enum class RecordsEnd {
  Clean,      // the file ends exactly after a whole record
  Truncated,  // the last record is incomplete (a writer stopped mid-record)
  Corrupt,    // a CRC does not match; nothing after it is trusted
};

struct RecordsRead {
  RecordsEnd end = RecordsEnd::Clean;
  size_t records = 0;         // whole, checked records passed to the callback
  uint64_t valid_bytes = 0;   // file offset just after the last of them
  std::string problem;        // what was wrong at valid_bytes, for Truncated and Corrupt
};

// Calls on_record with the data of every whole record of `path` whose CRCs match, in order,
// stopping at the first incomplete or corrupt one. Throws trainscope::Error if the file cannot be
// opened or read.
RecordsRead read_records(const std::string& path,
                         const std::function<void(std::string_view data)>& on_record);

}  // namespace trainscope::detail
