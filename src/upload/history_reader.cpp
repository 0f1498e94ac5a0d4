#include "upload/history_reader.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "trainscope/error.h"

namespace trainscope::detail {

constexpr size_t kMaxDroppedPerBatch = 1000;

HistoryBatch read_history_batch(const std::string& path, int64_t from_bytes, int64_t budget_bytes,
                                int64_t max_line_bytes, int64_t first_line_number) {
  HistoryBatch batch;
  batch.end_bytes = from_bytes;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return batch;
  const int64_t size = int64_t(in.tellg());
  if (size < from_bytes) {
    throw Error("upload: " + path + " is shorter (" + std::to_string(size) +
                " bytes) than the part already uploaded (" + std::to_string(from_bytes) +
                " bytes); history.jsonl must only grow");
  }
  if (from_bytes > 0) {  // a progress offset inside a line would send the line's tail as a line
    char previous = 0;
    in.seekg(from_bytes - 1);
    if (!in.get(previous) || previous != '\n')
      throw Error("upload: " + path + ": the part already uploaded (" + std::to_string(from_bytes) +
                  " bytes, from the upload state) does not end at a line boundary; the state does not "
                  "belong to this history (delete upload/wandb-state.json to upload the run again)");
  }
  in.seekg(from_bytes);

  constexpr size_t kChunk = 1 << 16;
  std::vector<char> chunk(kChunk);
  std::string line;            // the current line, while it is within max_line_bytes
  int64_t line_length = 0;     // its full length, even past max_line_bytes
  int64_t position = from_bytes;

  auto finish_line = [&](int64_t next_line_start) -> bool {  // false: the batch is full
    if (!line.empty() && line.back() == '\r') line.pop_back(), --line_length;
    const int64_t line_number = first_line_number + batch.consumed_lines;
    std::string why;
    int64_t encoded = 0;
    if (line_length > max_line_bytes) {
      why = "history line " + std::to_string(line_number) + " is " + std::to_string(line_length) +
            " bytes, over W&B's limit of " + std::to_string(max_line_bytes) + "; not uploaded";
    } else if (line_length == 0) {
      why = "history line " + std::to_string(line_number) + " is empty; not uploaded";
    } else if (!nlohmann::json::accept(line)) {
      why = "history line " + std::to_string(line_number) + " is not valid JSON; not uploaded";
    } else {
      encoded = int64_t(nlohmann::json(line).dump().size()) + 1;  // the string and a comma
      if (encoded > budget_bytes) {
        why = "history line " + std::to_string(line_number) + " needs " + std::to_string(encoded) +
              " bytes encoded, more than one request may carry (" + std::to_string(budget_bytes) +
              "); not uploaded";
      } else if (batch.encoded_bytes + encoded > budget_bytes) {
        return false;  // next batch
      }
    }
    if (why.empty()) {
      batch.lines.push_back(std::move(line));
      batch.encoded_bytes += encoded;
    } else {
      batch.dropped.push_back(std::move(why));
    }
    ++batch.consumed_lines;
    batch.end_bytes = next_line_start;
    line.clear();
    line_length = 0;
    return batch.dropped.size() < kMaxDroppedPerBatch;  // bounded even for a file of bad lines
  };

  while (position < size) {
    const size_t want = size_t(std::min<int64_t>(int64_t(kChunk), size - position));
    in.read(chunk.data(), std::streamsize(want));
    const size_t got = size_t(in.gcount());
    if (got == 0) break;
    size_t begin = 0;
    for (size_t i = 0; i < got; ++i) {
      if (chunk[i] != '\n') continue;
      const size_t piece = i - begin;
      if (line_length + int64_t(piece) <= max_line_bytes) line.append(chunk.data() + begin, piece);
      line_length += int64_t(piece);
      if (!finish_line(position + int64_t(i) + 1)) return batch;
      begin = i + 1;
    }
    const size_t rest = got - begin;
    if (line_length + int64_t(rest) <= max_line_bytes) {
      line.append(chunk.data() + begin, rest);
    } else {
      line.clear();  // too long to send anyway: keep only its length
    }
    line_length += int64_t(rest);
    position += int64_t(got);
  }
  // A torn last line (no '\n' yet) is left for the next read.
  return batch;
}

}  // namespace trainscope::detail
