#pragma once
// How the CUDA labels kernels map rows of logits onto threads (host and device code, plain C++,
// so it is unit-tested on the CPU: tests/labels/labels_mapping_test.cpp). One strategy per row
// size (docs/ops.md, "CUDA mapping"):
//  - Binary       C == 1: one thread per row.
//  - RowsPerWarp  C ≤ 64: a group of L lanes per row (L a power of two, ≤ 4 elements per lane),
//                 32 / L rows per warp, scalar loads (consecutive lanes, consecutive elements);
//                 each group takes 2 rows per turn so that twice the loads are in flight.
//  - WarpPerRow   rows under 64 KB: one warp per row, 16-byte loads.
//  - BlockPerRow  rows of 64 KB and more (a vocabulary): one block per row, 16-byte loads, the
//                 warps' states merged through shared memory.
// Every strategy walks rows the same way (labels_row_walk): warp w of block b covers
// rows_per_warp · row_unroll consecutive rows from b · rows_per_block + w · rows_per_warp ·
// row_unroll, its group g rows g + u · rows_per_warp (u < row_unroll); then all step by
// grid · rows_per_block. A block per row: block b takes rows b, b + grid, ...
// Rows whose start is not 16-byte aligned (odd row lengths, row strides, offset views) take a
// scalar head up to the first 16-byte boundary, vectors, then a scalar tail.
#include <cstdint>

#include "logit_math.h"  // TS_HOST_DEVICE

namespace trainscope::kernels {

enum class LabelsStrategy : int { Binary = 0, RowsPerWarp = 1, WarpPerRow = 2, BlockPerRow = 3 };

constexpr int kLabelsThreads = 256;      // every strategy's block size
constexpr int kLabelsMaxPerLane = 4;     // RowsPerWarp: elements per lane at most
constexpr int kLabelsRowsPerWarpMaxClasses = 16 * kLabelsMaxPerLane;  // 64: a half warp per row
constexpr int kLabelsRowsPerWarpUnroll = 2;  // RowsPerWarp: rows per group and turn
// From this many bytes per row a block takes the row: a warp alone would walk 2048+ vectors,
// and with N ≈ the resident warp count (8192 rows on 132 SMs) a single wave leaves a long tail.
constexpr int64_t kLabelsBlockPerRowMinBytes = 64 * 1024;
constexpr int kLabelsVectorBytes = 16;

struct LabelsMapping {
  LabelsStrategy strategy = LabelsStrategy::Binary;
  int lanes_per_row = 1;     // threads that share one row
  int rows_per_warp = 32;    // 32 / lanes_per_row, 0 for BlockPerRow (a row spans warps)
  int row_unroll = 1;        // rows per group and turn (kLabelsRowsPerWarpUnroll for RowsPerWarp)
  int rows_per_block = kLabelsThreads;  // kLabelsThreads / lanes_per_row · row_unroll
  int threads = kLabelsThreads;
  int64_t blocks_wanted = 0;  // blocks that cover every row once (the grid is capped at resident blocks)
};

inline LabelsMapping choose_labels_mapping(int64_t rows, int64_t classes, int element_bytes) {
  LabelsMapping m;
  if (classes <= 1) {
    m.strategy = LabelsStrategy::Binary;
    m.lanes_per_row = 1;
  } else if (classes <= kLabelsRowsPerWarpMaxClasses) {
    m.strategy = LabelsStrategy::RowsPerWarp;
    int lanes = 1;
    while (int64_t(lanes) * kLabelsMaxPerLane < classes) lanes *= 2;
    m.lanes_per_row = lanes;
    m.row_unroll = kLabelsRowsPerWarpUnroll;
  } else if (classes * element_bytes < kLabelsBlockPerRowMinBytes) {
    m.strategy = LabelsStrategy::WarpPerRow;
    m.lanes_per_row = 32;
  } else {
    m.strategy = LabelsStrategy::BlockPerRow;
    m.lanes_per_row = kLabelsThreads;
  }
  m.threads = kLabelsThreads;
  m.rows_per_warp = m.lanes_per_row <= 32 ? 32 / m.lanes_per_row : 0;
  m.rows_per_block = m.threads / m.lanes_per_row * m.row_unroll;
  m.blocks_wanted = (rows + m.rows_per_block - 1) / m.rows_per_block;
  return m;
}

// The grid-stride walk of thread `thread` of block `block` in a grid of `grid_blocks`: the
// warp's first row in the first turn, the thread's group within the warp, the distance between
// a group's rows within a turn (rows_per_warp) and between turns. Threads of one warp run the
// same turns (they share shuffles): a kernel loops on `warp_first` and masks rows past the end.
struct LabelsRowWalk {
  int64_t warp_first;
  int group;
  int64_t unroll_stride;
  int64_t step;
};
TS_HOST_DEVICE LabelsRowWalk labels_row_walk(int lanes_per_row, int row_unroll, int threads, int64_t block,
                                             int thread, int64_t grid_blocks) {
  const int rows_per_warp = lanes_per_row <= 32 ? 32 / lanes_per_row : 0;
  const int64_t rows_per_block = int64_t(threads / lanes_per_row) * row_unroll;
  const int warp = thread / 32;
  const int group = lanes_per_row <= 32 ? (thread % 32) / lanes_per_row : 0;
  return {block * rows_per_block + int64_t(warp) * rows_per_warp * row_unroll, group, rows_per_warp,
          grid_blocks * rows_per_block};
}

// Elements from `address` (aligned to element_bytes) up to the next 16-byte boundary, at most
// `classes`: the scalar head of a row before its 16-byte loads.
TS_HOST_DEVICE int labels_vector_head(std::uintptr_t address, int element_bytes, int classes) {
  const int misaligned = int(address % kLabelsVectorBytes);
  const int head = misaligned == 0 ? 0 : (kLabelsVectorBytes - misaligned) / element_bytes;
  return head < classes ? head : classes;
}

}  // namespace trainscope::kernels
