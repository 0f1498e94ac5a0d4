#pragma once
// When and how long to wait before trying a failed request again (docs/upload.md): connection errors,
// 408, 429 and 5xx are retried with exponential backoff and full jitter, or after the server's
// Retry-After; the client errors W&B uses for "this will never work" are not retried.
#include <cstdint>
#include <optional>
#include <random>

#include "trainscope/upload/uploader.h"

namespace trainscope::detail {

// status 0 means "no HTTP response" (connection error, timeout): retryable.
bool is_retryable_status(long status);

class RetryPolicy {
 public:
  explicit RetryPolicy(RetryOptions options, uint64_t seed = std::random_device{}());

  // Seconds to wait before attempt number `attempt + 1` (attempt counts from 0). Retry-After
  // from the server wins over the backoff (capped at max_elapsed, so a bad header cannot park the
  // uploader for days).
  double delay_seconds(int attempt, std::optional<double> retry_after_seconds);

  const RetryOptions& options() const { return options_; }

 private:
  RetryOptions options_;
  std::mt19937_64 random_;
};

}  // namespace trainscope::detail
