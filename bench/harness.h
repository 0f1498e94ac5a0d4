#pragma once
// trainscope_bench: one executable, many cases, side-by-side timings against libtorch.
//
// Adding a case (labels, mask → RGB, fused segmentation, ...): create bench/<op>_bench.cpp (the
// CMake glob picks it up) and register one function per case:
//
//   #include "harness.h"
//   namespace trainscope::bench {
//   TRAINSCOPE_BENCH_CASE(labels_8192x1000) {        // ctx: Context&
//     auto logits = torch::randn({8192, 1000}, ctx.tensor_options());
//     CaseResult r = ctx.new_case("labels_8192x1000", bytes_read_and_written);
//     r.add("trainscope", ctx.device_time_ms(run), ctx.time_ms(run));  // device, end to end
//     const auto ms = ctx.time_side_by_side({[&] { /* enqueue + harvest */ },
//                                            [&] { logits.argmax(1).cpu(); }});
//     r.add("trainscope", ms[0]);
//     r.add("torch_argmax", ms[1]);
//     ctx.report(std::move(r));                      // first variant is the subject
//   }
//   }
//
// The harness gives every case the device (CUDA, or the CPU with --cpu), CUDA-event timing with
// warm-up and medians (ctx.time_ms: end to end; ctx.device_time_ms: kernels and copies only), the
// measured copy bandwidth and the physical limit of a byte count moved (ctx.limit_ms), a rotation count for inputs small enough that caches would
// flatter them (ctx.rotations), the small mode (ctx.small(): tiny sizes, proves the harness in
// CI) and the tensor sets of bench/data/tensor-sets.json (ctx.tensor_sets()). Results of all
// cases land in one JSON file and one markdown table in --out-dir (else $OUT, else ".").
#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace trainscope::bench {

struct Options {
  bool cpu = false;          // run on the CPU (the default is CUDA device 0)
  bool small = false;        // tiny sizes: proves the harness works, timings mean nothing
  std::string out_dir;       // where bench.json and bench.md go
  std::string sets_path;     // tensor-sets.json
  std::string only;          // run only cases whose name contains this
  int reps = 0;              // timed repetitions (0: the case's default)
  bool all_sets = false;     // on the CPU, also the large sets that are skipped by default
};

struct Variant {
  std::string name;
  double ms = 0;          // end to end: from the host's call until its results are ready
  double device_ms = -1;  // kernels and copies only (the subject's); < 0 when not measured
};

// One case: the subject (first variant) and its baselines, over `bytes` of input.
struct CaseResult {
  std::string name;
  double bytes = 0;
  nlohmann::json about = nlohmann::json::object();  // tensor counts, shapes, checks, ...
  std::vector<Variant> variants;
  void add(std::string variant, double ms) { variants.push_back({std::move(variant), ms, -1}); }
  void add(std::string variant, double device_ms, double end_to_end_ms) {
    variants.push_back({std::move(variant), end_to_end_ms, device_ms});
  }
};

class Context {
 public:
  explicit Context(Options options);

  const Options& options() const { return options_; }
  bool small() const { return options_.small; }
  bool on_cuda() const { return !options_.cpu; }
  torch::Device device() const { return on_cuda() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU); }
  torch::TensorOptions tensor_options() const { return torch::TensorOptions().device(device()); }
  const nlohmann::json& tensor_sets() const { return sets_; }

  // Median of `reps` timed runs of fn after `warmup` untimed ones, in ms: CUDA events on the
  // current stream around fn (host gaps inside fn count, as a training step would see them), or
  // the steady clock on the CPU.
  double time_ms(const std::function<void()>& fn, int reps = 10, int warmup = 2) const;
  // Medians of several variants timed in turn within each repetition, so that a machine whose
  // load changes during the run (a shared CI box) affects every variant alike.
  std::vector<double> time_side_by_side(const std::vector<std::function<void()>>& fns, int reps = 10,
                                        int warmup = 1) const;
  // Waits for the device (no-op on the CPU).
  void synchronize() const;
  // One timed run of fn in ms (CUDA events or the steady clock).
  double time_once(const std::function<void()>& fn) const;

  // Device time of fn in ms (median): on CUDA the stream first runs a spin kernel long enough
  // for the host to enqueue all of fn behind it, so the events around fn see only the kernels
  // and copies, not host enqueue gaps. On the CPU, the same as time_ms.
  double device_time_ms(const std::function<void()>& fn, int reps = 10, int warmup = 2) const;

  // Copy bandwidth measured at start-up, counting read + write (GB/s).
  double copy_gbps_rw() const { return copy_gbps_rw_; }
  // The physical limit of an op that must move `bytes` (read + write): the time the measured
  // device-to-device copy takes to move as many bytes, reads and writes counted alike.
  double limit_ms(double bytes) const { return bytes / (copy_gbps_rw_ * 1e9) * 1e3; }
  // How many distinct copies of an input of `bytes` to cycle through so that repeated runs do not
  // find it in the last-level cache (1 when it is already larger than a few caches).
  int rotations(double bytes) const;

  CaseResult new_case(std::string name, double bytes) const;
  void report(CaseResult result);
  void note(const std::string& case_name, const std::string& why);  // a case that did not run

  // Writes bench.json and bench.md into the output directory; returns the JSON.
  nlohmann::json write_outputs() const;

 private:
  Options options_;
  nlohmann::json sets_;
  double copy_gbps_rw_ = 0;
  double copy_ms_ = 0;
  double copy_bytes_ = 0;
  double cache_bytes_ = 0;
  std::vector<CaseResult> results_;
  nlohmann::json notes_ = nlohmann::json::object();
};

using CaseFn = void (*)(Context&);
bool register_case(const char* name, CaseFn fn);

}  // namespace trainscope::bench

#define TRAINSCOPE_BENCH_CASE(case_name)                                                       \
  static void case_name(::trainscope::bench::Context& ctx);                                    \
  [[maybe_unused]] static const bool case_name##_registered =                                  \
      ::trainscope::bench::register_case(#case_name, &case_name);                              \
  static void case_name([[maybe_unused]] ::trainscope::bench::Context& ctx)
