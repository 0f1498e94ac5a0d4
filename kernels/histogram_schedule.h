#pragma once
// How the CUDA histogram kernels split the chunk table between blocks (host code, plain C++, so
// it is unit-tested on the CPU). Each block takes a contiguous run of chunks (chunks are ordered
// by tensor, so a block merges once per tensor it touches). Runs are cut by work, not by chunk
// count: a chunk costs its elements plus a fixed overhead (loading its table entry; a block-wide
// merge when the tensor changes), so thousands of tiny tensors and long tensors' full chunks
// weigh what they cost.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "histogram_math.h"

namespace trainscope::kernels {

// A chunk's fixed cost in element-equivalents: a block-wide merge is a few hundred cycles, about
// what a block spends binning a thousand elements.
constexpr int64_t kChunkOverheadElements = 1024;

// blocks + 1 chunk indices: block b works through chunks [starts[b], starts[b + 1]).
inline std::vector<int64_t> balanced_block_starts(const std::vector<histogram_math::HistogramChunk>& chunks,
                                                  int blocks) {
  blocks = std::max(blocks, 1);
  std::vector<int64_t> starts(std::size_t(blocks) + 1, int64_t(chunks.size()));
  starts[0] = 0;
  int64_t total = 0;
  for (const auto& c : chunks) total += (c.end - c.begin) + kChunkOverheadElements;
  // Block b starts at the first chunk whose preceding work reaches b/blocks of the total.
  int64_t done = 0;
  std::size_t c = 0;
  for (int b = 1; b < blocks; ++b) {
    const int64_t target = int64_t((__int128)total * b / blocks);
    while (c < chunks.size() && done < target) {
      done += (chunks[c].end - chunks[c].begin) + kChunkOverheadElements;
      ++c;
    }
    starts[std::size_t(b)] = int64_t(c);
  }
  return starts;
}

}  // namespace trainscope::kernels
