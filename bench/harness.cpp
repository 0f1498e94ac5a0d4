#include "harness.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "trainscope/device.h"

#ifdef TRAINSCOPE_WITH_CUDA
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace trainscope::bench {
namespace {

std::map<std::string, CaseFn>& registry() {
  static std::map<std::string, CaseFn> cases;
  return cases;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#ifdef TRAINSCOPE_WITH_CUDA
void cuda_ok(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}
#endif

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

}  // namespace

bool register_case(const char* name, CaseFn fn) {
  registry()[name] = fn;
  return true;
}

Context::Context(Options options) : options_(std::move(options)) {
  std::ifstream in(options_.sets_path);
  if (!in) throw std::runtime_error("cannot read tensor sets from " + options_.sets_path);
  sets_ = nlohmann::json::parse(in);

  // Copy bandwidth: 1 GiB device to device (4 MiB in small mode, 256 MiB on the CPU).
  const int64_t n = small() ? (int64_t(1) << 20) : on_cuda() ? (int64_t(1) << 28) : (int64_t(1) << 26);
  auto a = torch::rand({n}, tensor_options());
  auto b = torch::empty_like(a);
  copy_bytes_ = double(n) * 4;
  copy_ms_ = time_ms([&] { b.copy_(a); }, small() ? 3 : 10, 2);
  copy_gbps_rw_ = 2 * copy_bytes_ / (copy_ms_ * 1e-3) / 1e9;

#ifdef TRAINSCOPE_WITH_CUDA
  if (on_cuda()) {
    int l2 = 0;
    cuda_ok(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0), "cudaDeviceGetAttribute");
    cache_bytes_ = l2;
  }
#endif
  if (!on_cuda()) cache_bytes_ = 64.0 * 1024 * 1024;  // a generous last-level cache
}

double Context::time_once(const std::function<void()>& fn) const {
#ifdef TRAINSCOPE_WITH_CUDA
  if (on_cuda()) {
    cudaEvent_t start, stop;
    cuda_ok(cudaEventCreate(&start), "cudaEventCreate");
    cuda_ok(cudaEventCreate(&stop), "cudaEventCreate");
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(0).stream();
    cuda_ok(cudaEventRecord(start, stream), "cudaEventRecord");
    fn();
    cuda_ok(cudaEventRecord(stop, stream), "cudaEventRecord");
    cuda_ok(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    cuda_ok(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return ms;
  }
#endif
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

double Context::device_time_ms(const std::function<void()>& fn, int reps, int warmup) const {
#ifdef TRAINSCOPE_WITH_CUDA
  if (on_cuda()) {
    if (options_.reps > 0) reps = options_.reps;
    for (int i = 0; i < warmup; ++i) fn();
    synchronize();
    cudaEvent_t start, stop;
    cuda_ok(cudaEventCreate(&start), "cudaEventCreate");
    cuda_ok(cudaEventCreate(&stop), "cudaEventCreate");
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(0).stream();
    std::vector<double> times;
    for (int i = 0; i < reps; ++i) {
      // ~10 ms of spinning at ~2 GHz: far longer than any case's host enqueue.
      at::cuda::sleep(int64_t(20) * 1000 * 1000);
      cuda_ok(cudaEventRecord(start, stream), "cudaEventRecord");
      const auto host0 = std::chrono::steady_clock::now();
      fn();
      const double host_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - host0).count();
      cuda_ok(cudaEventRecord(stop, stream), "cudaEventRecord");
      cuda_ok(cudaEventSynchronize(stop), "cudaEventSynchronize");
      float ms = 0;
      cuda_ok(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
      if (host_ms > 5.0) throw std::runtime_error("device_time_ms: the host took longer to enqueue than the spin kernel covers");
      times.push_back(ms);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return median(times);
  }
#endif
  return time_ms(fn, reps, warmup);
}

double Context::time_ms(const std::function<void()>& fn, int reps, int warmup) const {
  return time_side_by_side({fn}, reps, warmup).front();
}

std::vector<double> Context::time_side_by_side(const std::vector<std::function<void()>>& fns, int reps,
                                               int warmup) const {
  if (options_.reps > 0) reps = options_.reps;
  for (int i = 0; i < warmup; ++i)
    for (const auto& fn : fns) fn();
  synchronize();
  std::vector<std::vector<double>> times(fns.size());
  for (int i = 0; i < reps; ++i) {
    for (std::size_t f = 0; f < fns.size(); ++f) {
      times[f].push_back(time_once(fns[f]));
      synchronize();
    }
  }
  std::vector<double> medians;
  for (auto& t : times) medians.push_back(median(t));
  return medians;
}

void Context::synchronize() const {
#ifdef TRAINSCOPE_WITH_CUDA
  if (on_cuda()) cuda_ok(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
#endif
}

int Context::rotations(double bytes) const {
  if (bytes <= 0) return 1;
  return static_cast<int>(std::clamp(std::ceil(4 * cache_bytes_ / bytes), 1.0, 64.0));
}

CaseResult Context::new_case(std::string name, double bytes) const {
  CaseResult r;
  r.name = std::move(name);
  r.bytes = bytes;
  return r;
}

void Context::report(CaseResult result) {
  std::cout << result.name << " (" << fixed(result.bytes / 1e6, 1) << " MB moved, limit "
            << fixed(limit_ms(result.bytes), 3) << " ms)\n";
  for (const auto& v : result.variants) {
    std::cout << "  " << std::left << std::setw(34) << v.name << std::right;
    if (v.device_ms >= 0) {
      std::cout << " device " << fixed(v.device_ms, 3) << " ms (" << fixed(v.device_ms / limit_ms(result.bytes), 2)
                << "x limit), end to end";
    }
    std::cout << std::setw(12) << fixed(v.ms, 3) << " ms  " << fixed(v.ms / limit_ms(result.bytes), 1) << "x limit\n";
  }
  std::cout.flush();
  results_.push_back(std::move(result));
}

void Context::note(const std::string& case_name, const std::string& why) {
  notes_[case_name] = why;
  std::cout << case_name << ": " << why << "\n";
}

nlohmann::json Context::write_outputs() const {
  nlohmann::json out;
  out["device"] = on_cuda() ? std::string("cuda") : std::string("cpu");
#ifdef TRAINSCOPE_WITH_CUDA
  if (on_cuda()) {
    cudaDeviceProp prop{};
    cuda_ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    out["device"] = prop.name;
  }
#endif
  out["mode"] = small() ? "small" : (on_cuda() ? "gpu" : "cpu");
  out["date"] = utc_now();
  out["torch"] = TORCH_VERSION;
  out["cpu_threads"] = std::thread::hardware_concurrency();
  out["copy"] = {{"bytes", copy_bytes_}, {"ms", copy_ms_}, {"GBps_rw", copy_gbps_rw_}};
  out["cases"] = nlohmann::json::array();
  for (const auto& r : results_) {
    nlohmann::json c;
    c["name"] = r.name;
    c["bytes"] = r.bytes;
    c["limit_ms"] = limit_ms(r.bytes);
    c["about"] = r.about;
    c["subject"] = r.variants.empty() ? "" : r.variants.front().name;
    c["variants"] = nlohmann::json::object();
    for (const auto& v : r.variants) {
      nlohmann::json j = {{"ms", v.ms}, {"x_limit", v.ms / limit_ms(r.bytes)}};
      if (v.device_ms >= 0) {
        j["device_ms"] = v.device_ms;
        j["device_x_limit"] = v.device_ms / limit_ms(r.bytes);
      }
      if (!r.variants.empty() && &v != &r.variants.front()) {
        j["subject_speedup"] = v.ms / r.variants.front().ms;  // how many times faster the subject is
      }
      c["variants"][v.name] = j;
    }
    out["cases"].push_back(c);
  }
  out["skipped"] = notes_;

  std::ostringstream md;
  md << "# trainscope_bench (" << out["mode"].get<std::string>() << ", " << out["device"].get<std::string>() << ", "
     << out["date"].get<std::string>() << ")\n\n"
     << "Copy bandwidth: " << fixed(copy_gbps_rw_, 1) << " GB/s (read + write). Limit = bytes the op "
     << "moves (read + write) / that copy rate. Device ms: kernels and copies only; end-to-end ms: from "
     << "the call until the host has the results. Speedup = baseline end-to-end ms / subject end-to-end ms.\n\n"
     << "| case | variant | device ms | × limit (device) | end-to-end ms | × limit (end to end) | subject speedup |\n"
     << "|---|---|---:|---:|---:|---:|---:|\n";
  for (const auto& r : results_) {  // in the order the case added its variants
    for (const auto& v : r.variants) {
      md << "| " << r.name << " | " << v.name << " | "
         << (v.device_ms >= 0 ? fixed(v.device_ms, 4) : std::string("—")) << " | "
         << (v.device_ms >= 0 ? fixed(v.device_ms / limit_ms(r.bytes), 2) : std::string("—")) << " | "
         << fixed(v.ms, 3) << " | " << fixed(v.ms / limit_ms(r.bytes), 1) << " | "
         << (&v == &r.variants.front() ? std::string("—") : fixed(v.ms / r.variants.front().ms, 1) + "×") << " |\n";
    }
  }
  for (const auto& [name, why] : notes_.items()) md << "\nSkipped " << name << ": " << why.get<std::string>() << "\n";

  std::filesystem::create_directories(options_.out_dir);
  std::ofstream(std::filesystem::path(options_.out_dir) / "bench.json") << out.dump(1) << "\n";
  std::ofstream(std::filesystem::path(options_.out_dir) / "bench.md") << md.str();
  std::cout << "\n" << md.str() << "\nwrote " << options_.out_dir << "/bench.json and bench.md\n";
  return out;
}

}  // namespace trainscope::bench

namespace {

const char* kUsage =
    "usage: trainscope_bench [--cpu] [--small] [--out-dir DIR] [--sets tensor-sets.json] [--only NAME]\n"
    "                        [--reps N] [--all-sets]\n"
    "  default: CUDA device 0; --cpu: the CPU; --small: tiny sizes (CI check of the harness)\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace trainscope::bench;
  Options o;
  o.sets_path = TRAINSCOPE_BENCH_DATA_DIR "/tensor-sets.json";
  if (const char* out = std::getenv("OUT")) o.out_dir = out;
  if (o.out_dir.empty()) o.out_dir = ".";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--cpu") o.cpu = true;
    else if (a == "--small") o.small = true;
    else if (a == "--out-dir") o.out_dir = value();
    else if (a == "--sets") o.sets_path = value();
    else if (a == "--only") o.only = value();
    else if (a == "--reps") o.reps = std::stoi(value());
    else if (a == "--all-sets") o.all_sets = true;
    else if (a == "--help" || a == "-h") { std::cout << kUsage; return 0; }
    else { std::cerr << "unknown argument " << a << "\n" << kUsage; return 2; }
  }
  try {
    if (!o.cpu && trainscope::cuda_device_count() == 0) {
      std::cerr << "no CUDA device: run with --cpu (and --small for a quick check)\n";
      return 2;
    }
    torch::manual_seed(0);
    Context ctx(o);
    for (const auto& [name, fn] : registry()) {
      if (!o.only.empty() && name.find(o.only) == std::string::npos) continue;
      fn(ctx);
    }
    ctx.write_outputs();
  } catch (const std::exception& e) {
    std::cerr << "trainscope_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
