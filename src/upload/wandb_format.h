#pragma once
// What the uploader adds to or changes in the run directory's records on their way to W&B
// (docs/upload.md#what-is-sent-besides-the-run-directory): the NaN/±Inf tokens, the "_wandb"
// config entry, the summary's "_wandb.runtime", and the run metadata (wandb-metadata.json).
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace trainscope::detail {

// `line` (one JSON object) with every top-level value that is exactly the string "NaN",
// "Infinity" or "-Infinity" — how the run writer stores non-finite metrics — replaced by the bare
// token, as W&B expects them. Everything else stays byte for byte.
std::string nonfinite_tokens(const std::string& line);

// The value of config key "_wandb": cli_version, telemetry "t" and metric definitions "m": the
// run's own (run.json's "metrics", Run::define_metric) and the monitored metric of
// trainscope.monitor / trainscope.mode with its goal and summary, unless the run defines it.
nlohmann::json wandb_config_value(const nlohmann::json& config,
                                  const nlohmann::json& run_record = nlohmann::json::object());

// Adds the mask class labels the run recorded (<run>/class_labels.json: {"<image key>_wandb_delimeter_
// <mask name>": {"<id>": "<label>"}}) to the "_wandb" config value under "mask/class_labels", where
// W&B's UI looks them up for an image's masks. Anything but an object of objects is ignored.
void add_mask_class_labels(nlohmann::json& wandb_value, const nlohmann::json& class_labels);

// config.yaml as W&B's run files hold it: "wandb_version: 1", then each key of `config` (as
// config.json holds it, plus "_wandb") with its "value"; values are written as JSON, which YAML
// reads as flow style.
std::string config_yaml(const nlohmann::json& config);

// The summary as W&B receives it: plus "_wandb": {"runtime": whole seconds of "_runtime"}.
nlohmann::json wandb_summary(nlohmann::json summary);

// wandb-metadata.json for this process: os, host, program, args, start time, CPU, memory,
// disk, GPUs and CUDA driver version (when NVML is loadable and sees GPUs).
// `software`: further name → version entries for its "trainscope" object (libtorch, CUDA runtime).
nlohmann::json process_metadata(double started_at_unix_seconds,
                                const std::map<std::string, std::string>& software = {});

// Writes <run_dir>/wandb-metadata.json for this process unless it exists; true if it is there.
bool write_run_metadata(const std::string& run_dir, double started_at_unix_seconds,
                        const std::map<std::string, std::string>& software = {});

const char* trainscope_version();

}  // namespace trainscope::detail
