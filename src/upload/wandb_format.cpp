#include "upload/wandb_format.h"

#include <limits.h>
#include <pwd.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "run/file_io.h"
#include "upload/nvml_loader.h"

#ifndef TRAINSCOPE_VERSION_STRING
#define TRAINSCOPE_VERSION_STRING "0.0.0"
#endif

namespace trainscope::detail {
namespace {

size_t skip_space(const std::string& s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
  return i;
}

std::string platform_name() {
  struct utsname u {};
  if (uname(&u) != 0) return "linux";
  std::string os = u.sysname;
  for (char& c : os) c = char(std::tolower(static_cast<unsigned char>(c)));
  return os + "-" + u.machine;
}

// Config keys the Callback writes, flat ("trainscope.monitor") or nested.
const nlohmann::json* config_key(const nlohmann::json& config, const std::string& section,
                                 const std::string& key) {
  if (!config.is_object()) return nullptr;
  auto flat = config.find(section + "." + key);
  if (flat != config.end()) return &*flat;
  auto nested = config.find(section);
  if (nested != config.end() && nested->is_object()) {
    auto it = nested->find(key);
    if (it != nested->end()) return &*it;
  }
  return nullptr;
}

std::string iso8601(double unix_seconds) {
  const std::time_t t = std::time_t(unix_seconds);
  std::tm tm {};
  gmtime_r(&t, &tm);
  char text[64];
  const int micros = int(std::fmod(unix_seconds, 1.0) * 1e6);
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros < 0 ? 0 : micros);
  return text;
}

std::vector<std::string> command_line() {
  std::vector<std::string> args;
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  return args;
}

std::string read_link(const char* path) {
  char buffer[PATH_MAX];
  const ssize_t n = readlink(path, buffer, sizeof buffer - 1);
  return n > 0 ? std::string(buffer, size_t(n)) : std::string();
}

uint64_t meminfo_bytes(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  std::string name;
  uint64_t kib = 0;
  std::string unit;
  while (in >> name >> kib) {
    std::getline(in, unit);
    if (name == key + ":") return kib * 1024;
  }
  return 0;
}

// Physical cores: distinct (physical id, core id) pairs of /proc/cpuinfo; logical count when absent.
unsigned physical_cores(unsigned logical) {
  std::ifstream in("/proc/cpuinfo");
  std::string line, physical;
  std::set<std::string> cores;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string value = line.substr(colon + 1);
    if (key == "physical id") physical = value;
    if (key == "core id") cores.insert(physical + "/" + value);
  }
  return cores.empty() ? logical : unsigned(cores.size());
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "";
}

}  // namespace

const char* trainscope_version() { return TRAINSCOPE_VERSION_STRING; }

std::string nonfinite_tokens(const std::string& line) {
  static const char* const kTokens[] = {"NaN", "Infinity", "-Infinity"};
  std::string out;
  size_t copied = 0;
  int depth = 0;
  bool value_next = false;  // at depth 1, after a key's ':'
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') {
      bool replaced = false;
      if (depth == 1 && value_next) {
        for (const char* token : kTokens) {
          const std::string quoted = std::string("\"") + token + "\"";
          if (line.compare(i, quoted.size(), quoted) != 0) continue;
          const size_t after = skip_space(line, i + quoted.size());
          if (after < line.size() && (line[after] == ',' || line[after] == '}')) {
            out.append(line, copied, i - copied).append(token);
            copied = i + quoted.size();
            i = copied - 1;
            replaced = true;
            break;
          }
        }
      }
      value_next = false;
      if (replaced) continue;
      size_t j = i + 1;  // skip the string (a key or a value), escapes included
      while (j < line.size() && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
      i = j;
      continue;
    }
    if (c == ':' && depth == 1) value_next = true;
    else if (c == '{' || c == '[') ++depth, value_next = false;
    else if (c == '}' || c == ']') --depth, value_next = false;
    else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') value_next = false;
  }
  if (copied == 0) return line;
  out.append(line, copied, std::string::npos);
  return out;
}

