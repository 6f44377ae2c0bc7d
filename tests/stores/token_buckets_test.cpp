#include <edgepipe/stores/session_and_user_limiter.hpp>
#include <edgepipe/stores/token_buckets.hpp>

#include <catch2/catch.hpp>

#include <string>

using edgepipe::stores::token_buckets;

TEST_CASE("a bucket allows its burst, then its steady rate", "[stores][rate]") {
  token_buckets buckets{{20, 40}};
  std::int64_t now = 1'000'000;
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += buckets.take("s", now).allowed;
  CHECK(allowed == 40);

  auto refused = buckets.take("s", now);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after_ms == 50);  // one token every 50 ms at 20/s

  // Over the next 10 s, one request every 10 ms: 20/s get through.
  allowed = 0;
  for (int i = 1; i <= 1000; ++i) allowed += buckets.take("s", now + i * 10).allowed;
  CHECK(allowed == 200);
}

TEST_CASE("keys do not share buckets", "[stores][rate]") {
  token_buckets buckets{{1, 2}};
  CHECK(buckets.take("a", 0).allowed);
  CHECK(buckets.take("a", 0).allowed);
  CHECK_FALSE(buckets.take("a", 0).allowed);
  CHECK(buckets.take("b", 0).allowed);
  CHECK(buckets.take("b", 0).allowed);
  CHECK_FALSE(buckets.take("b", 0).allowed);
}

TEST_CASE("a flood of fresh keys keeps memory bounded and the active key limited", "[stores][rate]") {
  token_buckets buckets{{1, 1}, 1000};
  CHECK(buckets.take("attacker", 0).allowed);
  for (int i = 0; i < 100'000; ++i) {
    (void)buckets.take("flood-" + std::to_string(i), 0);
    if (i % 100 == 0) CHECK_FALSE(buckets.take("attacker", 0).allowed);  // recently used: never evicted
  }
  CHECK(buckets.tracked_keys() == 1000);
}

TEST_CASE("a refused user bucket does not spend the session's token", "[stages][rate]") {
  edgepipe::stores::session_and_user_limiter limiter{{1, 1}, {1, 1}};
  CHECK(limiter.acquire("s1", "u", 0).allowed);
  auto refused = limiter.acquire("s2", "u", 0);  // the user has no token left
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after_ms == 1000);
  CHECK(limiter.acquire("s2", "v", 0).allowed);  // s2's token was refunded
}
