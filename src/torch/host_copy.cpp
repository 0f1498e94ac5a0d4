#include "torch/host_copy.h"

#include <c10/core/impl/VirtualGuardImpl.h>

namespace trainscope::detail {

HostCopyPart::HostCopyPart(const HostTensors& tensors, RecordBuilder builder) : builder_(std::move(builder)) {
  std::optional<c10::Device> device;
  for (const auto& [key, tensor] : tensors) {
    if (!tensor.defined()) continue;
    if (tensor.device().is_cpu()) {
      host_[key] = tensor.detach().clone();
      continue;
    }
    device = tensor.device();
    auto pinned = torch::empty(tensor.sizes(), tensor.options().device(torch::kCPU).pinned_memory(true));
    pinned.copy_(tensor.detach(), /*non_blocking=*/true);
    host_[key] = pinned;
  }
  if (device) {
    c10::impl::VirtualGuardImpl guard(device->type());
    event_.emplace(device->type());
    event_->record(guard.getStream(*device));
  }
}

void HostCopyPart::resolve(StepRecord& record) {
  if (event_) event_->synchronize();
  builder_(host_, record);
}

}  // namespace trainscope::detail
