#pragma once
// The ticket order of the L2-resident histogram schedule (host code, plain C++, unit-tested on the
// CPU by tests/hist/histogram_l2_schedule_test.cpp). One persistent kernel claims tickets in
// increasing order from a global counter; a ticket is one pass over a run of consecutive chunks.
//
// Tensors are grouped into windows: consecutive tensors whose bytes add up to at most the window
// size (a third of the L2 by default). A tensor larger than a window is a window of its own and is
// streamed (its pass-2 reads come from memory again, as in the two-pass schedule). The tickets are
// ordered with a lag of one window:
//
//   P1(W0) P1(W1) P2(W0) P1(W2) P2(W1) ... P1(Wn-1) P2(Wn-2) P2(Wn-1)
//
// so that while the pass-2 tickets of a window run, the pass-1 tickets of the next one are already
// claimed: blocks rarely wait for the last pass-1 ticket of a tensor, and at most two windows (two
// thirds of the L2) are between their first read and their second.
//
// The order's one hard rule, on which the kernel's forward progress rests (kernels/histogram.cu,
// histogram_l2_kernel): every pass-1 ticket of a tensor precedes every pass-2 ticket of it.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "histogram_math.h"
#include "histogram_schedule.h"

namespace trainscope::kernels {

struct HistogramTicket {
  int64_t first_chunk = 0;  // index into the chunk table
  int32_t chunks = 0;       // consecutive chunks [first_chunk, first_chunk + chunks)
  int32_t pass = 1;         // 1: statistics, 2: bins
};

// The share of the L2 one window may take: two windows are live at a time (see above), and the
// rest is left for the accumulators, the counts and whatever else the card is doing.
constexpr int64_t kL2WindowDivisor = 3;
inline int64_t default_l2_window_bytes(int64_t l2_bytes) { return std::max<int64_t>(l2_bytes / kL2WindowDivisor, 1); }

// A ticket holds consecutive chunks of one window and one pass up to one full chunk's work
// (balanced_block_starts' weights): a full chunk is a ticket of its own, tiny tensors share one,
// so a list of thousands of tiny tensors does not cost a claim and a merge each.
constexpr int64_t kTicketWeight = histogram_math::kHistogramChunkElements + kChunkOverheadElements;

// A window: tensors [first, last); streamed when it is one tensor larger than the window size.
struct HistogramWindow {
  int32_t first = 0, last = 0;
  bool streamed = false;
};

// Consecutive tensors of at most `window_bytes` together; tensors without elements belong to no
// window (they have no chunks).
inline std::vector<HistogramWindow> histogram_windows(const std::vector<int64_t>& tensor_bytes,
                                                      const std::vector<int64_t>& tensor_numels,
                                                      int64_t window_bytes) {
  std::vector<HistogramWindow> windows;
  window_bytes = std::max<int64_t>(window_bytes, 1);
  int64_t filled = 0;
  bool open = false;
  for (std::size_t i = 0; i < tensor_bytes.size(); ++i) {
    if (tensor_numels[i] == 0) continue;
    const int32_t t = static_cast<int32_t>(i);
    const int64_t b = tensor_bytes[i];
    if (b > window_bytes) {  // streamed alone
      windows.push_back({t, t + 1, true});
      open = false;
      continue;
    }
    if (!open || filled + b > window_bytes) {
      windows.push_back({t, t + 1, false});
      filled = 0;
      open = true;
    }
    windows.back().last = t + 1;
    filled += b;
  }
  return windows;
}

// The tickets of one pass over the chunks of tensors [first, last) (chunks ordered by tensor).
inline void append_pass_tickets(const std::vector<histogram_math::HistogramChunk>& chunks,
                                const std::vector<int64_t>& first_chunk_of_tensor, const HistogramWindow& w,
                                int32_t pass, std::vector<HistogramTicket>& out) {
  const int64_t begin = first_chunk_of_tensor[std::size_t(w.first)];
  const int64_t end = first_chunk_of_tensor[std::size_t(w.last)];
  int64_t weight = 0;
  for (int64_t c = begin; c < end; ++c) {
    const auto& chunk = chunks[std::size_t(c)];
    const int64_t cw = (chunk.end - chunk.begin) + kChunkOverheadElements;
    if (out.empty() || out.back().pass != pass || out.back().first_chunk + out.back().chunks != c ||
        weight + cw > kTicketWeight || c == begin) {
      out.push_back({c, 0, pass});
      weight = 0;
    }
    ++out.back().chunks;
    weight += cw;
  }
}

// The whole ticket order. `chunks` is the op's chunk table (ordered by tensor, every tensor's
// chunks consecutive); tensor_bytes and tensor_numels describe each tensor.
inline std::vector<HistogramTicket> histogram_l2_tickets(const std::vector<histogram_math::HistogramChunk>& chunks,
                                                         const std::vector<int64_t>& tensor_bytes,
                                                         const std::vector<int64_t>& tensor_numels,
                                                         int64_t window_bytes) {
  // first_chunk_of_tensor[t]: the index of tensor t's first chunk; [n] = chunks.size().
  std::vector<int64_t> first_chunk_of_tensor(tensor_numels.size() + 1, int64_t(chunks.size()));
  for (std::size_t c = chunks.size(); c-- > 0;) first_chunk_of_tensor[std::size_t(chunks[c].tensor)] = int64_t(c);
  for (std::size_t t = tensor_numels.size(); t-- > 0;) {
    if (tensor_numels[t] == 0) first_chunk_of_tensor[t] = first_chunk_of_tensor[t + 1];
  }
  const auto windows = histogram_windows(tensor_bytes, tensor_numels, window_bytes);
  std::vector<HistogramTicket> tickets;
  for (std::size_t w = 0; w < windows.size(); ++w) {
    append_pass_tickets(chunks, first_chunk_of_tensor, windows[w], 1, tickets);
    if (w > 0) append_pass_tickets(chunks, first_chunk_of_tensor, windows[w - 1], 2, tickets);
  }
  if (!windows.empty()) append_pass_tickets(chunks, first_chunk_of_tensor, windows.back(), 2, tickets);
  return tickets;
}

}  // namespace trainscope::kernels
