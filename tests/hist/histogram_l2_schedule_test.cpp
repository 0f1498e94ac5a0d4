// The L2-resident schedule's host logic (kernels/histogram_l2_schedule.h), checked on the CPU:
// windows, ticket coverage and order, the L2 footprint, and a simulation of the kernel's claim /
// publish / wait protocol (kernels/histogram.cu, histogram_l2_kernel) that must always finish.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "hist/chunk_table.h"
#include "histogram_l2_schedule.h"  // kernels/

namespace trainscope::kernels {
namespace {

namespace hm = histogram_math;

using test_support::chunks_of;

struct Case {
  std::string name;
  std::vector<int64_t> numels, bytes;
  int64_t window = 0;
};

Case fp32_case(std::string name, std::vector<int64_t> numels, int64_t window) {
  Case c{std::move(name), std::move(numels), {}, window};
  for (int64_t n : c.numels) c.bytes.push_back(4 * n);
  return c;
}

// ResNet-50-like: 161 shapes as parameters then again as gradients, sizes 2^6..2^21 elements.
std::vector<int64_t> resnet_like() {
  std::mt19937 rng(3);
  std::vector<int64_t> numels;
  for (int i = 0; i < 161; ++i) numels.push_back(int64_t(1) << std::uniform_int_distribution<int>(6, 21)(rng));
  numels.insert(numels.end(), numels.begin(), numels.end());
  return numels;
}

std::vector<Case> cases() {
  std::vector<int64_t> tiny(3000);
  for (int i = 0; i < 3000; ++i) tiny[std::size_t(i)] = i % 9;  // zeros included
  tiny.push_back(3 << 18);
  return {
      fp32_case("resnet_h200", resnet_like(), 20 << 20),
      fp32_case("resnet_small_window", resnet_like(), 1 << 20),
      fp32_case("tiny", tiny, 20 << 20),
      fp32_case("tiny_window_64k", tiny, 64 << 10),
      fp32_case("all_streamed", {1 << 22, 1 << 22, 5, 1 << 21}, 1 << 16),
      fp32_case("one_tensor", {123457}, 20 << 20),
      fp32_case("empty_tensors_only", {0, 0}, 1 << 20),
      fp32_case("beyond_2_31", {(int64_t(1) << 31) + 4099}, 20 << 20),
      {"mixed_dtypes", {100000, 123457, 77777, 4099, 50001}, {400000, 246914, 155554, 32792, 50001}, 300000},
  };
}

TEST(HistogramL2Schedule, WindowsAreConsecutiveAndBounded) {
  for (const auto& c : cases()) {
    const auto windows = histogram_windows(c.bytes, c.numels, c.window);
    int32_t next = 0;
    for (const auto& w : windows) {
      ASSERT_LT(w.first, w.last) << c.name;
      for (int32_t t = next; t < w.first; ++t) EXPECT_EQ(c.numels[std::size_t(t)], 0) << c.name << " skipped " << t;
      int64_t bytes = 0;
      for (int32_t t = w.first; t < w.last; ++t) bytes += c.bytes[std::size_t(t)];
      if (w.streamed) {
        EXPECT_EQ(w.last - w.first, 1) << c.name;
        EXPECT_GT(bytes, c.window) << c.name;
      } else {
        EXPECT_LE(bytes, c.window) << c.name;
      }
      next = w.last;
    }
    for (std::size_t t = std::size_t(next); t < c.numels.size(); ++t) EXPECT_EQ(c.numels[t], 0) << c.name;
  }
  // Greedy packing: a window closes only when the next tensor would not fit.
  const auto w = histogram_windows({4, 4, 4, 4, 4}, {1, 1, 1, 1, 1}, 8);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].last, 2);
  EXPECT_EQ(w[1].last, 4);
  EXPECT_EQ(w[2].last, 5);
}

