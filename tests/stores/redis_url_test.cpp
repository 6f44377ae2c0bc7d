#include <edgepipe/stores/redis_url.hpp>

#include <catch2/catch.hpp>

using edgepipe::stores::parse_redis_url;

TEST_CASE("redis URLs of the contract's form parse", "[stores][redis]") {
  auto plain = parse_redis_url("redis://127.0.0.1:6380");
  REQUIRE(plain);
  CHECK(plain->host == "127.0.0.1");
  CHECK(plain->port == 6380);
  CHECK(plain->password.empty());
  CHECK(plain->db == 0);

  auto full = parse_redis_url("redis://:s3cret@cache.internal:6379/2");
  REQUIRE(full);
  CHECK(full->host == "cache.internal");
  CHECK(full->password == "s3cret");
  CHECK(full->db == 2);

  auto v6 = parse_redis_url("redis://[::1]:7000/");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 7000);

  CHECK(parse_redis_url("redis://localhost")->port == 6379);
}

TEST_CASE("malformed redis URLs are refused", "[stores][redis]") {
  for (char const* bad : {"", "memory", "http://h:1", "redis://", "redis://:6379", "redis://h:0", "redis://h:65536",
                          "redis://h:12x", "redis://h:1/x", "redis://h:1/-1", "redis://user:pw@h:1", "redis://:@h:1",
                          "redis://[::1:1", "redis://h:"}) {
    INFO(bad);
    CHECK_FALSE(parse_redis_url(bad).has_value());
  }
}
