#include <catch2/catch.hpp>

#include "ckms/base/enum_names.hpp"

namespace {

enum class Colour { red, green, blue };
constexpr ckms::EnumName<Colour> kColourNames[] = {{Colour::red, "Red"}, {Colour::green, "Green"}};

}  // namespace

TEST_CASE("an enum's table names its values and reads them back", "[enum_names]") {
  CHECK(ckms::name_of(Colour::green, kColourNames) == "Green");
  CHECK(ckms::value_named("Red", kColourNames) == Colour::red);
}

TEST_CASE("what the table lacks has no name and no value", "[enum_names]") {
  CHECK(ckms::name_of(Colour::blue, kColourNames) == "unknown");
  CHECK_FALSE(ckms::value_named("red", kColourNames).has_value());
  CHECK_FALSE(ckms::value_named("", kColourNames).has_value());
}
