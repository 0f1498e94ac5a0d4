#pragma once
// TensorBoard's HParams plugin data (docs/tensorboard.md#hparams): the experiment (which
// hyperparameters and metrics the HParams tab shows as columns), the session start (this run's
// values) and the session end (its status). Each is one HParamsPluginData message, carried as the
// plugin content of a Summary.Value under the plugin's fixed tags. Field numbers follow
// TensorBoard's plugins/hparams/plugin_data.proto and api.proto, and google.protobuf.Value.
#include <map>
#include <string>
#include <vector>

#include "trainscope/run/record.h"

namespace trainscope::detail {

inline constexpr const char* kHparamsPluginName = "hparams";
inline constexpr const char* kHparamsExperimentTag = "_hparams_/experiment";
inline constexpr const char* kHparamsSessionStartTag = "_hparams_/session_start_info";
inline constexpr const char* kHparamsSessionEndTag = "_hparams_/session_end_info";

using HParams = std::map<std::string, TableCell>;  // empty cells are left out

// HParamsPluginData{experiment{hparam_infos (name, type), metric_infos (tag)}}.
std::string encode_hparams_experiment(const HParams& hparams, const std::vector<std::string>& metric_tags,
                                      double time_created_secs);
// HParamsPluginData{session_start_info{hparams, group_name, start_time_secs}}.
std::string encode_hparams_session_start(const HParams& hparams, const std::string& group_name,
                                         double start_time_secs);
// HParamsPluginData{session_end_info{status: SUCCESS, end_time_secs}}.
std::string encode_hparams_session_end(double end_time_secs);

}  // namespace trainscope::detail
