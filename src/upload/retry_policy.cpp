#include "upload/retry_policy.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"

namespace trainscope::detail {

bool is_retryable_status(long status) {
  if (status == 0) return true;  // connection refused, reset, timed out
  if (status == 408 || status == 429) return true;
  return status >= 500 && status <= 599;
}

RetryPolicy::RetryPolicy(RetryOptions options, uint64_t seed) : options_(options), random_(seed) {
  check(options_.initial_delay_seconds >= 0, "RetryOptions", "initial_delay_seconds",
        "expected >= 0, got ", options_.initial_delay_seconds);
  check(options_.max_delay_seconds >= options_.initial_delay_seconds, "RetryOptions",
        "max_delay_seconds", "expected >= initial_delay_seconds (", options_.initial_delay_seconds,
        "), got ", options_.max_delay_seconds);
  check(options_.max_elapsed_seconds >= 0, "RetryOptions", "max_elapsed_seconds",
        "expected >= 0, got ", options_.max_elapsed_seconds);
}

double RetryPolicy::delay_seconds(int attempt, std::optional<double> retry_after_seconds) {
  if (retry_after_seconds) return std::clamp(*retry_after_seconds, 0.0, options_.max_elapsed_seconds);
  const double exponential = options_.initial_delay_seconds * std::pow(2.0, std::min(attempt, 30));
  const double ceiling = std::min(options_.max_delay_seconds, exponential);
  if (!options_.jitter) return ceiling;
  // Jitter between max(initial, half the ceiling) and the ceiling: spreads clients apart, yet
  // never waits less than the initial delay.
  std::uniform_real_distribution<double> spread(
      std::min(ceiling, std::max(options_.initial_delay_seconds, 0.5 * ceiling)), ceiling);
  return spread(random_);
}

}  // namespace trainscope::detail
