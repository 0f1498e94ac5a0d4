#include "upload/retry_policy.h"

#include <gtest/gtest.h>

#include "trainscope/error.h"
#include "upload/http_client.h"

namespace trainscope::detail {
namespace {

TEST(RetryPolicy, RetriesTransientFailuresOnly) {
  for (long status : {0L, 408L, 429L, 500L, 502L, 503L, 504L}) EXPECT_TRUE(is_retryable_status(status)) << status;
  for (long status : {400L, 401L, 403L, 404L, 409L, 410L, 413L, 422L})
    EXPECT_FALSE(is_retryable_status(status)) << status;
}

TEST(RetryPolicy, DefaultBackoffDoublesFromTwoToSixtySecondsWithJitter) {
  RetryPolicy policy(RetryOptions{}, 42);
  for (int trial = 0; trial < 200; ++trial) {
    EXPECT_DOUBLE_EQ(policy.delay_seconds(0, std::nullopt), 2.0);  // jitter never goes below 2 s
    const double second = policy.delay_seconds(1, std::nullopt);
    EXPECT_GE(second, 2.0);
    EXPECT_LE(second, 4.0);
    const double late = policy.delay_seconds(10, std::nullopt);
    EXPECT_GE(late, 30.0);
    EXPECT_LE(late, 60.0);
  }
  // Jitter really spreads the delays.
  double lo = 1e9, hi = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const double d = policy.delay_seconds(4, std::nullopt);  // ceiling 32 s
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LT(lo, 20.0);
  EXPECT_GT(hi, 28.0);
}

TEST(RetryPolicy, WithoutJitterTheDelayIsTheCeiling) {
  RetryOptions o;
  o.jitter = false;
  RetryPolicy policy(o, 1);
  EXPECT_DOUBLE_EQ(policy.delay_seconds(0, std::nullopt), 2.0);
  EXPECT_DOUBLE_EQ(policy.delay_seconds(3, std::nullopt), 16.0);
  EXPECT_DOUBLE_EQ(policy.delay_seconds(6, std::nullopt), 60.0);
}

TEST(RetryPolicy, RetryAfterWinsOverBackoff) {
  RetryOptions o;
  o.initial_delay_seconds = 0.01;
  o.max_delay_seconds = 0.05;
  o.max_elapsed_seconds = 100;
  RetryPolicy policy(o, 7);
  EXPECT_DOUBLE_EQ(policy.delay_seconds(0, 7.0), 7.0);
  EXPECT_DOUBLE_EQ(policy.delay_seconds(5, 1000.0), 100.0);  // capped by max_elapsed
}

TEST(RetryPolicy, BadOptionsAreErrors) {
  RetryOptions o;
  o.max_delay_seconds = 1;  // below the initial 2 s
  EXPECT_THROW(RetryPolicy(o, 1), Error);
}

TEST(RetryAfter, ParsesSecondsAndHttpDates) {
  EXPECT_EQ(parse_retry_after("120"), 120.0);
  EXPECT_EQ(parse_retry_after(""), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon"), std::nullopt);
  const auto past = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT");
  ASSERT_TRUE(past.has_value());
  EXPECT_EQ(*past, 0.0);
}

TEST(Scrub, RemovesEverySecretOccurrence) {
  EXPECT_EQ(scrub_secret("key abc and abc again", "abc"), "key *** and *** again");
  EXPECT_EQ(scrub_secret("nothing", ""), "nothing");
}

}  // namespace
}  // namespace trainscope::detail
