// Sharded checkpoints: every rank's shard, checked by rank 0, committed by rank 0's index
// (docs/distributed.md#checkpoints). The order of the steps is what makes a crash harmless:
//
//   1. rank 0 picks the directory and a generation no file there has yet; agreed, broadcast;
//   2. every rank writes its shard of that generation (temp + fsync + rename) and hashes it;
//      agreed (a failed write fails every rank), then every rank's size and SHA-256 gathered;
//   3. rank 0 reads every shard and compares it with its writer's report (a filesystem the
//      ranks do not share shows here); agreed;
//   4. rank 0 writes the index (temp + fsync + rename): the commit point; then removes the files
//      of every other generation; agreed.
//
// Until 4's rename the previous index and the shards it names are untouched (new shards have new
// names), so a failure or a kill anywhere before it leaves the previous checkpoint loadable.
#include "torch/distributed/sharded_checkpoint.h"

#include <dirent.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "run/file_io.h"
#include "run/sha256.h"
#include "torch/checkpoint.h"
#include "torch/distributed/collective.h"
#include "trainscope/error.h"
#include "trainscope/torch/callback.h"

namespace trainscope {
namespace distributed_detail {
namespace {

constexpr const char* kSave = "save_sharded_checkpoint";
constexpr const char* kLoad = "load_sharded_checkpoint";
constexpr const char* kFormat = "trainscope.sharded-checkpoint";
constexpr int kVersion = 1;
constexpr const char* kSeeDocs = " (docs/distributed.md#checkpoints)";

std::mutex hook_mutex;
SaveHook save_hook;

void run_hook(const std::string& stage, const std::string& path) {
  SaveHook hook;
  {
    std::lock_guard<std::mutex> lock(hook_mutex);
    hook = save_hook;
  }
  if (hook) hook(stage, path);
}

void check_name(const char* op, const std::string& name) {
  bool ok = !name.empty() && name != "." && name != "..";
  for (unsigned char c : name) ok = ok && (std::isalnum(c) || c == '.' || c == '_' || c == '-');
  if (!ok) throw Error(std::string(op) + ": name '" + name + "': expected [A-Za-z0-9._-]+");
}

std::string join(const std::string& directory, const std::string& file) {
  if (directory.empty() || directory.back() == '/') return directory + file;
  return directory + "/" + file;
}

std::string index_file(const std::string& name) { return name + ".index.json"; }
std::string shard_prefix(const std::string& name) { return name + ".shard-"; }

std::string shard_file(const std::string& name, int rank, int world, int64_t generation) {
  char numbers[64];
  std::snprintf(numbers, sizeof numbers, "%05d-of-%05d.g%lld.pt", rank + 1, world, static_cast<long long>(generation));
  return shard_prefix(name) + numbers;
}

// The generation of a shard file name (temp files of a killed writer included), if it is one.
std::optional<int64_t> generation_of(const std::string& file, const std::string& name) {
  const std::string prefix = shard_prefix(name);
  if (file.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  const std::size_t g = file.find(".g", prefix.size());
  if (g == std::string::npos) return std::nullopt;
  std::size_t end = g + 2;
  int64_t generation = 0;
  while (end < file.size() && std::isdigit(static_cast<unsigned char>(file[end])) && generation < (int64_t(1) << 55))
    generation = generation * 10 + (file[end++] - '0');
  if (end == g + 2 || file.compare(end, 3, ".pt") != 0) return std::nullopt;
  return generation;
}

std::vector<std::string> list_directory(const std::string& directory) {
  std::vector<std::string> files;
  DIR* dir = ::opendir(directory.c_str());
  if (!dir) return files;
  while (const dirent* entry = ::readdir(dir)) files.emplace_back(entry->d_name);
  ::closedir(dir);
  return files;
}

// Above every generation in the directory (the index's and any file's, committed or not), so a
// save never replaces a file that the committed index, or an interrupted save, may name.
int64_t next_generation(const std::string& directory, const std::string& name) {
  int64_t highest = 0;
  for (const auto& file : list_directory(directory))
    if (auto g = generation_of(file, name)) highest = std::max(highest, *g);
  if (auto text = detail::read_file_if_present(join(directory, index_file(name)))) {
    auto index = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (index.is_object() && index.contains("generation") && index["generation"].is_number_integer())
      highest = std::max(highest, index["generation"].get<int64_t>());
  }
  return highest + 1;
}

// After the commit: every shard file of this name that the new index does not name (older
// generations, an interrupted save's, another world size's, temp files). Best effort: a file left
// behind is removed by the next save.
void remove_stale(const std::string& directory, const std::string& name, const std::set<std::string>& current) {
  const std::string prefix = shard_prefix(name);
  for (const auto& file : list_directory(directory))
    if (file.compare(0, prefix.size(), prefix) == 0 && !current.count(file)) ::unlink(join(directory, file).c_str());
}

std::string what_of(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  return c10_error ? c10_error->what_without_backtrace() : e.what();
}

int64_t fingerprint_of(const std::string& name, int64_t flags) {
  Fingerprint f;
  f.add(name);
  f.add(flags);
  return f.value();
}

struct Report {  // what a rank wrote
  int64_t size = -1;
  std::string sha256;
};

nlohmann::json index_json(const std::string& name, int world, int64_t generation, bool optimizer,
                          const TrainingState* state, const std::vector<std::string>& files,
                          const std::vector<Report>& reports) {
  nlohmann::json index;
  index["format"] = kFormat;
  index["version"] = kVersion;
  index["name"] = name;
  index["world_size"] = world;
  index["generation"] = generation;
  index["optimizer"] = optimizer;
  if (state) {
    index["state"] = {{"epoch", state->epoch}, {"step", state->step}};
    if (std::isfinite(state->best)) index["state"]["best"] = state->best;
    else index["state"]["best"] = nullptr;  // JSON has no NaN or Inf (the shards hold the value)
  } else {
    index["state"] = nullptr;
  }
  nlohmann::json shards = nlohmann::json::array();
  for (int r = 0; r < world; ++r)
    shards.push_back({{"rank", r}, {"file", files[r]}, {"size", reports[r].size}, {"sha256", reports[r].sha256}});
  index["shards"] = shards;
  return index;
}

// Parses and checks an index for a group of `world` ranks; throws Error naming `path`.
nlohmann::json check_index(const std::string& path, const std::string& text, int world);

nlohmann::json parse_index(const std::string& path, const std::string& text, int world) {
  try {
    return check_index(path, text, world);
  } catch (const nlohmann::json::exception& e) {  // a field of the wrong type
    throw Error(std::string(kLoad) + ": index '" + path + "': malformed: " + e.what());
  }
}

nlohmann::json check_index(const std::string& path, const std::string& text, int world) {
  auto index = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& why) {
    return Error(std::string(kLoad) + ": index '" + path + "': " + why);
  };
  if (!index.is_object() || index.value("format", "") != kFormat) throw bad("not a sharded checkpoint index");
  if (index.value("version", 0) != kVersion) throw bad("version " + index.value("version", nlohmann::json()).dump() + ", expected " + std::to_string(kVersion));
  if (!index.contains("world_size") || !index["world_size"].is_number_integer()) throw bad("no world_size");
  const int64_t saved = index["world_size"].get<int64_t>();
  if (saved != world)
    throw bad("saved by " + std::to_string(saved) + " rank" + (saved == 1 ? "" : "s") + ", this group has " +
              std::to_string(world) + " (a sharded checkpoint loads only into the world size that saved it)");
  const auto& shards = index["shards"];
  if (!shards.is_array() || int64_t(shards.size()) != saved) throw bad("expected " + std::to_string(saved) + " shards");
  for (int r = 0; r < world; ++r) {
    const auto& s = shards[r];
    const bool ok = s.is_object() && s.value("rank", -1) == r && s.contains("file") && s["file"].is_string() &&
                    s.contains("size") && s["size"].is_number_integer() && s.contains("sha256") &&
                    s["sha256"].is_string() && s["sha256"].get<std::string>().size() == 64;
    if (!ok) throw bad("shard entry " + std::to_string(r) + " is malformed");
    const std::string file = s["file"].get<std::string>();
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
      throw bad("shard entry " + std::to_string(r) + " names '" + file + "', not a file of the index's directory");
  }
  if (!index.contains("state")) index["state"] = nullptr;
  const auto& state = index["state"];
  if (!state.is_null() && !(state.is_object() && state.contains("epoch") && state["epoch"].is_number_integer() &&
                            state.contains("step") && state["step"].is_number_integer() && state.contains("best") &&
                            (state["best"].is_number() || state["best"].is_null())))
    throw bad("malformed state");
  return index;
}

}  // namespace

void set_save_hook(SaveHook hook) {
  std::lock_guard<std::mutex> lock(hook_mutex);
  save_hook = std::move(hook);
}

bool saves_sharded(const DistributedOptions& options, const torch::nn::Module* module) {
  if (!module || !is_distributed(options) || (options.sharded.empty() && !options.is_sharded)) return false;
  auto sharded = [&](const std::string& name) {
    return options.sharded.count(name) || (options.is_sharded && options.is_sharded(name));
  };
  for (const auto& p : module->named_parameters()) if (sharded(p.key())) return true;
  for (const auto& b : module->named_buffers()) if (sharded(b.key())) return true;
  return false;
}

std::string best_checkpoint_file(const DistributedOptions& options, const torch::nn::Module* module) {
  return saves_sharded(options, module) ? "checkpoints/" + index_file(best_checkpoint_name())
                                        : "checkpoints/model-best.pt";
}

}  // namespace distributed_detail

using namespace distributed_detail;

std::string save_sharded_checkpoint(const DistributedOptions& options, const std::string& directory,
                                    torch::nn::Module& module, const torch::optim::Optimizer* optimizer,
                                    const TrainingState* state, const std::string& name) {
  const int me = rank(options), world = world_size(options);
  const int64_t fingerprint = fingerprint_of(name, (optimizer ? 1 : 0) | (state ? 2 : 0));
  const char* arguments = "another checkpoint name, or another choice of optimizer or training state,";

  // 1. Rank 0's directory and the new generation, for everyone.
  std::string error, plan;
  try {
    check_name(kSave, name);
    if (me == 0) {
      if (directory.empty()) throw Error(std::string(kSave) + ": directory: expected a path on rank 0");
      detail::make_directories(directory);
      plan = std::to_string(next_generation(directory, name)) + "\n" + directory;
    }
  } catch (const std::exception& e) {
    error = what_of(e);
  }
  agree(options, kSave, Call::ShardedSave, 0, 0, fingerprint, error, arguments);
  plan = gather_strings(options, kSave, plan).front();
  const std::size_t newline = plan.find('\n');
  const int64_t generation = std::stoll(plan.substr(0, newline));
  const std::string dir = plan.substr(newline + 1);

  std::vector<std::string> files;
  for (int r = 0; r < world; ++r) files.push_back(shard_file(name, r, world, generation));
  const std::string mine = join(dir, files[me]);
  const std::string index_path = join(dir, index_file(name));

  // 2. This rank's shard, and what it wrote.
  bool wrote = false;
  Report report;
  try {
    // Created here too: on a shared filesystem it exists already (rank 0 made it); on one that is
    // not shared the write succeeds locally and step 3 names the problem.
    detail::make_directories(dir);
    std::optional<TrainingState> s;
    if (state) s = *state;
    save_checkpoint(mine, module, optimizer, s);
    wrote = true;
    const std::string bytes = detail::read_file(mine);
    report = {static_cast<int64_t>(bytes.size()), detail::sha256_hex(bytes)};
    run_hook("shard-written", mine);
    error.clear();
  } catch (const std::exception& e) {
    error = std::string(kSave) + ": shard '" + mine + "': " + what_of(e);
  }
  auto forget_mine = [&] {  // the index will not name it
    if (wrote) ::unlink(mine.c_str());
  };
  try {
    agree(options, kSave, Call::ShardedSave, 0, 0, fingerprint, error, arguments);
  } catch (...) {
    forget_mine();
    throw;
  }
  std::vector<Report> reports;
  for (const auto& text : gather_strings(options, kSave, std::to_string(report.size) + " " + report.sha256)) {
    const std::size_t space = text.find(' ');
    reports.push_back({std::stoll(text.substr(0, space)), text.substr(space + 1)});
  }

  // 3. Rank 0 sees every shard as its writer wrote it.
  error.clear();
  if (me == 0) {
    for (int r = 0; r < world && error.empty(); ++r) {
      const std::string path = join(dir, files[r]);
      const std::string where = "the shard of rank " + std::to_string(r) + ", '" + path + "', ";
      const std::string shared = ": the directory must be on a filesystem every rank sees at the same path";
      const auto bytes = detail::read_file_if_present(path);
      if (!bytes) {
        error = where + "is not there on rank 0" + shared + kSeeDocs;
      } else if (static_cast<int64_t>(bytes->size()) != reports[r].size) {
        error = where + "has " + std::to_string(bytes->size()) + " bytes on rank 0, rank " + std::to_string(r) +
                " wrote " + std::to_string(reports[r].size) + shared + kSeeDocs;
      } else if (detail::sha256_hex(*bytes) != reports[r].sha256) {
        error = where + "differs on rank 0 from what rank " + std::to_string(r) + " wrote (SHA-256)" + shared + kSeeDocs;
      }
    }
  }
  try {
    agree(options, kSave, Call::ShardedSave, 0, 0, fingerprint, error, arguments);
  } catch (...) {
    forget_mine();
    throw;
  }

  // 4. The commit point, then the old generations' files. A failure from here on leaves this
  // generation's shards to the next save (the index may have been renamed into place already).
  if (me == 0) {
    try {
      run_hook("before-index", index_path);
      const auto index = index_json(name, world, generation, optimizer != nullptr, state, files, reports);
      detail::write_file_atomic(index_path, index.dump(2) + "\n");
      remove_stale(dir, name, {files.begin(), files.end()});
    } catch (const std::exception& e) {
      error = std::string(kSave) + ": index '" + index_path + "': " + what_of(e);
    }
  }
  agree(options, kSave, Call::ShardedSave, 0, 0, fingerprint, error, arguments);
  return index_path;
}

std::optional<TrainingState> load_sharded_checkpoint(const DistributedOptions& options, const std::string& directory,
                                                     torch::nn::Module& module, torch::optim::Optimizer* optimizer,
                                                     const std::string& name) {
  const int me = rank(options), world = world_size(options);
  const int64_t fingerprint = fingerprint_of(name, 0);
  const char* arguments = "another checkpoint name";

  // Rank 0 reads and checks the index; everyone gets it.
  std::string error, message;
  try {
    check_name(kLoad, name);
    if (me == 0) {
      if (directory.empty()) throw Error(std::string(kLoad) + ": directory: expected a path on rank 0");
      const std::string path = join(directory, index_file(name));
      const auto text = detail::read_file_if_present(path);
      if (!text) throw Error(std::string(kLoad) + ": index '" + path + "' does not exist or cannot be read");
      message = directory + '\n' + parse_index(path, *text, world).dump();
    }
  } catch (const std::exception& e) {
    error = what_of(e);
  }
  agree(options, kLoad, Call::ShardedLoad, 0, 0, fingerprint, error, arguments);
  message = gather_strings(options, kLoad, message).front();
  const std::size_t newline = message.find('\n');
  const std::string dir = message.substr(0, newline);
  auto index = nlohmann::json::parse(message.substr(newline + 1));  // checked by rank 0

  // This rank's shard, checked against the index and the module before anything is loaded.
  const auto& entry = index["shards"][me];
  const std::string path = join(dir, entry["file"].get<std::string>());
  std::optional<detail::CheckpointReader> reader;
  error.clear();
  try {
    const auto bytes = detail::read_file_if_present(path);
    const int64_t size = entry["size"].get<int64_t>();
    const std::string shard = std::string(kLoad) + ": shard '" + path + "' ";
    if (!bytes) throw Error(shard + "is missing (the directory must be on a filesystem every rank sees)");
    if (static_cast<int64_t>(bytes->size()) != size)
      throw Error(shard + "has " + std::to_string(bytes->size()) + " bytes, the index records " + std::to_string(size) +
                  " (truncated or replaced)");
    if (detail::sha256_hex(*bytes) != entry["sha256"].get<std::string>())
      throw Error(shard + "does not match the index's SHA-256 (corrupt or replaced)");
    reader.emplace(kLoad, path, *bytes);
    if (reader->is_full() != !index["state"].is_null())
      throw Error(shard + "holds " + (reader->is_full() ? "a full checkpoint" : "weights only") +
                  ", the index says otherwise");
    reader->check(module);  // its errors name the path
  } catch (const std::exception& e) {
    error = what_of(e);
  }
  agree(options, kLoad, Call::ShardedLoad, 0, 0, fingerprint, error, arguments);

  // The shard's own state: exact (the index's JSON has no NaN or Inf) and, as every rank saved
  // the same state, the same on every rank.
  error.clear();
  std::optional<TrainingState> state;
  try {
    state = reader->apply(module, optimizer);
  } catch (const std::exception& e) {
    error = what_of(e);
  }
  agree(options, kLoad, Call::ShardedLoad, 0, 0, fingerprint, error, arguments);
  return state;
}

}  // namespace trainscope
