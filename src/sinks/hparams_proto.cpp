#include "sinks/hparams_proto.h"

#include <type_traits>
#include <variant>

#include "sinks/protobuf_wire.h"

namespace trainscope::detail {
namespace {

// HParamsPluginData
constexpr int kPluginDataVersion = 1, kPluginDataExperiment = 2, kPluginDataSessionStart = 3,
              kPluginDataSessionEnd = 4;
// Experiment, HParamInfo, MetricInfo, MetricName
constexpr int kExperimentTimeCreated = 3, kExperimentHparamInfos = 4, kExperimentMetricInfos = 5;
constexpr int kHparamInfoName = 1, kHparamInfoType = 4;
constexpr int kMetricInfoName = 1, kMetricNameTag = 2;
constexpr uint64_t kDataTypeString = 1, kDataTypeBool = 2, kDataTypeFloat64 = 3;
// SessionStartInfo (hparams: map<string, Value> = repeated {key = 1, value = 2}), SessionEndInfo
constexpr int kStartHparams = 1, kStartGroupName = 4, kStartTime = 5;
constexpr int kMapKey = 1, kMapValue = 2;
constexpr int kEndStatus = 1, kEndTime = 2;
constexpr uint64_t kStatusSuccess = 1;
// google.protobuf.Value
constexpr int kValueNumber = 2, kValueString = 3, kValueBool = 4;

// The DataType of a cell, 0 for an empty one.
uint64_t data_type(const TableCell& cell) {
  return std::visit(
      [](const auto& v) -> uint64_t {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) return 0;
        else if constexpr (std::is_same_v<T, bool>) return kDataTypeBool;
        else if constexpr (std::is_same_v<T, std::string>) return kDataTypeString;
        else return kDataTypeFloat64;  // int64, double: the plugin's numbers are doubles
      },
      cell);
}

ProtoWriter value_of(const TableCell& cell) {
  ProtoWriter value;
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        // Every member of the oneof is written even at its default value, so the kind is kept.
        if constexpr (std::is_same_v<T, bool>) value.add_varint(kValueBool, v ? 1 : 0);
        else if constexpr (std::is_same_v<T, std::string>) value.add_bytes(kValueString, v);
        else if constexpr (std::is_same_v<T, int64_t>) value.add_double(kValueNumber, static_cast<double>(v));
        else if constexpr (std::is_same_v<T, double>) value.add_double(kValueNumber, v);
      },
      cell);
  return value;
}

std::string plugin_data(int field, const ProtoWriter& message) {
  ProtoWriter data;
  data.add_varint_if_nonzero(kPluginDataVersion, 0);  // version 0, proto3 default
  data.add_message(field, message);
  return data.take();
}

}  // namespace

std::string encode_hparams_experiment(const HParams& hparams, const std::vector<std::string>& metric_tags,
                                      double time_created_secs) {
  ProtoWriter experiment;
  experiment.add_double_if_nonzero(kExperimentTimeCreated, time_created_secs);
  for (const auto& [name, cell] : hparams) {
    const uint64_t type = data_type(cell);
    if (type == 0) continue;
    ProtoWriter info;
    info.add_bytes(kHparamInfoName, name);
    info.add_varint(kHparamInfoType, type);
    experiment.add_message(kExperimentHparamInfos, info);
  }
  for (const std::string& tag : metric_tags) {
    ProtoWriter name;
    name.add_bytes(kMetricNameTag, tag);
    ProtoWriter info;
    info.add_message(kMetricInfoName, name);
    experiment.add_message(kExperimentMetricInfos, info);
  }
  return plugin_data(kPluginDataExperiment, experiment);
}

std::string encode_hparams_session_start(const HParams& hparams, const std::string& group_name,
                                         double start_time_secs) {
  ProtoWriter start;
  for (const auto& [name, cell] : hparams) {
    if (data_type(cell) == 0) continue;
    ProtoWriter entry;
    entry.add_bytes(kMapKey, name);
    entry.add_message(kMapValue, value_of(cell));
    start.add_message(kStartHparams, entry);
  }
  if (!group_name.empty()) start.add_bytes(kStartGroupName, group_name);
  start.add_double_if_nonzero(kStartTime, start_time_secs);
  return plugin_data(kPluginDataSessionStart, start);
}

std::string encode_hparams_session_end(double end_time_secs) {
  ProtoWriter end;
  end.add_varint(kEndStatus, kStatusSuccess);
  end.add_double_if_nonzero(kEndTime, end_time_secs);
  return plugin_data(kPluginDataSessionEnd, end);
}

}  // namespace trainscope::detail
