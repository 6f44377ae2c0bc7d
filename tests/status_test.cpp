#include <edgepipe/status.hpp>
#include <edgepipe/result.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <type_traits>

using edgepipe::code;
using edgepipe::result;
using edgepipe::status;

TEST_CASE("codes carry gRPC's numbers and Connect's names", "[status]") {
  CHECK(static_cast<int>(code::ok) == 0);
  CHECK(static_cast<int>(code::invalid_argument) == 3);
  CHECK(static_cast<int>(code::resource_exhausted) == 8);
  CHECK(static_cast<int>(code::unauthenticated) == 16);
  CHECK(to_string(code::deadline_exceeded) == "deadline_exceeded");
  CHECK(to_string(code::unauthenticated) == "unauthenticated");
  CHECK(to_string(static_cast<code>(99)) == "unknown");
  for (int i = 0; i < 17; ++i) {
    auto c = static_cast<code>(i);
    CHECK(edgepipe::code_from_string(to_string(c)) == c);
    CHECK(edgepipe::code_from_number(static_cast<std::uint32_t>(i)) == c);
  }
  CHECK_FALSE(edgepipe::code_from_string("cancelled").has_value());  // Connect spells it "canceled"
  CHECK_FALSE(edgepipe::code_from_number(17).has_value());
}

TEST_CASE("a status is a trivially copyable value whose message starts with the reason", "[status]") {
  STATIC_REQUIRE(std::is_trivially_copyable_v<status>);
  status const plain{code::unauthenticated, "signature_invalid"};
  status const detailed{code::invalid_argument, "malformed_envelope", "request_id too short"};
  std::string out;
  plain.append_message(out);
  CHECK(out == "signature_invalid");
  out.clear();
  detailed.append_message(out);
  CHECK(out == "malformed_envelope: request_id too short");
  CHECK(status{}.ok());
  CHECK_FALSE(plain.ok());
  CHECK(plain == status{code::unauthenticated, "signature_invalid"});
  CHECK_FALSE(plain == detailed);
}

TEST_CASE("result holds a value or a failure and manages the value's lifetime", "[result]") {
  result<std::string> good{std::string(64, 'x')};
  REQUIRE(good.has_value());
  CHECK(good->size() == 64);
  CHECK(good.error().ok());

  result<std::string> bad{status{code::not_found, "route_not_found"}};
  REQUIRE_FALSE(bad);
  CHECK(bad.error().reason() == "route_not_found");

  bad = good;  // failure -> value
  REQUIRE(bad.has_value());
  CHECK(*bad == std::string(64, 'x'));
  good = result<std::string>{status{code::internal, "x"}};  // value -> failure
  CHECK_FALSE(good.has_value());

  auto shared = std::make_shared<int>(7);
  {
    result<std::shared_ptr<int>> holder{shared};
    CHECK(shared.use_count() == 2);
    result<std::shared_ptr<int>> moved{std::move(holder)};
    CHECK(shared.use_count() == 2);
  }
  CHECK(shared.use_count() == 1);  // every copy destroyed
}
