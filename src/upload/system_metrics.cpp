#include "upload/system_metrics.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "upload/nvml_loader.h"

namespace trainscope::detail {

struct SystemMetricsSampler::Counters {
  bool valid = false;
  double wall = 0;                 // steady seconds
  double process_cpu = 0;          // seconds of CPU time of this process
  std::vector<std::pair<uint64_t, uint64_t>> cores;  // (busy, total) jiffies per core
  uint64_t net_sent0 = 0, net_recv0 = 0;
  bool net_base = false;
};

namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double process_cpu_seconds() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // fields counted from 1; "state" is field 3
    if (i == 14) utime = std::stoull(field);
    if (i == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

std::vector<std::pair<uint64_t, uint64_t>> core_jiffies() {
  std::vector<std::pair<uint64_t, uint64_t>> cores;
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || !std::isdigit(static_cast<unsigned char>(line[3])))
      continue;
    std::istringstream fields(line);
    std::string name;
    fields >> name;
    uint64_t v = 0, total = 0, idle = 0;
    for (int i = 0; fields >> v; ++i) {
      total += v;
      if (i == 3 || i == 4) idle += v;  // idle, iowait
    }
    cores.emplace_back(total - idle, total);
  }
  return cores;
}

std::map<std::string, uint64_t> status_fields() {
  std::map<std::string, uint64_t> out;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream value(line.substr(colon + 1));
    uint64_t v = 0;
    if (value >> v) out[line.substr(0, colon)] = v;
  }
  return out;
}

std::map<std::string, uint64_t> meminfo() {
  std::map<std::string, uint64_t> out;
  std::ifstream in("/proc/meminfo");
  std::string name, unit;
  uint64_t kib = 0;
  while (in >> name >> kib) {
    std::getline(in, unit);
    out[name.substr(0, name.size() - 1)] = kib * 1024;
  }
  return out;
}

void network_bytes(uint64_t& sent, uint64_t& recv) {
  sent = recv = 0;
  std::ifstream in("/proc/net/dev");
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name == "lo") continue;
    std::istringstream fields(line.substr(colon + 1));
    uint64_t v[9] = {0};
    for (auto& x : v) fields >> x;
    recv += v[0];
    sent += v[8];
  }
}

}  // namespace

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

nlohmann::json sample_system_metrics(SystemMetricsSampler::Counters& previous, double started_at) {
  const double now = unix_now();
  nlohmann::json row = {{"_wandb", true}, {"_timestamp", now}, {"_runtime", now - started_at}};
  const double wall = steady_seconds();
  const double cpu = process_cpu_seconds();
  const auto cores = core_jiffies();
  if (previous.valid && wall > previous.wall) {
    row["system.cpu"] = 100.0 * (cpu - previous.process_cpu) / (wall - previous.wall);
    for (size_t i = 0; i < cores.size() && i < previous.cores.size(); ++i) {
      const double busy = double(cores[i].first - previous.cores[i].first);
      const double total = double(cores[i].second - previous.cores[i].second);
      if (total > 0) row["system.cpu." + std::to_string(i) + ".cpu_percent"] = 100.0 * busy / total;
    }
  }
  previous.valid = true;
  previous.wall = wall;
  previous.process_cpu = cpu;
  previous.cores = cores;

  const auto mem = meminfo();
  const auto status = status_fields();
  const double total = double(mem.count("MemTotal") ? mem.at("MemTotal") : 0);
  const double available = double(mem.count("MemAvailable") ? mem.at("MemAvailable") : 0);
  constexpr double kMiB = 1024.0 * 1024.0;
  if (total > 0) {
    row["system.memory_percent"] = 100.0 * (total - available) / total;
    row["system.proc.memory.availableMB"] = available / kMiB;
  }
  if (status.count("VmRSS")) {
    const double rss = double(status.at("VmRSS")) * 1024.0;  // kB in /proc/self/status
    row["system.proc.memory.rssMB"] = rss / kMiB;
    if (total > 0) row["system.proc.memory.percent"] = 100.0 * rss / total;
  }
  if (status.count("Threads")) row["system.proc.cpu.threads"] = status.at("Threads");
  struct statvfs fs {};
  if (statvfs("/", &fs) == 0 && fs.f_blocks > 0) {
    const double size = double(fs.f_blocks) * double(fs.f_frsize);
    const double used = size - double(fs.f_bfree) * double(fs.f_frsize);
    row["system.disk./.usagePercent"] = 100.0 * used / size;
    row["system.disk./.usageGB"] = used / (kMiB * 1024.0);
  }
  uint64_t sent = 0, recv = 0;
  network_bytes(sent, recv);
  if (!previous.net_base) {
    previous.net_sent0 = sent;
    previous.net_recv0 = recv;
    previous.net_base = true;
  }
  row["system.network.sent"] = sent - previous.net_sent0;
  row["system.network.recv"] = recv - previous.net_recv0;

  const auto gpus = Nvml::instance().sample();
  for (size_t i = 0; i < gpus.size(); ++i) {
    const auto& g = gpus[i];
    const std::string p = "system.gpu." + std::to_string(i) + ".";
    if (g.utilization) row[p + "gpu"] = *g.utilization;
    if (g.memory_utilization) row[p + "memory"] = *g.memory_utilization;
    if (g.memory_used && g.memory_total && *g.memory_total > 0) {
      row[p + "memoryAllocated"] = 100.0 * double(*g.memory_used) / double(*g.memory_total);
      row[p + "memoryAllocatedBytes"] = *g.memory_used;
    }
    if (g.temperature) row[p + "temp"] = *g.temperature;
    if (g.power_watts) row[p + "powerWatts"] = *g.power_watts;
    if (g.power_watts && g.power_limit_watts && *g.power_limit_watts > 0)
      row[p + "powerPercent"] = 100.0 * *g.power_watts / *g.power_limit_watts;
  }
  return row;
}

SystemMetricsSampler::SystemMetricsSampler(std::string run_dir, double interval_seconds, double started_at)
    : path_(std::move(run_dir) + "/wandb-events.jsonl"),
      interval_(interval_seconds),
      started_at_(started_at),
      previous_(new Counters) {
  sample_system_metrics(*previous_, started_at_);  // the baseline for the first rates
  thread_ = std::thread([this] { loop(); });
}

SystemMetricsSampler::~SystemMetricsSampler() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  delete previous_;
}

void SystemMetricsSampler::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    const bool stopping = wake_.wait_for(lock, std::chrono::duration<double>(interval_), [this] { return stop_; });
    lock.unlock();
    write_row();
    lock.lock();
    if (stopping) return;
  }
}

void SystemMetricsSampler::write_row() {
  try {
    const std::string line = sample_system_metrics(*previous_, started_at_).dump() + "\n";
    const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    const ssize_t n = ::write(fd, line.data(), line.size());
    (void)n;  // metrics are best effort: a full disk must not stop training
    ::close(fd);
  } catch (...) {
  }
}

}  // namespace trainscope::detail
