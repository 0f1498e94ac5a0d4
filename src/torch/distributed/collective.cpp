#include "collective.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <sstream>
#include <vector>

#include "trainscope/error.h"

namespace trainscope {

bool is_distributed(const DistributedOptions& options) { return options.group && options.group->getSize() > 1; }
int rank(const DistributedOptions& options) { return options.group ? options.group->getRank() : 0; }
int world_size(const DistributedOptions& options) { return options.group ? options.group->getSize() : 1; }

namespace distributed_detail {
namespace {

// Header words: call, status, items, param, fingerprint, error length, error bytes.
constexpr int64_t kFixedWords = 6;
constexpr int64_t kErrorBytes = 512;  // room for a message naming a file path
constexpr int64_t kHeaderWords = kFixedWords + kErrorBytes / 8;

std::string call_name(int64_t call) {
  if (call == static_cast<int64_t>(Call::Metrics)) return "reduce_metrics";
  if (call == static_cast<int64_t>(Call::Histograms)) return "distributed_histograms";
  if (call == static_cast<int64_t>(Call::ShardedSave)) return "save_sharded_checkpoint";
  if (call == static_cast<int64_t>(Call::ShardedLoad)) return "load_sharded_checkpoint";
  return "an unknown call";
}

// Waits for `work` and turns a backend failure (a peer that closed its connection, a timeout)
// into an Error; the group is unusable afterwards (docs/distributed.md#failures).
void wait(const c10::intrusive_ptr<::c10d::Work>& work, const DistributedOptions& options, const char* op) {
  // NCCL: wait() only makes the current stream wait for the collective's stream, unless given a
  // timeout, which blocks the host; its timeout is enforced by c10d's watchdog from the op's
  // options instead (set in all_gather / all_reduce_sum).
  const bool nccl = options.group->getBackendType() == ::c10d::ProcessGroup::BackendType::NCCL;
  try {
    work->wait(nccl ? std::chrono::milliseconds(0) : options.timeout);  // 0: no host-side limit
  } catch (const std::exception& e) {
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);  // its what() carries a backtrace
    std::ostringstream os;
    os << op << ": collective failed on rank " << rank(options) << " of " << world_size(options)
       << " (a rank died, threw before reaching this call, or the timeout expired): "
       << (c10_error ? c10_error->what_without_backtrace() : e.what());
    throw Error(os.str());
  }
}

}  // namespace

void Fingerprint::add(const std::string& text) {
  for (unsigned char c : text) h_ = (h_ ^ c) * 1099511628211ull;
  h_ = (h_ ^ 0xffu) * 1099511628211ull;  // separator: ("ab", "c") ≠ ("a", "bc")
}
void Fingerprint::add(int64_t value) {
  for (int i = 0; i < 8; ++i) h_ = (h_ ^ ((uint64_t(value) >> (8 * i)) & 0xffu)) * 1099511628211ull;
}

c10::Device collective_device(const DistributedOptions& options, const c10::Device& data) {
  if (options.group && options.group->getBackendType() == ::c10d::ProcessGroup::BackendType::NCCL)
    return data.is_cuda() ? data : c10::Device(c10::kCUDA);
  return c10::Device(c10::kCPU);
}

torch::Tensor all_gather(const DistributedOptions& options, const char* op, const torch::Tensor& local) {
  std::vector<torch::Tensor> input{local.contiguous()};
  std::vector<std::vector<torch::Tensor>> output(1);
  for (int r = 0; r < world_size(options); ++r) output[0].push_back(torch::empty_like(input[0]));
  ::c10d::AllgatherOptions o;
  if (options.timeout.count() > 0) o.timeout = options.timeout;
  wait(options.group->allgather(output, input, o), options, op);
  return torch::stack(output[0]);
}

void all_reduce_sum(const DistributedOptions& options, const char* op, torch::Tensor& t) {
  std::vector<torch::Tensor> tensors{t};
  ::c10d::AllreduceOptions o;
  o.reduceOp = ::c10d::ReduceOp::SUM;
  if (options.timeout.count() > 0) o.timeout = options.timeout;
  wait(options.group->allreduce(tensors, o), options, op);
}

void agree(const DistributedOptions& options, const char* op, Call call, int64_t items, int64_t param,
           int64_t fingerprint, const std::string& error, const char* fingerprint_meaning) {
  if (!is_distributed(options)) {
    if (!error.empty()) throw Error(error);
    return;
  }
  torch::Tensor header = torch::zeros({kHeaderWords}, torch::kLong);
  int64_t* h = header.data_ptr<int64_t>();
  const int64_t length = std::min<int64_t>(static_cast<int64_t>(error.size()), kErrorBytes);
  h[0] = static_cast<int64_t>(call);
  h[1] = error.empty() ? 0 : 1;
  h[2] = items;
  h[3] = param;
  h[4] = fingerprint;
  h[5] = length;
  std::memcpy(h + kFixedWords, error.data(), std::size_t(length));
  const c10::Device device = collective_device(options, c10::Device(c10::kCPU));
  const torch::Tensor all = all_gather(options, op, header.to(device)).cpu().contiguous();
  const int64_t* g = all.data_ptr<int64_t>();
  auto word = [&](int r, int64_t w) { return g[int64_t(r) * kHeaderWords + w]; };

  // Every rank builds the message from the same gathered words: the same Error everywhere.
  const int world = world_size(options);
  std::ostringstream os;
  for (int r = 1; r < world; ++r) {
    if (word(r, 0) != word(0, 0)) {
      os << op << ": ranks called different operations: rank 0 " << call_name(word(0, 0)) << ", rank " << r
         << " " << call_name(word(r, 0)) << " (every rank must make the same calls in the same order)";
      throw Error(os.str());
    }
  }
  std::vector<int> failed;
  for (int r = 0; r < world; ++r)
    if (word(r, 1)) failed.push_back(r);
  if (!failed.empty()) {
    const int r = failed.front();
    const int64_t n = std::clamp<int64_t>(word(r, 5), 0, kErrorBytes);
    std::string text(reinterpret_cast<const char*>(g + int64_t(r) * kHeaderWords + kFixedWords), std::size_t(n));
    const std::string prefix = std::string(op) + ": ";
    if (text.compare(0, prefix.size(), prefix) == 0) text.erase(0, prefix.size());  // named once
    os << op << ": failed on rank " << r;
    if (failed.size() > 1) os << " (and " << failed.size() - 1 << " other rank" << (failed.size() > 2 ? "s" : "") << ")";
    os << ": " << text;
    throw Error(os.str());
  }
  for (int r = 1; r < world; ++r) {
    if (word(r, 2) == word(0, 2) && word(r, 3) == word(0, 3) && word(r, 4) == word(0, 4)) continue;
    os << op << ": ranks disagree: ";
    if (word(r, 2) != word(0, 2)) {
      os << "rank 0 passes " << word(0, 2) << " names, rank " << r << " passes " << word(r, 2);
    } else if (word(r, 3) != word(0, 3)) {
      os << "rank 0 asks for " << word(0, 3) << " bins, rank " << r << " for " << word(r, 3);
    } else if (fingerprint_meaning) {
      os << "rank " << r << " passes " << fingerprint_meaning << " than rank 0";
    } else {
      os << "rank " << r << " passes other names, sharded flags or reductions than rank 0";
    }
    os << (fingerprint_meaning ? " (every rank must pass the same arguments)"
                               : " (every rank must pass the same names in the same order)");
    throw Error(os.str());
  }
}

std::vector<std::string> gather_strings(const DistributedOptions& options, const char* op, const std::string& local) {
  if (!is_distributed(options)) return {local};
  // Packed into int64 words, as the agreement header is: every backend gathers those.
  const c10::Device device = collective_device(options, c10::Device(c10::kCPU));
  torch::Tensor length = torch::full({1}, static_cast<int64_t>(local.size()), torch::kLong);
  const torch::Tensor lengths = all_gather(options, op, length.to(device)).cpu().contiguous();
  const int world = world_size(options);
  int64_t longest = 0;
  for (int r = 0; r < world; ++r) longest = std::max(longest, lengths.data_ptr<int64_t>()[r]);
  const int64_t words = std::max<int64_t>(1, (longest + 7) / 8);
  torch::Tensor packed = torch::zeros({words}, torch::kLong);
  std::memcpy(packed.data_ptr<int64_t>(), local.data(), local.size());
  const torch::Tensor all = all_gather(options, op, packed.to(device)).cpu().contiguous();
  std::vector<std::string> out;
  for (int r = 0; r < world; ++r) {
    const auto* bytes = reinterpret_cast<const char*>(all.data_ptr<int64_t>() + int64_t(r) * words);
    out.emplace_back(bytes, std::size_t(std::clamp<int64_t>(lengths.data_ptr<int64_t>()[r], 0, words * 8)));
  }
  return out;
}

}  // namespace distributed_detail
}  // namespace trainscope
