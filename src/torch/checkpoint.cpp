// Checkpoint files: torch's archive format, written to a temp file, fsynced and renamed.
#include "torch/checkpoint.h"

#include <unistd.h>

#include "run/file_io.h"
#include "trainscope/error.h"
#include "trainscope/torch/callback.h"

namespace trainscope {
namespace {

// torch's Module::load accepts tensors of any shape; a checkpoint of another architecture must be
// an error instead. Walks the archive like Module::save wrote it: own tensors, then sub-archives.
void check_shapes(const std::string& op, torch::serialize::InputArchive& archive, const torch::nn::Module& module,
                  const std::string& prefix) {
  auto check = [&](const std::string& name, const torch::Tensor& expected) {
    torch::Tensor stored;
    if (!archive.try_read(name, stored)) throw Error(op + ": checkpoint: has no tensor '" + prefix + name + "'");
    if (stored.sizes() != expected.sizes())
      throw Error(op + ": checkpoint: tensor '" + prefix + name + "' has shape " + c10::str(stored.sizes()) +
                  ", the module expects " + c10::str(expected.sizes()));
  };
  for (const auto& p : module.named_parameters(/*recurse=*/false)) check(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/false)) check(b.key(), b.value());
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive sub;
    if (!archive.try_read(child.key(), sub)) throw Error(op + ": checkpoint: has no module '" + prefix + child.key() + "'");
    check_shapes(op, sub, *child.value(), prefix + child.key() + ".");
  }
}

}  // namespace

namespace detail {

CheckpointReader::CheckpointReader(const char* op, const std::string& path) : op_(op), path_(path) {
  try {
    archive_.load_from(path);
  } catch (const c10::Error& e) {
    throw Error(op_ + ": path '" + path + "': not a readable checkpoint: " + e.what_without_backtrace());
  }
  read_layout();
}

CheckpointReader::CheckpointReader(const char* op, const std::string& path, const std::string& bytes)
    : op_(op), path_(path) {
  try {
    archive_.load_from(bytes.data(), bytes.size());
  } catch (const c10::Error& e) {
    throw Error(op_ + ": path '" + path + "': not a readable checkpoint: " + e.what_without_backtrace());
  }
  read_layout();
}

void CheckpointReader::read_layout() {
  c10::IValue epoch;
  full_ = archive_.try_read("epoch", epoch);  // a full checkpoint; weights only otherwise
  if (!full_) return;
  try {
    archive_.read("model", model_);
  } catch (const c10::Error& e) {
    throw Error(op_ + ": path '" + path_ + "': does not match the module: " + e.what_without_backtrace());
  }
}

void CheckpointReader::check(const torch::nn::Module& module) {
  try {
    check_shapes(op_ + ": path '" + path_ + "'", full_ ? model_ : archive_, module, "");  // names the file
  } catch (const c10::Error& e) {
    throw Error(op_ + ": path '" + path_ + "': does not match the module: " + e.what_without_backtrace());
  }
}

std::optional<TrainingState> CheckpointReader::apply(torch::nn::Module& module, torch::optim::Optimizer* optimizer) {
  try {
    if (!full_) {
      module.load(archive_);
      return std::nullopt;
    }
    module.load(model_);
    torch::serialize::InputArchive optimizer_archive;
    if (optimizer && archive_.try_read("optimizer", optimizer_archive)) optimizer->load(optimizer_archive);
    c10::IValue epoch, step, best;
    archive_.read("epoch", epoch);
    archive_.read("step", step);
    archive_.read("best", best);
    return TrainingState{epoch.toInt(), step.toInt(), best.toDouble()};
  } catch (const c10::Error& e) {
    throw Error(op_ + ": path '" + path_ + "': does not match the module: " + e.what_without_backtrace());
  }
}

}  // namespace detail

void save_checkpoint(const std::string& path, torch::nn::Module& module,
                     const torch::optim::Optimizer* optimizer, const std::optional<TrainingState>& state) {
  torch::serialize::OutputArchive archive;
  if (!state && !optimizer) {
    module.save(archive);  // the layout torch::load(module, path) reads
  } else {
    torch::serialize::OutputArchive model_archive;
    module.save(model_archive);
    archive.write("model", model_archive);
    if (optimizer) {
      torch::serialize::OutputArchive optimizer_archive;
      optimizer->save(optimizer_archive);
      archive.write("optimizer", optimizer_archive);
    }
    TrainingState s = state.value_or(TrainingState{});
    archive.write("epoch", c10::IValue(s.epoch));
    archive.write("step", c10::IValue(s.step));
    archive.write("best", c10::IValue(s.best));
  }
  std::string temp = path + ".tmp-" + std::to_string(::getpid());
  try {
    archive.save_to(temp);
  } catch (const c10::Error& e) {
    ::unlink(temp.c_str());
    throw Error("save_checkpoint: path '" + path + "': writing failed: " + e.what_without_backtrace());
  }
  try {
    detail::commit_file_atomic(temp, path);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
}

std::optional<TrainingState> load_checkpoint(const std::string& path, torch::nn::Module& module,
                                             torch::optim::Optimizer* optimizer) {
  detail::CheckpointReader reader("load_checkpoint", path);
  reader.check(module);
  return reader.apply(module, optimizer);
}

}  // namespace trainscope
