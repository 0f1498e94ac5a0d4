// How the CUDA labels kernels map rows onto threads (kernels/labels_mapping.h, host code checked
// here on the CPU): one strategy per C, groups that fit a warp, every row covered exactly once,
// and scalar heads that end on a 16-byte boundary.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "labels_mapping.h"  // kernels/

namespace trainscope::kernels {
namespace {

bool power_of_two(int v) { return v > 0 && (v & (v - 1)) == 0; }

TEST(LabelsMapping, EveryClassCountHasOneConsistentStrategy) {
  for (int element_bytes : {2, 4}) {
    LabelsStrategy previous = LabelsStrategy::Binary;
    for (int64_t c = 1; c <= 300000; ++c) {
      const auto m = choose_labels_mapping(1000, c, element_bytes);
      const std::string what = "C=" + std::to_string(c) + " bytes=" + std::to_string(element_bytes);
      // Strategies follow the row size: never back to a smaller one as C grows.
      ASSERT_GE(int(m.strategy), int(previous)) << what;
      previous = m.strategy;
      ASSERT_EQ(m.threads, kLabelsThreads) << what;
      ASSERT_TRUE(power_of_two(m.lanes_per_row)) << what;
      ASSERT_EQ(m.rows_per_block * m.lanes_per_row, m.threads * m.row_unroll) << what;
      ASSERT_EQ(m.row_unroll, m.strategy == LabelsStrategy::RowsPerWarp ? kLabelsRowsPerWarpUnroll : 1) << what;
      ASSERT_EQ(m.blocks_wanted, (1000 + m.rows_per_block - 1) / m.rows_per_block) << what;
      switch (m.strategy) {
        case LabelsStrategy::Binary:
          ASSERT_EQ(c, 1) << what;
          ASSERT_EQ(m.lanes_per_row, 1) << what;
          break;
        case LabelsStrategy::RowsPerWarp:
          ASSERT_GE(c, 2) << what;
          ASSERT_LE(c, kLabelsRowsPerWarpMaxClasses) << what;
          // rows per warp × lanes per row = 32, and a group's lanes hold the row.
          ASSERT_EQ(m.rows_per_warp * m.lanes_per_row, 32) << what;
          ASSERT_LE(m.lanes_per_row, 16) << what;
          ASSERT_LE(c, int64_t(m.lanes_per_row) * kLabelsMaxPerLane) << what;
          // The fewest lanes that do: half as many would need more than kLabelsMaxPerLane each.
          if (m.lanes_per_row > 1) {
            ASSERT_GT(c, int64_t(m.lanes_per_row / 2) * kLabelsMaxPerLane) << what;
          }
          break;
        case LabelsStrategy::WarpPerRow:
          ASSERT_GT(c, kLabelsRowsPerWarpMaxClasses) << what;
          ASSERT_LT(c * element_bytes, kLabelsBlockPerRowMinBytes) << what;
          ASSERT_EQ(m.lanes_per_row, 32) << what;
          ASSERT_EQ(m.rows_per_warp, 1) << what;
          break;
        case LabelsStrategy::BlockPerRow:
          ASSERT_GE(c * element_bytes, kLabelsBlockPerRowMinBytes) << what;
          ASSERT_EQ(m.lanes_per_row, m.threads) << what;
          ASSERT_EQ(m.rows_per_block, 1) << what;
          break;
      }
    }
    EXPECT_EQ(previous, LabelsStrategy::BlockPerRow);
  }
}

TEST(LabelsMapping, TheBenchShapesTakeTheIntendedStrategies) {
  EXPECT_EQ(choose_labels_mapping(1 << 20, 10, 4).strategy, LabelsStrategy::RowsPerWarp);
  EXPECT_EQ(choose_labels_mapping(1 << 20, 10, 4).rows_per_warp, 8);  // 4 lanes × ≤ 3 elements
  EXPECT_EQ(choose_labels_mapping(8192, 1000, 4).strategy, LabelsStrategy::WarpPerRow);
  EXPECT_EQ(choose_labels_mapping(8192, 1000, 2).strategy, LabelsStrategy::WarpPerRow);
  EXPECT_EQ(choose_labels_mapping(8192, 50257, 4).strategy, LabelsStrategy::BlockPerRow);
  EXPECT_EQ(choose_labels_mapping(8192, 50257, 2).strategy, LabelsStrategy::BlockPerRow);
  EXPECT_EQ(choose_labels_mapping(8192, 131072, 4).strategy, LabelsStrategy::BlockPerRow);
}

// Simulates the kernels' grid-stride walk (a warp iterates on its first row and masks rows past
// the end) for grids capped below and above the work: each row once, nothing else, and each warp
// turn on rows_per_warp · row_unroll consecutive rows (coalesced).
void expect_rows_covered_once(int64_t rows, int64_t classes, int element_bytes, int64_t grid_cap) {
  const auto m = choose_labels_mapping(rows, classes, element_bytes);
  const int64_t grid = std::max<int64_t>(1, std::min(m.blocks_wanted, grid_cap));
  std::vector<int> seen(std::size_t(rows), 0);
  const std::string what = "rows=" + std::to_string(rows) + " C=" + std::to_string(classes) + " grid=" +
                           std::to_string(grid);
  const int64_t warp_span = m.rows_per_warp == 0 ? 1 : int64_t(m.rows_per_warp) * m.row_unroll;
  for (int64_t block = 0; block < grid; ++block) {
    // One thread per row group stands for its group (its lanes share the rows).
    for (int thread = 0; thread < m.threads; thread += std::min(m.lanes_per_row, m.threads)) {
      const auto walk = labels_row_walk(m.lanes_per_row, m.row_unroll, m.threads, block, thread, grid);
      ASSERT_EQ(walk.step, grid * m.rows_per_block) << what;
      ASSERT_GE(walk.warp_first, 0) << what;
      for (int64_t warp_row = walk.warp_first; warp_row < rows; warp_row += walk.step) {
        for (int u = 0; u < m.row_unroll; ++u) {
          const int64_t offset = walk.group + u * walk.unroll_stride;
          ASSERT_LT(offset, warp_span) << what;
          if (warp_row + offset < rows) ++seen[std::size_t(warp_row + offset)];
        }
      }
    }
  }
  for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(seen[std::size_t(r)], 1) << what << " row " << r;
}

TEST(LabelsMapping, EveryRowIsCoveredExactlyOnce) {
  for (int64_t classes : {1, 2, 3, 5, 10, 31, 32, 33, 64, 65, 1000, 16383, 16384, 50257}) {
    for (int64_t rows : {1, 7, 31, 33, 255, 257, 1000, 8193}) {
      for (int64_t cap : {int64_t(1), int64_t(3), int64_t(132), int64_t(132 * 8), int64_t(1) << 40}) expect_rows_covered_once(rows, classes, 4, cap);
    }
  }
}

TEST(LabelsMapping, ScalarHeadEndsOnTheFirstVectorBoundary) {
  for (int element_bytes : {2, 4}) {
    for (std::uintptr_t address = 4096; address < 4096 + 64; address += std::uintptr_t(element_bytes)) {
      for (int classes : {1, 2, 3, 7, 8, 1000, 50257}) {
        const int head = labels_vector_head(address, element_bytes, classes);
        const std::uintptr_t end = address + std::uintptr_t(head) * std::uintptr_t(element_bytes);
        ASSERT_GE(head, 0);
        ASSERT_LE(head, classes);
        ASSERT_LT(head, kLabelsVectorBytes / element_bytes);  // shorter than one vector
        // The vectors start aligned, unless the row ends first.
        if (head < classes) {
          ASSERT_EQ(end % kLabelsVectorBytes, 0u) << address << " " << classes;
        }
        // No element is skipped: an aligned start has no head.
        if (address % kLabelsVectorBytes == 0) {
          ASSERT_EQ(head, 0);
        }
      }
    }
  }
  // A 50257-long fp32 row after an aligned one starts 4 bytes past a boundary (50257·4 ≡ 4 mod
  // 16): three scalar elements, then vectors.
  EXPECT_EQ(labels_vector_head(4096 + 50257 * 4, 4, 50257), 3);
  EXPECT_EQ(labels_vector_head(4096 + 50257 * 2, 2, 50257), 7);
}

}  // namespace
}  // namespace trainscope::kernels
