#pragma once
// Encoding of the TensorBoard messages trainscope writes (Event, Summary, Summary.Value,
// HistogramProto, Summary.Image, a string TensorProto for the text plugin, SessionLog) and
// decoding of the Event fields that resuming needs. Field numbers follow TensorBoard's
// event.proto, summary.proto, histogram.proto and tensor.proto; encodings are canonical proto3
// (field-number order, default scalars omitted, oneof members always written).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sinks/protobuf_wire.h"
#include "trainscope/run/record.h"

namespace trainscope::detail {

// The value of Event.file_version in the first record of every event file.
inline constexpr std::string_view kFileVersionString = "brain.Event:2";

// Builds one Summary message, value by value.
class SummaryBuilder {
 public:
  // Summary.Value{tag, simple_value}: TensorBoard's scalars.
  void add_scalar(std::string_view tag, float value);
  // Summary.Value{tag, histo}: bucket_limit holds the right edges edges[1..B], bucket the counts.
  // Throws trainscope::Error unless edges.size() == counts.size() + 1 and counts is not empty.
  void add_histogram(std::string_view tag, const HistogramValue& histogram);
  // Summary.Value{tag, image}: `png` is the encoded image, `channels` its colour space
  // (1 grey, 3 RGB, 4 RGBA).
  void add_image(std::string_view tag, int height, int width, int channels,
                 const std::vector<uint8_t>& png);
  // Summary.Value{tag, metadata: text plugin, tensor: scalar DT_STRING}: rendered as markdown.
  void add_text(std::string_view tag, std::string_view text);
  // Summary.Value{tag, metadata: {plugin_data: {plugin_name, content}}} and no value: the form of
  // the HParams plugin's summaries (sinks/hparams_proto.h).
  void add_plugin_content(std::string_view tag, std::string_view plugin_name, std::string_view content);

  bool empty() const { return values_ == 0; }
  const ProtoWriter& message() const { return summary_; }

 private:
  void add_value(const ProtoWriter& value);
  ProtoWriter summary_;
  int values_ = 0;
};

std::string encode_file_version_event(double wall_time);
// Event{wall_time, step, session_log{status: START}}: readers drop what they hold for steps
// ≥ `step`, so a resumed run replaces the steps it repeats.
std::string encode_session_start_event(double wall_time, int64_t step);
std::string encode_summary_event(double wall_time, int64_t step, const SummaryBuilder& summary);

// The top-level fields of an Event that tell what it is and where it belongs.
struct EventHeader {
  double wall_time = 0;
  int64_t step = 0;
  bool has_summary = false;
  bool is_session_start = false;
  std::string file_version;
};

// Throws trainscope::Error on malformed bytes.
EventHeader decode_event_header(std::string_view event);

}  // namespace trainscope::detail