TEST(HistogramL2Schedule, EveryChunkOncePerPassAndPass1BeforePass2) {
  for (const auto& c : cases()) {
    const auto chunks = chunks_of(c.numels);
    const auto tickets = histogram_l2_tickets(chunks, c.bytes, c.numels, c.window);
    std::vector<int> seen1(chunks.size()), seen2(chunks.size());
    std::vector<int64_t> last_pass1(c.numels.size(), -1), first_pass2(c.numels.size(), int64_t(tickets.size()));
    for (std::size_t k = 0; k < tickets.size(); ++k) {
      const auto& tk = tickets[k];
      ASSERT_GE(tk.chunks, 1) << c.name;
      ASSERT_TRUE(tk.pass == 1 || tk.pass == 2) << c.name;
      int64_t weight = 0;
      for (int64_t i = tk.first_chunk; i < tk.first_chunk + tk.chunks; ++i) {
        const auto& ch = chunks[std::size_t(i)];
        (tk.pass == 1 ? seen1 : seen2)[std::size_t(i)]++;
        weight += ch.end - ch.begin + kChunkOverheadElements;
        auto& mark = tk.pass == 1 ? last_pass1[std::size_t(ch.tensor)] : first_pass2[std::size_t(ch.tensor)];
        mark = tk.pass == 1 ? std::max<int64_t>(mark, int64_t(k)) : std::min<int64_t>(mark, int64_t(k));
      }
      // A ticket is one full chunk or several small ones, never more work than a full chunk.
      if (tk.chunks > 1) {
        EXPECT_LE(weight, kTicketWeight) << c.name << " ticket " << k;
      }
    }
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      ASSERT_EQ(seen1[i], 1) << c.name << " chunk " << i;
      ASSERT_EQ(seen2[i], 1) << c.name << " chunk " << i;
    }
    // The forward-progress rule: a tensor's pass-2 tickets all come after its pass-1 tickets.
    for (std::size_t t = 0; t < c.numels.size(); ++t) {
      if (c.numels[t] == 0) continue;
      EXPECT_LT(last_pass1[t], first_pass2[t]) << c.name << " tensor " << t;
    }
  }
}

// Between a tensor's first read (its first pass-1 ticket) and its last (its last pass-2 ticket),
// the tickets touch at most two windows' worth of in-window data: what the L2 must hold.
TEST(HistogramL2Schedule, AtMostTwoWindowsLive) {
  for (const auto& c : cases()) {
    const auto chunks = chunks_of(c.numels);
    const auto tickets = histogram_l2_tickets(chunks, c.bytes, c.numels, c.window);
    const auto windows = histogram_windows(c.bytes, c.numels, c.window);
    std::vector<bool> streamed(c.numels.size(), false);
    for (const auto& w : windows)
      if (w.streamed) streamed[std::size_t(w.first)] = true;
    std::vector<int64_t> first(c.numels.size(), -1), last(c.numels.size(), -1);
    for (std::size_t k = 0; k < tickets.size(); ++k) {
      for (int64_t i = tickets[k].first_chunk; i < tickets[k].first_chunk + tickets[k].chunks; ++i) {
        const auto t = std::size_t(chunks[std::size_t(i)].tensor);
        if (first[t] < 0) first[t] = int64_t(k);
        last[t] = int64_t(k);
      }
    }
    for (std::size_t k = 0; k < tickets.size(); ++k) {
      int64_t live = 0;
      for (std::size_t t = 0; t < c.numels.size(); ++t) {
        if (first[t] >= 0 && !streamed[t] && first[t] <= int64_t(k) && int64_t(k) <= last[t]) live += c.bytes[t];
      }
      ASSERT_LE(live, 2 * c.window) << c.name << " at ticket " << k;
    }
  }
}

TEST(HistogramL2Schedule, LagOfOneWindow) {
  // Four windows of one tensor each: P1(0) P1(1) P2(0) P1(2) P2(1) P1(3) P2(2) P2(3).
  const std::vector<int64_t> numels = {100, 100, 100, 100};
  const auto chunks = chunks_of(numels);
  const auto tickets = histogram_l2_tickets(chunks, {400, 400, 400, 400}, numels, 400);
  std::vector<std::pair<int, int>> order;  // (pass, tensor)
  for (const auto& tk : tickets) order.push_back({tk.pass, chunks[std::size_t(tk.first_chunk)].tensor});
  const std::vector<std::pair<int, int>> expected = {{1, 0}, {1, 1}, {2, 0}, {1, 2}, {2, 1}, {1, 3}, {2, 2}, {2, 3}};
  EXPECT_EQ(order, expected);
}

// A simulation of the kernel's protocol: `blocks` workers, each claiming the next ticket from a
// shared counter one ticket ahead of the one it works on, publishing a pass-1 ticket's chunks at
// its next merge, wait or exit (histogram_l2_kernel's deferral), and waiting at a pass-2 ticket's
// tensor change until the tensor's pass-1 chunks are all published. Random interleavings; the
// simulation fails if every unfinished worker is waiting (a deadlock).
struct Simulation {
  const std::vector<hm::HistogramChunk>& chunks;
  const std::vector<HistogramTicket>& tickets;
  std::vector<int64_t> need;  // chunks per tensor
  std::vector<int64_t> done;  // published pass-1 chunks per tensor
  int64_t counter = 0;

