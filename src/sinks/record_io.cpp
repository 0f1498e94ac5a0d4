#include "sinks/record_io.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "sinks/crc32c.h"
#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t get_le(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(p[i]);
  return value;
}

}  // namespace

void append_record(std::string& out, std::string_view data) {
  const size_t start = out.size();
  out.reserve(start + kRecordHeaderBytes + data.size() + kRecordFooterBytes);
  put_le(out, data.size(), 8);
  put_le(out, masked_crc32c(out.data() + start, 8), 4);
  out.append(data.data(), data.size());
  put_le(out, masked_crc32c(data.data(), data.size()), 4);
}

RecordsRead read_records(const std::string& path,
                         const std::function<void(std::string_view)>& on_record) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("read_records: path: cannot open '" + path + "': " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);

  RecordsRead result;
  std::string data;
  auto stop = [&](RecordsEnd end, const std::string& problem) {
    result.end = end;
    result.problem = problem + " at offset " + std::to_string(result.valid_bytes);
    return result;
  };
  while (result.valid_bytes < file_size) {
    const uint64_t left = file_size - result.valid_bytes;
    char header[kRecordHeaderBytes];
    if (left < kRecordHeaderBytes) return stop(RecordsEnd::Truncated, "incomplete record header");
    if (!in.read(header, kRecordHeaderBytes)) throw Error("read_records: cannot read '" + path + "'");
    if (masked_crc32c(header, 8) != static_cast<uint32_t>(get_le(header + 8, 4)))
      return stop(RecordsEnd::Corrupt, "record length CRC mismatch");
    const uint64_t length = get_le(header, 8);
    if (left - kRecordHeaderBytes < kRecordFooterBytes ||
        length > left - kRecordHeaderBytes - kRecordFooterBytes)
      return stop(RecordsEnd::Truncated, "incomplete record of " + std::to_string(length) + " bytes");
    data.resize(length);
    char footer[kRecordFooterBytes];
    if (!in.read(data.data(), static_cast<std::streamsize>(length)) ||
        !in.read(footer, kRecordFooterBytes))
      throw Error("read_records: cannot read '" + path + "'");
    if (masked_crc32c(data.data(), data.size()) != static_cast<uint32_t>(get_le(footer, 4)))
      return stop(RecordsEnd::Corrupt, "record data CRC mismatch");
    on_record(data);
    ++result.records;
    result.valid_bytes += kRecordHeaderBytes + length + kRecordFooterBytes;
  }
  return result;
}

}  // namespace trainscope::detail
