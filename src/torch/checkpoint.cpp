// Checkpoint files: torch's archive format, written to a temp file, fsynced and renamed.
#include <unistd.h>

#include "run/file_io.h"
#include "trainscope/error.h"
#include "trainscope/torch/callback.h"

namespace trainscope {
namespace {

// torch's Module::load accepts tensors of any shape; a checkpoint of another architecture must be
// an error instead. Walks the archive like Module::save wrote it: own tensors, then sub-archives.
void check_shapes(torch::serialize::InputArchive& archive, const torch::nn::Module& module, const std::string& prefix) {
  auto check = [&](const std::string& name, const torch::Tensor& expected) {
    torch::Tensor stored;
    if (!archive.try_read(name, stored)) throw Error("load_checkpoint: checkpoint: has no tensor '" + prefix + name + "'");
    if (stored.sizes() != expected.sizes())
      throw Error("load_checkpoint: checkpoint: tensor '" + prefix + name + "' has shape " + c10::str(stored.sizes()) +
                  ", the module expects " + c10::str(expected.sizes()));
  };
  for (const auto& p : module.named_parameters(/*recurse=*/false)) check(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/false)) check(b.key(), b.value());
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive sub;
    if (!archive.try_read(child.key(), sub)) throw Error("load_checkpoint: checkpoint: has no module '" + prefix + child.key() + "'");
    check_shapes(sub, *child.value(), prefix + child.key() + ".");
  }
}

}  // namespace

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
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw Error("load_checkpoint: path '" + path + "': not a readable checkpoint: " + e.what_without_backtrace());
  }
  try {
    c10::IValue epoch;
    if (!archive.try_read("epoch", epoch)) {
      check_shapes(archive, module, "");
      module.load(archive);
      return std::nullopt;
    }
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    check_shapes(model_archive, module, "");
    module.load(model_archive);
    torch::serialize::InputArchive optimizer_archive;
    if (optimizer && archive.try_read("optimizer", optimizer_archive)) optimizer->load(optimizer_archive);
    c10::IValue step, best;
    archive.read("step", step);
    archive.read("best", best);
    return TrainingState{epoch.toInt(), step.toInt(), best.toDouble()};
  } catch (const c10::Error& e) {
    throw Error("load_checkpoint: path '" + path + "': does not match the module: " + e.what_without_backtrace());
  }
}

}  // namespace trainscope
