// How the CUDA histogram kernels split the chunk table between blocks (host code, checked here on
// the CPU): contiguous, complete, and balanced by work rather than by chunk count.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "hist/chunk_table.h"
#include "histogram_schedule.h"  // kernels/

namespace trainscope::kernels {
namespace {

namespace hm = histogram_math;

using test_support::chunks_of;

int64_t weight(const hm::HistogramChunk& c) { return c.end - c.begin + kChunkOverheadElements; }

void expect_balanced(const std::vector<hm::HistogramChunk>& chunks, int blocks, const std::string& what) {
  const auto starts = balanced_block_starts(chunks, blocks);
  ASSERT_EQ(starts.size(), std::size_t(blocks) + 1) << what;
  EXPECT_EQ(starts.front(), 0) << what;
  EXPECT_EQ(starts.back(), int64_t(chunks.size())) << what;
  int64_t total = 0, heaviest_chunk = 0;
  for (const auto& c : chunks) {
    total += weight(c);
    heaviest_chunk = std::max(heaviest_chunk, weight(c));
  }
  for (int b = 0; b < blocks; ++b) {
    ASSERT_LE(starts[b], starts[b + 1]) << what << " block " << b;
    int64_t w = 0;
    for (int64_t c = starts[b]; c < starts[b + 1]; ++c) w += weight(chunks[std::size_t(c)]);
    // No block carries more than its share plus one chunk (the one that crossed its cut).
    EXPECT_LE(w, total / blocks + heaviest_chunk) << what << " block " << b;
  }
}

TEST(HistogramSchedule, BlocksTakeContiguousBalancedRuns) {
  // A ResNet-50-like list: large convolution weights, many small biases and norms.
  std::mt19937 rng(3);
  std::vector<int64_t> resnet;
  for (int i = 0; i < 161; ++i) resnet.push_back(int64_t(1) << std::uniform_int_distribution<int>(6, 21)(rng));
  resnet.insert(resnet.end(), resnet.begin(), resnet.end());
  for (int blocks : {1, 7, 264, 396}) expect_balanced(chunks_of(resnet), blocks, "resnet " + std::to_string(blocks));
  // Thousands of tiny tensors and one large one: by count, the blocks that get the tiny chunks
  // would finish at once while one block reads the large tensor's chunks.
  std::vector<int64_t> tiny(3000, 5);
  tiny.push_back(3 << 18);
  expect_balanced(chunks_of(tiny), 264, "tiny");
  // More blocks than chunks: some blocks get nothing, none gets a chunk twice.
  expect_balanced(chunks_of({100, 20000}), 16, "few");
  expect_balanced({}, 4, "empty");
}

TEST(HistogramSchedule, ByWorkNotByCount) {
  // One long tensor then 1000 one-element tensors on 2 blocks: a count split would give the first
  // block all 64 long chunks plus 468 tiny ones; the work split cuts inside the long tensor.
  std::vector<int64_t> numels = {64 * hm::kHistogramChunkElements};
  numels.insert(numels.end(), 1000, 1);
  const auto chunks = chunks_of(numels);
  const auto starts = balanced_block_starts(chunks, 2);
  EXPECT_LT(starts[1], 64);
}

}  // namespace
}  // namespace trainscope::kernels