namespace {

// A metric definition as W&B's config "m" list encodes it (its MetricRecord with field numbers as
// keys): 1 name or 2 glob name, 5 the step metric's one-based index in the list, 6 options
// (1 step_sync, 2 hidden, 3 defined), 7 summary (1 min, 2 max, 3 mean, 5 last, 6 none, 8 first),
// 8 goal (1 minimize, 2 maximize).
nlohmann::json encode_metric(const nlohmann::json& definition, bool defined) {
  const std::string name = definition.value("name", std::string());
  nlohmann::json record = {{name.find('*') == std::string::npos ? "1" : "2", name}};
  nlohmann::json options = nlohmann::json::array();
  if (definition.value("step_sync", false)) options.push_back(1);
  if (definition.value("hidden", false)) options.push_back(2);
  if (defined) options.push_back(3);
  record["6"] = options;
  nlohmann::json summary = nlohmann::json::array();
  const auto kinds = definition.value("summary", nlohmann::json::array());
  for (auto [kind, field] : {std::pair{"min", 1}, {"max", 2}, {"mean", 3}, {"last", 5}, {"none", 6}, {"first", 8}})
    if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end()) summary.push_back(field);
  record["7"] = summary;
  const std::string goal = definition.value("goal", std::string());
  if (goal == "minimize") record["8"] = 1;
  if (goal == "maximize") record["8"] = 2;
  return record;
}

}  // namespace

nlohmann::json wandb_config_value(const nlohmann::json& config, const nlohmann::json& run_record) {
  nlohmann::json value = {{"cli_version", trainscope_version()},
                          {"t", {{"5", trainscope_version()}, {"13", platform_name()}}},
                          {"m", nlohmann::json::array()}};
  // The run's own definitions (Run::define_metric), then the monitored metric unless defined.
  std::vector<nlohmann::json> definitions;
  const auto recorded = run_record.is_object() ? run_record.value("metrics", nlohmann::json::array())
                                               : nlohmann::json::array();
  if (recorded.is_array())
    for (const auto& d : recorded)
      if (d.is_object() && d.contains("name") && d["name"].is_string() && !d["name"].get<std::string>().empty())
        definitions.push_back(d);
  const nlohmann::json* monitor = config_key(config, "trainscope", "monitor");
  if (monitor && monitor->is_string() && !monitor->get<std::string>().empty()) {
    const std::string name = monitor->get<std::string>();
    const bool defined = std::any_of(definitions.begin(), definitions.end(),
                                     [&](const nlohmann::json& d) { return d["name"] == name; });
    if (!defined) {
      const nlohmann::json* mode = config_key(config, "trainscope", "mode");
      const bool maximize = mode && mode->is_string() && mode->get<std::string>() == "max";
      nlohmann::json monitored = nlohmann::json::object();
      monitored["name"] = name;
      monitored["summary"] = nlohmann::json::array({maximize ? "max" : "min", "last"});
      monitored["goal"] = maximize ? "maximize" : "minimize";
      definitions.insert(definitions.begin(), std::move(monitored));
    }
  }
  std::map<std::string, std::size_t> index;  // name -> position in "m"
  for (const auto& d : definitions) index.emplace(d["name"].get<std::string>(), index.size());
  std::vector<nlohmann::json> records;
  for (const auto& d : definitions) records.push_back(encode_metric(d, true));
  for (std::size_t i = 0; i < definitions.size(); ++i) {
    const std::string step = definitions[i].value("step_metric", std::string());
    if (step.empty()) continue;
    auto found = index.find(step);
    if (found == index.end()) {  // an undefined step metric gets an entry of its own, as W&B gives it
      found = index.emplace(step, records.size()).first;
      nlohmann::json undefined = nlohmann::json::object();
      undefined["name"] = step;
      records.push_back(encode_metric(undefined, false));
    }
    records[i]["5"] = int64_t(found->second + 1);
  }
  for (auto& r : records) value["m"].push_back(std::move(r));
  return value;
}

void add_mask_class_labels(nlohmann::json& wandb_value, const nlohmann::json& class_labels) {
  if (!class_labels.is_object() || !wandb_value.is_object()) return;
  for (const auto& [key, labels] : class_labels.items()) {
    if (!labels.is_object()) continue;
    wandb_value["mask/class_labels"][key] = {{"type", "mask/class_labels"}, {"key", key}, {"value", labels}};
  }
}

