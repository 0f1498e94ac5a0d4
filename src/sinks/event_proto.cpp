#include "sinks/event_proto.h"

#include "trainscope/error.h"

namespace trainscope::detail {
namespace {

// tensorboard.Event
constexpr int kEventWallTime = 1, kEventStep = 2, kEventFileVersion = 3, kEventSummary = 5,
              kEventSessionLog = 7;
// tensorboard.SessionLog
constexpr int kSessionLogStatus = 1;
constexpr uint64_t kSessionStatusStart = 1;
// tensorboard.Summary and Summary.Value
constexpr int kSummaryValue = 1;
constexpr int kValueTag = 1, kValueSimpleValue = 2, kValueImage = 4, kValueHisto = 5,
              kValueTensor = 8, kValueMetadata = 9;
// tensorboard.HistogramProto
constexpr int kHistoMin = 1, kHistoMax = 2, kHistoNum = 3, kHistoSum = 4, kHistoSumSquares = 5,
              kHistoBucketLimit = 6, kHistoBucket = 7;
// tensorboard.Summary.Image
constexpr int kImageHeight = 1, kImageWidth = 2, kImageColorspace = 3, kImageEncoded = 4;
// tensorboard.SummaryMetadata and its PluginData
constexpr int kMetadataPluginData = 1, kMetadataDataClass = 4;
constexpr int kPluginDataName = 1, kPluginDataContent = 2;
constexpr uint64_t kDataClassTensor = 2;
// tensorboard.TensorProto
constexpr int kTensorDtype = 1, kTensorShape = 2, kTensorStringVal = 8;
constexpr uint64_t kDtypeString = 7;

ProtoWriter event_prefix(double wall_time, int64_t step) {
  ProtoWriter event;
  event.add_double_if_nonzero(kEventWallTime, wall_time);
  event.add_varint_if_nonzero(kEventStep, static_cast<uint64_t>(step));
  return event;
}

}  // namespace

void SummaryBuilder::add_value(const ProtoWriter& value) {
  summary_.add_message(kSummaryValue, value);
  ++values_;
}

void SummaryBuilder::add_scalar(std::string_view tag, float value) {
  ProtoWriter v;
  v.add_bytes(kValueTag, tag);
  v.add_float(kValueSimpleValue, value);  // a oneof member: written even when 0
  add_value(v);
}

void SummaryBuilder::add_histogram(std::string_view tag, const HistogramValue& histogram) {
  if (histogram.counts.empty() || histogram.edges.size() != histogram.counts.size() + 1)
    throw Error("TensorBoard histogram '" + std::string(tag) +
                "': edges: expected counts + 1 edges with at least one count, got " +
                std::to_string(histogram.counts.size()) + " counts and " +
                std::to_string(histogram.edges.size()) + " edges");
  ProtoWriter histo;
  histo.add_double_if_nonzero(kHistoMin, histogram.min);
  histo.add_double_if_nonzero(kHistoMax, histogram.max);
  histo.add_double_if_nonzero(kHistoNum, static_cast<double>(histogram.num));
  histo.add_double_if_nonzero(kHistoSum, histogram.sum);
  histo.add_double_if_nonzero(kHistoSumSquares, histogram.sum_squares);
  histo.add_packed_doubles(kHistoBucketLimit,
                           std::vector<double>(histogram.edges.begin() + 1, histogram.edges.end()));
  histo.add_packed_doubles(kHistoBucket,
                           std::vector<double>(histogram.counts.begin(), histogram.counts.end()));
  ProtoWriter v;
  v.add_bytes(kValueTag, tag);
  v.add_message(kValueHisto, histo);
  add_value(v);
}

void SummaryBuilder::add_image(std::string_view tag, int height, int width, int channels,
                               const std::vector<uint8_t>& png) {
  ProtoWriter image;
  image.add_varint_if_nonzero(kImageHeight, static_cast<uint64_t>(height));
  image.add_varint_if_nonzero(kImageWidth, static_cast<uint64_t>(width));
  image.add_varint_if_nonzero(kImageColorspace, static_cast<uint64_t>(channels));
  if (!png.empty()) image.add_bytes(kImageEncoded, png);
  ProtoWriter v;
  v.add_bytes(kValueTag, tag);
  v.add_message(kValueImage, image);
  add_value(v);
}

void SummaryBuilder::add_text(std::string_view tag, std::string_view text) {
  ProtoWriter tensor;
  tensor.add_varint(kTensorDtype, kDtypeString);
  tensor.add_message(kTensorShape, ProtoWriter{});  // no dimensions: a scalar
  tensor.add_bytes(kTensorStringVal, text);
  ProtoWriter plugin_data;
  plugin_data.add_bytes(kPluginDataName, "text");  // content: TextPluginData v0, empty
  ProtoWriter metadata;
  metadata.add_message(kMetadataPluginData, plugin_data);
  metadata.add_varint(kMetadataDataClass, kDataClassTensor);
  ProtoWriter v;
  v.add_bytes(kValueTag, tag);
  v.add_message(kValueTensor, tensor);
  v.add_message(kValueMetadata, metadata);
  add_value(v);
}

void SummaryBuilder::add_plugin_content(std::string_view tag, std::string_view plugin_name, std::string_view content) {
  ProtoWriter plugin_data;
  plugin_data.add_bytes(kPluginDataName, plugin_name);
  plugin_data.add_bytes(kPluginDataContent, content);
  ProtoWriter metadata;
  metadata.add_message(kMetadataPluginData, plugin_data);
  ProtoWriter v;
  v.add_bytes(kValueTag, tag);
  v.add_message(kValueMetadata, metadata);
  add_value(v);
}

std::string encode_file_version_event(double wall_time) {
  ProtoWriter event = event_prefix(wall_time, 0);
  event.add_bytes(kEventFileVersion, kFileVersionString);
  return event.take();
}

std::string encode_session_start_event(double wall_time, int64_t step) {
  ProtoWriter session_log;
  session_log.add_varint(kSessionLogStatus, kSessionStatusStart);
  ProtoWriter event = event_prefix(wall_time, step);
  event.add_message(kEventSessionLog, session_log);
  return event.take();
}

std::string encode_summary_event(double wall_time, int64_t step, const SummaryBuilder& summary) {
  ProtoWriter event = event_prefix(wall_time, step);
  event.add_message(kEventSummary, summary.message());
  return event.take();
}

EventHeader decode_event_header(std::string_view bytes) {
  EventHeader header;
  ProtoReader event(bytes);
  ProtoField field;
  while (event.next(field)) {
    switch (field.number) {
      case kEventWallTime:
        if (field.type == WireType::Fixed64) header.wall_time = field.as_double();
        break;
      case kEventStep:
        if (field.type == WireType::Varint) header.step = static_cast<int64_t>(field.scalar);
        break;
      case kEventFileVersion:
        header.file_version = std::string(field.bytes);
        break;
      case kEventSummary:
        header.has_summary = true;
        break;
      case kEventSessionLog: {
        ProtoReader session_log(field.bytes);
        ProtoField status;
        while (session_log.next(status))
          if (status.number == kSessionLogStatus && status.type == WireType::Varint)
            header.is_session_start = status.scalar == kSessionStatusStart;
        break;
      }
      default:
        break;
    }
  }
  return header;
}

}  // namespace trainscope::detail

