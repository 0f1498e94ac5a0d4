#pragma once
// The collectives behind trainscope/torch/distributed.h: the agreement header exchanged before
// each data collective, and gather/sum wrappers that wait with the options' timeout and turn a
// backend failure into a trainscope::Error (docs/distributed.md#failures).
#include <cstdint>
#include <string>
#include <vector>

#include "trainscope/torch/distributed.h"

namespace trainscope::distributed_detail {

// What a call is, so ranks that call different functions (or the same one out of order) fail.
enum class Call : int64_t {
  Metrics = 0x7473'6d65,
  Histograms = 0x7473'6869,
  ShardedSave = 0x7473'7373,
  ShardedLoad = 0x7473'736c,
};

// Order-dependent FNV-1a hash of a call's names and per-name parameters.
class Fingerprint {
 public:
  void add(const std::string& text);
  void add(int64_t value);
  int64_t value() const { return static_cast<int64_t>(h_); }

 private:
  uint64_t h_ = 1469598103934665603ull;
};

// Exchanges {call, status, items, param, fingerprint, error text} among all ranks. Throws the
// same Error on every rank when any rank has a non-empty `error` (the lowest such rank is named)
// or when the ranks disagree on the call, items, param or fingerprint. Single process: throws
// `error` if non-empty. `fingerprint_meaning` says what differs when only the fingerprints do
// (default: the names, sharded flags or reductions of the metric and histogram calls).
void agree(const DistributedOptions& options, const char* op, Call call, int64_t items, int64_t param,
           int64_t fingerprint, const std::string& error, const char* fingerprint_meaning = nullptr);

// Every rank's `local` bytes (any length, may differ by rank), in rank order: two collectives
// (the lengths, then the bytes padded to the longest). Single process: {local}.
std::vector<std::string> gather_strings(const DistributedOptions& options, const char* op, const std::string& local);

// The device collectives of `options.group` run on: CUDA for NCCL (`data` when it is a CUDA
// device, else the current CUDA device), the CPU otherwise.
c10::Device collective_device(const DistributedOptions& options, const c10::Device& data);

// [world, n]: every rank's 1-D `local` (n elements, same dtype on every rank), in rank order.
torch::Tensor all_gather(const DistributedOptions& options, const char* op, const torch::Tensor& local);
// Sums `t` over the ranks, in place.
void all_reduce_sum(const DistributedOptions& options, const char* op, torch::Tensor& t);

}  // namespace trainscope::distributed_detail