  struct Worker {
    int64_t current = -1, next = -1;
    int64_t pending = -1;      // pass-1 ticket processed, not yet published
    int bins_tensor = -1;
    int64_t chunk = 0;         // progress within the current ticket
    bool started = false, finished = false;
  };

  void publish(Worker& w) {
    if (w.pending < 0) return;
    const auto& tk = tickets[std::size_t(w.pending)];
    for (int64_t i = tk.first_chunk; i < tk.first_chunk + tk.chunks; ++i) ++done[std::size_t(chunks[std::size_t(i)].tensor)];
    w.pending = -1;
  }

  // One step of worker w; false when it is blocked (waiting).
  bool step(Worker& w) {
    const int64_t n = int64_t(tickets.size());
    if (!w.started) {
      w.current = counter++;
      w.started = true;
      return true;
    }
    if (w.current >= n) {
      publish(w);
      w.finished = true;
      return true;
    }
    const auto& tk = tickets[std::size_t(w.current)];
    if (w.chunk == 0 && w.next < 0) w.next = counter++;  // claimed ahead
    if (w.chunk < tk.chunks) {
      const auto& ch = chunks[std::size_t(tk.first_chunk + w.chunk)];
      if (tk.pass == 1) {
        if (w.chunk == tk.chunks - 1 || chunks[std::size_t(tk.first_chunk + w.chunk + 1)].tensor != ch.tensor) {
          publish(w);  // the merge publishes the previous pass-1 ticket
        }
      } else if (ch.tensor != w.bins_tensor) {
        publish(w);  // never wait holding work
        if (done[std::size_t(ch.tensor)] < need[std::size_t(ch.tensor)]) return false;
        w.bins_tensor = ch.tensor;
      }
      ++w.chunk;
      return true;
    }
    if (tk.pass == 1) {
      w.pending = w.current;
    } else {
      publish(w);
    }
    w.current = w.next;
    w.next = -1;
    w.chunk = 0;
    return true;
  }

  // Runs to the end; returns false on a deadlock.
  bool run(int blocks, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<Worker> workers(static_cast<std::size_t>(blocks));
    for (;;) {
      std::vector<std::size_t> live;
      for (std::size_t i = 0; i < workers.size(); ++i)
        if (!workers[i].finished) live.push_back(i);
      if (live.empty()) return true;
      std::shuffle(live.begin(), live.end(), rng);
      bool moved = false;
      // A random worker moves; if it is blocked, any other that can.
      for (std::size_t i : live) {
        if (step(workers[i])) {
          moved = true;
          break;
        }
      }
      if (!moved) return false;
    }
  }
};

Simulation make_simulation(const std::vector<hm::HistogramChunk>& chunks, const std::vector<HistogramTicket>& tickets,
                           std::size_t tensors) {
  Simulation s{chunks, tickets, std::vector<int64_t>(tensors, 0), std::vector<int64_t>(tensors, 0)};
  for (const auto& c : chunks) ++s.need[std::size_t(c.tensor)];
  return s;
}

TEST(HistogramL2Schedule, ProtocolAlwaysFinishes) {
  for (const auto& c : cases()) {
    if (c.name == "beyond_2_31") continue;  // 131k chunks: covered by the smaller cases' structure
    const auto chunks = chunks_of(c.numels);
    const auto tickets = histogram_l2_tickets(chunks, c.bytes, c.numels, c.window);
    for (int blocks : {1, 2, 7, 264}) {
      for (uint32_t seed : {1u, 2u, 3u}) {
        auto sim = make_simulation(chunks, tickets, c.numels.size());
        ASSERT_TRUE(sim.run(blocks, seed)) << c.name << " blocks " << blocks << " seed " << seed;
        EXPECT_EQ(sim.done, sim.need) << c.name;
      }
    }
  }
}

// The simulation can fail: an order with a pass-2 ticket ahead of its tensor's pass-1 ticket, on
// a single block, waits forever.
TEST(HistogramL2Schedule, SimulationDetectsABadOrder) {
  const std::vector<int64_t> numels = {100, 100};
  const auto chunks = chunks_of(numels);
  auto tickets = histogram_l2_tickets(chunks, {400, 400}, numels, 400);
  std::stable_sort(tickets.begin(), tickets.end(), [](const HistogramTicket& a, const HistogramTicket& b) {
    return a.pass > b.pass;  // every pass 2 first
  });
  auto sim = make_simulation(chunks, tickets, numels.size());
  EXPECT_FALSE(sim.run(1, 1));
}

}  // namespace
}  // namespace trainscope::kernels