std::string config_yaml(const nlohmann::json& config) {
  std::string text = "wandb_version: 1\n";
  if (!config.is_object() || config.empty()) return text;
  text += "\n";
  for (const auto& [key, value] : config.items())
    text += nlohmann::json(key).dump() + ":\n  value: " + value.dump() + "\n";
  return text;
}

nlohmann::json wandb_summary(nlohmann::json summary) {
  if (!summary.is_object()) return summary;
  const auto runtime = summary.find("_runtime");
  if (runtime != summary.end() && runtime->is_number())
    summary["_wandb"] = {{"runtime", int64_t(std::floor(runtime->get<double>()))}};
  return summary;
}

nlohmann::json process_metadata(double started_at, const std::map<std::string, std::string>& software) {
  nlohmann::json meta = nlohmann::json::object();
  struct utsname u {};
  if (uname(&u) == 0) meta["os"] = std::string(u.sysname) + "-" + u.release + "-" + u.machine;
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) == 0) meta["host"] = host;
  if (const passwd* pw = getpwuid(getuid())) meta["username"] = pw->pw_name;
  const auto args = command_line();
  const std::string exe = read_link("/proc/self/exe");
  if (!args.empty()) {
    meta["program"] = args[0];
    meta["args"] = std::vector<std::string>(args.begin() + 1, args.end());
  }
  if (!exe.empty()) meta["executable"] = exe;
  const std::string cwd = read_link("/proc/self/cwd");
  if (!cwd.empty()) meta["root"] = cwd;
  meta["startedAt"] = iso8601(started_at);
  const long logical = sysconf(_SC_NPROCESSORS_ONLN);
  if (logical > 0) {
    meta["cpu_count_logical"] = logical;
    meta["cpu_count"] = physical_cores(unsigned(logical));
    meta["cpu"] = {{"count", meta["cpu_count"]}, {"countLogical", logical}};
    const std::string model = cpu_model();
    if (!model.empty()) meta["cpu"]["model"] = model;
  }
  // Unsigned 64-bit fields as decimal strings, as W&B's metadata writer encodes them.
  if (const uint64_t total = meminfo_bytes("MemTotal")) meta["memory"] = {{"total", std::to_string(total)}};
  struct statvfs fs {};
  if (statvfs("/", &fs) == 0) {
    const uint64_t total = uint64_t(fs.f_blocks) * fs.f_frsize;
    const uint64_t used = total - uint64_t(fs.f_bfree) * fs.f_frsize;
    meta["disk"] = {{"/", {{"total", std::to_string(total)}, {"used", std::to_string(used)}}}};
  }
  const Nvml& nvml = Nvml::instance();
  const auto gpus = nvml.devices();
  if (!gpus.empty()) {
    meta["gpu"] = gpus[0].name;
    meta["gpu_count"] = gpus.size();
    nlohmann::json list = nlohmann::json::array();
    for (const auto& g : gpus) {
      nlohmann::json entry = {{"name", g.name}, {"memoryTotal", std::to_string(g.memory_total)}};
      if (!g.uuid.empty()) entry["uuid"] = g.uuid;
      list.push_back(std::move(entry));
    }
    meta["gpu_nvidia"] = std::move(list);
    const std::string cuda = nvml.cuda_driver_version();
    if (!cuda.empty()) meta["cudaVersion"] = cuda;
  }
  meta["trainscope"] = {{"version", trainscope_version()}};
  for (const auto& [name, version] : software)
    if (name != "version" && !version.empty()) meta["trainscope"][name] = version;
  return meta;
}

bool write_run_metadata(const std::string& run_dir, double started_at,
                        const std::map<std::string, std::string>& software) {
  const std::string path = run_dir + "/wandb-metadata.json";
  if (read_file_if_present(path)) return true;
  try {
    write_file_atomic(path, process_metadata(started_at, software).dump(2) + "\n");
  } catch (...) {
    return false;  // metadata is a courtesy: never a reason to stop training or uploading
  }
  return true;
}

}  // namespace trainscope::detail
