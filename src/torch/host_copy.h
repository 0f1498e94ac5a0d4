#pragma once
// A run PendingPart for device tensors: copies them into pinned host memory asynchronously on the
// current stream and records an event; the run's writer thread waits on the event and then hands
// the host tensors to a builder that fills the step record. The training thread never waits.
#include <c10/core/Event.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "trainscope/run/run.h"
#include "trainscope/torch.h"

namespace trainscope::detail {

using HostTensors = std::map<std::string, torch::Tensor>;
using RecordBuilder = std::function<void(const HostTensors& host, StepRecord& record)>;

class HostCopyPart : public PendingPart {
 public:
  // `tensors` may live on any devices (one CUDA device at most). CPU tensors are cloned so later
  // in-place updates by the training loop cannot change what is logged.
  HostCopyPart(const HostTensors& tensors, RecordBuilder builder);
  void resolve(StepRecord& record) override;

 private:
  HostTensors host_;
  std::optional<c10::Event> event_;
  RecordBuilder builder_;
};

}  // namespace trainscope::detail
