#include <catch2/catch.hpp>

#include "ckms/base/exit_code.hpp"

using ckms::ErrorKind;

// One mapping for ckms and ckms-operator (docs/cli.md); the operator once sent integrity and
// policy errors to 1.
TEST_CASE("each error kind has its documented exit code", "[error]") {
  CHECK(ckms::exit_code_for(ErrorKind::usage) == 2);
  CHECK(ckms::exit_code_for(ErrorKind::not_found) == 3);
  CHECK(ckms::exit_code_for(ErrorKind::integrity) == 4);
  CHECK(ckms::exit_code_for(ErrorKind::refused) == 5);
  CHECK(ckms::exit_code_for(ErrorKind::auth) == 6);
  CHECK(ckms::exit_code_for(ErrorKind::network) == 7);
  for (const auto kind : {ErrorKind::registry, ErrorKind::io, ErrorKind::build, ErrorKind::internal}) {
    CHECK(ckms::exit_code_for(kind) == 1);
  }
}
